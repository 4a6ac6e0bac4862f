import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { DuckDBDataChunk, DuckDBResult, DuckDBType } from '@duckdb/node-api';
import { errors } from '../../http/errors.ts';
import type { Catalog } from '../catalog.ts';
import type { BranchCatalog } from '../catalog/branches.ts';
import { exportHeaders } from '../export.ts';
import type { StoragePaths } from '../paths.ts';
import { integerLiteral, quoteLiteral } from '../sql.ts';
import { jsonRow, type JsonValue } from '../values.ts';
import { checkPlan, GateError, READ_STATEMENTS } from './gate.ts';
import { backgroundResult, prepareOne, queryError, QueryTimer, readResult, type ColumnInfo } from './run.ts';
import { aliasIndex, type QuerySandbox, type SqlService, type TableLease } from './sandbox.ts';
import { visibleTables } from './scope.ts';

export const QUERY_FORMATS = ['json', 'csv', 'ndjson', 'parquet'] as const;
export type QueryFormat = (typeof QUERY_FORMATS)[number];

export interface QueryDeps {
  catalog: Catalog;
  branches: BranchCatalog;
  paths: StoragePaths;
  sql: SqlService;
}

export interface QueryInput {
  projectId: string;
  sql: string;
  limit: number;
  timeoutSeconds: number;
  format: QueryFormat;
  /** The buckets a restricted key may see (§11); null: every bucket of the project. */
  allowedBuckets: readonly string[] | null;
  /** §14: the branch whose view the query reads (absent: main). */
  branch?: string;
  /** Aborted when the client goes away: the query is stopped. */
  signal?: AbortSignal;
}

export type QueryOutput =
  | { kind: 'json'; body: { columns: ColumnInfo[]; rows: Record<string, JsonValue>[]; row_count: number; truncated: boolean; elapsed_ms: number } }
  | { kind: 'stream'; body: ReadableStream<Uint8Array>; headers: Record<string, string> };

/**
 * §17 `POST P/query`: checks the statement, takes the tables it names (their writers wait
 * meanwhile), and runs it in its own sandboxed instance under the timeout. JSON answers
 * are read whole (at most `limit` rows); the other formats stream, and whatever ends the
 * stream frees the sandbox, the tables and the concurrency slot.
 */
export async function runQuery(deps: QueryDeps, input: QueryInput): Promise<QueryOutput> {
  const { sql } = deps;
  const release = sql.tryAcquireSlot();
  if (!release) throw errors.tooManyQueries(deps.sql.maxQueries);
  const started = performance.now();
  let lease: TableLease | undefined;
  let sandbox: QuerySandbox | undefined;
  let timer: QueryTimer | undefined;
  let handedOver = false;
  /** Set once the query ran to its end: only then is its sandbox kept for another query. */
  let finished = false;
  /** Destroys the prepared statement, before the sandbox is given back or closed. */
  let dropPrepared: (() => void) | undefined;
  const cleanup = async () => {
    dropPrepared?.();
    timer?.stop();
    if (sandbox && finished && !timer?.fired) {
      // A query that ran to its end frees its slot at once; its sandbox is given back to the
      // pool meanwhile, off the answer's path (a query for the same tables waits for that
      // instead of opening another instance).
      release();
      await sandbox.recycle();
    } else sandbox?.close();
    await lease?.release();
    release();
  };
  const fail = (error: unknown) => {
    throw queryError(error, timer, (text) => sql.scrub(text));
  };
  /** Set when what runs is the rendering under a LIMIT (`underLimit`) rather than the caller's own text. */
  let wrapped = false;
  /** A fault while the statement ran; the wrapper's lines are told as the rendering's own. */
  const failRun = (error: unknown) => fail(wrapped ? renderingLines(error) : error);
  try {
    const visible = visibleTables(deps, input.projectId, input.allowedBuckets, input.branch);
    const checked = await sql.check(input.sql, visible.gateScope(sql.systemNames)).catch(fail);
    if (checked.explain && (input.format === 'csv' || input.format === 'parquet')) {
      throw errors.invalidQuery('EXPLAIN can be answered as json or ndjson only');
    }
    const seen = new Map<string, NonNullable<ReturnType<typeof visible.resolve>>>();
    for (const ref of checked.refs) {
      const table = visible.resolve(ref.schema, ref.table)!;
      seen.set(`${table.schema.toLowerCase()}\0${table.name.toLowerCase()}`, table);
    }
    ({ lease, sandbox } = await sql.openPooledQuerySandbox([...seen.values()]));
    const output = input.format === 'csv' || input.format === 'parquet' ? sandbox.output(input.format) : undefined;
    const connection = sandbox.connection;
    timer = new QueryTimer(connection, input.timeoutSeconds);
    const onAbort = () => timer?.interrupt();
    input.signal?.addEventListener('abort', onAbort, { once: true });
    if (input.signal?.aborted) timer.interrupt();
    try {
      // What runs: DuckDB's rendering of the checked tree under a LIMIT of at most `limit` (+1)
      // rows, since DuckDB ends a streamed result silently when a later chunk fails (as when
      // interrupted) and results are therefore materialized; an EXPLAIN's few rows as they
      // are. That very text is prepared, its bound plan checked, and the prepared statement
      // run (no second parse and bind). CSV and Parquet run it inside DuckDB's COPY below.
      const text =
        checked.explain || output
          ? input.sql
          : underLimit(await sql.canonical(checked.source), input.format === 'json' ? input.limit + 1 : input.limit);
      wrapped = text !== input.sql;
      const prepared = await prepareOne(connection, text).catch(async (error) => {
        // A fault of the statement is told in the caller's own words, not in the rendering's.
        if (text !== input.sql) await prepareOne(connection, input.sql).then((own) => own.destroySync(), fail);
        return fail(error);
      });
      if (!READ_STATEMENTS.has(prepared.statementType)) throw errors.invalidQuery('Only SELECT-like statements and EXPLAIN of them are allowed');
      // The bound plan, views expanded, calls nothing but what the allow-list has.
      await checkPlan(connection, text, { storageIndex: aliasIndex, localCatalogs: new Set(), gate: visible.gateScope(sql.systemNames) }, false).catch(fail);
      if (timer.fired) fail(new Error('interrupted'));
      // Destroyed once started (its pending result keeps what it needs), and on every other way
      // out: a prepared statement still alive holds the attached files, whose DETACH then fails
      // and the sandbox could not be kept.
      let destroyed = false;
      dropPrepared = () => {
        if (!destroyed) prepared.destroySync();
        destroyed = true;
      };
      const run = async () => {
        const pending = prepared.start();
        dropPrepared?.();
        return backgroundResult(pending);
      };

      if (input.format === 'json') {
        const result = await run().catch(failRun);
        const read = await readResult(result, input.limit, input.limit + 1, timer).catch(failRun);
        finished = true;
        return {
          kind: 'json',
          body: {
            columns: read.columns,
            rows: read.rows,
            row_count: read.rows.length,
            truncated: read.produced > input.limit,
            elapsed_ms: Math.round(performance.now() - started),
          },
        };
      }

      if (output) {
        // DuckDB's own writer; the statement is DuckDB's rendering of the checked tree, so the
        // text written into COPY is exactly what was checked.
        const canonical = await sql.canonical(checked.source);
        const options = input.format === 'csv' ? "FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"'" : 'FORMAT parquet';
        wrapped = true;
        await connection
          .start(`COPY (${underLimit(canonical, input.limit)}) TO ${quoteLiteral(output)} (${options})`)
          .then(backgroundResult)
          .catch(async (error) => {
            await rm(output, { force: true });
            return failRun(error);
          });
        if (timer.fired) {
          await rm(output, { force: true });
          fail(new Error('interrupted'));
        }
        // The sandbox's one allowed output name is free again once the file is moved out.
        const answer = join(sql.root, `out-${randomUUID()}.${input.format}`);
        await rename(output, answer);
        finished = true;
        await cleanup();
        handedOver = true;
        return { kind: 'stream', body: fileStream(answer, input.signal), headers: exportHeaders('query', input.format, false) };
      }

      const result = await run().catch(failRun);
      // The first chunk is read before answering, so an error there is an ordinary error response.
      const first = await result.fetchChunk().catch(failRun);
      if (timer.fired) fail(new Error('interrupted'));
      const stream = ndjsonStream(result, first, input.limit, timer, input.signal, async (complete) => {
        finished = complete;
        await cleanup();
      });
      handedOver = true;
      return { kind: 'stream', body: stream, headers: exportHeaders('query', 'ndjson', false) };
    } finally {
      input.signal?.removeEventListener('abort', onAbort);
    }
  } finally {
    if (!handedOver) {
      // The answer is ready: the files are detached and the locks given back after it.
      if (finished) void cleanup().catch(() => {});
      else await cleanup();
    }
  }
}

/** The rendering of a checked statement under a LIMIT, as it runs (on its own or inside a COPY). */
function underLimit(rendering: string, limit: number): string {
  return `SELECT * FROM (\n${rendering}\n) LIMIT ${integerLiteral(limit)}`;
}

/**
 * `underLimit` starts a line above the rendering, so DuckDB points at a runtime fault one
 * line below the rendering's own line: the caller is told the line within the rendering
 * that the message quotes. (Left as it is where the number would get shorter, which would
 * move the caret under the quoted line.)
 */
export function renderingLines(error: unknown): unknown {
  if (!(error instanceof Error) || error.constructor !== Error) return error;
  const message = error.message.replace(/\nLINE (\d+): /g, (line, n: string) => {
    const own = String(Number(n) - 1);
    return Number(n) > 1 && own.length === n.length ? `\nLINE ${own}: ` : line;
  });
  return message === error.message ? error : new Error(message);
}

/**
 * A finished output file as a body; the file is removed once read or abandoned. A client that
 * goes away (`signal`), also before the body is read at all, ends it: the server neither reads
 * nor cancels a body whose client is gone, which left the file behind.
 */
function fileStream(path: string, signal?: AbortSignal): ReadableStream<Uint8Array> {
  const node = createReadStream(path, { highWaterMark: 256 * 1024 });
  const onAbort = () => node.destroy();
  node.on('close', () => {
    signal?.removeEventListener('abort', onAbort);
    void rm(path, { force: true });
  });
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return Readable.toWeb(node) as ReadableStream<Uint8Array>;
}

/**
 * NDJSON from a streamed result, one chunk per pull, at most `limit` rows. An interrupted
 * result ends silently in DuckDB, so the timer is asked: a timeout errors the body, and the
 * server then breaks the connection, so a cut result never looks complete. A cancel while a
 * pull fetches a chunk interrupts the fetch and waits for it before the sandbox is closed
 * and the tables' locks go back: until then DuckDB still reads the leased files. A client
 * that goes away (`signal`), also before the body is read at all, stops it the same way:
 * the server neither reads nor cancels a body whose client is gone, which kept the sandbox,
 * the tables' locks and the query slot for good.
 */
function ndjsonStream(
  result: DuckDBResult,
  first: DuckDBDataChunk | null,
  limit: number,
  timer: QueryTimer,
  signal: AbortSignal | undefined,
  cleanup: (complete: boolean) => Promise<void>,
): ReadableStream<Uint8Array> {
  let pending: DuckDBDataChunk | null | undefined = first;
  const names = result.columnNames();
  const types: DuckDBType[] = result.columnTypes();
  let sent = 0;
  /** The clean-up, once started (whoever ends the stream first starts it; the others wait for it). */
  let finishing: Promise<void> | undefined;
  /** The fetch a pull is waiting for. */
  let fetching: Promise<unknown> | undefined;
  const finish = (complete = false) =>
    (finishing ??= (async () => {
      signal?.removeEventListener('abort', onAbort);
      await cleanup(complete);
    })());
  const stop = async () => {
    timer.interrupt();
    await fetching?.catch(() => {});
    await finish();
  };
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  // Ended, not errored: nobody reads it any more (as an export's body, see openExport).
  const onAbort = () => {
    try {
      controller.close();
    } catch {
      /* closed already */
    }
    void stop();
  };
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    async pull() {
      try {
        let chunk: DuckDBDataChunk | null;
        if (pending !== undefined) {
          chunk = pending;
          pending = undefined;
        } else if (sent < limit) {
          const fetch = result.fetchChunk();
          fetching = fetch;
          try {
            chunk = await fetch;
          } finally {
            fetching = undefined;
          }
        } else chunk = null;
        if (timer.fired) throw errors.queryTimeout(timer.seconds);
        if (!chunk || chunk.rowCount === 0) {
          await finish(true);
          controller.close();
          return;
        }
        let text = '';
        for (const row of chunk.getRows()) {
          if (sent >= limit) break;
          text += `${JSON.stringify(jsonRow(names, types, row))}\n`;
          sent++;
        }
        controller.enqueue(Buffer.from(text));
      } catch (error) {
        await finish();
        controller.error(error instanceof GateError ? errors.invalidQuery(error.message) : error);
      }
    },
    cancel: stop,
  });
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return stream;
}
