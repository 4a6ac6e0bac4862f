import { rm } from 'node:fs/promises';
import type { BucketRecord, Catalog, TableRecord } from './catalog.ts';
import type { BranchCatalog, BranchTableRecord } from './catalog/branches.ts';
import type { MetadataStore, MetadataTarget } from './catalog/metadata.ts';
import type { CatalogChange } from './catalog/store.ts';
import { cloneFile } from './clone.ts';
import { withBucketLock, withProjectLock } from './locks.ts';
import type { Database } from './db.ts';
import { MAIN_BRANCH_ID, type StoragePaths } from './paths.ts';
import { TableGoneError, type AttachmentRegistry } from './registry.ts';
import { errors } from '../http/errors.ts';

/**
 * One place that answers "which bucket, which table, which file" for a (project, branch,
 * bucket, table) (§14): main's records in main; in a development branch, main's objects as
 * they are now until the branch holds its own (a copy, a table it created, or a tombstone
 * hiding main's). Records seen from a branch carry `branch` (and tables `branchState`), so
 * every function given such a record — views, paths, writes — knows where it belongs.
 */

export interface LocatorDeps {
  catalog: Catalog;
  branches: BranchCatalog;
}

export interface WriteDeps extends LocatorDeps {
  /** §12 metadata; a branch's copy of a table starts with main's table and column metadata. */
  metadata?: MetadataStore;
  db: Database;
  paths: StoragePaths;
  registry: AttachmentRegistry;
  /** Crash tests only (`DSA_TEST_PAUSE_AT`): the operation stops for good at that step. */
  faultPoint?: (step: string) => Promise<void>;
}

export const MAIN = MAIN_BRANCH_ID;

/** Whether `branch` names a development branch (not main). */
export const isDevBranch = (branch: string | undefined): branch is string => branch !== undefined && branch !== MAIN;

/** A branch's table record as a table record seen from that branch. */
export function branchTableView(record: BranchTableRecord): TableRecord {
  return {
    projectId: record.projectId,
    bucket: record.bucket,
    name: record.name,
    columns: record.columns,
    primaryKey: record.primaryKey,
    rowCount: record.rowCount,
    createdAt: record.createdAt,
    branch: record.branchId,
    branchState: record.state === 'created' ? 'created' : 'copied',
  };
}

/** The bucket `name` as the branch sees it; undefined when missing or deleted there. */
export function bucketIn(deps: LocatorDeps, projectId: string, branch: string | undefined, name: string): BucketRecord | undefined {
  if (!isDevBranch(branch)) return deps.catalog.getBucket(projectId, name);
  const state = deps.branches.bucketState(projectId, branch, name);
  if (state?.state === 'deleted') return undefined;
  if (state?.state === 'created') {
    return { projectId: state.projectId, name: state.bucket, description: state.description, createdAt: state.createdAt, readonlyAccess: false, source: null, branch };
  }
  const main = deps.catalog.getBucket(projectId, name);
  if (main) return { ...main, branch };
  // Main deleted the bucket after the branch took tables of it: the branch keeps seeing them.
  const held = deps.branches.tableStates(projectId, branch, name).filter((t) => t.state !== 'deleted');
  if (!held.length) return undefined;
  return { projectId: held[0]!.projectId, name: held[0]!.bucket, description: null, createdAt: held[0]!.createdAt, readonlyAccess: false, source: null, branch };
}

/** The project's buckets as the branch sees them, sorted by name. */
export function bucketsIn(deps: LocatorDeps, projectId: string, branch: string | undefined): BucketRecord[] {
  const main = deps.catalog.listBuckets(projectId);
  if (!isDevBranch(branch)) return main;
  const states = new Map(deps.branches.bucketStates(projectId, branch).map((s) => [s.bucket.toLowerCase(), s]));
  const out: BucketRecord[] = main.filter((b) => !states.has(b.name.toLowerCase())).map((b) => ({ ...b, branch }));
  for (const state of states.values()) {
    if (state.state === 'created') out.push(bucketIn(deps, projectId, branch, state.bucket)!);
  }
  const listed = new Set([...out.map((b) => b.name.toLowerCase()), ...states.keys()]);
  for (const table of deps.branches.tableStates(projectId, branch)) {
    if (listed.has(table.bucket.toLowerCase()) || table.state === 'deleted') continue;
    const kept = bucketIn(deps, projectId, branch, table.bucket);
    if (kept) out.push(kept);
    listed.add(table.bucket.toLowerCase());
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The table `name` of a bucket record (as `bucketIn` returned it): a linked bucket shows
 * the source's table as it is now; in a branch, the branch's own record or main's.
 */
export function tableIn(deps: LocatorDeps, bucket: BucketRecord, name: string): TableRecord | undefined {
  if (bucket.source) {
    const source = deps.catalog.getTable(bucket.source.projectId, bucket.source.bucket, name);
    return source && isDevBranch(bucket.branch) ? { ...source, branch: bucket.branch, branchState: 'main' } : source;
  }
  if (!isDevBranch(bucket.branch)) return deps.catalog.getTable(bucket.projectId, bucket.name, name);
  const branch = bucket.branch;
  const own = deps.branches.tableState(bucket.projectId, branch, bucket.name, name);
  if (own) return own.state === 'deleted' ? undefined : branchTableView(own);
  if (deps.branches.bucketState(bucket.projectId, branch, bucket.name)?.state === 'created') return undefined;
  const main = deps.catalog.getTable(bucket.projectId, bucket.name, name);
  return main && { ...main, branch, branchState: 'main' };
}

/** The tables of a bucket record as its branch sees them, sorted by name. */
export function tablesIn(deps: LocatorDeps, bucket: BucketRecord): TableRecord[] {
  if (bucket.source) {
    const source = deps.catalog.listTables(bucket.source.projectId, bucket.source.bucket);
    return isDevBranch(bucket.branch) ? source.map((t) => ({ ...t, branch: bucket.branch, branchState: 'main' as const })) : source;
  }
  if (!isDevBranch(bucket.branch)) return deps.catalog.listTables(bucket.projectId, bucket.name);
  const branch = bucket.branch;
  const own = new Map(deps.branches.tableStates(bucket.projectId, branch, bucket.name).map((t) => [t.name.toLowerCase(), t]));
  const created = deps.branches.bucketState(bucket.projectId, branch, bucket.name)?.state === 'created';
  const out: TableRecord[] = created
    ? []
    : deps.catalog
        .listTables(bucket.projectId, bucket.name)
        .filter((t) => !own.has(t.name.toLowerCase()))
        .map((t) => ({ ...t, branch, branchState: 'main' as const }));
  for (const record of own.values()) if (record.state !== 'deleted') out.push(branchTableView(record));
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The branch whose §12 metadata records describe a table record: the development branch
 * once it holds the table (a copy or its own), main's otherwise.
 */
export function metadataBranchOfTable(table: Pick<TableRecord, 'branch' | 'branchState'>): string {
  return isDevBranch(table.branch) && table.branchState !== 'main' ? table.branch : MAIN;
}

/**
 * Likewise for a bucket record: a bucket the branch created has its own; one of main's
 * buckets has main's until the branch first writes its metadata, then the branch's copy
 * (a copy of an earlier bucket of that name, which main deleted and created again since,
 * no longer counts). A linked bucket's are the source's.
 */
export function metadataBranchOfBucket(deps: LocatorDeps, bucket: Pick<BucketRecord, 'projectId' | 'name' | 'branch' | 'source'>): string {
  if (bucket.source || !isDevBranch(bucket.branch)) return MAIN;
  if (deps.branches.bucketState(bucket.projectId, bucket.branch, bucket.name)?.state === 'created') return bucket.branch;
  const copy = deps.branches.bucketMetadataCopy(bucket.projectId, bucket.branch, bucket.name);
  if (!copy) return MAIN;
  const main = deps.catalog.getBucket(bucket.projectId, bucket.name);
  return !main || main.createdAt === copy.baseCreatedAt ? bucket.branch : MAIN;
}

/**
 * A §12 metadata write to a bucket. In a development branch it runs under the branch's
 * bucket lock, and the first write to one of main's buckets first gives the branch its
 * own copy of main's entries (one transaction: the copy's record and the entries), which
 * `work` then writes; when `work` fails right after such a first copy, the copy goes again
 * and the branch sees main's entries as before. Main's entries are never written from a
 * branch.
 */
export async function withBucketMetadataWrite<T>(deps: WriteDeps & { metadata: MetadataStore }, bucket: BucketRecord, work: (target: MetadataTarget) => Promise<T>): Promise<T> {
  const targetIn = (branch: string, name: string): MetadataTarget => ({ projectId: bucket.projectId, branch, bucket: name, table: null, column: null });
  if (!isDevBranch(bucket.branch) || bucket.source) return work(targetIn(metadataBranchOfBucket(deps, bucket), bucket.name));
  const branch = bucket.branch;
  const { branches, catalog, metadata } = deps;
  return withBucketLockIn(deps, bucket.projectId, branch, bucket.name, 'exclusive', async () => {
    const current = bucketIn(deps, bucket.projectId, branch, bucket.name);
    if (!current) throw errors.bucketNotFound(bucket.projectId, bucket.name);
    if (metadataBranchOfBucket(deps, current) === branch) return work(targetIn(branch, current.name));
    const main = catalog.getBucket(current.projectId, current.name);
    const stillThere = () => {
      if (!branches.get(current.projectId, branch)) throw new TableGoneError();
    };
    await branches.commit(
      [
        branches.putBucketMetadataCopyChange({ projectId: current.projectId, branchId: branch, bucket: current.name, baseCreatedAt: main?.createdAt ?? '' }),
        metadata.replaceBucketEntriesChange(current.projectId, branch, current.name, metadata.list(targetIn(MAIN, current.name))),
      ],
      stillThere,
    );
    try {
      return await work(targetIn(branch, current.name));
    } catch (error) {
      await branches
        .commit([branches.deleteBucketMetadataCopyChange(current.projectId, branch, current.name), metadata.replaceBucketEntriesChange(current.projectId, branch, current.name, [])])
        .catch(() => {});
      throw error;
    }
  });
}

/**
 * A §12 metadata write to a table or one of its columns: under the table's write lock, in
 * a development branch on the branch's own copy (made first, as for any first write), and
 * in main advancing the table's version (a merge then sees that main moved).
 */
export async function withTableMetadataWrite<T>(deps: WriteDeps, table: TableRecord, target: MetadataTarget, work: (target: MetadataTarget) => Promise<T>): Promise<T> {
  return withTableWrite(deps, table, async (current) => {
    const result = await work({ ...target, branch: metadataBranchOfTable(current) });
    if (!isDevBranch(current.branch)) await deps.catalog.store.commitChanges([deps.catalog.bumpVersion(current.projectId, current.bucket, current.name)]);
    return result;
  });
}

/** The change that drops a branch's metadata of a table (it no longer holds the table). */
export function dropBranchMetadata(deps: Pick<WriteDeps, 'metadata'>, table: { projectId: string; branch?: string; bucket: string; name: string }): CatalogChange[] {
  if (!deps.metadata || !isDevBranch(table.branch)) return [];
  return [deps.metadata.dropTableChange(table.projectId, table.branch, table.bucket, table.name)];
}

/** The table record as it is now in its branch (re-read under a lock), or undefined. */
export function currentTable(deps: LocatorDeps, table: TableRecord): TableRecord | undefined {
  const bucket = bucketIn(deps, table.projectId, table.branch, table.bucket);
  return bucket && !bucket.source ? tableIn(deps, bucket, table.name) : undefined;
}

/**
 * Stores a table's description where it belongs: main's catalog row, or the branch's
 * record. In a branch a record keeps its state; a table the branch creates over its own
 * tombstone of main's table replaces main's there (`copied`, with the tombstone's version).
 */
export function saveTable(deps: LocatorDeps, table: TableRecord): Promise<void> {
  if (!isDevBranch(table.branch)) {
    const { branch: _b, branchState: _s, ...record } = table;
    return deps.catalog.putTableRow(record);
  }
  const branch = table.branch;
  const existing = deps.branches.tableState(table.projectId, branch, table.bucket, table.name);
  const state: BranchTableRecord['state'] = existing ? (existing.state === 'created' ? 'created' : 'copied') : 'created';
  const record: BranchTableRecord = {
    projectId: table.projectId,
    branchId: branch,
    bucket: existing?.bucket ?? table.bucket,
    name: existing?.name ?? table.name,
    state,
    columns: table.columns,
    primaryKey: table.primaryKey,
    rowCount: table.rowCount,
    createdAt: table.createdAt,
    baseVersion: existing?.baseVersion ?? null,
  };
  return deps.branches.commit([deps.branches.putTableChange(record)], () => {
    if (!deps.branches.get(table.projectId, branch)) throw new TableGoneError();
  });
}

/**
 * A table's description stored where it belongs, as a change for the caller's transaction:
 * main's catalog row (advancing its version), or the branch's record (keeping its state).
 */
export function tableRecordChange(deps: LocatorDeps, table: TableRecord): CatalogChange {
  if (!isDevBranch(table.branch)) {
    const { branch: _b, branchState: _s, ...record } = table;
    return deps.catalog.tableRowChange(record);
  }
  const existing = deps.branches.tableState(table.projectId, table.branch, table.bucket, table.name);
  return deps.branches.putTableChange({
    projectId: table.projectId,
    branchId: table.branch,
    bucket: existing?.bucket ?? table.bucket,
    name: existing?.name ?? table.name,
    state: existing?.state === 'created' ? 'created' : existing ? 'copied' : 'created',
    columns: table.columns,
    primaryKey: table.primaryKey,
    rowCount: table.rowCount,
    createdAt: table.createdAt,
    baseVersion: existing?.baseVersion ?? null,
  });
}

/** Records a new row count for a table written in its branch (or main). */
export function saveRowCount(deps: LocatorDeps, table: TableRecord, rowCount: number): Promise<void> {
  if (!isDevBranch(table.branch)) return deps.catalog.setRowCount(table, rowCount);
  return saveTable(deps, { ...table, rowCount });
}

/** The table record as stored after a write (what the response shows). */
export function storedTable(deps: LocatorDeps, table: TableRecord): TableRecord | undefined {
  return currentTable(deps, table);
}

/**
 * Runs a branch-scoped piece of work under the branch's folder lock (shared: writes in a
 * branch run in parallel; deleting the branch takes it exclusively and waits for them).
 * Main needs no such lock.
 */
export function withBranchShared<T>(deps: WriteDeps, projectId: string, branch: string | undefined, work: () => Promise<T>): Promise<T> {
  if (!isDevBranch(branch)) return work();
  // Inside the project's shared lock, as every create is: a project delete waits for it.
  return withProjectLock(deps, projectId, 'shared', () =>
    deps.registry.withFolderLock(deps.paths.branchDir(projectId, branch), 'shared', async () => {
      if (!deps.branches.get(projectId, branch)) throw new TableGoneError();
      return work();
    }),
  );
}

/** Runs `work` under a bucket's lock in its branch: main's bucket lock, or the branch's bucket folder. */
export function withBucketLockIn<T>(deps: WriteDeps, projectId: string, branch: string | undefined, bucket: string, mode: 'shared' | 'exclusive', work: () => Promise<T>): Promise<T> {
  if (!isDevBranch(branch)) return withBucketLock(deps, projectId, bucket, work, mode);
  return withBranchShared(deps, projectId, branch, () => deps.registry.withFolderLock(deps.paths.branchBucketDir(projectId, branch, bucket), mode, work));
}

/**
 * The one way to write a table (rows, schema, metadata) in any branch: under the table's
 * write lock, with the record re-read there (deleted meanwhile: TableGoneError, 404). In a
 * development branch the first write to one of main's tables first gives the branch its own
 * copy — main's file cloned under main's write lock — and `work` then writes that copy.
 * When `work` fails right after such a first copy, the branch sees main's table again.
 */
export async function withTableWrite<T>(deps: WriteDeps, table: TableRecord, work: (current: TableRecord, path: string) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const { catalog, paths, registry } = deps;
  if (!isDevBranch(table.branch)) {
    const path = paths.tableFile(table.projectId, table.bucket, table.name);
    return registry.withWriteLock(
      path,
      async () => {
        const current = catalog.getTable(table.projectId, table.bucket, table.name);
        if (!current) throw new TableGoneError();
        return work(current, path);
      },
      signal,
    );
  }
  const branch = table.branch;
  const path = paths.branchTableFile(table.projectId, branch, table.bucket, table.name);
  return withBranchShared(deps, table.projectId, branch, () =>
    registry.withWriteLock(
      path,
      async () => {
        let current = currentTable(deps, table);
        if (!current) throw new TableGoneError();
        if (current.branchState !== 'main') return work(current, path);
        current = await copyIntoBranch(deps, current, path);
        try {
          return await work(current, path);
        } catch (error) {
          await dropFreshCopy(deps, current, path);
          throw error;
        }
      },
      signal,
    ),
  );
}

/**
 * Gives the branch its own copy of main's table: under main's write lock (no write of main
 * commits meanwhile) main's file is cloned into the branch's layout while the branch's
 * record (main's description and version) is committed, and the record is shown once both
 * are done. A crash in between leaves a branch file without a record, or a record without a
 * file (the clone is renamed into place only once complete); start-up removes either, and
 * the branch sees main's table again.
 */
async function copyIntoBranch(deps: WriteDeps, table: TableRecord, branchPath: string): Promise<TableRecord> {
  const { catalog, branches, paths, registry } = deps;
  const branch = table.branch!;
  const mainPath = paths.tableFile(table.projectId, table.bucket, table.name);
  return registry.withWriteLock(mainPath, async () => {
    const main = catalog.getTable(table.projectId, table.bucket, table.name);
    if (!main) throw new TableGoneError();
    const baseVersion = catalog.tableVersion(main.projectId, main.bucket, main.name);
    await rm(`${branchPath}.wal`, { force: true });
    const record: BranchTableRecord = {
      projectId: main.projectId,
      branchId: branch,
      bucket: main.bucket,
      name: main.name,
      state: 'copied',
      columns: main.columns,
      primaryKey: main.primaryKey,
      rowCount: main.rowCount,
      createdAt: main.createdAt,
      baseVersion,
    };
    // The copy carries main's table and column metadata, in the same transaction as its record.
    const metadata = deps.metadata ? [deps.metadata.replaceTableBundleChange(main.projectId, branch, main.bucket, main.name, deps.metadata.tableBundle(main.projectId, MAIN, main.bucket, main.name))] : [];
    const changes = [branches.putTableChange(record), ...metadata];
    // Committed, not yet applied in memory: readers see main's table until the copy is there.
    const recorded = catalog.store.commit(
      changes.flatMap((change) => change.statements),
      () => {},
      () => {
        if (!branches.get(main.projectId, branch)) throw new TableGoneError();
      },
    );
    // Main's file stays: the clone needs no fsync before the branch uses it (see CloneDurability).
    // Buffered: the record's commit runs beside the copy (see `bufferedCopy`).
    const cloned = cloneFile(deps, mainPath, branchPath, { live: true, durability: 'background', buffered: true, hooks: { beforeCopy: async () => deps.faultPoint?.('branch_clone_started') } }).then(() =>
      deps.faultPoint?.('branch_clone_copied'),
    );
    const [copy, commit] = await Promise.allSettled([cloned, recorded]);
    if (copy.status === 'rejected' || commit.status === 'rejected') {
      if (commit.status === 'fulfilled') {
        // The record went in without its file: it goes again (what it wrote, by its keys).
        await branches.commit([branches.removeTableChange(record), ...dropBranchMetadata(deps, table)]).catch(() => {});
      }
      await rm(branchPath, { force: true });
      throw copy.status === 'rejected' ? copy.reason : (commit as PromiseRejectedResult).reason;
    }
    for (const change of changes) change.apply();
    return branchTableView(record);
  });
}

/**
 * Undoes a copy made for a write that then failed: the record goes now (the branch sees
 * main's table again at once); the file goes once the failed request has let go of it,
 * under the table's write lock, so a later first write cannot race the removal. A crash
 * before that leaves a file without a record, which start-up removes.
 */
async function dropFreshCopy(deps: WriteDeps, table: TableRecord, path: string): Promise<void> {
  const { branches, registry } = deps;
  await branches.commit([branches.deleteTableChange(table.projectId, table.branch!, table.bucket, table.name), ...dropBranchMetadata(deps, table)]);
  void registry
    .withWriteLock(path, () =>
      registry.exclusive([path], async () => {
        const again = branches.tableState(table.projectId, table.branch!, table.bucket, table.name);
        if (again && again.state !== 'deleted') return; // copied again meanwhile: the file is in use
        await rm(`${path}.wal`, { force: true });
        await rm(path, { force: true });
      }),
    )
    .catch(() => {});
}
