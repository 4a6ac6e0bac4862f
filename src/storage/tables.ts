import { statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { errors } from '../http/errors.ts';
import type { Catalog, ColumnDef, TableRecord } from './catalog.ts';
import type { BranchCatalog } from './catalog/branches.ts';
import type { CatalogChange } from './catalog/store.ts';
import { bucketIn, currentTable, dropBranchMetadata, isDevBranch, saveTable, withBranchShared, withBucketLockIn } from './locator.ts';
import { MAIN_BRANCH, type MetadataStore } from './catalog/metadata.ts';
import type { Database } from './db.ts';
import { partialPath, type StoragePaths } from './paths.ts';
import { TableGoneError, type AttachmentRegistry } from './registry.ts';
import { quoteIdent, quoteLiteral } from './sql.ts';
import { defaultFunction, defaultLiteral } from './types.ts';

export interface TableStoreDeps {
  db: Database;
  paths: StoragePaths;
  catalog: Catalog;
  registry: AttachmentRegistry;
  branches: BranchCatalog;
  /** Optional only for callers that never delete (a crash leaves orphans that reconcile prunes). */
  metadata?: MetadataStore;
}

/** A column's default as SQL (a function from the allow-list, or a quoted literal cast to the type); undefined for none. */
export function defaultExpression(column: Pick<ColumnDef, 'type' | 'default'>): string | undefined {
  const fn = defaultFunction(column.default);
  if (fn) return fn;
  const literal = defaultLiteral(column.default);
  return literal === undefined ? undefined : `CAST(${quoteLiteral(literal)} AS ${column.type})`;
}

const NUMBER_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))$/;

/**
 * A default for `ALTER TABLE … ADD COLUMN`: a plain literal (a number for numeric types,
 * else a quoted string DuckDB converts to the column type), which DuckDB stores for the
 * existing rows as a constant. With a CAST expression it materialises every row instead:
 * 10–50 times slower on a million rows in our measurements. The value was checked
 * against the type before (`checkDefaults`).
 */
export function addColumnDefault(column: Pick<ColumnDef, 'type' | 'default'>): string | undefined {
  const fn = defaultFunction(column.default);
  if (fn) return fn;
  const literal = defaultLiteral(column.default);
  if (literal === undefined) return undefined;
  const text = literal.trim();
  if (NUMBER_TYPES.test(column.type) && /^-?\d{1,38}(\.\d{1,38})?$/.test(text)) return text;
  return quoteLiteral(literal);
}

/** Column definitions as SQL; every identifier is a validated name, every type normalised. */
export function columnsDdl(columns: ColumnDef[], primaryKey: string[]): string {
  const parts = columns.map((column) => {
    let sql = `${quoteIdent(column.name)} ${column.type}`;
    if (!column.nullable) sql += ' NOT NULL';
    const expression = defaultExpression(column);
    if (expression !== undefined) sql += ` DEFAULT ${expression}`;
    return sql;
  });
  if (primaryKey.length) parts.push(`PRIMARY KEY (${primaryKey.map(quoteIdent).join(', ')})`);
  return parts.join(', ');
}

/** Attaches a file outside the registry (a file nobody else can know of yet), runs `work`, detaches. */
export async function withPrivateAttachment<T>(
  deps: Pick<TableStoreDeps, 'db' | 'registry'>,
  path: string,
  work: (connection: DuckDBConnection, alias: string) => Promise<T>,
): Promise<T> {
  const alias = deps.registry.nextAlias();
  return deps.db.with(async (c) => {
    await deps.registry.runDdl(() => c.run(`ATTACH ${quoteLiteral(path)} AS ${quoteIdent(alias)}`));
    try {
      return await work(c, alias);
    } finally {
      await deps.registry.runDdl(() => c.run(`DETACH ${quoteIdent(alias)}`));
    }
  });
}

/**
 * Creates the table file under a temporary name, then renames it into place and only
 * then writes the catalog row: a crash leaves either no table or a complete file, which
 * startup reconciliation adopts.
 */
export async function createTableFile(deps: TableStoreDeps, table: TableRecord): Promise<void> {
  // In a development branch the file goes to the branch's layout (§14).
  const finalPath = deps.paths.tableFileOf(isDevBranch(table.branch) ? { ...table, branchState: 'created' } : table);
  const tempPath = partialPath(finalPath);
  await mkdir(dirname(finalPath), { recursive: true });
  try {
    await withPrivateAttachment(deps, tempPath, async (c, alias) => {
      await c.run(`CREATE TABLE ${quoteIdent(alias)}.main.data (${columnsDdl(table.columns, table.primaryKey)})`);
      // Checkpoint here, outside the registry's DDL lock: a DETACH would otherwise do it
      // (three fsyncs) while every other ATTACH and DETACH waits behind it.
      await c.run(`CHECKPOINT ${quoteIdent(alias)}`);
    });
    await rm(deps.paths.walFile(tempPath), { force: true });
    // A WAL left by an earlier table of this name would be replayed into the new file.
    await rm(deps.paths.walFile(finalPath), { force: true });
    await rename(tempPath, finalPath);
  } catch (error) {
    await rm(tempPath, { force: true });
    await rm(deps.paths.walFile(tempPath), { force: true });
    throw error;
  }
  try {
    await saveTable(deps, table);
  } catch (error) {
    await removeTableFiles(deps.paths, finalPath);
    throw error;
  }
}

/**
 * Creates a table (§7) under the project's and bucket's shared locks and the table's write
 * lock, so creates in one bucket run in parallel while a bucket or project delete waits for
 * them. Under the locks it re-checks what the caller checked before waiting: the project
 * and bucket still exist, and `refuseExisting` (the name is free) still holds.
 */
export async function createTable(deps: TableStoreDeps, table: TableRecord, refuseExisting: () => void): Promise<void> {
  const { catalog, paths, registry } = deps;
  // §14: in a development branch, under the branch's bucket lock, and the file in its layout.
  await withBucketLockIn(deps, table.projectId, table.branch, table.bucket, 'shared', () =>
    registry.withWriteLock(paths.tableFileOf(table), async () => {
      if (!catalog.getActiveProject(table.projectId)) throw errors.projectNotFound(table.projectId);
      if (!bucketIn(deps, table.projectId, table.branch, table.bucket)) throw errors.bucketNotFound(table.projectId, table.bucket);
      refuseExisting();
      await createTableFile(deps, table);
    }),
  );
}

/** WAL first: a crash in between must not leave a WAL without its file (see createTableFile). */
export async function removeTableFiles(paths: StoragePaths, path: string): Promise<void> {
  await rm(paths.walFile(path), { force: true });
  await rm(path, { force: true });
}

/**
 * Deletes a table: waits for its current users, removes the file, then the catalog row
 * (a crash in between leaves a row without a file, which reconciliation drops).
 */
export async function deleteTableFile(deps: TableStoreDeps, table: TableRecord, options: { branchSnapshot?: BranchDropSnapshot } = {}): Promise<void> {
  if (isDevBranch(table.branch)) return deleteBranchTable(deps, table, options.branchSnapshot);
  const path = deps.paths.tableFile(table.projectId, table.bucket, table.name);
  await deps.registry.withWriteLock(path, () =>
    deps.registry.exclusive([path], async () => {
      await removeTableFiles(deps.paths, path);
      await dropTableRecords(deps, table);
    }),
  );
}

/**
 * A main table's catalog row and its §12 metadata go in one catalog commit (one fsync of
 * metadata.duckdb, where two in a row made every delete wait for the other's), with
 * `extra` changes of the same operation (an auto snapshot marked finished). The row's
 * change is computed under the catalog's writer lock: it advances the table's version.
 */
export function dropTableRecords(deps: Pick<TableStoreDeps, 'catalog' | 'metadata'>, table: Pick<TableRecord, 'projectId' | 'bucket' | 'name'>, extra: CatalogChange[] = []): Promise<void> {
  const { catalog, metadata } = deps;
  let changes: CatalogChange[] = [];
  return catalog.store.commit(
    () => {
      changes = [catalog.deleteTableChange(table.projectId, table.bucket, table.name), ...(metadata ? [metadata.dropTableChange(table.projectId, MAIN_BRANCH, table.bucket, table.name)] : []), ...extra];
      return changes.flatMap((change) => change.statements);
    },
    () => {
      for (const change of changes) change.apply();
    },
  );
}

/**
 * How a drop in a development branch takes its `drop_table` auto snapshot (§13): given the
 * table as the branch sees it (re-read under its locks), it runs `drop` once the snapshot
 * is safe, and undoes the snapshot if `drop` fails.
 */
export type BranchDropSnapshot = (current: TableRecord, drop: () => Promise<void>) => Promise<void>;

/**
 * Deletes a table in a development branch: a table the branch created goes with its file;
 * one of main's tables (copied or not) gets a tombstone that hides it in the branch only,
 * keeping main's version of the name for merge. Record first, then the branch's file: a
 * crash in between leaves a file without a record, which start-up removes. `snapshot`
 * wraps the drop when an auto snapshot is due (see branch-snapshots.ts).
 */
async function deleteBranchTable(deps: TableStoreDeps, table: TableRecord, snapshot?: BranchDropSnapshot): Promise<void> {
  const { branches, catalog, paths, registry } = deps;
  const branch = table.branch!;
  const path = paths.branchTableFile(table.projectId, branch, table.bucket, table.name);
  await withBranchShared(deps, table.projectId, branch, () =>
    registry.withWriteLock(path, () =>
      registry.exclusive([path], async () => {
        const current = currentTable(deps, table);
        if (!current) throw new TableGoneError();
        const own = branches.tableState(current.projectId, branch, current.bucket, current.name);
        const change =
          current.branchState === 'created'
            ? branches.deleteTableChange(current.projectId, branch, current.bucket, current.name)
            : branches.putTableChange({
                projectId: current.projectId,
                branchId: branch,
                bucket: current.bucket,
                name: current.name,
                state: 'deleted',
                columns: current.columns,
                primaryKey: current.primaryKey,
                rowCount: current.rowCount,
                createdAt: current.createdAt,
                baseVersion: own ? own.baseVersion : catalog.tableVersion(current.projectId, current.bucket, current.name),
              });
        const drop = async () => {
          await branches.commit([change, ...dropBranchMetadata(deps, { ...current, branch })], () => {
            if (!branches.get(current.projectId, branch)) throw new TableGoneError();
          });
          if (current.branchState !== 'main') await removeTableFiles(paths, path);
        };
        if (snapshot) await snapshot(current, drop);
        else await drop();
      }),
    ),
  );
}

/**
 * Size of a table's file(s) on disk; 0 when the file is gone. A synchronous stat of a
 * local file takes microseconds, a tenth of the CPU of fs/promises' (which also builds an
 * error for the usually missing WAL): listing 200 tables makes 400 of these. With
 * `settled`, measured once the checkpoint after the file's last write is done (a write
 * answers before it, and the file grows when it folds its WAL in).
 */
export async function tableSize(paths: StoragePaths, table: Pick<TableRecord, 'projectId' | 'bucket' | 'name' | 'branch' | 'branchState'>, settled?: Pick<AttachmentRegistry, 'checkpointed'>): Promise<number> {
  const path = paths.tableFileOf(table);
  await settled?.checkpointed(path);
  let size = 0;
  for (const file of [path, paths.walFile(path)]) {
    try {
      size += statSync(file, { throwIfNoEntry: false })?.size ?? 0;
    } catch {
      /* unreadable: nothing to count */
    }
  }
  return size;
}

/**
 * A default as a table file states it (DuckDB's text: `CAST('7' AS INTEGER)`,
 * `CURRENT_TIMESTAMP`, `42`), in the catalog's form: one of the allowed functions or the
 * literal text. Undefined for no default and for any other expression, which the catalog
 * cannot represent (and so never turns back into SQL).
 */
export function decodeDefault(text: string | null | undefined): string | undefined {
  if (text == null) return undefined;
  const fn = defaultFunction(text);
  if (fn) return fn;
  const cast = /^CAST\('((?:[^']|'')*)' AS [A-Za-z0-9_ (),"]+\)$/.exec(text);
  if (cast) return cast[1]!.replaceAll("''", "'");
  const quoted = /^'((?:[^']|'')*)'$/.exec(text);
  if (quoted) return quoted[1]!.replaceAll("''", "'");
  if (/^-?\d+(\.\d+)?$/.test(text) || text === 'true' || text === 'false') return text;
  return undefined;
}

export interface InspectedTable {
  columns: ColumnDef[];
  primaryKey: string[];
  rowCount: number;
}

/** Reads a table file's own description (used to adopt a file and to refresh counts). */
export async function inspectAttached(c: DuckDBConnection, alias: string): Promise<InspectedTable | undefined> {
  const columns = (
    await c.runAndReadAll(
      `SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns()
       WHERE database_name = $1 AND schema_name = 'main' AND table_name = 'data' ORDER BY column_index`,
      [alias],
    )
  ).getRowObjectsJS();
  if (columns.length === 0) return undefined;
  const constraint = (
    await c.runAndReadAll(
      `SELECT constraint_column_names FROM duckdb_constraints()
       WHERE database_name = $1 AND schema_name = 'main' AND table_name = 'data' AND constraint_type = 'PRIMARY KEY'`,
      [alias],
    )
  ).getRowObjectsJS();
  const primaryKey = (constraint[0]?.constraint_column_names as string[] | undefined) ?? [];
  const count = (await c.runAndReadAll(`SELECT count(*) AS n FROM ${quoteIdent(alias)}.main.data`)).getRowObjectsJS();
  return {
    columns: columns.map((col) => {
      const def: ColumnDef = { name: col.column_name as string, type: col.data_type as string, nullable: col.is_nullable as boolean };
      const fallback = col.column_default == null ? undefined : decodeDefault(String(col.column_default));
      if (fallback !== undefined) def.default = fallback;
      return def;
    }),
    primaryKey,
    rowCount: Number(count[0]!.n),
  };
}
