import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm, rmdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { conflict, errors, HttpError } from '../http/errors.ts';
import type { Services } from '../services.ts';
import type { BucketRecord, TableRecord } from './catalog.ts';
import type { BranchTableRecord, MergeIntent } from './catalog/branches.ts';
import type { CatalogChange } from './catalog/store.ts';
import { settleWal } from './clone.ts';
import { MAIN, withBranchShared } from './locator.ts';
import { takeAutoSnapshot } from './snapshots.ts';
import { removeTableFiles } from './tables.ts';

/** Where main's file waits during a merge (a partial name: start-up removes a leftover). */
const backupPath = (mainPath: string, intent: Pick<MergeIntent, 'id'>) => `${mainPath}.creating-${intent.id}`;

export interface MergeResult {
  /** Main's table after the merge; null when the merge dropped it. */
  table: TableRecord | null;
  snapshotId: string | null;
}

/**
 * §14 merge of one table from a development branch into main. Under the branch's table
 * lock, main's bucket lock and main's table write lock: 400 `nothing_to_merge` when the
 * branch holds nothing of the table, 409 `merge_conflict` when main's version moved since
 * the branch copied (or deleted) it, or main created the name meanwhile, unless `force`.
 * Then, with the intent recorded first, main's file is swapped for the branch's (or
 * removed) and one transaction writes main's row (and bucket, if the branch created it),
 * drops the branch's record and the intent. Afterwards the branch sees main's table.
 */
export async function mergeTable(services: Services, bucket: BucketRecord, name: string, force: boolean): Promise<MergeResult> {
  const { branches, catalog, paths, registry } = services;
  const branch = bucket.branch!;
  const projectId = bucket.projectId;
  const first = branches.tableState(projectId, branch, bucket.name, name);
  if (!first) {
    if (!bucket.source && catalog.getTable(projectId, bucket.name, name) && branches.bucketState(projectId, branch, bucket.name)?.state !== 'created') {
      throw new HttpError(400, 'nothing_to_merge', `Table ${name} is the same as main's in branch ${branch}`, { project_id: projectId, branch_id: branch, bucket_name: bucket.name, table_name: name });
    }
    throw errors.tableNotFound(projectId, bucket.name, name);
  }
  const branchPath = paths.branchTableFile(projectId, branch, first.bucket, first.name);
  const mainPath = paths.tableFile(projectId, first.bucket, first.name);
  return withBranchShared(services, projectId, branch, () =>
    registry.withWriteLock(branchPath, () =>
      registry.withFolderLock(paths.bucketDir(projectId, first.bucket), 'exclusive', () =>
        registry.withWriteLock(mainPath, async () => {
          const own = branches.tableState(projectId, branch, first.bucket, first.name);
          if (!own) throw errors.tableNotFound(projectId, bucket.name, name);
          checkConflict(services, own, force);
          const intent: MergeIntent = {
            id: randomUUID(),
            projectId,
            branchId: branch,
            bucket: own.bucket,
            table: own.name,
            kind: own.state === 'deleted' ? 'drop' : 'replace',
            createdAt: services.clock.now().toISOString(),
          };
          // §13: main's table is snapshotted first (reason merge); the snapshot goes if the merge fails.
          const mainTable = catalog.getTable(projectId, own.bucket, own.name);
          const snapshot = mainTable ? await takeAutoSnapshot(services, mainTable, 'merge') : null;
          try {
            await branches.putIntent(intent);
          } catch (error) {
            await snapshot?.discard().catch(() => {});
            throw error;
          }
          await services.faultPoint?.('merge_intent_recorded');
          try {
            // Readers of either file wait for the swap and then open what is there (not a 404).
            await registry.swap(mainPath, () => registry.swap(branchPath, () => swapFiles(services, intent, mainPath, branchPath)));
          } catch (error) {
            await rollBack(services, intent, mainPath, branchPath).catch(() => {});
            await snapshot?.discard().catch(() => {});
            throw error;
          }
          const table = catalog.getTable(projectId, own.bucket, own.name) ?? null;
          return { table, snapshotId: snapshot?.id ?? null };
        }),
      ),
    ),
  );
}

function checkConflict(services: Services, own: BranchTableRecord, force: boolean): void {
  const { catalog } = services;
  const main = catalog.getTable(own.projectId, own.bucket, own.name);
  const version = catalog.tableVersion(own.projectId, own.bucket, own.name);
  const moved = own.baseVersion === null ? main !== undefined : version !== own.baseVersion;
  if (moved && !force) {
    throw conflict(
      'merge_conflict',
      own.baseVersion === null
        ? `Main created table ${own.bucket}.${own.name} after the branch did; merge with force to replace it`
        : `Table ${own.bucket}.${own.name} changed in main after the branch ${own.state === 'deleted' ? 'deleted' : 'copied'} it; merge with force to overwrite`,
      { project_id: own.projectId, branch_id: own.branchId, bucket_name: own.bucket, table_name: own.name, main_version: version, branch_base_version: own.baseVersion },
    );
  }
}

/**
 * The file steps of a merge, then its transaction. Main's file goes aside first, then the
 * branch's takes its place: a crash at any point leaves the intent, and start-up rolls back
 * while the branch's file is still where it was, forward once it has moved.
 */
async function swapFiles(services: Services, intent: MergeIntent, mainPath: string, branchPath: string): Promise<void> {
  const hadMain = existsSync(mainPath);
  if (hadMain) {
    await settleWal(services, mainPath, 'exclusive');
    await rename(mainPath, backupPath(mainPath, intent));
    await services.faultPoint?.('merge_main_moved');
  }
  await rm(`${mainPath}.wal`, { force: true });
  if (intent.kind === 'replace') {
    await settleWal(services, branchPath, 'exclusive');
    await mkdir(services.paths.bucketDir(intent.projectId, intent.bucket), { recursive: true });
    await rename(branchPath, mainPath);
    await services.faultPoint?.('merge_branch_moved');
  }
  await completeMerge(services, intent);
  if (hadMain) await removeTableFiles(services.paths, backupPath(mainPath, intent));
}

/** The merge's one transaction: main's row (and bucket), the branch's record and the intent. */
async function completeMerge(services: Services, intent: MergeIntent): Promise<void> {
  const { branches, catalog } = services;
  const own = branches.tableState(intent.projectId, intent.branchId, intent.bucket, intent.table);
  const changes: CatalogChange[] = [];
  const created = branches.bucketState(intent.projectId, intent.branchId, intent.bucket);
  if (intent.kind === 'replace' && own) {
    if (!catalog.getBucket(intent.projectId, intent.bucket)) {
      changes.push(
        catalog.createBucketChange({
          projectId: catalog.getProject(intent.projectId)?.id ?? intent.projectId,
          name: created?.bucket ?? intent.bucket,
          description: created?.description ?? null,
          createdAt: services.clock.now().toISOString(),
          readonlyAccess: false,
          source: null,
        }),
        // Main has the bucket now: the branch sees it as main's again, with its own tables in it.
        branches.deleteBucketChange(intent.projectId, intent.branchId, intent.bucket),
      );
    }
  }
  // Main's table write lock and bucket lock are held (or start-up runs alone), so the
  // version read here is still the one the bump advances when this commits.
  const existing = catalog.getTable(intent.projectId, intent.bucket, intent.table);
  if (intent.kind === 'replace' && own) {
    changes.push(
      catalog.putTableChange({
        projectId: catalog.getProject(intent.projectId)?.id ?? intent.projectId,
        bucket: catalog.getBucket(intent.projectId, intent.bucket)?.name ?? (created?.bucket ?? own.bucket),
        name: existing?.name ?? own.name,
        columns: own.columns,
        primaryKey: own.primaryKey,
        rowCount: own.rowCount,
        createdAt: existing?.createdAt ?? own.createdAt,
      }),
    );
  } else if (intent.kind === 'drop') {
    changes.push(catalog.deleteTableChange(intent.projectId, intent.bucket, intent.table));
  }
  // Table and column metadata follow the table: main's is replaced by the branch's (or dropped).
  const { metadata } = services;
  if (intent.kind === 'replace' && own) {
    const bundle = metadata.tableBundle(intent.projectId, intent.branchId, intent.bucket, intent.table);
    changes.push(metadata.replaceTableBundleChange(intent.projectId, MAIN, created?.bucket ?? existing?.bucket ?? own.bucket, existing?.name ?? own.name, bundle));
  } else if (intent.kind === 'drop') {
    changes.push(metadata.dropTableChange(intent.projectId, MAIN, intent.bucket, intent.table));
  }
  changes.push(metadata.dropTableChange(intent.projectId, intent.branchId, intent.bucket, intent.table));
  changes.push(branches.deleteTableChange(intent.projectId, intent.branchId, intent.bucket, intent.table), branches.deleteIntentChange(intent.id));
  // The branch's own bucket metadata: of a bucket it created, or its copy of main's bucket
  // (main has deleted that bucket since, or the branch would not be creating it).
  const copy = branches.bucketMetadataCopy(intent.projectId, intent.branchId, intent.bucket);
  if (intent.kind === 'replace' && own && (created?.state === 'created' || copy) && !catalog.getBucket(intent.projectId, intent.bucket)) {
    // A bucket the merge creates in main takes the branch's bucket metadata along, in the
    // same transaction (main's bucket metadata is otherwise left alone: a merge is of one table).
    const bucket = created?.bucket ?? copy?.bucket ?? intent.bucket;
    const entries = metadata.list({ projectId: intent.projectId, branch: intent.branchId, bucket, table: null, column: null });
    changes.push(metadata.replaceBucketEntriesChange(intent.projectId, MAIN, bucket, entries), metadata.replaceBucketEntriesChange(intent.projectId, intent.branchId, bucket, []));
    if (copy) changes.push(branches.deleteBucketMetadataCopyChange(intent.projectId, intent.branchId, bucket));
  }
  await branches.commit(changes);
}

/** Puts main's file back and forgets the intent (the merge did not happen). */
async function rollBack(services: Services, intent: MergeIntent, mainPath: string, branchPath: string): Promise<void> {
  const backup = backupPath(mainPath, intent);
  if (intent.kind === 'replace' && !existsSync(branchPath) && existsSync(mainPath)) {
    // The branch's file had moved in: move it back.
    await rename(mainPath, branchPath);
  }
  if (existsSync(backup) && !existsSync(mainPath)) await rename(backup, mainPath);
  await removeEmptyBucketFolder(services, intent);
  await services.branches.commit([services.branches.deleteIntentChange(intent.id)]);
}

/** A bucket folder the merge made for a bucket whose row never came: reconciliation would adopt it. */
async function removeEmptyBucketFolder(services: Services, intent: MergeIntent): Promise<void> {
  if (services.catalog.getBucket(intent.projectId, intent.bucket)) return;
  const dir = services.paths.bucketDir(intent.projectId, intent.bucket);
  try {
    if (readdirSync(dir).length === 0) await rmdir(dir);
  } catch {
    /* no folder */
  }
}

/**
 * Start-up: finishes or undoes merges a crash interrupted. While the branch's file is still
 * in the branch, nothing of main changed for good: main's file is put back. Once it has
 * moved into main's place, the merge is completed (its transaction had not run: the intent
 * would be gone).
 */
export async function recoverMerges(services: Pick<Services, 'branches' | 'catalog' | 'metadata' | 'paths' | 'db' | 'registry' | 'clock'>, logger: Logger): Promise<void> {
  for (const intent of services.branches.listIntents()) {
    const mainPath = services.paths.tableFile(intent.projectId, intent.bucket, intent.table);
    const branchPath = services.paths.branchTableFile(intent.projectId, intent.branchId, intent.bucket, intent.table);
    const own = services.branches.tableState(intent.projectId, intent.branchId, intent.bucket, intent.table);
    const moved = intent.kind === 'replace' ? !existsSync(branchPath) && existsSync(mainPath) && own !== undefined : !existsSync(mainPath) && own !== undefined;
    const s = services as Services;
    if (moved) {
      await completeMerge(s, intent);
      await removeTableFiles(services.paths, backupPath(mainPath, intent));
      logger.info({ event: 'reconcile', repair: 'completed_merge', project_id: intent.projectId, branch_id: intent.branchId, bucket: intent.bucket, table: intent.table }, 'completed an interrupted merge');
    } else {
      await rollBack(s, intent, mainPath, branchPath);
      logger.info({ event: 'reconcile', repair: 'rolled_back_merge', project_id: intent.projectId, branch_id: intent.branchId, bucket: intent.bucket, table: intent.table }, 'rolled back an interrupted merge');
    }
  }
}
