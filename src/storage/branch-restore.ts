import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { conflict, errors } from '../http/errors.ts';
import type { Services } from '../services.ts';
import type { BucketRecord, ProjectRecord } from './catalog.ts';
import type { BranchTableRecord } from './catalog/branches.ts';
import type { SnapshotRecord } from './catalog/snapshots.ts';
import { createBranchBucket } from './branches.ts';
import { cloneFile, settleWal } from './clone.ts';
import { branchTableView, bucketIn, tableIn, withBucketLockIn } from './locator.ts';
import type { RestoreResult, RestoreTarget } from './restore.ts';
import { partialPath } from './paths.ts';
import { takeAutoSnapshot } from './snapshots.ts';

/**
 * §13 restore of a snapshot taken in a development branch: into that branch (§14). The
 * snapshot's file is cloned into the branch's layout and the branch's record written in one
 * transaction with the table's metadata; the table becomes the branch's own (`copied` when
 * main has a table of that name, `created` otherwise). With `overwrite`, the table the
 * branch sees is first snapshotted (reason `restore`), and that snapshot goes if the
 * restore fails. The original bucket is created again in the branch when it is gone there.
 */
export async function restoreInBranch(services: Services, project: ProjectRecord, snapshot: SnapshotRecord, target: RestoreTarget): Promise<RestoreResult> {
  const { branches, catalog, metadata, paths, registry } = services;
  const branch = snapshot.branch;
  const bucketName = target.bucket ?? snapshot.bucket;
  const tableName = target.table ?? snapshot.table;
  let bucket: BucketRecord | undefined = bucketIn(services, project.id, branch, bucketName);
  if (bucket?.source) throw errors.bucketReadonly(bucket);
  const early = bucket && tableIn(services, bucket, tableName);
  if (early && !target.overwrite) throw errors.tableExists(project.id, bucket!.name, early.name);
  /** Set when the bucket is created again here: it gets the metadata its snapshot recorded. */
  let createdBucket = false;
  if (!bucket) {
    if (target.bucket !== undefined) throw errors.bucketNotFound(project.id, bucketName);
    // §13: created again as the snapshot saw it (its description here, its metadata with the table's record).
    const description = snapshot.bucketState?.description ?? null;
    const fresh: BucketRecord = { projectId: project.id, name: bucketName, description, createdAt: services.clock.now().toISOString(), readonlyAccess: false, source: null, branch };
    bucket = await createBranchBucket(services, fresh, () => {
      const taken = bucketIn(services, project.id, branch, bucketName);
      if (taken) throw conflict('bucket_exists', `Bucket ${taken.name} already exists in project ${project.id}`, { project_id: project.id, bucket_name: taken.name });
    });
    createdBucket = true;
  }
  const into = bucket;
  const path = paths.branchTableFile(project.id, branch, into.name, tableName);
  const snapshotFile = paths.snapshotFile(project.id, snapshot.id);
  return withBucketLockIn(services, project.id, branch, into.name, 'shared', () =>
    registry.withWriteLock(path, () =>
      registry.withFolderLock(snapshotFile, 'shared', async () => {
        if (!services.snapshots.get(snapshot.id)) throw errors.snapshotNotFound(project.id, snapshot.id);
        const existing = tableIn(services, into, tableName);
        if (existing && !target.overwrite) throw errors.tableExists(project.id, into.name, existing.name);
        // The table as the branch sees it now, snapshotted under its own write lock (main's for a table still main's).
        const auto = existing
          ? existing.branchState === 'main'
            ? await registry.withWriteLock(paths.tableFile(project.id, existing.bucket, existing.name), () => takeAutoSnapshot(services, existing, 'restore'))
            : await takeAutoSnapshot(services, existing, 'restore')
          : null;
        const name = existing?.name ?? tableName;
        const own = branches.tableState(project.id, branch, into.name, name);
        const main = catalog.getTable(project.id, into.name, name);
        const record: BranchTableRecord = {
          projectId: project.id,
          branchId: branch,
          bucket: into.name,
          name,
          state: own ? (own.state === 'created' ? 'created' : 'copied') : main ? 'copied' : 'created',
          columns: snapshot.columns.map((c) => ({ ...c })),
          primaryKey: [...snapshot.primaryKey],
          rowCount: snapshot.rowCount,
          createdAt: snapshot.tableCreatedAt,
          baseVersion: own ? own.baseVersion : main ? catalog.tableVersion(project.id, into.name, name) : null,
        };
        try {
          // Readers of the branch's file wait, then open the restored one.
          // The copy is made beside the table first; the swap is two renames and the record.
          const staged = partialPath(path);
          await cloneFile(services, snapshotFile, staged, { live: false });
          try {
            await registry.swap(path, async () => {
              const backup = existsSync(path) ? partialPath(path) : undefined;
              if (backup) {
                await settleWal(services, path, 'exclusive');
                await rename(path, backup);
              }
              await rm(`${path}.wal`, { force: true });
              await rename(staged, path);
              try {
                const changes = [branches.putTableChange(record), metadata.replaceTableBundleChange(project.id, branch, into.name, name, snapshot.metadata ?? { table: [], columns: {} })];
                // A bucket the branch created holds its own metadata (nothing of main's to copy on write).
                if (createdBucket && snapshot.bucketState?.metadata.length) changes.push(metadata.replaceBucketEntriesChange(project.id, branch, into.name, snapshot.bucketState.metadata));
                await branches.commit(changes, () => {
                  if (!branches.get(project.id, branch)) throw errors.branchNotFound(project.id, branch);
                });
              } catch (error) {
                await rm(path, { force: true });
                if (backup) await rename(backup, path);
                throw error;
              }
              if (backup) await rm(backup, { force: true });
            });
          } finally {
            await rm(staged, { force: true });
          }
        } catch (error) {
          await auto?.discard().catch(() => {});
          throw error;
        }
        return { table: branchTableView(record), autoSnapshotId: auto?.id ?? null };
      }),
    ),
  );
}
