import { close, closeSync, existsSync, openSync, readSync, unlinkSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { DuckDBConnection, DuckDBResult, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { ChunkPool, recycling } from '../http/recycle.ts';
import type { Database } from './db.ts';
import { selectSql, type ReadPlan } from './filters.ts';
import type { StoragePaths } from './paths.ts';
import { quoteIdent, quoteLiteral } from './sql.ts';
import { normalizeType } from './types.ts';
import { toJsonValue } from './values.ts';

export const EXPORT_FORMATS = ['csv', 'ndjson', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const MEDIA_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson',
  parquet: 'application/vnd.apache.parquet',
};

/** Bytes read from a staging file per chunk handed to the response. */
const FILE_CHUNK = 256 * 1024;
/** How long to wait for COPY to write more when the reader has caught up with it. */
const TAIL_WAIT_MS = 5;

/**
 * Response headers of an export. A gzipped export is a `.gz` file (`application/gzip`),
 * not a transfer encoding: no `Content-Encoding`, so clients save it as it is.
 */
export function exportHeaders(tableName: string, format: ExportFormat, gzip: boolean): Record<string, string> {
  const filename = `${tableName}.${format}${gzip ? '.gz' : ''}`;
  return {
    'content-type': gzip ? 'application/gzip' : MEDIA_TYPES[format],
    'content-disposition': `attachment; filename="${filename}"`,
    'cache-control': 'no-store',
  };
}

export interface ExportJob {
  /** The qualified table to read (`"t3".main.data`). */
  data: string;
  plan: ReadPlan;
  limit?: number;
  format: ExportFormat;
  gzip: boolean;
  /**
   * The table's file, and a function that takes the table's read lock if nobody writes the
   * table or waits to (writers then wait until it is released), or returns undefined when it
   * is not free at once. Without them, an export is one COPY in the main instance instead
   * of parts written side by side.
   */
  table?: { file: string; readLock: () => (() => void) | undefined };
}

export interface ExportHooks {
  /** Gives the table attachment back; called exactly once, as soon as the rows are read. */
  release: () => void;
  /** Aborted when the client goes away: the query is interrupted and everything released. */
  signal?: AbortSignal;
  /** A failure after the response started (the body then ends in an error). */
  onError?: (error: unknown) => void;
  /** Rows read out of the table (in batches), for the metrics. */
  onRows?: (count: number) => void;
  /**
   * How the export is produced (for the request log): `parts` (split COPY), `attached` (one
   * COPY in the export instance), `copy` (one COPY in the main instance), `rows` (streamed
   * rows mapped in JS).
   */
  onMethod?: (method: ExportMethod) => void;
}

export type ExportMethod = 'parts' | 'attached' | 'copy' | 'rows';

interface ExportDeps {
  db: Database;
  paths: StoragePaths;
}

/** The producing side of an export: yields byte chunks, and can be stopped at any moment. */
abstract class ExportSource {
  /** Set once the export is over, finished or not. */
  closed = false;
  /** Set when the export was stopped before its end (client gone, stream cancelled). */
  cancelled = false;
  /** One connection per lane: a lane runs one DuckDB call at a time, lanes run side by side. */
  private readonly connections = new Map<number, DuckDBConnection>();
  /** The call each lane is running, so that a cancel can interrupt it and wait for it. */
  private readonly pending = new Map<number, Promise<unknown>>();
  /** Lanes interrupted or left with an unread result: their connections are not reused. */
  private readonly broken = new Set<number>();
  private closing?: Promise<void>;
  private tableReleased = false;
  /** Where the connections come from: the main instance unless a source picks another. */
  protected db: Database;
  /** Read buffers; a writer that knows when a chunk has left the process gives them back (`recycle`). */
  protected pool?: ChunkPool;

  constructor(
    protected readonly deps: ExportDeps,
    protected readonly job: ExportJob,
    protected readonly hooks: ExportHooks,
  ) {
    this.db = deps.db;
  }

  /** The next chunk, or null at the end. */
  abstract next(): Promise<Uint8Array | null>;

  /** A chunk of this source whose bytes are written out: its buffer may be read into again. */
  recycle(chunk: Uint8Array): void {
    this.pool?.give(chunk);
  }

  /**
   * The first `bytes` of a pooled `buffer` as a chunk: the buffer itself when full, a view of
   * it when mostly full; a short tail is copied out (the buffer goes back to the pool at once),
   * so that a reader that keeps chunks never pins a whole buffer for a few bytes.
   */
  protected chunkOf(buffer: Buffer, bytes: number): Buffer {
    if (bytes === buffer.length) return buffer;
    if (bytes >= buffer.length / 4) return buffer.subarray(0, bytes);
    const copy = Buffer.from(buffer.subarray(0, bytes));
    this.pool?.give(buffer);
    return copy;
  }

  /** Frees what the source itself opened (files). */
  protected abstract dispose(): Promise<void>;

  /** Runs one DuckDB call on a lane's connection, remembered so that a cancel can interrupt it and wait for it. */
  protected async duck<T>(work: (c: DuckDBConnection) => Promise<T>, lane = 0): Promise<T> {
    if (this.closed) throw new Error('export closed');
    let connection = this.connections.get(lane);
    if (!connection) {
      connection = await this.db.acquire();
      if (this.closed) {
        this.db.release(connection);
        throw new Error('export closed');
      }
      this.connections.set(lane, connection);
    }
    return this.track(lane, work(connection));
  }

  /** Remembers a lane's running call until it ends (a cancel interrupts it and waits; its connection is given back only after it). */
  private async track<T>(lane: number, call: Promise<T>): Promise<T> {
    this.pending.set(lane, call);
    try {
      return await call;
    } finally {
      this.pending.delete(lane);
    }
  }

  /**
   * The table is no longer read: its connections and attachment go back at once. A lane
   * whose call is still running gives its connection back when that call has ended: a
   * connection closed (a broken one) under a running statement is freed while DuckDB still
   * uses it, which corrupted the heap in a stress run of cancelled exports.
   */
  protected doneWithTable(): void {
    for (const [lane, connection] of this.connections) {
      const broken = this.broken.has(lane);
      const running = this.pending.get(lane);
      if (running) void running.then(
        () => this.db.release(connection, broken),
        () => this.db.release(connection, broken),
      );
      else this.db.release(connection, broken);
    }
    this.connections.clear();
    if (!this.tableReleased) {
      this.tableReleased = true;
      this.hooks.release();
    }
  }

  /** Ends the export; with `cancel`, running queries are interrupted first. Idempotent. */
  close(cancel: boolean): Promise<void> {
    if (cancel && !this.closed) this.cancelled = true;
    this.closed = true;
    return (this.closing ??= (async () => {
      const running = [...this.pending];
      for (const [lane] of running) {
        this.broken.add(lane);
        this.connections.get(lane)?.interrupt();
      }
      await Promise.all(running.map(([, call]) => call.catch(() => {})));
      await this.dispose().catch(() => {});
      // A streaming result left unread keeps its transaction open, and with it the table's
      // file: detached, it could not be attached again (500 on the next request for it)
      // until the result was garbage-collected. Closing the connection does not end it; a
      // new statement on the connection does.
      for (const [lane, connection] of this.connections) {
        if (this.cancelled) this.broken.add(lane);
        if (this.broken.has(lane)) await this.track(lane, connection.run('SELECT 1')).catch(() => {});
      }
      await this.afterQueries().catch(() => {});
      // A connection interrupted mid-query (or left with an unread result) is not reused.
      this.doneWithTable();
    })());
  }

  /** The table file's alias in the export instance, once attached there. */
  private alias?: string;
  private detached?: Promise<void>;

  /**
   * Attaches the table file READ_ONLY to the export instance (`Database.exporter`), whose
   * connections this source then uses; returns its alias there and the qualified table.
   */
  protected async attachToExporter(file: string, kind: 'parts' | 'whole'): Promise<{ alias: string; data: string }> {
    this.db = await this.deps.db.exporter(kind);
    const alias = this.db.nextAlias();
    await this.duck((c) => c.run(`ATTACH ${quoteLiteral(file)} AS ${quoteIdent(alias)} (READ_ONLY)`));
    this.alias = alias;
    return { alias, data: `${quoteIdent(alias)}.main.data` };
  }

  /** Runs after the last query, before the connections and the table are given back: detaches the file from the export instance (once). */
  protected afterQueries(): Promise<void> {
    const alias = this.alias;
    if (!alias) return Promise.resolve();
    return (this.detached ??= this.db.with((c) => c.run(`DETACH ${quoteIdent(alias)}`)).then(() => {}));
  }
}

/**
 * CSV, Parquet and NDJSON of plain types: DuckDB's own writer (`COPY … TO`) fills a staging file, which is
 * streamed while it grows (DuckDB appends to it in order), so sending overlaps writing.
 * The table is released as soon as COPY is done, and the staging file unlinked then (the
 * open handle keeps the bytes), so a slow download leaves nothing behind on disk.
 */
class CopySource extends ExportSource {
  private file?: FileHandle;
  private staging?: string;
  private copy?: Promise<void>;
  private copied = false;
  protected override pool = new ChunkPool(FILE_CHUNK);

  /**
   * With `tableFile` (a Parquet export while the table's read lock is held): the COPY runs
   * in the export instance on the file attached READ_ONLY there, in stored order (the
   * session setting), so that what it caches and buffers is bounded by that instance's
   * memory limit and threads instead of the main instance's.
   */
  constructor(deps: ExportDeps, job: ExportJob, hooks: ExportHooks, private readonly tableFile?: string) {
    super(deps, job, hooks);
  }

  async next(): Promise<Uint8Array | null> {
    if (!this.copy) this.startCopy();
    if (!this.file) {
      this.file = await this.openStaging();
      if (!this.file) return null;
    }
    for (;;) {
      const finished = this.copied;
      if (finished && this.staging) {
        await rm(this.staging, { force: true });
        this.staging = undefined;
      }
      const buffer = this.pool.take();
      const { bytesRead } = await this.file.read(buffer, 0, FILE_CHUNK, null);
      if (bytesRead && !this.closed) return this.chunkOf(buffer, bytesRead);
      this.pool.give(buffer);
      if (this.closed) return null;
      // At the end of what is written: the end of the export only once COPY had finished before the read.
      if (finished) return null;
      await this.moreData();
    }
  }

  private startCopy(): void {
    const staging = this.deps.paths.stagingFile(this.deps.paths.stagingName('export', this.job.format));
    this.staging = staging;
    // DuckDB's CSV writer already follows the contract: NULL is an empty unquoted field,
    // an empty string is `""`, fields with a delimiter, quote or newline are quoted.
    // Its JSON writer writes one compact object per line, NULLs included.
    const format = COPY_FORMATS[this.job.format];
    const tableFile = this.tableFile;
    this.copy = (async () => {
      const data = tableFile ? (await this.attachToExporter(tableFile, 'whole')).data : this.job.data;
      const { sql, params } = copyQuery({ ...this.job, data });
      const result = await this.duck(async (c) => {
        // The export instance runs without it (its parts need not wait for each other);
        // this COPY keeps the stored order. Set back before the connection is used again
        // (explicitly: RESET would turn it on, DuckDB's default, not the instance's setting).
        if (tableFile) await c.run('SET SESSION preserve_insertion_order = true');
        const copied = await c.run(`COPY (${sql}) TO ${quoteLiteral(staging)} (${format}, USE_TMP_FILE false)`, params);
        if (tableFile) await c.run('SET SESSION preserve_insertion_order = false');
        return copied;
      });
      this.hooks.onRows?.(result.rowsChanged);
      this.copied = true;
      await this.afterQueries();
      // Closed meanwhile: close() gives the connections and the table back once its own
      // statements on them are done (closing a connection under a running call frees it
      // under DuckDB's feet).
      if (!this.closed) this.doneWithTable();
    })();
    // Awaited by next(); this keeps a failure seen only by close() from going unhandled.
    this.copy.catch(() => {});
  }

  /** Resolves when COPY may have written more (a short wait) or has finished; throws if it failed. */
  private moreData(): Promise<void> {
    return Promise.race([this.copy!, new Promise<void>((resolve) => setTimeout(resolve, TAIL_WAIT_MS))]);
  }

  /** Opens the staging file once COPY has created it. */
  private async openStaging(): Promise<FileHandle | undefined> {
    for (;;) {
      const finished = this.copied;
      const path = this.staging;
      try {
        if (!path) return undefined;
        const file = await open(path, 'r');
        if (!this.closed) return file;
        await file.close();
        return undefined;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || finished) throw error;
        if (this.closed) return undefined;
        await this.moreData();
      }
    }
  }

  protected async dispose(): Promise<void> {
    await this.file?.close().catch(() => {});
    this.file = undefined;
    if (this.staging) await rm(this.staging, { force: true });
    this.staging = undefined;
  }
}

/** Bytes read from a written part per chunk handed to the response. */
const PART_CHUNK = 1024 * 1024;
/** A table block (DuckDB's block size): what one COPY keeps pinned per column it reads, at most. */
const PINNED_PER_COLUMN = 256 * 1024;
/** Pinned blocks of one export's COPYs at most (fewer COPYs at once for a wide table). */
const MAX_PARTS_MEMORY = 240 * 1024 * 1024;
/** Room for COPY's own buffers and the blocks cached between reads, on top of the pinned ones. */
const PARTS_MEMORY_HEADROOM = 16 * 1024 * 1024;
/** Rows of the first part of a split export: few, so that its bytes go out early. */
const FIRST_PART_ROWS = 8_192;

interface Part {
  path: string;
  /** Row ids of the part, both ends included; none: every row (one part). */
  range?: [number, number];
  /** Settles when COPY has written the part (rejects with its failure). */
  written: Promise<void>;
  settle: (error?: unknown) => void;
}

/**
 * CSV and NDJSON of plain types without a sort or a limit, while the table's read lock is
 * free: the table file is attached READ_ONLY to the export instance (`Database.exporter`),
 * which runs without `preserve_insertion_order`, and each row group is written by a COPY of
 * its own into a part file, as many at once as DuckDB has threads; the parts are sent in
 * row group order, each as soon as it is written.
 *
 * Why: one COPY in the main instance keeps the stored order only by holding finished
 * batches back until every batch before them is written. On 1M rows it took 1.3–1.6× as
 * long as an unordered COPY, wrote its first byte after 55–130 ms and added 75–190 MB to
 * the process's memory (360 MB at 10M rows). One row group is one scan task, so a COPY of
 * one row group writes its rows in stored order even without the setting; the order between
 * row groups is the order of the parts (tests/export.test.ts checks the order across parts).
 *
 * The read lock (held from the start until the last part is written) keeps the main
 * instance from writing or checkpointing the file while the second instance reads it, so
 * every part sees the same rows; a file with a WAL (changes not checkpointed) takes the
 * one-COPY path instead. Then the attachment, the lock and the table are let go, and the
 * remaining parts are sent from disk at the client's pace.
 */
class RangedCopySource extends ExportSource {
  private parts?: Part[];
  private starting?: Promise<void>;
  private current = 0;
  /** The part being sent. */
  private fd?: number;
  private readonly base: string;
  protected override pool = new ChunkPool(PART_CHUNK);
  /** COPYs of parts running at once. */
  private lanes = 1;
  /** Gives back the memory this export asked the export instance for. */
  private giveBackMemory?: () => Promise<void>;

  constructor(
    deps: ExportDeps,
    job: ExportJob,
    hooks: ExportHooks,
    private readonly tableFile: string,
  ) {
    super(deps, job, hooks);
    this.base = deps.paths.stagingName('export', job.format);
  }

  async next(): Promise<Uint8Array | null> {
    await (this.starting ??= this.start());
    const parts = this.parts!;
    for (;;) {
      if (this.closed) return null;
      if (this.fd === undefined) {
        const part = parts[this.current];
        if (!part) return null;
        await part.written;
        if (this.closed) return null;
        this.fd = openSync(part.path, 'r');
        // Unlinked at once: the open descriptor keeps the bytes, and nothing is left behind on disk.
        unlinkSync(part.path);
      }
      // Read synchronously (a written part is in the page cache): the asynchronous reads
      // would queue in libuv's thread pool behind the COPY calls that occupy it.
      const buffer = this.pool.take();
      const bytesRead = readSync(this.fd, buffer, 0, PART_CHUNK, null);
      if (bytesRead) return this.chunkOf(buffer, bytesRead);
      this.pool.give(buffer);
      // Closed in the thread pool: the last close of an unlinked part frees its pages, which
      // takes a while for a large part and need not hold up the next one.
      close(this.fd, () => {});
      this.fd = undefined;
      this.current++;
    }
  }

  /** Attaches the file to the export instance, plans the parts (one per row group) and starts writing them. */
  private async start(): Promise<void> {
    const { alias, data } = await this.attachToExporter(this.tableFile, 'parts');
    const names = await this.duck(async (c) => (await c.runAndReadAll(`SELECT * FROM ${data} LIMIT 0`)).columnNames());
    // Each COPY keeps a block of every column it reads pinned: as many COPYs at once as fit,
    // and the instance's memory limit raised for them while this export runs.
    const perLane = names.length * PINNED_PER_COLUMN;
    this.lanes = Math.max(1, Math.min(this.db.exportLanes, Math.floor(MAX_PARTS_MEMORY / perLane)));
    this.giveBackMemory = await this.db.demand(this.lanes * perLane + PARTS_MEMORY_HEADROOM);
    // Closed meanwhile: its clean-up has run already, without this to give back.
    if (this.closed) {
      await this.giveBackMemory();
      throw new Error('export closed');
    }
    const groups = await this.duck(async (c) => {
      // A column of the table named rowid hides DuckDB's row id: then the export is one part.
      if (names.some((name) => name.toLowerCase() === 'rowid')) return undefined;
      // Row groups cover the row ids without gaps, in order (deleted rows keep theirs).
      const found = await c.runAndReadAll(
        `SELECT row_group_id, sum(count) FROM pragma_storage_info(${quoteLiteral(`${alias}.main.data`)}) WHERE column_id = 0 AND column_path = '[0]' GROUP BY row_group_id ORDER BY row_group_id`,
      );
      return found.getRows().map((row) => Number(row[1]));
    });
    const ranges: ([number, number] | undefined)[] = [];
    if (groups === undefined || groups.length === 0) ranges.push(undefined);
    else {
      let start = 0;
      for (const count of groups) {
        // The first row group in two: its first rows make the first bytes of the response.
        if (start === 0 && count > 2 * FIRST_PART_ROWS) {
          ranges.push([0, FIRST_PART_ROWS - 1]);
          ranges.push([FIRST_PART_ROWS, count - 1]);
        } else ranges.push([start, start + count - 1]);
        start += count;
      }
    }
    const parts = ranges.map((range, i): Part => {
      let settle!: (error?: unknown) => void;
      const written = new Promise<void>((resolve, reject) => (settle = (error) => (error === undefined ? resolve() : reject(error))));
      // Awaited in turn by next(); a failure of a later part must not go unhandled meanwhile.
      written.catch(() => {});
      return { path: this.deps.paths.stagingFile(`${this.base}.${i}`), range, written, settle };
    });
    this.parts = parts;
    let taken = 0;
    let failed: unknown;
    const worker = async (lane: number) => {
      for (let i = taken++; i < parts.length && failed === undefined && !this.closed; i = taken++) {
        const { sql, params } = this.partCopy(data, i);
        try {
          const result = await this.duck((c) => c.run(sql, params), lane);
          this.hooks.onRows?.(result.rowsChanged);
          parts[i]!.settle();
        } catch (error) {
          failed ??= error;
          parts[i]!.settle(error);
        }
      }
    };
    const workers = Array.from({ length: Math.min(this.lanes, parts.length) }, (_, lane) => worker(lane));
    void Promise.all(workers).then(async () => {
      // Parts never started (after a failure, or the export closed) fail their readers too.
      for (const part of parts) part.settle(failed ?? new Error('export closed'));
      if (this.closed) return;
      await this.afterQueries().catch(() => {});
      if (!this.closed) this.doneWithTable();
    });
  }

  /** The COPY of part `i` from `data`. */
  private partCopy(data: string, i: number): { sql: string; params: DuckDBValue[] } {
    const { path, range } = this.parts![i]!;
    // The bounds are integers counted here from DuckDB's answer, not input.
    const rows = range ? `(SELECT * FROM ${data} WHERE rowid BETWEEN ${range[0]} AND ${range[1]})` : data;
    const { sql, params } = copyQuery({ ...this.job, data: rows });
    const options = i === 0 ? COPY_FORMATS[this.job.format] : COPY_FORMATS_NO_HEADER[this.job.format];
    return { sql: `COPY (${sql}) TO ${quoteLiteral(path)} (${options}, USE_TMP_FILE false)`, params };
  }

  /** Detaches the file (the base class), then gives back the memory asked for. */
  protected override async afterQueries(): Promise<void> {
    try {
      await super.afterQueries();
    } finally {
      await this.giveBackMemory?.();
    }
  }

  protected async dispose(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    await Promise.all((this.parts ?? []).map((part) => rm(part.path, { force: true })));
  }
}

const COPY_FORMATS: Record<ExportFormat, string> = {
  csv: 'FORMAT csv, HEADER true, DELIMITER \',\', QUOTE \'"\', ESCAPE \'"\'',
  ndjson: 'FORMAT json',
  parquet: 'FORMAT parquet',
};

/** The parts after the first of a split export: the CSV header is in the first part only. */
const COPY_FORMATS_NO_HEADER: Record<ExportFormat, string> = { ...COPY_FORMATS, csv: COPY_FORMATS.csv.replace('HEADER true', 'HEADER false') };

/** Integers beyond ±(2^53 − 1) are strings in §7 JSON: a JSON number could not hold them exactly. */
const wideInteger = (x: string) => `CASE WHEN ${x} BETWEEN -9007199254740991 AND 9007199254740991 THEN to_json(${x}) ELSE to_json(${x}::VARCHAR) END`;

/**
 * The §7 value mapping as a SQL expression of column `x`, for the types where DuckDB's JSON
 * writer then prints exactly what `toJsonValue` does; undefined for the others (floating
 * point numbers print differently, JSON text is parsed, timestamps with time zone depend
 * on the session, nested values map their children), which take the streamed path.
 */
function jsonExpression(type: string, x: string): string | undefined {
  const normalized = normalizeType(type) ?? type.trim().toUpperCase();
  if (/^DECIMAL\(\d+,\s*\d+\)$/.test(normalized)) return `${x}::VARCHAR`;
  switch (normalized) {
    case 'BOOLEAN':
    case 'TINYINT':
    case 'SMALLINT':
    case 'INTEGER':
    case 'UTINYINT':
    case 'USMALLINT':
    case 'UINTEGER':
    case 'VARCHAR':
      return x;
    case 'BIGINT':
    case 'UBIGINT':
    case 'HUGEINT':
    case 'UHUGEINT':
      return wideInteger(x);
    case 'DATE':
    case 'TIME':
    case 'UUID':
      return `${x}::VARCHAR`;
    case 'TIMESTAMP':
      // The date and the time joined by `T` are the VARCHAR text with its space replaced, for
      // years 1 to 9999 (checked over 2.2M random values), at under half of replace()'s
      // extra cost: a 1M-row NDJSON COPY of four columns took ~440 ms of CPU with replace()
      // against ~375 ms for DuckDB's plain JSON of the same rows, ~405 ms with this.
      return `CASE WHEN ${x} BETWEEN TIMESTAMP '0001-01-01' AND TIMESTAMP '9999-12-31 23:59:59.999999' THEN concat(${x}::DATE, 'T', ${x}::TIME) ELSE replace(${x}::VARCHAR, ' ', 'T') END`;
    default:
      return undefined;
  }
}

/** Whether DuckDB's own JSON writer can produce this NDJSON export (every column mapped in SQL). */
export function ndjsonByCopy(plan: ReadPlan): boolean {
  return plan.columns.every((column) => jsonExpression(column.type, 'x') !== undefined);
}

/** The query COPY writes: the export's rows, and for NDJSON each value mapped by §7 in SQL. */
function copyQuery(job: ExportJob): { sql: string; params: DuckDBValue[] } {
  const select = selectSql(job.data, job.plan, job.limit);
  if (job.format !== 'ndjson') return select;
  // Mapped outside the query that filters and sorts, so the sort sees the stored values.
  const list = job.plan.columns.map((column) => `${jsonExpression(column.type, `q.${quoteIdent(column.name)}`)} AS ${quoteIdent(column.name)}`).join(', ');
  return { sql: `SELECT ${list} FROM (${select.sql}) q`, params: select.params };
}

/** NDJSON of other types: the query's result is streamed chunk by chunk and mapped by the §7 rules. */
class NdjsonSource extends ExportSource {
  private result?: DuckDBResult;
  private prefixes: string[] = [];
  private types: DuckDBType[] = [];

  async next(): Promise<Uint8Array | null> {
    if (!this.result) {
      const { sql, params } = selectSql(this.job.data, this.job.plan, this.job.limit);
      this.result = await this.duck((c) => c.stream(sql, params));
      this.prefixes = this.result.columnNames().map((name, i) => `${i ? ',' : '{'}${JSON.stringify(name)}:`);
      this.types = this.result.columnTypes();
    }
    const result = this.result;
    const chunk = await this.duck(() => result.fetchChunk());
    if (!chunk || chunk.rowCount === 0) {
      this.result = undefined;
      await this.close(false);
      return null;
    }
    const { prefixes, types } = this;
    this.hooks.onRows?.(chunk.rowCount);
    let text = '';
    for (const row of chunk.getRows()) {
      for (let i = 0; i < prefixes.length; i++) text += prefixes[i]! + JSON.stringify(toJsonValue(row[i]!, types[i]));
      text += '}\n';
    }
    return Buffer.from(text);
  }

  protected async dispose(): Promise<void> {
    this.result = undefined;
  }
}

/** The widest Parquet export written in the export instance (a row group, 122,880 rows, of 64 8-byte columns is 63 MB). */
const MAX_ATTACHED_PARQUET_COLUMNS = 64;

/** The way an export is produced: split into parts where it can be, else one COPY (or the streamed NDJSON mapping). */
function exportSource(deps: ExportDeps, job: ExportJob, hooks: ExportHooks): ExportSource {
  if (job.format === 'ndjson' && !ndjsonByCopy(job.plan)) {
    hooks.onMethod?.('rows');
    return new NdjsonSource(deps, job, hooks);
  }
  // A sort or a limit spans the whole table: one COPY in the main instance. So is a wide
  // Parquet export: its writer buffers a row group per thread, which must fit the export
  // instance's memory (it does not spill to disk).
  const parquetFits = job.format !== 'parquet' || job.plan.columns.length <= MAX_ATTACHED_PARQUET_COLUMNS;
  if (!job.plan.orderBy && job.limit === undefined && parquetFits) {
    // Without the table's read lock (a write is under way or waiting), the export does not
    // wait: one COPY reads the table as of one moment on its own.
    const unlock = job.table && !existsSync(`${job.table.file}.wal`) ? job.table.readLock() : undefined;
    if (unlock) {
      const release = () => {
        unlock();
        hooks.release();
      };
      // Parquet is one file (parts cannot be joined): one COPY, in the export instance.
      if (job.format === 'parquet') {
        hooks.onMethod?.('attached');
        return new CopySource(deps, job, { ...hooks, release }, job.table!.file);
      }
      hooks.onMethod?.('parts');
      return new RangedCopySource(deps, job, { ...hooks, release }, job.table!.file);
    }
  }
  hooks.onMethod?.('copy');
  return new CopySource(deps, job, hooks);
}

/**
 * Starts an export and resolves with the response body once its first chunk is ready (or it
 * is empty), so a failure before any byte is an ordinary error response rather than a broken
 * stream. Memory stays bounded: chunks are produced only when the consumer pulls. Whatever
 * ends the stream (its end, an error, a cancel, the client going away), the query is
 * stopped and the table released through `hooks.release`.
 */
export async function openExport(deps: ExportDeps, job: ExportJob, hooks: ExportHooks): Promise<ReadableStream<Uint8Array>> {
  const source = exportSource(deps, job, hooks);
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let started = false;
  let first!: { resolve: () => void; reject: (error: unknown) => void };
  const ready = new Promise<void>((resolve, reject) => (first = { resolve, reject }));
  const settle = (error?: unknown) => {
    try {
      if (error !== undefined) controller.error(error);
      else controller.close();
    } catch {
      /* cancelled or settled already */
    }
  };
  // The client went away: stop the query and end the body. Not with an error: nobody reads
  // it any more, and the node adapter's own cancel of an errored body would go unhandled.
  const onAbort = () => {
    settle();
    // Gone before the first chunk (already before the start): no pull comes any more to give
    // the answer, which left the caller (a job, holding its cancel) waiting for good.
    first.resolve();
    void source.close(true);
  };
  const stopListening = () => hooks.signal?.removeEventListener('abort', onAbort);
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    async pull() {
      const isFirst = !started;
      started = true;
      let chunk: Uint8Array | null;
      try {
        chunk = await source.next();
      } catch (error) {
        stopListening();
        const cancelled = source.cancelled;
        await source.close(true);
        // Before the first byte, a failure becomes the handler's error response; a stop
        // asked for by the client just ends the body.
        if (isFirst && !cancelled) first.reject(error);
        else {
          if (!cancelled) hooks.onError?.(error);
          settle(cancelled ? undefined : error);
          first.resolve();
        }
        return;
      }
      if (chunk && !source.closed) controller.enqueue(chunk);
      else {
        stopListening();
        settle();
        await source.close(false);
      }
      if (isFirst) first.resolve();
    },
    cancel() {
      stopListening();
      return source.close(true);
    },
  });
  // The client may be gone already (it hung up while the request was validated).
  if (hooks.signal?.aborted) onAbort();
  else hooks.signal?.addEventListener('abort', onAbort, { once: true });
  await ready;
  // CompressionStream takes any BufferSource in, which the DOM typings do not relate to Uint8Array.
  return job.gzip ? stream.pipeThrough(new CompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>) : recycling(stream, (chunk) => source.recycle(chunk));
}
