import type { Handler } from '../../src/context.ts';
import { writableTableFromPath } from '../../src/http/lookup.ts';
import { noContent } from '../../src/http/respond.ts';
import { deleteTableFile } from '../../src/storage/tables.ts';

/** DELETE /projects/{id}/buckets/{bucket}/tables/{table} */
export const deleteTable: Handler = async (_request, ctx) => {
  const { bucket, table } = writableTableFromPath(ctx);
  await deleteTableFile(ctx.services, table);
  return noContent();
};
