import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, walk, type TestApp } from './helpers.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$/;
const BUCKET_KEYS = ['created_at', 'description', 'is_linked', 'metadata', 'name', 'readonly_access', 'shared_with', 'source_bucket_name', 'source_project_id', 'table_count'];
const ONE_COLUMN = [{ name: 'id', type: 'INTEGER' }];

function bucketDir(t: TestApp, project: string, bucket: string): string {
  return join(t.dataDir, 'duckdb', `project_${project}`, bucket);
}

async function createBucket(t: TestApp, project: string, name: string, description?: string | null) {
  const body: Record<string, unknown> = { name };
  if (description !== undefined) body.description = description;
  const res = await t.callJson('POST', `/projects/${project}/buckets`, { body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function createTable(t: TestApp, project: string, bucket: string, name: string) {
  const res = await t.callJson('POST', `/projects/${project}/buckets/${bucket}/tables`, { body: { name, columns: ONE_COLUMN } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.detail.error).toBe(code);
  expect(typeof res.body.detail.message).toBe('string');
}

describe('POST /projects/{id}/buckets', () => {
  let t: TestApp;
  let key: string;
  beforeAll(async () => {
    t = await makeApp();
    key = await t.createProject('p1');
  });
  afterAll(() => t.close());

  it('creates a bucket: 201 with exactly the bucket object, and its folder', async () => {
    const res = await t.callJson('POST', '/projects/p1/buckets', { key, body: { name: 'in_c_sales', description: 'Sales data' } });
    expect(res.status).toBe(201);
    expect(res.response.headers.get('content-type')).toBe('application/json');
    expect(Object.keys(res.body).sort()).toEqual(BUCKET_KEYS);
    expect(res.body).toEqual({
      name: 'in_c_sales',
      table_count: 0,
      description: 'Sales data',
      is_linked: false,
      source_project_id: null,
      source_bucket_name: null,
      shared_with: [],
      readonly_access: false,
      created_at: expect.stringMatching(ISO),
      metadata: [],
    });
    expect(existsSync(bucketDir(t, 'p1', 'in_c_sales'))).toBe(true);
  });

  it('description is optional and defaults to null; null is accepted', async () => {
    expect((await createBucket(t, 'p1', 'nodesc')).description).toBeNull();
    expect((await createBucket(t, 'p1', 'nulldesc', null)).description).toBeNull();
  });

  it('409 bucket_exists for the same name, and for a name differing only in case', async () => {
    await createBucket(t, 'p1', 'Sales');
    const same = await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'Sales' } });
    expectError(same, 409, 'bucket_exists');
    const lower = await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'sales' } });
    expectError(lower, 409, 'bucket_exists');
    const upper = await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'SALES' } });
    expectError(upper, 409, 'bucket_exists');
    // Only the first one exists, in the catalog and on disk.
    const list = await t.callJson('GET', '/projects/p1/buckets');
    expect(list.body.buckets.filter((b: any) => b.name.toLowerCase() === 'sales').map((b: any) => b.name)).toEqual(['Sales']);
    expect(existsSync(bucketDir(t, 'p1', 'sales'))).toBe(false);
  });

  it('the same name in another project is fine', async () => {
    await t.createProject('p2');
    await createBucket(t, 'p2', 'in_c_sales');
  });

  it('422 validation_error for bad bodies', async () => {
    for (const body of [{}, { name: '' }, { name: 42 }, { name: null }, { name: 'ok', description: 5 }, []]) {
      const res = await t.callJson('POST', '/projects/p1/buckets', { body });
      expectError(res, 422, 'validation_error');
      expect(Array.isArray(res.body.detail.details.issues)).toBe(true);
    }
    const notJson = await t.callJson('POST', '/projects/p1/buckets', { raw: '{"name": ', headers: { 'content-type': 'application/json' } });
    expectError(notJson, 422, 'validation_error');
  });

  it('404 project_not_found for a missing project', async () => {
    const res = await t.callJson('POST', '/projects/nope/buckets', { body: { name: 'b' } });
    expectError(res, 404, 'project_not_found');
    expect(existsSync(join(t.dataDir, 'duckdb', 'project_nope'))).toBe(false);
  });
});

describe('404 project_not_found for a deleted project', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('gone');
    await createBucket(t, 'gone', 'b1');
    await createTable(t, 'gone', 'b1', 't1');
    expect((await t.call('DELETE', '/projects/gone')).status).toBe(204);
  });
  afterAll(() => t.close());

  it('on every bucket endpoint', async () => {
    expectError(await t.callJson('POST', '/projects/gone/buckets', { body: { name: 'b2' } }), 404, 'project_not_found');
    expectError(await t.callJson('GET', '/projects/gone/buckets'), 404, 'project_not_found');
    expectError(await t.callJson('GET', '/projects/gone/buckets/b1'), 404, 'project_not_found');
    expectError(await t.callJson('DELETE', '/projects/gone/buckets/b1'), 404, 'project_not_found');
    expectError(await t.callJson('GET', '/projects/gone/buckets/b1/tables'), 404, 'project_not_found');
    expectError(await t.callJson('GET', '/projects/gone/buckets/b1/tables/t1'), 404, 'project_not_found');
    expect(existsSync(join(t.dataDir, 'duckdb', 'project_gone'))).toBe(false);
  });
});

describe('GET /projects/{id}/buckets and GET one', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    await t.createProject('other');
  });
  afterAll(() => t.close());

  it('an empty project lists no buckets', async () => {
    const res = await t.callJson('GET', '/projects/p1/buckets');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ buckets: [], total: 0 });
  });

  it('lists buckets sorted by name with a live table_count', async () => {
    for (const name of ['zeta', 'alpha', 'm1', 'm0', 'beta']) await createBucket(t, 'p1', name);
    await createBucket(t, 'other', 'aaa');
    await createTable(t, 'p1', 'beta', 't1');
    await createTable(t, 'p1', 'beta', 't2');
    const res = await t.callJson('GET', '/projects/p1/buckets');
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(5);
    expect(res.body.buckets.map((b: any) => b.name)).toEqual(['alpha', 'beta', 'm0', 'm1', 'zeta']);
    for (const bucket of res.body.buckets) expect(Object.keys(bucket).sort()).toEqual(BUCKET_KEYS);
    expect(res.body.buckets.find((b: any) => b.name === 'beta').table_count).toBe(2);
    expect(res.body.buckets.find((b: any) => b.name === 'alpha').table_count).toBe(0);
  });

  it('GET one returns the bucket object; table_count follows creates and deletes', async () => {
    const before = await t.callJson('GET', '/projects/p1/buckets/beta');
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ name: 'beta', table_count: 2, is_linked: false, shared_with: [] });
    await t.call('DELETE', '/projects/p1/buckets/beta/tables/t1');
    expect((await t.callJson('GET', '/projects/p1/buckets/beta')).body.table_count).toBe(1);
    await createTable(t, 'p1', 'beta', 't3');
    await createTable(t, 'p1', 'beta', 't4');
    expect((await t.callJson('GET', '/projects/p1/buckets/beta')).body.table_count).toBe(3);
  });

  it('404 bucket_not_found with the documented details', async () => {
    const res = await t.callJson('GET', '/projects/p1/buckets/missing');
    expectError(res, 404, 'bucket_not_found');
    expect(res.body.detail.details).toMatchObject({ project_id: 'p1', bucket_name: 'missing' });
    // A bucket of another project is not visible here.
    expectError(await t.callJson('GET', '/projects/p1/buckets/aaa'), 404, 'bucket_not_found');
  });

  it('404 project_not_found for a missing project', async () => {
    expectError(await t.callJson('GET', '/projects/nope/buckets'), 404, 'project_not_found');
    expectError(await t.callJson('GET', '/projects/nope/buckets/alpha'), 404, 'project_not_found');
  });

  it('listing and describing do not open any table file', async () => {
    expect(t.services.registry.openCount).toBe(0);
    await t.callJson('GET', '/projects/p1/buckets');
    await t.callJson('GET', '/projects/p1/buckets/beta');
    await t.callJson('GET', '/projects/p1/stats');
    expect(t.services.registry.openCount).toBe(0);
  });
});

describe('DELETE /projects/{id}/buckets/{bucket}', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
  });
  afterAll(() => t.close());

  it('deletes an empty bucket: 204, folder gone, then 404', async () => {
    await createBucket(t, 'p1', 'empty');
    const res = await t.call('DELETE', '/projects/p1/buckets/empty');
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(existsSync(bucketDir(t, 'p1', 'empty'))).toBe(false);
    expectError(await t.callJson('GET', '/projects/p1/buckets/empty'), 404, 'bucket_not_found');
    expectError(await t.callJson('DELETE', '/projects/p1/buckets/empty'), 404, 'bucket_not_found');
  });

  it('cascade defaults to true: a bucket with tables goes with its tables and files', async () => {
    await createBucket(t, 'p1', 'full');
    await createTable(t, 'p1', 'full', 'a');
    await createTable(t, 'p1', 'full', 'b');
    expect(existsSync(join(bucketDir(t, 'p1', 'full'), 'a.duckdb'))).toBe(true);
    expect((await t.call('DELETE', '/projects/p1/buckets/full')).status).toBe(204);
    expect(existsSync(bucketDir(t, 'p1', 'full'))).toBe(false);
    expect((await walk(join(t.dataDir, 'duckdb', 'project_p1'))).filter((p) => p.includes('full') || p.startsWith('.trash'))).toEqual([]);
    expectError(await t.callJson('GET', '/projects/p1/buckets/full/tables/a'), 404, 'bucket_not_found');
    // A bucket of the same name starts empty: no stale catalog rows survive.
    await createBucket(t, 'p1', 'full');
    const tables = await t.callJson('GET', '/projects/p1/buckets/full/tables');
    expect(tables.body).toEqual({ tables: [], total: 0 });
    expect((await t.callJson('GET', '/projects/p1/buckets/full')).body.table_count).toBe(0);
  });

  it('cascade=true explicitly deletes tables too', async () => {
    await createBucket(t, 'p1', 'casc');
    await createTable(t, 'p1', 'casc', 'x');
    expect((await t.call('DELETE', '/projects/p1/buckets/casc?cascade=true')).status).toBe(204);
    expect(existsSync(bucketDir(t, 'p1', 'casc'))).toBe(false);
  });

  it('cascade=false with tables → 409 bucket_not_empty and nothing is removed', async () => {
    await createBucket(t, 'p1', 'keep');
    await createTable(t, 'p1', 'keep', 'x');
    const res = await t.callJson('DELETE', '/projects/p1/buckets/keep?cascade=false');
    expectError(res, 409, 'bucket_not_empty');
    expect(res.body.detail.details).toMatchObject({ project_id: 'p1', bucket_name: 'keep' });
    expect(existsSync(join(bucketDir(t, 'p1', 'keep'), 'x.duckdb'))).toBe(true);
    expect((await t.callJson('GET', '/projects/p1/buckets/keep/tables/x')).status).toBe(200);
  });

  it('cascade=false on an empty bucket → 204', async () => {
    await createBucket(t, 'p1', 'empty2');
    expect((await t.call('DELETE', '/projects/p1/buckets/empty2?cascade=false')).status).toBe(204);
    expect(existsSync(bucketDir(t, 'p1', 'empty2'))).toBe(false);
  });

  it('bad query values → 422 validation_error and nothing is removed', async () => {
    await createBucket(t, 'p1', 'q');
    await createTable(t, 'p1', 'q', 'x');
    for (const query of ['cascade=yes', 'cascade=1', 'cascade=', 'cascade=TRUE', 'force=maybe', 'force=0']) {
      const res = await t.callJson('DELETE', `/projects/p1/buckets/q?${query}`);
      expectError(res, 422, 'validation_error');
      expect(res.body.detail.details.issues[0].path).toMatch(/^query\./);
    }
    expect((await t.callJson('GET', '/projects/p1/buckets/q')).body.table_count).toBe(1);
  });

  it('a required field that is absent is named in plain words, in a body, nested in one, and in a query', async () => {
    const bucket = await t.callJson('POST', '/projects/p1/buckets', { body: { description: 'no name' } });
    expectError(bucket, 422, 'validation_error');
    expect(bucket.body.detail.details.issues).toEqual([{ path: 'name', message: 'name is required' }]);
    await createBucket(t, 'p1', 'req');
    const table = await t.callJson('POST', '/projects/p1/buckets/req/tables', { body: { name: 'x', columns: [{ type: 'INTEGER' }] } });
    expectError(table, 422, 'validation_error');
    expect(table.body.detail.details.issues).toContainEqual({ path: 'columns.0.name', message: 'name is required' });
    const file = await t.callJson('POST', '/projects/p1/files', { raw: 'x', headers: { 'content-type': 'text/plain' } });
    expectError(file, 422, 'validation_error');
    expect(file.body.detail.details.issues).toEqual([{ path: 'query.name', message: 'name is required' }]);
    // Nothing was made by the refused requests.
    expect((await t.callJson('GET', '/projects/p1/buckets/req')).body.table_count).toBe(0);
    expect((await t.callJson('GET', '/projects/p1/files')).body.files).toEqual([]);
  });

  it('404 bucket_not_found and 404 project_not_found', async () => {
    expectError(await t.callJson('DELETE', '/projects/p1/buckets/never'), 404, 'bucket_not_found');
    expectError(await t.callJson('DELETE', '/projects/nope/buckets/never'), 404, 'project_not_found');
  });
});

describe('project stats and the project object follow buckets and tables live', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
  });
  afterAll(() => t.close());

  async function fileSizes(): Promise<number> {
    const { stat } = await import('node:fs/promises');
    let total = 0;
    for (const rel of await walk(join(t.dataDir, 'duckdb', 'project_p1'))) {
      if (rel.endsWith('.duckdb') || rel.endsWith('.duckdb.wal')) total += (await stat(join(t.dataDir, 'duckdb', 'project_p1', rel))).size;
    }
    return total;
  }

  it('counts buckets, tables and bytes', async () => {
    const empty = await t.callJson('GET', '/projects/p1/stats');
    expect(empty.body).toEqual({ id: 'p1', size_bytes: 0, table_count: 0, bucket_count: 0, snapshots_size_bytes: 0, files_size_bytes: 0, branches_size_bytes: 0, workspaces_size_bytes: 0 });

    await createBucket(t, 'p1', 'b1');
    await createBucket(t, 'p1', 'b2');
    await createTable(t, 'p1', 'b1', 't1');
    await createTable(t, 'p1', 'b2', 't2');
    await createTable(t, 'p1', 'b2', 't3');
    const stats = await t.callJson('GET', '/projects/p1/stats');
    expect(stats.body).toMatchObject({ id: 'p1', table_count: 3, bucket_count: 2 });
    expect(stats.body.size_bytes).toBeGreaterThan(0);
    expect(stats.body.size_bytes).toBe(await fileSizes());

    const project = await t.callJson('GET', '/projects/p1');
    expect(project.body).toMatchObject({ table_count: 3, bucket_count: 2, size_bytes: stats.body.size_bytes });

    expect((await t.call('DELETE', '/projects/p1/buckets/b2')).status).toBe(204);
    const after = await t.callJson('GET', '/projects/p1/stats');
    expect(after.body).toMatchObject({ table_count: 1, bucket_count: 1 });
    expect(after.body.size_bytes).toBe(await fileSizes());
    expect(after.body.size_bytes).toBeLessThan(stats.body.size_bytes);
  });
});

describe('buckets survive a restart', () => {
  it('close the services and open the same root again', async () => {
    const first = await makeApp();
    const root = first.root;
    try {
      await first.createProject('p1');
      await createBucket(first, 'p1', 'kept', 'still here');
      await createBucket(first, 'p1', 'dropped');
      await createTable(first, 'p1', 'kept', 't1');
      expect((await first.call('DELETE', '/projects/p1/buckets/dropped')).status).toBe(204);
      const before = (await first.callJson('GET', '/projects/p1/buckets')).body;
      await first.services.close();

      const second = await makeApp({ root });
      try {
        const after = await second.callJson('GET', '/projects/p1/buckets');
        expect(after.status).toBe(200);
        expect(after.body).toEqual(before);
        expect(after.body.buckets.map((b: any) => b.name)).toEqual(['kept']);
        expect(after.body.buckets[0]).toMatchObject({ description: 'still here', table_count: 1 });
        expectError(await second.callJson('POST', '/projects/p1/buckets', { body: { name: 'KEPT' } }), 409, 'bucket_exists');
      } finally {
        await second.services.close();
      }
    } finally {
      const { rm } = await import('node:fs/promises');
      await rm(root, { recursive: true, force: true });
    }
  });
});
