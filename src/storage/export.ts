import { open, rm, type FileHandle } from 'node:fs/promises';
import type { DuckDBConnection, DuckDBResult, DuckDBType } from '@duckdb/node-api';
import type { Database } from './db.ts';
import { selectSql, type ReadPlan } from './filters.ts';
import type { StoragePaths } from './paths.ts';
import { quoteLiteral } from './sql.ts';
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
}

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
  private connection?: DuckDBConnection;
  private pending?: Promise<unknown>;
  private closing?: Promise<void>;
  private tableReleased = false;

  constructor(
    protected readonly deps: ExportDeps,
    protected readonly job: ExportJob,
    protected readonly hooks: ExportHooks,
  ) {}

  /** The next chunk, or null at the end. */
  abstract next(): Promise<Uint8Array | null>;

  /** Frees what the source itself opened (files). */
  protected abstract dispose(): Promise<void>;

  /** Runs one DuckDB call, remembered so that a cancel can interrupt it and wait for it. */
  protected async duck<T>(work: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('export closed');
    if (!this.connection) {
      const connection = await this.deps.db.acquire();
      if (this.closed) {
        this.deps.db.release(connection);
        throw new Error('export closed');
      }
      this.connection = connection;
    }
    const call = work(this.connection);
    this.pending = call;
    try {
      return await call;
    } finally {
      this.pending = undefined;
    }
  }

  /** The table is no longer read: its connection and attachment go back at once. */
  protected doneWithTable(broken = false): void {
    if (this.connection) {
      this.deps.db.release(this.connection, broken);
      this.connection = undefined;
    }
    if (!this.tableReleased) {
      this.tableReleased = true;
      this.hooks.release();
    }
  }

  /** Ends the export; with `cancel`, a running query is interrupted first. Idempotent. */
  close(cancel: boolean): Promise<void> {
    if (cancel && !this.closed) this.cancelled = true;
    this.closed = true;
    return (this.closing ??= (async () => {
      const broken = this.pending !== undefined;
      if (this.pending) {
        this.connection?.interrupt();
        await this.pending.catch(() => {});
      }
      await this.dispose().catch(() => {});
      // A streaming result left unread keeps its transaction open, and with it the table's
      // file: detached, it could not be attached again (500 on the next request for it)
      // until the result was garbage-collected. Closing the connection does not end it; a
      // new statement on the connection does.
      if (this.connection && (broken || this.cancelled)) await this.connection.run('SELECT 1').catch(() => {});
      // A connection interrupted mid-query (or left with an unread result) is not reused.
      this.doneWithTable(broken || this.cancelled);
    })());
  }
}

/**
 * CSV and Parquet: DuckDB's own writer (`COPY … TO`) fills a staging file, which is
 * streamed while it grows (DuckDB appends to it in order), so sending overlaps writing.
 * The table is released as soon as COPY is done, and the staging file unlinked then (the
 * open handle keeps the bytes), so a slow download leaves nothing behind on disk.
 */
class CopySource extends ExportSource {
  private file?: FileHandle;
  private staging?: string;
  private copy?: Promise<void>;
  private copied = false;
  /** The read buffer, reused after short reads. */
  private spare?: Buffer;

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
      const buffer = (this.spare ??= Buffer.allocUnsafe(FILE_CHUNK));
      const { bytesRead } = await this.file.read(buffer, 0, FILE_CHUNK, null);
      if (this.closed) return null;
      // A full read hands the buffer over; a short one (the tail of a file COPY is still
      // writing) is copied out, so a few bytes never pin a whole chunk-sized buffer.
      if (bytesRead === FILE_CHUNK) {
        this.spare = undefined;
        return buffer;
      }
      if (bytesRead) return Buffer.from(buffer.subarray(0, bytesRead));
      // At the end of what is written: the end of the export only once COPY had finished before the read.
      if (finished) return null;
      await this.moreData();
    }
  }

  private startCopy(): void {
    const { sql, params } = selectSql(this.job.data, this.job.plan, this.job.limit);
    const staging = this.deps.paths.stagingFile(this.deps.paths.stagingName('export', this.job.format));
    this.staging = staging;
    // DuckDB's CSV writer already follows the contract: NULL is an empty unquoted field,
    // an empty string is `""`, fields with a delimiter, quote or newline are quoted.
    const format = this.job.format === 'csv' ? 'FORMAT csv, HEADER true, DELIMITER \',\', QUOTE \'"\', ESCAPE \'"\'' : 'FORMAT parquet';
    this.copy = this.duck((c) => c.run(`COPY (${sql}) TO ${quoteLiteral(staging)} (${format}, USE_TMP_FILE false)`, params)).then((result) => {
      this.hooks.onRows?.(result.rowsChanged);
      this.copied = true;
      this.doneWithTable();
    });
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

/** NDJSON: the query's result is streamed chunk by chunk and mapped by the §7 rules. */
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

/**
 * Starts an export and resolves with the response body once its first chunk is ready (or it
 * is empty), so a failure before any byte is an ordinary error response rather than a broken
 * stream. Memory stays bounded: chunks are produced only when the consumer pulls. Whatever
 * ends the stream (its end, an error, a cancel, the client going away), the query is
 * stopped and the table released through `hooks.release`.
 */
export async function openExport(deps: ExportDeps, job: ExportJob, hooks: ExportHooks): Promise<ReadableStream<Uint8Array>> {
  const source = job.format === 'ndjson' ? new NdjsonSource(deps, job, hooks) : new CopySource(deps, job, hooks);
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
  return job.gzip ? stream.pipeThrough(new CompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>) : stream;
}
