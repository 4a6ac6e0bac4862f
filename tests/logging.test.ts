import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../src/app.ts';
import { parseConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startServer } from '../src/server.ts';
import { openServices, type Services } from '../src/services.ts';
import { ADMIN_KEY, testConfig } from './helpers.ts';

/** The service's own logger (production format) writing into an array. */
function productionLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger('debug', stream), lines };
}

const parse = (lines: string[]) => lines.map((line) => JSON.parse(line) as Record<string, any>);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

describe('request logs', () => {
  let root: string;
  let services: Services;
  let app: App;
  let lines: string[];
  const secrets: string[] = [ADMIN_KEY];
  const sent: { requestId: string; status: number; route: string | null; projectId?: string; caller?: string | null }[] = [];

  async function call(method: string, path: string, options: { key?: string | null; body?: unknown; expect: number; route: string | null; projectId?: string; caller?: string | null }) {
    const requestId = `log-test-${sent.length}`;
    const headers: Record<string, string> = { 'x-request-id': requestId };
    const key = options.key === undefined ? ADMIN_KEY : options.key;
    if (key) headers.authorization = `Bearer ${key}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await app.fetch(
      new Request(`http://local.test${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) }),
    );
    expect(response.status, `${method} ${path}`).toBe(options.expect);
    expect(response.headers.get('x-request-id')).toBe(requestId);
    const caller = options.caller !== undefined ? options.caller : key === ADMIN_KEY ? 'admin' : options.projectId ? `proj_${options.projectId}_admin_...` : null;
    sent.push({ requestId, status: options.expect, route: options.route, projectId: options.projectId, caller });
    const text = await response.text();
    return text ? JSON.parse(text) : undefined;
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-log-'));
    const captured = productionLogger();
    lines = captured.lines;
    services = await openServices(testConfig(join(root, 'data')), captured.logger);
    app = createApp(services);

    const a = await call('POST', '/projects', { body: { id: 'la', name: 'A' }, expect: 201, route: '/projects', projectId: 'la' });
    const b = await call('POST', '/projects', { body: { id: 'lb' }, expect: 201, route: '/projects', projectId: 'lb' });
    secrets.push(a.api_key, b.api_key);
    const bogus = `proj_la_admin_${'0123456789abcdef'.repeat(2)}`;
    secrets.push(bogus, 'wrong-admin-key-for-logging-test');

    await call('GET', '/projects/la', { key: a.api_key, expect: 200, route: '/projects/:id', projectId: 'la' });
    await call('PUT', '/projects/la', { key: a.api_key, body: { name: 'A2' }, expect: 200, route: '/projects/:id', projectId: 'la' });
    await call('POST', '/projects/la/buckets', { key: a.api_key, body: { name: 'in_c' }, expect: 201, route: '/projects/:id/buckets', projectId: 'la' });
    await call('POST', '/projects/la/buckets/in_c/tables', {
      key: a.api_key,
      body: { name: 'orders', columns: [{ name: 'id', type: 'INTEGER' }] },
      expect: 201,
      route: '/projects/:id/buckets/:bucket/tables',
      projectId: 'la',
    });
    await call('GET', '/projects/lb/stats', { key: b.api_key, expect: 200, route: '/projects/:id/stats', projectId: 'lb' });
    // Failing ones: wrong project, forged key, wrong admin key, no key, bad body, unknown path.
    // Refused callers are named by the safe prefix of the key they sent.
    await call('GET', '/projects/la', { key: b.api_key, expect: 403, route: '/projects/:id', caller: 'proj_lb_admin_...' });
    await call('GET', '/projects/la', { key: bogus, expect: 403, route: '/projects/:id', caller: 'proj_la_admin_...' });
    await call('GET', '/projects', { key: 'wrong-admin-key-for-logging-test', expect: 401, route: '/projects' });
    await call('GET', '/projects', { key: null, expect: 401, route: '/projects' });
    await call('POST', '/projects/la/buckets', { key: a.api_key, body: { name: 'a.b' }, expect: 422, route: '/projects/:id/buckets', projectId: 'la' });
    await call('GET', '/nothing/here', { expect: 404, route: null, caller: null });

    // A 500 the service raises itself: a storage folder that cannot be made.
    await rm(services.paths.snapshotsDir, { recursive: true, force: true });
    await writeFile(services.paths.snapshotsDir, 'in the way');
    await call('POST', '/backend/init', { expect: 500, route: '/backend/init' });
    await rm(services.paths.snapshotsDir, { force: true });
    await call('POST', '/backend/init', { expect: 200, route: '/backend/init' });

    // An unexpected 500: a table file that is not a DuckDB database.
    await writeFile(services.paths.tableFile('la', 'in_c', 'orders'), 'not a database file '.repeat(400));
    const crashed = await call('GET', '/projects/la/buckets/in_c/tables/orders/preview', {
      key: a.api_key,
      expect: 500,
      route: '/projects/:id/buckets/:bucket/tables/:table/preview',
      projectId: 'la',
    });
    expect(crashed.detail.error).toBe('internal_server_error');
    if (process.env.SHOW_LOG) process.stdout.write(`${lines.join('\n')}\n`);
  });

  afterAll(async () => {
    await services?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('never contains the admin key or any project key, forged ones included', () => {
    const all = lines.join('\n');
    expect(lines.length).toBeGreaterThan(sent.length);
    for (const secret of secrets) {
      expect(all).not.toContain(secret);
      // Nor the secret part of a project key on its own.
      const hex = /_admin_([0-9a-f]{32})$/.exec(secret)?.[1];
      if (hex) expect(all).not.toContain(hex);
    }
    expect(all.toLowerCase()).not.toContain('bearer ');
  });

  it('writes one JSON line per request with the request fields', () => {
    const entries = parse(lines);
    for (const request of sent) {
      const mine = entries.filter((e) => e.request_id === request.requestId && e.msg === 'request');
      expect(mine, request.requestId).toHaveLength(1);
      const line = mine[0]!;
      expect(line.time).toMatch(ISO);
      expect(line.level).toBe(request.status >= 500 ? 'error' : 'info');
      expect(line.service).toBe('duckdb-storage-api');
      expect(typeof line.method).toBe('string');
      expect(line.route).toBe(request.route);
      expect(line.status).toBe(request.status);
      expect(typeof line.duration_ms).toBe('number');
      expect(line.duration_ms).toBeGreaterThanOrEqual(0);
      expect(line.project_id, request.requestId).toBe(request.projectId);
      expect(line.caller ?? null, request.requestId).toBe(request.caller);
    }
  });

  it('logs each 500 as an error line with its request id', () => {
    const entries = parse(lines);
    const failures = sent.filter((s) => s.status === 500);
    expect(failures).toHaveLength(2);
    for (const failure of failures) {
      const errors = entries.filter((e) => e.request_id === failure.requestId && e.level === 'error' && e.msg !== 'request');
      expect(errors.length, failure.requestId).toBeGreaterThanOrEqual(1);
      expect(errors[0]!.time).toMatch(ISO);
      expect(errors[0]!.err).toBeDefined();
    }
  });
});

describe('service lifecycle logs', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-log-life-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('logs startup, reconciliation and shutdown as JSON lines, naming the generated key file, never the key', async () => {
    const { logger, lines } = productionLogger();
    const dataDir = join(root, 'data');
    // No ADMIN_API_KEY: the service generates one into the data folder.
    const config = parseConfig({ DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', DUCKDB_THREADS: '1', DUCKDB_MEMORY_LIMIT: '512MB' });
    const server = await startServer(config, logger);
    const generated = (await readFile(join(dataDir, 'admin.key'), 'utf8')).trim();
    expect(generated.length).toBeGreaterThanOrEqual(16);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    await server.stop();

    const entries = parse(lines);
    for (const entry of entries) {
      expect(entry.time).toMatch(ISO);
      expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(entry.level);
      expect(typeof entry.msg).toBe('string');
    }
    const events = entries.map((e) => e.event);
    expect(events).toContain('startup');
    expect(events).toContain('reconcile');
    expect(events).toContain('shutdown');
    expect(events.indexOf('startup')).toBeLessThan(events.lastIndexOf('shutdown'));
    const keyLine = entries.find((e) => e.event === 'startup' && typeof e.file === 'string' && e.file.endsWith('admin.key'));
    expect(keyLine?.level).toBe('warn');
    expect(lines.join('\n')).not.toContain(generated);
    expect(entries.some((e) => e.msg === 'request' && e.route === '/health' && e.status === 200)).toBe(true);
  });
});
