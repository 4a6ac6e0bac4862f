import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createApp, type App } from '../src/app.ts';
import { parseConfig, type Config } from '../src/config.ts';
import { openServices, type Clock, type Services } from '../src/services.ts';

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
  return parseConfig({ DATA_DIR: dataDir, ADMIN_API_KEY: ADMIN_KEY, DUCKDB_THREADS: '2', DUCKDB_MEMORY_LIMIT: '1GB', ...overrides });
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

/** Every file and folder below `dir`, relative, sorted. */
export async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (current: string, prefix: string) => {
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      out.push(rel);
      if (entry.isDirectory()) await visit(join(current, entry.name), rel);
    }
  };
  await visit(dir, '');
  return out.sort();
}
