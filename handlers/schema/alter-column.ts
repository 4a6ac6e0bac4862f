import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { ColumnDefaultSchema, schemaTargetFromPath } from '../../src/http/columns.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { ColumnNameSchema } from '../../src/http/schemas.ts';
import { tableView } from '../../src/http/views.ts';
import { alterColumn } from '../../src/storage/schema.ts';

export const AlterColumnSchema = v.pipe(
  v.object({
    name: v.optional(ColumnNameSchema),
    type: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(64))),
    nullable: v.optional(v.boolean()),
    /** null removes the default. */
    default: v.optional(ColumnDefaultSchema),
  }),
  v.check((body) => Object.values(body).some((value) => value !== undefined), 'Give at least one of name, type, nullable, default'),
);

/** PATCH …/tables/{table}/columns/{column} — rename, retype, nullability, default. */
export const alterTableColumn: Handler = async (request, ctx) => {
  const { bucket, table, column } = schemaTargetFromPath(ctx, 'write');
  const body = await readJson(request, AlterColumnSchema);
  const next = await alterColumn(ctx.services, table, column!.name, body);
  return json(await tableView(ctx.services, next, bucket.name));
};
