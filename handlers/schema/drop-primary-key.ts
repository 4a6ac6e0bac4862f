import type { Handler } from '../../src/context.ts';
import { schemaTargetFromPath } from '../../src/http/columns.ts';
import { json } from '../../src/http/respond.ts';
import { tableView } from '../../src/http/views.ts';
import { dropPrimaryKey } from '../../src/storage/schema.ts';

/** DELETE …/tables/{table}/primary-key */
export const dropTablePrimaryKey: Handler = async (_request, ctx) => {
  const { bucket, table } = schemaTargetFromPath(ctx, 'write');
  const next = await dropPrimaryKey(ctx.services, table);
  return json(await tableView(ctx.services, next, bucket.name));
};
