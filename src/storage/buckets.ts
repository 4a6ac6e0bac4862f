import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Services } from '../services.ts';
import type { BucketRecord } from './catalog.ts';
import { withBucketLock } from './locks.ts';
import { autoEnabled, withMovedSnapshots } from './snapshots.ts';
import { MAIN_BRANCH } from './catalog/metadata.ts';

/**
 * Creates a bucket: its folder first, then the catalog row (a crash in between leaves a
 * folder that reconciliation adopts). `guard` runs under the catalog lock and may refuse;
 * then a folder this call created is removed again.
 */
export async function createBucket(services: Services, bucket: BucketRecord, guard: () => void): Promise<void> {
  await withBucketLock(services, bucket.projectId, bucket.name, async () => {
    guard();
    const dir = services.paths.bucketDir(bucket.projectId, bucket.name);
    const created = await mkdir(dir, { recursive: true });
    try {
      await services.catalog.createBucket(bucket, guard);
    } catch (error) {
      if (created) await rm(dir, { recursive: true, force: true });
      throw error;
    }
  });
}

/**
 * Deletes an own bucket with its tables: under the bucket lock, `check` runs first (it
 * re-checks what the caller checked before waiting, and may refuse); then it waits for
 * every request using the tables, moves the folder aside in one rename (all tables vanish
 * at once), drops the catalog rows in one transaction, then removes the folder.
 * Reconciliation finishes an interrupted delete.
 */
export async function deleteOwnBucket(services: Services, bucket: BucketRecord, withLinks: boolean, check: () => void = () => {}): Promise<void> {
  await withBucketLock(services, bucket.projectId, bucket.name, async () => {
    check();
    await deleteLockedBucket(services, bucket, withLinks);
  });
}

async function deleteLockedBucket(services: Services, bucket: BucketRecord, withLinks: boolean): Promise<void> {
  const { catalog, paths, registry } = services;
  const tables = catalog.listTables(bucket.projectId, bucket.name);
  const tablePaths = tables.map((t) => paths.tableFile(t.projectId, t.bucket, t.name));
  await registry.exclusive(tablePaths, async () => {
    const work = () => removeLockedBucket(services, bucket, withLinks);
    // Each table's file becomes its drop_table auto snapshot before the folder goes.
    if (tables.length && autoEnabled(services, bucket.projectId, 'drop_table')) await withMovedSnapshots(services, tables, 'drop_table', work);
    else await work();
  });
}

async function removeLockedBucket(services: Services, bucket: BucketRecord, withLinks: boolean): Promise<void> {
  const { catalog, paths } = services;
  const dir = paths.bucketDir(bucket.projectId, bucket.name);
  const trash = join(paths.projectDir(bucket.projectId), `.trash-${randomUUID()}`);
  let moved = true;
  try {
    await rename(dir, trash);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    moved = false;
  }
  try {
    await catalog.deleteBucket(bucket.projectId, bucket.name, withLinks);
  } catch (error) {
    if (moved) await rename(trash, dir).catch(() => {});
    throw error;
  }
  await services.metadata.dropBucket(bucket.projectId, MAIN_BRANCH, bucket.name);
  if (moved) await rm(trash, { recursive: true, force: true });
}
