import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, type TestApp } from './helpers.ts';

const BASE = '/projects/p1/buckets/b1/tables/items';

/** Creates a table through the API and fills it straight through DuckDB (SQL VALUES text). */
async function seed(t: TestApp, bucket: string, table: string, columns: unknown[], values: string, primaryKey: string[] = []) {
  const created = await t.callJson('POST', `/projects/p1/buckets/${bucket}/tables`, { body: { name: table, columns, primary_key: primaryKey } });
  expect(created.status).toBe(201);
  const { registry, db, paths, catalog } = t.services;
  const path = paths.tableFile('p1', bucket, table);
  const alias = await registry.acquire(path);
  try {
    await db.with((c) => c.run(`INSERT INTO "${alias}".main.data VALUES ${values}`));
    const n = await db.with(async (c) => Number((await c.runAndReadAll(`SELECT count(*) FROM "${alias}".main.data`)).getRows()[0]![0]));
    await catalog.setRowCount(catalog.getTable('p1', bucket, table)!, n);
  } finally {
    registry.release(path);
  }
}

describe('POST …/preview with columns, filters and order_by', () => {
  let t: TestApp;
  const preview = (body: unknown) => t.callJson('POST', `${BASE}/preview`, { body });
  const ids = (rows: { id: number }[]) => rows.map((r) => r.id);

  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } })).status).toBe(201);
    await seed(
      t,
      'b1',
      'items',
      [
        { name: 'id', type: 'INTEGER' },
        { name: 'Name', type: 'VARCHAR' },
        { name: 'price', type: 'DECIMAL(10,2)' },
        { name: 'ts', type: 'TIMESTAMP' },
        { name: 'flag', type: 'BOOLEAN' },
        { name: 'score', type: 'DOUBLE' },
        { name: 'big', type: 'BIGINT' },
      ],
      `(1, 'alpha', 1.50, '2024-01-01 10:00:00', true, 0.5, 9007199254740993),
       (2, 'beta', 2.00, '2024-01-02 00:00:00', false, NULL, 1),
       (3, '', NULL, NULL, NULL, 'NaN', NULL),
       (4, NULL, 10.25, '2024-03-01 12:30:00.5', true, 3.25, -5),
       (5, 'a,b "q"', 7.00, '2024-02-01 00:00:00', false, -1, 42)`,
      ['id'],
    );
  });
  afterAll(() => t.close());

  it('without a body returns every row in the preview shape with the §7 mapping', async () => {
    const { status, body } = await t.callJson('POST', `${BASE}/preview`);
    expect(status).toBe(200);
    expect(body.total_row_count).toBe(5);
    expect(body.preview_row_count).toBe(5);
    expect(body.columns.map((c: { name: string }) => c.name)).toEqual(['id', 'Name', 'price', 'ts', 'flag', 'score', 'big']);
    expect(body.columns[2]).toEqual({ name: 'price', type: 'DECIMAL(10,2)', nullable: true, ordinal_position: 3 });
    const first = body.rows.find((r: { id: number }) => r.id === 1);
    expect(first).toEqual({ id: 1, Name: 'alpha', price: '1.50', ts: '2024-01-01T10:00:00', flag: true, score: 0.5, big: '9007199254740993' });
    expect(body.rows.find((r: { id: number }) => r.id === 3).score).toBe('NaN');
  });

  it.each([
    ['eq', 'id', [2], [2]],
    ['eq', 'Name', ['alpha'], [1]],
    ['eq', 'Name', [''], [3]],
    ['ne', 'Name', ['alpha'], [2, 3, 5]],
    ['gt', 'price', ['2'], [4, 5]],
    ['ge', 'price', [2], [2, 4, 5]],
    ['lt', 'price', ['2.00'], [1]],
    ['le', 'price', ['2.0'], [1, 2]],
    ['gt', 'ts', ['2024-01-02'], [4, 5]],
    ['le', 'ts', ['2024-01-02 00:00:00'], [1, 2]],
    ['eq', 'flag', [true], [1, 4]],
    ['eq', 'flag', ['false'], [2, 5]],
    ['lt', 'score', [0], [5]],
    ['eq', 'big', ['9007199254740993'], [1]],
    ['in', 'id', [1, 3, 99], [1, 3]],
    ['in', 'Name', ['beta', 'a,b "q"'], [2, 5]],
    ['not_in', 'id', [1, 2], [3, 4, 5]],
    ['not_in', 'price', ['1.5', '7'], [2, 4]],
    ['is_null', 'price', [], [3]],
    ['not_null', 'ts', [], [1, 2, 4, 5]],
    ['is_null', 'Name', [], [4]],
  ])('%s on %s %j matches %j', async (operator, column, values, expected) => {
    const { status, body } = await preview({ filters: [{ column, operator, values }], order_by: [{ column: 'id' }] });
    expect(status).toBe(200);
    expect(ids(body.rows)).toEqual(expected);
    expect(body.total_row_count).toBe(expected.length);
  });

  it('combines filters with AND', async () => {
    const { body } = await preview({
      filters: [
        { column: 'flag', operator: 'eq', values: [true] },
        { column: 'price', operator: 'gt', values: ['5'] },
      ],
    });
    expect(ids(body.rows)).toEqual([4]);
  });

  it('accepts is_null without a values field', async () => {
    const { status, body } = await preview({ filters: [{ column: 'ts', operator: 'is_null' }] });
    expect(status).toBe(200);
    expect(ids(body.rows)).toEqual([3]);
  });

  it.each([
    ['id', 'eq', ['abc'], 'filters.0.values.0'],
    ['id', 'in', [1, 'two'], 'filters.0.values.1'],
    ['price', 'gt', ['cheap'], 'filters.0.values.0'],
    ['ts', 'lt', ['yesterday'], 'filters.0.values.0'],
    ['flag', 'eq', ['maybe'], 'filters.0.values.0'],
    ['big', 'ne', ['99999999999999999999999'], 'filters.0.values.0'],
    ['score', 'ge', ['high'], 'filters.0.values.0'],
    ['id', 'eq', [1.5], 'filters.0.values.0'],
    ['id', 'eq', ['2.5'], 'filters.0.values.0'],
    ['price', 'eq', ['1.505'], 'filters.0.values.0'],
    ['id', 'in', [1, -2.5], 'filters.0.values.1'],
    ['id', 'eq', ['1e10'], 'filters.0.values.0'],
    ['big', 'gt', [1.5], 'filters.0.values.0'],
    ['score', 'eq', ['1e400'], 'filters.0.values.0'],
    ['score', 'lt', ['-1e400'], 'filters.0.values.0'],
    ['price', 'eq', ['1e400'], 'filters.0.values.0'],
  ])('a %s value that does not convert (%s %j) is a 422 at %s', async (column, operator, values, path) => {
    const { status, body } = await preview({ filters: [{ column, operator, values }] });
    expect(status).toBe(422);
    expect(body.detail.error).toBe('validation_error');
    expect(body.detail.details.issues[0].path).toBe(path);
  });

  it.each([
    ['eq', []],
    ['eq', [1, 2]],
    ['gt', []],
    ['le', [1, 2]],
    ['in', []],
    ['not_in', []],
    ['is_null', [1]],
    ['not_null', ['x']],
  ])('%s with %j values is a 422', async (operator, values) => {
    const { status, body } = await preview({ filters: [{ column: 'id', operator, values }] });
    expect(status).toBe(422);
    expect(body.detail.details.issues[0].path).toBe('filters.0.values');
  });

  it('refuses unknown operators and null or object values', async () => {
    for (const filter of [
      { column: 'id', operator: 'like', values: ['a'] },
      { column: 'id', operator: 'eq', values: [null] },
      { column: 'id', operator: 'eq', values: [{ a: 1 }] },
      { column: 'id', operator: 'eq', values: 1 },
    ]) {
      const { status } = await preview({ filters: [filter] });
      expect(status).toBe(422);
    }
  });

  it('refuses unknown columns in columns, filters and order_by', async () => {
    for (const [body, path] of [
      [{ columns: ['id', 'nope'] }, 'columns.1'],
      [{ filters: [{ column: 'nope', operator: 'eq', values: [1] }] }, 'filters.0.column'],
      [{ order_by: [{ column: 'id' }, { column: 'nope' }] }, 'order_by.1.column'],
      [{ columns: ['id', 'ID'] }, 'columns.1'],
    ] as const) {
      const { status, body: error } = await preview(body);
      expect(status).toBe(422);
      expect(error.detail.error).toBe('validation_error');
      expect(error.detail.details.issues[0].path).toBe(path);
    }
  });

  it('matches column names without regard to case and answers with the catalog names', async () => {
    const { status, body } = await preview({
      columns: ['NAME', 'ID'],
      filters: [{ column: 'Id', operator: 'le', values: [2] }],
      order_by: [{ column: 'iD', order: 'desc' }],
    });
    expect(status).toBe(200);
    expect(body.columns).toEqual([
      { name: 'Name', type: 'VARCHAR', nullable: true, ordinal_position: 2 },
      { name: 'id', type: 'INTEGER', nullable: false, ordinal_position: 1 },
    ]);
    expect(body.rows).toEqual([
      { Name: 'beta', id: 2 },
      { Name: 'alpha', id: 1 },
    ]);
    expect(Object.keys(body.rows[0])).toEqual(['Name', 'id']);
  });

  it('orders by several keys, ascending and descending', async () => {
    let { body } = await preview({ order_by: [{ column: 'flag', order: 'desc' }, { column: 'price', order: 'asc' }], columns: ['id'] });
    // true before false before NULL (DuckDB sorts NULLs last).
    expect(ids(body.rows)).toEqual([1, 4, 2, 5, 3]);
    ({ body } = await preview({ order_by: [{ column: 'flag' }, { column: 'id', order: 'desc' }], columns: ['id'] }));
    expect(ids(body.rows)).toEqual([5, 2, 4, 1, 3]);
    ({ body } = await preview({ order_by: [{ column: 'price', order: 'desc' }], columns: ['id'] }));
    expect(ids(body.rows)).toEqual([4, 5, 2, 1, 3]);
  });

  it('limits the rows while counting every match', async () => {
    const { status, body } = await preview({ limit: 2, order_by: [{ column: 'id' }], filters: [{ column: 'id', operator: 'ge', values: [2] }] });
    expect(status).toBe(200);
    expect(ids(body.rows)).toEqual([2, 3]);
    expect(body.preview_row_count).toBe(2);
    expect(body.total_row_count).toBe(4);
  });

  it.each([0, 10_001, 1.5, -1, '10'])('limit %j is a 422', async (limit) => {
    const { status, body } = await preview({ limit });
    expect(status).toBe(422);
    expect(body.detail.details.issues[0].path).toBe('limit');
  });

  it('accepts the limit bounds', async () => {
    expect((await preview({ limit: 1 })).body.preview_row_count).toBe(1);
    expect((await preview({ limit: 10_000 })).body.preview_row_count).toBe(5);
  });

  it('refuses bad order values, empty columns and non-JSON bodies', async () => {
    expect((await preview({ order_by: [{ column: 'id', order: 'up' }] })).status).toBe(422);
    expect((await preview({ columns: [] })).status).toBe(422);
    const raw = await t.callJson('POST', `${BASE}/preview`, { raw: '{nope', headers: { 'content-type': 'application/json' } });
    expect(raw.status).toBe(422);
  });

  it('answers 404 for a missing table or bucket', async () => {
    expect((await t.callJson('POST', '/projects/p1/buckets/b1/tables/missing/preview', { body: {} })).body.detail.error).toBe('table_not_found');
    expect((await t.callJson('POST', '/projects/p1/buckets/nob/tables/items/preview', { body: {} })).body.detail.error).toBe('bucket_not_found');
  });

  it('never pastes values into SQL', async () => {
    const { status, body } = await preview({ filters: [{ column: 'Name', operator: 'eq', values: ["x'; DROP TABLE data; --"] }] });
    expect(status).toBe(200);
    expect(body.total_row_count).toBe(0);
    expect((await preview({})).body.total_row_count).toBe(5);
  });
});
