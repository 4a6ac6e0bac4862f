import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { schemaTargetFromPath } from '../../src/http/columns.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { tableView } from '../../src/http/views.ts';
import { setPrimaryKey } from '../../src/storage/schema.ts';

export const SetPrimaryKeySchema = v.object({
  columns: v.pipe(v.array(v.pipe(v.string(), v.maxLength(64))), v.minLength(1, 'A primary key needs at least one column'), v.maxLength(32, 'At most 32 key columns')),
});

/** PUT …/tables/{table}/primary-key — sets or replaces the key. */
export const setTablePrimaryKey: Handler = async (request, ctx) => {
  const { bucket, table } = schemaTargetFromPath(ctx, 'write');
  const body = await readJson(request, SetPrimaryKeySchema);
  const next = await setPrimaryKey(ctx.services, table, body.columns);
  return json(await tableView(ctx.services, next, bucket.name));
};
