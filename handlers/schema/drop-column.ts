import type { Handler } from '../../src/context.ts';
import { schemaTargetFromPath } from '../../src/http/columns.ts';
import { json } from '../../src/http/respond.ts';
import { tableView } from '../../src/http/views.ts';
import { dropColumn } from '../../src/storage/schema.ts';

/** DELETE …/tables/{table}/columns/{column} — the column and its metadata. */
export const dropTableColumn: Handler = async (_request, ctx) => {
  const { bucket, table, column } = schemaTargetFromPath(ctx, 'write');
  const next = await dropColumn(ctx.services, table, column!.name);
  return json(await tableView(ctx.services, next, bucket.name));
};
