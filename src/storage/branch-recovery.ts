import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { KeyCatalog } from './catalog/keys.ts';
import type { SnapshotCatalog } from './catalog/snapshots.ts';
import { inspectAttached, withPrivateAttachment, type TableStoreDeps } from './tables.ts';

const PROJECT_DIR = /^project_([A-Za-z0-9_-]{1,64})$/;
const TABLE_FILE = /^(.+)\.duckdb(\.wal)?$/;

async function entries(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/**
 * Start-up for §14: branch records are the truth for branch files (only main's table files
 * are adopted, §9). Removes what a crash or an interrupted delete left: records of
 * projects that are not active, keys bound to branches that are gone, records whose file
 * is missing, and every file or folder under `duckdb/branches/` that no record claims.
 * After an unclean stop, the branch's tables are re-read like main's.
 */
export async function reconcileBranches(deps: TableStoreDeps & { keys: KeyCatalog; snapshots: SnapshotCatalog }, logger: Logger, options: { verifyAll: boolean }): Promise<void> {
  const { branches, catalog, keys, paths } = deps;
  for (const branch of branches.all()) {
    if (!catalog.getActiveProject(branch.projectId)) {
      await branches.dropProject(branch.projectId);
      logger.info({ event: 'reconcile', repair: 'dropped_branches', project_id: branch.projectId }, 'dropped the branches of a project that is not active');
    }
  }
  const orphanKeys = keys.branchOrphans((projectId, branchId) => branches.get(projectId, branchId) !== undefined);
  for (const key of orphanKeys) {
    await branches.commit([keys.dropBranchChange(key.projectId, key.branch!)]);
    logger.info({ event: 'reconcile', repair: 'dropped_branch_keys', project_id: key.projectId, branch_id: key.branch }, 'dropped the keys of a branch that is gone');
  }

  // §13: snapshots of a branch that is gone (its delete stopped before removing them).
  for (const record of deps.snapshots.all()) {
    if (record.branch === 'default' || branches.get(record.projectId, record.branch)) continue;
    await deps.snapshots.remove([record.id]);
    await rm(paths.snapshotFile(record.projectId, record.id), { force: true });
    logger.info({ event: 'reconcile', repair: 'dropped_branch_snapshot', project_id: record.projectId, branch_id: record.branch }, 'dropped a snapshot of a branch that is gone');
  }
  const claimed = new Set<string>();
  for (const branch of branches.all()) {
    for (const table of branches.tableStates(branch.projectId, branch.id)) {
      if (table.state === 'deleted') continue;
      const file = paths.branchTableFile(branch.projectId, branch.id, table.bucket, table.name);
      if (!existsSync(file)) {
        await branches.commit([branches.deleteTableChange(branch.projectId, branch.id, table.bucket, table.name)]);
        logger.warn({ event: 'reconcile', repair: 'dropped_branch_table', project_id: branch.projectId, branch_id: branch.id, bucket: table.bucket, table: table.name }, 'dropped a branch table record without a file');
        continue;
      }
      claimed.add(file);
      if (!options.verifyAll) continue;
      let inspected;
      try {
        inspected = await withPrivateAttachment(deps, file, (c, alias) => inspectAttached(c, alias));
      } catch (error) {
        logger.error({ event: 'reconcile', project_id: branch.projectId, branch_id: branch.id, table: table.name, err: (error as Error).message }, 'branch table file could not be read; left alone');
        continue;
      }
      const sameColumns = inspected && inspected.columns.map((c) => `${c.name}:${c.type}:${c.nullable}`).join() === table.columns.map((c) => `${c.name}:${c.type}:${c.nullable}`).join();
      if (inspected && (inspected.rowCount !== table.rowCount || JSON.stringify(inspected.primaryKey) !== JSON.stringify(table.primaryKey) || !sameColumns)) {
        // The file is the truth for what it holds (a write cut short after its file step).
        const columns = sameColumns ? table.columns : inspected.columns;
        await branches.commit([branches.putTableChange({ ...table, rowCount: inspected.rowCount, primaryKey: inspected.primaryKey, columns })]);
        logger.info({ event: 'reconcile', repair: 'row_count', project_id: branch.projectId, branch_id: branch.id, table: table.name, row_count: inspected.rowCount }, 'corrected a branch row count');
      }
    }
  }

  let removed = 0;
  const remove = async (path: string, what: string) => {
    await rm(path, { recursive: true, force: true });
    removed++;
    logger.info({ event: 'reconcile', repair: what, path: path.slice(paths.dataDir.length + 1) }, 'removed a branch file no record claims');
  };
  for (const projectEntry of await entries(paths.branchesDir)) {
    const projectPath = join(paths.branchesDir, projectEntry.name);
    const match = PROJECT_DIR.exec(projectEntry.name);
    const project = match && projectEntry.isDirectory() ? catalog.getActiveProject(match[1]!) : undefined;
    if (!project || project.id !== match![1]) {
      await remove(projectPath, 'removed_branch_folder');
      continue;
    }
    for (const branchEntry of await entries(projectPath)) {
      const branchPath = join(projectPath, branchEntry.name);
      if (!branchEntry.isDirectory() || !branches.get(project.id, branchEntry.name) || branches.get(project.id, branchEntry.name)!.id !== branchEntry.name) {
        await remove(branchPath, 'removed_branch_folder');
        continue;
      }
      for (const bucketEntry of await entries(branchPath)) {
        const bucketPath = join(branchPath, bucketEntry.name);
        if (!bucketEntry.isDirectory()) {
          await remove(bucketPath, 'removed_branch_file');
          continue;
        }
        for (const fileEntry of await entries(bucketPath)) {
          const filePath = join(bucketPath, fileEntry.name);
          const table = TABLE_FILE.exec(fileEntry.name);
          const base = table ? join(bucketPath, `${table[1]}.duckdb`) : '';
          if (!fileEntry.isFile() || !table || !claimed.has(base)) await remove(filePath, 'removed_branch_file');
        }
      }
    }
  }
  if (removed) logger.info({ event: 'reconcile', count: removed }, 'removed branch files left without records');
}
