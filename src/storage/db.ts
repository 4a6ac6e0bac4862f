import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/**
 * DuckDB's allocator gives freed memory back to the system sooner: its background threads
 * purge freed pages while the server is idle (by default they purge only when something
 * allocates again), a thread's cache is flushed above 32 MB instead of 128 MB, and a bulk
 * release (a detached table file's blocks) of 16 MB or more is flushed at once instead of
 * from 512 MB. Measured with tests/bench/memory-bench.ts (three 1M-row imports, 10 s idle),
 * resident memory after the idle time: 276–301 MB with these, 285–360 MB without.
 */
const ALLOCATOR_OPTIONS = {
  allocator_background_threads: 'true',
  allocator_flush_threshold: '32MB',
  allocator_bulk_deallocation_flush_threshold: '16MB',
};

/** Memory of the export instance (`Database.exporter`): table blocks it caches, and COPY's buffers. */
const EXPORT_MEMORY_LIMIT = '256MB';

/** Memory of the catalog instance: its rows are small and it is mostly read once, at start. */
const CATALOG_MEMORY_LIMIT = '256MB';

/**
 * A DuckDB instance with a small pool of connections: a connection runs one statement at a
 * time, so concurrent requests each borrow their own. The service has two: the storage
 * instance (in memory, with the table files attached to it) and the catalog's, on
 * metadata.duckdb (`Database.openCatalog`).
 */
export class Database {
  private readonly idle: DuckDBConnection[] = [];
  private readonly all = new Set<DuckDBConnection>();
  private closed = false;
  private exporting?: Promise<Database>;
  private aliases = 0;

  private constructor(
    readonly instance: DuckDBInstance,
    /** DuckDB's worker threads: work split into parts runs this many parts side by side. */
    readonly threads: number,
  ) {}

  static async open(path: string, options: { threads: number; memoryLimit: string; tempDirectory?: string }): Promise<Database> {
    const instance = await DuckDBInstance.create(path, {
      threads: String(options.threads),
      memory_limit: options.memoryLimit,
      // Where big sorts and index builds spill (DuckDB's default for an in-memory instance is `.tmp` in the working folder).
      ...(options.tempDirectory ? { temp_directory: options.tempDirectory } : {}),
      // Table files are attached by path; nothing else on disk may be reached from SQL
      // by accident, so extensions are never auto-installed from the network.
      autoinstall_known_extensions: 'false',
      // DuckDB 1.5 rewrites `SELECT … LIMIT n` with n > 50 into a rowid semi-join ("late
      // materialization"): a 100-row preview took 4x as long (2.8 ms instead of 0.7 ms on
      // 2,000 rows) and ORDER BY … LIMIT gained nothing from it in our measurements.
      disabled_optimizers: 'late_materialization',
      ...ALLOCATOR_OPTIONS,
    });
    return new Database(instance, options.threads);
  }

  /**
   * The catalog's own instance on metadata.duckdb, with one thread. Catalog statements are
   * single rows, which DuckDB runs fastest alone: on the storage instance (4 threads) a small
   * transaction cost about 7 ms against 2.4 ms here while the machine was busy (interleaved
   * runs on this 2-core machine), and it waited behind the scans and ALTERs of table work.
   */
  static openCatalog(path: string): Promise<Database> {
    return Database.open(path, { threads: 1, memoryLimit: CATALOG_MEMORY_LIMIT });
  }

  /**
   * A second instance, in memory, for exports split into parts (`export.ts`), opened on first
   * use: it attaches a table file READ_ONLY for one export while the main instance's writers
   * of that table are kept out. It runs without `preserve_insertion_order` (a setting of the
   * whole instance, so it cannot be turned off for one query of the main instance, where
   * imports rely on it), which lets a COPY write each batch as soon as it is formatted instead
   * of holding it back until the batches before it are written. Its memory limit bounds the
   * table blocks it caches while it reads, whatever the table's size.
   */
  exporter(): Promise<Database> {
    if (this.closed) return Promise.reject(new Error('database is closed'));
    return (this.exporting ??= (async () => {
      const instance = await DuckDBInstance.create(':memory:', {
        threads: String(this.threads),
        memory_limit: EXPORT_MEMORY_LIMIT,
        preserve_insertion_order: 'false',
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
        ...ALLOCATOR_OPTIONS,
      });
      if (this.closed) {
        instance.closeSync();
        throw new Error('database is closed');
      }
      return new Database(instance, this.threads);
    })());
  }

  /**
   * How many COPYs of one split export run at once: two per DuckDB thread (one running, one
   * queued behind it, so DuckDB's threads need not wait for the event loop to hand out the
   * next part: under load that wait made a 10M-row export 3.6× DuckDB's time instead of
   * 2.8×), but leaving two threads of libuv's pool free (each DuckDB call occupies one while
   * it runs), so that other requests' DuckDB calls and file work do not queue behind them.
   */
  get exportLanes(): number {
    const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    return Math.max(1, Math.min(2 * this.threads, pool - 2));
  }

  /** A fresh alias for an attachment of this instance's own (`e1`, `e2`, …). */
  nextAlias(): string {
    return `e${++this.aliases}`;
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
    void this.exporting?.then((exporter) => exporter.close()).catch(() => {});
    this.instance.closeSync();
  }
}
