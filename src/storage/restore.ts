import { existsSync, readdirSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { errors } from '../http/errors.ts';
import type { BucketRecord, ProjectRecord, TableRecord } from './catalog.ts';
import { MAIN_BRANCH } from './catalog/metadata.ts';
import { SnapshotCatalog, type RestoreIntent, type SnapshotRecord } from './catalog/snapshots.ts';
import type { CatalogChange } from './catalog/store.ts';
import { cloneFile, moveFile, settleWal } from './clone.ts';
import { createBucket } from './buckets.ts';
import { describeSnapshot, type SnapshotDeps } from './snapshots.ts';
import type { Services } from '../services.ts';

export interface RestoreTarget {
  bucket?: string;
  table?: string;
  overwrite: boolean;
}

export interface RestoreResult {
  table: TableRecord;
  /** The auto snapshot of the table an overwrite replaced; null when nothing was replaced. */
  autoSnapshotId: string | null;
}

/** Thrown inside the create guard when the bucket exists already: then it is used as it is. */
class BucketThere extends Error {}

/**
 * The target bucket of a restore: the given one (404 when missing), or the snapshot's own,
 * created again if it was deleted. A linked bucket answers 403 `bucket_readonly`.
 */
async function targetBucket(services: Services, project: ProjectRecord, snapshot: SnapshotRecord, target: RestoreTarget): Promise<{ bucket: BucketRecord; created: boolean }> {
  const { catalog } = services;
  const name = target.bucket ?? snapshot.bucket;
  let bucket = catalog.getBucket(project.id, name);
  if (!bucket && target.bucket !== undefined) throw errors.bucketNotFound(project.id, name);
  if (bucket?.source) throw errors.bucketReadonly(bucket);
  if (bucket) return { bucket, created: false };
  let created = true;
  // §13: created again as the snapshot saw it (its description here, its metadata with the table row).
  const description = snapshot.bucketState?.description ?? null;
  const record: BucketRecord = { projectId: project.id, name, description, createdAt: services.clock.now().toISOString(), readonlyAccess: false, source: null };
  try {
    await createBucket(services, record, () => {
      if (!catalog.getActiveProject(project.id)) throw errors.projectNotFound(project.id);
      if (catalog.getBucket(project.id, name)) throw new BucketThere();
    });
  } catch (error) {
    if (!(error instanceof BucketThere)) throw error;
    created = false;
  }
  bucket = catalog.getBucket(project.id, name);
  if (!bucket) throw errors.bucketNotFound(project.id, name);
  if (bucket.source) throw errors.bucketReadonly(bucket);
  return { bucket, created };
}

/**
 * POST P/snapshots/{id}/restore. The snapshot's file is cloned next to its target, then
 * swapped into the table's place by rename; with `overwrite`, the table it replaces becomes
 * the `restore` auto snapshot (moved, not copied). The intent is recorded before the table's
 * file is touched, so start-up recovery finishes or undoes a restore cut short by a crash.
 */
export async function restoreSnapshot(services: Services, project: ProjectRecord, snapshot: SnapshotRecord, target: RestoreTarget): Promise<RestoreResult> {
  const { catalog, paths, registry, snapshots } = services;
  const tableName = target.table ?? snapshot.table;
  // Refused before a bucket is created again for nothing.
  const named = catalog.getBucket(project.id, target.bucket ?? snapshot.bucket);
  if (named?.source) throw errors.bucketReadonly(named);
  const early = named && catalog.getTable(project.id, named.name, tableName);
  if (early && !target.overwrite) throw errors.tableExists(project.id, named.name, early.name);

  const { bucket, created } = await targetBucket(services, project, snapshot, target);
  const dropCreatedBucket = async () => {
    if (created) await dropBucketIfEmpty(services, bucket);
  };
  try {
    return await registry.withFolderLock(paths.bucketDir(project.id, bucket.name), 'shared', () =>
      registry.withWriteLock(paths.tableFile(project.id, bucket.name, tableName), async () => {
        if (!catalog.getActiveProject(project.id)) throw errors.projectNotFound(project.id);
        if (!catalog.getBucket(project.id, bucket.name)) throw errors.bucketNotFound(project.id, bucket.name);
        const existing = catalog.getTable(project.id, bucket.name, tableName);
        if (existing && !target.overwrite) throw errors.tableExists(project.id, bucket.name, existing.name);
        return restoreLocked(services, project, snapshot, bucket, existing?.name ?? tableName, existing, created);
      }),
    );
  } catch (error) {
    await dropCreatedBucket().catch(() => {});
    throw error;
  }
}

async function restoreLocked(
  services: Services,
  project: ProjectRecord,
  snapshot: SnapshotRecord,
  bucket: BucketRecord,
  tableName: string,
  existing: TableRecord | undefined,
  createdBucket: boolean,
): Promise<RestoreResult> {
  const { catalog, metadata, paths, registry, snapshots } = services;
  const tablePath = paths.tableFile(project.id, bucket.name, tableName);
  const snapshotFile = paths.snapshotFile(snapshot.projectId, snapshot.id);
  const samePlace = bucket.name.toLowerCase() === snapshot.bucket.toLowerCase() && tableName.toLowerCase() === snapshot.table.toLowerCase();
  const record: TableRecord = {
    projectId: project.id,
    bucket: bucket.name,
    name: tableName,
    columns: snapshot.columns.map((column) => ({ ...column })),
    primaryKey: [...snapshot.primaryKey],
    rowCount: snapshot.rowCount,
    createdAt: samePlace ? snapshot.tableCreatedAt : services.clock.now().toISOString(),
  };
  let auto: SnapshotRecord | null = null;
  if (existing) {
    // The write lock's previous holder checkpointed the file; this only acts after a failed checkpoint.
    await settleWal(services, tablePath, 'shared');
    auto = describeSnapshot(services, existing, { kind: 'auto', reason: 'restore', sizeBytes: statSync(tablePath, { throwIfNoEntry: false })?.size ?? 0, state: 'ready' });
  }
  const intent: RestoreIntent = {
    id: SnapshotCatalog.newRestoreId(),
    projectId: project.id,
    snapshotId: snapshot.id,
    bucket: bucket.name,
    table: tableName,
    autoSnapshotId: auto?.id ?? null,
    createdBucket,
    record,
    metadata: snapshot.metadata,
    createdAt: services.clock.now().toISOString(),
  };
  // §13: a bucket the restore created again gets its metadata as the snapshot recorded it.
  if (createdBucket && snapshot.bucketState) intent.bucketMetadata = snapshot.bucketState.metadata;
  if (existing) intent.replaced = { record: existing, metadata: metadata.tableBundle(project.id, MAIN_BRANCH, existing.bucket, existing.name) };
  const staging = paths.restoreStagingFile(project.id, intent.id);
  // An overwrite commits its outcome with its intent, while the copy runs, and shows it once
  // the files are in place; a restore into a new place writes the table row at the end.
  let show: (() => void) | undefined;
  const begin = async () => {
    if (!auto) return snapshots.beginRestore(intent, null);
    show = await snapshots.beginRestoreWithOutcome(intent, auto, outcomeChanges(services, intent));
  };
  // The staged copy is flushed to disk once it is in place (a flush running during the swap slowed its renames).
  let placed!: () => void;
  const inPlace = new Promise<void>((resolve) => (placed = resolve));
  // The snapshot cannot be deleted (by a user or the sweeper) while it is being copied.
  await registry.withFolderLock(snapshotFile, 'shared', async () => {
    if (!snapshots.find(project.id, snapshot.id)) throw errors.snapshotNotFound(project.id, snapshot.id);
    // The intent must be recorded before the table file is touched, not before the staged
    // copy is written (an unrecorded staged copy is removed at start): both run at once.
    // The snapshot stays, so the copy needs no fsync before the restore answers. Buffered:
    // the intent's fsync beside copy_file_range waited 13–15 ms for the copy's bytes (the
    // restore answered in 18–21 ms, 11–12 ms this way; see `bufferedCopy`).
    const [cloned, begun] = await Promise.allSettled([cloneFile(services, snapshotFile, staging, { live: false, durability: 'background', syncAfter: inPlace, buffered: true }), begin()]);
    if (cloned.status === 'rejected' || begun.status === 'rejected') {
      await rm(staging, { force: true });
      if (begun.status === 'fulfilled') await snapshots.abandonRestore(intent, undoChanges(services, intent));
      throw cloned.status === 'rejected' ? cloned.reason : (begun as PromiseRejectedResult).reason;
    }
  }).catch((error: unknown) => {
    placed();
    throw error;
  });
  try {
    if (existing) {
      await registry.swap(tablePath, async () => {
        await settleWal(services, tablePath, 'exclusive');
        const autoFile = paths.snapshotFile(project.id, auto!.id);
        // The intent, already durable, covers the move after any crash or power loss.
        await moveFile(services, tablePath, autoFile, { durability: 'background' });
        try {
          await rm(`${tablePath}.wal`, { force: true });
          await rename(staging, tablePath);
        } catch (error) {
          await moveFile(services, autoFile, tablePath);
          throw error;
        }
        // Requests waiting for the swap read the restored table.
        show!();
      });
    } else {
      await rm(`${tablePath}.wal`, { force: true });
      await rename(staging, tablePath);
    }
  } catch (error) {
    await rm(staging, { force: true });
    await snapshots.abandonRestore(intent, undoChanges(services, intent));
    throw error;
  } finally {
    placed();
  }
  // Off the answer's path for an overwrite (start-up finishes one whose files are in place).
  if (show) snapshots.forgetRestore(intent).catch(() => {});
  else await completeRestore(services, intent);
  return { table: catalog.getTable(project.id, bucket.name, tableName) ?? record, autoSnapshotId: intent.autoSnapshotId };
}

/** The catalog records a restore leaves: the table row, its metadata, and the metadata of a bucket it created again. */
function outcomeChanges(deps: SnapshotDeps, intent: RestoreIntent): CatalogChange[] {
  const { record } = intent;
  const changes = [
    deps.catalog.tableRowChange(record),
    deps.metadata.replaceTableBundleChange(record.projectId, MAIN_BRANCH, record.bucket, record.name, intent.metadata ?? { table: [], columns: {} }),
  ];
  if (intent.bucketMetadata?.length) changes.push(deps.metadata.replaceBucketEntriesChange(record.projectId, MAIN_BRANCH, record.bucket, intent.bucketMetadata));
  return changes;
}

/** What undoes an intent committed with its outcome: the replaced table's row and metadata written back. */
function undoChanges(deps: SnapshotDeps, intent: RestoreIntent): CatalogChange[] {
  const replaced = intent.replaced;
  if (!replaced || !deps.catalog.getBucket(intent.projectId, intent.bucket)) return [];
  return [deps.catalog.tableRowChange(replaced.record), deps.metadata.replaceTableBundleChange(replaced.record.projectId, MAIN_BRANCH, replaced.record.bucket, replaced.record.name, replaced.metadata)];
}

/** The catalog side of a restore whose files are in place: table row, metadata, and the intent's end, in one transaction. */
async function completeRestore(deps: SnapshotDeps, intent: RestoreIntent): Promise<void> {
  await deps.catalog.store.commitChanges([...outcomeChanges(deps, intent), deps.snapshots.finishRestoreChange(intent)]);
}

/** Removes a bucket a restore created, unless something has been put in it since. */
async function dropBucketIfEmpty(deps: SnapshotDeps, bucket: BucketRecord): Promise<void> {
  const { catalog, paths, registry } = deps;
  const dir = paths.bucketDir(bucket.projectId, bucket.name);
  await registry.withFolderLock(dir, 'exclusive', async () => {
    const current = catalog.getBucket(bucket.projectId, bucket.name);
    if (!current || current.source || catalog.listTables(bucket.projectId, bucket.name).length) return;
    if (existsSync(dir) && readdirSync(dir).length) return;
    await catalog.deleteBucket(bucket.projectId, bucket.name, false);
    await rm(dir, { recursive: true, force: true });
  });
}

/**
 * Start-up: finishes or undoes each restore that a crash cut short. The table file tells:
 * with an auto snapshot, the old file moved to its place means the swap began, so the
 * staged copy goes in (if still beside) and the restore completes; otherwise nothing was
 * touched yet and the staged copy is dropped. Without one, the new file in the table's
 * place means it completes.
 */
export async function recoverRestores(deps: SnapshotDeps, log: (repair: string, intent: RestoreIntent) => void): Promise<void> {
  const { paths, snapshots, catalog } = deps;
  for (const intent of snapshots.intents()) {
    const staging = paths.restoreStagingFile(intent.projectId, intent.id);
    const tablePath = paths.tableFile(intent.projectId, intent.bucket, intent.table);
    const project = catalog.getActiveProject(intent.projectId);
    let complete = false;
    if (project && catalog.getBucket(intent.projectId, intent.bucket)) {
      if (intent.autoSnapshotId) {
        if (existsSync(paths.snapshotFile(intent.projectId, intent.autoSnapshotId))) {
          if (existsSync(staging) && !existsSync(tablePath)) await rename(staging, tablePath);
          complete = existsSync(tablePath);
        }
      } else {
        complete = !existsSync(staging) && existsSync(tablePath);
      }
    }
    await rm(staging, { force: true });
    await rm(`${staging}.wal`, { force: true });
    if (complete) {
      await completeRestore(deps, intent);
      log('completed_restore', intent);
    } else {
      // The old file moved out but the new one never arrived: the old one goes back.
      const autoFile = intent.autoSnapshotId ? paths.snapshotFile(intent.projectId, intent.autoSnapshotId) : undefined;
      if (project && autoFile && existsSync(autoFile) && !existsSync(tablePath)) await moveFile(deps, autoFile, tablePath);
      await snapshots.abandonRestore(intent, project ? undoChanges(deps, intent) : []);
      const bucket = catalog.getBucket(intent.projectId, intent.bucket);
      if (intent.createdBucket && bucket) await dropBucketIfEmpty(deps, bucket);
      log('rolled_back_restore', intent);
    }
  }
}
