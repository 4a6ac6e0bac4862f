import { randomUUID } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, errors, HttpError } from '../http/errors.ts';
import type { Services } from '../services.ts';
import type { BucketRecord, ProjectRecord, TableRecord } from './catalog.ts';
import { newBranchId, type BranchRecord } from './catalog/branches.ts';
import { bucketIn, dropBranchMetadata, MAIN, tablesIn, withBranchShared, withBucketLockIn } from './locator.ts';
import { withBranchSnapshots, withWriteLocks } from './branch-snapshots.ts';
import { autoEnabled, deleteBranchSnapshots } from './snapshots.ts';
import { deleteBranchWorkspaces } from './sql/workspaces.ts';
import { removeTableFiles, tableSize } from './tables.ts';
import { TableGoneError } from './registry.ts';

/** The name of the default branch (§14); taken, without regard to case, for every project. */
export const MAIN_BRANCH_NAME = 'Main';

/** The §14 branch object; the default branch is made up from the project. */
export function branchView(project: ProjectRecord, branch: BranchRecord | undefined) {
  if (!branch) return { id: MAIN, name: MAIN_BRANCH_NAME, description: null, is_default: true, created_at: project.createdAt };
  return { id: branch.id, name: branch.name, description: branch.description, is_default: false, created_at: branch.createdAt };
}

/**
 * Creates a branch: one record, nothing copied (constant time whatever the project holds).
 * The name is checked again under the catalog's writer lock, so two creates of one name
 * cannot both succeed.
 */
export async function createBranch(services: Services, project: ProjectRecord, spec: { name: string; description: string | null }): Promise<BranchRecord> {
  const { branches, catalog } = services;
  const refuse = () => {
    if (!catalog.getActiveProject(project.id)) throw errors.projectNotFound(project.id);
    const taken = spec.name.toLowerCase() === MAIN_BRANCH_NAME.toLowerCase() ? MAIN_BRANCH_NAME : branches.byName(project.id, spec.name)?.name;
    if (taken) throw conflict('branch_exists', `Branch ${taken} already exists in project ${project.id}`, { project_id: project.id, name: taken });
  };
  refuse();
  const record: BranchRecord = { projectId: project.id, id: newBranchId(), name: spec.name, description: spec.description, createdAt: services.clock.now().toISOString() };
  await branches.create(record, refuse);
  return record;
}

/** Every file a branch holds (its copies and the tables it created). */
export function branchFiles(services: Services, projectId: string, branchId: string): string[] {
  return services.branches
    .tableStates(projectId, branchId)
    .filter((t) => t.state !== 'deleted')
    .map((t) => services.paths.branchTableFile(t.projectId, branchId, t.bucket, t.name));
}

/** §4/§14 stats: the size on disk of the files the project's branches hold. */
export async function branchesSizeBytes(services: Services, projectId: string): Promise<number> {
  const tables = services.branches.list(projectId).flatMap((b) => services.branches.tableStates(projectId, b.id).filter((t) => t.state !== 'deleted').map((t) => ({ ...t, branch: b.id, branchState: 'copied' as const })));
  const sizes = await Promise.all(tables.map((t) => tableSize(services.paths, t, services.registry)));
  return sizes.reduce((a, b) => a + b, 0);
}

/**
 * Deletes a branch with everything it holds: under the branch's exclusive lock (writes in
 * it finish first, new ones find it gone) and once no request reads its files, its records
 * and the keys restricted to it go in one transaction, then its folder. A crash after the
 * transaction leaves files without records, which start-up removes.
 */
export async function deleteBranch(services: Services, branch: BranchRecord): Promise<void> {
  const { branches, keys, paths, registry } = services;
  const dir = paths.branchDir(branch.projectId, branch.id);
  // Its waiting and running jobs (§16) are cancelled first; a running one leaves its table as it was.
  for (const job of services.jobs.list(branch.projectId, { branch: branch.id })) {
    if (job.status === 'waiting' || job.status === 'processing') await services.jobRunner.cancel(job).catch(() => {});
  }
  await registry.withFolderLock(dir, 'exclusive', async () => {
    if (!branches.get(branch.projectId, branch.id)) throw errors.branchNotFound(branch.projectId, branch.id);
    await registry.exclusive(branchFiles(services, branch.projectId, branch.id), async () => {
      const touched = new Set([
        ...branches.tableStates(branch.projectId, branch.id).map((t) => t.bucket),
        ...branches.bucketStates(branch.projectId, branch.id).map((b) => b.bucket),
        ...branches.bucketMetadataCopies(branch.projectId, branch.id).map((b) => b.bucket),
      ]);
      await branches.commit([branches.deleteBranchChange(branch.projectId, branch.id), keys.dropBranchChange(branch.projectId, branch.id)]);
      // Its metadata: a crash before this leaves entries of a branch that is gone, which start-up removes.
      for (const bucket of touched) await services.metadata.dropBucket(branch.projectId, branch.id, bucket);
      await removeFolder(dir, paths.branchesProjectDir(branch.projectId));
      // Its workspaces (§17) and snapshots (§13) go too; a crash before this leaves some, which start-up removes.
      await deleteBranchWorkspaces(services, branch.projectId, branch.id);
      await deleteBranchSnapshots(services, branch.projectId, branch.id);
    });
  });
}

/** Moves a folder aside in one rename, then removes it (no half-deleted folder stays visible). */
export async function removeFolder(dir: string, parent: string): Promise<void> {
  const trash = join(parent, `.trash-${randomUUID()}`);
  try {
    await rename(dir, trash);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await rm(trash, { recursive: true, force: true });
}

/** The §14 `changes` answer: what the branch holds, and whether main moved since. */
export function branchChanges(services: Services, projectId: string, branchId: string) {
  const { branches, catalog } = services;
  const deletedBuckets = new Set(
    branches
      .bucketStates(projectId, branchId)
      .filter((b) => b.state === 'deleted')
      .map((b) => b.bucket.toLowerCase()),
  );
  const tables = branches
    .tableStates(projectId, branchId)
    .filter((t) => !deletedBuckets.has(t.bucket.toLowerCase()))
    .map((t) => ({
      bucket: t.bucket,
      table: t.name,
      state: t.state,
      main_changed:
        t.baseVersion === null ? catalog.getTable(projectId, t.bucket, t.name) !== undefined : catalog.tableVersion(projectId, t.bucket, t.name) !== t.baseVersion,
    }))
    .sort((a, b) => compare(a.bucket, b.bucket) || compare(a.table, b.table));
  const buckets = branches
    .bucketStates(projectId, branchId)
    .map((b) => ({ bucket: b.bucket, state: b.state }))
    .sort((a, b) => compare(a.bucket, b.bucket));
  return { tables, buckets };
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Creates a bucket in a development branch: a record only (its tables get files when they
 * are created). Over the branch's tombstone of main's bucket of that name, the new bucket
 * replaces main's in the branch: main's tables of it stay hidden there.
 */
export async function createBranchBucket(services: Services, bucket: BucketRecord, refuseExisting: () => void): Promise<BucketRecord> {
  const { branches } = services;
  const branch = bucket.branch!;
  await withBucketLockIn(services, bucket.projectId, branch, bucket.name, 'exclusive', async () => {
    refuseExisting();
    await branches.commit(
      [branches.putBucketChange({ projectId: bucket.projectId, branchId: branch, bucket: bucket.name, state: 'created', description: bucket.description, createdAt: bucket.createdAt })],
      () => {
        if (!branches.get(bucket.projectId, branch)) throw new TableGoneError();
        refuseExisting();
      },
    );
  });
  return bucketIn(services, bucket.projectId, branch, bucket.name) ?? bucket;
}

/**
 * Deletes a bucket in a development branch (§14): the tables the branch holds in it go with
 * their files; one of main's buckets (own or linked) is hidden in the branch by a tombstone,
 * main keeps it (`force` and links do not matter here). `check` re-runs the caller's checks
 * under the lock (`bucket_not_empty`).
 */
export async function deleteBranchBucket(services: Services, bucket: BucketRecord, check: (tables: TableRecord[]) => void): Promise<void> {
  const { branches, catalog, paths, registry } = services;
  const branch = bucket.branch!;
  await withBucketLockIn(services, bucket.projectId, branch, bucket.name, 'exclusive', async () => {
    const first = bucketIn(services, bucket.projectId, branch, bucket.name);
    if (!first) throw errors.bucketNotFound(bucket.projectId, bucket.name);
    check(tablesIn(services, first));
    // The branch's write lock of every table it sees there: no first-write copy starts meanwhile.
    const seen = first.source ? [] : tablesIn(services, first);
    await withWriteLocks(registry, seen.map((t) => paths.branchTableFile(t.projectId, branch, t.bucket, t.name)), async () => {
      const current = bucketIn(services, bucket.projectId, branch, bucket.name);
      if (!current) throw errors.bucketNotFound(bucket.projectId, bucket.name);
      const held = branches.tableStates(bucket.projectId, branch, current.name).filter((t) => t.state !== 'deleted');
      const files = held.map((t) => paths.branchTableFile(t.projectId, branch, t.bucket, t.name));
      await registry.exclusive(files, async () => {
        const drop = async () => {
          const main = catalog.getBucket(bucket.projectId, current.name);
          const changes = [branches.clearBucketChange(bucket.projectId, branch, current.name)];
          if (main) {
            changes.push(branches.putBucketChange({ projectId: main.projectId, branchId: branch, bucket: main.name, state: 'deleted', description: main.description, createdAt: services.clock.now().toISOString() }));
          }
          changes.push(...held.flatMap((t) => dropBranchMetadata(services, { ...t, branch })));
          await branches.commit(changes);
          await services.metadata.dropBucket(bucket.projectId, branch, current.name);
          for (const file of files) await removeTableFiles(paths, file);
          await rm(paths.branchBucketDir(bucket.projectId, branch, current.name), { recursive: true, force: true });
        };
        // §13: a cascade delete snapshots every table the branch saw in the bucket (not a linked bucket's: that is an unlink).
        const tables = current.source ? [] : tablesIn(services, current);
        if (tables.length && autoEnabled(services, bucket.projectId, 'drop_table')) await withBranchSnapshots(services, tables, 'drop_table', drop);
        else await drop();
      });
    });
  });
}

/**
 * §14 reset: the branch drops its copy of a table (or its tombstone) and sees main's table
 * again. A table in state `main` is answered unchanged; one the branch created → 400
 * `not_in_main` (also a copy whose table main has deleted since). Record first, then the
 * file (start-up removes a file left without a record).
 */
export async function resetTable(services: Services, bucket: BucketRecord, name: string): Promise<TableRecord> {
  const { branches, catalog, paths, registry } = services;
  const branch = bucket.branch!;
  const own = branches.tableState(bucket.projectId, branch, bucket.name, name);
  if (!own) {
    const main = bucket.source ? undefined : catalog.getTable(bucket.projectId, bucket.name, name);
    if (!main) throw errors.tableNotFound(bucket.projectId, bucket.name, name);
    return { ...main, branch, branchState: 'main' };
  }
  const path = paths.branchTableFile(own.projectId, branch, own.bucket, own.name);
  return withBranchShared(services, bucket.projectId, branch, () =>
    registry.withWriteLock(path, () =>
      registry.exclusive([path], async () => {
        const current = branches.tableState(bucket.projectId, branch, bucket.name, name);
        const main = catalog.getTable(bucket.projectId, bucket.name, name);
        if (!current) {
          if (!main) throw errors.tableNotFound(bucket.projectId, bucket.name, name);
          return { ...main, branch, branchState: 'main' as const };
        }
        if (current.state === 'created' || !main) {
          throw new HttpError(400, 'not_in_main', `Table ${current.name} was created in branch ${branch}; main has no such table to go back to`, {
            project_id: bucket.projectId,
            branch_id: branch,
            bucket_name: current.bucket,
            table_name: current.name,
          });
        }
        await branches.commit([branches.deleteTableChange(current.projectId, branch, current.bucket, current.name), ...dropBranchMetadata(services, { ...current, branch })]);
        if (current.state !== 'deleted') await removeTableFiles(paths, path);
        return { ...main, branch, branchState: 'main' as const };
      }),
    ),
  );
}
