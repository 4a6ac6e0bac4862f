import { existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Services } from '../services.ts';
import type { Catalog, TableRecord } from './catalog.ts';
import { MAIN_BRANCH, type MetadataStore } from './catalog/metadata.ts';
import type { BranchCatalog } from './catalog/branches.ts';
import { bucketIn, currentTable, isDevBranch, metadataBranchOfBucket, metadataBranchOfTable } from './locator.ts';
import type { CatalogChange } from './catalog/store.ts';
import { SnapshotCatalog, type SnapshotBucketState, type SnapshotKind, type SnapshotReason, type SnapshotRecord } from './catalog/snapshots.ts';
import { cloneFile, moveFile, settleWal, type CloneHooks } from './clone.ts';
import type { Database } from './db.ts';
import { partialPath, type StoragePaths } from './paths.ts';
import { TableGoneError, type AttachmentRegistry } from './registry.ts';
import type { SnapshotHooks } from './schema.ts';
import type { SweepTask } from './sweeper.ts';
import { fileStatesCatalog } from './import.ts';
import { columnsDdl, dropTableRecords, removeTableFiles, withPrivateAttachment } from './tables.ts';
import { quoteIdent } from './sql.ts';

/** What snapshot operations need of the services (recovery runs before `Services` exists). */
export interface SnapshotDeps {
  db: Database;
  paths: StoragePaths;
  catalog: Catalog;
  /** §14: a table seen from a development branch is snapshotted there, and the snapshot is the branch's. */
  branches: BranchCatalog;
  registry: AttachmentRegistry;
  metadata: MetadataStore;
  snapshots: SnapshotCatalog;
  clock: { now(): Date };
}

/** The branch of every record until development branches (§14) exist. */
export const DEFAULT_BRANCH = MAIN_BRANCH;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Auto snapshots the project's settings may switch off; `restore` and `merge` are always taken. */
export function autoEnabled(deps: SnapshotDeps, projectId: string, reason: SnapshotReason): boolean {
  if (reason === 'restore' || reason === 'merge') return true;
  return deps.snapshots.settings(projectId).auto[reason];
}

/**
 * When a snapshot taken now expires: `retentionDays` null keeps it until deleted, undefined
 * means the project's setting for its kind (read when it is taken).
 */
function expiry(deps: SnapshotDeps, projectId: string, kind: SnapshotKind, now: Date, retentionDays?: number | null): string | null {
  if (retentionDays === null) return null;
  const settings = deps.snapshots.settings(projectId);
  const days = retentionDays ?? (kind === 'manual' ? settings.manual_retention_days : settings.auto_retention_days);
  return new Date(now.getTime() + days * DAY_MS).toISOString();
}

/** A record describing `table` as it is now (the caller holds its write lock). */
export function describeSnapshot(
  deps: SnapshotDeps,
  table: TableRecord,
  options: { kind: SnapshotKind; reason: SnapshotReason | null; description?: string | null; retentionDays?: number | null; sizeBytes: number; state: SnapshotRecord['state'] },
): SnapshotRecord {
  const now = deps.clock.now();
  return {
    id: SnapshotCatalog.newId(),
    projectId: table.projectId,
    branch: isDevBranch(table.branch) ? table.branch : DEFAULT_BRANCH,
    bucket: table.bucket,
    table: table.name,
    description: options.description ?? null,
    kind: options.kind,
    reason: options.reason,
    rowCount: table.rowCount,
    sizeBytes: options.sizeBytes,
    columns: table.columns.map((column) => ({ ...column })),
    primaryKey: [...table.primaryKey],
    metadata: deps.metadata.tableBundle(table.projectId, metadataBranchOfTable(table), table.bucket, table.name),
    bucketState: bucketStateOf(deps, table),
    tableCreatedAt: table.createdAt,
    createdAt: now.toISOString(),
    expiresAt: expiry(deps, table.projectId, options.kind, now, options.retentionDays),
    state: options.state,
    seq: deps.snapshots.nextSeq(),
  };
}

/** The bucket's description and own metadata as they are now, kept with a snapshot of one of its tables. */
function bucketStateOf(deps: SnapshotDeps, table: TableRecord): SnapshotBucketState | undefined {
  const bucket = bucketIn(deps, table.projectId, table.branch, table.bucket);
  if (!bucket) return undefined;
  const target = { projectId: table.projectId, branch: metadataBranchOfBucket(deps, bucket), bucket: bucket.name, table: null, column: null };
  return { description: bucket.description, metadata: deps.metadata.list(target) };
}

const fileSize = (path: string) => statSync(path, { throwIfNoEntry: false })?.size ?? 0;

/**
 * Clones the table's file into a new snapshot. The record (with the file's size, known
 * once the file is checkpointed) is committed while the file is copied, and shown only
 * once both are done: a crash in between leaves a file without a record, or a record
 * without a file (or with a shorter one), and start-up removes either. The caller holds
 * the table's write lock; readers go on reading meanwhile.
 */
async function cloneIntoSnapshot(
  deps: SnapshotDeps,
  table: TableRecord,
  options: { kind: SnapshotKind; reason: SnapshotReason | null; description?: string | null; retentionDays?: number | null; hooks?: CloneHooks },
): Promise<SnapshotRecord> {
  const source = deps.paths.tableFileOf(table);
  // Checkpointed first, so the size is the copy's (cloneFile finds nothing left to fold).
  await settleWal(deps, source, 'shared');
  const record = describeSnapshot(deps, table, { ...options, sizeBytes: fileSize(source), state: 'ready' });
  const file = deps.paths.snapshotFile(table.projectId, record.id);
  const [recorded, cloned] = await Promise.allSettled([
    deps.snapshots.insertHidden([record]),
    // Buffered: the record's commit runs beside the copy (see `bufferedCopy`).
    cloneFile(deps, source, file, { live: true, hooks: options.hooks, durability: 'background', buffered: true }),
  ]);
  if (recorded.status === 'rejected' || cloned.status === 'rejected') {
    if (recorded.status === 'fulfilled') await deps.snapshots.remove([record.id]).catch(() => {});
    await rm(file, { force: true });
    throw recorded.status === 'rejected' ? recorded.reason : (cloned as PromiseRejectedResult).reason;
  }
  // A reader's open transaction kept the checkpoint from running: the copy folded the WAL in.
  if (cloned.value !== record.sizeBytes) {
    try {
      await deps.snapshots.resize(record.id, cloned.value);
    } catch (error) {
      await deps.snapshots.remove([record.id]).catch(() => {});
      await rm(file, { force: true });
      throw error;
    }
    record.sizeBytes = cloned.value;
  }
  recorded.value();
  return deps.snapshots.get(record.id) ?? record;
}

/**
 * POST T/snapshots: a manual snapshot of the table. Takes the bucket's shared lock (a
 * bucket or project delete waits for it) and the table's write lock (so every acknowledged
 * write is in the copy).
 */
export function createSnapshot(
  deps: SnapshotDeps,
  table: TableRecord,
  options: { description: string | null; retentionDays?: number | null; hooks?: CloneHooks },
): Promise<SnapshotRecord> {
  const { paths, registry, catalog } = deps;
  // §14: in a development branch, the table as the branch sees it (main's file until it holds a copy).
  return withBucketShared(deps, table, () =>
    registry.withWriteLock(paths.tableFileOf(table), async () => {
      const current = isDevBranch(table.branch) ? currentTable(deps, table) : catalog.getTable(table.projectId, table.bucket, table.name);
      if (!current || current.branchState !== table.branchState) throw new TableGoneError();
      return cloneIntoSnapshot(deps, current, { kind: 'manual', reason: null, ...options });
    }),
  );
}

/** An auto snapshot taken by copy, which the operation that took it discards if it fails. */
export interface AutoSnapshot {
  id: string;
  discard(): Promise<void>;
}

/**
 * The auto snapshot an operation takes before it changes `table` (a full import, a column
 * drop), when the project's settings ask for one; null when they do not. The caller holds
 * the table's write lock and calls `discard()` if its operation fails. If the snapshot
 * cannot be taken this throws, and the operation must not go ahead.
 *
 * The record is written as finished: after a crash in the middle of the operation the
 * snapshot stays (a spare copy of the unchanged table), rather than an operation that did
 * commit losing its safety net.
 */
export async function takeAutoSnapshot(deps: SnapshotDeps, table: TableRecord, reason: SnapshotReason): Promise<AutoSnapshot | null> {
  if (!autoEnabled(deps, table.projectId, reason)) return null;
  const record = await cloneIntoSnapshot(deps, table, { kind: 'auto', reason });
  return { id: record.id, discard: () => removeSnapshot(deps, record) };
}

/** Deletes a snapshot's record, then its file; waits for a restore reading it. */
export function removeSnapshot(deps: SnapshotDeps, record: SnapshotRecord): Promise<void> {
  const file = deps.paths.snapshotFile(record.projectId, record.id);
  return deps.registry.withFolderLock(file, 'exclusive', async () => {
    if (!deps.snapshots.get(record.id)) return;
    // Record first: a crash before the file goes leaves a file without a record, removed at start.
    await deps.snapshots.remove([record.id]);
    await rm(file, { force: true });
  });
}

/**
 * Runs `work` (a drop, a truncate's swap, a bucket's cascade delete) after each table's
 * file has become its auto snapshot, by rename, no copy. The records are written first as
 * pending (the operation's intent: start-up recovery completes or rolls it back), the files
 * moved, `work` run, and the records marked finished: by the `finish` change `work` is
 * given, when `work` commits it with its own catalog changes (a drop: one commit instead of
 * two), otherwise in a commit after `work`. If `work` fails, the files are moved back and
 * the records dropped, so the operation changes nothing.
 *
 * The caller holds every table's write lock and keeps the files from being attached
 * (`registry.exclusive` or `registry.swap`).
 */
export async function withMovedSnapshots(deps: SnapshotDeps, tables: TableRecord[], reason: SnapshotReason, work: (finish: CatalogChange) => Promise<void>): Promise<string[]> {
  const { paths, snapshots } = deps;
  // §14: a table a development branch holds has its file in the branch's layout.
  const tablePath = (t: TableRecord) => paths.tableFileOf(t);
  for (const table of tables) await settleWal(deps, tablePath(table), 'exclusive');
  const records = tables.map((table) => describeSnapshot(deps, table, { kind: 'auto', reason, sizeBytes: fileSize(tablePath(table)), state: 'pending' }));
  await snapshots.insert(records);
  const moved: number[] = [];
  const moveBack = async () => {
    for (const i of moved.reverse()) {
      const path = tablePath(tables[i]!);
      await removeTableFiles(paths, path).catch(() => {});
      await moveFile(deps, paths.snapshotFile(records[i]!.projectId, records[i]!.id), path);
    }
  };
  let finish: CatalogChange | undefined;
  let finished = false;
  try {
    for (let i = 0; i < tables.length; i++) {
      const path = tablePath(tables[i]!);
      if (!existsSync(path)) continue;
      await moveFile(deps, path, paths.snapshotFile(records[i]!.projectId, records[i]!.id));
      moved.push(i);
    }
    // The records are finished (a file that was already missing leaves no snapshot) in the
    // commit `work` makes, when it takes `finish` into it, or in a commit of their own after it.
    const change = snapshots.finishChange(
      records.filter((_, i) => moved.includes(i)).map((r) => r.id),
      records.filter((_, i) => !moved.includes(i)).map((r) => r.id),
    );
    finish = {
      statements: change.statements,
      apply: () => {
        change.apply();
        finished = true;
      },
    };
    await work(finish);
  } catch (error) {
    await moveBack();
    await snapshots.remove(records.map((r) => r.id));
    throw error;
  }
  if (!finished) await deps.catalog.store.commitChanges([finish]);
  return records.filter((_, i) => moved.includes(i)).map((r) => r.id);
}

/**
 * DELETE T: drops the table; when the project's settings say so, its file becomes the
 * `drop_table` auto snapshot on the way.
 */
export function dropTable(deps: SnapshotDeps, table: TableRecord): Promise<void> {
  const { catalog, registry } = deps;
  const path = deps.paths.tableFile(table.projectId, table.bucket, table.name);
  // The bucket's shared lock keeps a cascade delete of the bucket from moving the same file.
  const dropLocked = async () => {
    const current = catalog.getTable(table.projectId, table.bucket, table.name);
    if (!current) throw new TableGoneError();
    // One catalog commit: the row, its metadata and the auto snapshot's finish.
    const drop = async (finish?: CatalogChange) => {
      await removeTableFiles(deps.paths, path);
      await dropTableRecords(deps, current, finish ? [finish] : []);
    };
    if (autoEnabled(deps, current.projectId, 'drop_table')) await withMovedSnapshots(deps, [current], 'drop_table', drop);
    else await drop();
  };
  return withBucketShared(deps, table, () => registry.withWriteLock(path, () => registry.exclusive([path], dropLocked)));
}

function withBucketShared<T>(deps: SnapshotDeps, table: TableRecord, work: () => Promise<T>): Promise<T> {
  return deps.registry.withFolderLock(deps.paths.bucketDir(table.projectId, table.bucket), 'shared', work);
}

/**
 * POST T/truncate with the `truncate` auto snapshot on: the table's file becomes the
 * snapshot and a fresh empty file of the same columns, defaults and key takes its place.
 * Requests arriving during the swap wait for it and then read the new file.
 */
export function truncateIntoSnapshot(deps: SnapshotDeps, table: TableRecord): Promise<{ deleted: number; remaining: number }> {
  const { catalog, registry } = deps;
  const path = deps.paths.tableFile(table.projectId, table.bucket, table.name);
  const truncateLocked = async () => {
    const current = catalog.getTable(table.projectId, table.bucket, table.name);
    if (!current) throw new TableGoneError();
    const fresh = partialPath(path);
    try {
      const alias = await registry.acquire(path);
      const representable = await deps.db.with((c) => fileStatesCatalog(c, alias, current)).finally(() => registry.release(path));
      if (representable) {
        await withPrivateAttachment(deps, fresh, async (c, freshAlias) => {
          await c.run(`CREATE TABLE ${quoteIdent(freshAlias)}.main.data (${columnsDdl(current.columns, current.primaryKey)})`);
          await c.run(`CHECKPOINT ${quoteIdent(freshAlias)}`);
        });
      } else {
        // An adopted file the catalog cannot state exactly (a default expression, a nested
        // type): the empty table is a copy of the file with its rows deleted, so it keeps
        // its own definition, as emptyTable does for imports.
        await cloneFile(deps, path, fresh, { live: true });
        await withPrivateAttachment(deps, fresh, async (c, freshAlias) => {
          await c.run(`DELETE FROM ${quoteIdent(freshAlias)}.main.data`);
          await c.run(`CHECKPOINT ${quoteIdent(freshAlias)}`);
        });
      }
      await rm(`${fresh}.wal`, { force: true });
      await registry.swap(path, () =>
        withMovedSnapshots(deps, [current], 'truncate', async () => {
          await rm(`${path}.wal`, { force: true });
          await rename(fresh, path);
          await catalog.setRowCount(current, 0);
        }),
      );
    } finally {
      await rm(fresh, { force: true });
      await rm(`${fresh}.wal`, { force: true });
    }
    return { deleted: current.rowCount, remaining: 0 };
  };
  return withBucketShared(deps, table, () => registry.withWriteLock(path, truncateLocked));
}

/** What schema changes call (§12 → §13): the `drop_column` auto snapshot, undone if the drop fails. */
export function snapshotHooks(deps: SnapshotDeps): SnapshotHooks {
  return {
    async beforeDropColumn(table) {
      const snapshot = await takeAutoSnapshot(deps, table, 'drop_column');
      return snapshot ? () => snapshot.discard() : undefined;
    },
  };
}

/** Bytes on disk of a project's snapshot files (stats, §13). */
export function snapshotsSizeBytes(deps: SnapshotDeps, projectId: string): number {
  return deps.snapshots
    .all()
    .filter((r) => r.projectId.toLowerCase() === projectId.toLowerCase() && r.state === 'ready')
    .reduce((sum, r) => sum + fileSize(deps.paths.snapshotFile(r.projectId, r.id)), 0);
}

/** Project deletion: every snapshot record of the project, then its snapshot folder. */
/** §13/§14: deletes the snapshots of a branch (the branch is being deleted). */
export async function deleteBranchSnapshots(deps: SnapshotDeps, projectId: string, branch: string): Promise<void> {
  for (const record of deps.snapshots.list(projectId, { branch })) await removeSnapshot(deps, record);
}

export async function deleteProjectSnapshots(deps: SnapshotDeps, projectId: string): Promise<void> {
  await deps.snapshots.forgetProject(projectId);
  const folder = deps.paths.snapshotsProjectDir(projectId);
  const trash = join(deps.paths.snapshotsDir, `.trash-${randomUUID()}`);
  try {
    await rename(folder, trash);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await rm(trash, { recursive: true, force: true });
}

/** The sweeper's task: snapshots past `expires_at` are deleted. */
export function snapshotSweepTask(deps: SnapshotDeps): SweepTask {
  return {
    name: 'snapshots',
    async sweep(now) {
      const due = deps.snapshots.all().filter((r) => r.state === 'ready' && r.expiresAt !== null && Date.parse(r.expiresAt) <= now.getTime());
      for (const record of due) await removeSnapshot(deps, record);
      return due.length;
    },
  };
}
