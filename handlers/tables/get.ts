import type { Handler } from '../../src/context.ts';
import { tableFromPath } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { tableView } from '../../src/http/views.ts';

/** GET /projects/{id}/buckets/{bucket}/tables/{table} */
export const getTable: Handler = async (_request, ctx) => {
  const { bucket, table } = tableFromPath(ctx);
  return json(await tableView(ctx.services, table, bucket.name, { settled: true }));
};
