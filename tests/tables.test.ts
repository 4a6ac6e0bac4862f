import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN_BRANCH } from '../src/storage/catalog/metadata.ts';
import { SCALAR_TYPES } from '../src/storage/types.ts';
import { makeApp, walk, type TestApp } from './helpers.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$/;
const TABLE_KEYS = ['bucket', 'columns', 'created_at', 'metadata', 'name', 'primary_key', 'row_count', 'size_bytes'];

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.detail.error).toBe(code);
}

function tablePath(t: TestApp, project: string, bucket: string, table: string): string {
  return join(t.dataDir, 'duckdb', `project_${project}`, bucket, `${table}.duckdb`);
}

async function createTable(t: TestApp, bucket: string, body: Record<string, unknown>, project = 'p1') {
  return t.callJson('POST', `/projects/${project}/buckets/${bucket}/tables`, { body });
}

/** Runs SQL against the table through the service's own instance (the file stays attached once). */
async function runOnTable(t: TestApp, path: string, sql: (alias: string) => string): Promise<void> {
  const { registry, db } = t.services;
  await registry.withWriteLock(path, async () => {
    const alias = await registry.acquire(path);
    try {
      await db.with((c) => c.run(sql(`"${alias}".main.data`)));
    } finally {
      registry.release(path);
    }
  });
}

/** Waits (bounded) until the service has detached every table file. */
async function allDetached(t: TestApp): Promise<void> {
  for (let i = 0; i < 1000 && t.services.registry.openCount > 0; i++) await new Promise((r) => setTimeout(r, 5));
  expect(t.services.registry.openCount).toBe(0);
}

/** Opens a table file with a separate DuckDB instance, as any DuckDB client would. */
async function withFile<T>(path: string, work: (run: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    return await work(async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('POST …/tables', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'in_c_sales' } });
  });
  afterAll(() => t.close());

  it('201 with exactly the table object; the file exists at the §9 path', async () => {
    const res = await createTable(t, 'in_c_sales', {
      name: 'orders',
      columns: [
        { name: 'id', type: 'INTEGER' },
        { name: 'customer', type: 'VARCHAR', nullable: false },
        { name: 'amount', type: 'DECIMAL(10,2)', default: '0' },
      ],
      primary_key: ['id'],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(TABLE_KEYS);
    const path = tablePath(t, 'p1', 'in_c_sales', 'orders');
    expect(res.body).toEqual({
      name: 'orders',
      bucket: 'in_c_sales',
      columns: [
        { name: 'id', type: 'INTEGER', nullable: false, ordinal_position: 1, default: null, metadata: [] },
        { name: 'customer', type: 'VARCHAR', nullable: false, ordinal_position: 2, default: null, metadata: [] },
        { name: 'amount', type: 'DECIMAL(10,2)', nullable: true, ordinal_position: 3, default: '0', metadata: [] },
      ],
      row_count: 0,
      size_bytes: (await stat(path)).size,
      primary_key: ['id'],
      created_at: expect.stringMatching(ISO),
      metadata: [],
    });
    expect(res.body.size_bytes).toBeGreaterThan(0);
    // Nothing but the table file is left in the bucket folder (no temp files, no WAL).
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1', 'in_c_sales'))).toEqual(['orders.duckdb']);
  });

  it('normalises types to DuckDB names, and the file agrees with the catalog', async () => {
    const cases: [string, string][] = [
      ['INT', 'INTEGER'],
      ['int4', 'INTEGER'],
      ['integer', 'INTEGER'],
      ['TEXT', 'VARCHAR'],
      ['STRING', 'VARCHAR'],
      ['varchar(255)', 'VARCHAR'],
      ['NUMERIC(10,2)', 'DECIMAL(10,2)'],
      ['numeric( 12 , 4 )', 'DECIMAL(12,4)'],
      ['DECIMAL(1,0)', 'DECIMAL(1,0)'],
      ['DECIMAL(1,1)', 'DECIMAL(1,1)'],
      ['DECIMAL(38,0)', 'DECIMAL(38,0)'],
      ['DECIMAL(38,38)', 'DECIMAL(38,38)'],
      ['DECIMAL(5)', 'DECIMAL(5,0)'],
      ['TIMESTAMPTZ', 'TIMESTAMP WITH TIME ZONE'],
      ['timestamp with time zone', 'TIMESTAMP WITH TIME ZONE'],
      ['FLOAT', 'FLOAT'],
      ['REAL', 'FLOAT'],
      ['DOUBLE', 'DOUBLE'],
      ['double precision', 'DOUBLE'],
      ['BIGINT', 'BIGINT'],
      ['INT8', 'BIGINT'],
      ['SMALLINT', 'SMALLINT'],
      ['TINYINT', 'TINYINT'],
      ['HUGEINT', 'HUGEINT'],
      ['UBIGINT', 'UBIGINT'],
      ['BOOL', 'BOOLEAN'],
      ['boolean', 'BOOLEAN'],
      ['DATE', 'DATE'],
      ['TIME', 'TIME'],
      ['TIMESTAMP', 'TIMESTAMP'],
      ['DATETIME', 'TIMESTAMP'],
      ['JSON', 'JSON'],
      ['UUID', 'UUID'],
      ['BLOB', 'BLOB'],
      ['BYTEA', 'BLOB'],
      ['INTERVAL', 'INTERVAL'],
      ['TIMESTAMP_S', 'TIMESTAMP_S'],
      ['TIMESTAMP_MS', 'TIMESTAMP_MS'],
      ['TIMESTAMP_NS', 'TIMESTAMP_NS'],
      ['UTINYINT', 'UTINYINT'],
      ['USMALLINT', 'USMALLINT'],
      ['UINTEGER', 'UINTEGER'],
      ['UHUGEINT', 'UHUGEINT'],
      ['INT1', 'TINYINT'],
      ['INT2', 'SMALLINT'],
      ['SHORT', 'SMALLINT'],
      ['LONG', 'BIGINT'],
      ['SIGNED', 'INTEGER'],
      ['INT128', 'HUGEINT'],
      ['LOGICAL', 'BOOLEAN'],
      ['FLOAT4', 'FLOAT'],
      ['FLOAT8', 'DOUBLE'],
      ['CHAR', 'VARCHAR'],
      ['BPCHAR', 'VARCHAR'],
      ['NVARCHAR', 'VARCHAR'],
      ['character varying', 'VARCHAR'],
      ['CHARACTER VARYING(20)', 'VARCHAR'],
      ['timestamp without time zone', 'TIMESTAMP'],
      ['BINARY', 'BLOB'],
      ['VARBINARY', 'BLOB'],
      ['DEC(7,2)', 'DECIMAL(7,2)'],
      ['DECIMAL', 'DECIMAL(18,3)'],
      ['NUMERIC', 'DECIMAL(18,3)'],
    ];
    const columns = cases.map(([type], i) => ({ name: `c${i}`, type }));
    const res = await createTable(t, 'in_c_sales', { name: 'typed', columns });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.columns.map((c: any) => c.type)).toEqual(cases.map(([, type]) => type));
    expect(res.body.columns.map((c: any) => c.ordinal_position)).toEqual(cases.map((_, i) => i + 1));

    await allDetached(t);
    const onDisk = await withFile(tablePath(t, 'p1', 'in_c_sales', 'typed'), (run) =>
      run(`SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'data' AND schema_name = 'main' AND database_name = current_database() ORDER BY column_index`),
    );
    expect(onDisk.map((r) => r.data_type)).toEqual(cases.map(([, type]) => type));
  });

  it('422 for types outside the accepted set, naming the column', async () => {
    const bad = ['FOO', 'DECIMAL(39,2)', 'DECIMAL(0,0)', 'DECIMAL(10,11)', 'NUMERIC(-1,0)', 'DECIMAL(10,2,1)', 'INTEGER[]', 'STRUCT(a INTEGER)', 'MAP(VARCHAR, INTEGER)', 'VARCHAR(abc)', '', ' ', 'INT EGER', 'x'.repeat(65)];
    for (const type of bad) {
      const res = await createTable(t, 'in_c_sales', { name: 'badtype', columns: [{ name: 'ok', type: 'INTEGER' }, { name: 'a', type }] });
      expectError(res, 422, 'validation_error');
      expect(res.body.detail.details.issues[0].path, type).toBe('columns.1.type');
    }
    expect(existsSync(tablePath(t, 'p1', 'in_c_sales', 'badtype'))).toBe(false);
  });

  it('primary-key columns are NOT NULL even when sent as nullable', async () => {
    const res = await createTable(t, 'in_c_sales', {
      name: 'pk2',
      columns: [{ name: 'a', type: 'INT', nullable: true }, { name: 'b', type: 'TEXT' }, { name: 'c', type: 'TEXT' }],
      primary_key: ['a', 'b'],
    });
    expect(res.status).toBe(201);
    expect(res.body.primary_key).toEqual(['a', 'b']);
    expect(res.body.columns.map((c: any) => c.nullable)).toEqual([false, false, true]);
  });

  it('409 table_exists, also for a name differing only in case', async () => {
    const body = { name: 'dupe', columns: [{ name: 'a', type: 'INTEGER' }] };
    expect((await createTable(t, 'in_c_sales', body)).status).toBe(201);
    const again = await createTable(t, 'in_c_sales', body);
    expectError(again, 409, 'table_exists');
    expect(again.body.detail.details).toMatchObject({ project_id: 'p1', bucket_name: 'in_c_sales', table_name: 'dupe' });
    expectError(await createTable(t, 'in_c_sales', { ...body, name: 'DUPE' }), 409, 'table_exists');
    expectError(await createTable(t, 'in_c_sales', { ...body, name: 'Dupe', columns: [{ name: 'other', type: 'VARCHAR' }] }), 409, 'table_exists');
    expect(existsSync(tablePath(t, 'p1', 'in_c_sales', 'DUPE'))).toBe(false);
    // The original is untouched.
    const got = await t.callJson('GET', '/projects/p1/buckets/in_c_sales/tables/dupe');
    expect(got.body.columns).toEqual([{ name: 'a', type: 'INTEGER', nullable: true, ordinal_position: 1, default: null, metadata: [] }]);
  });

  it('400 invalid_primary_key when a key column is not a column', async () => {
    const res = await createTable(t, 'in_c_sales', { name: 'badpk', columns: [{ name: 'a', type: 'INTEGER' }], primary_key: ['b'] });
    expectError(res, 400, 'invalid_primary_key');
    const partly = await createTable(t, 'in_c_sales', { name: 'badpk', columns: [{ name: 'a', type: 'INTEGER' }], primary_key: ['a', 'zz'] });
    expectError(partly, 400, 'invalid_primary_key');
    expect(existsSync(tablePath(t, 'p1', 'in_c_sales', 'badpk'))).toBe(false);
    expectError(await t.callJson('GET', '/projects/p1/buckets/in_c_sales/tables/badpk'), 404, 'table_not_found');
  });

  it('every accepted type as a primary key: a working key (created, upserted by key) or 422, never a 500', async () => {
    // One CSV value per type; a type added to the list without a value here fails the test.
    const sample: Record<string, string> = {
      BOOLEAN: 'true', TINYINT: '1', SMALLINT: '1', INTEGER: '1', BIGINT: '1', HUGEINT: '1', UTINYINT: '1', USMALLINT: '1', UINTEGER: '1',
      UBIGINT: '1', UHUGEINT: '1', FLOAT: '1.5', DOUBLE: '1.5', VARCHAR: 'a', DATE: '2026-01-01', TIME: '12:00:00', TIMESTAMP: '2026-01-01 10:00:00',
      'TIMESTAMP WITH TIME ZONE': '2026-01-01 10:00:00+00', TIMESTAMP_S: '2026-01-01 10:00:00', TIMESTAMP_MS: '2026-01-01 10:00:00',
      TIMESTAMP_NS: '2026-01-01 10:00:00', INTERVAL: '1 day', UUID: '4b4f2a43-3a0b-4d5e-9a8f-0c1d2e3f4a5b', BLOB: 'abc', JSON: '"{""a"":1}"',
      'DECIMAL(10,2)': '1.25', 'DECIMAL(38,0)': '1',
    };
    const refused: string[] = [];
    for (const [index, type] of [...SCALAR_TYPES, 'DECIMAL(10,2)', 'DECIMAL(38,0)'].entries()) {
      expect(sample[type], `a sample value for ${type}`).toBeDefined();
      const name = `key${index}`;
      for (const columns of [[{ name: 'k', type }, { name: 'v', type: 'INTEGER' }], [{ name: 'a', type: 'INTEGER' }, { name: 'k', type }, { name: 'v', type: 'INTEGER' }]]) {
        const primaryKey = columns.length === 2 ? ['k'] : ['a', 'k'];
        const res = await createTable(t, 'in_c_sales', { name, columns, primary_key: primaryKey });
        if (res.status === 422) {
          expectError(res, 422, 'validation_error');
          expect(res.body.detail.details.issues).toEqual([{ path: `primary_key.${primaryKey.indexOf('k')}`, message: expect.stringContaining(type) }]);
          expect(existsSync(tablePath(t, 'p1', 'in_c_sales', name))).toBe(false);
          if (columns.length === 2) refused.push(type);
          continue;
        }
        expect(res.status, `${type}: ${JSON.stringify(res.body)}`).toBe(201);
        const header = columns.map((c) => c.name).join(',');
        const row = (v: number) => columns.map((c) => (c.name === 'k' ? sample[type] : c.name === 'a' ? '7' : String(v))).join(',');
        const load = (v: number, incremental: boolean) =>
          t.callJson('POST', `/projects/p1/buckets/in_c_sales/tables/${name}/import?incremental=${incremental}`, { raw: `${header}\n${row(v)}\n`, headers: { 'content-type': 'text/csv' } });
        expect((await load(1, false)).status, type).toBe(200);
        const upsert = await load(2, true);
        expect(upsert.status, `${type}: ${JSON.stringify(upsert.body)}`).toBe(200);
        const preview = await t.callJson('GET', `/projects/p1/buckets/in_c_sales/tables/${name}/preview`);
        expect(preview.body.rows.map((r: any) => r.v), type).toEqual([2]);
        expect((await t.call('DELETE', `/projects/p1/buckets/in_c_sales/tables/${name}`)).status).toBe(204);
      }
    }
    // DuckDB cannot index these (CREATE TABLE fails with "Invalid type for index key").
    expect(refused).toEqual(['INTERVAL']);
  });

  it('422 for a duplicate column, also when names differ only in case', async () => {
    for (const names of [['a', 'a'], ['Amount', 'amount'], ['x', 'y', 'X']]) {
      const res = await createTable(t, 'in_c_sales', { name: 'dupcol', columns: names.map((name) => ({ name, type: 'INTEGER' })) });
      expectError(res, 422, 'validation_error');
      expect(res.body.detail.details.issues[0].path).toBe(`columns.${names.length - 1}.name`);
    }
    expect(existsSync(tablePath(t, 'p1', 'in_c_sales', 'dupcol'))).toBe(false);
  });

  it('422 for 0 columns and for more than 1000; exactly 1000 is accepted', async () => {
    expectError(await createTable(t, 'in_c_sales', { name: 'nocols', columns: [] }), 422, 'validation_error');
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `c${i}`, type: 'INTEGER' }));
    expectError(await createTable(t, 'in_c_sales', { name: 'toomany', columns: many(1001) }), 422, 'validation_error');
    expect(existsSync(tablePath(t, 'p1', 'in_c_sales', 'toomany'))).toBe(false);
    const max = await createTable(t, 'in_c_sales', { name: 'widest', columns: many(1000) });
    expect(max.status).toBe(201);
    expect(max.body.columns).toHaveLength(1000);
  });

  it('422 for malformed bodies', async () => {
    const bodies: unknown[] = [
      {},
      { name: 'x' },
      { name: 'x', columns: 'id INTEGER' },
      { name: 'x', columns: [{ name: 'a' }] },
      { name: 'x', columns: [{ type: 'INTEGER' }] },
      { name: 'x', columns: [{ name: 'a', type: 'INTEGER', nullable: 'no' }] },
      { name: 'x', columns: [{ name: 'a', type: 'INTEGER', default: { x: 1 } }] },
      { name: 'x', columns: [{ name: 'a', type: 'INTEGER' }], primary_key: 'a' },
    ];
    for (const body of bodies) expectError(await createTable(t, 'in_c_sales', body as any), 422, 'validation_error');
  });

  it('422 for a default that does not cast to the column type', async () => {
    const bad: [string, unknown][] = [
      ['INTEGER', 'abc'],
      ['INTEGER', ''],
      ['INTEGER', 1.5e300],
      ['BOOLEAN', 'maybe'],
      ['DATE', '2026-13-45'],
      ['DECIMAL(4,2)', '1000'],
      ['UUID', 'not-a-uuid'],
      ['JSON', '{broken'],
      ['INTEGER', 'CURRENT_TIMESTAMP'],
      ['TINYINT', 300],
      // Never rounded, never wrapped, never infinite (§8 applies to defaults too).
      ['INTEGER', 1.5],
      ['INTEGER', '1.5'],
      ['BIGINT', -2.5],
      ['SMALLINT', '1e400'],
      ['SMALLINT', 40000],
      ['UINTEGER', -1],
      ['HUGEINT', '170141183460469231731687303715884105728'],
      ['DOUBLE', '1e400'],
      ['FLOAT', 1e300],
      ['DECIMAL(4,2)', 100.5],
    ];
    for (const [type, value] of bad) {
      const res = await createTable(t, 'in_c_sales', { name: 'baddefault', columns: [{ name: 'a', type, default: value }] });
      expectError(res, 422, 'validation_error');
      expect(res.body.detail.details.issues[0].path, `${type} ${value}`).toBe('columns.0.default');
    }
    expect(existsSync(tablePath(t, 'p1', 'in_c_sales', 'baddefault'))).toBe(false);
  });

  it('a default is stored exactly: whole numbers in any notation, DECIMAL rounded half away from zero', async () => {
    const res = await createTable(t, 'in_c_sales', {
      name: 'gooddefaults',
      columns: [
        { name: 'a', type: 'INTEGER', default: 2.0 },
        { name: 'b', type: 'BIGINT', default: '1e3' },
        { name: 'c', type: 'DECIMAL(10,2)', default: '-1.235' },
        { name: 'd', type: 'DOUBLE', default: 'inf' },
      ],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const { db, registry } = t.services;
    const path = tablePath(t, 'p1', 'in_c_sales', 'gooddefaults');
    const alias = await registry.acquire(path);
    try {
      const row = await db.with(async (c) => {
        await c.run(`INSERT INTO "${alias}".main.data DEFAULT VALUES`);
        return (await c.runAndReadAll(`SELECT * FROM "${alias}".main.data`)).getRowsJson()[0];
      });
      expect(row).toEqual([2, '1000', '-1.24', 'Infinity']);
    } finally {
      registry.release(path);
    }
    expect((await t.call('DELETE', '/projects/p1/buckets/in_c_sales/tables/gooddefaults')).status).toBe(204);
  });

  it('404 for a missing bucket or project', async () => {
    const body = { name: 'x', columns: [{ name: 'a', type: 'INTEGER' }] };
    expectError(await createTable(t, 'nobucket', body), 404, 'bucket_not_found');
    expectError(await createTable(t, 'in_c_sales', body, 'noproject'), 404, 'project_not_found');
    expect(existsSync(join(t.dataDir, 'duckdb', 'project_p1', 'nobucket'))).toBe(false);
  });
});

describe('the table file on disk', () => {
  let t: TestApp;
  let path: string;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b' } });
    const res = await createTable(t, 'b', {
      name: 'orders',
      columns: [
        { name: 'id', type: 'INTEGER' },
        { name: 'region', type: 'VARCHAR', nullable: false, default: "it's north" },
        { name: 'qty', type: 'INTEGER', default: 7 },
        { name: 'active', type: 'BOOLEAN', default: true },
        { name: 'price', type: 'DECIMAL(10,2)', default: '1.5' },
        { name: 'created', type: 'TIMESTAMP', default: 'CURRENT_TIMESTAMP' },
        { name: 'day', type: 'DATE', default: 'CURRENT_DATE' },
        { name: 'at', type: 'TIMESTAMPTZ', default: 'now()' },
        { name: 'note', type: 'TEXT' },
      ],
      primary_key: ['id'],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    path = tablePath(t, 'p1', 'b', 'orders');
    await allDetached(t);
  });
  afterAll(() => t.close());

  it('holds exactly main.data with the columns, NOT NULL, defaults and primary key', async () => {
    await withFile(path, async (run) => {
      const tables = await run(`SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()`);
      expect(tables).toEqual([{ schema_name: 'main', table_name: 'data' }]);
      const columns = await run(
        `SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() WHERE database_name = current_database() AND table_name = 'data' ORDER BY column_index`,
      );
      expect(columns.map((c) => [c.column_name, c.data_type, c.is_nullable])).toEqual([
        ['id', 'INTEGER', false],
        ['region', 'VARCHAR', false],
        ['qty', 'INTEGER', true],
        ['active', 'BOOLEAN', true],
        ['price', 'DECIMAL(10,2)', true],
        ['created', 'TIMESTAMP', true],
        ['day', 'DATE', true],
        ['at', 'TIMESTAMP WITH TIME ZONE', true],
        ['note', 'VARCHAR', true],
      ]);
      expect(columns.map((c) => c.column_default === null)).toEqual([true, false, false, false, false, false, false, false, true]);
      const constraints = await run(
        `SELECT constraint_type, constraint_column_names FROM duckdb_constraints() WHERE database_name = current_database() AND table_name = 'data' ORDER BY constraint_type, constraint_column_names`,
      );
      expect(constraints).toContainEqual({ constraint_type: 'PRIMARY KEY', constraint_column_names: ['id'] });
      expect(constraints).toContainEqual({ constraint_type: 'NOT NULL', constraint_column_names: ['region'] });
    });
  });

  it('enforces the key and NOT NULL, and applies the defaults', async () => {
    await withFile(path, async (run) => {
      await run(`INSERT INTO main.data (id) VALUES (1)`);
      const [row] = await run(`SELECT id, region, qty, active, price::VARCHAR AS price, created IS NOT NULL AS c, day = current_date AS d, "at" IS NOT NULL AS a, note FROM main.data`);
      expect(row).toEqual({ id: 1, region: "it's north", qty: 7, active: true, price: '1.50', c: true, d: true, a: true, note: null });
      await expect(run(`INSERT INTO main.data (id) VALUES (1)`)).rejects.toThrow(/constraint|duplicate/i);
      await expect(run(`INSERT INTO main.data (id, region) VALUES (2, NULL)`)).rejects.toThrow(/NOT NULL/i);
      await expect(run(`INSERT INTO main.data (id) VALUES (NULL)`)).rejects.toThrow(/NOT NULL/i);
      expect(await run(`SELECT count(*)::INTEGER AS n FROM main.data`)).toEqual([{ n: 1 }]);
    });
    // The service reads what the outside client wrote.
    const preview = await t.callJson('GET', '/projects/p1/buckets/b/tables/orders/preview');
    expect(preview.status).toBe(200);
    expect(preview.body.rows).toHaveLength(1);
    expect(preview.body.rows[0]).toMatchObject({ id: 1, region: "it's north", qty: 7, active: true, price: '1.50', note: null });
  });
});

describe('GET …/tables, GET one, DELETE', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b' } });
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'empty' } });
    for (const name of ['zulu', 'alpha', 'mike', 'bravo']) {
      expect((await createTable(t, 'b', { name, columns: [{ name: 'id', type: 'BIGINT' }], primary_key: ['id'] })).status).toBe(201);
    }
  });
  afterAll(() => t.close());

  it('lists tables sorted by name, each a full table object', async () => {
    const res = await t.callJson('GET', '/projects/p1/buckets/b/tables');
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(4);
    expect(res.body.tables.map((x: any) => x.name)).toEqual(['alpha', 'bravo', 'mike', 'zulu']);
    for (const table of res.body.tables) {
      expect(Object.keys(table).sort()).toEqual(TABLE_KEYS);
      expect(table).toMatchObject({ bucket: 'b', row_count: 0, primary_key: ['id'], columns: [{ name: 'id', type: 'BIGINT', nullable: false, ordinal_position: 1 }] });
      expect(table.size_bytes).toBe((await stat(tablePath(t, 'p1', 'b', table.name))).size);
    }
    expect((await t.callJson('GET', '/projects/p1/buckets/empty/tables')).body).toEqual({ tables: [], total: 0 });
  });

  it('GET one returns the same object as the list', async () => {
    const list = (await t.callJson('GET', '/projects/p1/buckets/b/tables')).body.tables;
    const one = await t.callJson('GET', '/projects/p1/buckets/b/tables/mike');
    expect(one.status).toBe(200);
    expect(one.body).toEqual(list.find((x: any) => x.name === 'mike'));
  });

  it('listing and describing never open a table file', async () => {
    await allDetached(t);
    await t.callJson('GET', '/projects/p1/buckets/b/tables');
    await t.callJson('GET', '/projects/p1/buckets/b/tables/alpha');
    await t.callJson('GET', '/projects/p1/buckets/b');
    await t.callJson('GET', '/projects/p1/stats');
    expect(t.services.registry.openCount).toBe(0);
  });

  it('404s: table_not_found, bucket_not_found, project_not_found', async () => {
    const res = await t.callJson('GET', '/projects/p1/buckets/b/tables/nope');
    expectError(res, 404, 'table_not_found');
    expect(res.body.detail.details).toMatchObject({ project_id: 'p1', bucket_name: 'b', table_name: 'nope' });
    expectError(await t.callJson('GET', '/projects/p1/buckets/nob/tables'), 404, 'bucket_not_found');
    expectError(await t.callJson('GET', '/projects/p1/buckets/nob/tables/alpha'), 404, 'bucket_not_found');
    expectError(await t.callJson('GET', '/projects/nop/buckets/b/tables'), 404, 'project_not_found');
    expectError(await t.callJson('GET', '/projects/p1/buckets/empty/tables/alpha'), 404, 'table_not_found');
  });

  it('DELETE → 204, the file is gone, then 404 table_not_found everywhere', async () => {
    const path = tablePath(t, 'p1', 'b', 'bravo');
    expect(existsSync(path)).toBe(true);
    const res = await t.call('DELETE', '/projects/p1/buckets/b/tables/bravo');
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.wal`)).toBe(false);
    expectError(await t.callJson('GET', '/projects/p1/buckets/b/tables/bravo'), 404, 'table_not_found');
    expectError(await t.callJson('DELETE', '/projects/p1/buckets/b/tables/bravo'), 404, 'table_not_found');
    expectError(await t.callJson('GET', '/projects/p1/buckets/b/tables/bravo/preview'), 404, 'table_not_found');
    expect((await t.callJson('GET', '/projects/p1/buckets/b/tables')).body.tables.map((x: any) => x.name)).toEqual(['alpha', 'mike', 'zulu']);
    // The name is free again.
    expect((await createTable(t, 'b', { name: 'BRAVO', columns: [{ name: 'v', type: 'VARCHAR' }] })).status).toBe(201);
    expect((await t.callJson('GET', '/projects/p1/buckets/b/tables/bravo')).body.name).toBe('BRAVO');
  });

  it('DELETE with the drop_table auto snapshot: two catalog commits (the pending snapshot, then row, metadata and finished snapshot together)', async () => {
    expect((await createTable(t, 'b', { name: 'gone', columns: [{ name: 'id', type: 'BIGINT' }], primary_key: ['id'] })).status).toBe(201);
    expect((await t.callJson('POST', '/projects/p1/buckets/b/tables/gone/metadata', { body: { metadata: [{ key: 'k', value: 'v' }] } })).status).toBe(200);
    const { store } = t.services.catalog;
    const commit = store.commit.bind(store);
    let commits = 0;
    store.commit = ((...args: Parameters<typeof store.commit>) => {
      commits++;
      return commit(...args);
    }) as typeof store.commit;
    try {
        expect(t.services.metadata.list({ projectId: 'p1', branch: MAIN_BRANCH, bucket: 'b', table: 'gone', column: null })).toHaveLength(1);
      expect((await t.call('DELETE', '/projects/p1/buckets/b/tables/gone')).status).toBe(204);
    } finally {
      store.commit = commit;
    }
    expect(commits).toBe(2);
    const snapshots = t.services.snapshots.list('p1', { table: 'gone' });
    expect(snapshots.map((s) => [s.reason, s.state])).toEqual([['drop_table', 'ready']]);
    const target = { projectId: 'p1', branch: MAIN_BRANCH, bucket: 'b', table: 'gone', column: null };
    expect(t.services.metadata.list(target)).toEqual([]);
    expect(t.services.catalog.getTable('p1', 'b', 'gone')).toBeUndefined();
  });

  it('DELETE 404s for a missing bucket or project', async () => {
    expectError(await t.callJson('DELETE', '/projects/p1/buckets/nob/tables/alpha'), 404, 'bucket_not_found');
    expectError(await t.callJson('DELETE', '/projects/nop/buckets/b/tables/alpha'), 404, 'project_not_found');
  });
});

describe('GET …/preview', () => {
  let t: TestApp;
  let path: string;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b' } });
    const res = await createTable(t, 'b', {
      name: 'nums',
      columns: [{ name: 'id', type: 'INTEGER' }, { name: 'label', type: 'VARCHAR' }, { name: 'half', type: 'DECIMAL(10,1)' }],
      primary_key: ['id'],
    });
    expect(res.status).toBe(201);
    path = tablePath(t, 'p1', 'b', 'nums');
  });
  afterAll(() => t.close());

  it('an empty table previews as no rows', async () => {
    const res = await t.callJson('GET', '/projects/p1/buckets/b/tables/nums/preview');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      columns: [
        { name: 'id', type: 'INTEGER', nullable: false, ordinal_position: 1 },
        { name: 'label', type: 'VARCHAR', nullable: true, ordinal_position: 2 },
        { name: 'half', type: 'DECIMAL(10,1)', nullable: true, ordinal_position: 3 },
      ],
      rows: [],
      total_row_count: 0,
      preview_row_count: 0,
    });
  });

  it('shows rows written directly through DuckDB; limit defaults to 1000', async () => {
    await runOnTable(t, path, (data) => `INSERT INTO ${data} SELECT i, 'row ' || i, i / 2 FROM range(1, 1501) r(i)`);
    const res = await t.callJson('GET', '/projects/p1/buckets/b/tables/nums/preview');
    expect(res.status).toBe(200);
    expect(res.body.total_row_count).toBe(1500);
    expect(res.body.preview_row_count).toBe(1000);
    expect(res.body.rows).toHaveLength(1000);
    expect(res.body.rows[0]).toEqual({ id: 1, label: 'row 1', half: '0.5' });
    expect(Object.keys(res.body.rows[0])).toEqual(['id', 'label', 'half']);
  });

  it('limit picks how many rows; the bounds are 1 and 10000', async () => {
    const one = await t.callJson('GET', '/projects/p1/buckets/b/tables/nums/preview?limit=1');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ total_row_count: 1500, preview_row_count: 1 });
    expect(one.body.rows).toHaveLength(1);
    const max = await t.callJson('GET', '/projects/p1/buckets/b/tables/nums/preview?limit=10000');
    expect(max.status).toBe(200);
    expect(max.body).toMatchObject({ total_row_count: 1500, preview_row_count: 1500 });
    expect(new Set(max.body.rows.map((r: any) => r.id)).size).toBe(1500);
  });

  it('422 for a limit outside 1..10000 or not a whole number', async () => {
    for (const limit of ['0', '10001', '-1', 'abc', '1.5', '', '1e3', '99999999999999999999']) {
      const res = await t.callJson('GET', `/projects/p1/buckets/b/tables/nums/preview?limit=${encodeURIComponent(limit)}`);
      expectError(res, 422, 'validation_error');
      expect(res.body.detail.details.issues[0].path).toBe('query.limit');
    }
  });

  it('404 table_not_found for a missing table', async () => {
    expectError(await t.callJson('GET', '/projects/p1/buckets/b/tables/none/preview'), 404, 'table_not_found');
    expectError(await t.callJson('GET', '/projects/p1/buckets/x/tables/nums/preview'), 404, 'bucket_not_found');
  });

  it('gives the attachment back when done', async () => {
    await t.callJson('GET', '/projects/p1/buckets/b/tables/nums/preview?limit=5');
    await allDetached(t);
  });
});

describe('tables survive a restart', () => {
  it('close the services and open the same root again', async () => {
    const first = await makeApp();
    const root = first.root;
    try {
      await first.createProject('p1');
      await first.callJson('POST', '/projects/p1/buckets', { body: { name: 'b' } });
      const created = await createTable(first, 'b', { name: 'kept', columns: [{ name: 'id', type: 'INT' }, { name: 'v', type: 'NUMERIC(8,3)', default: '2.5' }], primary_key: ['id'] });
      expect(created.status).toBe(201);
      expect((await createTable(first, 'b', { name: 'gone', columns: [{ name: 'id', type: 'INT' }] })).status).toBe(201);
      expect((await first.call('DELETE', '/projects/p1/buckets/b/tables/gone')).status).toBe(204);
      await runOnTable(first, tablePath(first, 'p1', 'b', 'kept'), (data) => `INSERT INTO ${data} (id) VALUES (1), (2)`);
      await allDetached(first);
      await first.services.close();

      const second = await makeApp({ root });
      try {
        const list = await second.callJson('GET', '/projects/p1/buckets/b/tables');
        expect(list.body.tables.map((x: any) => x.name)).toEqual(['kept']);
        const got = await second.callJson('GET', '/projects/p1/buckets/b/tables/kept');
        expect(got.body).toMatchObject({ name: 'kept', columns: created.body.columns, primary_key: ['id'], created_at: created.body.created_at });
        const preview = await second.callJson('GET', '/projects/p1/buckets/b/tables/kept/preview');
        expect(preview.body.rows).toEqual([{ id: 1, v: '2.500' }, { id: 2, v: '2.500' }]);
        expectError(await createTable(second, 'b', { name: 'KEPT', columns: [{ name: 'id', type: 'INT' }] }), 409, 'table_exists');
      } finally {
        await second.services.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
