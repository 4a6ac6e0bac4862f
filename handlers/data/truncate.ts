import type { Handler } from '../../src/context.ts';
import { writableTableFromPath } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { deleteRows } from '../../src/storage/filters.ts';
import { isDevBranch } from '../../src/storage/locator.ts';
import { autoEnabled, truncateIntoSnapshot } from '../../src/storage/snapshots.ts';

/** POST …/tables/{table}/truncate — deletes every row; columns and key stay. */
export const truncateTable: Handler = async (_request, ctx) => {
  const { bucket, table } = writableTableFromPath(ctx);
  // §14: in a development branch, a truncate is a write to the branch's copy (auto snapshots are main's).
  const { deleted, remaining } = !isDevBranch(table.branch) && autoEnabled(ctx.services, table.projectId, 'truncate')
    ? await truncateIntoSnapshot(ctx.services, table)
    : await deleteRows(ctx.services, (path) => ctx.storage.attach(path), table);
  return json({ deleted_rows: deleted, row_count: remaining });
};
