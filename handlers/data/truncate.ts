import type { Handler } from '../../src/context.ts';
import { writableTableFromPath } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { truncateInBranch } from '../../src/storage/branch-snapshots.ts';
import { deleteRows } from '../../src/storage/filters.ts';
import { isDevBranch } from '../../src/storage/locator.ts';
import { autoEnabled, truncateIntoSnapshot } from '../../src/storage/snapshots.ts';

/** POST …/tables/{table}/truncate — deletes every row; columns and key stay. */
export const truncateTable: Handler = async (_request, ctx) => {
  const { table } = writableTableFromPath(ctx);
  const attach = (path: string) => ctx.storage.attach(path);
  // §13/§14: in a development branch, a write to the branch's copy with the branch's auto snapshot.
  const { deleted, remaining } = isDevBranch(table.branch)
    ? await truncateInBranch(ctx.services, attach, table)
    : autoEnabled(ctx.services, table.projectId, 'truncate')
      ? await truncateIntoSnapshot(ctx.services, table)
      : await deleteRows(ctx.services, attach, table);
  return json({ deleted_rows: deleted, row_count: remaining });
};
