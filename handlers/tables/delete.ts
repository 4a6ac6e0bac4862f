import type { Handler } from '../../src/context.ts';
import { writableTableFromPath } from '../../src/http/lookup.ts';
import { noContent } from '../../src/http/respond.ts';
import { dropTableInBranch } from '../../src/storage/branch-snapshots.ts';
import { isDevBranch } from '../../src/storage/locator.ts';
import { dropTable } from '../../src/storage/snapshots.ts';

/** DELETE /projects/{id}/buckets/{bucket}/tables/{table} — with the drop_table auto snapshot when it is on. */
export const deleteTable: Handler = async (_request, ctx) => {
  const { table } = writableTableFromPath(ctx);
  // §14: in a development branch the table is dropped there only (a tombstone for main's), its snapshot the branch's.
  if (isDevBranch(table.branch)) await dropTableInBranch(ctx.services, table);
  else await dropTable(ctx.services, table);
  return noContent();
};
