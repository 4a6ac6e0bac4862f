import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/**
 * The process's one DuckDB instance (opened on metadata.duckdb) with a small pool of
 * connections: a connection runs one statement at a time, so concurrent requests each
 * borrow their own.
 */
export class Database {
  private readonly idle: DuckDBConnection[] = [];
  private readonly all = new Set<DuckDBConnection>();
  private closed = false;

  private constructor(readonly instance: DuckDBInstance) {}

  static async open(path: string, options: { threads: number; memoryLimit: string }): Promise<Database> {
    const instance = await DuckDBInstance.create(path, {
      threads: String(options.threads),
      memory_limit: options.memoryLimit,
      // Table files are attached by path; nothing else on disk may be reached from SQL
      // by accident, so extensions are never auto-installed from the network.
      autoinstall_known_extensions: 'false',
      // DuckDB 1.5 rewrites `SELECT … LIMIT n` with n > 50 into a rowid semi-join ("late
      // materialization"): a 100-row preview took 4x as long (2.8 ms instead of 0.7 ms on
      // 2,000 rows) and ORDER BY … LIMIT gained nothing from it in our measurements.
      disabled_optimizers: 'late_materialization',
    });
    return new Database(instance);
  }

  async acquire(): Promise<DuckDBConnection> {
    if (this.closed) throw new Error('database is closed');
    const connection = this.idle.pop() ?? (await this.instance.connect());
    this.all.add(connection);
    return connection;
  }

  release(connection: DuckDBConnection, broken = false): void {
    if (this.closed || broken || this.idle.length >= 16) {
      this.all.delete(connection);
      connection.closeSync();
      return;
    }
    this.idle.push(connection);
  }

  /** Runs `work` on a borrowed connection and gives it back afterwards. */
  async with<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const connection = await this.acquire();
    try {
      return await work(connection);
    } finally {
      this.release(connection);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const connection of this.all) {
      try {
        connection.closeSync();
      } catch {
        /* already closed */
      }
    }
    this.all.clear();
    this.idle.length = 0;
    this.instance.closeSync();
  }
}
