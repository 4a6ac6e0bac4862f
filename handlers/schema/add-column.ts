import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { ColumnDefaultSchema, schemaTargetFromPath } from '../../src/http/columns.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { ColumnNameSchema } from '../../src/http/schemas.ts';
import { tableView } from '../../src/http/views.ts';
import { addColumn } from '../../src/storage/schema.ts';

export const AddColumnSchema = v.object({
  name: ColumnNameSchema,
  type: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  nullable: v.optional(v.boolean(), true),
  default: v.optional(ColumnDefaultSchema),
});

/** POST …/tables/{table}/columns — adds a column at the end. */
export const addTableColumn: Handler = async (request, ctx) => {
  const { bucket, table } = schemaTargetFromPath(ctx, 'write');
  const body = await readJson(request, AddColumnSchema);
  const next = await addColumn(ctx.services, table, body);
  return json(await tableView(ctx.services, next, bucket.name), 201);
};
