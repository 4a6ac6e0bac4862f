import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Logger } from 'pino';
import { conflict, HttpError, notFound, validationError } from '../http/errors.ts';
import type { ColumnDef, TableRecord } from './catalog.ts';
import { MAIN_BRANCH, type MetadataStore } from './catalog/metadata.ts';
import type { MetadataStep, SchemaChangeIntent, SchemaChangeStore } from './catalog/schema-changes.ts';
import type { CatalogChange } from './catalog/store.ts';
import { currentTable, metadataBranchOfTable, tableRecordChange, withTableWrite } from './locator.ts';
import { runPlain } from './prepared.ts';
import { TableGoneError } from './registry.ts';
import { columnConversion, isConversionError } from './schema-convert.ts';
import { quoteIdent, quoteLiteral } from './sql.ts';
import { checkDefaults } from './table-spec.ts';
import { addColumnDefault, columnsDdl, defaultExpression, inspectAttached, withPrivateAttachment, type TableStoreDeps } from './tables.ts';
import { normalizeType } from './types.ts';
import { setEntry, toJsonValue, type JsonValue } from './values.ts';

/** Calls other capabilities make into schema changes (§13: an auto snapshot before a column drop). */
export interface SnapshotHooks {
  /**
   * Runs under the table's write lock just before a column is dropped; throwing refuses
   * the drop. The returned function, if any, undoes the hook's work when the drop fails.
   */
  beforeDropColumn?(table: TableRecord, column: string): Promise<(() => Promise<void>) | void>;
}

export interface SchemaDeps extends TableStoreDeps {
  metadata: MetadataStore;
  schemaChanges: SchemaChangeStore;
  snapshotHooks?: SnapshotHooks;
  /** Crash tests only: awaited at each step of a change (see `SCHEMA_STEPS`). */
  faultPoint?: (step: SchemaStep | string) => Promise<void>;
}

/** The steps of a schema change where a crash test may stop the process. */
export const SCHEMA_STEPS = ['intent_recorded', 'altered_in_file', 'rebuild_created', 'rebuild_filled', 'rebuild_renamed'] as const;
export type SchemaStep = (typeof SCHEMA_STEPS)[number];

type Default = string | number | boolean | null;

export interface NewColumn {
  name: string;
  type: string;
  nullable: boolean;
  default?: Default;
}

export interface ColumnPatch {
  name?: string;
  type?: string;
  nullable?: boolean;
  /** null removes the default. */
  default?: Default;
}

const NOT_NULL_FAILED = /NOT NULL constraint failed/;
const DUPLICATE_KEY = /duplicate|PRIMARY KEY or UNIQUE constraint violation/i;

const lower = (s: string) => s.toLowerCase();
const findColumn = (table: TableRecord, name: string) => table.columns.find((c) => lower(c.name) === lower(name));

export const columnNotFound = (table: TableRecord, column: string) =>
  notFound('column_not_found', `Column ${column} not found in table ${table.name}`, { table_name: table.name, column_name: column });

const columnExists = (table: TableRecord, column: string) =>
  conflict('column_exists', `Column ${column} already exists in table ${table.name}`, { table_name: table.name, column_name: column });

const columnInPrimaryKey = (table: TableRecord, column: string, why: string) =>
  new HttpError(400, 'column_in_primary_key', `Column ${column} is part of the primary key of ${table.name}: ${why}`, { column_name: column, primary_key: table.primaryKey });

// ---- what a change does --------------------------------------------------------------

/** A DDL statement of an in-place change and what its failure means to the user. */
interface Step {
  /** The statement for the table `data` (the qualified name of the attached table). */
  sql: (data: string) => string;
  fail?: (error: Error, c: DuckDBConnection, data: string) => Promise<HttpError | undefined>;
}

/** How to rebuild the table file for a change: `select` over the old rows gives the new rows. */
interface Rebuild {
  select: string;
  fail: (error: Error, c: DuckDBConnection, data: string) => Promise<HttpError | undefined>;
}

/**
 * A planned change: the catalog row afterwards, the rebuild of the file that always
 * works (a new file with the new DDL, filled from the old rows), and, where DuckDB can
 * alter the file in place, the ALTER statements (one transaction) that are tried first.
 */
interface Plan {
  next: TableRecord;
  metadata: MetadataStep;
  steps?: Step[];
  rebuild: Rebuild;
}

/** Raised by an in-place change DuckDB refuses for reasons of its own (an index in the way): the change is rebuilt instead. */
class InPlaceRefused extends Error {}

/**
 * The file's own description of its table, as compared after a crash. With `begin`, the
 * read is the first statement of a transaction begun in the same call (one trip through
 * the thread pool instead of one for BEGIN and three for the query and its chunks).
 */
async function fileSignature(c: DuckDBConnection, alias: string, begin = false): Promise<string> {
  const query = `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(${quoteLiteral(`${quoteIdent(alias)}.main.data`)}) ORDER BY cid`;
  const { rows } = await runPlain(c, begin ? `BEGIN TRANSACTION; ${query}` : query);
  return JSON.stringify(rows.map(([name, type, notnull, dflt, pk]) => [name, type, notnull, dflt ?? null, pk]));
}

/**
 * An intent's `before` when the change alters the columns' shape (see `sameShape`): after
 * a crash the file's shape alone says whether it took effect. Never a signature, which is
 * a JSON array.
 */
export const DECIDED_BY_SHAPE = '';

/** `true` when the file's columns and key are those of the record (names, types, nullability, key). */
function sameShape(a: Pick<TableRecord, 'columns' | 'primaryKey'>, b: Pick<TableRecord, 'columns' | 'primaryKey'>): boolean {
  const shape = (t: Pick<TableRecord, 'columns' | 'primaryKey'>) =>
    JSON.stringify([t.columns.map((c) => [c.name, c.type, c.nullable]), [...t.primaryKey].map(lower).sort()]);
  return shape(a) === shape(b);
}

/** SQL literal text of a conversion's failing value (for `details.example`). */
async function exampleOf(c: DuckDBConnection, data: string, column: string, fails: string): Promise<JsonValue | undefined> {
  const reader = await c.runAndReadAll(`SELECT ${quoteIdent(column)} FROM ${data} WHERE ${fails} LIMIT 1`);
  const rows = reader.getRows();
  if (!rows.length) return undefined;
  return toJsonValue(rows[0]![0]!, reader.columnTypes()[0]);
}

async function conversionFailed(c: DuckDBConnection, data: string, table: TableRecord, column: ColumnDef, to: string, fails: string): Promise<HttpError> {
  const example = await exampleOf(c, data, column.name, fails);
  return new HttpError(400, 'conversion_failed', `A stored value of column ${column.name} does not convert to ${to}: ${JSON.stringify(example)?.slice(0, 200)}`, {
    column_name: column.name,
    from_type: column.type,
    to_type: to,
    example: example ?? null,
  });
}

/**
 * 409 `duplicate_keys` with up to five key values that repeat or hold NULL; `keyExprs` are
 * the key columns as they will be stored (converted when the change converts them).
 */
async function duplicateKeys(c: DuckDBConnection, data: string, key: { name: string; expr: string }[]): Promise<HttpError> {
  const select = key.map((k) => `${k.expr} AS ${quoteIdent(k.name)}`).join(', ');
  const anyNull = key.map((k) => `${quoteIdent(k.name)} IS NULL`).join(' OR ');
  // The count's own name is none of the key's (a key column may well be called `n`).
  let n = 'n';
  while (key.some((k) => k.name.toLowerCase() === n)) n += '_';
  const reader = await c.runAndReadAll(
    `SELECT * FROM (SELECT ${select}, count(*) AS ${n} FROM ${data} GROUP BY ALL) WHERE ${n} > 1 OR ${anyNull} ORDER BY ${n} DESC LIMIT 5`,
  );
  const types = reader.columnTypes();
  const examples = reader.getRows().map((row) => {
    const value: Record<string, JsonValue> = {};
    key.forEach((k, i) => setEntry(value, k.name, toJsonValue(row[i]!, types[i])));
    return value;
  });
  return conflict('duplicate_keys', `Stored rows repeat a key or hold NULL in it: ${JSON.stringify(examples).slice(0, 300)}`, {
    primary_key: key.map((k) => k.name),
    examples,
  });
}

// ---- running a change ------------------------------------------------------------------

/**
 * Runs a schema change under the table's write lock: `build` plans it against the table
 * as it is now (and may refuse). One catalog transaction records the intent together with
 * the new table row and the metadata step (not yet applied in memory); the file is then
 * altered in one transaction, or rebuilt under a temporary name and swapped in while no
 * request uses it; once the file holds the new table, the new row is applied in memory and
 * the intent is cleared off the request's path. A failure before the file changed writes
 * the previous row back, so file, rows and catalog stay as they were.
 */
async function change(deps: SchemaDeps, table: TableRecord, build: (current: TableRecord) => Promise<Plan | undefined>, before?: (current: TableRecord) => Promise<(() => Promise<void>) | void>): Promise<TableRecord> {
  // §14: in a development branch the change goes to the branch's copy (made first).
  return withTableWrite(deps, table, async (current, path) => {
    const plan = await build(current);
    if (!plan) return current;
    const undo = before ? await before(current) : undefined;
    try {
      let done = false;
      if (plan.steps) {
        try {
          await alterInPlace(deps, path, current, plan);
          done = true;
        } catch (error) {
          if (!(error instanceof InPlaceRefused)) throw error;
        }
      }
      if (!done) await rebuildTable(deps, path, current, plan);
    } catch (error) {
      if (undo) await undo().catch(() => {});
      throw error;
    }
    return currentTable(deps, current) ?? plan.next;
  });
}

function metadataChange(deps: SchemaDeps, table: TableRecord, step: MetadataStep): CatalogChange[] {
  if (!step) return [];
  const branch = metadataBranchOfTable(table);
  if ('rename' in step) return [deps.metadata.renameColumnChange(table.projectId, branch, table.bucket, table.name, step.rename.from, step.rename.to)];
  return [deps.metadata.dropColumnChange(table.projectId, branch, table.bucket, table.name, step.drop)];
}

/** A bucket or project delete does not take table write locks: if it removed the table meanwhile, its row must not come back. */
function stillThere(deps: SchemaDeps, table: TableRecord): void {
  if (!currentTable(deps, table)) throw new TableGoneError();
}

/**
 * The catalog side of a change, recorded before the file is touched: the intent and the
 * new row in one transaction, applied in memory only once the file holds the new table
 * (`complete`), or written back to the previous row if it never will (`revert`).
 */
interface CatalogSide {
  /** Settles when the intent and the new row are durable. */
  recorded: Promise<void>;
  /** The file holds the new table: the new row takes effect here, the intent goes in the background. */
  complete(): void;
  /** The file still holds the old table: the previous row and metadata are written back, the intent goes. */
  revert(): Promise<void>;
}

function recordChange(deps: SchemaDeps, intent: SchemaChangeIntent): CatalogSide {
  const effects = [tableRecordChange(deps, intent.next), ...metadataChange(deps, intent.next, intent.metadata)];
  // The in-memory side waits for `complete`: until then readers see the table as the file still is.
  const recorded = deps.catalog.store.commit(
    [deps.schemaChanges.recordChange(intent), ...effects].flatMap((c) => c.statements),
    () => {},
    () => stillThere(deps, intent.next),
  );
  recorded.catch(() => {});
  return {
    recorded,
    complete() {
      stillThere(deps, intent.next);
      for (const effect of effects) effect.apply();
      // Not awaited: start-up removes an intent whose file holds the new table anyway.
      deps.schemaChanges.forget(intent.id).catch(() => {});
    },
    async revert() {
      let written = true;
      await recorded.catch(() => (written = false));
      if (written) await undoChange(deps, intent);
    },
  };
}

/** Writes back what a change's intent recorded as the state before it, and removes the intent. */
function undoChange(deps: SchemaDeps, intent: SchemaChangeIntent): Promise<void> {
  const previous = intent.previous!;
  const undo: CatalogChange[] = [deps.schemaChanges.doneChange(intent.id)];
  // Written back only where the table still is (a bucket delete may have removed it meanwhile).
  if (currentTable(deps, previous.record)) {
    undo.push(tableRecordChange(deps, previous.record));
    if (previous.metadata) {
      const branch = metadataBranchOfTable(previous.record);
      undo.push(deps.metadata.replaceTableBundleChange(previous.record.projectId, branch, previous.record.bucket, previous.record.name, previous.metadata));
    }
  }
  return deps.catalog.store.commitChanges(undo);
}

function newIntent(deps: SchemaDeps, current: TableRecord, plan: Plan, before: string, tempFile: string | null): SchemaChangeIntent {
  const metadata = plan.metadata ? deps.metadata.tableBundle(current.projectId, metadataBranchOfTable(current), current.bucket, current.name) : null;
  return {
    id: randomUUID(),
    projectId: current.projectId,
    bucket: current.bucket,
    table: current.name,
    before,
    next: plan.next,
    metadata: plan.metadata,
    tempFile,
    createdAt: new Date().toISOString(),
    previous: { record: current, metadata },
  };
}

async function alterInPlace(deps: SchemaDeps, path: string, current: TableRecord, plan: Plan): Promise<void> {
  // The intent must be durable before the file commits. A change of the columns' names,
  // types, nullability or key is told after a crash by the file's shape alone, so its
  // intent needs nothing from the file and its catalog commit (an fsync) starts at once,
  // while the file is attached and DuckDB does the ALTER work. Any other change (a default)
  // compares the file's signature, read first in the change's own transaction (read on
  // another connection while the ALTER ran, it waited for the ALTER).
  const byShape = !sameShape(current, plan.next);
  let side = byShape ? recordChange(deps, newIntent(deps, current, plan, DECIDED_BY_SHAPE, null)) : undefined;
  /** Set once the file holds the new table: from then on the change is never undone. */
  let altered = false;
  let alias: string | undefined;
  /** The intent's commit followed by its fault step; a failed change waits for it before undoing. */
  let recorded: Promise<void> | undefined;
  try {
    // Not the request's session: a fallback to a rebuild must find the file unused.
    alias = await deps.registry.acquire(path);
    const attached = alias;
    const data = `${quoteIdent(attached)}.main.data`;
    await deps.db.with(async (c) => {
      try {
        if (!side) side = recordChange(deps, newIntent(deps, current, plan, await fileSignature(c, attached, true), null));
        recorded = side.recorded.then(() => deps.faultPoint?.('intent_recorded'));
        recorded.catch(() => {});
        const steps = plan.steps ?? [];
        let first = byShape;
        if (first && !steps.length) await c.run('BEGIN TRANSACTION');
        for (const step of steps) {
          // BEGIN goes in the same trip through the thread pool as the first statement.
          const sql = first ? `BEGIN TRANSACTION; ${step.sql(data)}` : step.sql(data);
          first = false;
          try {
            await c.run(sql);
          } catch (error) {
            throw (await rolledBack(c, () => step.fail?.(error as Error, c, data))) ?? new InPlaceRefused((error as Error).message);
          }
        }
        await recorded;
        await c.run('COMMIT');
      } catch (error) {
        await c.run('ROLLBACK').catch(() => {});
        throw error;
      }
      altered = true;
      await deps.faultPoint?.('altered_in_file');
      side.complete();
    });
  } catch (error) {
    // Any failure before the file changed (the ATTACH, a connection, the ALTER, the intent's
    // own commit): recorded or not, the previous row is what holds (undoing an intent never
    // written is a no-op), so no intent is left for a later start to misread. An ALTER refused
    // before the intent's commit finished waits for it: every step the change reached happens
    // before its answer, never after it.
    if (!altered) {
      await recorded?.catch(() => {});
      await side?.revert().catch(() => {});
    }
    throw error;
  } finally {
    if (alias !== undefined) deps.registry.release(path);
  }
}

/** Rolls the transaction back, then explains the failure (the explanation reads the table as it was). */
async function rolledBack<T>(c: DuckDBConnection, explain: () => Promise<T> | undefined): Promise<T | undefined> {
  await c.run('ROLLBACK').catch(() => {});
  return explain();
}

/** `{table}.duckdb.rebuild-{uuid}` next to the table file; reconciliation knows the pattern. */
export const REBUILD_FILE = /\.duckdb\.rebuild-[0-9a-f-]{36}(\.wal)?$/;

/**
 * Rebuilds the table file: a new file with the new DDL is filled from the old rows under a
 * temporary name (readers keep reading the old file meanwhile), then, while no request
 * uses the table, it replaces the old file and the new row takes effect. A crash before
 * the rename leaves the old table (and a temporary file that start removes, writing the
 * previous row back); after it, the new one, whose intent start removes.
 */
async function rebuildTable(deps: SchemaDeps, path: string, current: TableRecord, plan: Plan): Promise<void> {
  const temp = deps.paths.rebuildingTableFile(current.projectId, current.bucket, current.name);
  const removeTemp = async () => {
    await rm(deps.paths.walFile(temp), { force: true });
    await rm(temp, { force: true });
  };
  const alias = await deps.registry.acquire(path);
  let side: CatalogSide;
  try {
    const intent = newIntent(deps, current, plan, await deps.db.with((c) => fileSignature(c, alias)), basename(temp));
    side = recordChange(deps, intent);
    await side.recorded;
    await deps.faultPoint?.('intent_recorded');
    try {
      await withPrivateAttachment(deps, temp, async (c, tempAlias) => {
        const target = `${quoteIdent(tempAlias)}.main.data`;
        const source = `${quoteIdent(alias)}.main.data`;
        // The key is added after the rows: building the index once is faster than keeping
        // it up to date row by row (40% on a million rows here). The file is private until
        // the rename, so the steps need no common transaction.
        const key = plan.next.primaryKey;
        await c.run(`CREATE TABLE ${target} (${columnsDdl(plan.next.columns, [])})`);
        await deps.faultPoint?.('rebuild_created');
        try {
          await c.run(`INSERT INTO ${target} SELECT ${plan.rebuild.select} FROM ${source}`);
          if (key.length) await c.run(`ALTER TABLE ${target} ADD PRIMARY KEY (${key.map(quoteIdent).join(', ')})`);
        } catch (error) {
          throw (await plan.rebuild.fail(error as Error, c, source)) ?? error;
        }
        await c.run(`CHECKPOINT ${quoteIdent(tempAlias)}`);
      });
      await rm(deps.paths.walFile(temp), { force: true });
      await deps.faultPoint?.('rebuild_filled');
    } catch (error) {
      await removeTemp();
      await side.revert();
      throw error;
    }
  } finally {
    deps.registry.release(path);
  }
  let renamed = false;
  try {
    await deps.registry.swap(path, async () => {
      // DETACH checkpoints; a WAL left anyway belongs to the old file and must not be replayed into the new one.
      const wal = deps.paths.walFile(path);
      if (existsSync(wal)) await withPrivateAttachment(deps, path, (c, a) => c.run(`CHECKPOINT ${quoteIdent(a)}`));
      await rm(wal, { force: true });
      await rename(temp, path);
      renamed = true;
      await deps.faultPoint?.('rebuild_renamed');
      side.complete();
    });
  } catch (error) {
    if (!renamed) {
      await removeTemp();
      await side.revert().catch(() => {});
    }
    // After the rename the file is the new table: the intent stays, and start completes it.
    // A missing file or folder means a bucket or project delete took the table meanwhile.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new TableGoneError();
    throw error;
  }
}

// ---- the §12 operations -----------------------------------------------------------------

const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  TINYINT: [-(2n ** 7n), 2n ** 7n - 1n],
  SMALLINT: [-(2n ** 15n), 2n ** 15n - 1n],
  INTEGER: [-(2n ** 31n), 2n ** 31n - 1n],
  BIGINT: [-(2n ** 63n), 2n ** 63n - 1n],
  HUGEINT: [-(2n ** 127n), 2n ** 127n - 1n],
  UTINYINT: [0n, 2n ** 8n - 1n],
  USMALLINT: [0n, 2n ** 16n - 1n],
  UINTEGER: [0n, 2n ** 32n - 1n],
  UBIGINT: [0n, 2n ** 64n - 1n],
  UHUGEINT: [0n, 2n ** 128n - 1n],
};

/**
 * Defaults that convert without asking DuckDB: a whole JSON number within an integer
 * type's range, a JSON boolean for BOOLEAN (the strict conversion accepts both as they are
 * written). Everything else goes through `checkDefaults`, whose query costs milliseconds.
 */
function plainlyValidDefault(column: ColumnDef): boolean {
  const value = column.default;
  if (typeof value === 'boolean') return column.type === 'BOOLEAN';
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return false;
  const range = INTEGER_RANGES[column.type];
  return range !== undefined && BigInt(value) >= range[0] && BigInt(value) <= range[1];
}

/** 422 on the default of a column that does not convert to its type. */
async function checkDefault(deps: SchemaDeps, column: ColumnDef, path: string): Promise<void> {
  if (plainlyValidDefault(column)) return;
  try {
    await checkDefaults(deps.db, [column]);
  } catch (error) {
    if (error instanceof HttpError && error.code === 'validation_error') {
      const message = `Default ${JSON.stringify(column.default)} is not a valid ${column.type}`;
      throw validationError([{ path, message }], message);
    }
    throw error;
  }
}

function normalizedType(input: string, path: string): string {
  const type = normalizeType(input);
  if (!type) {
    const message = `Unsupported column type ${JSON.stringify(input.slice(0, 80))}`;
    throw validationError([{ path, message }], message);
  }
  return type;
}

const columnList = (columns: ColumnDef[]) => columns.map((c) => quoteIdent(c.name)).join(', ');

/** POST T/columns: the column comes last; NOT NULL needs a default or an empty table. */
export function addColumn(deps: SchemaDeps, table: TableRecord, input: NewColumn): Promise<TableRecord> {
  const type = normalizedType(input.type, 'type');
  const column: ColumnDef = { name: input.name, type, nullable: input.nullable };
  if (input.default !== undefined && input.default !== null) column.default = input.default;
  return change(deps, table, async (current) => {
    // The body (422) before the route's own errors (Part II order of checks).
    await checkDefault(deps, column, 'default');
    const existing = findColumn(current, input.name);
    if (existing) throw columnExists(current, existing.name);
    const name = quoteIdent(column.name);
    const expression = defaultExpression(column);
    const notNullFailed = async (error: Error) =>
      NOT_NULL_FAILED.test(error.message)
        ? new HttpError(400, 'invalid_column', `Column ${column.name} cannot be NOT NULL without a default: table ${current.name} has rows`, { column_name: column.name, row_count: current.rowCount })
        : undefined;
    const literal = addColumnDefault(column);
    const steps: Step[] = [{ sql: (data) => `ALTER TABLE ${data} ADD COLUMN ${name} ${type}${literal ? ` DEFAULT ${literal}` : ''}` }];
    if (!column.nullable) steps.push({ sql: (data) => `ALTER TABLE ${data} ALTER COLUMN ${name} SET NOT NULL`, fail: notNullFailed });
    return {
      next: { ...current, columns: [...current.columns, column] },
      metadata: null,
      steps,
      rebuild: { select: `${columnList(current.columns)}, ${expression ?? `NULL::${type}`} AS ${name}`, fail: notNullFailed },
    };
  });
}

/**
 * PATCH T/columns/{column}: rename, type, nullability and default in one transaction. A
 * type change of a key column is a rebuild (DuckDB cannot retype an indexed column).
 */
export function alterColumn(deps: SchemaDeps, table: TableRecord, columnName: string, patch: ColumnPatch): Promise<TableRecord> {
  const newType = patch.type === undefined ? undefined : normalizedType(patch.type, 'type');
  return change(deps, table, async (current) => {
    const column = findColumn(current, columnName);
    if (!column) throw columnNotFound(current, columnName);
    const inKey = current.primaryKey.some((k) => lower(k) === lower(column.name));
    const rename = patch.name !== undefined && patch.name !== column.name ? patch.name : undefined;
    const type = newType ?? column.type;
    const retype = type !== column.type;
    const nullable = patch.nullable ?? column.nullable;
    const next: ColumnDef = { name: rename ?? column.name, type, nullable };
    const defaultValue = patch.default !== undefined ? patch.default : column.default;
    if (defaultValue !== undefined && defaultValue !== null) next.default = defaultValue;
    // The body (422) before the route's own errors (Part II order of checks).
    if (next.default !== undefined && (patch.default !== undefined || retype)) {
      await checkDefault(deps, next, patch.default !== undefined ? 'default' : 'type');
    }
    if (rename !== undefined) {
      const taken = findColumn(current, rename);
      if (taken && taken !== column) throw columnExists(current, taken.name);
    }
    if (patch.nullable === true && inKey) throw columnInPrimaryKey(current, column.name, 'a key column cannot be nullable');
    const defaultChanged = defaultExpression(next) !== defaultExpression(column);
    if (!rename && !retype && nullable === column.nullable && !defaultChanged && next.default === column.default) return undefined;

    const nextTable: TableRecord = {
      ...current,
      columns: current.columns.map((c) => (c === column ? next : c)),
      primaryKey: current.primaryKey.map((k) => (lower(k) === lower(column.name) ? next.name : k)),
    };
    const metadata: MetadataStep = rename ? { rename: { from: column.name, to: next.name } } : null;
    const oldName = quoteIdent(column.name);
    const name = quoteIdent(next.name);
    // `fails` is written against the old name: a failure's example is looked up in the rolled-back table.
    const conversion = columnConversion(oldName, column.type, type, column.name);
    const strict = (expr: string) => columnConversion(expr, column.type, type, column.name).value;
    const conversionFailure = async (error: Error, c: DuckDBConnection, data: string) =>
      isConversionError(error) && conversion.fails !== 'false' ? conversionFailed(c, data, current, column, type, conversion.fails) : undefined;
    const nullsPresent = async (error: Error, c: DuckDBConnection, data: string) => {
      if (!NOT_NULL_FAILED.test(error.message) || nullable) return undefined;
      const nulls = Number((await c.runAndReadAll(`SELECT count(*) FROM ${data} WHERE ${oldName} IS NULL`)).getRows()[0]![0]);
      return new HttpError(400, 'nulls_present', `Column ${column.name} holds ${nulls} NULL value(s) and cannot be made NOT NULL`, { column_name: column.name, null_count: nulls });
    };
    const rebuild: Rebuild = {
      select: current.columns.map((c) => (c === column ? `${retype ? strict(oldName) : oldName} AS ${name}` : quoteIdent(c.name))).join(', '),
      fail: async (error, c, data) => {
        const known = (await conversionFailure(error, c, data)) ?? (await nullsPresent(error, c, data));
        if (known || !DUPLICATE_KEY.test(error.message)) return known;
        return duplicateKeys(c, data, current.primaryKey.map((k) => (lower(k) === lower(column.name) ? { name: next.name, expr: conversion.value } : { name: k, expr: quoteIdent(k) })));
      },
    };
    // DuckDB cannot retype an indexed column in place.
    if (retype && inKey) return { next: nextTable, metadata, rebuild };

    // After the rename (if any) the column has its new name for the statements that follow.
    const steps: Step[] = [];
    if (rename) steps.push({ sql: (data) => `ALTER TABLE ${data} RENAME COLUMN ${oldName} TO ${name}` });
    if (retype) {
      // The old default may not fit the new type: dropped first, set again after.
      if (column.default !== undefined) steps.push({ sql: (data) => `ALTER TABLE ${data} ALTER COLUMN ${name} DROP DEFAULT` });
      steps.push({ sql: (data) => `ALTER TABLE ${data} ALTER COLUMN ${name} SET DATA TYPE ${type} USING ${strict(name)}`, fail: conversionFailure });
    }
    if (defaultChanged || (retype && next.default !== undefined)) {
      const expression = defaultExpression(next);
      steps.push({ sql: (data) => `ALTER TABLE ${data} ALTER COLUMN ${name} ${expression === undefined ? 'DROP DEFAULT' : `SET DEFAULT ${expression}`}` });
    }
    if (nullable !== column.nullable) {
      steps.push({ sql: (data) => `ALTER TABLE ${data} ALTER COLUMN ${name} ${nullable ? 'DROP' : 'SET'} NOT NULL`, fail: nullsPresent });
    }
    return { next: nextTable, metadata, steps, rebuild };
  });
}

/** DELETE T/columns/{column}. */
export function dropColumn(deps: SchemaDeps, table: TableRecord, columnName: string): Promise<TableRecord> {
  let dropped = columnName;
  return change(
    deps,
    table,
    async (current) => {
      const column = findColumn(current, columnName);
      if (!column) throw columnNotFound(current, columnName);
      if (current.primaryKey.some((k) => lower(k) === lower(column.name))) throw columnInPrimaryKey(current, column.name, 'drop or change the primary key first');
      if (current.columns.length === 1) throw new HttpError(400, 'last_column', `Column ${column.name} is the last column of table ${current.name}`, { column_name: column.name });
      dropped = column.name;
      const kept = current.columns.filter((c) => c !== column);
      return {
        next: { ...current, columns: kept },
        metadata: { drop: column.name },
        steps: [{ sql: (data) => `ALTER TABLE ${data} DROP COLUMN ${quoteIdent(column.name)}` }],
        rebuild: { select: columnList(kept), fail: async () => undefined },
      };
    },
    // The one place where an auto snapshot (§13) is taken before a column drop.
    async (current) => deps.snapshotHooks?.beforeDropColumn?.(current, dropped),
  );
}

/** PUT T/primary-key: sets or replaces the key; key columns become NOT NULL. */
export function setPrimaryKey(deps: SchemaDeps, table: TableRecord, columns: string[]): Promise<TableRecord> {
  return change(deps, table, async (current) => {
    const problems: string[] = [];
    const key: ColumnDef[] = [];
    for (const name of columns) {
      const column = findColumn(current, name);
      if (!column) problems.push(`${name} is not a column of the table`);
      else if (key.includes(column)) problems.push(`${name} appears twice in the primary key`);
      else key.push(column);
    }
    if (problems.length) throw new HttpError(400, 'invalid_primary_key', `Invalid primary key: ${problems.join('; ')}`, { primary_key: columns });
    const names = key.map((c) => c.name);
    if (JSON.stringify(names) === JSON.stringify(current.primaryKey)) return undefined;
    const keyed = new Set(names);
    const next: TableRecord = { ...current, columns: current.columns.map((c) => (keyed.has(c.name) ? { ...c, nullable: false } : c)), primaryKey: names };
    const fail = async (error: Error, c: DuckDBConnection, data: string) =>
      NOT_NULL_FAILED.test(error.message) || DUPLICATE_KEY.test(error.message) ? duplicateKeys(c, data, names.map((n) => ({ name: n, expr: quoteIdent(n) }))) : undefined;
    const rebuild: Rebuild = { select: columnList(current.columns), fail };
    // DuckDB cannot drop a key constraint: replacing a key is a rebuild.
    if (current.primaryKey.length) return { next, metadata: null, rebuild };
    const steps: Step[] = key.filter((c) => c.nullable).map((c) => ({ sql: (data: string) => `ALTER TABLE ${data} ALTER COLUMN ${quoteIdent(c.name)} SET NOT NULL`, fail }));
    steps.push({ sql: (data) => `ALTER TABLE ${data} ADD PRIMARY KEY (${names.map(quoteIdent).join(', ')})`, fail });
    return { next, metadata: null, steps, rebuild };
  });
}

/** DELETE T/primary-key: a rebuild without the key (the key columns stay NOT NULL). */
export function dropPrimaryKey(deps: SchemaDeps, table: TableRecord): Promise<TableRecord> {
  return change(deps, table, async (current) => {
    if (!current.primaryKey.length) throw notFound('primary_key_not_found', `Table ${current.name} has no primary key`, { table_name: current.name });
    return { next: { ...current, primaryKey: [] }, metadata: null, rebuild: { select: columnList(current.columns), fail: async () => undefined } };
  });
}

// ---- after a crash ----------------------------------------------------------------------

/**
 * Finishes or undoes the schema changes a crash interrupted (run at start, before the
 * files are reconciled): a temporary rebuild file is removed; a table file that still
 * holds the old table means the change did not happen, and the previous catalog row and
 * metadata are written back; one that holds the planned table keeps the new row (written
 * with the intent; intents of earlier versions get it written now). Either way the intent
 * goes. Of several intents of one table only the newest can be unfinished: a change
 * starts only after the one before it applied, so the older ones are simply removed.
 */
export async function recoverSchemaChanges(deps: SchemaDeps, logger: Logger): Promise<void> {
  const intents = deps.schemaChanges.list();
  const tableKey = (i: SchemaChangeIntent) => JSON.stringify([i.next.projectId, i.next.branch ?? null, i.next.bucket, i.next.name].map((x) => (typeof x === 'string' ? lower(x) : x)));
  const newest = new Map<string, SchemaChangeIntent>();
  for (const intent of intents) newest.set(tableKey(intent), intent); // listed oldest first
  for (const intent of intents) {
    // §14: a change in a development branch names the branch in its `next` record.
    const path = deps.paths.tableFileOf(intent.next);
    // Only a name of the rebuild pattern, in the table's own folder, is ever removed.
    if (intent.tempFile && REBUILD_FILE.test(intent.tempFile)) {
      const temp = join(dirname(path), basename(intent.tempFile));
      await rm(deps.paths.walFile(temp), { force: true });
      await rm(temp, { force: true });
    }
    if (newest.get(tableKey(intent)) !== intent) {
      await deps.schemaChanges.forget(intent.id);
      continue;
    }
    let outcome: 'rolled_back' | 'completed' | 'abandoned' = 'rolled_back';
    if (existsSync(path) && currentTable(deps, intent.next)) {
      const seen = await withPrivateAttachment(deps, path, async (c, alias) => ({ signature: await fileSignature(c, alias), table: await inspectAttached(c, alias) })).catch(() => undefined);
      // An intent decided by shape has `previous` (written by this version): the file still
      // of the previous shape never took the change.
      const changed =
        seen && (intent.before === DECIDED_BY_SHAPE ? !(seen.table && intent.previous && sameShape(seen.table, intent.previous.record)) : seen.signature !== intent.before);
      if (seen && changed) {
        outcome = seen.table && sameShape(seen.table, intent.next) ? 'completed' : 'abandoned';
        if (outcome === 'completed') {
          const next = { ...intent.next, rowCount: seen.table!.rowCount };
          const metadata = intent.previous ? [] : metadataChange(deps, next, intent.metadata);
          await deps.catalog.store.commitChanges([tableRecordChange(deps, next), ...metadata, deps.schemaChanges.doneChange(intent.id)], () => stillThere(deps, next));
        }
      }
    }
    if (outcome !== 'completed') {
      // The file is not the planned table: the catalog goes back to the row before the change.
      if (intent.previous) await undoChange(deps, intent);
      else await deps.schemaChanges.forget(intent.id);
    }
    logger.info({ event: 'reconcile', repair: `schema_change_${outcome}`, project_id: intent.projectId, bucket: intent.bucket, table: intent.table }, 'finished an interrupted schema change');
  }
}
