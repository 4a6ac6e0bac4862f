import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createApp, type App } from '../src/app.ts';
import { parseConfig, type Config } from '../src/config.ts';
import { openServices, type Clock, type Services } from '../src/services.ts';
import type { Database } from '../src/storage/db.ts';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

/** A logger whose JSON lines are kept in `lines` (for tests that read the log). */
export function captureLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export function testConfig(dataDir: string, overrides: Record<string, string> = {}): Config {
  return parseConfig({ DATA_DIR: dataDir, ADMIN_API_KEY: ADMIN_KEY, DUCKDB_THREADS: '2', DUCKDB_MEMORY_LIMIT: '1GB', TABLE_IDLE_DETACH_MS: '20', ...overrides });
}

export interface TestApp {
  app: App;
  services: Services;
  root: string;
  dataDir: string;
  logLines: string[];
  /** In-process request through app.fetch; `key` defaults to the admin key, `null` sends none. */
  call(method: string, path: string, options?: { key?: string | null; body?: unknown; headers?: Record<string, string>; raw?: BodyInit }): Promise<Response>;
  /** call() and parse the JSON body. */
  callJson<T = any>(method: string, path: string, options?: Parameters<TestApp['call']>[2]): Promise<{ status: number; body: T; response: Response }>;
  createProject(id: string): Promise<string>;
  close(): Promise<void>;
}

/** Services on a fresh temporary data folder and the app on top, called in-process. */
export async function makeApp(options: { basePath?: string; env?: Record<string, string>; root?: string; clock?: Clock } = {}): Promise<TestApp> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'dsa-test-')));
  const dataDir = join(root, 'data');
  const { logger, lines } = captureLogger();
  const services = await openServices(testConfig(dataDir, options.env), logger, { clock: options.clock });
  const app = createApp(services, { basePath: options.basePath });
  const base = `http://local.test${options.basePath ?? ''}`;
  const call: TestApp['call'] = (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const key = opts.key === undefined ? ADMIN_KEY : opts.key;
    if (key !== null) headers.authorization = `Bearer ${key}`;
    let body: BodyInit | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    return app.fetch(new Request(base + path, { method, headers, body, duplex: 'half' } as RequestInit));
  };
  const callJson: TestApp['callJson'] = async (method, path, opts) => {
    const response = await call(method, path, opts);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, response };
  };
  return {
    app,
    services,
    root,
    dataDir,
    logLines: lines,
    call,
    callJson,
    async createProject(id) {
      const { status, body } = await callJson('POST', '/projects', { body: { id } });
      if (status !== 201) throw new Error(`project create failed: ${status} ${JSON.stringify(body)}`);
      return body.api_key as string;
    },
    async close() {
      await services.close();
      if (!options.root) await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * §10: shares bucket `bucket` of project `from` with project `to` and links it there as
 * `as`; throws unless the share answers 200 and the link 201.
 */
export async function shareAndLink(t: Pick<TestApp, 'callJson'>, link: { from: string; bucket: string; to: string; as: string }): Promise<void> {
  const shared = await t.callJson('POST', `/projects/${link.from}/buckets/${link.bucket}/share`, { body: { target_project_id: link.to } });
  if (shared.status !== 200) throw new Error(`share failed: ${shared.status} ${JSON.stringify(shared.body)}`);
  const linked = await t.callJson('POST', `/projects/${link.to}/buckets/${link.as}/link`, { body: { source_project_id: link.from, source_bucket_name: link.bucket } });
  if (linked.status !== 201) throw new Error(`link failed: ${linked.status} ${JSON.stringify(linked.body)}`);
}

/** A clock tests move by hand (`advance`), so expiry is tested without sleeping. */
export function manualClock(start = new Date('2026-12-01T00:00:00.000Z')): Clock & { advance(ms: number): void; set(date: Date): void } {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    advance(ms: number) {
      current += ms;
    },
    set(date: Date) {
      current = date.getTime();
    },
  };
}

/**
 * Every file and folder below `dir`, relative, sorted. A `dir` that does not exist is an
 * error (so "nothing left on disk" cannot pass on a folder that was never there), unless
 * `allowMissing` is set: then a missing `dir` gives `null`, which the caller asserts on.
 */
export async function walk(dir: string): Promise<string[]>;
export async function walk(dir: string, options: { allowMissing: true }): Promise<string[] | null>;
export async function walk(dir: string, options: { allowMissing?: boolean } = {}): Promise<string[] | null> {
  const out: string[] = [];
  const visit = async (current: string, prefix: string) => {
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch (error) {
      // A sub-folder removed while we walk (a delete finishing) is simply not there.
      if (prefix && (error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      out.push(rel);
      if (entry.isDirectory()) await visit(join(current, entry.name), rel);
    }
  };
  try {
    await visit(dir, '');
  } catch (error) {
    if (options.allowMissing && (error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return out.sort();
}

export interface HeldStatement {
  /** Resolves with the SQL once a matching statement was sent and is being held. */
  reached: Promise<string>;
  /** Lets the held statement (and every later match) run. */
  release(): void;
  readonly released: boolean;
}

/**
 * Holds chosen DuckDB statements of `services` until the test releases them, so a test can
 * make an interleaving happen on purpose instead of hoping for it. Install it before the
 * services run any statement (right after `makeApp`): connections are wrapped as the pool
 * hands them out.
 */
export function statementGate(services: Services) {
  const rules: { match: (sql: string) => boolean; reach: (sql: string) => void; open: Promise<void> }[] = [];
  const wrapped = new WeakSet<object>();
  const hold = async (sql: string) => {
    for (const rule of rules) {
      if (rule.match(sql)) {
        rule.reach(sql);
        await rule.open;
      }
    }
  };
  // Both instances: the storage one (table files) and the catalog's (metadata.duckdb).
  for (const db of [services.db, services.catalog.store.db]) {
    const acquire = db.acquire.bind(db);
    db.acquire = async () => {
      const connection = await acquire();
      if (!wrapped.has(connection)) {
        wrapped.add(connection);
        const run = connection.run.bind(connection);
        const runAndReadAll = connection.runAndReadAll.bind(connection);
        connection.run = (async (sql: string, ...rest: unknown[]) => {
          await hold(sql);
          return (run as (...a: unknown[]) => unknown)(sql, ...rest);
        }) as typeof connection.run;
        connection.runAndReadAll = (async (sql: string, ...rest: unknown[]) => {
          await hold(sql);
          return (runAndReadAll as (...a: unknown[]) => unknown)(sql, ...rest);
        }) as typeof connection.runAndReadAll;
        // A prepared statement is held each time it runs (previews reuse theirs).
        const prepare = connection.prepare.bind(connection);
        connection.prepare = (async (sql: string) => {
          const statement = await prepare(sql);
          const runPrepared = statement.run.bind(statement);
          statement.run = (async () => {
            await hold(sql);
            return runPrepared();
          }) as typeof statement.run;
          return statement;
        }) as typeof connection.prepare;
      }
      return connection;
    };
  }
  return {
    /** Holds every statement for which `match` is true, from now until `release`. */
    hold(match: (sql: string) => boolean): HeldStatement {
      let reach!: (sql: string) => void;
      const reached = new Promise<string>((resolve) => (reach = resolve));
      let open!: () => void;
      const rule = { match, reach, open: new Promise<void>((resolve) => (open = resolve)) };
      rules.push(rule);
      let released = false;
      return {
        reached,
        release() {
          released = true;
          open();
        },
        get released() {
          return released;
        },
      };
    },
  };
}

/**
 * Wraps the connections `db` hands out from now on: each `run` statement goes through
 * `around(sql, run)` (which may hold it, fail it, or note its end), and a connection closed
 * while a statement of its own still runs is recorded in `closedUnder` (that statement's
 * text): DuckDB would then use a freed connection. `restore()` puts `acquire` back;
 * connections wrapped already stay wrapped.
 */
export function watchConnections(db: Database, around: (sql: string, run: () => Promise<unknown>) => Promise<unknown> = (_sql, run) => run()) {
  const closedUnder: string[] = [];
  const acquire = db.acquire.bind(db);
  const wrapped = new WeakSet<object>();
  db.acquire = async () => {
    const c = await acquire();
    if (wrapped.has(c)) return c;
    wrapped.add(c);
    let running: string | undefined;
    const run = c.run.bind(c);
    const closeSync = c.closeSync.bind(c);
    c.run = (async (sql: string, ...rest: unknown[]) => {
      running = sql;
      try {
        return await around(sql, () => (run as (...a: unknown[]) => Promise<unknown>)(sql, ...rest));
      } finally {
        running = undefined;
      }
    }) as typeof c.run;
    c.closeSync = () => {
      if (running !== undefined) closedUnder.push(running);
      closeSync();
    };
    return c;
  };
  return {
    closedUnder,
    restore: () => {
      db.acquire = acquire;
    },
  };
}
