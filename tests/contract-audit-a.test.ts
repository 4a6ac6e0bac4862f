// CONTRACT audit of §11 (keys and scopes), §12 (schema, metadata, profile) and §13
// (snapshots), sentence by sentence, against what a client reading only the contract
// expects: status, error code, body fields, and "nothing changed" after every refusal.
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, manualClock, walk, type TestApp } from './helpers.ts';

const P = '/projects/audit';
const B = `${P}/buckets/in_c_a`;
const T = (table: string, bucket = 'in_c_a') => `${P}/buckets/${bucket}/tables/${table}`;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$/;

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.detail.error, JSON.stringify(res.body)).toBe(code);
  expect(typeof res.body.detail.message).toBe('string');
}

let t: TestApp;
const clock = manualClock();
let admin = '';
let seq = 0;

async function table(name = `t${++seq}`, options: { bucket?: string; csv?: string | null; project?: string } = {}): Promise<string> {
  const base = `/projects/${options.project ?? 'audit'}/buckets/${options.bucket ?? 'in_c_a'}`;
  const created = await t.callJson('POST', `${base}/tables`, {
    body: { name, columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }], primary_key: ['id'] },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const csv = options.csv === undefined ? 'id,v\n1,a\n2,b\n' : options.csv;
  if (csv) {
    const r = await t.call('POST', `${base}/tables/${name}/import`, { raw: csv, headers: { 'content-type': 'text/csv' } });
    expect(r.status, await r.clone().text()).toBe(200);
  }
  return name;
}

/** The table object without `size_bytes`, which is measured on disk and moves while a write's checkpoint (after its answer) folds the WAL. */
async function view(name: string, bucket = 'in_c_a') {
  const r = await t.callJson('GET', T(name, bucket));
  expect(r.status).toBe(200);
  const { size_bytes: _size, ...rest } = r.body;
  return rest;
}

async function key(body: Record<string, unknown>): Promise<{ id: string; api_key: string }> {
  const r = await t.callJson('POST', `${P}/api-keys`, { body, key: admin });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

beforeAll(async () => {
  t = await makeApp({ clock });
  admin = await t.createProject('audit');
  await t.createProject('other');
  for (const name of ['in_c_a', 'in_c_b']) expect((await t.callJson('POST', `${P}/buckets`, { body: { name } })).status).toBe(201);
  // `other` links audit's in_c_a as `linked`.
  expect((await t.callJson('POST', `${B}/share`, { body: { target_project_id: 'other' } })).status).toBe(200);
  expect((await t.callJson('POST', '/projects/other/buckets/linked/link', { body: { source_project_id: 'audit', source_bucket_name: 'in_c_a' } })).status).toBe(201);
});
afterAll(() => t.close());

describe('§11 keys', () => {
  it('a refused key creation (404 bucket_not_found / branch_not_found) stores no key', async () => {
    const before = (await t.callJson('GET', `${P}/api-keys`, { key: admin })).body;
    expectError(await t.callJson('POST', `${P}/api-keys`, { body: { scope: 'read', buckets: ['in_c_nope'] }, key: admin }), 404, 'bucket_not_found');
    expectError(await t.callJson('POST', `${P}/api-keys`, { body: { scope: 'read', branch: 'b_000000000000' }, key: admin }), 404, 'branch_not_found');
    expect((await t.callJson('GET', `${P}/api-keys`, { key: admin })).body).toEqual(before);
  });

  it('explicit nulls are accepted and mean "none"; the answer is the key object plus api_key', async () => {
    const r = await t.callJson('POST', `${P}/api-keys`, { body: { scope: 'write', description: null, buckets: null, branch: null, expires_in_seconds: null }, key: admin });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ scope: 'write', description: null, buckets: null, branch: null, expires_at: null, rotated_at: null, last_used_at: null, key_prefix: 'proj_audit_write_...' });
    expect(r.body.created_at).toMatch(ISO);
  });

  it('403 insufficient_scope with details {required, scope}; key listings need admin even though they are GETs', async () => {
    const read = await key({ scope: 'read' });
    const write = await key({ scope: 'write' });
    const cases: [string, string, string, string, string][] = [
      ['GET', `${P}/api-keys`, read.api_key, 'admin', 'read'],
      ['GET', `${P}/api-keys/${read.id}`, read.api_key, 'admin', 'read'],
      ['GET', `${P}/api-keys`, write.api_key, 'admin', 'write'],
      ['POST', `${P}/buckets`, read.api_key, 'write', 'read'],
      ['PUT', `${P}/settings/snapshots`, write.api_key, 'admin', 'write'],
      ['POST', `${T('x')}/columns`, read.api_key, 'write', 'read'],
      ['POST', `${T('x')}/snapshots`, read.api_key, 'write', 'read'],
    ];
    for (const [method, path, k, required, scope] of cases) {
      const res = await t.callJson(method, path, { key: k, body: method === 'GET' ? undefined : {} });
      expectError(res, 403, 'insufficient_scope');
      expect(res.body.detail.details).toEqual({ required, scope });
    }
    // GET current works for every scope.
    expect((await t.callJson('GET', `${P}/api-keys/current`, { key: read.api_key })).body.id).toBe(read.id);
    // read scope: GETs, filtered preview, export.
    const name = await table();
    expect((await t.call('GET', T(name), { key: read.api_key })).status).toBe(200);
    expect((await t.call('POST', `${T(name)}/preview`, { key: read.api_key, body: {} })).status).toBe(200);
    expect((await t.call('POST', `${T(name)}/export`, { key: read.api_key, body: { format: 'csv' } })).status).toBe(200);
    expect((await t.call('GET', `${T(name)}/profile`, { key: read.api_key })).status).toBe(200);
  });

  it('order of checks: the bucket restriction (403 forbidden) before the scope, before validation and lookups', async () => {
    const read = await key({ scope: 'read', buckets: ['in_c_a'] });
    // Another bucket, a write route: forbidden, not insufficient_scope.
    expectError(await t.callJson('POST', `${P}/buckets/in_c_b/tables`, { key: read.api_key, body: {} }), 403, 'forbidden');
    // A bad bucket name in the path: forbidden before 422.
    expectError(await t.callJson('GET', `${P}/buckets/a.b/tables`, { key: read.api_key }), 403, 'forbidden');
    // Its own bucket, a write route: insufficient_scope before the 404 of the table.
    expectError(await t.callJson('DELETE', `${T('nope')}`, { key: read.api_key }), 403, 'insufficient_scope');
    // A scope refusal before the path names are validated.
    expectError(await t.callJson('POST', `${P}/buckets/in_c_a/tables/a.b/columns`, { key: read.api_key, body: {} }), 403, 'insufficient_scope');
    // Cannot create buckets: 403 insufficient_scope (also with scope write).
    const write = await key({ scope: 'write', buckets: ['in_c_a'] });
    expectError(await t.callJson('POST', `${P}/buckets`, { key: write.api_key, body: { name: 'in_c_new' } }), 403, 'insufficient_scope');
    expect((await t.callJson('GET', `${P}/buckets/in_c_new`)).status).toBe(404);
    // Workspaces: 403 forbidden.
    expectError(await t.callJson('POST', `${P}/workspaces`, { key: write.api_key, body: {} }), 403, 'forbidden');
    expectError(await t.callJson('GET', `${P}/workspaces`, { key: write.api_key }), 403, 'forbidden');
  });

  it('a branch-restricted key: its branch only; current and GET of its branch; merge 403 forbidden', async () => {
    const branch = await t.callJson('POST', `${P}/branches`, { body: { name: 'audit-dev' } });
    expect(branch.status).toBe(201);
    const id = branch.body.id as string;
    const k = await key({ scope: 'write', branch: id });
    expect((await t.callJson('GET', `${P}/api-keys/current`, { key: k.api_key })).body).toMatchObject({ id: k.id, branch: id, scope: 'write' });
    expect((await t.call('GET', `${P}/branches/${id}`, { key: k.api_key })).status).toBe(200);
    expect((await t.call('GET', `${P}/branches/${id}/buckets`, { key: k.api_key })).status).toBe(200);
    for (const path of [`${P}/buckets`, P, `${P}/branches`, `${P}/branches/default/buckets`, `${P}/snapshots`, `${P}/stats`]) {
      expectError(await t.callJson('GET', path, { key: k.api_key }), 403, 'forbidden');
    }
    const name = await table();
    expectError(await t.callJson('POST', `${P}/branches/${id}/buckets/in_c_a/tables/${name}/merge`, { key: k.api_key, body: {} }), 403, 'forbidden');
    // Deleting the branch removes the keys restricted to it.
    expect((await t.call('DELETE', `${P}/branches/${id}`)).status).toBe(204);
    expectError(await t.callJson('GET', `${P}/api-keys/${k.id}`, { key: admin }), 404, 'key_not_found');
    expectError(await t.callJson('GET', `${P}/api-keys/current`, { key: k.api_key }), 403, 'forbidden');
  });

  it('a revoked key on admin routes is 401, an expired one too; GET current of a key shows last_used_at', async () => {
    const k = await key({ scope: 'read', expires_in_seconds: 60 });
    clock.advance(61_000);
    const res = await t.callJson('GET', '/projects', { key: k.api_key });
    expectError(res, 401, 'unauthorized');
    expectError(await t.callJson('GET', `${P}/api-keys/current`, { key: k.api_key }), 403, 'forbidden');
  });

  it('a refused rotate or delete changes nothing; rotation keeps key_prefix', async () => {
    const k = await key({ scope: 'read', description: 'x' });
    const before = (await t.callJson('GET', `${P}/api-keys/${k.id}`, { key: admin })).body;
    const rotated = await t.callJson('POST', `${P}/api-keys/${k.id}/rotate`, { key: admin });
    expect(rotated.status).toBe(200);
    expect(rotated.body.key_prefix).toBe(before.key_prefix);
    expect(Object.keys(rotated.body).sort()).toEqual([...Object.keys(before), 'api_key'].sort());
  });
});

describe('§12 columns and primary key', () => {
  it('POST T/columns: 201 table object; columns carry default and metadata, the table metadata', async () => {
    const name = await table();
    const r = await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'flag', type: 'BOOLEAN', default: true } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.response.headers.get('content-type')).toContain('application/json');
    expect(r.body).toMatchObject({ name, bucket: 'in_c_a', row_count: 2, primary_key: ['id'], metadata: [] });
    expect(r.body.columns.map((c: any) => c.name)).toEqual(['id', 'v', 'flag']);
    expect(r.body.columns[2]).toEqual({ name: 'flag', type: 'BOOLEAN', nullable: true, ordinal_position: 3, default: true, metadata: [] });
    expect(r.body.columns[0]).toEqual({ name: 'id', type: 'INTEGER', nullable: false, ordinal_position: 1, default: null, metadata: [] });
    expect(typeof r.body.size_bytes).toBe('number');
    expect(r.body.created_at).toMatch(ISO);
    // nullable defaults to true: a column without a default on a table with rows is fine.
    const plain = await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'note', type: 'TEXT' } });
    expect(plain.status).toBe(201);
    expect(plain.body.columns[3]).toMatchObject({ name: 'note', type: 'VARCHAR', nullable: true, default: null });
  });

  it('PUT T/primary-key: 422 for 0 or 33 columns; a bad or missing column name changes nothing', async () => {
    const name = await table();
    const before = await view(name);
    expectError(await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: [] } }), 422, 'validation_error');
    expectError(await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: Array.from({ length: 33 }, (_, i) => `c${i}`) } }), 422, 'validation_error');
    expectError(await t.callJson('PUT', `${T(name)}/primary-key`, { body: {} }), 422, 'validation_error');
    expectError(await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: ['nope'] } }), 400, 'invalid_primary_key');
    expect(await view(name)).toEqual(before);
  });

  it('PUT T/primary-key: 409 duplicate_keys with examples (a NULL key too); nothing changes', async () => {
    const name = await table(undefined, { csv: 'id,v\n1,a\n2,a\n3,\n' });
    const before = await view(name);
    const r = await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: ['v'] } });
    expectError(r, 409, 'duplicate_keys');
    expect(Array.isArray(r.body.detail.details.examples)).toBe(true);
    expect(r.body.detail.details.examples.length).toBeGreaterThan(0);
    expect(r.body.detail.details.examples.length).toBeLessThanOrEqual(5);
    expect(await view(name)).toEqual(before);
    // A key on v alone once the data allows it: key columns become NOT NULL.
    await t.call('POST', `${T(name)}/import`, { raw: 'id,v\n1,a\n2,b\n', headers: { 'content-type': 'text/csv' } });
    const ok = await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: ['v'] } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.primary_key).toEqual(['v']);
    expect(ok.body.columns.find((c: any) => c.name === 'v').nullable).toBe(false);
  });

  it('DELETE T/primary-key: 200 table, then 404 primary_key_not_found', async () => {
    const name = await table();
    const r = await t.callJson('DELETE', `${T(name)}/primary-key`);
    expect(r.status).toBe(200);
    expect(r.body.primary_key).toEqual([]);
    expectError(await t.callJson('DELETE', `${T(name)}/primary-key`), 404, 'primary_key_not_found');
  });

  it('PATCH: a default that does not cast is 422; an unknown column 404; nothing changes', async () => {
    const name = await table();
    await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'n', type: 'INTEGER', default: 5 } });
    const before = await view(name);
    expectError(await t.callJson('PATCH', `${T(name)}/columns/n`, { body: { default: 'abc' } }), 422, 'validation_error');
    expectError(await t.callJson('PATCH', `${T(name)}/columns/zz`, { body: { default: 1 } }), 404, 'column_not_found');
    expectError(await t.callJson('PATCH', `${T(name)}/columns/n`, { body: { type: 'NOTATYPE' } }), 422, 'validation_error');
    expectError(await t.callJson('PATCH', `${T(name)}/columns/n`, { body: { name: 'V' } }), 409, 'column_exists');
    expectError(await t.callJson('PATCH', `${T(name)}/columns/id`, { body: { nullable: true } }), 400, 'column_in_primary_key');
    expectError(await t.callJson('DELETE', `${T(name)}/columns/zz`), 404, 'column_not_found');
    expect(await view(name)).toEqual(before);
    // default null removes it.
    const cleared = await t.callJson('PATCH', `${T(name)}/columns/n`, { body: { default: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body.columns.find((c: any) => c.name === 'n').default).toBeNull();
  });

  it('a wrong Content-Type is 415, a body that does not parse 422; nothing changes', async () => {
    const name = await table();
    const before = await view(name);
    expectError(await t.callJson('POST', `${T(name)}/columns`, { raw: '{"name":"x","type":"INTEGER"}', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    const bad = await t.callJson('POST', `${T(name)}/columns`, { raw: '{"name":', headers: { 'content-type': 'application/json' } });
    expectError(bad, 422, 'validation_error');
    expect(Array.isArray(bad.body.detail.details.issues)).toBe(true);
    expect(await view(name)).toEqual(before);
  });
});

describe('§12 metadata', () => {
  const M = (name: string) => `${T(name)}/metadata`;

  it('entries {key, value, provider, updated_at}; POST answers all entries; upsert by (provider, key); sorted by provider then key', async () => {
    const name = await table();
    const first = await t.callJson('POST', M(name), { body: { metadata: [{ key: 'b', value: '1' }, { key: 'a', value: '2' }] } });
    expect(first.status).toBe(200);
    expect(first.body.metadata.map((e: any) => [e.provider, e.key])).toEqual([['user', 'a'], ['user', 'b']]);
    for (const e of first.body.metadata) {
      expect(Object.keys(e).sort()).toEqual(['key', 'provider', 'updated_at', 'value']);
      expect(e.updated_at).toMatch(ISO);
    }
    clock.advance(1000);
    const second = await t.callJson('POST', M(name), { body: { provider: 'ai.x', metadata: [{ key: 'a', value: 'z' }] } });
    expect(second.body.metadata.map((e: any) => [e.provider, e.key, e.value])).toEqual([['ai.x', 'a', 'z'], ['user', 'a', '2'], ['user', 'b', '1']]);
    const third = await t.callJson('POST', M(name), { body: { metadata: [{ key: 'a', value: 'new' }] } });
    const a = third.body.metadata.find((e: any) => e.provider === 'user' && e.key === 'a');
    expect(a.value).toBe('new');
    expect(a.updated_at).toBe(clock.now().toISOString());
    const list = await t.callJson('GET', M(name));
    expect(list.body).toEqual(third.body);
    // The table object carries them.
    expect((await t.callJson('GET', T(name))).body.metadata).toEqual(third.body.metadata);
  });

  it('DELETE M/{key}: provider defaults to user; 404 metadata_not_found; 404 of the object; 422 for a bad key or provider', async () => {
    const name = await table();
    await t.callJson('POST', M(name), { body: { provider: 'p', metadata: [{ key: 'k', value: '1' }] } });
    await t.callJson('POST', M(name), { body: { metadata: [{ key: 'k', value: '2' }] } });
    const before = (await t.callJson('GET', M(name))).body;
    expectError(await t.callJson('DELETE', `${M(name)}/nope`), 404, 'metadata_not_found');
    expectError(await t.callJson('DELETE', `${M(name)}/k?provider=q`), 404, 'metadata_not_found');
    expectError(await t.callJson('DELETE', `${M(name)}/k?provider=BAD`), 422, 'validation_error');
    expectError(await t.callJson('DELETE', `${M(name)}/bad%20key`), 422, 'validation_error');
    expectError(await t.callJson('DELETE', `${T('nope')}/metadata/k`), 404, 'table_not_found');
    expectError(await t.callJson('DELETE', `${T(name)}/columns/nope/metadata/k`), 404, 'column_not_found');
    expect((await t.callJson('GET', M(name))).body).toEqual(before);
    const del = await t.call('DELETE', `${M(name)}/k`);
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
    expect((await t.callJson('GET', M(name))).body.metadata.map((e: any) => e.provider)).toEqual(['p']);
    expect((await t.call('DELETE', `${M(name)}/k?provider=p`)).status).toBe(204);
    expect((await t.callJson('GET', M(name))).body.metadata).toEqual([]);
  });

  it('bucket metadata shows on the bucket object; a linked bucket shows the source’s, read-only', async () => {
    const set = await t.callJson('POST', `${B}/metadata`, { body: { metadata: [{ key: 'owner', value: 'ann' }] } });
    expect(set.status).toBe(200);
    expect((await t.callJson('GET', B)).body.metadata).toEqual(set.body.metadata);
    const linked = '/projects/other/buckets/linked';
    expect((await t.callJson('GET', `${linked}/metadata`)).body.metadata).toEqual(set.body.metadata);
    expect((await t.callJson('GET', linked)).body.metadata).toEqual(set.body.metadata);
    expectError(await t.callJson('POST', `${linked}/metadata`, { body: { metadata: [{ key: 'x', value: '1' }] } }), 403, 'bucket_readonly');
    expectError(await t.callJson('DELETE', `${linked}/metadata/owner`), 403, 'bucket_readonly');
    const name = await table();
    expectError(await t.callJson('POST', `${linked}/tables/${name}/metadata`, { body: { metadata: [{ key: 'x', value: '1' }] } }), 403, 'bucket_readonly');
    expectError(await t.callJson('POST', `${linked}/tables/${name}/columns/v/metadata`, { body: { metadata: [{ key: 'x', value: '1' }] } }), 403, 'bucket_readonly');
    expect((await t.callJson('GET', `${B}/metadata`)).body).toEqual(set.body);
    expect((await t.callJson('GET', M(name))).body.metadata).toEqual([]);
  });

  it('422 for 0 or 101 entries, a bad key, a value over 64 KiB, a bad provider; nothing stored', async () => {
    const name = await table();
    const bad = [
      { metadata: [] },
      { metadata: Array.from({ length: 101 }, (_, i) => ({ key: `k${i}`, value: 'v' })) },
      { metadata: [{ key: '', value: 'v' }] },
      { metadata: [{ key: 'a b', value: 'v' }] },
      { metadata: [{ key: 'k'.repeat(256), value: 'v' }] },
      { metadata: [{ key: 'k', value: 'v'.repeat(64 * 1024 + 1) }] },
      { provider: 'Upper', metadata: [{ key: 'k', value: 'v' }] },
      { provider: '', metadata: [{ key: 'k', value: 'v' }] },
      { metadata: [{ key: 'k' }] },
    ];
    for (const body of bad) expectError(await t.callJson('POST', M(name), { body }), 422, 'validation_error');
    expect((await t.callJson('GET', M(name))).body.metadata).toEqual([]);
    // The limits themselves are fine.
    const ok = await t.callJson('POST', M(name), { body: { provider: 'p'.repeat(64), metadata: [{ key: 'k'.repeat(255), value: 'v'.repeat(64 * 1024) }] } });
    expect(ok.status).toBe(200);
  });
});

describe('§12 profile', () => {
  it('shape: row_count, profiled_at, per column the documented fields; works on a linked table with a read key', async () => {
    const name = await table();
    const r = await t.callJson('GET', `${T(name)}/profile`);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['columns', 'profiled_at', 'row_count']);
    expect(r.body.row_count).toBe(2);
    expect(r.body.profiled_at).toMatch(ISO);
    const fields = ['avg', 'distinct_count', 'max', 'min', 'name', 'null_count', 'q25', 'q50', 'q75', 'std', 'type'];
    for (const c of r.body.columns) expect(Object.keys(c).sort()).toEqual(fields);
    const [id, v] = r.body.columns;
    expect(id).toMatchObject({ name: 'id', type: 'INTEGER', null_count: 0, distinct_count: 2, min: 1, max: 2 });
    expect(typeof id.avg).toBe('number');
    expect(typeof id.std).toBe('number');
    expect(v).toMatchObject({ name: 'v', type: 'VARCHAR', avg: null, std: null, min: 'a', max: 'b' });
    const linked = await t.callJson('GET', `/projects/other/buckets/linked/tables/${name}/profile`);
    expect(linked.status).toBe(200);
    expect(linked.body.row_count).toBe(2);
    expectError(await t.callJson('GET', `${T('nope')}/profile`), 404, 'table_not_found');
  });
});

describe('§13 snapshots', () => {
  const DAY = 24 * 3600 * 1000;
  const SNAPSHOT_FIELDS = ['branch', 'bucket', 'columns', 'created_at', 'description', 'expires_at', 'id', 'kind', 'primary_key', 'reason', 'row_count', 'size_bytes', 'table'];
  const snap = async (name: string, body: unknown = {}, bucket = 'in_c_a') => {
    const r = await t.callJson('POST', `${T(name, bucket)}/snapshots`, { body });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };
  const snapshotFiles = async () => (await walk(t.services.paths.snapshotsDir, { allowMissing: true })) ?? [];

  it('POST T/snapshots: 201 snapshot object; expiry from retention_days, the project setting, or never', async () => {
    const name = await table();
    const s = await snap(name, { description: 'before' });
    expect(Object.keys(s).sort()).toEqual(SNAPSHOT_FIELDS);
    expect(s).toMatchObject({ bucket: 'in_c_a', table: name, branch: 'default', description: 'before', kind: 'manual', reason: null, row_count: 2, primary_key: ['id'] });
    expect(s.id).toMatch(/^s_[0-9a-f]{12}$/);
    expect(typeof s.size_bytes).toBe('number');
    expect(s.size_bytes).toBeGreaterThan(0);
    expect(s.created_at).toMatch(ISO);
    expect(Date.parse(s.expires_at) - Date.parse(s.created_at)).toBe(90 * DAY);
    expect(s.columns.map((c: any) => c.name)).toEqual(['id', 'v']);
    expect(s.columns[0]).toMatchObject({ name: 'id', type: 'INTEGER', nullable: false, ordinal_position: 1 });
    const five = await snap(name, { retention_days: 5, description: null });
    expect(five.description).toBeNull();
    expect(Date.parse(five.expires_at) - Date.parse(five.created_at)).toBe(5 * DAY);
    expect((await snap(name, { retention_days: null })).expires_at).toBeNull();
    // No body at all is the same as {}.
    const bare = await t.callJson('POST', `${T(name)}/snapshots`);
    expect(bare.status, JSON.stringify(bare.body)).toBe(201);
  });

  it('POST T/snapshots: 422 for bad retention, 404 for a missing table; nothing written', async () => {
    const name = await table();
    const files = await snapshotFiles();
    const total = (await t.callJson('GET', `${P}/snapshots?limit=1000`)).body.total;
    for (const retention_days of [0, 3651, 1.5, '7']) expectError(await t.callJson('POST', `${T(name)}/snapshots`, { body: { retention_days } }), 422, 'validation_error');
    expectError(await t.callJson('POST', `${T('nope')}/snapshots`, { body: {} }), 404, 'table_not_found');
    expectError(await t.callJson('POST', `${P}/buckets/in_c_nope/tables/x/snapshots`, { body: {} }), 404, 'bucket_not_found');
    expect((await t.callJson('GET', `${P}/snapshots?limit=1000`)).body.total).toBe(total);
    expect(await snapshotFiles()).toEqual(files);
  });

  it('in a linked bucket: POST 403 bucket_readonly after the 404s (Part II order), GET T/snapshots an empty list', async () => {
    const name = await table();
    await snap(name);
    const linked = '/projects/other/buckets/linked';
    expectError(await t.callJson('POST', `${linked}/tables/${name}/snapshots`, { body: {} }), 403, 'bucket_readonly');
    // Part II order of checks: path objects (404) before 403 bucket_readonly.
    expectError(await t.callJson('POST', `${linked}/tables/nope/snapshots`, { body: {} }), 404, 'table_not_found');
    // 403 bucket_readonly before the body (422).
    expectError(await t.callJson('POST', `${linked}/tables/${name}/snapshots`, { body: { retention_days: 0 } }), 403, 'bucket_readonly');
    const list = await t.callJson('GET', `${linked}/tables/${name}/snapshots`);
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ snapshots: [], total: 0 });
    expect((await t.callJson('GET', '/projects/other/snapshots')).body.total).toBe(0);
  });

  it('GET T/snapshots and P/snapshots: newest first, filters, paging, 422 for bad queries; 404 once the table is gone', async () => {
    const name = await table();
    const a = await snap(name);
    clock.advance(1000);
    const b = await snap(name);
    const list = await t.callJson('GET', `${T(name)}/snapshots`);
    expect(list.body.total).toBe(2);
    expect(list.body.snapshots.map((s: any) => s.id)).toEqual([b.id, a.id]);
    expect((await t.callJson('GET', `${T(name)}/snapshots?limit=1&offset=1`)).body).toMatchObject({ total: 2, snapshots: [{ id: a.id }] });
    const project = await t.callJson('GET', `${P}/snapshots?table=${name}&bucket=in_c_a&kind=manual`);
    expect(project.body.snapshots.map((s: any) => s.id)).toEqual([b.id, a.id]);
    expect((await t.callJson('GET', `${P}/snapshots?table=${name}&kind=auto`)).body).toEqual({ snapshots: [], total: 0 });
    expect((await t.callJson('GET', `${P}/snapshots?table=${name}&branch=default`)).body.total).toBe(2);
    for (const q of ['limit=0', 'limit=1001', 'offset=-1', 'kind=other', 'limit=x']) expectError(await t.callJson('GET', `${P}/snapshots?${q}`), 422, 'validation_error');
    expect((await t.callJson('GET', `${P}/snapshots?limit=1000`)).status).toBe(200);
    // Newest first over the whole project.
    const all = (await t.callJson('GET', `${P}/snapshots?limit=1000`)).body.snapshots.map((s: any) => s.created_at);
    expect([...all].sort().reverse()).toEqual(all);
    // Deleting a table keeps its snapshots; the table's list is 404 now.
    expect((await t.call('DELETE', T(name))).status).toBe(204);
    expectError(await t.callJson('GET', `${T(name)}/snapshots`), 404, 'table_not_found');
    const kept = (await t.callJson('GET', `${P}/snapshots?table=${name}&limit=1000`)).body;
    expect(kept.snapshots.map((s: any) => s.id)).toEqual(expect.arrayContaining([a.id, b.id]));
  });

  it('GET and DELETE P/snapshots/{id}: 200, 204 and the file is gone, then 404 snapshot_not_found', async () => {
    const name = await table();
    const s = await snap(name);
    const got = await t.callJson('GET', `${P}/snapshots/${s.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(s);
    const file = t.services.paths.snapshotFile('audit', s.id);
    expect(statSync(file, { throwIfNoEntry: false })).toBeDefined();
    expectError(await t.callJson('GET', `/projects/other/snapshots/${s.id}`), 404, 'snapshot_not_found');
    expectError(await t.callJson('DELETE', `/projects/other/snapshots/${s.id}`), 404, 'snapshot_not_found');
    const del = await t.call('DELETE', `${P}/snapshots/${s.id}`);
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
    expect(statSync(file, { throwIfNoEntry: false })).toBeUndefined();
    expectError(await t.callJson('GET', `${P}/snapshots/${s.id}`), 404, 'snapshot_not_found');
    expectError(await t.callJson('DELETE', `${P}/snapshots/${s.id}`), 404, 'snapshot_not_found');
    expectError(await t.callJson('POST', `${P}/snapshots/${s.id}/restore`, { body: {} }), 404, 'snapshot_not_found');
    expectError(await t.callJson('GET', `${P}/snapshots/s_000000000000`), 404, 'snapshot_not_found');
  });

  it('restore: 409 table_exists changes nothing; overwrite answers {table, snapshot_id, auto_snapshot_id} with a restore auto snapshot', async () => {
    const name = await table();
    const s = await snap(name);
    await t.call('POST', `${T(name)}/import`, { raw: 'id,v\n9,z\n', headers: { 'content-type': 'text/csv' } });
    const before = await view(name);
    const total = (await t.callJson('GET', `${P}/snapshots?limit=1000`)).body.total;
    expectError(await t.callJson('POST', `${P}/snapshots/${s.id}/restore`, { body: {} }), 409, 'table_exists');
    expectError(await t.callJson('POST', `${P}/snapshots/${s.id}/restore`, { body: { overwrite: false } }), 409, 'table_exists');
    expectError(await t.callJson('POST', `${P}/snapshots/${s.id}/restore`, { body: { overwrite: 'yes' } }), 422, 'validation_error');
    expectError(await t.callJson('POST', `${P}/snapshots/${s.id}/restore`, { body: { bucket: 'in_c_nope' } }), 404, 'bucket_not_found');
    expectError(await t.callJson('POST', `${P}/snapshots/${s.id}/restore`, { body: { bucket: 'a.b' } }), 422, 'validation_error');
    expect(await view(name)).toEqual(before);
    expect((await t.callJson('GET', `${P}/buckets/in_c_nope`)).status).toBe(404);
    expect((await t.callJson('GET', `${P}/snapshots?limit=1000`)).body.total).toBe(total);
    const r = await t.callJson('POST', `${P}/snapshots/${s.id}/restore`, { body: { overwrite: true } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['auto_snapshot_id', 'snapshot_id', 'table']);
    expect(r.body.snapshot_id).toBe(s.id);
    expect(r.body.table).toMatchObject({ name, bucket: 'in_c_a', row_count: 2, primary_key: ['id'] });
    const auto = await t.callJson('GET', `${P}/snapshots/${r.body.auto_snapshot_id}`);
    expect(auto.body).toMatchObject({ kind: 'auto', reason: 'restore', row_count: 1, table: name });
    expect(Date.parse(auto.body.expires_at) - Date.parse(auto.body.created_at)).toBe(7 * DAY);
    // Into another table: no auto snapshot.
    const copy = await t.callJson('POST', `${P}/snapshots/${s.id}/restore`, { body: { bucket: 'in_c_b', table: `${name}_copy` } });
    expect(copy.status).toBe(200);
    expect(copy.body.auto_snapshot_id).toBeNull();
    expect(copy.body.table).toMatchObject({ name: `${name}_copy`, bucket: 'in_c_b', row_count: 2 });
  });

  it('restore into a linked bucket: 403 bucket_readonly; nothing is created', async () => {
    const name = await table();
    const s = await snap(name);
    // A snapshot of `other`'s own table restored into its linked bucket.
    await t.callJson('POST', '/projects/other/buckets', { body: { name: 'own' } });
    await table('o1', { project: 'other', bucket: 'own' });
    const o = await t.callJson('POST', '/projects/other/buckets/own/tables/o1/snapshots', { body: {} });
    expect(o.status).toBe(201);
    expectError(await t.callJson('POST', `/projects/other/snapshots/${o.body.id}/restore`, { body: { bucket: 'linked', table: 'fresh' } }), 403, 'bucket_readonly');
    expect((await t.callJson('GET', `${T('fresh')}`)).status).toBe(404);
    expect(s.id).toBeTruthy();
  });

  it('settings: defaults; PUT any subset answers the effective settings; 422 out of range; the project settings field is untouched', async () => {
    await t.callJson('POST', '/projects', { body: { id: 'settings_p', settings: { a: 1 } } });
    const S = '/projects/settings_p/settings/snapshots';
    const defaults = { auto: { drop_table: true, truncate: true, drop_column: true, full_import: false }, manual_retention_days: 90, auto_retention_days: 7 };
    expect((await t.callJson('GET', S)).body).toEqual(defaults);
    for (const body of [{ manual_retention_days: 0 }, { auto_retention_days: 3651 }, { manual_retention_days: 1.5 }, { auto: { truncate: 'no' } }, { auto: { unknown: true } }]) {
      expectError(await t.callJson('PUT', S, { body }), 422, 'validation_error');
    }
    expect((await t.callJson('GET', S)).body).toEqual(defaults);
    const put = await t.callJson('PUT', S, { body: { auto: { full_import: true }, auto_retention_days: 3 } });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ ...defaults, auto: { ...defaults.auto, full_import: true }, auto_retention_days: 3 });
    expect((await t.callJson('GET', S)).body).toEqual(put.body);
    expect((await t.callJson('PUT', S, { body: {} })).body).toEqual(put.body);
    expect((await t.callJson('GET', '/projects/settings_p')).body.settings).toEqual({ a: 1 });
  });

  it('auto snapshots: drop_table, truncate, drop_column on by default (kind auto, with reason); full_import off', async () => {
    const name = await table();
    const reasons = async () => (await t.callJson('GET', `${P}/snapshots?table=${name}&kind=auto&limit=1000`)).body.snapshots.map((s: any) => s.reason);
    await t.call('POST', `${T(name)}/import`, { raw: 'id,v\n5,e\n', headers: { 'content-type': 'text/csv' } });
    expect(await reasons()).toEqual([]);
    expect((await t.callJson('POST', `${T(name)}/truncate`)).status).toBe(200);
    expect(await reasons()).toEqual(['truncate']);
    expect((await t.callJson('DELETE', `${T(name)}/columns/v`)).status).toBe(200);
    expect((await reasons()).sort()).toEqual(['drop_column', 'truncate']);
    expect((await t.call('DELETE', T(name))).status).toBe(204);
    expect((await reasons()).sort()).toEqual(['drop_column', 'drop_table', 'truncate']);
  });

  it('stats carry snapshots_size_bytes, files_size_bytes, branches_size_bytes and workspaces_size_bytes', async () => {
    const r = await t.callJson('GET', `${P}/stats`);
    expect(r.status).toBe(200);
    for (const field of ['size_bytes', 'table_count', 'bucket_count', 'snapshots_size_bytes', 'files_size_bytes', 'branches_size_bytes', 'workspaces_size_bytes']) {
      expect(typeof r.body[field], field).toBe('number');
    }
    expect(r.body.snapshots_size_bytes).toBeGreaterThan(0);
    // workspaces_size_bytes: the project's workspace files on disk (every branch).
    const ws = await t.callJson('POST', `${P}/workspaces`, { body: { name: 'sized' } });
    expect(ws.status, JSON.stringify(ws.body)).toBe(201);
    const after = (await t.callJson('GET', `${P}/stats`)).body;
    const file = t.services.paths.workspaceFile('audit', ws.body.id);
    const onDisk = [file, `${file}.wal`].reduce((sum, f) => sum + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);
    expect(onDisk).toBeGreaterThan(0);
    expect(after.workspaces_size_bytes - r.body.workspaces_size_bytes).toBe(onDisk);
    expect((await t.callJson('GET', '/projects/settings_p/stats')).body.workspaces_size_bytes).toBe(0);
    expect((await t.call('DELETE', `${P}/workspaces/${ws.body.id}`)).status).toBe(204);
    expect((await t.callJson('GET', `${P}/stats`)).body.workspaces_size_bytes).toBe(r.body.workspaces_size_bytes);
  });

  it('branch twins: a dev-branch snapshot says its branch; P/branches/{b}/snapshots/{id} reaches only that branch', async () => {
    const name = await table();
    const main = await snap(name);
    const b = (await t.callJson('POST', `${P}/branches`, { body: { name: 'snapdev' } })).body.id as string;
    const BT = `${P}/branches/${b}/buckets/in_c_a/tables/${name}`;
    const r = await t.callJson('POST', `${BT}/snapshots`, { body: {} });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.branch).toBe(b);
    expectError(await t.callJson('GET', `${P}/branches/${b}/snapshots/${main.id}`), 404, 'snapshot_not_found');
    expect((await t.callJson('GET', `${P}/branches/${b}/snapshots/${r.body.id}`)).status).toBe(200);
    expect((await t.callJson('GET', `${P}/branches/default/snapshots/${main.id}`)).status).toBe(200);
    expect((await t.callJson('GET', `${P}/snapshots?branch=${b}`)).body.snapshots.map((s: any) => s.id)).toEqual([r.body.id]);
    expect((await t.callJson('GET', `${BT}/snapshots`)).body.snapshots.map((s: any) => s.id)).toEqual([r.body.id]);
    // Deleting the branch deletes its snapshots.
    expect((await t.call('DELETE', `${P}/branches/${b}`)).status).toBe(204);
    expectError(await t.callJson('GET', `${P}/snapshots/${r.body.id}`), 404, 'snapshot_not_found');
  });
});

describe('audit, second pass', () => {
  const snap = async (path: string, body: unknown = {}) => {
    const r = await t.callJson('POST', `${path}/snapshots`, { body });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };

  it('metadata: 404 of the object before the body (422); table and column metadata of a linked table are the source’s', async () => {
    expectError(await t.callJson('POST', `${T('nope')}/metadata`, { body: { metadata: [] } }), 404, 'table_not_found');
    expectError(await t.callJson('POST', `${P}/buckets/in_c_nope/metadata`, { body: {} }), 404, 'bucket_not_found');
    const name = await table();
    expectError(await t.callJson('POST', `${T(name)}/columns/nope/metadata`, { body: {} }), 404, 'column_not_found');
    await t.callJson('POST', `${T(name)}/metadata`, { body: { metadata: [{ key: 'desc', value: 'orders' }] } });
    await t.callJson('POST', `${T(name)}/columns/v/metadata`, { body: { metadata: [{ key: 'pii', value: 'no' }] } });
    const linked = `/projects/other/buckets/linked/tables/${name}`;
    expect((await t.callJson('GET', `${linked}/metadata`)).body.metadata.map((e: any) => e.key)).toEqual(['desc']);
    expect((await t.callJson('GET', `${linked}/columns/v/metadata`)).body.metadata.map((e: any) => e.key)).toEqual(['pii']);
    const tv = (await t.callJson('GET', linked)).body;
    expect(tv.metadata.map((e: any) => e.key)).toEqual(['desc']);
    expect(tv.columns.find((c: any) => c.name === 'v').metadata.map((e: any) => e.key)).toEqual(['pii']);
    // A column rename keeps its metadata; a dropped column's metadata is gone with it.
    const renamed = await t.callJson('PATCH', `${T(name)}/columns/v`, { body: { name: 'w' } });
    expect(renamed.body.columns.find((c: any) => c.name === 'w').metadata.map((e: any) => e.key)).toEqual(['pii']);
    expect((await t.callJson('GET', `${T(name)}/columns/w/metadata`)).body.metadata.map((e: any) => e.key)).toEqual(['pii']);
    expect((await t.callJson('DELETE', `${T(name)}/columns/w`)).status).toBe(200);
    await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'w', type: 'VARCHAR' } });
    expect((await t.callJson('GET', `${T(name)}/columns/w/metadata`)).body.metadata).toEqual([]);
  });

  it('restore: only a table given goes into the snapshot’s bucket, created again if it was deleted; overwrite of a missing table takes no auto snapshot', async () => {
    await t.callJson('POST', `${P}/buckets`, { body: { name: 'in_c_gone', description: 'gone soon' } });
    const name = await table('g1', { bucket: 'in_c_gone' });
    const s = await snap(T(name, 'in_c_gone'));
    expect((await t.call('DELETE', `${P}/buckets/in_c_gone`)).status).toBe(204);
    const r = await t.callJson('POST', `${P}/snapshots/${s.id}/restore`, { body: { table: 'g2' } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.table).toMatchObject({ name: 'g2', bucket: 'in_c_gone', row_count: 2 });
    expect((await t.callJson('GET', `${P}/buckets/in_c_gone`)).status).toBe(200);
    const o = await t.callJson('POST', `${P}/snapshots/${s.id}/restore`, { body: { overwrite: true } });
    expect(o.status, JSON.stringify(o.body)).toBe(200);
    expect(o.body.auto_snapshot_id).toBeNull();
    expect(o.body.table).toMatchObject({ name: 'g1', bucket: 'in_c_gone', row_count: 2 });
  });

  it('GET T/snapshots includes those of earlier tables of the same name (the drop_table auto snapshot too)', async () => {
    const name = await table();
    const manual = await snap(T(name));
    expect((await t.call('DELETE', T(name))).status).toBe(204);
    await table(name);
    const list = (await t.callJson('GET', `${T(name)}/snapshots`)).body;
    expect(list.total).toBe(2);
    expect(list.snapshots.map((s: any) => s.kind)).toEqual(['auto', 'manual']);
    expect(list.snapshots[0].reason).toBe('drop_table');
    expect(list.snapshots[1].id).toBe(manual.id);
  });

  it('settings apply to snapshots taken from then on', async () => {
    await t.callJson('POST', '/projects', { body: { id: 'retain' } });
    await t.callJson('POST', '/projects/retain/buckets', { body: { name: 'b' } });
    await table('x', { project: 'retain', bucket: 'b' });
    const path = '/projects/retain/buckets/b/tables/x';
    const early = await snap(path);
    const put = await t.callJson('PUT', '/projects/retain/settings/snapshots', { body: { manual_retention_days: 2 } });
    expect(put.status).toBe(200);
    const late = await snap(path);
    expect(Date.parse(late.expires_at) - Date.parse(late.created_at)).toBe(2 * 24 * 3600 * 1000);
    expect((await t.callJson('GET', `/projects/retain/snapshots/${early.id}`)).body.expires_at).toBe(early.expires_at);
    // A write key cannot change them; a refused PUT changes nothing.
    const write = (await t.callJson('POST', '/projects/retain/api-keys', { body: { scope: 'write' } })).body.api_key;
    expectError(await t.callJson('PUT', '/projects/retain/settings/snapshots', { body: { manual_retention_days: 5 }, key: write }), 403, 'insufficient_scope');
    expect((await t.callJson('GET', '/projects/retain/settings/snapshots', { key: write })).body.manual_retention_days).toBe(2);
  });

  it('a deleted project deletes its keys, snapshot files and snapshot records', async () => {
    const id = 'reborn';
    const k = await t.createProject(id);
    await t.callJson('POST', `/projects/${id}/buckets`, { body: { name: 'b' } });
    await table('x', { project: id, bucket: 'b' });
    const s = await snap(`/projects/${id}/buckets/b/tables/x`);
    await t.callJson('PUT', `/projects/${id}/settings/snapshots`, { body: { auto_retention_days: 1 }, key: k });
    expect((await t.call('DELETE', `/projects/${id}`, { key: k })).status).toBe(204);
    expect(statSync(t.services.paths.snapshotFile(id, s.id), { throwIfNoEntry: false })).toBeUndefined();
    expect(t.services.snapshots.list(id)).toEqual([]);
    expect(t.services.keys.list(id)).toEqual([]);
  });
});

describe('§11 bucket-restricted keys in listings', () => {
  it("a branch's changes show a bucket-restricted key only its buckets", async () => {
    const b = (await t.callJson('POST', `${P}/branches`, { body: { name: 'changes-dev' } })).body.id as string;
    const inA = await table();
    const inB = await table(undefined, { bucket: 'in_c_b' });
    for (const [bucket, name] of [['in_c_a', inA], ['in_c_b', inB]]) {
      const r = await t.callJson('POST', `${P}/branches/${b}/buckets/${bucket}/tables/${name}/truncate`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    expect((await t.callJson('POST', `${P}/branches/${b}/buckets`, { body: { name: 'in_c_branch_only' } })).status).toBe(201);
    const all = (await t.callJson('GET', `${P}/branches/${b}/changes`)).body;
    expect(all.tables.map((x: any) => x.bucket).sort()).toEqual(['in_c_a', 'in_c_b']);
    expect(all.buckets.map((x: any) => x.bucket)).toEqual(['in_c_branch_only']);
    const restricted = await key({ scope: 'read', buckets: ['in_c_a'] });
    const seen = await t.callJson('GET', `${P}/branches/${b}/changes`, { key: restricted.api_key });
    expect(seen.status).toBe(200);
    expect(seen.body).toEqual({ tables: all.tables.filter((x: any) => x.bucket === 'in_c_a'), buckets: [] });
  });
});

describe('§13 in a development branch', () => {
  it('writes inside a dev branch take auto snapshots by the same settings; they belong to the branch and restore there', async () => {
    const name = await table();
    const b = (await t.callJson('POST', `${P}/branches`, { body: { name: 'auto-dev' } })).body.id as string;
    const BT = `${P}/branches/${b}/buckets/in_c_a/tables/${name}`;
    expect((await t.callJson('POST', `${BT}/truncate`)).status).toBe(200);
    const autos = (await t.callJson('GET', `${P}/snapshots?table=${name}&kind=auto`)).body.snapshots;
    expect(autos.map((s: any) => [s.reason, s.branch, s.row_count])).toEqual([['truncate', b, 2]]);
    expect((await t.callJson('GET', `${P}/branches/${b}/snapshots?table=${name}`)).body.total).toBe(1);
    expect((await t.callJson('GET', `${T(name)}/snapshots`)).body.total).toBe(0);
    // Restored (through the main path or the branch's), it goes into the branch; main is untouched.
    const r = await t.callJson('POST', `${P}/snapshots/${autos[0].id}/restore`, { body: { overwrite: true } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.table).toMatchObject({ name, row_count: 2, branch_state: 'copied' });
    expect((await t.callJson('GET', BT)).body.row_count).toBe(2);
    expect((await t.callJson('GET', T(name))).body.row_count).toBe(2);
    const auto = (await t.callJson('GET', `${P}/snapshots/${r.body.auto_snapshot_id}`)).body;
    expect(auto).toMatchObject({ kind: 'auto', reason: 'restore', branch: b, row_count: 0 });
  });
});

describe('§13 paging defaults', () => {
  it('GET P/snapshots pages 100 by default, total counts the filter without paging', async () => {
    await t.callJson('POST', '/projects', { body: { id: 'many' } });
    await t.callJson('POST', '/projects/many/buckets', { body: { name: 'b' } });
    // Each drop takes a drop_table auto snapshot (the file itself, no copy).
    for (let i = 0; i < 101; i++) {
      await table('x', { project: 'many', bucket: 'b', csv: null });
      expect((await t.call('DELETE', '/projects/many/buckets/b/tables/x')).status).toBe(204);
    }
    const page = (await t.callJson('GET', '/projects/many/snapshots')).body;
    expect(page.total).toBe(101);
    expect(page.snapshots.length).toBe(100);
    const rest = (await t.callJson('GET', '/projects/many/snapshots?offset=100')).body;
    expect(rest.snapshots.length).toBe(1);
    expect(page.snapshots.map((s: any) => s.id)).not.toContain(rest.snapshots[0].id);
    expect((await t.callJson('GET', '/projects/many/snapshots?offset=500')).body).toEqual({ snapshots: [], total: 101 });
    await table('x', { project: 'many', bucket: 'b', csv: null });
    const tablePage = (await t.callJson('GET', '/projects/many/buckets/b/tables/x/snapshots')).body;
    expect(tablePage.total).toBe(101);
    expect(tablePage.snapshots.length).toBe(100);
  });
});

describe('§1 conventions on the §11–§13 routes', () => {
  it('405 with Allow on a known path; *+json bodies are JSON; an array or null body is 422', async () => {
    const name = await table();
    const wrong = await t.callJson('PATCH', `${T(name)}/primary-key`, { body: {} });
    expectError(wrong, 405, 'method_not_allowed');
    expect(wrong.response.headers.get('allow')).toMatch(/PUT/);
    expect(wrong.response.headers.get('allow')).toMatch(/DELETE/);
    const keyPath = await t.callJson('PUT', `${P}/api-keys/k_000000000000`, { body: {} });
    expectError(keyPath, 405, 'method_not_allowed');
    expect(keyPath.response.headers.get('allow')).toMatch(/GET/);
    const patched = await t.callJson('PATCH', `${T(name)}/columns/v`, { raw: JSON.stringify({ default: 'x' }), headers: { 'content-type': 'application/merge-patch+json' } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    for (const raw of ['[]', 'null', '"x"', '42']) {
      expectError(await t.callJson('POST', `${T(name)}/metadata`, { raw, headers: { 'content-type': 'application/json' } }), 422, 'validation_error');
    }
    expectError(await t.callJson('POST', `${P}/api-keys`, { raw: '[]', headers: { 'content-type': 'application/json' }, key: admin }), 422, 'validation_error');
    const big = await t.callJson('POST', `${T(name)}/snapshots`, { body: { description: 'x'.repeat(1024 * 1024 + 1) } });
    expectError(big, 413, 'payload_too_large');
    // Every answer carries a request id; errors have the §1 body and no more.
    expect(big.response.headers.get('x-request-id')).toBeTruthy();
    expect(Object.keys(big.body)).toEqual(['detail']);
  });
});

describe('§11 key listing order', () => {
  it('oldest first also for keys made in one millisecond, after a rotation and across a restart', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const root = await mkdtemp(join(tmpdir(), 'dsa-audit-keys-'));
    const frozen = manualClock();
    let app = await makeApp({ root, clock: frozen });
    try {
      const first = await app.createProject('order');
      const made: string[] = [(await app.callJson('GET', '/projects/order/api-keys/current', { key: first })).body.id];
      for (let i = 0; i < 12; i++) made.push((await app.callJson('POST', '/projects/order/api-keys', { body: { scope: 'read', description: `k${i}` } })).body.id);
      const ids = async () => (await app.callJson('GET', '/projects/order/api-keys')).body.api_keys.map((k: any) => k.id);
      expect(await ids()).toEqual(made);
      expect((await app.callJson('POST', `/projects/order/api-keys/${made[3]}/rotate`)).status).toBe(200);
      expect(await ids()).toEqual(made);
      await app.services.close();
      app = await makeApp({ root, clock: frozen });
      expect(await ids()).toEqual(made);
    } finally {
      await app.services.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
