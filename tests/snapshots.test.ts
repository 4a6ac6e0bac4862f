// CONTRACT §13: snapshots, restore, automatic snapshots, settings, retention, start-up repair.
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotCatalog } from '../src/storage/catalog/snapshots.ts';
import { createSnapshot, describeSnapshot, takeAutoSnapshot } from '../src/storage/snapshots.ts';
import { makeApp, manualClock, walk, type TestApp } from './helpers.ts';

const DAY = 24 * 60 * 60 * 1000;

const COLUMNS = [
  { name: 'id', type: 'INTEGER', nullable: false },
  { name: 'name', type: 'VARCHAR', nullable: false, default: 'nobody' },
  { name: 'amount', type: 'DECIMAL(10,2)' },
  { name: 'seen_at', type: 'TIMESTAMP' },
];
const ROWS = 'id,name,amount,seen_at\n1,ann,1.50,2026-01-01 10:00:00\n2,bob,,2026-01-02 11:00:00\n3,cid,-7.25,\n';

const P = (project: string) => `/projects/${project}`;
const B = (project: string, bucket: string) => `${P(project)}/buckets/${bucket}`;
const T = (project: string, bucket: string, table: string) => `${B(project, bucket)}/tables/${table}`;

async function bucket(t: TestApp, project: string, name: string) {
  const r = await t.callJson('POST', `${P(project)}/buckets`, { body: { name } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

async function table(t: TestApp, project: string, bucketName: string, name: string, rows = ROWS) {
  const r = await t.callJson('POST', `${B(project, bucketName)}/tables`, { body: { name, columns: COLUMNS, primary_key: ['id'] } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  if (rows) await load(t, project, bucketName, name, rows);
}

async function load(t: TestApp, project: string, bucketName: string, name: string, csv: string, incremental = false) {
  const r = await t.callJson('POST', `${T(project, bucketName, name)}/import?incremental=${incremental}`, { raw: csv, headers: { 'content-type': 'text/csv' } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

const rowsOf = async (t: TestApp, project: string, bucketName: string, name: string) => {
  const r = await t.callJson('POST', `${T(project, bucketName, name)}/preview`, { body: { order_by: [{ column: 'id', order: 'asc' }] } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.rows;
};

const snapshotsOf = async (t: TestApp, project: string, query = '') => (await t.callJson('GET', `${P(project)}/snapshots${query}`)).body;

/** The table file's own description: columns with NOT NULL and defaults, and its primary key. */
async function fileSchema(t: TestApp, path: string) {
  const { registry, db } = t.services;
  const alias = await registry.acquire(path);
  try {
    return await db.with(async (c) => {
      const columns = (
        await c.runAndReadAll(
          `SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() WHERE database_name = $1 AND table_name = 'data' ORDER BY column_index`,
          [alias],
        )
      ).getRowObjectsJson();
      const keys = (
        await c.runAndReadAll(`SELECT constraint_column_names FROM duckdb_constraints() WHERE database_name = $1 AND constraint_type = 'PRIMARY KEY'`, [alias])
      ).getRowObjectsJson();
      return { columns, keys };
    });
  } finally {
    registry.release(path);
  }
}

describe('§13 snapshots', () => {
  let t: TestApp;
  const clock = manualClock();

  beforeAll(async () => {
    t = await makeApp({ clock });
    await t.createProject('p');
    await t.createProject('other');
    await bucket(t, 'p', 'in_c_sales');
  });
  afterAll(() => t.close());

  describe('round trip', () => {
    it('snapshot → change rows, columns, types, key, metadata → restore with overwrite → exactly the table at snapshot time', async () => {
      await table(t, 'p', 'in_c_sales', 'orders');
      const O = T('p', 'in_c_sales', 'orders');
      const ok = async (method: string, path: string, body?: unknown) => {
        const r = await t.callJson(method, path, { body });
        expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
        return r.body;
      };
      await ok('POST', `${O}/metadata`, { metadata: [{ key: 'description', value: 'Orders' }] });
      await ok('POST', `${O}/columns/amount/metadata`, { provider: 'pii', metadata: [{ key: 'flag', value: 'no' }] });
      const before = await ok('GET', O);
      expect(before.metadata).toHaveLength(1);
      const beforeRows = await rowsOf(t, 'p', 'in_c_sales', 'orders');
      const path = t.services.paths.tableFile('p', 'in_c_sales', 'orders');
      const beforeSchema = await fileSchema(t, path);
      expect(beforeSchema.keys).toEqual([{ constraint_column_names: ['id'] }]);

      const created = await t.callJson('POST', `${O}/snapshots`, { body: { description: 'before the migration' } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const snap = created.body;
      expect(snap).toMatchObject({
        bucket: 'in_c_sales',
        table: 'orders',
        branch: 'default',
        description: 'before the migration',
        kind: 'manual',
        reason: null,
        row_count: 3,
        columns: before.columns,
        primary_key: ['id'],
        created_at: clock.now().toISOString(),
        expires_at: new Date(clock.now().getTime() + 90 * DAY).toISOString(),
      });
      expect(snap.id).toMatch(/^s_[0-9a-f]{12}$/);
      const file = join(t.dataDir, 'snapshots', 'project_p', `${snap.id}.duckdb`);
      expect(snap.size_bytes).toBe(statSync(file).size);

      // Change everything: rows, columns, a type, the key, table and column metadata.
      await load(t, 'p', 'in_c_sales', 'orders', 'id,name\n7,zed\n', true);
      await ok('POST', `${O}/delete-rows`, { filters: [{ column: 'id', operator: 'eq', values: [1] }] });
      await ok('POST', `${O}/columns`, { name: 'extra', type: 'DOUBLE' });
      await ok('DELETE', `${O}/columns/seen_at`);
      await ok('PATCH', `${O}/columns/amount`, { type: 'DOUBLE' });
      await ok('PUT', `${O}/primary-key`, { columns: ['name'] });
      await ok('DELETE', `${O}/metadata/description`);
      await ok('POST', `${O}/metadata`, { metadata: [{ key: 'owner', value: 'ops' }] });
      const changed = await ok('GET', O);
      expect(changed.primary_key).toEqual(['name']);
      expect(changed.columns.map((c: any) => c.name)).toEqual(['id', 'name', 'amount', 'extra']);
      // The column drop took its auto snapshot.
      expect((await snapshotsOf(t, 'p', '?table=orders&kind=auto')).snapshots.map((s: any) => [s.reason, s.row_count])).toEqual([['drop_column', 3]]);

      const restored = await t.callJson('POST', `${P('p')}/snapshots/${snap.id}/restore`, { body: { overwrite: true } });
      expect(restored.status, JSON.stringify(restored.body)).toBe(200);
      expect(restored.body.snapshot_id).toBe(snap.id);
      expect(restored.body.auto_snapshot_id).toMatch(/^s_[0-9a-f]{12}$/);
      const { size_bytes: _a, ...restoredTable } = restored.body.table;
      const { size_bytes: _b, ...beforeTable } = before;
      expect(restoredTable).toEqual(beforeTable);
      expect(await ok('GET', O)).toMatchObject(beforeTable);
      expect(await rowsOf(t, 'p', 'in_c_sales', 'orders')).toEqual(beforeRows);
      expect(await fileSchema(t, path)).toEqual(beforeSchema);
      expect((await ok('GET', `${O}/columns/amount/metadata`)).metadata).toMatchObject([{ provider: 'pii', key: 'flag', value: 'no' }]);

      // The default and the key work in the restored file.
      await load(t, 'p', 'in_c_sales', 'orders', 'id,amount\n4,2.00\n1,9.99\n', true);
      const after = await rowsOf(t, 'p', 'in_c_sales', 'orders');
      expect(after.map((r: any) => [r.id, r.name, r.amount])).toEqual([
        [1, 'ann', '9.99'],
        [2, 'bob', null],
        [3, 'cid', '-7.25'],
        [4, 'nobody', '2.00'],
      ]);

      // The auto snapshot holds the table as it was just before the restore.
      const auto = await ok('GET', `${P('p')}/snapshots/${restored.body.auto_snapshot_id}`);
      expect(auto).toMatchObject({ kind: 'auto', reason: 'restore', row_count: 3, primary_key: ['name'], table: 'orders', bucket: 'in_c_sales', columns: changed.columns });
      expect(auto.expires_at).toBe(new Date(clock.now().getTime() + 7 * DAY).toISOString());
      const back = await t.callJson('POST', `${P('p')}/snapshots/${auto.id}/restore`, { body: { table: 'orders_migrated' } });
      expect(back.status, JSON.stringify(back.body)).toBe(200);
      expect(back.body.auto_snapshot_id).toBeNull();
      expect(back.body.table).toMatchObject({ name: 'orders_migrated', primary_key: ['name'], row_count: 3, columns: changed.columns });
      expect(back.body.table.metadata.map((m: any) => m.key)).toEqual(['owner']);
      expect((await rowsOf(t, 'p', 'in_c_sales', 'orders_migrated')).map((r: any) => [r.id, r.name])).toEqual([
        [2, 'bob'],
        [3, 'cid'],
        [7, 'zed'],
      ]);
    });

    it('a snapshot of a file with changes still in its WAL holds them (the WAL is checkpointed first)', async () => {
      await table(t, 'p', 'in_c_sales', 'walled', '');
      await load(t, 'p', 'in_c_sales', 'walled', 'id,name\n1,a\n2,b\n', true);
      const path = t.services.paths.tableFile('p', 'in_c_sales', 'walled');
      // Writes through the API checkpoint before they let go of the table; a write straight
      // into the attached file leaves its change in the WAL, which a plain copy would miss.
      const alias = await t.services.registry.acquire(path);
      try {
        await t.services.db.with((c) => c.run(`INSERT INTO ${alias}.main.data (id, name) VALUES (3, 'c')`));
        expect(existsSync(`${path}.wal`) && statSync(`${path}.wal`).size > 0).toBe(true);
        const snap = (await t.callJson('POST', `${T('p', 'in_c_sales', 'walled')}/snapshots`)).body;
        expect(existsSync(join(t.dataDir, 'snapshots', 'project_p', `${snap.id}.duckdb.wal`))).toBe(false);
        const r = await t.callJson('POST', `${P('p')}/snapshots/${snap.id}/restore`, { body: { table: 'walled_copy' } });
        expect(r.status).toBe(200);
      } finally {
        t.services.registry.release(path);
      }
      expect((await rowsOf(t, 'p', 'in_c_sales', 'walled_copy')).map((row: any) => row.name)).toEqual(['a', 'b', 'c']);
    });
  });

  describe('create, list, get, delete', () => {
    beforeAll(async () => {
      await bucket(t, 'p', 'lst');
      await table(t, 'p', 'lst', 'a');
      await table(t, 'p', 'lst', 'b');
    });

    it('lists per table and per project, newest first, with filters and paging', async () => {
      const ids: string[] = [];
      for (const name of ['a', 'a', 'b']) {
        const r = await t.callJson('POST', `${T('p', 'lst', name)}/snapshots`, { body: { description: name } });
        expect(r.status).toBe(201);
        ids.push(r.body.id);
      }
      const perTable = (await t.callJson('GET', `${T('p', 'lst', 'a')}/snapshots`)).body;
      expect(perTable.total).toBe(2);
      expect(perTable.snapshots.map((s: any) => s.id)).toEqual([ids[1], ids[0]]);
      const paged = (await t.callJson('GET', `${T('p', 'lst', 'a')}/snapshots?limit=1&offset=1`)).body;
      expect(paged).toMatchObject({ total: 2, snapshots: [{ id: ids[0] }] });

      const project = await snapshotsOf(t, 'p', '?bucket=lst');
      expect(project.snapshots.map((s: any) => s.id)).toEqual([ids[2], ids[1], ids[0]]);
      expect((await snapshotsOf(t, 'p', '?bucket=LST&table=b')).snapshots.map((s: any) => s.id)).toEqual([ids[2]]);
      expect((await snapshotsOf(t, 'p', '?bucket=lst&kind=auto')).total).toBe(0);
      expect((await snapshotsOf(t, 'p', '?bucket=lst&kind=manual')).total).toBe(3);
      expect((await snapshotsOf(t, 'p', '?bucket=lst&branch=default')).total).toBe(3);
      expect((await snapshotsOf(t, 'p', '?bucket=lst&branch=b_123')).total).toBe(0);
      expect((await snapshotsOf(t, 'p', '?bucket=lst&limit=2')).snapshots).toHaveLength(2);
      expect((await snapshotsOf(t, 'other')).total).toBe(0);
      for (const query of ['?kind=other', '?limit=0', '?limit=1001', '?offset=-1', '?bucket=a.b']) {
        const r = await t.callJson('GET', `${P('p')}/snapshots${query}`);
        expect(r.status, query).toBe(422);
      }
      expect((await t.callJson('GET', `${T('p', 'lst', 'a')}/snapshots?limit=0`)).status).toBe(422);
    });

    it('gets and deletes a snapshot; another project cannot see it', async () => {
      const snap = (await t.callJson('POST', `${T('p', 'lst', 'a')}/snapshots`)).body;
      expect((await t.callJson('GET', `${P('p')}/snapshots/${snap.id}`)).body).toEqual(snap);
      const elsewhere = await t.callJson('GET', `${P('other')}/snapshots/${snap.id}`);
      expect(elsewhere.status).toBe(404);
      expect(elsewhere.body.detail.error).toBe('snapshot_not_found');
      expect((await t.callJson('DELETE', `${P('other')}/snapshots/${snap.id}`)).status).toBe(404);
      const file = join(t.dataDir, 'snapshots', 'project_p', `${snap.id}.duckdb`);
      expect(existsSync(file)).toBe(true);
      expect((await t.call('DELETE', `${P('p')}/snapshots/${snap.id}`)).status).toBe(204);
      expect(existsSync(file)).toBe(false);
      const gone = await t.callJson('GET', `${P('p')}/snapshots/${snap.id}`);
      expect(gone.status).toBe(404);
      expect(gone.body.detail.error).toBe('snapshot_not_found');
      expect((await t.callJson('DELETE', `${P('p')}/snapshots/${snap.id}`)).body.detail.error).toBe('snapshot_not_found');
      expect((await t.callJson('GET', `${P('p')}/snapshots/s_000000000000`)).status).toBe(404);
      expect((await t.callJson('GET', `${P('p')}/snapshots/a.b`)).status).toBe(422);
    });

    it('answers 404 for a missing table and project, 422 for a bad body', async () => {
      const missing = await t.callJson('POST', `${T('p', 'lst', 'nope')}/snapshots`);
      expect(missing.status).toBe(404);
      expect(missing.body.detail.error).toBe('table_not_found');
      expect((await t.callJson('POST', `${T('p', 'nob', 'a')}/snapshots`)).body.detail.error).toBe('bucket_not_found');
      expect((await t.callJson('GET', `${P('ghost')}/snapshots`)).body.detail.error).toBe('project_not_found');
      const before = t.services.snapshots.all().length;
      for (const body of [{ retention_days: 0 }, { retention_days: 3651 }, { retention_days: 1.5 }, { description: 5 }]) {
        const r = await t.callJson('POST', `${T('p', 'lst', 'a')}/snapshots`, { body });
        expect(r.status, JSON.stringify(body)).toBe(422);
      }
      expect(t.services.snapshots.all().length).toBe(before);
    });

    it('a deleted table keeps its snapshots: 404 on the table list, still in the project list', async () => {
      await table(t, 'p', 'lst', 'gone');
      const snap = (await t.callJson('POST', `${T('p', 'lst', 'gone')}/snapshots`)).body;
      expect((await t.call('DELETE', T('p', 'lst', 'gone'))).status).toBe(204);
      expect((await t.callJson('GET', `${T('p', 'lst', 'gone')}/snapshots`)).status).toBe(404);
      expect((await snapshotsOf(t, 'p', '?table=gone')).snapshots.map((s: any) => s.id)).toContain(snap.id);
    });

    it('stats count the snapshot files', async () => {
      const stats = (await t.callJson('GET', `${P('p')}/stats`)).body;
      const dir = join(t.dataDir, 'snapshots', 'project_p');
      const files = (await readdir(dir)).filter((f) => f.endsWith('.duckdb'));
      expect(files.length).toBeGreaterThan(0);
      expect(stats.snapshots_size_bytes).toBe(files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0));
      expect((await t.callJson('GET', `${P('other')}/stats`)).body.snapshots_size_bytes).toBe(0);
    });
  });

  describe('restore targets and conflicts', () => {
    let snapId: string;
    beforeAll(async () => {
      await bucket(t, 'p', 'rst');
      await bucket(t, 'p', 'rst2');
      await table(t, 'p', 'rst', 'src');
      snapId = (await t.callJson('POST', `${T('p', 'rst', 'src')}/snapshots`)).body.id;
    });

    const restore = (body: unknown, id = snapId, project = 'p') => t.callJson('POST', `${P(project)}/snapshots/${id}/restore`, { body });
    const tree = () => walk(t.dataDir);

    it('409 table_exists without overwrite, and nothing changes', async () => {
      const files = await tree();
      const count = t.services.snapshots.all().length;
      const r = await restore({});
      expect(r.status).toBe(409);
      expect(r.body.detail.error).toBe('table_exists');
      expect(await tree()).toEqual(files);
      expect(t.services.snapshots.all().length).toBe(count);
    });

    it('into another table, into another bucket', async () => {
      const a = await restore({ table: 'src_copy' });
      expect(a.status).toBe(200);
      expect(a.body).toMatchObject({ snapshot_id: snapId, auto_snapshot_id: null, table: { name: 'src_copy', bucket: 'rst', row_count: 3, primary_key: ['id'] } });
      const b = await restore({ bucket: 'rst2' });
      expect(b.status).toBe(200);
      expect(b.body.table).toMatchObject({ name: 'src', bucket: 'rst2', row_count: 3 });
      expect(await rowsOf(t, 'p', 'rst2', 'src')).toEqual(await rowsOf(t, 'p', 'rst', 'src'));
      expect((await restore({ bucket: 'rst2' })).body.detail.error).toBe('table_exists');
    });

    it('404 for an explicit bucket that does not exist, 404 snapshot_not_found, 422 for bad names', async () => {
      const files = await tree();
      const r = await restore({ bucket: 'nosuch' });
      expect(r.status).toBe(404);
      expect(r.body.detail.error).toBe('bucket_not_found');
      expect(t.services.catalog.getBucket('p', 'nosuch')).toBeUndefined();
      const missing = await restore({}, 's_0123456789ab');
      expect(missing.body.detail.error).toBe('snapshot_not_found');
      // The path's snapshot is looked up before the body is validated.
      expect((await restore({ bucket: 'a.b' }, 's_0123456789ab')).status).toBe(404);
      expect((await restore({ bucket: 'a.b' })).status).toBe(422);
      expect((await restore({ overwrite: 'yes' })).status).toBe(422);
      expect((await restore({}, snapId, 'other')).body.detail.error).toBe('snapshot_not_found');
      expect(await tree()).toEqual(files);
    });

    it('403 bucket_readonly into a linked bucket, before table_exists', async () => {
      await t.createProject('src2');
      await bucket(t, 'src2', 'shared');
      await table(t, 'src2', 'shared', 'src');
      expect((await t.callJson('POST', `${B('src2', 'shared')}/share`, { body: { target_project_id: 'p' } })).status).toBe(200);
      expect((await t.callJson('POST', `${B('p', 'linked')}/link`, { body: { source_project_id: 'src2', source_bucket_name: 'shared' } })).status).toBe(201);
      for (const body of [{ bucket: 'linked' }, { bucket: 'linked', overwrite: true }, { bucket: 'linked', table: 'fresh' }]) {
        const r = await restore(body);
        expect(r.status, JSON.stringify(body)).toBe(403);
        expect(r.body.detail.error).toBe('bucket_readonly');
      }
      expect(t.services.catalog.listTables('src2', 'shared').map((x) => x.name)).toEqual(['src']);
      // Reads through the link show no snapshots; writes are refused.
      expect((await t.callJson('GET', `${T('p', 'linked', 'src')}/snapshots`)).body).toEqual({ snapshots: [], total: 0 });
      const write = await t.callJson('POST', `${T('p', 'linked', 'src')}/snapshots`);
      expect(write.status).toBe(403);
      expect(write.body.detail.error).toBe('bucket_readonly');
    });

    it('after the table was deleted it is created again; after the bucket was deleted, the bucket too', async () => {
      await bucket(t, 'p', 'doomed');
      await table(t, 'p', 'doomed', 'keep');
      const snap = (await t.callJson('POST', `${T('p', 'doomed', 'keep')}/snapshots`)).body;
      const createdAt = (await t.callJson('GET', T('p', 'doomed', 'keep'))).body.created_at;
      expect((await t.call('DELETE', T('p', 'doomed', 'keep'))).status).toBe(204);
      const again = await restore({}, snap.id);
      expect(again.status, JSON.stringify(again.body)).toBe(200);
      expect(again.body.auto_snapshot_id).toBeNull();
      // Restored where it was taken, it is the same table again: its creation time is kept.
      expect(again.body.table.created_at).toBe(createdAt);
      expect((await t.call('DELETE', B('p', 'doomed'))).status).toBe(204);
      expect(t.services.catalog.getBucket('p', 'doomed')).toBeUndefined();
      const withBucket = await restore({}, snap.id);
      expect(withBucket.status, JSON.stringify(withBucket.body)).toBe(200);
      expect(t.services.catalog.getBucket('p', 'doomed')).toBeDefined();
      expect((await rowsOf(t, 'p', 'doomed', 'keep')).map((r: any) => r.id)).toEqual([1, 2, 3]);
    });

    it('a bucket created again by a restore has the description and metadata it had when the snapshot was taken', async () => {
      const created = await t.callJson('POST', `${P('p')}/buckets`, { body: { name: 'described', description: 'sales of the week' } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      await table(t, 'p', 'described', 'orders');
      const tagged = await t.callJson('POST', `${B('p', 'described')}/metadata`, { body: { metadata: [{ key: 'KBC.owner', value: 'ann' }] } });
      expect(tagged.status, JSON.stringify(tagged.body)).toBe(200);
      const snap = (await t.callJson('POST', `${T('p', 'described', 'orders')}/snapshots`)).body;
      const atSnapshot = (await t.callJson('GET', B('p', 'described'))).body;
      expect(atSnapshot.metadata.map((e: any) => [e.key, e.value])).toEqual([['KBC.owner', 'ann']]);
      // Changed after the snapshot: the restore brings back the state at snapshot time.
      await t.callJson('POST', `${B('p', 'described')}/metadata`, { body: { metadata: [{ key: 'KBC.owner', value: 'bob' }, { key: 'KBC.later', value: 'x' }] } });
      expect((await t.call('DELETE', `${B('p', 'described')}?force=true`)).status).toBe(204);
      expect(t.services.catalog.getBucket('p', 'described')).toBeUndefined();

      const restored = await restore({}, snap.id);
      expect(restored.status, JSON.stringify(restored.body)).toBe(200);
      const again = (await t.callJson('GET', B('p', 'described'))).body;
      expect(again.description).toBe('sales of the week');
      expect(again.metadata).toEqual(atSnapshot.metadata);
      expect((await t.callJson('GET', `${B('p', 'described')}/metadata`)).body.metadata).toEqual(atSnapshot.metadata);
      // A restore into a bucket that exists leaves that bucket's metadata alone.
      await t.callJson('POST', `${B('p', 'described')}/metadata`, { body: { metadata: [{ key: 'KBC.owner', value: 'cid' }] } });
      expect((await restore({ table: 'orders_again' }, snap.id)).status).toBe(200);
      expect((await t.callJson('GET', B('p', 'described'))).body.metadata.map((e: any) => [e.key, e.value])).toEqual([['KBC.owner', 'cid']]);
    });

    it('overwrite takes a restore auto snapshot even when every auto setting is off', async () => {
      expect((await t.callJson('PUT', `${P('p')}/settings/snapshots`, { body: { auto: { drop_table: false, truncate: false, drop_column: false, full_import: false } } })).status).toBe(200);
      try {
        await load(t, 'p', 'rst', 'src', 'id,name\n50,x\n');
        const r = await restore({ overwrite: true });
        expect(r.status).toBe(200);
        const auto = (await t.callJson('GET', `${P('p')}/snapshots/${r.body.auto_snapshot_id}`)).body;
        expect(auto).toMatchObject({ kind: 'auto', reason: 'restore', row_count: 1 });
        expect(r.body.table.row_count).toBe(3);
        expect((await rowsOf(t, 'p', 'rst', 'src')).map((row: any) => row.id)).toEqual([1, 2, 3]);
      } finally {
        await t.callJson('PUT', `${P('p')}/settings/snapshots`, { body: { auto: { drop_table: true, truncate: true, drop_column: true } } });
      }
    });
  });

  describe('automatic snapshots', () => {
    const autos = async (tableName: string) => (await snapshotsOf(t, 'p', `?bucket=aut&table=${tableName}&kind=auto`)).snapshots;
    const setAuto = (auto: Record<string, boolean>) => t.callJson('PUT', `${P('p')}/settings/snapshots`, { body: { auto } });

    beforeAll(async () => {
      await bucket(t, 'p', 'aut');
    });

    it('drop table: on by default, the file itself becomes the snapshot; off: none', async () => {
      await table(t, 'p', 'aut', 'd1');
      const path = t.services.paths.tableFile('p', 'aut', 'd1');
      const inode = statSync(path).ino;
      expect((await t.call('DELETE', T('p', 'aut', 'd1'))).status).toBe(204);
      const [snap] = await autos('d1');
      expect(snap).toMatchObject({ kind: 'auto', reason: 'drop_table', row_count: 3, primary_key: ['id'] });
      // Moved, not copied: the snapshot is the table's own file.
      const file = join(t.dataDir, 'snapshots', 'project_p', `${snap.id}.duckdb`);
      expect(statSync(file).ino).toBe(inode);
      expect(snap.size_bytes).toBe(statSync(file).size);
      expect(existsSync(path)).toBe(false);
      expect((await t.callJson('GET', T('p', 'aut', 'd1'))).status).toBe(404);
      expect((await t.callJson('POST', `${P('p')}/snapshots/${snap.id}/restore`, { body: {} })).status).toBe(200);
      expect((await rowsOf(t, 'p', 'aut', 'd1')).map((r: any) => r.id)).toEqual([1, 2, 3]);

      await setAuto({ drop_table: false });
      try {
        await table(t, 'p', 'aut', 'd2');
        expect((await t.call('DELETE', T('p', 'aut', 'd2'))).status).toBe(204);
        expect(await autos('d2')).toEqual([]);
        expect(existsSync(t.services.paths.tableFile('p', 'aut', 'd2'))).toBe(false);
      } finally {
        await setAuto({ drop_table: true });
      }
    });

    it("a bucket's cascade delete takes one per table", async () => {
      await bucket(t, 'p', 'casc');
      await table(t, 'p', 'casc', 'x');
      await table(t, 'p', 'casc', 'y', 'id,name\n1,a\n');
      expect((await t.call('DELETE', B('p', 'casc'))).status).toBe(204);
      const snaps = (await snapshotsOf(t, 'p', '?bucket=casc')).snapshots;
      expect(snaps.map((s: any) => [s.table, s.reason, s.row_count]).sort()).toEqual([
        ['x', 'drop_table', 3],
        ['y', 'drop_table', 1],
      ]);
      expect(existsSync(join(t.dataDir, 'duckdb', 'project_p', 'casc'))).toBe(false);
      await setAuto({ drop_table: false });
      try {
        await bucket(t, 'p', 'casc2');
        await table(t, 'p', 'casc2', 'x');
        expect((await t.call('DELETE', B('p', 'casc2'))).status).toBe(204);
        expect((await snapshotsOf(t, 'p', '?bucket=casc2')).total).toBe(0);
      } finally {
        await setAuto({ drop_table: true });
      }
    });

    it('truncate: on by default, the old file is the snapshot and a fresh file keeps columns, defaults and key; off: none', async () => {
      await table(t, 'p', 'aut', 'tr');
      const path = t.services.paths.tableFile('p', 'aut', 'tr');
      const schema = await fileSchema(t, path);
      const r = await t.callJson('POST', `${T('p', 'aut', 'tr')}/truncate`);
      expect(r.body).toEqual({ deleted_rows: 3, row_count: 0 });
      const [snap] = await autos('tr');
      expect(snap).toMatchObject({ reason: 'truncate', row_count: 3 });
      expect(await fileSchema(t, path)).toEqual(schema);
      expect((await t.callJson('GET', T('p', 'aut', 'tr'))).body.row_count).toBe(0);
      await load(t, 'p', 'aut', 'tr', 'id\n5\n', true);
      expect((await rowsOf(t, 'p', 'aut', 'tr')).map((row: any) => [row.id, row.name])).toEqual([[5, 'nobody']]);

      await setAuto({ truncate: false });
      try {
        const again = await t.callJson('POST', `${T('p', 'aut', 'tr')}/truncate`);
        expect(again.body).toEqual({ deleted_rows: 1, row_count: 0 });
        expect(await autos('tr')).toHaveLength(1);
      } finally {
        await setAuto({ truncate: true });
      }
    });

    it('full import: off by default; on: a snapshot of the rows it replaces, none for incremental loads, removed when the import fails', async () => {
      await table(t, 'p', 'aut', 'imp');
      await load(t, 'p', 'aut', 'imp', 'id,name\n8,h\n');
      expect(await autos('imp')).toEqual([]);
      await setAuto({ full_import: true });
      try {
        await load(t, 'p', 'aut', 'imp', 'id,name\n9,i\n10,j\n');
        const [snap] = await autos('imp');
        expect(snap).toMatchObject({ reason: 'full_import', row_count: 1 });
        await load(t, 'p', 'aut', 'imp', 'id,name\n11,k\n', true);
        expect(await autos('imp')).toHaveLength(1);
        const files = await readdir(join(t.dataDir, 'snapshots', 'project_p'));
        const bad = await t.callJson('POST', `${T('p', 'aut', 'imp')}/import`, { raw: 'id,name\nnotanumber,x\n', headers: { 'content-type': 'text/csv' } });
        expect(bad.status).toBe(400);
        expect(await autos('imp')).toHaveLength(1);
        expect(await readdir(join(t.dataDir, 'snapshots', 'project_p'))).toEqual(files);
        expect((await t.callJson('GET', T('p', 'aut', 'imp'))).body.row_count).toBe(3);
        const restored = await t.callJson('POST', `${P('p')}/snapshots/${snap.id}/restore`, { body: { table: 'imp_before' } });
        expect((await rowsOf(t, 'p', 'aut', 'imp_before')).map((row: any) => row.id)).toEqual([8]);
        expect(restored.status).toBe(200);
      } finally {
        await setAuto({ full_import: false });
      }
    });

    it('drop column: on by default, a copy of the table before the drop; a refused drop leaves none; off: none', async () => {
      await table(t, 'p', 'aut', 'dcol');
      const C = `${T('p', 'aut', 'dcol')}/columns`;
      expect((await t.callJson('DELETE', `${C}/id`)).body.detail.error).toBe('column_in_primary_key');
      expect(await autos('dcol')).toEqual([]);
      expect((await t.callJson('DELETE', `${C}/amount`)).status).toBe(200);
      const [snap] = await autos('dcol');
      expect(snap).toMatchObject({ reason: 'drop_column', row_count: 3 });
      expect(snap.columns.map((c: any) => c.name)).toEqual(['id', 'name', 'amount', 'seen_at']);
      await setAuto({ drop_column: false });
      try {
        expect((await t.callJson('DELETE', `${C}/seen_at`)).status).toBe(200);
        expect(await autos('dcol')).toHaveLength(1);
      } finally {
        await setAuto({ drop_column: true });
      }
    });

    it('drop column: takeAutoSnapshot follows the setting and can be discarded', async () => {
      await table(t, 'p', 'aut', 'dc');
      const record = t.services.catalog.getTable('p', 'aut', 'dc')!;
      const path = t.services.paths.tableFile('p', 'aut', 'dc');
      const taken = await t.services.registry.withWriteLock(path, () => takeAutoSnapshot(t.services, record, 'drop_column'));
      expect(taken).not.toBeNull();
      expect((await autos('dc')).map((s: any) => [s.id, s.reason])).toEqual([[taken!.id, 'drop_column']]);
      await taken!.discard();
      expect(await autos('dc')).toEqual([]);
      expect(existsSync(join(t.dataDir, 'snapshots', 'project_p', `${taken!.id}.duckdb`))).toBe(false);
      await setAuto({ drop_column: false });
      try {
        expect(await t.services.registry.withWriteLock(path, () => takeAutoSnapshot(t.services, record, 'drop_column'))).toBeNull();
      } finally {
        await setAuto({ drop_column: true });
      }
    });
  });

  describe('settings', () => {
    it('defaults, partial updates, validation', async () => {
      await t.createProject('st');
      const defaults = { auto: { drop_table: true, truncate: true, drop_column: true, full_import: false }, manual_retention_days: 90, auto_retention_days: 7 };
      expect((await t.callJson('GET', `${P('st')}/settings/snapshots`)).body).toEqual(defaults);
      const put = await t.callJson('PUT', `${P('st')}/settings/snapshots`, { body: { auto: { full_import: true }, auto_retention_days: 3 } });
      expect(put.status).toBe(200);
      const changed = { ...defaults, auto: { ...defaults.auto, full_import: true }, auto_retention_days: 3 };
      expect(put.body).toEqual(changed);
      expect((await t.callJson('GET', `${P('st')}/settings/snapshots`)).body).toEqual(changed);
      // Kept apart from the project's own settings field.
      expect((await t.callJson('GET', P('st'))).body.settings).toBeNull();
      for (const body of [{ manual_retention_days: 0 }, { auto_retention_days: 3651 }, { auto: { truncate: 'yes' } }, { auto: { other: true } }, { unknown: 1 }, { manual_retention_days: null }]) {
        const r = await t.callJson('PUT', `${P('st')}/settings/snapshots`, { body });
        expect(r.status, JSON.stringify(body)).toBe(422);
      }
      expect((await t.callJson('GET', `${P('st')}/settings/snapshots`)).body).toEqual(changed);
      expect((await t.callJson('GET', `${P('ghost')}/settings/snapshots`)).body.detail.error).toBe('project_not_found');
    });
  });

  describe('retention', () => {
    it('expires_at from retention_days, the project setting, or never; the sweeper deletes what is due', async () => {
      await t.createProject('ret');
      await bucket(t, 'ret', 'b');
      await table(t, 'ret', 'b', 't');
      expect((await t.callJson('PUT', `${P('ret')}/settings/snapshots`, { body: { manual_retention_days: 2, auto_retention_days: 1 } })).status).toBe(200);
      const take = async (body: unknown) => (await t.callJson('POST', `${T('ret', 'b', 't')}/snapshots`, { body })).body;
      const start = clock.now().getTime();
      const bySetting = await take({});
      const threeDays = await take({ retention_days: 3 });
      const forever = await take({ retention_days: null });
      expect(bySetting.expires_at).toBe(new Date(start + 2 * DAY).toISOString());
      expect(threeDays.expires_at).toBe(new Date(start + 3 * DAY).toISOString());
      expect(forever.expires_at).toBeNull();
      await table(t, 'ret', 'b', 'dropped');
      expect((await t.call('DELETE', T('ret', 'b', 'dropped'))).status).toBe(204);
      const [auto] = (await snapshotsOf(t, 'ret', '?kind=auto')).snapshots;
      expect(auto.expires_at).toBe(new Date(start + DAY).toISOString());

      const ids = async () => (await snapshotsOf(t, 'ret')).snapshots.map((s: any) => s.id).sort();
      clock.advance(DAY - 1);
      await t.services.sweeper.runNow();
      expect(await ids()).toEqual([bySetting.id, threeDays.id, forever.id, auto.id].sort());
      clock.advance(1);
      await t.services.sweeper.runNow();
      expect(await ids()).toEqual([bySetting.id, threeDays.id, forever.id].sort());
      expect(existsSync(join(t.dataDir, 'snapshots', 'project_ret', `${auto.id}.duckdb`))).toBe(false);
      clock.advance(DAY);
      await t.services.sweeper.runNow();
      expect(await ids()).toEqual([threeDays.id, forever.id].sort());
      clock.advance(-2 * DAY);
    });

    it('project deletion deletes its snapshots', async () => {
      await t.createProject('del');
      await bucket(t, 'del', 'b');
      await table(t, 'del', 'b', 't');
      const snap = (await t.callJson('POST', `${T('del', 'b', 't')}/snapshots`)).body;
      expect((await t.call('DELETE', P('del'))).status).toBe(204);
      expect(existsSync(join(t.dataDir, 'snapshots', 'project_del'))).toBe(false);
      expect(t.services.snapshots.get(snap.id)).toBeUndefined();
    });
  });

  describe('readers during a snapshot', () => {
    it('keep reading while the snapshot holds the write lock and copies', async () => {
      await bucket(t, 'p', 'big');
      await table(t, 'p', 'big', 'wide', '');
      const lines = ['id,name,amount'];
      for (let i = 0; i < 200_000; i++) lines.push(`${i},name ${i},${i % 1000}.25`);
      await load(t, 'p', 'big', 'wide', `${lines.join('\n')}\n`);
      const record = t.services.catalog.getTable('p', 'big', 'wide')!;
      let readsDuringCopy = 0;
      const snapshot = await createSnapshot(t.services, record, {
        description: null,
        hooks: {
          // The table's write lock is held and the file checkpointed: reads must still be served.
          beforeCopy: async () => {
            for (let i = 0; i < 3; i++) {
              const r = await t.callJson('GET', `${T('p', 'big', 'wide')}/preview?limit=5`);
              expect(r.status).toBe(200);
              expect(r.body.total_row_count).toBe(200_000);
              readsDuringCopy++;
            }
          },
        },
      });
      expect(readsDuringCopy).toBe(3);
      expect(snapshot.rowCount).toBe(200_000);

      // And without hooks: reads issued alongside a snapshot all succeed.
      const reads = Array.from({ length: 8 }, () => t.callJson('GET', `${T('p', 'big', 'wide')}/preview?limit=1`));
      const [snap, ...answers] = await Promise.all([t.callJson('POST', `${T('p', 'big', 'wide')}/snapshots`), ...reads]);
      expect(snap.status).toBe(201);
      for (const answer of answers) expect(answer.body.total_row_count).toBe(200_000);
    });
  });
});

describe('§13 start-up repair', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-snap-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('removes half-written and unrecorded snapshot files, drops records without files, settles pending operations', async () => {
    let t = await makeApp({ root });
    await t.createProject('r');
    await bucket(t, 'r', 'b');
    await table(t, 'r', 'b', 'kept');
    await table(t, 'r', 'b', 'dropping');
    await table(t, 'r', 'b', 'truncating');
    const kept = (await t.callJson('POST', `${T('r', 'b', 'kept')}/snapshots`)).body;
    const lost = (await t.callJson('POST', `${T('r', 'b', 'kept')}/snapshots`)).body;
    const { paths, snapshots, catalog } = t.services;
    const dir = paths.snapshotsProjectDir('r');
    // A drop and a truncate cut short after the file moved (pending record, file in the snapshot place).
    const pendingDrop = describeSnapshot(t.services, catalog.getTable('r', 'b', 'dropping')!, { kind: 'auto', reason: 'drop_table', sizeBytes: 1, state: 'pending' });
    const pendingTruncate = describeSnapshot(t.services, catalog.getTable('r', 'b', 'truncating')!, { kind: 'auto', reason: 'truncate', sizeBytes: 1, state: 'pending' });
    await snapshots.insert([pendingDrop, pendingTruncate]);
    await t.close();

    await rename(paths.tableFile('r', 'b', 'dropping'), paths.snapshotFile('r', pendingDrop.id));
    await rename(paths.tableFile('r', 'b', 'truncating'), paths.snapshotFile('r', pendingTruncate.id));
    await rm(paths.snapshotFile('r', lost.id));
    await writeFile(join(dir, `s_0123456789ab.duckdb.creating-${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`), 'half');
    await writeFile(join(dir, 's_00000000abcd.duckdb'), 'orphan');
    await writeFile(join(dir, '.restore-r_000000000000.duckdb'), 'staged');
    await mkdir(join(paths.snapshotsDir, 'project_nobody'));
    await writeFile(join(paths.snapshotsDir, 'project_nobody', 's_0123456789ab.duckdb'), 'x');

    t = await makeApp({ root });
    try {
      expect((await readdir(dir)).sort()).toEqual([`${kept.id}.duckdb`]);
      expect(existsSync(join(t.services.paths.snapshotsDir, 'project_nobody'))).toBe(false);
      expect(t.services.snapshots.get(lost.id)).toBeUndefined();
      expect(t.services.snapshots.get(pendingDrop.id)).toBeUndefined();
      expect(t.services.snapshots.get(pendingTruncate.id)).toBeUndefined();
      // Both operations were undone: the tables are back with their rows.
      expect((await rowsOf(t, 'r', 'b', 'dropping')).map((row: any) => row.id)).toEqual([1, 2, 3]);
      expect((await rowsOf(t, 'r', 'b', 'truncating')).map((row: any) => row.id)).toEqual([1, 2, 3]);
      expect((await snapshotsOf(t, 'r')).snapshots.map((s: any) => s.id)).toEqual([kept.id]);
      expect((await t.callJson('POST', `${P('r')}/snapshots/${kept.id}/restore`, { body: { table: 'kept2' } })).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('an overwrite committed with its outcome is finished when its files moved and written back when they did not; a short snapshot file is dropped', async () => {
    const base = await mkdtemp(join(tmpdir(), 'dsa-snap-outcome-'));
    try {
      let t = await makeApp({ root: base });
      await t.createProject('o');
      await bucket(t, 'o', 'b');
      await table(t, 'o', 'b', 'done');
      await table(t, 'o', 'b', 'undone');
      const snapDone = (await t.callJson('POST', `${T('o', 'b', 'done')}/snapshots`)).body;
      const snapUndone = (await t.callJson('POST', `${T('o', 'b', 'undone')}/snapshots`)).body;
      const short = (await t.callJson('POST', `${T('o', 'b', 'done')}/snapshots`)).body;
      // After their snapshots the tables gain a row and "undone" a column and table metadata.
      await load(t, 'o', 'b', 'done', 'id,name\n42,x\n', true);
      await load(t, 'o', 'b', 'undone', 'id,name\n43,y\n', true);
      expect((await t.callJson('POST', `${T('o', 'b', 'undone')}/columns`, { body: { name: 'extra', type: 'INTEGER', default: 7 } })).status).toBe(201);
      expect((await t.callJson('POST', `${T('o', 'b', 'undone')}/metadata`, { body: { metadata: [{ key: 'KBC.note', value: 'after' }] } })).status).toBe(200);
      const { paths, snapshots, catalog, metadata } = t.services;
      const begin = async (name: string, snapshotId: string) => {
        const current = catalog.getTable('o', 'b', name)!;
        const auto = describeSnapshot(t.services, current, { kind: 'auto', reason: 'restore', sizeBytes: statSync(paths.tableFile('o', 'b', name)).size, state: 'ready' });
        const snap = snapshots.get(snapshotId)!;
        const record = { ...current, columns: snap.columns, primaryKey: snap.primaryKey, rowCount: snap.rowCount };
        const intent = {
          id: SnapshotCatalog.newRestoreId(),
          projectId: 'o',
          snapshotId,
          bucket: 'b',
          table: name,
          autoSnapshotId: auto.id,
          createdBucket: false,
          record,
          metadata: snap.metadata,
          createdAt: new Date().toISOString(),
          replaced: { record: current, metadata: metadata.tableBundle('o', 'default', 'b', name) },
        };
        // What restoreLocked commits before it moves a file: intent, finished auto snapshot, outcome.
        await snapshots.beginRestoreWithOutcome(intent, auto, [catalog.tableRowChange(record), metadata.replaceTableBundleChange('o', 'default', 'b', name, snap.metadata!)]);
        return { intent, auto };
      };
      const done = await begin('done', snapDone.id);
      const undone = await begin('undone', snapUndone.id);
      await t.close();
      // "done": every file is in place, only the intent was left (its removal is off the answer's path).
      await rename(paths.tableFile('o', 'b', 'done'), paths.snapshotFile('o', done.auto.id));
      await copyFile(paths.snapshotFile('o', snapDone.id), paths.tableFile('o', 'b', 'done'));
      // "undone": only the staged copy was written.
      await copyFile(paths.snapshotFile('o', snapUndone.id), paths.restoreStagingFile('o', undone.intent.id));
      // A snapshot file cut short (a power loss before its bytes reached the disk).
      await truncate(paths.snapshotFile('o', short.id), 4096);

      t = await makeApp({ root: base });
      try {
        expect(t.services.snapshots.intents()).toEqual([]);
        expect((await rowsOf(t, 'o', 'b', 'done')).map((r: any) => r.id)).toEqual([1, 2, 3]);
        expect((await t.callJson('GET', T('o', 'b', 'done'))).body.row_count).toBe(3);
        expect((await t.callJson('GET', `${P('o')}/snapshots/${done.auto.id}`)).body).toMatchObject({ reason: 'restore', row_count: 4 });
        // "undone" is the table as it was before the restore began: row, column, metadata.
        const after = (await t.callJson('GET', T('o', 'b', 'undone'))).body;
        expect(after.row_count).toBe(4);
        expect(after.columns.map((c: any) => c.name)).toEqual(['id', 'name', 'amount', 'seen_at', 'extra']);
        expect(after.metadata.map((e: any) => [e.key, e.value])).toEqual([['KBC.note', 'after']]);
        expect((await rowsOf(t, 'o', 'b', 'undone')).map((r: any) => [r.id, r.extra])).toEqual([[1, 7], [2, 7], [3, 7], [43, 7]]);
        expect(t.services.snapshots.get(undone.auto.id)).toBeUndefined();
        expect(t.services.snapshots.get(short.id)).toBeUndefined();
        expect((await readdir(t.services.paths.snapshotsProjectDir('o'))).sort()).toEqual([snapDone.id, snapUndone.id, done.auto.id].map((id) => `${id}.duckdb`).sort());
      } finally {
        await t.close();
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it('finishes a restore cut short after the old file moved out, and undoes one cut short before', async () => {
    const base = await mkdtemp(join(tmpdir(), 'dsa-snap-intent-'));
    try {
      let t = await makeApp({ root: base });
      await t.createProject('q');
      await bucket(t, 'q', 'b');
      await table(t, 'q', 'b', 'moved');
      await table(t, 'q', 'b', 'untouched');
      const snapMoved = (await t.callJson('POST', `${T('q', 'b', 'moved')}/snapshots`)).body;
      const snapUntouched = (await t.callJson('POST', `${T('q', 'b', 'untouched')}/snapshots`)).body;
      // The tables change after their snapshots: 1 row each.
      await load(t, 'q', 'b', 'moved', 'id,name\n42,x\n');
      await load(t, 'q', 'b', 'untouched', 'id,name\n43,y\n');
      const { paths, snapshots, catalog } = t.services;
      const intentFor = (name: string, snapshotId: string) => {
        const current = catalog.getTable('q', 'b', name)!;
        const auto = describeSnapshot(t.services, current, { kind: 'auto', reason: 'restore', sizeBytes: 1, state: 'pending' });
        const record = snapshots.get(snapshotId)!;
        const intent = {
          id: SnapshotCatalog.newRestoreId(),
          projectId: 'q',
          snapshotId,
          bucket: 'b',
          table: name,
          autoSnapshotId: auto.id,
          createdBucket: false,
          record: { ...current, columns: record.columns, primaryKey: record.primaryKey, rowCount: record.rowCount },
          metadata: record.metadata,
          createdAt: new Date().toISOString(),
        };
        return { intent, auto };
      };
      const moved = intentFor('moved', snapMoved.id);
      const untouched = intentFor('untouched', snapUntouched.id);
      await snapshots.beginRestore(moved.intent, moved.auto);
      await snapshots.beginRestore(untouched.intent, untouched.auto);
      await t.close();
      // "moved": the staged copy is written and the old file has moved to the auto snapshot's place.
      await copyFile(paths.snapshotFile('q', snapMoved.id), paths.restoreStagingFile('q', moved.intent.id));
      await rename(paths.tableFile('q', 'b', 'moved'), paths.snapshotFile('q', moved.auto.id));
      // "untouched": only the staged copy exists.
      await copyFile(paths.snapshotFile('q', snapUntouched.id), paths.restoreStagingFile('q', untouched.intent.id));

      t = await makeApp({ root: base });
      try {
        expect(t.services.snapshots.intents()).toEqual([]);
        expect((await rowsOf(t, 'q', 'b', 'moved')).map((r: any) => r.id)).toEqual([1, 2, 3]);
        expect((await t.callJson('GET', `${P('q')}/snapshots/${moved.auto.id}`)).body).toMatchObject({ reason: 'restore', row_count: 1 });
        expect((await rowsOf(t, 'q', 'b', 'untouched')).map((r: any) => r.id)).toEqual([43]);
        expect(t.services.snapshots.get(untouched.auto.id)).toBeUndefined();
        expect((await readdir(t.services.paths.snapshotsProjectDir('q'))).sort()).toEqual([snapMoved.id, snapUntouched.id, moved.auto.id].map((id) => `${id}.duckdb`).sort());
      } finally {
        await t.close();
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe('§13 the clone primitive', () => {
  it('a snapshot, an overwrite restore and the first write in a branch copy on the copy thread, with plain writes: their catalog commit runs beside the copy', async () => {
    const app = await makeApp({});
    try {
      await app.createProject('cp');
      await bucket(app, 'cp', 'b');
      await table(app, 'cp', 'b', 't');
      const worker = app.services.byteWorker;
      const copied: string[] = [];
      const original = worker.copyFile.bind(worker);
      worker.copyFile = (source: string, target: string) => {
        copied.push(target);
        return original(source, target);
      };
      const snap = await app.callJson('POST', `${T('cp', 'b', 't')}/snapshots`, { body: {} });
      expect(snap.status, JSON.stringify(snap.body)).toBe(201);
      const restored = await app.callJson('POST', `${P('cp')}/snapshots/${snap.body.id}/restore`, { body: { overwrite: true } });
      expect(restored.status, JSON.stringify(restored.body)).toBe(200);
      const branch = await app.callJson('POST', `${P('cp')}/branches`, { body: { name: 'dev' } });
      const write = await app.callJson('POST', `${P('cp')}/branches/${branch.body.id}/buckets/b/tables/t/delete-rows`, { body: { filters: [{ column: 'id', operator: 'eq', values: [1] }] } });
      expect(write.status, JSON.stringify(write.body)).toBe(200);
      const under = (dir: string) => copied.filter((target) => target.startsWith(dir)).length;
      // The snapshot, and the restore's staged copy beside the snapshots.
      expect(under(app.services.paths.snapshotsProjectDir('cp'))).toBe(2);
      expect(under(join(app.services.paths.duckdbDir, 'branches'))).toBe(1);
      expect(copied.length).toBe(3);
      expect((await rowsOf(app, 'cp', 'b', 't')).map((r: any) => r.id)).toEqual([1, 2, 3]);
    } finally {
      await app.close();
    }
  });

  it('a buffered clone copies byte for byte at every size around its copy chunks (reads and writes, where the file system cannot clone)', async () => {
    const { cloneFile } = await import('../src/storage/clone.ts');
    const { randomBytes } = await import('node:crypto');
    const { readFile } = await import('node:fs/promises');
    const app = await makeApp({});
    const dir = await mkdtemp(join(tmpdir(), 'dsa-clone-'));
    try {
      // The copy thread reads and writes 256 KiB at a time.
      const sizes = [0, 1, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 1024 * 1024 + 1, 3 * 1024 * 1024 + 12345];
      const sources = new Map<number, Buffer>();
      for (const size of sizes) {
        const bytes = randomBytes(size);
        await writeFile(join(dir, `source-${size}.duckdb`), bytes);
        sources.set(size, bytes);
      }
      // On the copy thread (the service's deps), without one (deps as at start-up: the
      // ordinary copy), and several at once (the copy thread takes one, the others copy
      // the ordinary way).
      const own = { db: app.services.db, registry: app.services.registry };
      for (const [how, deps] of [['helper', app.services], ['own', own]] as const) {
        for (const size of sizes) {
          for (const durability of ['sync', 'background'] as const) {
            const target = join(dir, 'copies', `copy-${size}-${durability}-${how}.duckdb`);
            expect(await cloneFile(deps, join(dir, `source-${size}.duckdb`), target, { live: false, durability, buffered: true })).toBe(size);
            expect((await readFile(target)).equals(sources.get(size)!), `${size} bytes, ${durability}, ${how}`).toBe(true);
          }
        }
      }
      const together = await Promise.all(sizes.map((size) => cloneFile(app.services, join(dir, `source-${size}.duckdb`), join(dir, 'copies', `copy-${size}-together.duckdb`), { live: false, buffered: true })));
      expect(together).toEqual(sizes);
      for (const size of sizes) expect((await readFile(join(dir, 'copies', `copy-${size}-together.duckdb`))).equals(sources.get(size)!)).toBe(true);
      // A copy that fails (the source is gone) leaves no partial file behind, and says why.
      for (const deps of [app.services, own]) {
        for (const buffered of [true, false]) {
          await expect(cloneFile(deps, join(dir, 'missing.duckdb'), join(dir, 'copies', 'none.duckdb'), { live: false, buffered })).rejects.toMatchObject({ code: 'ENOENT' });
        }
      }
      expect((await readdir(join(dir, 'copies'))).filter((name) => !name.startsWith('copy-'))).toEqual([]);
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
