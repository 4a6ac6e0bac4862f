import { existsSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { LIST, listValue, VARCHAR, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { HttpError } from '../http/errors.ts';
import { payloadTooLarge } from '../http/request.ts';
import type { ColumnDef, TableRecord } from './catalog.ts';
import type { Database } from './db.ts';
import { isDevBranch, saveRowCount, storedTable, withTableWrite, type WriteDeps } from './locator.ts';
import type { StoragePaths } from './paths.ts';
import { pipeIntoNewFile } from './file-sink.ts';
import { HeaderTooLargeError, MAX_HEADER_BYTES, MAX_HEADER_FIELDS, readCsvHeader } from './csv-header.ts';
import { CONVERSION_ERROR_PREFIX, isStrictTarget, strictConversion } from './convert.ts';
import { integerLiteral, quoteIdent, quoteLiteral } from './sql.ts';
import { columnsDdl, decodeDefault } from './tables.ts';
import { defaultFunction, defaultLiteral, normalizeType } from './types.ts';

export type ImportFormat = 'csv' | 'ndjson' | 'parquet';

export interface CsvOptions {
  delimiter: string;
  quote: string;
  escape: string;
  header: boolean;
  /** The file's column names in order; overrides the header row when given. */
  columns?: string[];
  /** The unquoted field text that means NULL; by default an empty unquoted field is NULL. */
  nullString?: string;
}

export interface ImportSpec {
  format: ImportFormat;
  incremental: boolean;
  csv: CsvOptions;
}

/**
 * Work an import lets its caller do at fixed points: the `full_import` auto snapshot (§13),
 * and what an asynchronous job (§16) adds (cancel, progress, its mark).
 */
export interface ImportHooks {
  /** Runs under the table's write lock just before a full load replaces the rows; the result is discarded if the load fails. */
  beforeFullLoad?: (table: TableRecord) => Promise<{ discard(): Promise<void> } | null>;
  /** Aborting interrupts the running statement, and nothing is committed after it. */
  signal?: AbortSignal;
  /** The fraction (0..1) of the file DuckDB has read, reported while the rows load. */
  onProgress?: (fraction: number) => void;
  /**
   * A mark (`job:<id>`) committed in the same transaction as the rows, as the table file's
   * own table comment. When the table already carries it, the import took effect before (a
   * job re-run after a crash) and is not applied again: `alreadyApplied` is set instead.
   */
  mark?: string;
}

export type ImportDeps = WriteDeps;

/** A file column and the table column it fills. */
interface MatchedColumn {
  file: string;
  /** The file's own type for the column, where the format declares one (Parquet). */
  fileType?: string;
  column: ColumnDef;
}

/** Bytes per write to the staging file (and per read of the body, where the source allows). */
const STAGE_CHUNK = 1 << 20;

const importFailed = (message: string, details?: Record<string, unknown>) => new HttpError(400, 'import_failed', message, details);

// ---- staging -----------------------------------------------------------------------

/**
 * The body as a Node stream. Behind the Node server adapter the body wraps the socket's
 * IncomingMessage (exposed as `.readable`), which pipes to disk without a promise per
 * chunk; any other WHATWG stream (in-process callers) is adapted.
 */
function nodeStream(body: ReadableStream<Uint8Array>): Readable {
  const inner = (body as { readable?: unknown }).readable;
  return inner instanceof Readable ? inner : Readable.fromWeb(body as NodeReadableStream<Uint8Array>);
}

/** Runs `work` with a fresh staging file path under `files/`; the file is removed in every outcome. */
export async function withStagingFile<T>(paths: StoragePaths, name: string, work: (path: string) => Promise<T>): Promise<T> {
  const path = paths.stagingFile(name);
  try {
    return await work(path);
  } finally {
    await rm(path, { force: true });
  }
}

/** Where an open file can be opened again by path after its name is gone (Linux). */
const OPEN_FILES = '/proc/self/fd';

/**
 * Stages a request body (`stageBody`) in a fresh staging file and runs `work` on it. The
 * file is read through its open descriptor (`/proc/self/fd/N`, where the system has it):
 * its name is removed as soon as the body is staged, and the file itself goes when that
 * descriptor is closed, after `work` and without the answer waiting for it. Removing a
 * file of tens of megabytes whose pages were just written takes the kernel 10–25 ms here
 * (a 55 MB body: 21 ms), which an import otherwise spent before it could answer. No
 * staging file is left behind in any outcome (a crash frees an unnamed file too); where
 * there is no such path, the file is read by its name and removed before the answer.
 */
export async function withStagedBody<T>(
  paths: StoragePaths,
  name: string,
  body: ReadableStream<Uint8Array> | null,
  options: { limit: number; gzip: boolean },
  work: (path: string, size: number) => Promise<T>,
): Promise<T> {
  const path = paths.stagingFile(name);
  let handle: FileHandle | undefined;
  try {
    const size = await stageBody(body, path, options);
    let readPath = path;
    if (existsSync(OPEN_FILES)) {
      handle = await open(path, 'r');
      readPath = `${OPEN_FILES}/${handle.fd}`;
      await rm(path, { force: true });
    }
    return await work(readPath, size);
  } finally {
    await rm(path, { force: true });
    // DuckDB closed its own descriptors of the file when its statements ended: this is the last one.
    void handle?.close().catch(() => {});
  }
}

/** A pass-through that fails with 413 once more than `limit` bytes went through it. */
function byteLimit(limit: number, onCount?: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      onCount?.(total);
      done(total > limit ? payloadTooLarge(limit) : null, chunk);
    },
  });
}

/**
 * Streams a request body into a new staging file, counting the bytes received against
 * `limit` and, for a gzip body, the decompressed bytes too (a small body can inflate
 * without bound): 413 as soon as either passes it, without reading on. A gzip body is
 * decompressed on the way, so DuckDB reads a plain file in parallel. Resolves with the
 * number of bytes received.
 */
export async function stageBody(body: ReadableStream<Uint8Array> | null, path: string, options: { limit: number; gzip: boolean }): Promise<number> {
  const { limit, gzip } = options;
  let size = 0;
  const counter = byteLimit(limit, (n) => (size = n));
  const source = body ? nodeStream(body) : Readable.from([]);
  try {
    const stages: [Readable, ...Transform[]] = gzip ? [source, counter, createGunzip({ chunkSize: 256 << 10 }), byteLimit(limit)] : [source, counter];
    await pipeIntoNewFile(path, stages, { highWaterMark: STAGE_CHUNK });
    return size;
  } catch (error) {
    if (error instanceof HttpError) throw error;
    const { code, syscall } = error as NodeJS.ErrnoException;
    if (typeof code === 'string' && code.startsWith('Z_')) throw importFailed('The body is not valid gzip data', { reason: (error as Error).message });
    // File system trouble is ours (500); anything else is the body breaking off.
    if (syscall) throw error;
    throw importFailed('The request body could not be read to its end');
  }
}

// ---- the file's columns ------------------------------------------------------------

/** The header row's fields; 400 `import_failed` for a header too long to be one. */
async function csvHeader(path: string, csv: CsvOptions): Promise<string[]> {
  try {
    return await readCsvHeader(path, csv);
  } catch (error) {
    if (error instanceof HeaderTooLargeError) throw importFailed(error.message, { max_header_bytes: MAX_HEADER_BYTES, max_columns: MAX_HEADER_FIELDS });
    throw error;
  }
}

/** A column of the file: its name and, where the file declares one (Parquet), its DuckDB type. */
export interface FileColumn {
  name: string;
  type?: string;
}

/** The file's columns, in file order where the format has one. */
async function fileColumns(c: DuckDBConnection, path: string, spec: ImportSpec, table: TableRecord): Promise<FileColumn[]> {
  const file = quoteLiteral(path);
  switch (spec.format) {
    case 'csv':
      return (spec.csv.columns ?? (spec.csv.header ? await csvHeader(path, spec.csv) : [])).map((name) => ({ name }));
    case 'ndjson': {
      const names = await ndjsonKeys(c, file, table);
      if (names.length === 0 && (await countRows(c, `read_ndjson_objects(${file})`)) > 0) {
        throw importFailed('The rows of the file name no columns');
      }
      return names.map((name) => ({ name }));
    }
    case 'parquet': {
      const rows = await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${file})`);
      return rows.getRowObjectsJS().map((row) => ({ name: String(row.column_name), type: String(row.column_type) }));
    }
  }
}

/** The start of the error that stops the key scan at the first key that is no column. */
const UNKNOWN_KEY = 'import: key is not a column: ';
/** At most this many keys that are no column are named in an `unknown_columns` answer. */
const MAX_UNKNOWN_LISTED = 100;

/**
 * The distinct top-level keys of an NDJSON file's objects, all of them columns of `table`
 * (without regard to case). A file may hold millions of distinct keys, so they are never
 * all collected: the scan fails at the first key that is no column, and a second scan,
 * stopped after a few hundred such keys, names up to MAX_UNKNOWN_LISTED of them (400
 * `unknown_columns`). The keys that are columns are bounded by the table's columns; one
 * more than that is enough for `matchColumns` to see a name repeated in another case.
 */
async function ndjsonKeys(c: DuckDBConnection, file: string, table: TableRecord): Promise<string[]> {
  const columns = [listValue(table.columns.map((column) => column.name.toLowerCase()))];
  const types = [LIST(VARCHAR)];
  const keys = `(SELECT unnest(json_keys(json)) AS k FROM read_ndjson_objects(${file}))`;
  const isColumn = 'list_contains($1, lower(k))';
  try {
    const rows = await c.runAndReadAll(
      `SELECT DISTINCT CASE WHEN ${isColumn} THEN k ELSE error(${quoteLiteral(UNKNOWN_KEY)} || left(k, 200)) END FROM ${keys} LIMIT ${integerLiteral(table.columns.length + 1)}`,
      columns,
      types,
    );
    return rows.getRows().map((row) => String(row[0]));
  } catch (error) {
    if (!(error instanceof Error) || !error.message.includes(UNKNOWN_KEY)) throw error;
  }
  const sample = await c.runAndReadAll(`SELECT k FROM ${keys} WHERE NOT ${isColumn} LIMIT ${integerLiteral(MAX_UNKNOWN_LISTED * 10)}`, columns, types);
  const unknown = [...new Set(sample.getRows().map((row) => String(row[0])))].slice(0, MAX_UNKNOWN_LISTED);
  throw unknownColumns(table, unknown);
}

/** 400 `unknown_columns` naming (a bounded list of) the file's columns that `table` lacks. */
function unknownColumns(table: TableRecord, unknown: string[]): HttpError {
  return new HttpError(400, 'unknown_columns', `The file has columns that table ${table.name} does not have: ${unknown.join(', ').slice(0, 300)}`, {
    columns: unknown.slice(0, MAX_UNKNOWN_LISTED).map((name) => name.slice(0, 200)),
    table_columns: table.columns.map((column) => column.name),
  });
}

/**
 * Pairs each file column with the table column of the same name (without regard to
 * case): 400 `duplicate_columns` when the file names a column twice, 400
 * `unknown_columns` when it names columns the table does not have.
 */
export function matchColumns(table: TableRecord, fileColumns: FileColumn[]): MatchedColumn[] {
  const byName = new Map(table.columns.map((column) => [column.name.toLowerCase(), column]));
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  const unknown: string[] = [];
  const matched: MatchedColumn[] = [];
  for (const { name, type } of fileColumns) {
    const key = name.toLowerCase();
    if (seen.has(key)) duplicates.add(name);
    seen.add(key);
    const column = byName.get(key);
    if (column) matched.push({ file: name, fileType: type, column });
    else unknown.push(name);
  }
  if (duplicates.size) {
    throw new HttpError(400, 'duplicate_columns', `The file names these columns more than once: ${[...duplicates].join(', ').slice(0, 300)}`, {
      columns: [...duplicates].slice(0, 100),
    });
  }
  if (unknown.length) throw unknownColumns(table, unknown);
  return matched;
}

// ---- reading the file in SQL ------------------------------------------------------

/**
 * Whether a column is read from a text format (CSV, NDJSON) as text and converted by
 * `strictConversion`, rather than parsed by DuckDB's reader straight into its type: the
 * readers round `1.5` into an INTEGER and read `1e400` as an infinite DOUBLE, and the
 * NDJSON reader takes a DECIMAL through a DOUBLE. The CSV reader parses a DECIMAL exactly
 * (half away from zero), with the line of a bad value, so it keeps that.
 */
function convertedFromText(format: ImportFormat, column: ColumnDef): boolean {
  if (normalizeType(column.type) !== column.type || !isStrictTarget(column.type)) return false;
  return format === 'ndjson' || (format === 'csv' && !column.type.startsWith('DECIMAL'));
}

/**
 * A SELECT over the staged file whose columns are the matched table columns, named as in
 * the table. CSV and NDJSON are parsed straight into the table's types where DuckDB's
 * reader converts exactly (so a bad value is reported with its line), and as text with a
 * strict conversion where it would round (see `convertedFromText`); Parquet columns of a
 * numeric target type are converted strictly from their own type, the others are cast by
 * the INSERT. With `strict` false, every column is left to the reader (used to find the
 * line of a bad value after a strict conversion failed). Every option is a quoted literal;
 * types come from the catalog's normalised types.
 */
function sourceSelect(path: string, spec: ImportSpec, matched: MatchedColumn[], strict = true): string {
  const file = quoteLiteral(path);
  const asText = (m: MatchedColumn) => strict && convertedFromText(spec.format, m.column);
  const struct = (key: (m: MatchedColumn) => string) =>
    `{${matched.map((m) => `${quoteLiteral(key(m))}: ${quoteLiteral(asText(m) ? 'VARCHAR' : m.column.type)}`).join(', ')}}`;
  const expression = (m: MatchedColumn) => {
    const ref = quoteIdent(m.file);
    if (asText(m)) return strictConversion(ref, 'VARCHAR', m.column.type, m.column.name).value;
    if (strict && m.fileType && normalizeType(m.column.type) === m.column.type && isStrictTarget(m.column.type)) {
      return strictConversion(ref, m.fileType, m.column.type, m.column.name).value;
    }
    return ref;
  };
  const select = (from: string) => `SELECT ${matched.map((m) => `${expression(m)} AS ${quoteIdent(m.column.name)}`).join(', ')} FROM ${from}`;
  switch (spec.format) {
    case 'csv': {
      const { csv } = spec;
      const options = [
        'auto_detect = false',
        `header = ${csv.header ? 'true' : 'false'}`,
        `delim = ${quoteLiteral(csv.delimiter)}`,
        `quote = ${quoteLiteral(csv.quote)}`,
        `escape = ${quoteLiteral(csv.escape)}`,
        // Named as in the file; the select renames them to the table's spelling.
        `columns = ${struct((m) => m.file)}`,
        // A quoted field is text, never NULL: `""` is an empty string (as export writes it).
        'allow_quoted_nulls = false',
      ];
      if (csv.nullString !== undefined) options.push(`nullstr = ${quoteLiteral(csv.nullString)}`);
      return select(`read_csv(${file}, ${options.join(', ')})`);
    }
    case 'ndjson':
      return select(`read_json(${file}, format = 'newline_delimited', records = true, auto_detect = false, columns = ${struct((m) => m.file)})`);
    case 'parquet':
      return select(`read_parquet(${file})`);
  }
}

// ---- writing -----------------------------------------------------------------------

/** DuckDB errors caused by the data rather than by the service. */
const DATA_ERROR = /^(Conversion|Constraint|Invalid Input|Out of Range|Parser|Mismatch Type) Error/;
const DUPLICATE_KEY = /PRIMARY KEY or UNIQUE constraint violation|Duplicate key/i;
/** The start of a failed strict conversion's error (see convert.ts). */
const STRICT_FAILURE = new RegExp(`^Invalid Input Error: ${CONVERSION_ERROR_PREFIX}`);

/** 400 `import_failed` with DuckDB's reason (host paths removed) and the line where given. */
function importFailure(error: Error, path: string, dataDir: string): HttpError {
  // A strict conversion's own message says all there is; DuckDB's prefix adds nothing.
  const text = error.message.split(path).join('the file').split(dataDir).join('$DATA_DIR').replace(STRICT_FAILURE, CONVERSION_ERROR_PREFIX);
  // DuckDB appends hints and an option dump after a blank line; the reason comes first.
  const reason = text
    .split(/\n\s*\n/)[0]!
    .split('\n')
    .filter((line) => !/^(Try setting|Possible (fixes|solutions)|\* )/.test(line))
    .join('\n')
    .trim()
    .slice(0, 1000);
  const details: Record<string, unknown> = { reason };
  const line = /on Line: (\d+)|in line (\d+)/i.exec(text);
  if (line) details.line = Number(line[1] ?? line[2]);
  const column = /converting column "([^"]+)"/.exec(text) ?? /^Cannot convert value .* of column (\w+) to /m.exec(text);
  if (column) details.column = column[1];
  // The line that says what is wrong (a CSV error starts with where and the raw line).
  const lines = reason.split('\n').map((l) => l.trim()).filter(Boolean);
  const what = lines.find((l) => !/CSV Error on Line|^Original Line:/.test(l)) ?? lines[0] ?? 'the file could not be read';
  const where = details.line === undefined ? '' : ` at line ${details.line}`;
  return importFailed(`Import failed${where}: ${what}`.slice(0, 500), details);
}

/** Runs inside the load's transaction just before COMMIT (the job mark; a cancel refuses here). */
type BeforeCommit = (c: DuckDBConnection, imported: number) => Promise<void>;

/**
 * Records the table's new row count in the catalog while its file commits (`LoadPlan.committing`):
 * resolves once the count is durable there, and shows it or writes the old one back.
 */
type RecordRowCount = (rowCount: number) => Promise<{ show: () => void; undo: () => Promise<void> }>;

/**
 * COMMITs the load's transaction with its row count recorded alongside: the catalog's
 * fsync and the file's overlap instead of following each other (about 5 ms of an upsert).
 */
async function commitLoad(c: DuckDBConnection, rowCount: number, committing?: RecordRowCount): Promise<void> {
  const recording = committing?.(rowCount);
  // Awaited below either way; never unhandled while COMMIT runs.
  recording?.catch(() => {});
  try {
    await c.run('COMMIT');
  } catch (error) {
    await recording?.then((recorded) => recorded.undo()).catch(() => {});
    throw error;
  }
  (await recording)?.show();
}

async function inTransaction<T extends { imported: number; rowCount: number }>(c: DuckDBConnection, work: () => Promise<T>, plan: Pick<LoadPlan, 'beforeCommit' | 'committing'>): Promise<T> {
  await c.run('BEGIN TRANSACTION');
  try {
    const result = await work();
    await plan.beforeCommit?.(c, result.imported);
    await commitLoad(c, result.rowCount, plan.committing);
    return result;
  } catch (error) {
    await c.run('ROLLBACK').catch(() => {});
    throw error;
  }
}

const countRows = async (c: DuckDBConnection, relation: string) => Number((await c.runAndReadAll(`SELECT count(*) FROM ${relation}`)).getRows()[0]![0]);

/**
 * Empties the table inside the caller's transaction. Dropping and re-creating it costs next
 * to nothing, where deleting every row of a keyed table makes the commit remove each key
 * from the index (seconds per million rows). Readers on older snapshots keep seeing the old
 * rows. The new table is built from the catalog's validated column definitions, never from
 * text read out of the file (an adopted file states its own types and defaults), and only
 * when the file holds exactly what the catalog says; otherwise the rows are deleted.
 *
 * With `deferKey`, a re-created table gets its primary key only from `addKey` (called by
 * the caller after its rows are in, in the same transaction): DuckDB then builds the key's
 * index once from all the keys at COMMIT, which is a quarter to a third cheaper than
 * inserting a million keys into it one chunk at a time (tests/bench/import-bench.ts), and
 * leaves the same table (`pragma_table_info`, `duckdb_constraints`). A repeated key fails
 * the COMMIT, which rolls the transaction back. Resolves with whether the caller must add
 * the key.
 */
export async function emptyTable(
  c: DuckDBConnection,
  alias: string,
  table: Pick<TableRecord, 'columns' | 'primaryKey'>,
  options: { deferKey?: boolean } = {},
): Promise<{ keyDeferred: boolean }> {
  const data = `${quoteIdent(alias)}.main.data`;
  // Not duckdb_tables(): a catalog-wide function pulls every attached database into this
  // (long, writing) transaction, which then pins the files other requests detach (their
  // next ATTACH fails with a file handle conflict) and makes CHECKPOINT of any of them fail
  // until it commits. pragma_table_info binds this one table only.
  const info = (await c.runAndReadAll(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(${quoteLiteral(data)})`)).getRowObjectsJS();
  if (!fileMatchesCatalog(info, table)) {
    await c.run(`DELETE FROM ${data}`);
    return { keyDeferred: false };
  }
  // Key columns are NOT NULL in the catalog (table-spec.ts); only then does the table
  // without its key reject a NULL key just as the keyed one would.
  const keyDeferred = Boolean(options.deferKey) && table.primaryKey.length > 0 && table.primaryKey.every((k) => table.columns.some((column) => column.name === k && !column.nullable));
  await c.run(`DROP TABLE ${data}`);
  await c.run(`CREATE TABLE ${data} (${columnsDdl(table.columns, keyDeferred ? [] : table.primaryKey)})`);
  return { keyDeferred };
}

/** Gives a table re-created by `emptyTable` with `deferKey` its primary key (checked and built at COMMIT). */
async function addKey(c: DuckDBConnection, alias: string, primaryKey: string[]): Promise<void> {
  await c.run(`ALTER TABLE ${quoteIdent(alias)}.main.data ADD PRIMARY KEY (${primaryKey.map(quoteIdent).join(', ')})`);
}

/**
 * Whether the attached table file holds exactly the catalog's definition, so that a new
 * table built from the catalog (`columnsDdl`) is the same table. An adopted file with a
 * type or default the catalog cannot state does not.
 */
export async function fileStatesCatalog(c: DuckDBConnection, alias: string, table: Pick<TableRecord, 'columns' | 'primaryKey'>): Promise<boolean> {
  const data = `${quoteIdent(alias)}.main.data`;
  const info = (await c.runAndReadAll(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(${quoteLiteral(data)})`)).getRowObjectsJS();
  return fileMatchesCatalog(info, table);
}

/** Whether `pragma_table_info` rows describe exactly the catalog's columns, key and defaults (all of them types of ours). */
function fileMatchesCatalog(info: Record<string, unknown>[], table: Pick<TableRecord, 'columns' | 'primaryKey'>): boolean {
  if (info.length === 0 || info.length !== table.columns.length) return false;
  const keyed = new Set(info.filter((col) => col.pk).map((col) => String(col.name)));
  if (keyed.size !== table.primaryKey.length || !table.primaryKey.every((k) => keyed.has(k))) return false;
  return table.columns.every((column, i) => {
    const col = info[i]!;
    const expectedDefault = defaultFunction(column.default) ?? defaultLiteral(column.default);
    return (
      col.name === column.name &&
      normalizeType(column.type) === column.type &&
      col.type === column.type &&
      Boolean(col.notnull) === !column.nullable &&
      decodeDefault(col.dflt_value == null ? null : String(col.dflt_value)) === expectedDefault
    );
  });
}

/** The message of the error a MERGE's source raises at a key the file repeats (then the last occurrence is looked for). */
const REPEATED_KEY = 'import: the file repeats a key';

/**
 * The upsert as one MERGE over the file's rows grouped by key: a key found in the table
 * has the file's columns updated, a new key is inserted (columns absent from the file get
 * their defaults). The grouping fails the statement at the first key the file repeats,
 * so a commit means every key was there once and the rows changed are the rows read
 * (imported_rows) without a second pass over the file to count them. DuckDB plans
 * `INSERT … ON CONFLICT DO UPDATE` the same way, but keeps an arbitrary one of repeated
 * rows and changes fewer rows than it read, so that needed a second read of the file
 * (measured in tests/bench/import-bench.ts: a fifth of the upsert's time).
 */
function mergeSql(data: string, source: string, columns: MatchedColumn[], primaryKey: string[]): string {
  const target = quoteIdent('import_target');
  const rows = quoteIdent('import_rows');
  const keyNames = new Set(primaryKey.map((k) => k.toLowerCase()));
  const names = columns.map((m) => quoteIdent(m.column.name));
  const others = columns.filter((m) => !keyNames.has(m.column.name.toLowerCase())).map((m) => quoteIdent(m.column.name));
  const key = primaryKey.map(quoteIdent);
  const grouped = `SELECT ${[...key, ...others.map((name) => `any_value(${name}) AS ${name}`)].join(', ')} FROM (${source}) GROUP BY ${key.join(', ')}
    HAVING CASE WHEN count(*) > 1 THEN error(${quoteLiteral(REPEATED_KEY)}) ELSE true END`;
  return `MERGE INTO ${data} AS ${target} USING (${grouped}) AS ${rows} ON (${key.map((k) => `${target}.${k} = ${rows}.${k}`).join(' AND ')})
    WHEN MATCHED THEN UPDATE SET ${others.map((name) => `${name} = ${rows}.${name}`).join(', ')}
    WHEN NOT MATCHED THEN INSERT (${names.join(', ')}) VALUES (${names.map((name) => `${rows}.${name}`).join(', ')})`;
}

interface LoadPlan {
  data: string;
  /** The table as the catalog has it (to empty it, see emptyTable). */
  table: TableRecord;
  columns: MatchedColumn[];
  primaryKey: string[];
  incremental: boolean;
  source: string;
  beforeCommit?: BeforeCommit;
  /** Records the new row count in the catalog as the load commits (main's tables); absent: the caller records it after. */
  committing?: RecordRowCount;
}

/**
 * Loads the staged rows into the table in one transaction. Full load: the rows are
 * replaced. Incremental: appended, or upserted by key when the table has a primary key
 * (the file's columns overwrite the stored row's; columns absent from the file keep their
 * values, as with DuckDB's INSERT OR REPLACE).
 *
 * Where the file repeats a key the last occurrence wins, full load and upsert alike: the
 * rows are copied to a temporary table (in file order, so its rowid is the file position)
 * and reduced to the last row per key. That costs a second pass, so it is only done when
 * needed: a full load tries the direct INSERT first and falls back when the key index
 * reports a duplicate (at COMMIT, where a re-created table's key is built); an upsert (where DuckDB would silently keep an arbitrary one of the
 * repeated rows) counts rows and distinct keys alongside and commits when they agree.
 */
async function load(db: Database, c: DuckDBConnection, alias: string, plan: LoadPlan): Promise<{ imported: number; rowCount: number }> {
  const { data, table, columns, primaryKey, incremental, source, beforeCommit } = plan;
  const list = columns.map((m) => quoteIdent(m.column.name)).join(', ');
  if (columns.length === 0) {
    // An empty file: nothing to insert.
    if (incremental) return { imported: 0, rowCount: await countRows(c, data) };
    return inTransaction(
      c,
      async () => {
        await emptyTable(c, alias, table);
        return { imported: 0, rowCount: 0 };
      },
      plan,
    );
  }
  const insertDirect = `INSERT INTO ${data} (${list}) ${source}`;
  const key = primaryKey.map(quoteIdent).join(', ');
  const keyNames = new Set(primaryKey.map((k) => k.toLowerCase()));
  const updates = columns.filter((m) => !keyNames.has(m.column.name.toLowerCase())).map((m) => `${quoteIdent(m.column.name)} = EXCLUDED.${quoteIdent(m.column.name)}`);
  const onConflict = `ON CONFLICT (${key}) ${updates.length ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`;
  let imported: number | undefined;
  if (primaryKey.length && incremental && updates.length) {
    try {
      return await inTransaction(c, async () => {
        const imported = (await c.run(mergeSql(data, source, columns, primaryKey))).rowsChanged;
        return { imported, rowCount: await countRows(c, data) };
      }, plan);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes(REPEATED_KEY)) throw error;
    }
  } else if (primaryKey.length && incremental) {
    // Only key columns: nothing to update, and the rows a MERGE changes are not the rows
    // read. Rows and distinct keys are counted on a second connection while the upsert runs
    // (the count converts only the key columns); the upsert commits only when no key
    // repeats. The count also gives imported_rows.
    const counting = db.with(async (c2) => (await c2.runAndReadAll(`SELECT count(*), count(DISTINCT (${key})) FROM (${source})`)).getRows()[0]!);
    counting.catch(() => {});
    await c.run('BEGIN TRANSACTION');
    let upsertError: unknown;
    try {
      await c.run(`${insertDirect} ${onConflict}`);
    } catch (error) {
      upsertError = error;
    }
    let counts: DuckDBValue[];
    try {
      counts = await counting;
    } catch (error) {
      await c.run('ROLLBACK').catch(() => {});
      throw upsertError ?? error;
    }
    imported = Number(counts[0]);
    const unique = imported === Number(counts[1]);
    if (unique && upsertError === undefined) {
      try {
        const rowCount = await countRows(c, data);
        await beforeCommit?.(c, imported);
        await commitLoad(c, rowCount, plan.committing);
        return { imported, rowCount };
      } catch (error) {
        await c.run('ROLLBACK').catch(() => {});
        throw error;
      }
    }
    await c.run('ROLLBACK').catch(() => {});
    if (unique) throw upsertError;
  } else {
    try {
      return await inTransaction(c, async () => {
        const { keyDeferred } = incremental ? { keyDeferred: false } : await emptyTable(c, alias, table, { deferKey: true });
        const imported = (await c.run(insertDirect)).rowsChanged;
        if (keyDeferred) await addKey(c, alias, primaryKey);
        return { imported, rowCount: incremental ? await countRows(c, data) : imported };
      }, plan);
    } catch (error) {
      if (!primaryKey.length || !DUPLICATE_KEY.test((error as Error).message)) throw error;
    }
  }
  const stage = `import_stage_${alias}`;
  const staged = `temp.main.${quoteIdent(stage)}`;
  await c.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(stage)} AS ${source}`);
  try {
    const total = imported ?? (await countRows(c, staged));
    const lastPerKey = `SELECT ${list} FROM ${staged} QUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY rowid DESC) = 1`;
    return await inTransaction(c, async () => {
      if (!incremental) {
        const { keyDeferred } = await emptyTable(c, alias, table, { deferKey: true });
        const inserted = (await c.run(`INSERT INTO ${data} (${list}) ${lastPerKey}`)).rowsChanged;
        if (keyDeferred) await addKey(c, alias, primaryKey);
        return { imported: total, rowCount: inserted };
      }
      await c.run(`INSERT INTO ${data} (${list}) ${lastPerKey} ${onConflict}`);
      return { imported: total, rowCount: await countRows(c, data) };
    }, plan);
  } finally {
    await c.run(`DROP TABLE IF EXISTS ${staged}`).catch(() => {});
  }
}

/**
 * Imports a staged file into a table (§8): reads the file's columns, matches them to the
 * table's, and loads the rows under the table's write lock in one transaction, then
 * records the new row count in the catalog. A row that does not convert or violates a
 * constraint fails the whole import with 400 `import_failed`; the table is left as it was.
 */
export async function importFile(
  deps: ImportDeps,
  attach: (path: string) => Promise<string>,
  table: TableRecord,
  stagedPath: string,
  spec: ImportSpec,
  hooks: ImportHooks = {},
): Promise<{ importedRows: number; table: TableRecord; alreadyApplied?: boolean }> {
  const fail = (error: unknown): never => {
    if (error instanceof Error && !(error instanceof HttpError) && DATA_ERROR.test(error.message)) {
      throw importFailure(error, stagedPath, deps.paths.dataDir);
    }
    throw error;
  };
  const readColumns = (record: TableRecord) => deps.db.with((c) => fileColumns(c, stagedPath, spec, record)).catch(fail);
  const names = await readColumns(table);
  // Re-read under the lock: the table may have been deleted or re-created while the body was uploading.
  return withTableWrite(deps, table, async (current, path) => {
    // NDJSON keys were looked for among the columns as they were; read again if they changed.
    const sameColumns = current.columns.map((column) => column.name).join('\0') === table.columns.map((column) => column.name).join('\0');
    const columns = matchColumns(current, spec.format === 'ndjson' && !sameColumns ? await readColumns(current) : names);
    const present = new Set(columns.map((m) => m.column.name.toLowerCase()));
    const missingKey = current.primaryKey.filter((k) => !present.has(k.toLowerCase()));
    if (columns.length && missingKey.length) {
      throw importFailed(`The file lacks primary key column(s) ${missingKey.join(', ')}`, { missing_columns: missingKey });
    }
    const alias = await attach(path);
    if (hooks.mark) {
      const applied = await deps.db.with((c) => appliedMark(c, alias, hooks.mark!));
      if (applied !== undefined) return { importedRows: applied, table: current, alreadyApplied: true };
    }
    hooks.signal?.throwIfAborted();
    const data = `${quoteIdent(alias)}.main.data`;
    const plan: LoadPlan = {
      data,
      table: current,
      columns,
      primaryKey: current.primaryKey,
      incremental: spec.incremental,
      source: columns.length ? sourceSelect(stagedPath, spec, columns) : '',
      beforeCommit: hooks.signal || hooks.mark ? markBeforeCommit(data, hooks) : undefined,
    };
    // Main's row count commits beside the file (a branch's table record is written after it).
    let recorded = false;
    if (!isDevBranch(current.branch)) {
      plan.committing = async (rowCount) => {
        const pending = await deps.catalog.beginRowCount(current, rowCount);
        const show = () => {
          pending.show();
          recorded = true;
        };
        return { ...pending, show };
      };
    }
    // Taken under the write lock, before the rows change; dropped again if the load fails.
    const snapshot = spec.incremental ? null : await hooks.beforeFullLoad?.(current);
    const { imported, rowCount } = await watched(deps.db, hooks, (c) => load(deps.db, c, alias, plan))
      .catch(async (error: unknown) => {
        await snapshot?.discard();
        // A strict conversion does not know the line; where DuckDB's own reader also
        // refuses a value (text that is no number at all, an integer out of range), its
        // error names the line, so that one is reported instead.
        if (spec.format !== 'parquet' && error instanceof Error && STRICT_FAILURE.test(error.message)) {
          const readerError = await deps.db
            // count(column), not count(*): every value must be parsed.
            .with((c) => c.run(`SELECT ${columns.map((m) => `count(${quoteIdent(m.column.name)})`).join(', ')} FROM (${sourceSelect(stagedPath, spec, columns, false)})`))
            .then(() => undefined, (e: unknown) => e);
          if (readerError instanceof Error && DATA_ERROR.test(readerError.message) && /line/i.test(readerError.message)) {
            const strict = importFailure(error, stagedPath, deps.paths.dataDir);
            const reader = importFailure(readerError, stagedPath, deps.paths.dataDir);
            throw importFailed(reader.message, { column: strict.details?.column, ...reader.details });
          }
        }
        return fail(error);
      });
    if (!recorded) await saveRowCount(deps, current, rowCount);
    return { importedRows: imported, table: storedTable(deps, current) ?? { ...current, rowCount } };
  }, hooks.signal);
}

// ---- hooks of asynchronous jobs ------------------------------------------------------

const MARK_ROWS = /;imported_rows=(\d+)$/;

/** The imported row count recorded with `mark`, when the table's comment carries it. */
async function appliedMark(c: DuckDBConnection, alias: string, mark: string): Promise<number | undefined> {
  // A short autocommit read: it ends before the load's transaction begins.
  const rows = await c.runAndReadAll(`SELECT comment FROM duckdb_tables() WHERE database_name = $1 AND schema_name = 'main' AND table_name = 'data'`, [alias]);
  const comment = rows.getRows()[0]?.[0];
  if (typeof comment !== 'string' || !comment.startsWith(`${mark};`)) return undefined;
  return Number(MARK_ROWS.exec(comment)?.[1] ?? 0);
}

/** Refuses to commit once aborted; otherwise writes the mark into the table file with the rows. */
function markBeforeCommit(data: string, hooks: ImportHooks): BeforeCommit {
  return async (c, imported) => {
    hooks.signal?.throwIfAborted();
    if (hooks.mark) await c.run(`COMMENT ON TABLE ${data} IS ${quoteLiteral(`${hooks.mark};imported_rows=${imported}`)}`);
  };
}

/**
 * Runs the load on a connection of its own with the job's hooks: an abort interrupts the
 * statement running on it, and DuckDB's progress (the share of the file read) is reported
 * every 200 ms. An interrupted connection is closed, not reused: DuckDB may still hold the
 * table file through it for a moment, and the next ATTACH of that file would conflict.
 */
async function watched<T>(db: Database, hooks: ImportHooks, work: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  if (!hooks.signal && !hooks.onProgress) return db.with(work);
  const c = await db.acquire();
  const interrupt = () => c.interrupt();
  hooks.signal?.addEventListener('abort', interrupt, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    if (hooks.onProgress) {
      await c.run('SET enable_progress_bar = true; SET enable_progress_bar_print = false; SET progress_bar_time = 0');
      timer = setInterval(() => {
        const { percentage } = c.progress;
        if (percentage >= 0) hooks.onProgress!(Math.min(1, percentage / 100));
      }, 200);
    }
    return await work(c);
  } finally {
    clearInterval(timer);
    hooks.signal?.removeEventListener('abort', interrupt);
    const interrupted = hooks.signal?.aborted ?? false;
    if (interrupted) await c.run('ROLLBACK').catch(() => {});
    else if (hooks.onProgress) await c.run('RESET enable_progress_bar; RESET enable_progress_bar_print; RESET progress_bar_time').catch(() => {});
    db.release(c, interrupted);
  }
}
