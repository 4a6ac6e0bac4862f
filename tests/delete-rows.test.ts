import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeApp, type TestApp } from './helpers.ts';

const T = '/projects/p1/buckets/b1/tables';

/** (Re)creates table `name` through the API and fills it with ids 1..n straight through DuckDB. */
async function seed(t: TestApp, name: string, n: number) {
  if (t.services.catalog.getTable('p1', 'b1', name)) expect((await t.call('DELETE', `${T}/${name}`)).status).toBe(204);
  const columns = [
    { name: 'id', type: 'INTEGER' },
    { name: 'grp', type: 'VARCHAR' },
    { name: 'amount', type: 'DECIMAL(8,2)' },
  ];
  expect((await t.callJson('POST', T, { body: { name, columns, primary_key: ['id'] } })).status).toBe(201);
  const { registry, db, paths, catalog } = t.services;
  const path = paths.tableFile('p1', 'b1', name);
  const alias = await registry.acquire(path);
  try {
    await db.with((c) =>
      c.run(`INSERT INTO "${alias}".main.data SELECT range, CASE WHEN range % 2 = 0 THEN 'even' ELSE 'odd' END, range * 1.5 FROM range(1, $1 + 1)`, [n]),
    );
    await catalog.setRowCount(catalog.getTable('p1', 'b1', name)!, n);
  } finally {
    registry.release(path);
  }
}

/** Row count straight from the table file. */
async function fileRowCount(t: TestApp, name: string): Promise<number> {
  const { registry, db, paths } = t.services;
  const path = paths.tableFile('p1', 'b1', name);
  const alias = await registry.acquire(path);
  try {
    return await db.with(async (c) => Number((await c.runAndReadAll(`SELECT count(*) FROM "${alias}".main.data`)).getRows()[0]![0]));
  } finally {
    registry.release(path);
  }
}

describe('delete-rows and truncate', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    await t.createProject('p2');
    expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } })).status).toBe(201);
    // p2 sees p1's bucket b1 through a link.
    await t.services.catalog.createBucket({
      projectId: 'p2',
      name: 'linked',
      description: 'Linked from p1.b1',
      createdAt: new Date().toISOString(),
      readonlyAccess: false,
      source: { projectId: 'p1', bucket: 'b1' },
    });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await seed(t, 'rows', 10);
  });

  const deleteRows = (body: unknown, table = 'rows') => t.callJson('POST', `${T}/${table}/delete-rows`, { body });
  const tableRowCount = async (table = 'rows') => (await t.callJson('GET', `${T}/${table}`)).body.row_count;

  it('deletes the rows matching the filters and updates the catalog', async () => {
    const { status, body } = await deleteRows({ filters: [{ column: 'grp', operator: 'eq', values: ['even'] }] });
    expect(status).toBe(200);
    expect(body).toEqual({ deleted_rows: 5, row_count: 5 });
    expect(await tableRowCount()).toBe(5);
    expect(await fileRowCount(t, 'rows')).toBe(5);
    const left = await t.callJson('POST', `${T}/rows/preview`, { body: { columns: ['id'], order_by: [{ column: 'id' }] } });
    expect(left.body.rows.map((r: { id: number }) => r.id)).toEqual([1, 3, 5, 7, 9]);
  });

  it('combines filters with AND, matches columns without regard to case, and may delete nothing', async () => {
    let { body } = await deleteRows({
      filters: [
        { column: 'GRP', operator: 'eq', values: ['odd'] },
        { column: 'Amount', operator: 'gt', values: ['6'] },
        { column: 'id', operator: 'not_in', values: [9] },
      ],
    });
    expect(body).toEqual({ deleted_rows: 2, row_count: 8 }); // ids 5 and 7
    ({ body } = await deleteRows({ filters: [{ column: 'id', operator: 'gt', values: [100] }] }));
    expect(body).toEqual({ deleted_rows: 0, row_count: 8 });
    ({ body } = await deleteRows({ filters: [{ column: 'grp', operator: 'is_null' }] }));
    expect(body).toEqual({ deleted_rows: 0, row_count: 8 });
    expect(await tableRowCount()).toBe(8);
  });

  it('needs at least one valid filter and deletes nothing otherwise', async () => {
    const cases: [unknown, string][] = [
      [{}, 'filters'],
      [{ filters: [] }, 'filters'],
      [{ filters: [{ column: 'nope', operator: 'eq', values: [1] }] }, 'filters.0.column'],
      [{ filters: [{ column: 'id', operator: 'eq', values: ['one'] }] }, 'filters.0.values.0'],
      [{ filters: [{ column: 'id', operator: 'in', values: [] }] }, 'filters.0.values'],
      [{ filters: [{ column: 'amount', operator: 'lt', values: ['1.555'] }] }, 'filters.0.values.0'],
    ];
    for (const [body, path] of cases) {
      const { status, body: error } = await deleteRows(body);
      expect(status, JSON.stringify(body)).toBe(422);
      expect(error.detail.error).toBe('validation_error');
      expect(error.detail.details.issues[0].path).toBe(path);
    }
    const empty = await t.callJson('POST', `${T}/rows/delete-rows`);
    expect(empty.status).toBe(422);
    expect(await fileRowCount(t, 'rows')).toBe(10);
    expect(await tableRowCount()).toBe(10);
  });

  it('serialises concurrent deletes on one table', async () => {
    const results = await Promise.all([
      deleteRows({ filters: [{ column: 'id', operator: 'le', values: [4] }] }),
      deleteRows({ filters: [{ column: 'id', operator: 'le', values: [6] }] }),
      deleteRows({ filters: [{ column: 'grp', operator: 'eq', values: ['odd'] }] }),
    ]);
    const deleted = results.reduce((sum, r) => sum + r.body.deleted_rows, 0);
    expect(deleted).toBe(8); // 1..6, 7 and 9; each row counted once
    expect(Math.min(...results.map((r) => r.body.row_count))).toBe(2);
    expect(await tableRowCount()).toBe(2);
    expect(await fileRowCount(t, 'rows')).toBe(2);
  });

  it('truncate deletes every row and keeps the table', async () => {
    const { status, body } = await t.callJson('POST', `${T}/rows/truncate`);
    expect(status).toBe(200);
    expect(body).toEqual({ deleted_rows: 10, row_count: 0 });
    const table = await t.callJson('GET', `${T}/rows`);
    expect(table.body.row_count).toBe(0);
    expect(table.body.columns.map((c: { name: string }) => c.name)).toEqual(['id', 'grp', 'amount']);
    expect(table.body.primary_key).toEqual(['id']);
    expect(await fileRowCount(t, 'rows')).toBe(0);
    expect((await t.callJson('POST', `${T}/rows/truncate`)).body).toEqual({ deleted_rows: 0, row_count: 0 });
  });

  it('answers 404 for a missing table', async () => {
    expect((await deleteRows({ filters: [{ column: 'id', operator: 'eq', values: [1] }] }, 'missing')).body.detail.error).toBe('table_not_found');
    expect((await t.callJson('POST', `${T}/missing/truncate`)).body.detail.error).toBe('table_not_found');
  });

  it('refuses writes through a linked bucket with 403 bucket_readonly, while reads work', async () => {
    const L = '/projects/p2/buckets/linked/tables/rows';
    const del = await t.callJson('POST', `${L}/delete-rows`, { body: { filters: [{ column: 'id', operator: 'eq', values: [1] }] } });
    expect(del.status).toBe(403);
    expect(del.body.detail.error).toBe('bucket_readonly');
    const truncate = await t.callJson('POST', `${L}/truncate`);
    expect(truncate.status).toBe(403);
    expect(truncate.body.detail.error).toBe('bucket_readonly');
    expect(await fileRowCount(t, 'rows')).toBe(10);

    const preview = await t.callJson('POST', `${L}/preview`, { body: { filters: [{ column: 'id', operator: 'le', values: [2] }] } });
    expect(preview.status).toBe(200);
    expect(preview.body.total_row_count).toBe(2);
    const exported = await t.call('GET', `${L}/export?format=ndjson&columns=id&limit=2`);
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-disposition')).toBe('attachment; filename="rows.ndjson"');
    expect(await exported.text()).toBe('{"id":1}\n{"id":2}\n');
  });
});
