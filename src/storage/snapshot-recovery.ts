import { existsSync, statSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { moveFile } from './clone.ts';
import { MAIN_BRANCH_ID, PARTIAL_SUFFIX, SNAPSHOT_ID } from './paths.ts';
import { recoverRestores } from './restore.ts';
import type { SnapshotDeps } from './snapshots.ts';
import { removeTableFiles } from './tables.ts';

const PROJECT_DIR = /^project_([A-Za-z0-9_-]{1,64})$/;

/**
 * Start-up, before the table files are reconciled: operations with snapshots that a crash
 * cut short are finished or undone. Restores go by their intent records. A pending auto
 * snapshot of a drop or a truncate goes by where the files are: a drop whose table row is
 * gone (or whose bucket folder is) happened, so its snapshot is kept; otherwise the file
 * moves back and the drop did not happen. A truncate whose fresh file is in place happened;
 * otherwise the old file moves back.
 */
export async function recoverSnapshots(deps: SnapshotDeps, logger: Logger): Promise<void> {
  const { branches, catalog, paths, snapshots } = deps;
  await recoverRestores(deps, (repair, intent) =>
    logger.info({ event: 'reconcile', repair, project_id: intent.projectId, bucket: intent.bucket, table: intent.table, snapshot_id: intent.snapshotId }, 'finished a restore cut short'),
  );
  for (const record of snapshots.all()) {
    if (record.state !== 'pending') continue;
    const file = paths.snapshotFile(record.projectId, record.id);
    // §14: a pending snapshot of a development branch's own file (see branch-snapshots.ts).
    const inBranch = record.branch !== MAIN_BRANCH_ID;
    const tablePath = inBranch ? paths.branchTableFile(record.projectId, record.branch, record.bucket, record.table) : paths.tableFile(record.projectId, record.bucket, record.table);
    let keep = false;
    if (catalog.getActiveProject(record.projectId) && existsSync(file) && (!inBranch || branches.get(record.projectId, record.branch))) {
      if (record.reason === 'truncate') {
        keep = existsSync(tablePath);
      } else if (record.reason === 'drop_table' && inBranch) {
        // The drop happened once the branch no longer holds the table (a tombstone, or no record).
        const own = branches.tableState(record.projectId, record.branch, record.bucket, record.table);
        keep = !own || own.state === 'deleted';
      } else if (record.reason === 'drop_table') {
        keep = !catalog.getTable(record.projectId, record.bucket, record.table) || !existsSync(paths.bucketDir(record.projectId, record.bucket));
      } else {
        keep = true;
      }
      if (!keep && !existsSync(tablePath)) {
        await removeTableFiles(paths, tablePath);
        await moveFile(deps, file, tablePath);
        logger.info({ event: 'reconcile', repair: 'moved_back_table', project_id: record.projectId, bucket: record.bucket, table: record.table }, 'undid an interrupted operation');
      }
    }
    if (keep) {
      await snapshots.markReady([record.id]);
    } else {
      await snapshots.remove([record.id]);
      await rm(file, { force: true });
    }
    logger.info({ event: 'reconcile', repair: keep ? 'kept_auto_snapshot' : 'dropped_pending_snapshot', snapshot_id: record.id, reason: record.reason }, 'settled a pending snapshot');
  }
}

/**
 * Start-up, after the table files are reconciled: the snapshots folder and the records are
 * made to agree. Half-written files (temporary names), staged restores, files without a
 * finished record and folders of deleted or unknown projects are removed; a record whose
 * file is gone, or shorter than the record says, is dropped.
 */
export async function reconcileSnapshotFiles(deps: SnapshotDeps, logger: Logger): Promise<void> {
  const { catalog, paths, snapshots } = deps;
  // A snapshot's file is renamed into place before its bytes are fsynced (the source stays,
  // and kill -9 keeps the page cache): after a power loss it can be shorter than recorded,
  // and such a snapshot is not whole. It goes, record and file.
  const short = snapshots.all().filter((r) => {
    const size = statSync(paths.snapshotFile(r.projectId, r.id), { throwIfNoEntry: false })?.size;
    return r.state === 'ready' && size !== undefined && size < r.sizeBytes;
  });
  if (short.length) {
    await snapshots.remove(short.map((r) => r.id));
    for (const r of short) await rm(paths.snapshotFile(r.projectId, r.id), { force: true });
    logger.warn({ event: 'reconcile', repair: 'dropped_short_snapshots', snapshot_ids: short.map((r) => r.id) }, 'dropped snapshots whose file is shorter than recorded');
  }
  const live = new Set(snapshots.all().filter((r) => r.state === 'ready' && catalog.getActiveProject(r.projectId)).map((r) => `${r.projectId.toLowerCase()}/${r.id}`));
  let removed = 0;
  for (const entry of await readdir(paths.snapshotsDir, { withFileTypes: true }).catch(() => [])) {
    const full = join(paths.snapshotsDir, entry.name);
    const match = PROJECT_DIR.exec(entry.name);
    const project = match && catalog.getActiveProject(match[1]!);
    if (entry.name.startsWith('.trash-') || (match && entry.isDirectory() && (!project || project.id !== match[1]))) {
      await rm(full, { recursive: true, force: true });
      removed++;
      continue;
    }
    if (!project || !entry.isDirectory()) continue;
    for (const file of await readdir(full, { withFileTypes: true }).catch(() => [])) {
      const id = /^(.+)\.duckdb$/.exec(file.name)?.[1];
      const known = id !== undefined && SNAPSHOT_ID.test(id) && live.has(`${project.id.toLowerCase()}/${id}`);
      const ours = PARTIAL_SUFFIX.test(file.name) || /\.duckdb(\.wal)?$/.test(file.name);
      if (known || !ours) continue;
      await rm(join(full, file.name), { recursive: true, force: true });
      removed++;
    }
  }
  if (removed) logger.info({ event: 'reconcile', repair: 'removed_snapshot_files', count: removed }, 'removed snapshot files without a record');
  const gone = snapshots
    .all()
    .filter((r) => r.state !== 'ready' || !catalog.getActiveProject(r.projectId) || !existsSync(paths.snapshotFile(r.projectId, r.id)))
    .map((r) => r.id);
  if (gone.length) {
    await snapshots.remove(gone);
    logger.info({ event: 'reconcile', repair: 'dropped_snapshot_records', count: gone.length }, 'dropped snapshot records without a file');
  }
}
