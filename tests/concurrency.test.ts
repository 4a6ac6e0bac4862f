import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, walk, type TestApp } from './helpers.ts';

const COLUMNS = [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }];

function tablePath(t: TestApp, bucket: string, table: string): string {
  return join(t.dataDir, 'duckdb', 'project_p1', bucket, `${table}.duckdb`);
}

async function allDetached(t: TestApp): Promise<void> {
  for (let i = 0; i < 2000 && t.services.registry.openCount > 0; i++) await new Promise((r) => setTimeout(r, 5));
  expect(t.services.registry.openCount).toBe(0);
}

/** An insert as an import would do it: under the table's write lock, through the shared attachment. */
async function insertRows(t: TestApp, path: string, from: number, count: number): Promise<void> {
  const { registry, db } = t.services;
  await registry.withWriteLock(path, async () => {
    const alias = await registry.acquire(path);
    try {
      await db.with((c) => c.run(`INSERT INTO "${alias}".main.data SELECT i, 'v' || i FROM range(${from}, ${from + count}) r(i)`));
    } finally {
      registry.release(path);
    }
  });
}

describe('concurrent requests', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
  });
  afterAll(() => t.close());

  it('20 different tables created in one bucket at once: all 201, all listed', async () => {
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'many' } });
    const names = Array.from({ length: 20 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    const results = await Promise.all(names.map((name) => t.callJson('POST', '/projects/p1/buckets/many/tables', { body: { name, columns: COLUMNS } })));
    expect(results.map((r) => r.status)).toEqual(names.map(() => 201));
    const list = await t.callJson('GET', '/projects/p1/buckets/many/tables');
    expect(list.body.total).toBe(20);
    expect(list.body.tables.map((x: any) => x.name)).toEqual(names);
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1', 'many'))).toEqual(names.map((n) => `${n}.duckdb`));
    expect((await t.callJson('GET', '/projects/p1/buckets/many')).body.table_count).toBe(20);
  });

  it('the same table name created 10 times at once (in varying case): exactly one 201, the rest 409', async () => {
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'same' } });
    const spellings = ['orders', 'Orders', 'ORDERS', 'orders', 'oRders', 'orders', 'ordERS', 'Orders', 'orders', 'ORDERs'];
    const results = await Promise.all(spellings.map((name) => t.callJson('POST', '/projects/p1/buckets/same/tables', { body: { name, columns: COLUMNS } })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, ...Array(9).fill(409)]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.detail.error).toBe('table_exists');
    const winner = results.find((r) => r.status === 201)!.body.name;
    expect((await t.callJson('GET', '/projects/p1/buckets/same/tables')).body.tables.map((x: any) => x.name)).toEqual([winner]);
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1', 'same'))).toEqual([`${winner}.duckdb`]);
  });

  it('the same bucket created 10 times at once: exactly one 201, the rest 409 bucket_exists', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => t.callJson('POST', '/projects/p1/buckets', { body: { name: i % 2 ? 'Race' : 'race' } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, ...Array(9).fill(409)]);
    const names = (await t.callJson('GET', '/projects/p1/buckets')).body.buckets.map((b: any) => b.name).filter((n: string) => n.toLowerCase() === 'race');
    expect(names).toHaveLength(1);
    expect((await walk(join(t.dataDir, 'duckdb', 'project_p1'))).filter((p) => p.toLowerCase() === 'race')).toEqual(names);
  });

  it('writes and previews on one table at once: previews see whole inserts only', async () => {
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'rw' } });
    await t.callJson('POST', '/projects/p1/buckets/rw/tables', { body: { name: 'log', columns: COLUMNS, primary_key: ['id'] } });
    const path = tablePath(t, 'rw', 'log');
    const BATCH = 50;
    const writes = Array.from({ length: 10 }, (_, i) => insertRows(t, path, i * BATCH, BATCH));
    const previews = Array.from({ length: 20 }, () => t.callJson('GET', '/projects/p1/buckets/rw/tables/log/preview?limit=10000'));
    const [, results] = await Promise.all([Promise.all(writes), Promise.all(previews)]);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body.total_row_count % BATCH).toBe(0);
      expect(r.body.preview_row_count).toBe(r.body.total_row_count);
      expect(new Set(r.body.rows.map((row: any) => row.id)).size).toBe(r.body.rows.length);
    }
    const final = await t.callJson('GET', '/projects/p1/buckets/rw/tables/log/preview?limit=10000');
    expect(final.body.total_row_count).toBe(10 * BATCH);
    await allDetached(t);
  });

  it('a table deleted while previews run: previews answer 200 or 404, the delete 204, then it is gone', async () => {
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'del' } });
    await t.callJson('POST', '/projects/p1/buckets/del/tables', { body: { name: 'victim', columns: COLUMNS } });
    await t.callJson('POST', '/projects/p1/buckets/del/tables', { body: { name: 'bystander', columns: COLUMNS } });
    const path = tablePath(t, 'del', 'victim');
    await insertRows(t, path, 0, 100);
    const previews = Array.from({ length: 30 }, (_, i) =>
      t.callJson('GET', `/projects/p1/buckets/del/tables/${i % 5 === 4 ? 'bystander' : 'victim'}/preview?limit=10`).then((r) => ({ i, r })),
    );
    const deletion = t.call('DELETE', '/projects/p1/buckets/del/tables/victim');
    const later = Array.from({ length: 10 }, () => t.callJson('GET', '/projects/p1/buckets/del/tables/victim/preview'));
    const [results, deleted, afterwards] = await Promise.all([Promise.all(previews), deletion, Promise.all(later)]);
    expect(deleted.status).toBe(204);
    for (const { i, r } of results) {
      if (i % 5 === 4) {
        expect(r.status).toBe(200);
        continue;
      }
      expect([200, 404], JSON.stringify(r.body)).toContain(r.status);
      if (r.status === 200) expect(r.body.total_row_count).toBe(100);
      else expect(r.body.detail.error).toBe('table_not_found');
    }
    for (const r of afterwards) {
      expect([200, 404]).toContain(r.status);
      if (r.status === 404) expect(r.body.detail.error).toBe('table_not_found');
    }
    await allDetached(t);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.wal`)).toBe(false);
    expect((await t.callJson('GET', '/projects/p1/buckets/del/tables')).body.tables.map((x: any) => x.name)).toEqual(['bystander']);
    expect((await t.callJson('GET', '/projects/p1/buckets/del/tables/victim/preview')).status).toBe(404);
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1', 'del'))).toEqual(['bystander.duckdb']);
  });
});

describe('bucket deletes racing table creates', () => {
  let root: string;
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    root = t.root;
    await t.createProject('p1');
  });
  afterAll(async () => {
    await t.services.close();
    await rm(root, { recursive: true, force: true });
  });

  const documented = new Set([201, 204, 404, 409]);

  it('only documented codes, and catalog and files agree afterwards (also after a restart)', async () => {
    for (let round = 0; round < 6; round++) {
      const bucket = `race${round}`;
      expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: bucket } })).status).toBe(201);
      await t.callJson('POST', `/projects/p1/buckets/${bucket}/tables`, { body: { name: 'seed', columns: COLUMNS } });
      const creates = Array.from({ length: 8 }, (_, i) =>
        t.callJson('POST', `/projects/p1/buckets/${bucket}/tables`, { body: { name: `t${i}`, columns: COLUMNS } }),
      );
      // Round 0 sends the deletes at once; later rounds once `round` creates have answered,
      // so that some creates land before the deletes and some wait behind them.
      const deletes = (async () => {
        for (let i = 0; i < round; i++) await creates[i];
        return Promise.all(Array.from({ length: 3 }, () => t.callJson('DELETE', `/projects/p1/buckets/${bucket}?cascade=true`)));
      })();
      const results = [...(await Promise.all(creates)), ...(await deletes)];
      for (const r of results) {
        expect(documented.has(r.status), `${r.status} ${JSON.stringify(r.body)}`).toBe(true);
        if (r.status === 404) expect(['bucket_not_found', 'table_not_found']).toContain(r.body.detail.error);
      }
      // Deletes of one bucket take turns: exactly one succeeds, the others find it gone.
      const deleteStatuses = results.slice(creates.length).map((r) => r.status);
      expect(deleteStatuses.sort()).toEqual([204, 404, 404]);
      const createStatuses = results.slice(0, creates.length).map((r) => r.status);
      expect(createStatuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(round);
      // The bucket is gone, with every table and file, whatever the creates answered.
      expect((await t.callJson('GET', `/projects/p1/buckets/${bucket}`)).status).toBe(404);
      await allDetached(t);
      expect(existsSync(join(t.dataDir, 'duckdb', 'project_p1', bucket))).toBe(false);
      expect(t.services.catalog.listTables('p1', bucket)).toEqual([]);
      // A new bucket of that name starts empty.
      expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: bucket } })).status).toBe(201);
      expect((await t.callJson('GET', `/projects/p1/buckets/${bucket}/tables`)).body).toEqual({ tables: [], total: 0 });
      expect((await t.call('DELETE', `/projects/p1/buckets/${bucket}`)).status).toBe(204);
    }
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1'))).toEqual([]);
    expect((await t.callJson('GET', '/projects/p1/stats')).body).toMatchObject({ table_count: 0, bucket_count: 0, size_bytes: 0 });

    // Nothing for a restart to resurrect either.
    await t.services.close();
    t = await makeApp({ root });
    expect((await t.callJson('GET', '/projects/p1/buckets')).body).toEqual({ buckets: [], total: 0 });
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1'))).toEqual([]);
  });

  it('a project deleted while tables and buckets are being created in it: 201/404 only, nothing left behind', async () => {
    const ids: string[] = [];
    for (let round = 0; round < 5; round++) {
      const id = `gone${round}`;
      ids.push(id);
      await t.createProject(id);
      expect((await t.callJson('POST', `/projects/${id}/buckets`, { body: { name: 'b' } })).status).toBe(201);
      const creates = [
        ...Array.from({ length: 6 }, (_, i) => t.callJson('POST', `/projects/${id}/buckets/b/tables`, { body: { name: `t${i}`, columns: COLUMNS } })),
        ...Array.from({ length: 2 }, (_, i) => t.callJson('POST', `/projects/${id}/buckets`, { body: { name: `nb${i}` } })),
      ];
      const deletion = (async () => {
        for (let i = 0; i < round; i++) await creates[i];
        return t.call('DELETE', `/projects/${id}`);
      })();
      const results = await Promise.all(creates);
      expect((await deletion).status).toBe(204);
      for (const r of results) {
        expect([201, 404], `${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
        if (r.status === 404) expect(r.body.detail.error).toBe('project_not_found');
      }
      await allDetached(t);
      expect(existsSync(join(t.dataDir, 'duckdb', `project_${id}`))).toBe(false);
      expect(t.services.catalog.listBuckets(id)).toEqual([]);
      expect(t.services.catalog.listTables(id, 'b')).toEqual([]);
    }
    expect(t.services.catalog.allTables().filter((x) => ids.includes(x.projectId))).toEqual([]);
    await t.services.close();
    t = await makeApp({ root });
    expect(t.services.catalog.allTables().filter((x) => ids.includes(x.projectId))).toEqual([]);
    expect((await walk(join(t.dataDir, 'duckdb'))).filter((p) => ids.some((id) => p.startsWith(`project_${id}`)))).toEqual([]);
  });
});
