import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { copyFile, constants, link, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Logger } from 'pino';
import type { Config } from '../../config.ts';
import { openInstance, type Database } from '../db.ts';
import { KeyedMutex } from '../mutex.ts';
import type { StoragePaths } from '../paths.ts';
import { TableGoneError, type AttachmentRegistry } from '../registry.ts';
import { quoteIdent, quoteLiteral } from '../sql.ts';
import { checkParsed, parseReadStatement, type CheckedStatement, type GateScope, type ParsedStatement } from './gate.ts';

export interface SqlDeps {
  config: Config;
  paths: StoragePaths;
  registry: AttachmentRegistry;
  db: Database;
  logger: Logger;
}

/** A storage table as a sandbox shows it: `schema.name` over the rows of the file at `path`. */
export interface SandboxTable {
  /** The bucket's name in the caller's project (a linked bucket's own name). */
  schema: string;
  name: string;
  /** The real table file (the source's, for a linked bucket). */
  path: string;
}

/**
 * Table files a sandbox may read, held for it: each table's write lock is held shared (its
 * writers wait), no un-checkpointed change of the main instance is left in a WAL, and the
 * files are hard-linked into a private folder (so SQL never sees a path of the data folder).
 * `files[i]` is attached as `_t{i}`; the view catalog names them the same way.
 */
export interface TableLease {
  dir: string;
  tables: SandboxTable[];
  files: string[];
  /** Gives the tables' locks back and keeps the folder (a workspace session locks per statement). */
  unlock(): void;
  /** Gives the locks back and removes the folder. */
  release(): Promise<void>;
}

/**
 * A workspace sandbox for one request. Every table the workspace may read is attached, but
 * no lock is held between statements: `lockTables` takes the locks of the tables one
 * statement touches and attaches them afresh (the main instance may have written them since
 * they were attached), and the statement reads them only while those locks are held.
 */
export interface WorkspaceSession {
  sandbox: Sandbox;
  lease: TableLease;
  lockTables(indexes: Iterable<number>): Promise<() => void>;
  close(): Promise<void>;
}

/** One sandboxed DuckDB instance and its connection; `close` ends both. */
export interface Sandbox {
  connection: DuckDBConnection;
  /** The name of the instance's own catalog (the workspace's file, or the view catalog). */
  catalog: string;
  close(): void;
}

/** A query sandbox from the pool: `recycle` gives it back after a query that ended well, `close` ends it. */
export interface QuerySandbox extends Sandbox {
  instance: DuckDBInstance;
  /** The one file of each format a COPY of a result may write (in the sandbox's own folder). */
  output(format: 'csv' | 'parquet'): string;
  recycle(): Promise<void>;
}

interface IdleSandbox {
  key: string;
  dir: string;
  instance: DuckDBInstance;
  catalog: string;
}

/** Tables in the order their aliases are given (`_t0`, `_t1`, …): by bucket, then name. */
function sortTables(tables: SandboxTable[]): SandboxTable[] {
  const name = (t: SandboxTable) => `${t.schema.toLowerCase()}\0${t.name.toLowerCase()}`;
  return [...tables].sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
}

/** The key of a view catalog: the names it shows. */
function catalogKey(sorted: SandboxTable[]): string {
  return createHash('sha256')
    .update(JSON.stringify(sorted.map((t) => [t.schema, t.name])))
    .digest('hex')
    .slice(0, 32);
}

const VIEWS_ALIAS = '_storage';
const alias = (i: number) => `_t${i}`;
/** The index of a storage alias `_t{i}`, or undefined. */
export function aliasIndex(catalog: string): number | undefined {
  const match = /^_t(0|[1-9][0-9]{0,5})$/.exec(catalog);
  return match ? Number(match[1]) : undefined;
}


/** Holds the shared lock of one table until the returned function is called. */
function holdReadLock(registry: AttachmentRegistry, path: string): Promise<() => void> {
  return new Promise((acquired, failed) => {
    registry.withReadLock(path, () => new Promise<void>((done) => acquired(done))).catch(failed);
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The SQL service of §17: a parser instance for the statement check, the private folder
 * the sandboxes read from, cached view catalogs, the count of running queries and the
 * per-workspace locks. User SQL never runs on the instance that serves the catalog.
 */
export class SqlService {
  /** Queries (and workspace queries) running now, against MAX_CONCURRENT_QUERIES. */
  private running = 0;
  private readonly catalogs = new Map<string, Promise<string>>();
  /** One request at a time per workspace (keyed by file path). */
  readonly workspaceLocks = new KeyedMutex();

  private constructor(
    private readonly deps: SqlDeps,
    /** Private folder for hard links, view catalogs and query output. */
    readonly root: string,
    /** Whether `root` is on the data folder's file system (hard links work). */
    private readonly linkable: boolean,
    private readonly parser: DuckDBInstance,
    readonly systemNames: ReadonlySet<string>,
  ) {}

  static async open(deps: SqlDeps): Promise<SqlService> {
    await removeStaleRoots(tmpdir());
    // A private folder in the system's temporary folder keeps the data folder's path out of
    // every setting a sandbox shows, when hard links reach it from the data folder.
    let root = await mkdtemp(join(tmpdir(), `dsa-sql-${process.pid}-`));
    let linkable = await canLink(deps.paths.filesDir, root);
    if (!linkable) {
      await rm(root, { recursive: true, force: true });
      root = join(deps.paths.filesDir, `.sql-${randomUUID()}`);
      await mkdir(root, { recursive: true });
      linkable = await canLink(deps.paths.filesDir, root);
    }
    await mkdir(join(root, 'catalogs'), { recursive: true });
    const parser = await openInstance(':memory:', { ...sandboxOptions(deps.config), memory_limit: '64MB', threads: '1' });
    const names = new Set<string>();
    const c = await parser.connect();
    try {
      await c.run('SET enable_external_access = false');
      await c.run('SET lock_configuration = true');
      const rows = await c.runAndReadAll(
        `SELECT lower(view_name) FROM duckdb_views() UNION SELECT lower(table_name) FROM duckdb_tables()
         UNION SELECT lower(function_name) FROM duckdb_functions() WHERE function_type IN ('table', 'table_macro')`,
      );
      for (const [name] of rows.getRows()) names.add(String(name));
      for (const name of ['sqlite_master', 'sqlite_schema', 'sqlite_temp_master', 'sqlite_temp_schema']) names.add(name);
    } finally {
      c.closeSync();
    }
    return new SqlService(deps, root, linkable, parser, names);
  }

  /**
   * Statements parsed (by their text) and their canonical texts (by tree), most recently
   * used last: the same query text again skips the parser instance (two of its calls, about
   * 3 ms of a small query). Only the parse is kept; every request checks the names again.
   */
  private readonly parsed = new Map<string, ParsedStatement>();
  private readonly canonicalTexts = new Map<string, string>();

  /** The sandbox instance creation under way (creations take turns, see createLowPriority). */
  private creating: Promise<void> = Promise.resolve();

  /** Query sandboxes kept for reuse, the most recently used last. */
  private readonly idle: IdleSandbox[] = [];
  /** Query sandboxes being given back to `idle` (after their query answered), by view catalog. */
  private readonly returning = new Set<{ key: string; done: Promise<void> }>();

  get idleSandboxes(): number {
    return this.idle.length;
  }

  /** Resolves once the sandboxes being given back after their answers are in the pool (or closed). */
  async returned(): Promise<void> {
    while (this.returning.size) await Promise.all([...this.returning].map((entry) => entry.done));
  }

  /** Workspace statements running now (past their checks and locks). */
  private statements = 0;

  statementStarted(): void {
    this.statements++;
  }

  statementEnded(): void {
    this.statements--;
  }

  get activeStatements(): number {
    return this.statements;
  }

  /** A slot among MAX_CONCURRENT_QUERIES, or undefined when all are taken. */
  tryAcquireSlot(): (() => void) | undefined {
    if (this.running >= this.deps.config.maxConcurrentQueries) return undefined;
    this.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
    };
  }

  get maxQueries(): number {
    return this.deps.config.maxConcurrentQueries;
  }

  get activeQueries(): number {
    return this.running;
  }

  /** The statement check on the parser instance (no table of any project is attached there). */
  async check(sql: string, scope: GateScope): Promise<CheckedStatement> {
    let parsed = this.parsed.get(sql);
    if (parsed) touch(this.parsed, sql, parsed);
    else {
      parsed = await this.withParser((c) => parseReadStatement(c, sql));
      if (sql.length <= MAX_KEPT_TEXT && parsed.source.length <= MAX_KEPT_TREE) keep(this.parsed, sql, parsed);
    }
    // The names are checked on every request: what a caller may read is its own.
    return checkParsed(parsed, scope);
  }

  /**
   * DuckDB's own text of a checked statement tree (`CheckedStatement.source`): what runs is
   * exactly what was checked. Kept per tree, as the parse is.
   */
  async canonical(source: string): Promise<string> {
    let text = this.canonicalTexts.get(source);
    if (text !== undefined) touch(this.canonicalTexts, source, text);
    else {
      text = await this.withParser(async (c) => String((await c.runAndReadAll('SELECT json_deserialize_sql($1::VARCHAR::JSON)', [source])).getRows()[0]![0]));
      if (source.length <= MAX_KEPT_TREE) keep(this.canonicalTexts, source, text);
    }
    return text;
  }

  /** Set by `close`: nothing more is handed out, and what comes back is closed. */
  private closed = false;
  /** Connections of the parser instance being opened: `close` leaves the instance to the last of them. */
  private parserConnecting = 0;

  /** Runs `work` on a connection of the parser instance (statement checks of workspace SQL). */
  async withParser<T>(work: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('the SQL service is closed');
    this.parserConnecting++;
    let c: DuckDBConnection;
    try {
      c = await this.parser.connect();
    } finally {
      this.parserConnecting--;
      // A connect reads the instance in the thread pool: closing it then frees it under DuckDB's feet.
      if (this.closed && this.parserConnecting === 0) this.closeParser();
    }
    try {
      return await work(c);
    } finally {
      c.closeSync();
    }
  }

  private closeParser(): void {
    try {
      this.parser.closeSync();
    } catch {
      /* closed already */
    }
  }

  /**
   * Takes the tables for a sandbox: their locks shared (in path order), a checkpoint of any
   * change the main instance still holds in a WAL, and a hard link (or, across file systems,
   * a copy) of each file in a fresh private folder.
   */
  async lease(tables: SandboxTable[], into?: string): Promise<TableLease> {
    const { registry } = this.deps;
    const sorted = sortTables(tables);
    const lockOrder = [...new Set(sorted.map((t) => t.path))].sort();
    const unlocks: (() => void)[] = [];
    // A pooled sandbox's own folder keeps its (allowed) file names; a fresh folder otherwise.
    const dir = into ?? join(this.root, `q-${randomUUID()}`);
    const unlockAll = () => {
      for (const unlock of unlocks.splice(0)) unlock();
    };
    const releaseAll = async () => {
      if (!into) await rm(dir, { recursive: true, force: true });
      unlockAll();
    };
    try {
      for (const path of lockOrder) unlocks.push(await holdReadLock(registry, path));
      await mkdir(dir, { recursive: true });
      const files: string[] = [];
      for (const [i, table] of sorted.entries()) {
        const file = join(dir, `${alias(i)}.duckdb`);
        if (into) await rm(file, { force: true });
        await this.takeFile(table.path, file);
        files.push(file);
      }
      let released: Promise<void> | undefined;
      return { dir, tables: sorted, files, unlock: unlockAll, release: () => (released ??= releaseAll()) };
    } catch (error) {
      await releaseAll();
      throw error;
    }
  }

  /**
   * Puts the table file at `path` (held by its lock, shared) at `file`: any change the main
   * instance still holds in a WAL is checkpointed first, then the file is hard-linked (or,
   * across file systems, copied).
   */
  private async takeFile(path: string, file: string): Promise<void> {
    const { registry, db } = this.deps;
    if (!existsSync(path)) throw new TableGoneError();
    if ((statSync(`${path}.wal`, { throwIfNoEntry: false })?.size ?? 0) > 0) {
      // Writers are kept out by the lock; fold what the main instance wrote into the file.
      const held = await registry.acquire(path);
      try {
        await db.with((c) => c.run(`CHECKPOINT ${quoteIdent(held)}`));
      } finally {
        registry.release(path);
      }
    }
    if (this.linkable) await link(path, file);
    else await copyFile(path, file, constants.COPYFILE_FICLONE);
  }

  /**
   * Opens a workspace session (see WorkspaceSession): the tables are locked only while they
   * are taken and attached, then their locks are given back.
   */
  async openWorkspaceSession(workspaceFile: string, tables: SandboxTable[]): Promise<WorkspaceSession> {
    const lease = await this.lease(tables);
    let sandbox: Sandbox | undefined;
    try {
      const catalog = lease.tables.length ? await this.viewCatalog(lease) : undefined;
      sandbox = await this.openWorkspaceSandbox(workspaceFile, lease, catalog);
    } catch (error) {
      await lease.release();
      throw error;
    }
    lease.unlock();
    const open = sandbox;
    return {
      sandbox: open,
      lease,
      lockTables: (indexes) => this.lockSessionTables(open, lease, [...new Set(indexes)]),
      async close() {
        open.close();
        await lease.release();
      },
    };
  }

  private async lockSessionTables(sandbox: Sandbox, lease: TableLease, indexes: number[]): Promise<() => void> {
    const unlocks: (() => void)[] = [];
    const unlockAll = () => {
      for (const unlock of unlocks.splice(0)) unlock();
    };
    const order = indexes.filter((i) => lease.tables[i]).sort((a, b) => (lease.tables[a]!.path < lease.tables[b]!.path ? -1 : 1));
    try {
      for (const path of [...new Set(order.map((i) => lease.tables[i]!.path))]) unlocks.push(await holdReadLock(this.deps.registry, path));
      for (const i of order) {
        // The attached file may have been written since; attach the current one.
        const c = sandbox.connection;
        await c.run(`DETACH ${quoteIdent(alias(i))}`);
        await rm(lease.files[i]!, { force: true });
        const table = lease.tables[i]!;
        await this.takeFile(table.path, lease.files[i]!).catch((error) => {
          throw error instanceof TableGoneError ? new Error(`Table ${table.schema}.${table.name} was deleted while the workspace query ran`) : error;
        });
        await c.run(`ATTACH ${quoteLiteral(lease.files[i]!)} AS ${quoteIdent(alias(i))} (READ_ONLY)`);
      }
    } catch (error) {
      unlockAll();
      throw error;
    }
    return unlockAll;
  }

  /**
   * The view catalog of a lease: one schema per bucket, one view per table over `_t{i}`.
   * Built once per set of names (views bind to whatever is attached under the alias when a
   * query runs, so a changed column shows through) and kept while the service runs.
   */
  viewCatalog(lease: TableLease): Promise<string> {
    const key = catalogKey(lease.tables);
    let entry = this.catalogs.get(key);
    if (!entry) {
      entry = this.buildCatalog(key, lease);
      this.catalogs.set(key, entry);
      entry.catch(() => this.catalogs.delete(key));
    }
    return entry;
  }

  private async buildCatalog(key: string, lease: TableLease): Promise<string> {
    const final = join(this.root, 'catalogs', `${key}.duckdb`);
    const temp = join(this.root, 'catalogs', `${key}.${randomUUID()}.building`);
    const instance = await openInstance(temp, { ...sandboxOptions(this.deps.config), threads: '1' });
    try {
      const c = await instance.connect();
      try {
        for (const [i, file] of lease.files.entries()) await c.run(`ATTACH ${quoteLiteral(file)} AS ${quoteIdent(alias(i))} (READ_ONLY)`);
        const schemas = new Set<string>();
        for (const [i, table] of lease.tables.entries()) {
          if (!schemas.has(table.schema.toLowerCase())) {
            await c.run(`CREATE SCHEMA ${quoteIdent(table.schema)}`);
            schemas.add(table.schema.toLowerCase());
          }
          await c.run(`CREATE VIEW ${quoteIdent(table.schema)}.${quoteIdent(table.name)} AS SELECT * FROM ${quoteIdent(alias(i))}.main.data`);
        }
        for (const i of lease.files.keys()) await c.run(`DETACH ${quoteIdent(alias(i))}`);
        await c.run('CHECKPOINT');
      } finally {
        c.closeSync();
      }
    } finally {
      instance.closeSync();
    }
    await rm(`${temp}.wal`, { force: true });
    await rename(temp, final);
    return final;
  }

  /**
   * A sandbox for a read-only query: a READ_ONLY instance on the view catalog with the
   * lease's files attached READ_ONLY, then external access off and the configuration
   * locked. `allowedFiles` are output files the server itself writes (COPY of a result).
   */
  async openQuerySandbox(catalog: string, lease: TableLease, allowedFiles: string[] = []): Promise<Sandbox> {
    return this.openSandbox(catalog, true, lease, { allowedFiles });
  }

  /**
   * The tables leased and a query sandbox over them. Creating a DuckDB instance is most of a
   * small query's time, so sandboxes are kept between queries: an idle one has no table
   * attached and no table file in its folder, and is taken again only for the same view
   * catalog (the same bucket and table names, in any project); its files are linked afresh
   * under the new lease's locks and attached under the names its locked `allowed_paths`
   * already hold. A sandbox that failed, was interrupted or timed out is closed instead.
   */
  async openPooledQuerySandbox(tables: SandboxTable[]): Promise<{ lease: TableLease; sandbox: QuerySandbox }> {
    const key = catalogKey(sortTables(tables));
    // One of these being given back after its query answered is as good as an idle one.
    if (!this.idle.some((entry) => entry.key === key)) {
      const returning = [...this.returning].filter((entry) => entry.key === key);
      if (returning.length) await Promise.race(returning.map((entry) => entry.done));
    }
    const at = this.idle.findLastIndex((entry) => entry.key === key);
    const reused = at >= 0 ? this.idle.splice(at, 1)[0] : undefined;
    const dir = reused?.dir ?? join(this.root, `s-${randomUUID()}`);
    const outputs = { csv: join(dir, 'out.csv'), parquet: join(dir, 'out.parquet') };
    const discard = async (instance?: DuckDBInstance) => {
      try {
        instance?.closeSync();
      } catch {
        /* closed already */
      }
      await rm(dir, { recursive: true, force: true });
    };
    let lease: TableLease;
    try {
      lease = await this.lease(tables, dir);
    } catch (error) {
      await discard(reused?.instance);
      throw error;
    }
    let instance = reused?.instance;
    let connection: DuckDBConnection | undefined;
    let catalog = reused?.catalog ?? '';
    try {
      if (instance) {
        connection = await instance.connect();
        for (const [i, file] of lease.files.entries()) await connection.run(`ATTACH ${quoteLiteral(file)} AS ${quoteIdent(alias(i))} (READ_ONLY)`);
      } else {
        const opened = await this.openSandbox(await this.viewCatalog(lease), true, lease, { allowedFiles: Object.values(outputs) });
        instance = opened.instance;
        connection = opened.connection;
        catalog = opened.catalog;
      }
    } catch (error) {
      connection?.closeSync();
      await lease.release();
      await discard(instance);
      throw error;
    }
    const own = instance;
    const open = connection;
    let done = false;
    const sandbox: QuerySandbox = {
      connection: open,
      catalog,
      instance: own,
      output: (format) => outputs[format],
      close() {
        if (done) return;
        done = true;
        open.closeSync();
        void discard(own);
      },
      recycle: async () => {
        if (done) return;
        done = true;
        let settle!: () => void;
        const entry = { key, done: new Promise<void>((resolve) => (settle = resolve)) };
        this.returning.add(entry);
        try {
          try {
            for (const i of lease.files.keys()) await open.run(`DETACH ${quoteIdent(alias(i))}`);
            open.closeSync();
            for (const file of [...lease.files, ...Object.values(outputs)]) await rm(file, { force: true });
          } catch {
            await discard(own);
            return;
          }
          // Closed meanwhile: nothing would close a sandbox kept now.
          if (this.closed) {
            await discard(own);
            return;
          }
          this.idle.push({ key, dir, instance: own, catalog });
        } finally {
          this.returning.delete(entry);
          settle();
        }
        while (this.idle.length > Math.max(2, this.deps.config.maxConcurrentQueries)) {
          const oldest = this.idle.shift()!;
          oldest.instance.closeSync();
          await rm(oldest.dir, { recursive: true, force: true });
        }
      },
    };
    return { lease, sandbox };
  }

  /**
   * A sandbox on a workspace file, opened read-write through a hard link in a private folder;
   * the storage tables are attached READ_ONLY and reachable as `bucket.table` through the
   * attached view catalog (on the search path).
   */
  async openWorkspaceSandbox(workspaceFile: string, lease: TableLease, catalog: string | undefined): Promise<Sandbox> {
    const file = join(lease.dir, 'workspace.duckdb');
    if (this.linkable) await link(workspaceFile, file);
    const sandbox = await this.openSandbox(this.linkable ? file : workspaceFile, false, lease, { catalog });
    return sandbox;
  }

  private async openSandbox(base: string, readOnly: boolean, lease: TableLease, options: { allowedFiles?: string[]; catalog?: string }): Promise<Sandbox & { instance: DuckDBInstance }> {
    const { config } = this.deps;
    const instance = await this.createLowPriority(base, {
      ...sandboxOptions(config),
      ...(readOnly ? { access_mode: 'READ_ONLY' } : {}),
    });
    let connection: DuckDBConnection | undefined;
    let catalog = '';
    try {
      connection = await instance.connect();
      for (const [i, file] of lease.files.entries()) await connection.run(`ATTACH ${quoteLiteral(file)} AS ${quoteIdent(alias(i))} (READ_ONLY)`);
      if (options.catalog) {
        await connection.run(`ATTACH ${quoteLiteral(options.catalog)} AS ${quoteIdent(VIEWS_ALIAS)} (READ_ONLY)`);
        const schemas = [...new Map(lease.tables.map((t) => [t.schema.toLowerCase(), t.schema])).values()];
        const path = ['main', ...schemas.map((s) => `${quoteIdent(VIEWS_ALIAS)}.${quoteIdent(s)}`)].join(',');
        await connection.run(`SET search_path = ${quoteLiteral(path)}`);
      }
      if (options.allowedFiles?.length) await connection.run(`SET allowed_paths = [${options.allowedFiles.map(quoteLiteral).join(', ')}]`);
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
      catalog = String((await connection.runAndReadAll('SELECT current_database()')).getRows()[0]![0]);
    } catch (error) {
      connection?.closeSync();
      instance.closeSync();
      throw error;
    }
    const open = connection;
    let closed = false;
    return {
      connection: open,
      catalog,
      instance,
      close() {
        if (closed) return;
        closed = true;
        open.closeSync();
        instance.closeSync();
      },
    };
  }

  /**
   * Creates a sandbox instance and lowers the priority (nice) of the worker threads it starts,
   * so that user SQL runs on what the API leaves idle. Creations take turns, so that the
   * threads that appear while one runs are that instance's (Linux: a thread's nice value is
   * its own; elsewhere, or when the threads cannot be told, they keep normal priority).
   */
  private createLowPriority(base: string, options: Record<string, string>): Promise<DuckDBInstance> {
    const turn = this.creating.then(async () => {
      const before = threadIds();
      const instance = await openInstance(base, options);
      if (before) {
        for (const tid of threadIds() ?? []) {
          if (before.has(tid)) continue;
          try {
            setPriority(tid, QUERY_NICE);
          } catch {
            /* gone, or not allowed: it keeps its priority */
          }
        }
      }
      return instance;
    });
    this.creating = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  /** Error text for clients: the private folder and the data folder never show. */
  scrub(message: string): string {
    return message.split(this.root).join('').split(this.deps.paths.dataDir).join('$DATA_DIR').slice(0, 1000);
  }

  /**
   * Closes the kept sandboxes and the parser instance (once no connect of it is under way).
   * Sandboxes of queries still running are closed by their queries; one that ends well is
   * not kept any more.
   */
  async close(): Promise<void> {
    this.closed = true;
    // Sandboxes still being given back after their answer are closed with the idle ones.
    await this.returned();
    for (const entry of this.idle.splice(0)) {
      try {
        entry.instance.closeSync();
      } catch {
        /* closed already */
      }
    }
    if (this.parserConnecting === 0) this.closeParser();
    // A query still running may be adding files meanwhile (ENOTEMPTY): what is left of an
    // earlier process's folder is removed at the next start (removeStaleRoots).
    await rm(this.root, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
  }
}

/**
 * Parses kept at most, and the longest statement text and tree (DuckDB's JSON of it) kept:
 * a few MB at worst, whatever texts callers send.
 */
const MAX_KEPT_PARSES = 128;
const MAX_KEPT_TEXT = 16 * 1024;
const MAX_KEPT_TREE = 32 * 1024;

/** Marks an entry of a most-recently-used-last map as just used. */
function touch<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
}

/** Adds an entry to a most-recently-used-last map, dropping the least recently used beyond MAX_KEPT_PARSES. */
function keep<V>(map: Map<string, V>, key: string, value: V): void {
  touch(map, key, value);
  for (const oldest of map.keys()) {
    if (map.size <= MAX_KEPT_PARSES) break;
    map.delete(oldest);
  }
}

/** The nice value of sandbox threads: they get a small share of a busy CPU and all of an idle one. */
const QUERY_NICE = 10;

/** The ids of this process's threads (Linux), or undefined where they cannot be listed. */
function threadIds(): Set<number> | undefined {
  try {
    return new Set(readdirSync('/proc/self/task').map(Number));
  } catch {
    return undefined;
  }
}

/** Options every sandbox instance gets: no extensions, no secrets, no spilling, bounded memory and threads. */
function sandboxOptions(config: Config): Record<string, string> {
  return {
    autoload_known_extensions: 'false',
    autoinstall_known_extensions: 'false',
    allow_community_extensions: 'false',
    // Paths that exist nowhere: a setting that shows them shows nothing of the host.
    extension_directory: '/nonexistent/extensions',
    secret_directory: '/nonexistent/secrets',
    allow_persistent_secrets: 'false',
    temp_directory: '',
    memory_limit: config.queryMemoryLimit,
    // A query shares the machine with the API: it gets half the threads the main instance has,
    // all of them DuckDB's own (the caller only waits, see backgroundResult), so that they
    // can be given a lower priority.
    threads: String(Math.max(1, Math.floor(config.duckdbThreads / 2))),
    external_threads: '0',
  };
}

async function canLink(from: string, toDir: string): Promise<boolean> {
  const probe = join(from, `.link-probe-${randomUUID()}`);
  const target = join(toDir, 'link-probe');
  try {
    await mkdir(from, { recursive: true });
    await writeFile(probe, '');
    await link(probe, target);
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { force: true });
    await rm(target, { force: true });
  }
}

/** Private folders of earlier processes that are gone (a crash leaves them behind). */
async function removeStaleRoots(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    const match = /^dsa-sql-(\d+)-/.exec(name);
    if (match && Number(match[1]) !== process.pid && !isAlive(Number(match[1]))) {
      await rm(join(dir, name), { recursive: true, force: true }).catch(() => {});
    }
  }
}
