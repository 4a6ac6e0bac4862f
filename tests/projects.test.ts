import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/auth/keys.ts';
import type { HandlerContext } from '../src/context.ts';
import { StorageSession } from '../src/storage/session.ts';
import { createProject } from '../handlers/projects/create.ts';
import { getProject } from '../handlers/projects/get.ts';
import { makeApp, walk, type TestApp } from './helpers.ts';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$/;
const KEY_FORMAT = (id: string) => new RegExp(`^proj_${id}_admin_[0-9a-f]{32}$`);

/** Waits (bounded) until the clock moves on, so creation times differ. */
async function nextMillisecond(): Promise<void> {
  const start = Date.now();
  for (let i = 0; i < 10_000 && Date.now() === start; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('POST /projects', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.close());

  it('201 with the project object and a key of the documented format', async () => {
    const { status, body, response } = await t.callJson('POST', '/projects', { body: { id: 'p_1-x', name: 'My Project', settings: { a: 1 } } });
    expect(status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(body).toEqual({
      id: 'p_1-x',
      name: 'My Project',
      db_path: 'project_p_1-x',
      created_at: expect.stringMatching(ISO_UTC),
      updated_at: expect.stringMatching(ISO_UTC),
      size_bytes: 0,
      table_count: 0,
      bucket_count: 0,
      status: 'active',
      settings: { a: 1 },
      api_key: expect.stringMatching(KEY_FORMAT('p_1-x')),
    });
    expect(body.created_at).toBe(body.updated_at);
  });

  it('name and settings default to null', async () => {
    const { status, body } = await t.callJson('POST', '/projects', { body: { id: 'bare' } });
    expect(status).toBe(201);
    expect(body.name).toBeNull();
    expect(body.settings).toBeNull();
  });

  it('keys are random: two projects never share one', async () => {
    const a = await t.createProject('rand1');
    const b = await t.createProject('rand2');
    expect(a.slice(-32)).not.toBe(b.slice(-32));
  });

  it('the key is returned once and never again', async () => {
    const key = await t.createProject('once');
    const got = await t.callJson('GET', '/projects/once');
    const listed = await t.callJson('GET', '/projects');
    expect(got.body.api_key).toBeUndefined();
    expect(JSON.stringify(listed.body)).not.toContain(key);
    expect(JSON.stringify(got.body)).not.toContain(key);
  });

  it('409 project_exists, also without regard to case', async () => {
    await t.createProject('dupe');
    for (const id of ['dupe', 'DUPE']) {
      const { status, body } = await t.callJson('POST', '/projects', { body: { id } });
      expect(status).toBe(409);
      expect(body.detail.error).toBe('project_exists');
      expect(body.detail.details).toEqual({ project_id: 'dupe', status: 'active' });
    }
  });

  it('409 project_exists with details.status "deleted" for a deleted project', async () => {
    await t.createProject('ghost');
    expect((await t.call('DELETE', '/projects/ghost')).status).toBe(204);
    const { status, body } = await t.callJson('POST', '/projects', { body: { id: 'ghost' } });
    expect(status).toBe(409);
    expect(body.detail.error).toBe('project_exists');
    expect(body.detail.details.status).toBe('deleted');
  });

  it('concurrent creates of one id: exactly one wins', async () => {
    const results = await Promise.all([1, 2, 3, 4].map(() => t.callJson('POST', '/projects', { body: { id: 'race' } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
  });

  for (const [label, body, path] of [
    ['missing id', {}, 'id'],
    ['empty id', { id: '' }, 'id'],
    ['id with a dot', { id: 'a.b' }, 'id'],
    ['id with a slash', { id: 'a/b' }, 'id'],
    ['id of 65 chars', { id: 'a'.repeat(65) }, 'id'],
    ['numeric id', { id: 123 }, 'id'],
    ['settings not an object', { id: 'okid', settings: [1, 2] }, 'settings'],
    ['name not a string', { id: 'okid', name: 5 }, 'name'],
  ] as const) {
    it(`422 validation_error: ${label}`, async () => {
      const res = await t.callJson('POST', '/projects', { body });
      expect(res.status).toBe(422);
      expect(res.body.detail.error).toBe('validation_error');
      expect(res.body.detail.details.issues.map((i: { path: string }) => i.path)).toContain(path);
    });
  }

  it('a 64-character id is accepted', async () => {
    const id = `A${'b'.repeat(62)}-`;
    expect((await t.callJson('POST', '/projects', { body: { id } })).status).toBe(201);
  });

  it('an empty body counts as {} (and so fails on the missing id)', async () => {
    const res = await t.callJson('POST', '/projects', { raw: '', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(422);
    expect(res.body.detail.details.issues[0].path).toBe('id');
  });

  it('stores only the SHA-256 digest of the key', async () => {
    const key = await t.createProject('digest');
    const rows = await t.services.catalog.store.db.with(async (c) =>
      (await c.runAndReadAll("SELECT * FROM project_keys WHERE project_id = 'digest'")).getRowObjectsJS(),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.digest).toBe(sha256Hex(key));
    expect(rows[0]!.prefix).toBe('proj_digest_admin_...');
    expect(rows[0]!.scope).toBe('admin');
    expect(JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(key.slice(-32));
  });
});

describe('no project key reaches the disk', () => {
  it('the raw keys appear in no file of the data folder', async () => {
    const t = await makeApp();
    const keys: string[] = [];
    try {
      for (const id of ['k1', 'k2', 'k3']) keys.push(await t.createProject(id));
      await t.call('DELETE', '/projects/k3');
    } finally {
      await t.services.close();
    }
    const files = await walk(t.dataDir);
    let scanned = 0;
    for (const rel of files) {
      const full = join(t.dataDir, rel);
      let bytes: Buffer;
      try {
        bytes = await readFile(full);
      } catch {
        continue; // a folder
      }
      scanned++;
      for (const key of keys) {
        expect(bytes.includes(key), `${rel} holds a key`).toBe(false);
        expect(bytes.includes(key.slice(-32)), `${rel} holds a key's secret part`).toBe(false);
      }
    }
    expect(files).toContain('metadata.duckdb');
    expect(scanned).toBeGreaterThan(0);
    // The digest is what is stored, so the file does hold it.
    const metadata = await readFile(join(t.dataDir, 'metadata.duckdb'));
    expect(metadata.includes(sha256Hex(keys[0]!))).toBe(true);
    await t.close();
  });
});

describe('GET /projects', () => {
  let t: TestApp;
  const ids = ['lz', 'ly', 'lx', 'lw', 'lv'];
  beforeAll(async () => {
    t = await makeApp();
    // Ids in reverse alphabetical order, so newest-first is not an accident of sorting by id.
    for (const id of ids) {
      await t.createProject(id);
      await nextMillisecond();
    }
    await t.call('DELETE', '/projects/lx');
    await t.call('DELETE', '/projects/lv');
  });
  afterAll(() => t.close());

  it('lists every project newest first, total counts them', async () => {
    const { status, body } = await t.callJson('GET', '/projects');
    expect(status).toBe(200);
    expect(body.projects.map((p: { id: string }) => p.id)).toEqual(['lv', 'lw', 'lx', 'ly', 'lz']);
    expect(body.total).toBe(5);
    const times = body.projects.map((p: { created_at: string }) => p.created_at);
    expect([...times].sort().reverse()).toEqual(times);
    for (const p of body.projects) expect(p.api_key).toBeUndefined();
  });

  it('filters by status', async () => {
    const active = await t.callJson('GET', '/projects?status=active');
    expect(active.body.projects.map((p: { id: string }) => p.id)).toEqual(['lw', 'ly', 'lz']);
    expect(active.body.total).toBe(3);
    const deleted = await t.callJson('GET', '/projects?status=deleted');
    expect(deleted.body.projects.map((p: { id: string }) => p.id)).toEqual(['lv', 'lx']);
    expect(deleted.body.projects.every((p: { status: string }) => p.status === 'deleted')).toBe(true);
    expect(deleted.body.total).toBe(2);
  });

  it('pages with limit and offset; total ignores paging', async () => {
    const page = await t.callJson('GET', '/projects?limit=2&offset=1');
    expect(page.body.projects.map((p: { id: string }) => p.id)).toEqual(['lw', 'lx']);
    expect(page.body.total).toBe(5);
    const filtered = await t.callJson('GET', '/projects?status=active&limit=1&offset=1');
    expect(filtered.body.projects.map((p: { id: string }) => p.id)).toEqual(['ly']);
    expect(filtered.body.total).toBe(3);
    const beyond = await t.callJson('GET', '/projects?offset=10');
    expect(beyond.body).toEqual({ projects: [], total: 5 });
    expect((await t.callJson('GET', '/projects?limit=1000')).body.projects).toHaveLength(5);
  });

  it('defaults to limit 100', async () => {
    const many = await makeApp();
    try {
      for (let i = 0; i < 101; i++) await many.createProject(`m${i}`);
      const { body } = await many.callJson('GET', '/projects');
      expect(body.projects).toHaveLength(100);
      expect(body.total).toBe(101);
    } finally {
      await many.close();
    }
  });

  for (const query of ['status=gone', 'limit=0', 'limit=1001', 'limit=abc', 'limit=1.5', 'offset=-1', 'offset=x']) {
    it(`422 validation_error for ?${query}`, async () => {
      const { status, body } = await t.callJson('GET', `/projects?${query}`);
      expect(status).toBe(422);
      expect(body.detail.error).toBe('validation_error');
      const field = query.split('=')[0];
      expect(body.detail.details.issues.map((i: { path: string }) => i.path)).toContain(`query.${field}`);
    });
  }
});

describe('GET /projects/{id}', () => {
  let t: TestApp;
  let key: string;
  beforeAll(async () => {
    t = await makeApp();
    key = await t.createProject('Mixed_Case');
  });
  afterAll(() => t.close());

  it('200 to the admin and to the project key', async () => {
    for (const k of [undefined, key]) {
      const { status, body } = await t.callJson('GET', '/projects/Mixed_Case', { key: k });
      expect(status).toBe(200);
      expect(body).toMatchObject({ id: 'Mixed_Case', db_path: 'project_Mixed_Case', status: 'active', size_bytes: 0, table_count: 0, bucket_count: 0 });
    }
  });

  it('is looked up without regard to case and returned in its created case', async () => {
    const { status, body } = await t.callJson('GET', '/projects/mixed_case', { key });
    expect(status).toBe(200);
    expect(body.id).toBe('Mixed_Case');
  });

  it('404 not_found for a missing project (admin)', async () => {
    const { status, body } = await t.callJson('GET', '/projects/nobody');
    expect(status).toBe(404);
    expect(body.detail.error).toBe('not_found');
    expect(body.detail.details).toEqual({ project_id: 'nobody' });
  });

  it('422 for an invalid id in the path', async () => {
    const { status, body } = await t.callJson('GET', '/projects/a.b');
    expect(status).toBe(422);
    expect(body.detail.error).toBe('validation_error');
    expect(body.detail.details.issues[0].path).toBe('path.id');
  });

  it('the handler answers on its own, with a hand-built ctx', async () => {
    const ctx: HandlerContext = {
      services: t.services,
      requestId: 'direct',
      params: { id: 'Mixed_Case' },
      principal: { kind: 'admin' },
      storage: new StorageSession(t.services.registry),
      log: t.services.logger,
      logFields: {},
    };
    const response = await getProject(new Request('http://x/projects/Mixed_Case'), ctx);
    expect(response.status).toBe(200);
    expect((await response.json()).id).toBe('Mixed_Case');
    expect(ctx.logFields.project_id).toBe('Mixed_Case');
  });

  it('the create handler throws HttpError on its own (the app maps it)', async () => {
    const ctx: HandlerContext = {
      services: t.services,
      requestId: 'direct',
      params: {},
      principal: { kind: 'admin' },
      storage: new StorageSession(t.services.registry),
      log: t.services.logger,
      logFields: {},
    };
    const request = new Request('http://x/projects', { method: 'POST', body: JSON.stringify({ id: 'mixed_CASE' }), headers: { 'content-type': 'application/json' } });
    await expect(Promise.resolve().then(() => createProject(request, ctx))).rejects.toMatchObject({ status: 409, code: 'project_exists' });
  });
});

describe('PUT /projects/{id}', () => {
  let t: TestApp;
  let key: string;
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-test-'));
    t = await makeApp({ root });
    const created = await t.callJson('POST', '/projects', { body: { id: 'up', name: 'Original', settings: { keep: true } } });
    key = created.body.api_key;
  });
  afterAll(async () => {
    await t.close();
    await rm(root, { recursive: true, force: true });
  });

  it('an absent field is left as it is', async () => {
    const before = (await t.callJson('GET', '/projects/up')).body;
    await nextMillisecond();
    const { status, body } = await t.callJson('PUT', '/projects/up', { body: { name: 'Renamed' }, key });
    expect(status).toBe(200);
    expect(body.name).toBe('Renamed');
    expect(body.settings).toEqual({ keep: true });
    expect(body.created_at).toBe(before.created_at);
    expect(body.updated_at > before.updated_at).toBe(true);
    expect(body.updated_at).toMatch(ISO_UTC);

    const settingsOnly = await t.callJson('PUT', '/projects/up', { body: { settings: { other: 1 } } });
    expect(settingsOnly.body.name).toBe('Renamed');
    expect(settingsOnly.body.settings).toEqual({ other: 1 });

    const empty = await t.callJson('PUT', '/projects/up', { body: {} });
    expect(empty.status).toBe(200);
    expect(empty.body.name).toBe('Renamed');
    expect(empty.body.settings).toEqual({ other: 1 });
  });

  it('an explicit null clears the field', async () => {
    const cleared = await t.callJson('PUT', '/projects/up', { body: { settings: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body.settings).toBeNull();
    expect(cleared.body.name).toBe('Renamed');
    const name = await t.callJson('PUT', '/projects/up', { body: { name: null } });
    expect(name.body.name).toBeNull();
    expect(name.body.settings).toBeNull();
  });

  it('the change is durable: visible after reopening the data folder', async () => {
    await t.callJson('PUT', '/projects/up', { body: { name: 'Durable', settings: { n: [1, 2] } } });
    await t.services.close();
    t = await makeApp({ root });
    const { body } = await t.callJson('GET', '/projects/up');
    expect(body).toMatchObject({ name: 'Durable', settings: { n: [1, 2] } });
  });

  it('404 not_found for a missing project', async () => {
    const { status, body } = await t.callJson('PUT', '/projects/missing', { body: { name: 'x' } });
    expect(status).toBe(404);
    expect(body.detail.error).toBe('not_found');
  });

  it('422 for a wrong type', async () => {
    const { status, body } = await t.callJson('PUT', '/projects/up', { body: { settings: 'nope' } });
    expect(status).toBe(422);
    expect(body.detail.details.issues[0].path).toBe('settings');
  });
});

describe('DELETE /projects/{id} (soft delete)', () => {
  let t: TestApp;
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-test-'));
    t = await makeApp({ root });
  });
  afterAll(async () => {
    await t.close();
    await rm(root, { recursive: true, force: true });
  });

  it('204; the admin still sees it as deleted; everything else is 404; the key stops at once', async () => {
    const key = await t.createProject('doomed');
    const other = await t.createProject('bystander');
    // The project's folder exists from creation (§9); give it a table so there is something to remove.
    const folder = join(t.services.paths.duckdbDir, 'project_doomed');
    expect(await walk(folder)).toEqual([]);
    expect((await t.callJson('POST', '/projects/doomed/buckets', { key, body: { name: 'in_c_sales' } })).status).toBe(201);
    const table = { name: 'orders', columns: [{ name: 'id', type: 'INTEGER' }] };
    expect((await t.callJson('POST', '/projects/doomed/buckets/in_c_sales/tables', { key, body: table })).status).toBe(201);
    expect(await walk(folder)).toEqual(['in_c_sales', 'in_c_sales/orders.duckdb']);
    expect((await t.callJson('GET', '/projects/doomed', { key })).status).toBe(200);

    const deleted = await t.call('DELETE', '/projects/doomed', { key });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');

    // The key stops working at once.
    const withKey = await t.callJson('GET', '/projects/doomed', { key });
    expect(withKey.status).toBe(403);
    expect(withKey.body.detail.error).toBe('forbidden');

    // The admin still sees the row.
    const asAdmin = await t.callJson('GET', '/projects/doomed');
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.body).toMatchObject({ id: 'doomed', status: 'deleted' });
    expect(asAdmin.body.updated_at >= asAdmin.body.created_at).toBe(true);

    for (const [method, path, body] of [
      ['PUT', '/projects/doomed', { name: 'x' }],
      ['DELETE', '/projects/doomed', undefined],
      ['GET', '/projects/doomed/stats', undefined],
    ] as const) {
      const res = await t.callJson(method, path, { body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.detail.error).toBe('not_found');
    }

    // The folder is gone from disk; nothing of it is left in the DuckDB folder.
    expect(existsSync(folder)).toBe(false);
    expect((await walk(t.services.paths.duckdbDir)).filter((p) => p.includes('doomed') || p.startsWith('.trash'))).toEqual([]);

    // Others are untouched.
    expect((await t.callJson('GET', '/projects/bystander', { key: other })).status).toBe(200);
  });

  it('the folder duckdb/project_{id}/ exists from creation until deletion (§9)', async () => {
    const folder = join(t.services.paths.duckdbDir, 'project_lifecycle');
    expect(existsSync(folder)).toBe(false);
    await t.createProject('lifecycle');
    expect(await walk(folder), 'created empty with the project').toEqual([]);
    // Still there once its last bucket is gone.
    expect((await t.callJson('POST', '/projects/lifecycle/buckets', { body: { name: 'b' } })).status).toBe(201);
    expect((await t.call('DELETE', '/projects/lifecycle/buckets/b')).status).toBe(204);
    expect(await walk(folder)).toEqual([]);
    expect((await t.call('DELETE', '/projects/lifecycle')).status).toBe(204);
    expect(existsSync(folder)).toBe(false);
    expect((await walk(t.services.paths.duckdbDir)).filter((p) => p.startsWith('project_lifecycle') || p.startsWith('.trash'))).toEqual([]);
  });

  it('a refused create (409) leaves the existing folder alone and makes none for a deleted id', async () => {
    await t.createProject('twice');
    await writeFile(join(t.services.paths.duckdbDir, 'project_twice', 'marker'), 'x');
    expect((await t.callJson('POST', '/projects', { body: { id: 'TWICE' } })).status).toBe(409);
    expect(await walk(join(t.services.paths.duckdbDir, 'project_twice'))).toEqual(['marker']);
    expect((await t.call('DELETE', '/projects/twice')).status).toBe(204);
    expect((await t.callJson('POST', '/projects', { body: { id: 'twice' } })).status).toBe(409);
    expect(existsSync(join(t.services.paths.duckdbDir, 'project_twice'))).toBe(false);
  });

  it('a project whose folder went missing deletes fine, and a restart gives an active project its folder back', async () => {
    await t.createProject('nofolder');
    await t.createProject('refolder');
    await rm(join(t.services.paths.duckdbDir, 'project_nofolder'), { recursive: true });
    expect((await t.call('DELETE', '/projects/nofolder')).status).toBe(204);
    await rm(join(t.services.paths.duckdbDir, 'project_refolder'), { recursive: true });
    await t.services.close();
    t = await makeApp({ root });
    expect(await walk(join(t.services.paths.duckdbDir, 'project_refolder'))).toEqual([]);
    expect(existsSync(join(t.services.paths.duckdbDir, 'project_nofolder'))).toBe(false);
    expect(t.logLines.some((l) => JSON.parse(l).repair === 'created_project_folder')).toBe(true);
  });

  it('two deletes of one project at once: one 204, the other 404 not_found', async () => {
    for (let round = 0; round < 5; round++) {
      const id = `twodel${round}`;
      await t.createProject(id);
      expect((await t.callJson('POST', `/projects/${id}/buckets`, { body: { name: 'b' } })).status).toBe(201);
      const answers = await Promise.all([t.callJson('DELETE', `/projects/${id}`), t.callJson('DELETE', `/projects/${id}`)]);
      expect(answers.map((a) => a.status).sort()).toEqual([204, 404]);
      expect(answers.find((a) => a.status === 404)!.body.detail).toEqual({ error: 'not_found', message: `Project ${id} not found`, details: { project_id: id } });
    }
  });

  it('PUT whose body is still arriving when the project is deleted: 404 not_found, the row stays deleted', async () => {
    await t.createProject('slowput');
    // A body the handler pulls chunk by chunk: the first arrives, then it waits for us.
    const encoder = new TextEncoder();
    let waiting!: () => void;
    const handlerWaits = new Promise<void>((resolve) => (waiting = resolve));
    let rest!: () => void;
    const restArrives = new Promise<void>((resolve) => (rest = resolve));
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          pulls++;
          if (pulls === 1) return controller.enqueue(encoder.encode('{"name": '));
          if (pulls === 2) {
            waiting();
            await restArrives;
            controller.enqueue(encoder.encode('"renamed"}'));
            return controller.close();
          }
        },
      },
      { highWaterMark: 0 },
    );
    const update = t.callJson('PUT', '/projects/slowput', { raw: body, headers: { 'content-type': 'application/json' } });
    // The handler has looked the project up and is reading the body when the delete runs.
    await handlerWaits;
    expect((await t.call('DELETE', '/projects/slowput')).status).toBe(204);
    rest();
    const answer = await update;
    expect(answer.status, JSON.stringify(answer.body)).toBe(404);
    expect(answer.body.detail.error).toBe('not_found');
    const row = t.services.catalog.getProject('slowput')!;
    expect(row).toMatchObject({ status: 'deleted', name: null });
  });

  it('the deletion survives a restart; the deleted key stays dead', async () => {
    const key = await t.createProject('persist');
    await t.call('DELETE', '/projects/persist');
    await t.services.close();
    t = await makeApp({ root });
    expect((await t.callJson('GET', '/projects/persist')).body.status).toBe('deleted');
    expect((await t.callJson('GET', '/projects/persist', { key })).status).toBe(403);
  });

  it('404 not_found for a missing project', async () => {
    const { status, body } = await t.callJson('DELETE', '/projects/never');
    expect(status).toBe(404);
    expect(body.detail.error).toBe('not_found');
  });
});

describe('GET /projects/{id}/stats', () => {
  let t: TestApp;
  let key: string;
  beforeAll(async () => {
    t = await makeApp();
    key = await t.createProject('st');
  });
  afterAll(() => t.close());

  it('200 with live figures', async () => {
    const { status, body } = await t.callJson('GET', '/projects/st/stats', { key });
    expect(status).toBe(200);
    expect(body).toEqual({ id: 'st', size_bytes: 0, table_count: 0, bucket_count: 0, snapshots_size_bytes: 0, files_size_bytes: 0, branches_size_bytes: 0, workspaces_size_bytes: 0 });
  });

  it('counts the stored files apart from the tables', async () => {
    expect((await t.callJson('POST', '/projects/st/files?name=a', { key, raw: 'abcde' })).status).toBe(201);
    const { body } = await t.callJson('GET', '/projects/st/stats', { key });
    expect(body).toMatchObject({ size_bytes: 0, files_size_bytes: 5 });
  });

  it('answers in the created case', async () => {
    expect((await t.callJson('GET', '/projects/ST/stats')).body.id).toBe('st');
  });

  it('404 not_found for a missing project', async () => {
    const { status, body } = await t.callJson('GET', '/projects/nope/stats');
    expect(status).toBe(404);
    expect(body.detail.error).toBe('not_found');
  });
});
