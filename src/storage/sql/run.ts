import type { DuckDBConnection, DuckDBPendingResult, DuckDBPreparedStatement, DuckDBResult } from '@duckdb/node-api';
import bindings from '@duckdb/node-bindings';
import { errors, type HttpError } from '../../http/errors.ts';
import { jsonRow, type JsonValue } from '../values.ts';
import { GateError } from './gate.ts';

/**
 * A timer that interrupts a connection. Streamed results end silently when interrupted, so
 * it remembers that it fired; and it keeps interrupting until stopped, since an interrupt
 * that lands between two DuckDB calls would otherwise be lost to the next one.
 */
export class QueryTimer {
  fired = false;
  /** Stopped: the connection may be closed (or reused) by now, so nothing interrupts it any more. */
  private stopped = false;
  private handle: NodeJS.Timeout;
  private repeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly connection: DuckDBConnection,
    readonly seconds: number,
  ) {
    this.handle = setTimeout(() => this.interrupt(), seconds * 1000);
  }

  /** Stops the running statement now (the timeout, or the client went away). */
  interrupt(): void {
    if (this.fired || this.stopped) return;
    this.fired = true;
    this.connection.interrupt();
    this.repeat = setInterval(() => this.connection.interrupt(), 50);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.handle);
    if (this.repeat) clearInterval(this.repeat);
  }
}

/** What DuckDB reports about the statement itself (syntax, names, types) rather than about running it. */
const STATEMENT_ERROR = /^(Parser|Binder|Catalog|Syntax|Not implemented) Error/;
const EXTRACT_PREFIX = /^Failed to extract statements: /;

/**
 * A DuckDB failure as the contract's error: `query_timeout` after the timer fired,
 * `invalid_query` for the statement's own faults, `query_failed` for the rest (runtime
 * errors, over QUERY_MEMORY_LIMIT). Messages have host paths removed.
 */
export function queryError(error: unknown, timer: QueryTimer | undefined, scrub: (text: string) => string, details?: Record<string, unknown>): HttpError {
  if (timer?.fired) return errors.queryTimeout(timer.seconds, details);
  if (error instanceof GateError) return errors.invalidQuery(scrub(error.message), details);
  const message = scrub(error instanceof Error ? error.message : String(error)).replace(EXTRACT_PREFIX, '');
  if (STATEMENT_ERROR.test(message)) return errors.invalidQuery(message, details);
  return errors.queryFailed(message, details);
}

export interface ColumnInfo {
  name: string;
  type: string;
}

export interface RowsRead {
  columns: ColumnInfo[];
  rows: Record<string, JsonValue>[];
  /** Rows the statement produced (counted to the end, or to `countUpTo`). */
  produced: number;
}

/** Prepares the only statement of `sql` (binding it: unknown names fail here, nothing runs). */
export async function prepareOne(c: DuckDBConnection, sql: string): Promise<DuckDBPreparedStatement> {
  const extracted = await c.extractStatements(sql);
  if (extracted.count !== 1) throw new GateError('Exactly one statement is allowed');
  return extracted.prepare(0);
}

/**
 * Reads a streamed result: the first `keep` rows mapped by §7, and the number of rows up
 * to `countUpTo` (stops reading there). Throws when the timer fired, as the stream itself
 * ends without an error when interrupted.
 */
export async function readResult(result: DuckDBResult, keep: number, countUpTo: number, timer: QueryTimer): Promise<RowsRead> {
  const names = result.columnNames();
  const types = result.columnTypes();
  const rows: Record<string, JsonValue>[] = [];
  let produced = 0;
  while (produced < countUpTo) {
    const chunk = await result.fetchChunk();
    if (timer.fired) throw new Error('interrupted');
    if (!chunk || chunk.rowCount === 0) break;
    if (rows.length < keep) {
      for (const row of chunk.getRows()) {
        if (rows.length >= keep) break;
        rows.push(jsonRow(names, types, row));
      }
    }
    produced += chunk.rowCount;
  }
  return { columns: names.map((name, i) => ({ name, type: types[i]!.toString() })), rows, produced: Math.min(produced, countUpTo) };
}

/**
 * Waits for a started statement without working on it: the sandbox's own (lower-priority)
 * DuckDB threads run it while this thread only asks whether the result is ready, so a heavy
 * query takes CPU from the API only when the API leaves it idle. For a streamed result the
 * last pipeline (rows out of a finished aggregate or join, or a plain scan) still runs as its
 * chunks are fetched. An interrupt ends the wait with DuckDB's error.
 */
export async function backgroundResult(pending: DuckDBPendingResult): Promise<DuckDBResult> {
  const raw = (pending as unknown as { pending_result: bindings.PendingResult }).pending_result;
  const started = performance.now();
  for (;;) {
    const state = bindings.pending_execute_check_state(raw);
    if (state === bindings.PendingState.RESULT_READY) break;
    if (state === bindings.PendingState.ERROR) {
      // A finished execution reports ERROR too (the C API has no state of its own for it),
      // with no message. A failed one is answered with DuckDB's own message: asking for its
      // result would only say that "an unsuccessful pending query result" cannot be executed.
      const message = bindings.pending_error(raw);
      if (message) throw new Error(message);
      break;
    }
    // 1 ms while the statement is young, then up to 5 ms between looks.
    await new Promise((resolve) => setTimeout(resolve, Math.min(5, 1 + Math.floor((performance.now() - started) / 50))));
  }
  return pending.getResult();
}
