import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ColumnDef, TableRecord } from './catalog.ts';
import { MAIN_BRANCH } from './catalog/metadata.ts';
import { REBUILD_FILE } from './schema.ts';
import { inspectAttached, withPrivateAttachment, type TableStoreDeps } from './tables.ts';

const PROJECT_DIR = /^project_([A-Za-z0-9_-]{1,64})$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,95}$/;

async function entries(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/**
 * Empties staging (everything directly in `files/` except the `project_*` folders of stored
 * files, §15) at start: whatever is there was an upload, import or export of a process that
 * is gone (killed mid-import), and nothing else reads it. Runs once the DuckDB instance
 * holds its lock, so a second process on the same folder never gets here.
 */
export async function removeStaleStaging(paths: TableStoreDeps['paths'], logger: Logger): Promise<void> {
  let removed = 0;
  for (const entry of await entries(paths.filesDir)) {
    if (entry.isDirectory() && PROJECT_DIR.test(entry.name)) continue;
    await rm(join(paths.filesDir, entry.name), { recursive: true, force: true });
    removed++;
  }
  if (removed) logger.info({ event: 'reconcile', repair: 'removed_staging_files', count: removed }, 'removed staging files left by an earlier run');
}

/**
 * Brings the catalog in line with the files after a start, the files being the truth
 * for buckets and tables: leftovers of interrupted creates and deletes are removed, a
 * table file without a catalog row is adopted, a row without a file is dropped. After an
 * unclean stop every table is re-read, so row counts written after the last catalog
 * update are not lost. Each repair is logged.
 */
export async function reconcile(deps: TableStoreDeps, logger: Logger, options: { verifyAll: boolean }): Promise<void> {
  const { catalog, paths } = deps;
  const seenBuckets = new Set<string>();
  const seenTables = new Set<string>();
  const seenProjects = new Set<string>();
  const key = (...parts: string[]) => parts.map((p) => p.toLowerCase()).join('\u0000');

  for (const projectEntry of await entries(paths.duckdbDir)) {
    const full = join(paths.duckdbDir, projectEntry.name);
    if (projectEntry.name.startsWith('.trash-')) {
      await rm(full, { recursive: true, force: true });
      logger.info({ event: 'reconcile', repair: 'removed_trash', path: projectEntry.name }, 'removed an interrupted delete');
      continue;
    }
    const match = PROJECT_DIR.exec(projectEntry.name);
    if (!projectEntry.isDirectory() || !match) continue;
    const project = catalog.getProject(match[1]!);
    if (project?.status === 'active' && project.id === match[1]) seenProjects.add(project.id.toLowerCase());
    if (!project || project.status !== 'active' || project.id !== match[1]) {
      if (project?.status === 'deleted') {
        await rm(full, { recursive: true, force: true });
        logger.info({ event: 'reconcile', repair: 'removed_deleted_project_folder', project_id: match[1] }, 'finished deleting a project folder');
      } else {
        logger.warn({ event: 'reconcile', repair: 'unknown_project_folder', folder: projectEntry.name }, 'folder of an unknown project left alone');
      }
      continue;
    }
    for (const bucketEntry of await entries(full)) {
      const bucketPath = join(full, bucketEntry.name);
      if (bucketEntry.name.startsWith('.trash-')) {
        await rm(bucketPath, { recursive: true, force: true });
        logger.info({ event: 'reconcile', repair: 'removed_trash', project_id: project.id }, 'removed an interrupted bucket delete');
        continue;
      }
      if (!bucketEntry.isDirectory() || !NAME.test(bucketEntry.name)) continue;
      let bucket = catalog.getBucket(project.id, bucketEntry.name);
      if (bucket?.source) continue;
      if (!bucket || bucket.name !== bucketEntry.name) {
        if (bucket) continue; // a folder differing only in case from a known bucket: not ours
        await catalog.createBucket({
          projectId: project.id,
          name: bucketEntry.name,
          description: null,
          createdAt: new Date().toISOString(),
          readonlyAccess: false,
          source: null,
        });
        bucket = catalog.getBucket(project.id, bucketEntry.name)!;
        logger.info({ event: 'reconcile', repair: 'adopted_bucket', project_id: project.id, bucket: bucket.name }, 'adopted a bucket folder');
      }
      seenBuckets.add(key(project.id, bucket.name));
      const bucketFiles = await entries(bucketPath);
      const fileNames = new Set(bucketFiles.map((e) => e.name));
      for (const fileEntry of bucketFiles) {
        const filePath = join(bucketPath, fileEntry.name);
        if (REBUILD_FILE.test(fileEntry.name)) {
          // Schema changes under way were settled before this scan: what is left is no one's.
          await rm(filePath, { force: true });
          logger.info({ event: 'reconcile', repair: 'removed_partial_rebuild', project_id: project.id, bucket: bucket.name }, 'removed an interrupted table rebuild');
          continue;
        }
        if (/\.creating-[0-9a-f-]+(\.wal)?$/.test(fileEntry.name)) {
          await rm(filePath, { force: true });
          logger.info({ event: 'reconcile', repair: 'removed_partial_create', project_id: project.id, bucket: bucket.name }, 'removed an interrupted table create');
          continue;
        }
        // A WAL whose table file is gone (a delete cut short) would corrupt a later table of that name.
        const walMatch = /^(.+\.duckdb)\.wal$/.exec(fileEntry.name);
        if (walMatch && !fileNames.has(walMatch[1]!)) {
          await rm(filePath, { force: true });
          logger.info({ event: 'reconcile', repair: 'removed_orphan_wal', project_id: project.id, bucket: bucket.name }, 'removed a WAL without its table file');
          continue;
        }
        const tableMatch = /^(.+)\.duckdb$/.exec(fileEntry.name);
        if (!fileEntry.isFile() || !tableMatch || !NAME.test(tableMatch[1]!)) continue;
        const tableName = tableMatch[1]!;
        const known = catalog.getTable(project.id, bucket.name, tableName);
        if (known && known.name !== tableName) continue;
        if (known && !options.verifyAll) {
          seenTables.add(key(project.id, bucket.name, tableName));
          continue;
        }
        let inspected;
        try {
          inspected = await withPrivateAttachment(deps, filePath, (c, alias) => inspectAttached(c, alias));
        } catch (error) {
          logger.error({ event: 'reconcile', project_id: project.id, bucket: bucket.name, table: tableName, err: (error as Error).message }, 'table file could not be read; left alone');
          continue;
        }
        if (!inspected) {
          logger.warn({ event: 'reconcile', project_id: project.id, bucket: bucket.name, table: tableName }, 'file has no main.data table; left alone');
          continue;
        }
        seenTables.add(key(project.id, bucket.name, tableName));
        if (!known) {
          await catalog.putTableRow({ projectId: project.id, bucket: bucket.name, name: tableName, ...inspected, createdAt: new Date().toISOString() });
          logger.info({ event: 'reconcile', repair: 'adopted_table', project_id: project.id, bucket: bucket.name, table: tableName }, 'adopted a table file');
        } else if (!sameColumns(known, inspected)) {
          await catalog.putTableRow({ ...known, ...inspected, columns: inspected.columns.map((column) => keepGivenDefault(known, column)) });
          logger.warn({ event: 'reconcile', repair: 'schema', project_id: project.id, bucket: bucket.name, table: tableName }, 'the catalog row disagreed with the table file; re-read its schema');
        } else if (known.rowCount !== inspected.rowCount) {
          await catalog.setRowCount(known, inspected.rowCount);
          logger.info({ event: 'reconcile', repair: 'row_count', project_id: project.id, bucket: bucket.name, table: tableName, row_count: inspected.rowCount }, 'corrected a row count');
        }
      }
    }
  }

  for (const project of catalog.listProjects()) {
    if (project.status !== 'active') continue;
    for (const bucket of catalog.listBuckets(project.id)) {
      if (bucket.source) continue;
      if (!seenBuckets.has(key(project.id, bucket.name))) {
        await catalog.deleteBucket(project.id, bucket.name, true);
        logger.info({ event: 'reconcile', repair: 'dropped_bucket', project_id: project.id, bucket: bucket.name }, 'dropped a bucket row without a folder');
        continue;
      }
      for (const table of catalog.listTables(project.id, bucket.name)) {
        if (seenTables.has(key(project.id, bucket.name, table.name))) continue;
        await catalog.deleteTableRow(project.id, bucket.name, table.name);
        logger.info({ event: 'reconcile', repair: 'dropped_table', project_id: project.id, bucket: bucket.name, table: table.name }, 'dropped a table row without a file');
      }
    }
  }
  // A deleted project keeps only its own row: buckets, tables and shares a create left behind
  // when it raced the delete (before project locks existed) go, in one transaction, as a
  // delete would have done it (its `updated_at` stays).
  for (const project of catalog.listProjects()) {
    if (project.status === 'active') continue;
    const tables = catalog.allTables().filter((t) => t.projectId.toLowerCase() === project.id.toLowerCase());
    const leftovers = catalog.listBuckets(project.id).length + tables.length + catalog.sharesWith(project.id).length;
    if (!leftovers) continue;
    await catalog.markProjectDeleted(project.id, project.updatedAt);
    logger.info({ event: 'reconcile', repair: 'dropped_deleted_project_rows', project_id: project.id, count: leftovers }, 'dropped catalog rows of a deleted project');
  }
  // A table row whose own bucket is gone (or whose project is not active) has no place on disk.
  for (const table of catalog.allTables()) {
    const bucket = catalog.getBucket(table.projectId, table.bucket);
    if (bucket && !bucket.source && catalog.getActiveProject(table.projectId)) continue;
    await catalog.deleteTableRow(table.projectId, table.bucket, table.name);
    logger.info({ event: 'reconcile', repair: 'dropped_table', project_id: table.projectId, bucket: table.bucket, table: table.name }, 'dropped a table row without its bucket');
  }
  // §9: an active project's folder exists until the project is deleted.
  for (const project of catalog.listProjects()) {
    if (project.status !== 'active' || seenProjects.has(project.id.toLowerCase())) continue;
    await mkdir(paths.projectDir(project.id), { recursive: true });
    logger.info({ event: 'reconcile', repair: 'created_project_folder', project_id: project.id }, 'created the folder of a project');
  }
  // Links whose source vanished (a bucket dropped above, or a deleted project) go too.
  for (const project of catalog.listProjects()) {
    for (const bucket of catalog.listBuckets(project.id)) {
      if (bucket.source && !catalog.getBucket(bucket.source.projectId, bucket.source.bucket)) {
        await catalog.deleteBucket(project.id, bucket.name, false);
        logger.info({ event: 'reconcile', repair: 'dropped_link', project_id: project.id, bucket: bucket.name }, 'dropped a link to a missing bucket');
      }
    }
  }
  if (deps.metadata) await pruneMetadata(deps, logger);
}

const columnShape = (t: Pick<TableRecord, 'columns' | 'primaryKey'>) =>
  JSON.stringify([t.columns.map((c) => [c.name, c.type, c.nullable]), t.primaryKey.map((k) => k.toLowerCase()).sort()]);

/** Names, types, nullability and key agree (defaults are kept as the user gave them and not compared). */
function sameColumns(a: Pick<TableRecord, 'columns' | 'primaryKey'>, b: Pick<TableRecord, 'columns' | 'primaryKey'>): boolean {
  return columnShape(a) === columnShape(b);
}

/** A re-read column keeps the default as the catalog had it when the file has one for that column too. */
function keepGivenDefault(known: TableRecord, column: ColumnDef): ColumnDef {
  const before = known.columns.find((c) => c.name === column.name);
  if (column.default !== undefined && before?.default !== undefined) return { ...column, default: before.default };
  return column;
}

/**
 * Removes metadata of buckets, tables and columns of main that no longer exist: a delete
 * removes the catalog row first and its metadata after, so a crash in between leaves
 * entries that a later object of the same name must not inherit.
 */
async function pruneMetadata(deps: TableStoreDeps, logger: Logger): Promise<void> {
  const { catalog } = deps;
  const metadata = deps.metadata!;
  // One repair per object; the records of an object already removed are skipped.
  const done = new Set<string>();
  const idOf = (...parts: (string | null)[]) => parts.map((p) => p ?? '').join('\u0000').toLowerCase();
  for (const record of metadata.all()) {
    if (record.branch !== MAIN_BRANCH) continue;
    const ids = [idOf(record.projectId), idOf(record.projectId, record.bucket), idOf(record.projectId, record.bucket, record.table), idOf(record.projectId, record.bucket, record.table, record.column)];
    if (ids.some((id) => done.has(id))) continue;
    const project = catalog.getActiveProject(record.projectId);
    const bucket = catalog.getBucket(record.projectId, record.bucket);
    const table = record.table === null ? undefined : catalog.getTable(record.projectId, record.bucket, record.table);
    let repair: string | undefined;
    if (!project) {
      await metadata.dropProject(record.projectId);
      repair = 'project';
      done.add(ids[0]!);
    } else if (!bucket || bucket.source) {
      await metadata.dropBucket(record.projectId, MAIN_BRANCH, record.bucket);
      repair = 'bucket';
      done.add(ids[1]!);
    } else if (record.table !== null && !table) {
      await metadata.dropTable(record.projectId, MAIN_BRANCH, record.bucket, record.table);
      repair = 'table';
      done.add(ids[2]!);
    } else if (table && record.column !== null && !table.columns.some((c) => c.name.toLowerCase() === record.column!.toLowerCase())) {
      await metadata.dropColumn(record.projectId, MAIN_BRANCH, record.bucket, record.table!, record.column);
      repair = 'column';
      done.add(ids[3]!);
    }
    if (repair) {
      logger.info({ event: 'reconcile', repair: 'dropped_orphan_metadata', of: repair, project_id: record.projectId, bucket: record.bucket, table: record.table }, 'dropped metadata of an object that no longer exists');
    }
  }
}
