import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import type { Database } from '../db.ts';
import { Mutex } from '../mutex.ts';

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

/**
 * The write-through discipline every catalog module shares: metadata.duckdb is the durable
 * record and this process its only writer, so each module serves reads from memory and
 * writes through here. Writes of all modules are serialised on one lock; `apply` updates
 * the in-memory copy only after the SQL committed.
 */
export class CatalogStore {
  private readonly writer = new Mutex();

  constructor(readonly db: Database) {}

  /** `guard` runs under the writer lock, so a conflict check there cannot race another write. */
  write<T>(work: (c: DuckDBConnection) => Promise<T>, apply: (result: T) => void, guard?: () => void): Promise<T> {
    return this.writer.run(() =>
      this.db.with(async (c) => {
        guard?.();
        const result = await work(c);
        apply(result);
        return result;
      }),
    );
  }

  /** Runs several statements in one metadata transaction. */
  async transaction(c: DuckDBConnection, statements: Statement[]): Promise<void> {
    await c.run('BEGIN TRANSACTION');
    try {
      for (const [sql, values] of statements) await c.run(sql, values);
      await c.run('COMMIT');
    } catch (error) {
      await c.run('ROLLBACK').catch(() => {});
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
