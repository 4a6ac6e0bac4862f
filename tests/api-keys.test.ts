// CONTRACT §11: the key endpoints, rotation and revocation taking effect on the very next
// request, expiry at the right second (an injected clock), last_used_at batched, a restart
// keeping everything, and no secret in the logs or at rest. The scope × route matrix is in
// auth-matrix.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/auth/keys.ts';
import { LAST_USED_FLUSH_MS } from '../src/storage/catalog/keys.ts';
import { makeApp, manualClock, walk, type TestApp } from './helpers.ts';

const K = '/projects/shop/api-keys';
const KEY_FIELDS = ['branch', 'buckets', 'created_at', 'description', 'expires_at', 'id', 'key_prefix', 'last_used_at', 'rotated_at', 'scope'];

describe('§11 API keys', () => {
  let t: TestApp;
  const clock = manualClock();
  let adminKey = '';

  beforeAll(async () => {
    t = await makeApp({ clock });
    adminKey = await t.createProject('shop');
    await t.callJson('POST', '/projects/shop/buckets', { body: { name: 'in_c_sales' } });
    await t.callJson('POST', '/projects/shop/buckets', { body: { name: 'in_c_hr' } });
    await t.createProject('rival');
  });
  afterAll(() => t.close());

  const create = (body: unknown, key?: string) => t.callJson('POST', K, { body, key: key ?? adminKey });

  it("the project's own key is its first admin key, in the §2 format", async () => {
    const { status, body } = await t.callJson('GET', K, { key: adminKey });
    expect(status).toBe(200);
    expect(body.total).toBe(1);
    expect(Object.keys(body.api_keys[0]).sort()).toEqual(KEY_FIELDS);
    expect(body.api_keys[0]).toMatchObject({ scope: 'admin', buckets: null, branch: null, key_prefix: 'proj_shop_admin_...', expires_at: null, rotated_at: null });
    expect(adminKey).toMatch(/^proj_shop_admin_[0-9a-f]{32}$/);
  });

  it('creates keys of every scope; the secret is shown once and works at once', async () => {
    for (const scope of ['read', 'write', 'admin'] as const) {
      const { status, body, response } = await create({ scope, description: `${scope} key` });
      expect(status).toBe(201);
      expect(response.headers.get('content-type')).toContain('application/json');
      expect(Object.keys(body).sort()).toEqual([...KEY_FIELDS, 'api_key'].sort());
      expect(body.id).toMatch(/^k_[0-9a-f]{12}$/);
      expect(body.api_key).toMatch(new RegExp(`^proj_shop_${scope}_[0-9a-f]{32}$`));
      expect(body.key_prefix).toBe(`proj_shop_${scope}_...`);
      expect(body.created_at).toBe(clock.now().toISOString());
      const current = await t.callJson('GET', `${K}/current`, { key: body.api_key });
      expect(current.status).toBe(200);
      expect(current.body.id).toBe(body.id);
      expect(current.body.api_key).toBeUndefined();
      const again = await t.callJson('GET', `${K}/${body.id}`, { key: adminKey });
      expect(again.body.api_key).toBeUndefined();
      expect(again.body.scope).toBe(scope);
    }
  });

  it('current answers the service admin key with id null and scope service_admin', async () => {
    const { status, body } = await t.callJson('GET', `${K}/current`);
    expect(status).toBe(200);
    expect(body).toEqual({ id: null, scope: 'service_admin' });
  });

  it('validates the body: scope, description length, expiry bounds, restricted admin keys, the default branch', async () => {
    const before = (await t.callJson('GET', K, { key: adminKey })).body.total;
    const bad: unknown[] = [
      {},
      { scope: 'owner' },
      { scope: 'read', description: 'x'.repeat(256) },
      { scope: 'read', expires_in_seconds: 59 },
      { scope: 'read', expires_in_seconds: 315_360_001 },
      { scope: 'read', expires_in_seconds: 60.5 },
      { scope: 'admin', buckets: ['in_c_sales'] },
      { scope: 'admin', branch: 'b_1' },
      { scope: 'read', branch: 'default' },
      { scope: 'read', buckets: ['bad.name'] },
      { scope: 'read', buckets: [] },
    ];
    for (const body of bad) {
      const res = await create(body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.detail.error).toBe('validation_error');
      expect(res.body.detail.details.issues.length).toBeGreaterThan(0);
    }
    expect((await t.callJson('GET', K, { key: adminKey })).body.total).toBe(before);
  });

  it('404 bucket_not_found for a bucket that does not exist, 404 branch_not_found for a branch', async () => {
    const bucket = await create({ scope: 'read', buckets: ['in_c_sales', 'in_c_missing'] });
    expect(bucket.status).toBe(404);
    expect(bucket.body.detail.error).toBe('bucket_not_found');
    const branch = await create({ scope: 'read', branch: 'b_0123456789ab' });
    expect(branch.status).toBe(404);
    expect(branch.body.detail.error).toBe('branch_not_found');
    const missing = await t.callJson('POST', '/projects/nosuch/api-keys', { body: { scope: 'read' } });
    expect(missing.status).toBe(404);
    expect(missing.body.detail.error).toBe('project_not_found');
  });

  it('stores bucket restrictions as the buckets are spelled', async () => {
    const { status, body } = await create({ scope: 'write', buckets: ['IN_C_SALES', 'in_c_sales'] });
    expect(status).toBe(201);
    expect(body.buckets).toEqual(['in_c_sales']);
  });

  it('lists keys oldest first; get answers 404 key_not_found for a missing id or one of another project', async () => {
    const { body } = await t.callJson('GET', K, { key: adminKey });
    const created = body.api_keys.map((k: { created_at: string }) => k.created_at);
    expect([...created].sort()).toEqual(created);
    const rivalKey = (await t.callJson('GET', '/projects/rival/api-keys')).body.api_keys[0].id;
    for (const id of ['k_000000000000', rivalKey, 'not-a-key']) {
      const res = await t.callJson('GET', `${K}/${id}`, { key: adminKey });
      expect(res.status, id).toBe(404);
      expect(res.body.detail.error).toBe('key_not_found');
      const del = await t.callJson('DELETE', `${K}/${id}`, { key: adminKey });
      expect(del.status).toBe(404);
      const rot = await t.callJson('POST', `${K}/${id}/rotate`, { key: adminKey });
      expect(rot.status).toBe(404);
      expect(rot.body.detail.error).toBe('key_not_found');
    }
  });

  it('rotation keeps id, description, scope, buckets and expiry; the old secret fails on the very next request', async () => {
    const made = (await create({ scope: 'read', description: 'dash', buckets: ['in_c_sales'], expires_in_seconds: 3600 })).body;
    expect((await t.call('GET', '/projects/shop/buckets', { key: made.api_key })).status).toBe(200);
    clock.advance(1000);
    const rotated = await t.callJson('POST', `${K}/${made.id}/rotate`, { key: adminKey });
    expect(rotated.status).toBe(200);
    expect(rotated.body.api_key).toMatch(/^proj_shop_read_[0-9a-f]{32}$/);
    expect(rotated.body.api_key).not.toBe(made.api_key);
    expect(rotated.body).toMatchObject({ id: made.id, description: 'dash', scope: 'read', buckets: ['in_c_sales'], expires_at: made.expires_at, created_at: made.created_at });
    expect(rotated.body.rotated_at).toBe(clock.now().toISOString());
    const old = await t.callJson('GET', '/projects/shop/buckets', { key: made.api_key });
    expect(old.status).toBe(403);
    expect(old.body.detail.error).toBe('forbidden');
    expect((await t.call('GET', '/projects/shop/buckets', { key: rotated.body.api_key })).status).toBe(200);
  });

  it('revocation: 204, the key fails on the very next request and is gone from list and get', async () => {
    const made = (await create({ scope: 'write' })).body;
    expect((await t.call('GET', '/projects/shop', { key: made.api_key })).status).toBe(200);
    const revoked = await t.call('DELETE', `${K}/${made.id}`, { key: adminKey });
    expect(revoked.status).toBe(204);
    expect(await revoked.text()).toBe('');
    const after = await t.callJson('GET', '/projects/shop', { key: made.api_key });
    expect(after.status).toBe(403);
    expect(after.body.detail.error).toBe('forbidden');
    expect((await t.callJson('GET', `${K}/${made.id}`, { key: adminKey })).status).toBe(404);
    const list = (await t.callJson('GET', K, { key: adminKey })).body.api_keys.map((k: { id: string }) => k.id);
    expect(list).not.toContain(made.id);
    // On an admin route (§2) a dead key is 401, as any key that is not the admin key.
    expect((await t.call('GET', '/projects', { key: made.api_key })).status).toBe(401);
  });

  it('409 last_admin_key for the last live admin key; an expired admin key does not count', async () => {
    const p = 'solo';
    const first = await t.createProject(p);
    const firstId = (await t.callJson('GET', `/projects/${p}/api-keys/current`, { key: first })).body.id;
    const refused = await t.callJson('DELETE', `/projects/${p}/api-keys/${firstId}`, { key: first });
    expect(refused.status).toBe(409);
    expect(refused.body.detail.error).toBe('last_admin_key');
    expect((await t.call('GET', `/projects/${p}`, { key: first })).status).toBe(200);
    // A second admin key that expires: while it lives, the first may go; once expired, not.
    const second = (await t.callJson('POST', `/projects/${p}/api-keys`, { body: { scope: 'admin', expires_in_seconds: 60 }, key: first })).body;
    clock.advance(61_000);
    const stillLast = await t.callJson('DELETE', `/projects/${p}/api-keys/${firstId}`, { key: first });
    expect(stillLast.status).toBe(409);
    // The expired key itself may be deleted.
    expect((await t.call('DELETE', `/projects/${p}/api-keys/${second.id}`, { key: first })).status).toBe(204);
    const third = (await t.callJson('POST', `/projects/${p}/api-keys`, { body: { scope: 'admin' }, key: first })).body;
    expect((await t.call('DELETE', `/projects/${p}/api-keys/${firstId}`, { key: third.api_key })).status).toBe(204);
    expect((await t.call('GET', `/projects/${p}`, { key: first })).status).toBe(403);
    // Two concurrent revokes of the last two admin keys: exactly one succeeds.
    const fourth = (await t.callJson('POST', `/projects/${p}/api-keys`, { body: { scope: 'admin' }, key: third.api_key })).body;
    const both = await Promise.all([
      t.call('DELETE', `/projects/${p}/api-keys/${third.id}`),
      t.call('DELETE', `/projects/${p}/api-keys/${fourth.id}`),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([204, 409]);
  });

  it('expiry takes effect at the right second', async () => {
    const made = (await create({ scope: 'read', expires_in_seconds: 120 })).body;
    expect(made.expires_at).toBe(new Date(clock.now().getTime() + 120_000).toISOString());
    clock.advance(119_999);
    expect((await t.call('GET', '/projects/shop', { key: made.api_key })).status).toBe(200);
    clock.advance(1);
    const expired = await t.callJson('GET', '/projects/shop', { key: made.api_key });
    expect(expired.status).toBe(403);
    expect(expired.body.detail.error).toBe('forbidden');
    // Still listed, with its expiry: an expired key is not revoked.
    expect((await t.callJson('GET', `${K}/${made.id}`, { key: adminKey })).body.expires_at).toBe(made.expires_at);
  });

  it('last_used_at moves with use, in memory at once, on disk at most once a minute (batched)', async () => {
    const made = (await create({ scope: 'read' })).body;
    expect(made.last_used_at).toBeNull();
    clock.advance(5000);
    await t.call('GET', '/projects/shop', { key: made.api_key });
    const seen = (await t.callJson('GET', `${K}/${made.id}`, { key: adminKey })).body.last_used_at;
    expect(seen).toBe(clock.now().toISOString());
    const onDisk = async () =>
      (await t.services.catalog.store.db.with(async (c) => (await c.runAndReadAll('SELECT last_used_at FROM project_keys WHERE id = $1', [made.id])).getRowObjectsJS()))[0]!.last_used_at;
    // Not written per request: the row still has no use until the flush.
    expect(await onDisk()).toBeNull();
    await t.services.keys.flushUses();
    expect(await onDisk()).toBe(seen);
    expect(LAST_USED_FLUSH_MS).toBeLessThanOrEqual(60_000);
  });

  it('keys of a deleted project stop working at once, every scope, and their records go', async () => {
    const p = 'doomed';
    const admin = await t.createProject(p);
    const keys: string[] = [admin];
    for (const scope of ['read', 'write', 'admin']) keys.push((await t.callJson('POST', `/projects/${p}/api-keys`, { body: { scope }, key: admin })).body.api_key);
    expect((await t.call('DELETE', `/projects/${p}`, { key: admin })).status).toBe(204);
    for (const key of keys) {
      const res = await t.callJson('GET', `/projects/${p}/api-keys/current`, { key });
      expect(res.status).toBe(403);
      expect(res.body.detail.error).toBe('forbidden');
      expect(t.services.keys.byDigestOf(sha256Hex(key))).toBeUndefined();
    }
    expect(t.services.keys.list(p)).toEqual([]);
  });

  it('logs name keys by id and prefix, never the secret', async () => {
    const made = (await create({ scope: 'read' })).body;
    t.logLines.length = 0;
    await t.call('GET', '/projects/shop/buckets', { key: made.api_key });
    await t.call('POST', `${K}/${made.id}/rotate`, { key: adminKey });
    const log = t.logLines.join('\n');
    expect(log).not.toContain(made.api_key.slice(-32));
    const line = t.logLines.map((l) => JSON.parse(l)).find((r) => r.msg === 'request' && r.route === '/projects/:id/buckets');
    expect(line).toMatchObject({ caller: 'proj_shop_read_...', key_id: made.id });
  });
});

describe('§11 keys across a restart', () => {
  it('keeps keys, scopes, restrictions, expiry and last use; rotated and revoked secrets stay dead', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dsa-keys-'));
    const clock = manualClock();
    let t = await makeApp({ root, clock });
    const admin = await t.createProject('keep');
    await t.call('POST', '/projects/keep/buckets', { body: { name: 'in_c_a' } });
    const read = (await t.callJson('POST', '/projects/keep/api-keys', { body: { scope: 'read', buckets: ['in_c_a'], expires_in_seconds: 3600, description: 'bi' }, key: admin })).body;
    const write = (await t.callJson('POST', '/projects/keep/api-keys', { body: { scope: 'write' }, key: admin })).body;
    const rotated = (await t.callJson('POST', `/projects/keep/api-keys/${read.id}/rotate`, { key: admin })).body;
    await t.call('DELETE', `/projects/keep/api-keys/${write.id}`, { key: admin });
    clock.advance(1000);
    await t.call('GET', '/projects/keep', { key: rotated.api_key });
    const before = (await t.callJson('GET', '/projects/keep/api-keys', { key: admin })).body;
    await t.services.close();

    t = await makeApp({ root, clock });
    try {
      const after = (await t.callJson('GET', '/projects/keep/api-keys', { key: admin })).body;
      expect(after).toEqual(before);
      expect(after.api_keys.find((k: { id: string }) => k.id === read.id).last_used_at).toBe(clock.now().toISOString());
      expect((await t.call('GET', '/projects/keep', { key: rotated.api_key })).status).toBe(200);
      expect((await t.call('GET', '/projects/keep', { key: read.api_key })).status).toBe(403);
      expect((await t.call('GET', '/projects/keep', { key: write.api_key })).status).toBe(403);
      const other = await t.callJson('GET', '/projects/keep/buckets/in_c_b', { key: rotated.api_key });
      expect(other.status).toBe(403);
      clock.advance(3600_000);
      expect((await t.call('GET', '/projects/keep', { key: rotated.api_key })).status).toBe(403);
    } finally {
      await t.services.close();
    }
    // Only digests at rest: no secret in any file of the data folder.
    const secrets = [admin, read.api_key, rotated.api_key, write.api_key].map((k) => k.slice(-32));
    const { readFile } = await import('node:fs/promises');
    for (const rel of await walk(join(root, 'data'))) {
      let bytes: Buffer;
      try {
        bytes = await readFile(join(root, 'data', rel));
      } catch {
        continue; // a folder
      }
      for (const secret of secrets) expect(bytes.includes(Buffer.from(secret)), rel).toBe(false);
    }
    await rm(root, { recursive: true, force: true });
  });

  it('a data folder from before scoped keys keeps its project keys, as admin keys', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dsa-keys-legacy-'));
    let t = await makeApp({ root });
    const key = await t.createProject('old');
    // Put the key back the way the earlier layout stored it: one row in api_keys.
    await t.services.catalog.store.db.with(async (c) => {
      await c.run('CREATE TABLE api_keys (digest VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, prefix VARCHAR NOT NULL, created_at VARCHAR NOT NULL)');
      await c.run("INSERT INTO api_keys VALUES ($1, 'old', 'proj_old_admin_...', '2026-01-01T00:00:00.000Z')", [sha256Hex(key)]);
      await c.run("DELETE FROM project_keys WHERE project_id = 'old'");
    });
    await t.services.close();
    t = await makeApp({ root });
    try {
      const current = await t.callJson('GET', '/projects/old/api-keys/current', { key });
      expect(current.status).toBe(200);
      expect(current.body).toMatchObject({ scope: 'admin', key_prefix: 'proj_old_admin_...', created_at: '2026-01-01T00:00:00.000Z' });
      const tables = await t.services.catalog.store.db.with(async (c) => (await c.runAndReadAll("SELECT count(*)::INTEGER AS n FROM duckdb_tables() WHERE table_name = 'api_keys'")).getRowObjectsJS());
      expect(tables[0]!.n).toBe(0);
    } finally {
      await t.close();
    }
  });
});
