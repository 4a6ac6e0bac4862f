import { rename, rm } from 'node:fs/promises';
import type { Services } from '../services.ts';
import type { TableRecord } from './catalog.ts';
import type { SnapshotReason } from './catalog/snapshots.ts';
import { cloneFile } from './clone.ts';
import { deleteRows } from './filters.ts';
import { fileStatesCatalog } from './import.ts';
import { saveRowCount, withTableWrite } from './locator.ts';
import { partialPath } from './paths.ts';
import type { AttachmentRegistry } from './registry.ts';
import { autoEnabled, takeAutoSnapshot, withMovedSnapshots, type AutoSnapshot } from './snapshots.ts';
import { quoteIdent } from './sql.ts';
import { columnsDdl, deleteTableFile, withPrivateAttachment } from './tables.ts';

/**
 * §13 last line: writes inside a development branch take auto snapshots by the project's
 * settings, and the snapshots are the branch's (`branch` is its id; deleting the branch
 * deletes them). What a snapshot holds is the table as the branch saw it:
 *
 * - a table the branch holds (its copy, or one it created): its own file, which becomes the
 *   snapshot by a rename, as in main (no copy). The record is written first as pending, so
 *   start-up recovery moves the file back if the operation did not happen.
 * - one of main's tables the branch has not written (the drop of it is a tombstone): main's
 *   file as it is at that moment, cloned under main's write lock (main keeps its file, so
 *   nothing can be moved). A crash after the clone leaves a spare snapshot, never a
 *   half-done drop.
 */

/**
 * Runs `work` with the write locks of `paths` held, taken in one order (no deadlock between
 * two such calls). Each lock is taken after a turn of the event loop's microtasks, so a
 * bucket of thousands of tables does not nest thousands of calls on one stack.
 */
export function withWriteLocks<T>(registry: AttachmentRegistry, paths: string[], work: () => Promise<T>): Promise<T> {
  const byLowered = new Map(paths.map((p) => [p.toLowerCase(), p]));
  const sorted = [...byLowered.keys()].sort().map((lowered) => byLowered.get(lowered)!);
  const step = async (i: number): Promise<T> => {
    await Promise.resolve();
    return i === sorted.length ? work() : registry.withWriteLock(sorted[i]!, () => step(i + 1));
  };
  return step(0);
}

/**
 * Runs `work` (the drop of `tables` in their branch) after their auto snapshots: the
 * branch's own files move into theirs, main's files are cloned. If `work` fails, every
 * snapshot taken for it goes again (moved files move back). The caller holds the branch's
 * write lock of each table and keeps the branch's files from being attached.
 */
export async function withBranchSnapshots(services: Services, tables: TableRecord[], reason: SnapshotReason, work: () => Promise<void>): Promise<void> {
  const own = tables.filter((t) => t.branchState !== 'main');
  const mains = tables.filter((t) => t.branchState === 'main');
  // Main's write locks: no write of main commits between the clone and the drop.
  await withWriteLocks(services.registry, mains.map((t) => services.paths.tableFile(t.projectId, t.bucket, t.name)), async () => {
    const taken: AutoSnapshot[] = [];
    try {
      for (const table of mains) {
        // Main's table as it is now, under its lock (main may have changed or dropped it meanwhile).
        const now = services.catalog.getTable(table.projectId, table.bucket, table.name);
        if (!now) continue;
        const snapshot = await takeAutoSnapshot(services, { ...now, branch: table.branch, branchState: 'main' }, reason);
        if (snapshot) taken.push(snapshot);
      }
      if (own.length) {
        await withMovedSnapshots(services, own, reason, async () => {
          await services.faultPoint?.('branch_snapshot_moved');
          await work();
        });
      } else await work();
    } catch (error) {
      for (const snapshot of taken) await snapshot.discard().catch(() => {});
      throw error;
    }
  });
}

/** DELETE T in a development branch: a tombstone or the branch's table gone, after its `drop_table` snapshot when that is on. */
export function dropTableInBranch(services: Services, table: TableRecord): Promise<void> {
  if (!autoEnabled(services, table.projectId, 'drop_table')) return deleteTableFile(services, table);
  return deleteTableFile(services, table, { branchSnapshot: (current, drop) => withBranchSnapshots(services, [current], 'drop_table', drop) });
}

/**
 * POST T/truncate in a development branch. With the `truncate` auto snapshot on, the
 * truncate is a write to the branch's own file (the first one copies main's, as any first
 * write does); that file becomes the snapshot and a fresh empty file of the same columns,
 * defaults and key takes its place. A table still main's is thus snapshotted as main's file
 * was when the branch copied it, and main is untouched.
 */
export function truncateInBranch(services: Services, attach: (path: string) => Promise<string>, table: TableRecord): Promise<{ deleted: number; remaining: number }> {
  if (!autoEnabled(services, table.projectId, 'truncate')) return deleteRows(services, attach, table);
  const { registry } = services;
  return withTableWrite(services, table, async (current, path) => {
    const fresh = partialPath(path);
    try {
      await writeEmptyTableFile(services, path, current, fresh);
      await registry.swap(path, () =>
        withMovedSnapshots(services, [current], 'truncate', async () => {
          await services.faultPoint?.('branch_snapshot_moved');
          await rm(`${path}.wal`, { force: true });
          await rename(fresh, path);
          await saveRowCount(services, current, 0);
        }),
      );
    } finally {
      await rm(fresh, { force: true });
      await rm(`${fresh}.wal`, { force: true });
    }
    return { deleted: current.rowCount, remaining: 0 };
  });
}

/**
 * Writes at `fresh` an empty table file defined as the one at `path`: built from the
 * catalog's definition when the file states exactly that, else (an adopted file with a
 * type or default the catalog cannot state) a copy of the file with its rows deleted.
 */
async function writeEmptyTableFile(services: Services, path: string, table: TableRecord, fresh: string): Promise<void> {
  const { db, registry } = services;
  const alias = await registry.acquire(path);
  const representable = await db.with((c) => fileStatesCatalog(c, alias, table)).finally(() => registry.release(path));
  if (!representable) await cloneFile(services, path, fresh, { live: true });
  await withPrivateAttachment(services, fresh, async (c, freshAlias) => {
    const data = `${quoteIdent(freshAlias)}.main.data`;
    await c.run(representable ? `CREATE TABLE ${data} (${columnsDdl(table.columns, table.primaryKey)})` : `DELETE FROM ${data}`);
    await c.run(`CHECKPOINT ${quoteIdent(freshAlias)}`);
  });
  await rm(`${fresh}.wal`, { force: true });
}
