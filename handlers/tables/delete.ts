import type { Handler } from '../../src/context.ts';
import { writableTableFromPath } from '../../src/http/lookup.ts';
import { noContent } from '../../src/http/respond.ts';
import { dropTable } from '../../src/storage/snapshots.ts';

/** DELETE /projects/{id}/buckets/{bucket}/tables/{table} — with the drop_table auto snapshot when it is on. */
export const deleteTable: Handler = async (_request, ctx) => {
  const { bucket, table } = writableTableFromPath(ctx);
  await dropTable(ctx.services, table);
  return noContent();
};
