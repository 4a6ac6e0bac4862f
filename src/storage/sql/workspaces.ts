import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ResultReturnType, StatementType, type DuckDBConnection } from '@duckdb/node-api';
import { conflict, errors, HttpError } from '../../http/errors.ts';
import type { Services } from '../../services.ts';
import type { BucketRecord, ColumnDef, TableRecord } from '../catalog.ts';
import type { WorkspaceRecord, WorkspaceTableInfo } from '../catalog/workspaces.ts';
import { openInstance } from '../db.ts';
import { checkConversions, selectSql, type ReadPlan } from '../filters.ts';
import { importFile, withStagingFile } from '../import.ts';
import { bucketIn, currentTable, isDevBranch, tableIn } from '../locator.ts';
import { takeAutoSnapshot } from '../snapshots.ts';
import { quoteIdent, quoteLiteral } from '../sql.ts';
import { withProjectLock } from '../locks.ts';
import { createTable, deleteTableFile } from '../tables.ts';
import { normalizeType } from '../types.ts';
import type { JsonValue } from '../values.ts';
import { checkPlan, expandsTo, GateError, isReservedSchema, splitStatements, statementTypeName, WORKSPACE_STATEMENTS, type PlanScope } from './gate.ts';
import { backgroundResult, queryError, QueryTimer, readResult, type ColumnInfo } from './run.ts';
import { aliasIndex, type Sandbox, type SandboxTable, type TableLease, type WorkspaceSession } from './sandbox.ts';
import { visibleTables } from './scope.ts';

const HOUR_MS = 3_600_000;
/** Rows a workspace query returns per statement. */
export const WORKSPACE_ROWS = 1000;

/** A workspace's size on disk: its file and its WAL. */
function workspaceSize(services: Services, record: WorkspaceRecord): number {
  const path = services.paths.workspaceFile(record.projectId, record.id);
  let size = 0;
  for (const file of [path, `${path}.wal`]) size += statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  return size;
}

export function workspaceView(services: Services, record: WorkspaceRecord) {
  return { id: record.id, name: record.name, branch: record.branch, created_at: record.createdAt, expires_at: record.expiresAt, size_bytes: workspaceSize(services, record), tables: record.tables };
}

/** §13 stats: what the project's workspaces (of every branch) take on disk. */
export function workspacesSizeBytes(services: Services, projectId: string): number {
  return services.workspaces
    .all()
    .filter((record) => record.projectId.toLowerCase() === projectId.toLowerCase())
    .reduce((sum, record) => sum + workspaceSize(services, record), 0);
}

/** Runs `work` holding the workspace's lock (one request at a time per workspace); 404 when it is gone meanwhile. */
async function withWorkspace<T>(services: Services, record: WorkspaceRecord, work: (current: WorkspaceRecord, file: string) => Promise<T>): Promise<T> {
  const file = services.paths.workspaceFile(record.projectId, record.id);
  return services.sql.workspaceLocks.run(file, async () => {
    const current = services.workspaces.get(record.projectId, record.id);
    if (!current || !existsSync(file)) throw errors.workspaceNotFound(record.projectId, record.id);
    return work(current, file);
  });
}

/** Creates an empty workspace file (under a temporary name, then renamed), then its record. */
export async function createWorkspace(services: Services, input: { projectId: string; name: string; ttlHours: number; branch?: string }): Promise<WorkspaceRecord> {
  const id = `w_${randomBytes(6).toString('hex')}`;
  const now = services.clock.now();
  const record: WorkspaceRecord = {
    id,
    projectId: input.projectId,
    branch: input.branch ?? 'default',
    name: input.name,
    ttlHours: input.ttlHours,
    createdAt: now.toISOString(),
    lastUsedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + input.ttlHours * HOUR_MS).toISOString(),
    tables: [],
  };
  const file = services.paths.workspaceFile(input.projectId, id);
  const temp = `${file}.creating-${randomUUID()}`;
  // Under the project's shared lock: a project delete (exclusive) cannot remove the folder
  // between the mkdir and the rename, nor leave a record behind for a deleted project.
  return withProjectLock(services, input.projectId, 'shared', async () => {
    if (!services.catalog.getActiveProject(input.projectId)) throw errors.projectNotFound(input.projectId);
    await mkdir(services.paths.projectWorkspacesDir(input.projectId), { recursive: true });
    try {
      const instance = await openInstance(temp, { autoload_known_extensions: 'false', autoinstall_known_extensions: 'false', threads: '1' });
      instance.closeSync();
      await rm(`${temp}.wal`, { force: true });
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    try {
      await services.workspaces.put(record);
    } catch (error) {
      await rm(file, { force: true });
      throw error;
    }
    return record;
  });
}

async function removeWorkspaceFiles(file: string): Promise<void> {
  await rm(`${file}.wal`, { force: true });
  await rm(file, { force: true });
}

/** Deletes a workspace: waits for its running request, then the record, then the file. */
export async function deleteWorkspace(services: Services, record: WorkspaceRecord): Promise<void> {
  await withWorkspace(services, record, async (current, file) => {
    await services.workspaces.delete(current.id);
    await removeWorkspaceFiles(file);
  });
}

/** Deletes every workspace of a project (project deletion): records first, then the folder. */
/** §14: deletes the workspaces of a branch (the branch is being deleted). */
export async function deleteBranchWorkspaces(services: Services, projectId: string, branch: string): Promise<void> {
  for (const record of services.workspaces.all().filter((r) => r.projectId.toLowerCase() === projectId.toLowerCase() && r.branch === branch)) {
    const file = services.paths.workspaceFile(record.projectId, record.id);
    await services.sql.workspaceLocks.run(file, async () => {
      await services.workspaces.delete(record.id);
      await removeWorkspaceFiles(file);
    });
  }
}

export async function deleteProjectWorkspaces(services: Services, projectId: string): Promise<void> {
  for (const record of services.workspaces.all().filter((r) => r.projectId.toLowerCase() === projectId.toLowerCase())) {
    const file = services.paths.workspaceFile(record.projectId, record.id);
    await services.sql.workspaceLocks.run(file, () => services.workspaces.delete(record.id));
  }
  await rm(services.paths.projectWorkspacesDir(projectId), { recursive: true, force: true });
}

/** The sweeper's task: deletes workspaces whose `expires_at` has passed. */
export function workspaceSweepTask(services: Services) {
  return {
    name: 'workspaces',
    async sweep(now: Date): Promise<number> {
      let removed = 0;
      for (const record of services.workspaces.all()) {
        if (new Date(record.expiresAt).getTime() > now.getTime()) continue;
        const file = services.paths.workspaceFile(record.projectId, record.id);
        await services.sql.workspaceLocks.run(file, async () => {
          const current = services.workspaces.get(record.projectId, record.id);
          // Used since this pass listed it: no longer due.
          if (!current || new Date(current.expiresAt).getTime() > now.getTime()) return;
          await services.workspaces.delete(current.id);
          await removeWorkspaceFiles(file);
          removed++;
        });
      }
      return removed;
    },
  };
}

/** At start: a workspace file without a record is deleted, a record without a file is dropped. */
export async function reconcileWorkspaces(services: Services): Promise<void> {
  // §14: workspaces of a branch deleted by a run that stopped before removing them.
  for (const record of services.workspaces.all()) {
    if (record.branch !== 'default' && !services.branches.get(record.projectId, record.branch)) await services.workspaces.delete(record.id);
  }
  const known = new Set(services.workspaces.all().map((r) => services.paths.workspaceFile(r.projectId, r.id)));
  let projects: string[] = [];
  try {
    projects = await readdir(services.paths.workspacesDir);
  } catch {
    return;
  }
  for (const project of projects) {
    const dir = join(services.paths.workspacesDir, project);
    let files: string[] = [];
    try {
      files = await readdir(dir);
    } catch {
      continue;
    }
    for (const name of files) {
      const full = join(dir, name);
      const base = name.endsWith('.wal') ? full.slice(0, -4) : full;
      if (!known.has(base)) await rm(full, { recursive: true, force: true });
    }
  }
  for (const record of services.workspaces.all()) {
    if (!existsSync(services.paths.workspaceFile(record.projectId, record.id))) await services.workspaces.delete(record.id);
  }
}

/** Tables of the workspace's main schema with their columns and row counts. */
async function describeTables(c: DuckDBConnection): Promise<WorkspaceTableInfo[]> {
  const columns = (
    await c.runAndReadAll(
      `SELECT table_name, column_name, data_type FROM duckdb_columns()
       WHERE database_name = current_database() AND schema_name = 'main'
         AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main')
       ORDER BY table_name, column_index`,
    )
  ).getRows();
  const tables = new Map<string, WorkspaceTableInfo>();
  for (const [table, column, type] of columns) {
    const name = String(table);
    let info = tables.get(name);
    if (!info) tables.set(name, (info = { name, columns: [], row_count: 0 }));
    info.columns.push({ name: String(column), type: String(type) });
  }
  for (const info of tables.values()) {
    info.row_count = Number((await c.runAndReadAll(`SELECT count(*) FROM main.${quoteIdent(info.name)}`)).getRows()[0]![0]);
  }
  return [...tables.values()];
}

/** Records a use: the tables as they are now, and the expiry moved to `ttl_hours` from now. */
async function touch(services: Services, record: WorkspaceRecord, tables?: WorkspaceTableInfo[]): Promise<WorkspaceRecord> {
  const now = services.clock.now();
  const next: WorkspaceRecord = {
    ...record,
    lastUsedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + record.ttlHours * HOUR_MS).toISOString(),
    tables: tables ?? record.tables,
  };
  if (services.workspaces.get(record.projectId, record.id)) await services.workspaces.put(next);
  return next;
}

/** Opens the workspace's sandbox over the leased tables; `work` runs, then the file is checkpointed and everything closed. */
async function inSandbox<T>(
  services: Services,
  file: string,
  tables: SandboxTable[],
  withViews: boolean,
  work: (sandbox: Sandbox, lease: TableLease) => Promise<T>,
): Promise<T> {
  const { sql } = services;
  const lease = await sql.lease(tables);
  let sandbox: Sandbox | undefined;
  try {
    const catalog = withViews && lease.tables.length ? await sql.viewCatalog(lease) : undefined;
    sandbox = await sql.openWorkspaceSandbox(file, lease, catalog);
    return await work(sandbox, lease);
  } finally {
    if (sandbox) {
      await sandbox.connection.run('CHECKPOINT').catch(() => {});
      sandbox.close();
    }
    await lease.release();
  }
}

export interface LoadSpec {
  source: TableRecord;
  destination: string;
  plan: ReadPlan;
  limit?: number;
  /** The source as the caller named it, for the sandbox table list. */
  table: SandboxTable;
}

/**
 * §17 load: each destination is replaced by a copy of its source's rows (columns, filters,
 * limit); unless `preserve`, the workspace's other tables and views are dropped first. All
 * in one transaction of the workspace file.
 */
export async function loadWorkspace(services: Services, record: WorkspaceRecord, specs: LoadSpec[], preserve: boolean): Promise<WorkspaceRecord> {
  return withWorkspace(services, record, async (current, file) =>
    inSandbox(services, file, specs.map((s) => s.table), false, async ({ connection: c }, lease) => {
      for (const spec of specs) await checkConversions(c, spec.plan);
      const index = (spec: LoadSpec) => lease.tables.findIndex((t) => t.path === spec.table.path);
      await c.run('BEGIN TRANSACTION');
      try {
        const keep = new Set(specs.map((s) => s.destination.toLowerCase()));
        const existing = (
          await c.runAndReadAll(
            `SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'
             UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal`,
          )
        ).getRows();
        for (const [name, kind] of existing) {
          if (preserve && !keep.has(String(name).toLowerCase())) continue;
          await c.run(`DROP ${kind === 'VIEW' ? 'VIEW' : 'TABLE'} IF EXISTS main.${quoteIdent(String(name))} CASCADE`);
        }
        for (const spec of specs) {
          const { sql, params } = selectSql(`${quoteIdent(`_t${index(spec)}`)}.main.data`, spec.plan, spec.limit);
          await c.run(`CREATE TABLE main.${quoteIdent(spec.destination)} AS ${sql}`, params);
        }
        await c.run('COMMIT');
      } catch (error) {
        await c.run('ROLLBACK').catch(() => {});
        throw error;
      }
      return touch(services, current, await describeTables(c));
    }),
  );
}

export interface StatementResult {
  statement: number;
  columns: ColumnInfo[];
  rows: Record<string, JsonValue>[];
  row_count: number;
  changed_rows: number | null;
}

const CHANGING = new Set<StatementType>([StatementType.INSERT, StatementType.UPDATE, StatementType.DELETE]);

/**
 * §17 workspace query: the statements run one by one in the workspace's sandbox, each
 * checked just before it runs: DuckDB's parser splits and types it, SELECT-like statements
 * pass the read allow-list, and every statement's bound plan passes the plan check (so a
 * CREATE TABLE … AS, a view, an INSERT … SELECT or a default calls nothing a query may not).
 * Each statement holds the locks of only the storage tables it reads, while it runs. A
 * failing statement stops the run; those before it stay applied. Counts toward
 * MAX_CONCURRENT_QUERIES; one query at a time per workspace.
 */
export async function queryWorkspace(services: Services, record: WorkspaceRecord, text: string, timeoutSeconds: number, signal?: AbortSignal): Promise<StatementResult[]> {
  const { sql } = services;
  const release = sql.tryAcquireSlot();
  if (!release) throw errors.tooManyQueries(sql.maxQueries);
  try {
    const pieces = splitStatements(text);
    // Only blanks, semicolons and comments: DuckDB's parser fails these with a bare native error.
    if (pieces.length === 0) throw errors.invalidQuery('The query contains no statement');
    const total = await sql.withParser(async (c) => (await c.extractStatements(text)).count).catch((error) => {
      throw queryError(error, undefined, (m) => sql.scrub(m));
    });
    if (total === 0) throw errors.invalidQuery('The query contains no statement');
    if (pieces.length !== total) {
      // A piece DuckDB counts as several statements is named; otherwise the split went wrong.
      const counts = await sql.withParser(async (c) => {
        const out: number[] = [];
        for (const piece of pieces) out.push(await c.extractStatements(piece).then((e) => e.count, () => 1));
        return out;
      });
      const expanded = counts.findIndex((n) => n > 1);
      if (expanded >= 0) throw errors.invalidQuery(`Statement ${expanded + 1}: ${expandsTo(counts[expanded]!)}`, { statement: expanded + 1 });
      throw errors.invalidQuery('The statements could not be told apart; separate them with semicolons outside strings and comments');
    }
    return await withWorkspace(services, record, async (current, file) => {
      const visible = visibleTables(services, current.projectId, null, current.branch);
      const buckets = new Set(visible.all().map((t) => t.schema.toLowerCase()));
      const results: StatementResult[] = [];
      let tables: WorkspaceTableInfo[] | undefined;
      try {
        const session = await sql.openWorkspaceSession(file, visible.all());
        const c = session.sandbox.connection;
        const timer = new QueryTimer(c, timeoutSeconds);
        const onAbort = () => timer.interrupt();
        signal?.addEventListener('abort', onAbort, { once: true });
        if (signal?.aborted) timer.interrupt();
        try {
          for (const [i, piece] of pieces.entries()) {
            const details = { statement: i + 1 };
            try {
              if (timer.fired) throw new Error('interrupted');
              results.push(await runStatement(services, session, piece, i + 1, visible, buckets, timer));
            } catch (error) {
              throw error instanceof HttpError ? error : queryError(error, timer, (m) => sql.scrub(m), details);
            }
          }
        } finally {
          signal?.removeEventListener('abort', onAbort);
          timer.stop();
          tables = await describeTables(c).catch(() => undefined);
          await c.run('CHECKPOINT').catch(() => {});
          await session.close();
        }
      } finally {
        await touch(services, current, tables);
      }
      return results;
    });
  } finally {
    release();
  }
}

/** Lowercase names of the workspace's own tables and views (schema main). */
async function localNames(c: DuckDBConnection): Promise<Set<string>> {
  const rows = await c.runAndReadAll(
    `SELECT lower(table_name) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'
     UNION SELECT lower(view_name) FROM duckdb_views() WHERE database_name = current_database() AND schema_name = 'main'`,
  );
  return new Set(rows.getRows().map((row) => String(row[0])));
}

async function runStatement(
  services: Services,
  session: WorkspaceSession,
  piece: string,
  index: number,
  visible: ReturnType<typeof visibleTables>,
  buckets: Set<string>,
  timer: QueryTimer,
): Promise<StatementResult> {
  const c = session.sandbox.connection;
  const extracted = await c.extractStatements(piece);
  if (extracted.count !== 1) throw new GateError('Exactly one statement per piece expected');
  const type = (await extracted.prepare(0)).statementType;
  if (!WORKSPACE_STATEMENTS.has(type)) throw new GateError(`${statementTypeName(type)} statements are not allowed in a workspace`);
  const local = await localNames(c);
  const macros = new Set(
    (await c.runAndReadAll("SELECT lower(function_name) FROM duckdb_functions() WHERE database_name = current_database() AND function_type = 'table_macro'"))
      .getRows()
      .map((row) => String(row[0])),
  );
  const gate = visible.gateScope(services.sql.systemNames, (table) => local.has(table.toLowerCase()), (name) => macros.has(name.toLowerCase()));
  if (type === StatementType.SELECT || type === StatementType.EXPLAIN) await services.sql.check(piece, gate);
  const scope: PlanScope = { storageIndex: aliasIndex, localCatalogs: new Set([session.sandbox.catalog, 'temp']), gate };
  const { storage } = await checkPlan(c, piece, scope, true);
  const unlock = await session.lockTables(storage);
  services.sql.statementStarted();
  try {
    if (storage.size) {
      // The tables were attached again under their locks: check the statement as it binds now.
      const again = await checkPlan(c, piece, scope, true);
      for (const i of again.storage) if (!storage.has(i)) throw new GateError('The statement changed its tables while it was checked');
    }
    const schemasBefore = type === StatementType.CREATE ? await schemaNames(c) : undefined;
    const prepared = await (await c.extractStatements(piece)).prepare(0);
    // Materialized: DuckDB ends a streamed result silently when a later chunk fails.
    const result = await backgroundResult(prepared.start());
    const read = await readResult(result, WORKSPACE_ROWS, Number.MAX_SAFE_INTEGER, timer);
    if (schemasBefore) {
      for (const name of await schemaNames(c)) {
        if (schemasBefore.has(name)) continue;
        if (buckets.has(name.toLowerCase()) || (isReservedSchema(name) && name.toLowerCase() !== 'main')) {
          await c.run(`DROP SCHEMA ${quoteIdent(name)} CASCADE`);
          throw new GateError(`A schema may not be named like the bucket ${name}`);
        }
      }
    }
    const returnsRows = result.returnType === ResultReturnType.QUERY_RESULT;
    const changedCount = result.returnType === ResultReturnType.CHANGED_ROWS ? Number(read.rows[0]?.Count ?? read.rows[0]?.count ?? 0) : read.produced;
    return {
      statement: index,
      columns: returnsRows ? read.columns : [],
      rows: returnsRows ? read.rows : [],
      row_count: returnsRows ? read.produced : 0,
      changed_rows: CHANGING.has(type) ? changedCount : null,
    };
  } finally {
    services.sql.statementEnded();
    unlock();
  }
}

async function schemaNames(c: DuckDBConnection): Promise<Set<string>> {
  return new Set((await c.runAndReadAll('SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()')).getRows().map((r) => String(r[0])));
}

export interface UnloadInput {
  source: string;
  projectId: string;
  bucket: string;
  table: string;
  incremental: boolean;
  primaryKey: string[];
}

/**
 * §17 unload: the workspace table is written to a staging Parquet file (read from the
 * workspace file by the server, never by user SQL), then a missing storage table is
 * created with the source's columns and types (and `primary_key`), and the rows are loaded
 * as a §8 import (full or incremental, matched by column name). A table created here is
 * removed again when the load fails.
 */
export async function unloadWorkspace(services: Services, record: WorkspaceRecord, input: UnloadInput): Promise<{ table: TableRecord; importedRows: number }> {
  const { catalog, paths, registry } = services;
  return withWorkspace(services, record, async (current, file) =>
    withStagingFile(paths, `unload-${randomUUID()}.parquet`, async (staged) => {
      let columns: ColumnDef[] = [];
      let target: BucketRecord | undefined;
      let existing: TableRecord | undefined;
      const instance = await openInstance(file, { access_mode: 'READ_ONLY', autoload_known_extensions: 'false', autoinstall_known_extensions: 'false', threads: '1', memory_limit: services.config.queryMemoryLimit });
      try {
        const c = await instance.connect();
        try {
          // SQL names are case-insensitive: `source` finds the table whatever case it was made in.
          const described = (
            await c.runAndReadAll(
              `SELECT column_name, data_type FROM duckdb_columns()
               WHERE database_name = current_database() AND schema_name = 'main' AND lower(table_name) = lower($1) ORDER BY column_index`,
              [input.source],
            )
          ).getRows();
          const isTable = (await c.runAndReadAll(`SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND lower(table_name) = lower($1)`, [input.source])).getRows()[0]![0];
          // The route's errors in the order §17 lists them: the source, then the bucket, then
          // (as for every write into a link) 403 bucket_readonly.
          if (!described.length || !Number(isTable)) {
            throw new HttpError(404, 'table_not_found', `Workspace ${current.id} has no table ${input.source}`, { workspace_id: current.id, table_name: input.source });
          }
          // §14: the storage table as the workspace's branch sees it.
          target = bucketIn(services, input.projectId, current.branch, input.bucket);
          if (!target) throw errors.bucketNotFound(input.projectId, input.bucket);
          if (target.source) throw errors.bucketReadonly(target);
          existing = tableIn(services, target, input.table);
          const source = `main.${quoteIdent(input.source)}`;
          if (!existing) columns = await newTableColumns(c, source, described, input.primaryKey);
          // Parquet has no 128-bit integers (DuckDB writes them as DOUBLE): they travel as exact text.
          const wide = described.filter(([, type]) => /^U?HUGEINT$/.test(String(type))).map(([name]) => `${quoteIdent(String(name))}::VARCHAR AS ${quoteIdent(String(name))}`);
          const select = wide.length ? `SELECT * REPLACE (${wide.join(', ')}) FROM ${source}` : `SELECT * FROM ${source}`;
          await c.run(`COPY (${select}) TO ${quoteLiteral(staged)} (FORMAT parquet)`);
        } finally {
          c.closeSync();
        }
      } finally {
        instance.closeSync();
      }
      let table = existing;
      let created = false;
      if (!table) {
        const pk = input.primaryKey.map((k) => columns.find((col) => col.name.toLowerCase() === k.toLowerCase())!.name);
        const branch = isDevBranch(current.branch) ? { branch: current.branch, branchState: 'created' as const } : {};
        const fresh: TableRecord = { projectId: input.projectId, bucket: target!.name, name: input.table, columns, primaryKey: pk, rowCount: 0, createdAt: services.clock.now().toISOString(), ...branch };
        await createTable(services, fresh, () => {
          if (tableIn(services, target!, input.table)) throw conflict('table_exists', `Table ${input.table} was created meanwhile`, { table_name: input.table });
        });
        table = currentTable(services, fresh) ?? fresh;
        created = true;
      }
      // The import's attachment is given back before a table created here is deleted again
      // (the delete waits for every user of the file).
      const held: string[] = [];
      const attach = async (path: string) => {
        const alias = await registry.acquire(path);
        held.push(path);
        return alias;
      };
      const releaseHeld = () => {
        for (const path of held.splice(0)) registry.release(path);
      };
      try {
        // A full unload into an existing table replaces its rows: the `full_import` auto snapshot (§13), in its branch.
        const hooks = created ? {} : { beforeFullLoad: (before: TableRecord) => takeAutoSnapshot(services, before, 'full_import') };
        const loaded = await importFile(services, attach, table, staged, {
          format: 'parquet',
          incremental: input.incremental,
          csv: { delimiter: ',', quote: '"', escape: '"', header: true },
        }, hooks);
        releaseHeld();
        await touch(services, current);
        return { table: loaded.table, importedRows: loaded.importedRows };
      } catch (error) {
        releaseHeld();
        if (created) await deleteTableFile(services, table).catch(() => {});
        throw error;
      }
    }),
  );
}

/** Columns for a table created by unload: each source type must be one §7 accepts; the key must be unique and not NULL. */
async function newTableColumns(c: DuckDBConnection, source: string, described: unknown[][], primaryKey: string[]): Promise<ColumnDef[]> {
  const columns: ColumnDef[] = [];
  for (const [name, type] of described) {
    const normalized = normalizeType(String(type));
    if (!normalized || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(String(name))) {
      throw new HttpError(400, 'invalid_column', `Column ${String(name)} has type ${String(type)}, which a storage table cannot hold`, { column: String(name), type: String(type) });
    }
    columns.push({ name: String(name), type: normalized, nullable: true });
  }
  const key: ColumnDef[] = [];
  for (const k of primaryKey) {
    const column = columns.find((col) => col.name.toLowerCase() === k.toLowerCase());
    if (!column) throw new HttpError(400, 'invalid_primary_key', `Primary key column ${k} is not a column of the source`, { column: k });
    column.nullable = false;
    key.push(column);
  }
  if (key.length) {
    const list = key.map((k) => quoteIdent(k.name)).join(', ');
    const nullCheck = key.map((k) => `${quoteIdent(k.name)} IS NULL`).join(' OR ');
    const rows = (
      await c.runAndReadAll(`SELECT ${list} FROM ${source} GROUP BY ${list} HAVING count(*) > 1 OR bool_or(${nullCheck}) LIMIT 5`)
    ).getRows();
    if (rows.length) {
      // By position: a row object keyed by name would lose a key column called __proto__.
      const examples = rows.map((row) => Object.fromEntries(key.map((k, i) => [k.name, row[i] === null || row[i] === undefined ? null : String(row[i])])));
      throw conflict('duplicate_keys', 'The source repeats a primary key value or holds NULL in a key column', { examples });
    }
  }
  return columns;
}
