import type { Handler } from '../../src/context.ts';
import { bucketFromPath, devBranchFromPath } from '../../src/http/lookup.ts';
import { validate } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { TableNameSchema } from '../../src/http/schemas.ts';
import { tableView } from '../../src/http/views.ts';
import { resetTable as storeReset } from '../../src/storage/branches.ts';

/** POST /projects/{id}/branches/{branch}/buckets/{bucket}/tables/{table}/reset — back to main's table. */
export const resetTable: Handler = async (_request, ctx) => {
  devBranchFromPath(ctx, 'Reset works in a development branch, not in the default branch');
  const { bucket } = bucketFromPath(ctx);
  const name = validate(TableNameSchema, ctx.params.table, 'path.table');
  const table = await storeReset(ctx.services, bucket, name);
  return json(await tableView(ctx.services, table, bucket.name));
};
