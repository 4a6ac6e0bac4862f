import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, walk, type TestApp } from './helpers.ts';

const P = '/projects/p1';
const B = `${P}/buckets/in_c_sales`;

interface LogLine {
  event?: string;
  repair?: string;
  bucket?: string;
  table?: string;
  project_id?: string;
  [key: string]: unknown;
}

/** The log lines of repairs made at start (event `reconcile` naming a `repair`). */
function reconcileLines(t: TestApp): LogLine[] {
  return t.logLines.map((line) => JSON.parse(line) as LogLine).filter((line) => line.event === 'reconcile' && line.repair !== undefined);
}

/** Runs SQL on a table file with a DuckDB instance of its own (the service must be stopped). */
async function onFile(path: string, sql: string): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    await connection.run(sql);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Leaves a real, non-empty WAL of some other database at `walPath`. */
async function strayWal(walPath: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dsa-wal-'));
  try {
    const instance = await DuckDBInstance.create(join(dir, 'other.duckdb'));
    const connection = await instance.connect();
    await connection.run('CREATE TABLE data (n INTEGER)');
    await connection.run('CHECKPOINT');
    await connection.run('PRAGMA disable_checkpoint_on_shutdown');
    await connection.run("SET wal_autocheckpoint = '1GB'");
    await connection.run('INSERT INTO data VALUES (1), (2), (3)');
    connection.closeSync();
    instance.closeSync();
    await rename(join(dir, 'other.duckdb.wal'), walPath);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('startup reconciliation', () => {
  let root: string;
  let t: TestApp;
  let tableFile: (bucket: string, table: string) => string;
  let ordersColumns: unknown;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-reconcile-'));
    // First life: the state the damage below is done to.
    const first = await makeApp({ root });
    tableFile = (bucket, table) => first.services.paths.tableFile('p1', bucket, table);
    await first.createProject('p1');
    await first.createProject('p2');
    for (const name of ['in_c_sales', 'in_c_gone']) {
      expect((await first.callJson('POST', `${P}/buckets`, { body: { name } })).status).toBe(201);
    }
    expect((await first.callJson('POST', '/projects/p2/buckets', { body: { name: 'b' } })).status).toBe(201);
    const orders = await first.callJson('POST', `${B}/tables`, {
      body: {
        name: 'orders',
        columns: [
          { name: 'id', type: 'INTEGER' },
          { name: 'region', type: 'VARCHAR', nullable: false, default: 'eu' },
          { name: 'amount', type: 'DECIMAL(10,2)' },
          { name: 'placed_at', type: 'TIMESTAMP' },
        ],
        primary_key: ['id'],
      },
    });
    expect(orders.status).toBe(201);
    ordersColumns = orders.body.columns;
    for (const name of ['doomed', 'counted']) {
      const created = await first.callJson('POST', `${B}/tables`, { body: { name, columns: [{ name: 'n', type: 'BIGINT' }] } });
      expect(created.status).toBe(201);
    }
    // Rows written through the registry, the catalog told, as an import would.
    const { registry, db, catalog } = first.services;
    const path = tableFile('in_c_sales', 'orders');
    const alias = await registry.acquire(path);
    try {
      await db.with((c) =>
        c.run(`INSERT INTO ${alias}.main.data (id, amount, placed_at) SELECT i, i * 1.5, TIMESTAMP '2026-01-01' FROM range(1, 38) t(i)`),
      );
    } finally {
      registry.release(path);
    }
    await catalog.setRowCount(catalog.getTable('p1', 'in_c_sales', 'orders')!, 37);
    expect((await first.callJson('DELETE', '/projects/p2')).status).toBe(204);
    await first.close();

    // Damage done while the service is down.
    await copyFile(tableFile('in_c_sales', 'orders'), tableFile('in_c_sales', 'orders_copy'));
    await rm(tableFile('in_c_sales', 'doomed'));
    await writeFile(`${tableFile('in_c_sales', 'half')}.creating-6f1c2a0e-4b7d-4c1e-9a55-0d4f3e2b1a90`, 'partial');
    await mkdir(join(first.services.paths.projectDir('p1'), '.trash-0b9e7c4d-1111-4222-8333-944455566677', 'old'), { recursive: true });
    await writeFile(join(first.services.paths.duckdbDir, '.trash-2c3d4e5f-aaaa-4bbb-8ccc-ddddeeeeffff'), 'x');
    await mkdir(first.services.paths.bucketDir('p1', 'in_c_found'));
    await copyFile(tableFile('in_c_sales', 'orders'), tableFile('in_c_found', 'events'));
    await rm(first.services.paths.bucketDir('p1', 'in_c_gone'), { recursive: true });
    // A project deleted in the catalog whose folder removal never happened.
    await mkdir(join(first.services.paths.projectDir('p2'), 'b'), { recursive: true });
    await writeFile(join(first.services.paths.projectDir('p2'), 'b', 't.duckdb'), 'x');
    // A row count that changed in the file after the catalog last heard of it, then an
    // unclean stop (the running marker is left behind).
    await onFile(tableFile('in_c_sales', 'counted'), 'INSERT INTO main.data SELECT range FROM range(5)');
    await writeFile(join(first.dataDir, '.running'), '12345\n');

    t = await makeApp({ root });
  });

  afterAll(async () => {
    await t?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('adopts a table file without a catalog row, with its columns, key and row count', async () => {
    const got = await t.callJson('GET', `${B}/tables/orders_copy`);
    expect(got.status).toBe(200);
    expect(got.body.columns).toEqual(ordersColumns);
    expect(got.body.primary_key).toEqual(['id']);
    expect(got.body.row_count).toBe(37);
    const preview = await t.callJson('GET', `${B}/tables/orders_copy/preview?limit=2`);
    expect(preview.status).toBe(200);
    expect(preview.body.total_row_count).toBe(37);
    expect(preview.body.rows[0]).toMatchObject({ id: 1, region: 'eu', amount: '1.50' });
    const listed = await t.callJson('GET', `${B}/tables`);
    expect(listed.body.tables.map((table: { name: string }) => table.name)).toEqual(['counted', 'orders', 'orders_copy']);
    expect(reconcileLines(t)).toContainEqual(expect.objectContaining({ repair: 'adopted_table', bucket: 'in_c_sales', table: 'orders_copy' }));
  });

  it('drops a catalog row whose file is gone', async () => {
    const got = await t.callJson('GET', `${B}/tables/doomed`);
    expect(got.status).toBe(404);
    expect(got.body.detail.error).toBe('table_not_found');
    expect(existsSync(tableFile('in_c_sales', 'doomed'))).toBe(false);
    expect(reconcileLines(t)).toContainEqual(expect.objectContaining({ repair: 'dropped_table', table: 'doomed' }));
    // The name is free again.
    const again = await t.callJson('POST', `${B}/tables`, { body: { name: 'doomed', columns: [{ name: 'n', type: 'INTEGER' }] } });
    expect(again.status).toBe(201);
    expect((await t.callJson('DELETE', `${B}/tables/doomed`)).status).toBe(204);
  });

  it('removes leftovers of interrupted creates and deletes', async () => {
    const files = await walk(t.services.paths.duckdbDir);
    expect(files.filter((f) => f.includes('.creating-'))).toEqual([]);
    expect(files.filter((f) => f.includes('.trash-'))).toEqual([]);
    const repairs = reconcileLines(t).map((line) => line.repair);
    expect(repairs).toContain('removed_partial_create');
    expect(repairs.filter((r) => r === 'removed_trash')).toHaveLength(2);
  });

  it('adopts a bucket folder without a row, with the tables in it', async () => {
    const bucket = await t.callJson('GET', `${P}/buckets/in_c_found`);
    expect(bucket.status).toBe(200);
    expect(bucket.body).toMatchObject({ name: 'in_c_found', table_count: 1, is_linked: false });
    const table = await t.callJson('GET', `${P}/buckets/in_c_found/tables/events`);
    expect(table.status).toBe(200);
    expect(table.body).toMatchObject({ name: 'events', bucket: 'in_c_found', row_count: 37, primary_key: ['id'] });
    expect(reconcileLines(t)).toContainEqual(expect.objectContaining({ repair: 'adopted_bucket', bucket: 'in_c_found' }));
  });

  it('drops a bucket row whose folder vanished', async () => {
    const got = await t.callJson('GET', `${P}/buckets/in_c_gone`);
    expect(got.status).toBe(404);
    expect(got.body.detail.error).toBe('bucket_not_found');
    const names = (await t.callJson('GET', `${P}/buckets`)).body.buckets.map((b: { name: string }) => b.name);
    expect(names).toEqual(['in_c_found', 'in_c_sales']);
    expect(reconcileLines(t)).toContainEqual(expect.objectContaining({ repair: 'dropped_bucket', bucket: 'in_c_gone' }));
  });

  it('removes the folder a deleted project left behind', async () => {
    expect(existsSync(t.services.paths.projectDir('p2'))).toBe(false);
    expect((await t.callJson('GET', '/projects/p2')).body.status).toBe('deleted');
    expect(reconcileLines(t)).toContainEqual(expect.objectContaining({ repair: 'removed_deleted_project_folder', project_id: 'p2' }));
  });

  it('re-reads row counts after an unclean stop', async () => {
    const got = await t.callJson('GET', `${B}/tables/counted`);
    expect(got.status).toBe(200);
    expect(got.body.row_count).toBe(5);
    expect(reconcileLines(t)).toContainEqual(expect.objectContaining({ repair: 'row_count', table: 'counted', row_count: 5 }));
    // The marker is written again for this run.
    expect(existsSync(join(t.dataDir, '.running'))).toBe(true);
  });

  it('leaves a consistent catalog that a clean restart does not touch again', async () => {
    await t.close();
    t = await makeApp({ root });
    expect(reconcileLines(t)).toEqual([]);
    const listed = await t.callJson('GET', `${B}/tables`);
    expect(listed.body.tables.map((table: { name: string; row_count: number }) => [table.name, table.row_count])).toEqual([
      ['counted', 5],
      ['orders', 37],
      ['orders_copy', 37],
    ]);
  });
});

describe('row counts after a clean stop', () => {
  it('are taken from the catalog without re-reading the files', async () => {
    // The counterpart of the unclean case: proves the re-read above is what corrected it.
    const root = await mkdtemp(join(tmpdir(), 'dsa-reconcile-'));
    try {
      const first = await makeApp({ root });
      await first.createProject('p1');
      await first.callJson('POST', `${P}/buckets`, { body: { name: 'in_c_sales' } });
      await first.callJson('POST', `${B}/tables`, { body: { name: 'counted', columns: [{ name: 'n', type: 'BIGINT' }] } });
      const file = first.services.paths.tableFile('p1', 'in_c_sales', 'counted');
      await first.close();
      expect(existsSync(join(first.dataDir, '.running'))).toBe(false);
      await onFile(file, 'INSERT INTO main.data SELECT range FROM range(3)');
      const second = await makeApp({ root });
      try {
        expect((await second.callJson('GET', `${B}/tables/counted`)).body.row_count).toBe(0);
        expect(reconcileLines(second)).toEqual([]);
      } finally {
        await second.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('a WAL without its table file', () => {
  it('is removed at start and never replayed into a new table of that name', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dsa-reconcile-'));
    try {
      const first = await makeApp({ root });
      await first.createProject('p1');
      await first.callJson('POST', `${P}/buckets`, { body: { name: 'in_c_sales' } });
      const ghost = first.services.paths.tableFile('p1', 'in_c_sales', 'ghost');
      const spook = first.services.paths.tableFile('p1', 'in_c_sales', 'spook');
      await first.close();
      // Left behind by a delete cut short between its two file removals.
      await strayWal(`${ghost}.wal`);
      const second = await makeApp({ root });
      try {
        expect(existsSync(`${ghost}.wal`)).toBe(false);
        expect(reconcileLines(second)).toContainEqual(expect.objectContaining({ repair: 'removed_orphan_wal', bucket: 'in_c_sales' }));
        // The same leftover appearing while the service runs: a create of that name ignores it.
        await strayWal(`${spook}.wal`);
        for (const name of ['ghost', 'spook']) {
          const created = await second.callJson('POST', `${B}/tables`, { body: { name, columns: [{ name: 'a', type: 'VARCHAR' }, { name: 'b', type: 'DOUBLE' }] } });
          expect(created.status).toBe(201);
          const preview = await second.callJson('GET', `${B}/tables/${name}/preview`);
          expect(preview.status).toBe(200);
          expect(preview.body).toMatchObject({ rows: [], total_row_count: 0 });
        }
      } finally {
        await second.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('rows a deleted project must not have', () => {
  it('are dropped at start (left by a create that raced the delete), the project row kept as it was', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dsa-reconcile-deleted-'));
    try {
      const first = await makeApp({ root });
      await first.createProject('gone');
      await first.createProject('alive');
      expect((await first.callJson('POST', '/projects/alive/buckets', { body: { name: 'keep' } })).status).toBe(201);
      expect((await first.call('DELETE', '/projects/gone')).status).toBe(204);
      const deletedRow = { ...first.services.catalog.getProject('gone')! };
      // What a bucket and table create that slipped past the delete wrote afterwards.
      const { catalog } = first.services;
      await catalog.createBucket({ projectId: 'gone', name: 'late', description: null, createdAt: deletedRow.updatedAt, readonlyAccess: false, source: null });
      const table = { projectId: 'gone', bucket: 'late', name: 't', columns: [{ name: 'id', type: 'INTEGER', nullable: true }], primaryKey: [], rowCount: 0, createdAt: deletedRow.updatedAt };
      await catalog.putTableRow(table);
      // And a table row of an active project whose bucket row is gone.
      await catalog.putTableRow({ ...table, projectId: 'alive', bucket: 'nobucket' });
      await first.services.close();

      const second = await makeApp({ root });
      try {
        expect(second.services.catalog.listBuckets('gone')).toEqual([]);
        expect(second.services.catalog.allTables().filter((x) => ['gone', 'alive'].includes(x.projectId))).toEqual([]);
        expect(second.services.catalog.getProject('gone')).toEqual(deletedRow);
        expect(second.services.catalog.listBuckets('alive').map((b) => b.name)).toEqual(['keep']);
        expect(reconcileLines(second)).toContainEqual(expect.objectContaining({ repair: 'dropped_deleted_project_rows', project_id: 'gone' }));
        expect(reconcileLines(second)).toContainEqual(expect.objectContaining({ repair: 'dropped_table', project_id: 'alive', bucket: 'nobucket' }));
        expect(existsSync(second.services.paths.projectDir('gone'))).toBe(false);
      } finally {
        await second.close();
      }
      // Durable: a third start finds nothing to repair of these.
      const third = await makeApp({ root });
      try {
        expect(reconcileLines(third).filter((l) => ['gone', 'alive'].includes(l.project_id as string))).toEqual([]);
      } finally {
        await third.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
