import { availableParallelism } from 'node:os';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/**
 * DuckDB's allocator gives freed memory back to the system sooner: its background threads
 * purge freed pages while the server is idle (by default they purge only when something
 * allocates again), a thread's cache is flushed above 32 MB instead of 128 MB, and a bulk
 * release (a detached table file's blocks) of 16 MB or more is flushed at once instead of
 * from 512 MB. Measured with tests/bench/memory-bench.ts (three 1M-row imports, 10 s idle),
 * resident memory after the idle time: 276–301 MB with these, 285–360 MB without.
 *
 * The background threads are one switch for the whole process (one allocator), and every
 * instance sets it as it opens: an instance opened without these options (a query sandbox,
 * a workspace) turned them off for all. A script on this machine that imported three 1M-row
 * files into one instance and then idled kept 135 MB resident; with a second default
 * instance opened beside it, 241 MB. So every instance is opened through `openInstance`.
 */
const ALLOCATOR_OPTIONS = {
  allocator_background_threads: 'true',
  allocator_flush_threshold: '32MB',
  allocator_bulk_deallocation_flush_threshold: '16MB',
};

/**
 * The threads of the instance the table files are attached to: `DUCKDB_THREADS`, but at
 * most one per CPU core. Threads beyond the cores only wake and spin around each small
 * statement: on the 2-core machine, in DuckDB alone, a 100-row preview's statement on 8
 * connections at once ran 2,000–2,200 times per second with 4 threads and 3,000 with 2
 * (p99 12–13 against 8–9 ms; one connection: 0.95–1.0 against 0.55–0.62 ms each), while
 * a 1M-row import took no longer with 2.
 */
export function storageThreads(configured: number, cores = availableParallelism()): number {
  return Math.max(1, Math.min(configured, cores));
}

/** Opens a DuckDB instance with `options` and the allocator options every instance of the service must have. */
export function openInstance(path: string, options: Record<string, string>): Promise<DuckDBInstance> {
  return DuckDBInstance.create(path, { ...options, ...ALLOCATOR_OPTIONS });
}

const MB = 1024 * 1024;

/**
 * Memory limits of the export instances (`Database.exporter`): table blocks they cache and
 * COPY's buffers. The parts instance caches table blocks up to its limit (52 MB of them at
 * 256 MB while a 10M-row CSV export ran, which then added 63 MB of resident memory; 46 MB at
 * a 32 MB limit, as fast); an export of a wide table raises it for its duration (`demand`),
 * since each COPY keeps a block of every column pinned while it reads.
 */
const EXPORT_MEMORY_LIMIT = { parts: 32 * MB, whole: 256 * MB };

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
  /** Connections being opened: the instance is closed only once none is (connect reads it in the thread pool). */
  private connecting = 0;
  private instanceClosed = false;
  private readonly exporters = new Map<'parts' | 'whole', Promise<Database>>();
  /** An export instance's own memory limit, and what running exports asked for on top (`demand`). */
  private baseLimit?: number;
  private limitApplied?: number;
  private readonly demands = new Set<{ bytes: number }>();
  private limitChange: Promise<void> = Promise.resolve();
  private aliases = 0;

  private constructor(
    readonly instance: DuckDBInstance,
    /** DuckDB's threads. */
    readonly threads: number,
    /** The CPU cores this instance's work may use: a split export runs two parts per core side by side. */
    private readonly cores = threads,
  ) {}

  static async open(path: string, options: { threads: number; memoryLimit: string; tempDirectory?: string }): Promise<Database> {
    const instance = await openInstance(path, {
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
      // DuckDB keeps the bytes it read from files (read_csv, read_parquet, …) in a cache
      // keyed by path. A staged body is read through `/proc/self/fd/N`, and that path names
      // the next body staged on the same descriptor number too: with the cache on, about one
      // Parquet import in 150 under load read ranges left from the previous body and failed
      // with "Snappy decompression failure" (none in 450 with it off). Every staged file is
      // read once, so the cache only held memory.
      enable_external_file_cache: 'false',
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
   * An instance in memory for exports (`export.ts`), opened on first use: it attaches a
   * table file READ_ONLY for one export while the main instance's writers of that table are
   * kept out. It runs without `preserve_insertion_order` (the main instance keeps it for
   * imports), which lets a COPY write each batch as soon as it is formatted instead of
   * holding it back until the batches before it are written. Its memory limit bounds the
   * table blocks it caches while it reads, whatever the table's size.
   *
   * Two of them, by the work they run:
   * - `parts`: many single-threaded COPYs side by side (one per row group), so one DuckDB
   *   thread, and as many COPYs at once as `exportLanes` (each runs on the libuv thread that
   *   calls it). Worker threads with nothing to take only spun: on the 2-core machine a
   *   1M-row CSV export in parts took 211–221 ms of CPU with 1 thread (4 COPYs at once),
   *   235–300 ms with 2 and 400–470 ms with 4 threads (8 at once), against 210–260 ms for
   *   DuckDB's own unordered COPY of the table with 4 threads.
   * - `whole`: one COPY that DuckDB parallelizes (Parquet): at most one thread per core, even
   *   when the main instance runs more; a 1M-row Parquet COPY added 57 MB of memory with 2
   *   threads against 81 MB with 4.
   */
  exporter(kind: 'parts' | 'whole' = 'parts'): Promise<Database> {
    if (this.closed) return Promise.reject(new Error('database is closed'));
    const open = this.exporters.get(kind);
    if (open) return open;
    const cores = Math.max(1, Math.min(this.threads, availableParallelism()));
    const opening = (async () => {
      const threads = kind === 'parts' ? 1 : cores;
      const instance = await openInstance(':memory:', {
        threads: String(threads),
        memory_limit: `${EXPORT_MEMORY_LIMIT[kind] / MB}MB`,
        preserve_insertion_order: 'false',
        // An in-memory instance would spill into `.tmp` under the process's working
        // directory; its work must fit its memory limit instead.
        temp_directory: '',
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
      });
      if (this.closed) {
        instance.closeSync();
        throw new Error('database is closed');
      }
      const exporter = new Database(instance, threads, cores);
      exporter.baseLimit = EXPORT_MEMORY_LIMIT[kind];
      exporter.limitApplied = EXPORT_MEMORY_LIMIT[kind] / MB;
      return exporter;
    })();
    this.exporters.set(kind, opening);
    return opening;
  }

  /**
   * How many COPYs of one split export run at once: two per core (one running, one queued
   * behind it, so a core need not wait for the event loop to hand out the next part: under
   * load that wait made a 10M-row export 3.6× DuckDB's time instead of 2.8×), but leaving two
   * threads of libuv's pool free (each DuckDB call occupies one while it runs), so that other
   * requests' DuckDB calls and file work do not queue behind them.
   */
  get exportLanes(): number {
    const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    return Math.max(1, Math.min(2 * this.cores, pool - 2));
  }

  /**
   * Asks for `bytes` of this instance's memory for one export: its memory limit becomes the
   * base limit or the sum of what the exports running ask for, whichever is more, until the
   * returned function gives it back. Changes of the limit run one after the other.
   */
  async demand(bytes: number): Promise<() => Promise<void>> {
    const entry = { bytes };
    this.demands.add(entry);
    await this.applyLimit();
    let given = false;
    return () => {
      if (given) return Promise.resolve();
      given = true;
      this.demands.delete(entry);
      return this.applyLimit();
    };
  }

  /** Sets the memory limit to what the demands add up to (at least the base limit). */
  private applyLimit(): Promise<void> {
    this.limitChange = this.limitChange.then(async () => {
      let want = 0;
      for (const entry of this.demands) want += entry.bytes;
      const limit = Math.ceil(Math.max(want, this.baseLimit ?? 0) / MB);
      if (!this.baseLimit || limit === this.limitApplied || this.closed) return;
      // A lower limit makes DuckDB drop cached blocks; if pinned ones do not fit yet, the old limit stays.
      await this.with((c) => c.run(`SET memory_limit = '${limit}MB'`)).then(
        () => (this.limitApplied = limit),
        () => {},
      );
    });
    return this.limitChange;
  }

  /** A fresh alias for an attachment of this instance's own (`e1`, `e2`, …). */
  nextAlias(): string {
    return `e${++this.aliases}`;
  }

  async acquire(): Promise<DuckDBConnection> {
    if (this.closed) throw new Error('database is closed');
    let connection = this.idle.pop();
    if (!connection) {
      this.connecting++;
      try {
        connection = await this.instance.connect();
      } finally {
        this.connecting--;
      }
      if (this.closed) {
        connection.closeSync();
        this.closeInstance();
        throw new Error('database is closed');
      }
    }
    this.all.add(connection);
    return connection;
  }

  /** Gives a borrowed connection back; its last call must have ended (closing it under a running call frees it under DuckDB's feet). */
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

  /**
   * Closes the idle connections and the instance; no connection can be borrowed any more. A
   * connection still borrowed may have a call running in libuv's thread pool (an export a
   * client left during shutdown, still being stopped): it is closed when it is given back,
   * since closing it now would free it while DuckDB uses it. DuckDB keeps the instance
   * itself alive for its connections still open.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const connection of this.idle) {
      this.all.delete(connection);
      try {
        connection.closeSync();
      } catch {
        /* already closed */
      }
    }
    this.idle.length = 0;
    for (const exporter of this.exporters.values()) void exporter.then((opened) => opened.close()).catch(() => {});
    this.closeInstance();
  }

  /** Closes the instance once closed and no connection is being opened. */
  private closeInstance(): void {
    if (!this.closed || this.connecting > 0 || this.instanceClosed) return;
    this.instanceClosed = true;
    this.instance.closeSync();
  }
}
