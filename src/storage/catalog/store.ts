import type { DuckDBConnection, DuckDBPreparedStatement, DuckDBValue } from '@duckdb/node-api';
import type { Database } from '../db.ts';

export type Statement = [sql: string, values: DuckDBValue[]];

/**
 * A catalog write one module prepares for another's transaction: its statements, and the
 * in-memory update to make once they committed. Lets one operation change records of
 * several modules (a table row and its column metadata) atomically.
 */
export interface CatalogChange {
  statements: Statement[];
  apply(): void;
}

/** A write waiting for its turn (see `CatalogStore.write`). */
interface QueuedWrite {
  work: (c: DuckDBConnection) => Promise<unknown>;
  apply: (result: unknown) => void;
  guard?: () => void;
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
}

/** At most this many queued writes share one transaction. */
const MAX_GROUP = 64;

/** Prepared statements kept per connection (the catalog's statements are a few fixed texts). */
const MAX_PREPARED = 128;

/**
 * The write-through discipline every catalog module shares: metadata.duckdb is the durable
 * record and this process its only writer, so each module serves reads from memory and
 * writes through here. Writes of all modules run one at a time, in order; `apply` updates
 * the in-memory copy once the SQL ran.
 *
 * Group commit: each COMMIT of metadata.duckdb is an fsync (3–5 ms here, far more than the
 * statements), so writes that queued up while one was committing share the next
 * transaction and its one fsync. Within such a group each write still runs alone and in
 * order (its guard, its statements, its `apply`, before the next one's guard), so a guard
 * or a statement built from memory sees every earlier write; a write's caller is answered
 * only after the group committed. A write whose SQL fails rolls the group back: the writes
 * before it are replayed from the statements they ran and committed, it runs again on its
 * own, and the ones after it queue up again. A write alone in the queue runs exactly as
 * without grouping (its own transaction, `apply` after COMMIT). If the COMMIT of a group itself fails (the disk), its writes are applied in
 * memory but refused to their callers: DuckDB then refuses further writes too, and the
 * next start reads the catalog back from the file.
 */
export class CatalogStore {
  private readonly queue: QueuedWrite[] = [];
  private flushing = false;
  /** The connection a grouped write runs on: `transaction` runs its statements without BEGIN/COMMIT of their own. */
  private grouped: DuckDBConnection | undefined;
  /** The recorder of the grouped write now running (its statements are noted for a replay). */
  private recorder: Recorder | undefined;
  /**
   * Each connection's prepared statements by SQL text: parsing and planning a catalog
   * statement again each time cost about a third of running it (0.3 of 0.9 ms here).
   */
  private readonly prepared = new WeakMap<DuckDBConnection, Map<string, DuckDBPreparedStatement>>();

  constructor(readonly db: Database) {}

  /** `guard` runs in the write's turn, so a conflict check there cannot race another write. */
  write<T>(work: (c: DuckDBConnection) => Promise<T>, apply: (result: T) => void, guard?: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, apply: apply as (result: unknown) => void, guard, resolve: resolve as (result: unknown) => void, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length) {
        const group = this.queue.splice(0, MAX_GROUP);
        if (group.length === 1) await this.runAlone(group[0]!);
        else await this.runGroup(group).catch((error: unknown) => {
          for (const write of group) write.reject(error);
        });
      }
    } finally {
      this.flushing = false;
    }
  }

  private async runAlone(write: QueuedWrite): Promise<void> {
    try {
      const result = await this.db.with(async (c) => {
        write.guard?.();
        const result = await write.work(c);
        write.apply(result);
        return result;
      });
      write.resolve(result);
    } catch (error) {
      write.reject(error);
    }
  }

  private async runGroup(group: QueuedWrite[]): Promise<void> {
    let alone: QueuedWrite | undefined;
    await this.db.with(async (c) => {
      const done: GroupedWrite[] = [];
      await c.run('BEGIN TRANSACTION');
      for (let i = 0; i < group.length; i++) {
        const write = group[i]!;
        const ran: RanStatement[] = [];
        const recorder = recording(c, ran, (sql, values) => this.execute(c, sql, values));
        this.grouped = recorder.connection;
        this.recorder = recorder;
        let result: unknown;
        try {
          write.guard?.();
          result = await write.work(recorder.connection);
        } catch (error) {
          this.grouped = undefined;
          this.recorder = undefined;
          // Refused before any SQL ran: it would be refused the same way on its own.
          if (!recorder.attempted) {
            write.reject(error);
            continue;
          }
          // A statement failed (which aborts the transaction) or ran before the write gave
          // up: the writes before it commit without it, it runs again on its own (it may
          // only have failed for sharing the transaction), the rest queue up again.
          await c.run('ROLLBACK').catch(() => {});
          await c.run('BEGIN TRANSACTION');
          try {
            for (const { ran: statements } of done) for (const [sql, values] of statements) await this.execute(c, sql, values);
          } catch (replayError) {
            await c.run('ROLLBACK').catch(() => {});
            for (const { write: earlier } of done) earlier.reject(replayError);
            done.length = 0;
            await c.run('BEGIN TRANSACTION');
          }
          alone = write;
          this.queue.unshift(...group.slice(i + 1));
          break;
        }
        this.grouped = undefined;
        this.recorder = undefined;
        const entry: GroupedWrite = { write, result, ran };
        try {
          write.apply(result);
        } catch (error) {
          entry.applyError = error;
        }
        done.push(entry);
      }
      try {
        await c.run('COMMIT');
      } catch (error) {
        await c.run('ROLLBACK').catch(() => {});
        for (const { write } of done) write.reject(error);
        return;
      }
      for (const { write, result, applyError } of done) {
        if (applyError === undefined) write.resolve(result);
        else write.reject(applyError);
      }
    });
    if (alone) await this.runAlone(alone);
  }

  /** Runs several statements in one metadata transaction. */
  async transaction(c: DuckDBConnection, statements: Statement[]): Promise<void> {
    if (c === this.grouped && this.recorder) {
      for (const [sql, values] of statements) await this.recorder.execute(sql, values);
      return;
    }
    await c.run('BEGIN TRANSACTION');
    try {
      for (const [sql, values] of statements) await this.execute(c, sql, values);
      await c.run('COMMIT');
    } catch (error) {
      await c.run('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  /** Runs one statement with its values through the connection's prepared statement of that text. */
  private async execute(c: DuckDBConnection, sql: string, values: DuckDBValue[] | undefined): Promise<void> {
    if (!values) {
      await c.run(sql);
      return;
    }
    let cache = this.prepared.get(c);
    if (!cache) this.prepared.set(c, (cache = new Map()));
    let statement = cache.get(sql);
    if (!statement) {
      statement = await c.prepare(sql);
      if (cache.size >= MAX_PREPARED) {
        for (const old of cache.values()) old.destroySync();
        cache.clear();
      }
      cache.set(sql, statement);
    }
    try {
      statement.bind(values);
      await statement.run();
    } catch (error) {
      // Not kept after a failure: the next use prepares the text afresh.
      cache.delete(sql);
      statement.destroySync();
      throw error;
    }
  }

  /** Statements in one transaction, then `apply`: the common shape of a catalog write. */
  commit(statements: Statement[] | (() => Statement[]), apply: () => void, guard?: () => void): Promise<void> {
    return this.write(
      (c) => this.transaction(c, typeof statements === 'function' ? statements() : statements),
      apply,
      guard,
    );
  }

  /** Several modules' changes in one transaction, applied in memory in order after it committed. */
  commitChanges(changes: CatalogChange[], guard?: () => void): Promise<void> {
    return this.commit(
      changes.flatMap((change) => change.statements),
      () => {
        for (const change of changes) change.apply();
      },
      guard,
    );
  }

  /** Rows of a query as plain objects (for loading a module's records at start). */
  static async rows(c: DuckDBConnection, sql: string, values: DuckDBValue[] = []): Promise<Record<string, unknown>[]> {
    return (await c.runAndReadAll(sql, values)).getRowObjectsJS() as Record<string, unknown>[];
  }
}

type RanStatement = [sql: string, values: DuckDBValue[] | undefined];

/** A write of a group that ran and was applied, with the statements it ran. */
interface GroupedWrite {
  write: QueuedWrite;
  result: unknown;
  applyError?: unknown;
  ran: RanStatement[];
}

/** What a grouped write runs its SQL through (see `recording`). */
interface Recorder {
  connection: DuckDBConnection;
  /** A statement of `transaction`, run as prepared and noted. */
  execute(sql: string, values: DuckDBValue[] | undefined): Promise<void>;
  readonly attempted: boolean;
}

/**
 * `c` for one write of a group: `run` calls (and `execute`, through `exec`) are passed on
 * and, once they succeeded, noted in `ran` (to replay them); `attempted` tells whether the
 * write ran any statement at all.
 */
function recording(c: DuckDBConnection, ran: RanStatement[], exec: (sql: string, values: DuckDBValue[] | undefined) => Promise<void>): Recorder {
  let attempted = false;
  const run = async (sql: string, values?: DuckDBValue[], ...rest: unknown[]) => {
    attempted = true;
    const result = await (c.run as (...a: unknown[]) => ReturnType<DuckDBConnection['run']>)(sql, values, ...rest);
    ran.push([sql, values]);
    return result;
  };
  const execute = async (sql: string, values: DuckDBValue[] | undefined) => {
    attempted = true;
    await exec(sql, values);
    ran.push([sql, values]);
  };
  const connection = new Proxy(c, {
    get(target, property) {
      if (property === 'run') return run;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    connection,
    execute,
    get attempted() {
      return attempted;
    },
  };
}
