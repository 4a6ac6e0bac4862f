import type { Handler } from '../../src/context.ts';
import { bucketFromPath, dataBucket } from '../../src/http/lookup.ts';
import { tablesIn } from '../../src/storage/locator.ts';
import { json } from '../../src/http/respond.ts';
import { tableView } from '../../src/http/views.ts';

/** GET /projects/{id}/buckets/{bucket}/tables — sorted by name; a linked bucket lists the source's tables. */
export const listTables: Handler = async (_request, ctx) => {
  const { bucket } = bucketFromPath(ctx);
  if (bucket.source) dataBucket(ctx, bucket);
  const records = tablesIn(ctx.services, bucket);
  const tables = await Promise.all(records.map((t) => tableView(ctx.services, t, bucket.name, { settled: true })));
  return json({ tables, total: tables.length });
};
