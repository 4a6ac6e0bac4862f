import { rm, stat, writeFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HandlerContext } from '../src/context.ts';
import { StorageSession } from '../src/storage/session.ts';
import { getHealth } from '../handlers/service/health.ts';
import { getRoot } from '../handlers/service/root.ts';
import { ADMIN_KEY, makeApp, type TestApp } from './helpers.ts';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const FOLDERS = ['data_dir', 'duckdb_dir', 'files_dir', 'snapshots_dir'] as const;

/** A context built by hand, as another fetch server embedding one handler would. */
function handContext(t: TestApp): HandlerContext {
  return {
    services: t.services,
    requestId: 'hand-made',
    params: {},
    storage: new StorageSession(t.services.registry),
    log: t.services.logger,
    logFields: {},
  };
}

describe('service handlers called on their own', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.close());

  it('getRoot answers with a hand-built ctx', async () => {
    const response = await getRoot(new Request('http://x/'), handContext(t));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ service: 'DuckDB Storage API', version: t.services.version, health: '/health', docs: '/docs' });
  });

  it('getHealth answers with a hand-built ctx', async () => {
    const response = await getHealth(new Request('http://x/health'), handContext(t));
    expect(response.status).toBe(200);
    expect((await response.json()).details).toEqual({ data_dir: true, duckdb_dir: true, files_dir: true, snapshots_dir: true });
  });
});

describe('GET / and GET /health', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.close());

  it('GET / needs no key and describes the service', async () => {
    const { status, body, response } = await t.callJson('GET', '/', { key: null });
    expect(status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(body).toEqual({ service: 'DuckDB Storage API', version: expect.any(String), health: '/health', docs: '/docs' });
    expect(body.version).toBe(t.services.version);
  });

  it('GET /health needs no key and reports every folder', async () => {
    const { status, body } = await t.callJson('GET', '/health', { key: null });
    expect(status).toBe(200);
    expect(body).toEqual({
      status: 'healthy',
      version: t.services.version,
      storage_available: true,
      details: { data_dir: true, duckdb_dir: true, files_dir: true, snapshots_dir: true },
    });
  });
});

describe('storage folders at run time: /health 503, /backend/init', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.close());
  // Every test leaves the layout complete for the next one.
  afterEach(async () => {
    const { status } = await t.callJson('POST', '/backend/init');
    if (status !== 200) {
      await rm(t.services.paths.snapshotsDir, { force: true, recursive: true });
      await t.callJson('POST', '/backend/init');
    }
  });

  for (const folder of ['files_dir', 'snapshots_dir', 'duckdb_dir'] as const) {
    it(`503 storage_unavailable when ${folder} is removed, then init recreates it`, async () => {
      await rm(t.services.paths.folders[folder], { recursive: true, force: true });

      const health = await t.callJson('GET', '/health', { key: null });
      expect(health.status).toBe(503);
      expect(health.body.detail.error).toBe('storage_unavailable');
      expect(typeof health.body.detail.message).toBe('string');
      const expected = Object.fromEntries(FOLDERS.map((f) => [f, f !== folder]));
      expect(health.body.detail.details).toEqual(expected);

      const init = await t.callJson('POST', '/backend/init');
      expect(init.status).toBe(200);
      expect(init.body.success).toBe(true);
      expect(init.body.message).toContain('created');
      expect(init.body.message).toContain(folder);
      expect(init.body.storage_paths).toEqual(t.services.paths.folders);
      expect((await stat(t.services.paths.folders[folder])).isDirectory()).toBe(true);

      expect((await t.callJson('GET', '/health', { key: null })).status).toBe(200);
    });
  }

  it('a folder replaced by a file is not a directory: 503', async () => {
    await rm(t.services.paths.filesDir, { recursive: true, force: true });
    await writeFile(t.services.paths.filesDir, 'not a folder');
    const health = await t.callJson('GET', '/health', { key: null });
    expect(health.status).toBe(503);
    expect(health.body.detail.details.files_dir).toBe(false);
    await rm(t.services.paths.filesDir, { force: true });
  });

  it('init is idempotent: a second call creates nothing', async () => {
    const first = await t.callJson('POST', '/backend/init');
    expect(first.status).toBe(200);
    const second = await t.callJson('POST', '/backend/init');
    expect(second.status).toBe(200);
    expect(second.body.success).toBe(true);
    expect(second.body.message).not.toContain('created');
    expect(second.body.storage_paths).toEqual({
      data_dir: t.dataDir,
      duckdb_dir: `${t.dataDir}/duckdb`,
      files_dir: `${t.dataDir}/files`,
      snapshots_dir: `${t.dataDir}/snapshots`,
    });
  });

  it('500 init_failed names the folder (not its host path) when it cannot be made', async () => {
    await rm(t.services.paths.snapshotsDir, { recursive: true, force: true });
    await writeFile(t.services.paths.snapshotsDir, 'in the way');
    const init = await t.callJson('POST', '/backend/init');
    expect(init.status).toBe(500);
    expect(init.body.detail.error).toBe('init_failed');
    expect(init.body.detail.details.errors).toEqual([{ folder: 'snapshots_dir', error: expect.any(String) }]);
    expect(JSON.stringify(init.body)).not.toContain(t.root);
    await rm(t.services.paths.snapshotsDir, { force: true });
  });

  it('init needs the admin key', async () => {
    const anonymous = await t.callJson('POST', '/backend/init', { key: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.detail.error).toBe('unauthorized');
    const key = await t.createProject('initp');
    expect((await t.callJson('POST', '/backend/init', { key })).status).toBe(401);
  });
});

describe('POST /backend/remove', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.close());

  it('acknowledges and deletes nothing', async () => {
    await t.createProject('keep');
    const { status, body } = await t.callJson('POST', '/backend/remove');
    expect(status).toBe(200);
    expect(body).toEqual({ success: true, message: 'Backend removal acknowledged (no-op)', storage_paths: null });
    for (const dir of Object.values(t.services.paths.folders)) expect((await stat(dir)).isDirectory()).toBe(true);
    expect((await stat(t.services.paths.metadataFile)).isFile()).toBe(true);
    expect((await t.callJson('GET', '/projects/keep')).status).toBe(200);
  });

  it('needs the admin key', async () => {
    const { status, body, response } = await t.callJson('POST', '/backend/remove', { key: 'nope-nope-nope' });
    expect(status).toBe(401);
    expect(body.detail.error).toBe('unauthorized');
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  });
});

describe('§1 conventions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.close());

  describe('X-Request-ID', () => {
    for (const id of ['abc', 'x'.repeat(128), 'req 42 / with spaces ~!', '"quoted"{}']) {
      it(`echoes ${JSON.stringify(id.slice(0, 20))} (${id.length} chars)`, async () => {
        const response = await t.call('GET', '/health', { key: null, headers: { 'x-request-id': id } });
        expect(response.headers.get('x-request-id')).toBe(id);
      });
    }

    for (const [label, id] of [
      ['too long', 'x'.repeat(129)],
      ['a tab', 'a\tb'],
      ['non-ASCII', 'caf\u00e9'],
      ['empty', ''],
    ] as const) {
      it(`replaces an id with ${label} by a fresh UUID v4`, async () => {
        const response = await t.call('GET', '/health', { key: null, headers: { 'x-request-id': id } });
        const got = response.headers.get('x-request-id');
        expect(got).toMatch(UUID_V4);
        expect(got).not.toBe(id);
      });
    }

    it('generates a fresh UUID v4 per request when none is sent', async () => {
      const a = (await t.call('GET', '/', { key: null })).headers.get('x-request-id');
      const b = (await t.call('GET', '/', { key: null })).headers.get('x-request-id');
      expect(a).toMatch(UUID_V4);
      expect(b).toMatch(UUID_V4);
      expect(a).not.toBe(b);
    });

    it('is on error responses too, and in the log line of that request', async () => {
      const response = await t.call('GET', '/projects', { key: null, headers: { 'x-request-id': 'trace-me-401' } });
      expect(response.status).toBe(401);
      expect(response.headers.get('x-request-id')).toBe('trace-me-401');
      const line = t.logLines.map((l) => JSON.parse(l)).find((l) => l.request_id === 'trace-me-401');
      expect(line).toMatchObject({ request_id: 'trace-me-401', method: 'GET', status: 401 });
    });
  });

  it('unknown path → 404 not_found with the error body shape', async () => {
    const { status, body, response } = await t.callJson('GET', '/no/such/thing', { key: null });
    expect(status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(Object.keys(body)).toEqual(['detail']);
    expect(body.detail.error).toBe('not_found');
    expect(typeof body.detail.message).toBe('string');
    expect(Object.keys(body.detail).every((k) => ['error', 'message', 'details'].includes(k))).toBe(true);
  });

  for (const [method, path, allow] of [
    ['PATCH', '/projects', ['GET', 'POST']],
    ['DELETE', '/health', ['GET']],
    ['POST', '/', ['GET']],
    ['GET', '/backend/init', ['POST']],
    ['POST', '/projects/p1/stats', ['GET']],
  ] as const) {
    it(`${method} ${path} → 405 method_not_allowed with Allow`, async () => {
      const { status, body, response } = await t.callJson(method, path, { key: null });
      expect(status).toBe(405);
      expect(body.detail.error).toBe('method_not_allowed');
      const allowed = response.headers.get('allow')!.split(',').map((m) => m.trim());
      for (const m of allow) expect(allowed).toContain(m);
      expect(allowed).not.toContain(method);
    });
  }

  it('CORS: every response carries Access-Control-Allow-Origin: *', async () => {
    for (const response of [
      await t.call('GET', '/', { key: null }),
      await t.call('GET', '/projects', { key: null }),
      await t.call('GET', '/nowhere', { key: null }),
      await t.call('GET', '/projects'),
    ]) {
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
    }
  });

  it('CORS: OPTIONS preflight → 204 without a key', async () => {
    const response = await t.call('OPTIONS', '/projects', {
      key: null,
      headers: { origin: 'https://ui.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(response.headers.get('x-request-id')).toMatch(UUID_V4);
  });

  it('415 unsupported_media_type: a JSON body sent as text/plain', async () => {
    const { status, body } = await t.callJson('POST', '/projects', {
      raw: JSON.stringify({ id: 'typed' }),
      headers: { 'content-type': 'text/plain' },
    });
    expect(status).toBe(415);
    expect(body.detail.error).toBe('unsupported_media_type');
    expect((await t.callJson('GET', '/projects/typed')).status).toBe(404);
  });

  it('a *+json content type and a charset parameter are accepted', async () => {
    const a = await t.callJson('POST', '/projects', { raw: JSON.stringify({ id: 'plusjson' }), headers: { 'content-type': 'application/vnd.api+json' } });
    expect(a.status).toBe(201);
    const b = await t.callJson('POST', '/projects', { raw: JSON.stringify({ id: 'charset' }), headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(b.status).toBe(201);
  });

  it('a JSON body without Content-Type is accepted', async () => {
    expect(new Request('http://x/', { method: 'POST', body: new Uint8Array(1) }).headers.get('content-type')).toBeNull();
    // Bytes, not a string: a string body would get text/plain from the Request constructor.
    const raw = new TextEncoder().encode(JSON.stringify({ id: 'untyped' }));
    const { status, body, response } = await t.callJson('POST', '/projects', { raw });
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(status).toBe(201);
    expect(body.id).toBe('untyped');
  });

  it('422 validation_error with details.issues for unparsable JSON', async () => {
    const { status, body } = await t.callJson('POST', '/projects', { raw: '{"id": "broken"', headers: { 'content-type': 'application/json' } });
    expect(status).toBe(422);
    expect(body.detail.error).toBe('validation_error');
    expect(Array.isArray(body.detail.details.issues)).toBe(true);
    expect(body.detail.details.issues.length).toBeGreaterThan(0);
    for (const issue of body.detail.details.issues) {
      expect(Object.keys(issue).sort()).toEqual(['message', 'path']);
      expect(typeof issue.path).toBe('string');
      expect(typeof issue.message).toBe('string');
    }
  });

  it('422 validation_error: issues name the offending field', async () => {
    const { status, body } = await t.callJson('POST', '/projects', { body: { id: 'bad id!', name: 42 } });
    expect(status).toBe(422);
    expect(body.detail.error).toBe('validation_error');
    const paths = body.detail.details.issues.map((i: { path: string }) => i.path);
    expect(paths).toContain('id');
    expect(paths).toContain('name');
  });

  it('413 payload_too_large for a JSON body over 1 MiB (streamed, no Content-Length)', async () => {
    const big = JSON.stringify({ id: 'big', settings: { blob: 'x'.repeat(1024 * 1024) } });
    const { status, body } = await t.callJson('POST', '/projects', { raw: big, headers: { 'content-type': 'application/json' } });
    expect(status).toBe(413);
    expect(body.detail.error).toBe('payload_too_large');
    expect((await t.callJson('GET', '/projects/big')).status).toBe(404);
  });

  it('413 payload_too_large from a declared Content-Length over 1 MiB', async () => {
    const big = JSON.stringify({ id: 'big2', settings: { blob: 'y'.repeat(1024 * 1024 + 10) } });
    const { status, body } = await t.callJson('POST', '/projects', {
      raw: big,
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(big)) },
    });
    expect(status).toBe(413);
    expect(body.detail.error).toBe('payload_too_large');
  });

  it('a JSON body just under 1 MiB is accepted', async () => {
    const body = { id: 'almost', settings: { blob: '' } };
    const room = 1024 * 1024 - JSON.stringify(body).length;
    body.settings.blob = 'z'.repeat(room);
    expect(Buffer.byteLength(JSON.stringify(body))).toBe(1024 * 1024);
    const created = await t.callJson('POST', '/projects', { body });
    expect(created.status).toBe(201);
  });

  it('500 internal_server_error is generic without DEBUG and carries the request id', async () => {
    const quiet = await makeApp({ env: { DEBUG: 'false' } });
    try {
      // A broken catalog is "anything unexpected".
      const original = quiet.services.catalog.listProjects;
      quiet.services.catalog.listProjects = () => {
        throw new Error(`boom at ${quiet.dataDir}/metadata.duckdb`);
      };
      const { status, body, response } = await quiet.callJson('GET', '/projects', { headers: { 'x-request-id': 'oops-1' } });
      quiet.services.catalog.listProjects = original;
      expect(status).toBe(500);
      expect(body.detail.error).toBe('internal_server_error');
      expect(body.detail.message).toBe('Internal server error');
      expect(JSON.stringify(body)).not.toContain(quiet.root);
      expect(response.headers.get('x-request-id')).toBe('oops-1');
      expect(quiet.logLines.some((l) => l.includes('"request_id":"oops-1"') && l.includes('boom'))).toBe(true);
    } finally {
      await quiet.close();
    }
  });

  it('500 with DEBUG=true shows the message but never a host path', async () => {
    const original = t.services.catalog.listProjects;
    t.services.catalog.listProjects = () => {
      throw new Error(`boom at ${t.dataDir}/metadata.duckdb`);
    };
    const { status, body } = await t.callJson('GET', '/projects');
    t.services.catalog.listProjects = original;
    expect(status).toBe(500);
    expect(body.detail.error).toBe('internal_server_error');
    expect(body.detail.message).toContain('boom');
    expect(JSON.stringify(body)).not.toContain(t.root);
  });

  it('the admin key never appears in the log', async () => {
    await t.call('GET', '/projects');
    await t.call('GET', '/projects', { key: 'wrong-wrong-wrong' });
    expect(t.logLines.length).toBeGreaterThan(0);
    expect(t.logLines.join('\n')).not.toContain(ADMIN_KEY);
  });
});
