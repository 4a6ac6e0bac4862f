// CONTRACT §12 schema changes: columns added, altered and dropped, the primary key set,
// replaced and dropped, on tables with and without a key, with rows. Each success is
// checked in the API, the catalog and the table file itself (columns, NOT NULL, defaults,
// key, rows, metadata); each refusal leaves file, rows, catalog and folder as they were.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAIN_BRANCH } from '../src/storage/catalog/metadata.ts';
import { DECIDED_BY_SHAPE } from '../src/storage/schema.ts';
import { quoteIdent, quoteLiteral } from '../src/storage/sql.ts';
import { makeApp, walk, type TestApp } from './helpers.ts';

const P = '/projects/p1';
const B = `${P}/buckets/in_c_main`;

let t: TestApp;
beforeAll(async () => {
  t = await makeApp();
  await t.createProject('p1');
  await t.createProject('p2');
  expect((await t.callJson('POST', `${P}/buckets`, { body: { name: 'in_c_main' } })).status).toBe(201);
  // p2 links p1's bucket: its tables are read-only there.
  expect((await t.callJson('POST', `${B}/share`, { body: { target_project_id: 'p2' } })).status).toBe(200);
  expect((await t.callJson('POST', '/projects/p2/buckets/linked/link', { body: { source_project_id: 'p1', source_bucket_name: 'in_c_main' } })).status).toBe(201);
});
afterAll(() => t.close());

const COLUMNS = [
  { name: 'id', type: 'INTEGER' },
  { name: 'name', type: 'VARCHAR', nullable: false, default: 'anon' },
  { name: 'score', type: 'DOUBLE' },
  { name: 'amount', type: 'DECIMAL(10,2)' },
  { name: 'code', type: 'VARCHAR' },
];
const ROWS = 'id,name,score,amount,code\n1,alpha,1.5,10.25,7\n2,beta,2,,08\n3,gamma,,0.50,\n';

let seq = 0;
/** A fresh keyed table with three rows; returns its name. */
async function freshTable(options: { key?: string[]; columns?: unknown[]; rows?: string } = {}): Promise<string> {
  const name = `t${++seq}`;
  const created = await t.callJson('POST', `${B}/tables`, { body: { name, columns: options.columns ?? COLUMNS, primary_key: options.key ?? ['id'] } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const rows = options.rows ?? ROWS;
  if (rows) {
    const imported = await t.call('POST', `${B}/tables/${name}/import`, { raw: rows, headers: { 'content-type': 'text/csv' } });
    expect(imported.status, await imported.clone().text()).toBe(200);
  }
  return name;
}

const T = (name: string) => `${B}/tables/${name}`;

/** The table file's own description, read through the registry's attachment. */
async function fileSchema(table: string) {
  const { registry, db, paths } = t.services;
  const path = paths.tableFile('p1', 'in_c_main', table);
  const alias = await registry.acquire(path);
  try {
    return await db.with(async (c) => {
      const data = `${quoteIdent(alias)}.main.data`;
      const columns = (await c.runAndReadAll(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(${quoteLiteral(data)}) ORDER BY cid`)).getRowObjectsJS();
      const key = (await c.runAndReadAll(`SELECT constraint_column_names FROM duckdb_constraints() WHERE database_name = $1 AND constraint_type = 'PRIMARY KEY'`, [alias])).getRowObjectsJS();
      return {
        columns: columns.map((r) => ({ name: r.name, type: r.type, notnull: r.notnull, default: r.dflt_value ?? null })),
        primaryKey: (key[0]?.constraint_column_names as string[] | undefined) ?? [],
      };
    });
  } finally {
    registry.release(path);
  }
}

async function rows(table: string) {
  const res = await t.callJson('POST', `${T(table)}/preview`, { body: { order_by: [{ column: 'id', order: 'asc' }] } });
  expect(res.status).toBe(200);
  return res.body.rows;
}

/** Everything a refused change must leave as it was. */
async function state(table: string) {
  // A write's checkpoint runs after its answer, under the table's write lock: taking the
  // lock once lets it finish, so its WAL does not show up as a difference.
  await t.services.registry.withWriteLock(t.services.paths.tableFile('p1', 'in_c_main', table), async () => {});
  const got = await t.callJson('GET', T(table));
  // size_bytes is left out: a rolled-back transaction may still grow the WAL or the file.
  const { size_bytes: _size, ...view } = got.body;
  return {
    table: view,
    catalog: t.services.catalog.getTable('p1', 'in_c_main', table),
    file: await fileSchema(table),
    rows: await rows(table),
    folder: await walk(t.services.paths.bucketDir('p1', 'in_c_main')),
    intents: await storedIntents(),
    metadata: t.services.metadata.tableBundle('p1', MAIN_BRANCH, 'in_c_main', table),
  };
}

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.detail.error).toBe(code);
}

/** Waits until no attachment is open (a detach runs after the request). */
async function settled() {
  for (let i = 0; i < 1000 && t.services.registry.openCount > 0; i++) await new Promise((r) => setTimeout(r, 2));
}

/**
 * The schema-change records in metadata.duckdb, as a start after a crash would read them.
 * With `settle`, once the catalog writes queued so far are done (a change's record is
 * removed after its answer).
 */
async function storedIntents(settle = true): Promise<{ before: string; next: string[] }[]> {
  const store = t.services.catalog.store;
  if (settle) await store.commitChanges([]);
  const rows = await store.db.with(async (c) => (await c.runAndReadAll('SELECT before, next FROM schema_changes ORDER BY created_at')).getRowObjectsJS());
  return rows.map((r) => ({ before: r.before as string, next: JSON.parse(r.next as string).columns.map((c: { name: string }) => c.name) }));
}

/** The folder holds exactly the table files (no temporary rebuild file, no WAL left behind). */
async function expectCleanFolder() {
  await settled();
  const files = await walk(t.services.paths.bucketDir('p1', 'in_c_main'));
  expect(files.filter((f) => !/^t\d+\.duckdb$/.test(f))).toEqual([]);
  expect(await storedIntents()).toEqual([]);
}

async function metadata(table: string, column: string | null, key: string, value: string) {
  const path = column ? `${T(table)}/columns/${column}/metadata` : `${T(table)}/metadata`;
  const res = await t.callJson('POST', path, { body: { metadata: [{ key, value }] } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

describe('POST T/columns', () => {
  it('201: the column comes last with its default; stored rows get the default; the file agrees', async () => {
    const name = await freshTable();
    const res = await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'region', type: 'TEXT', default: 'eu' } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.columns.at(-1)).toEqual({ name: 'region', type: 'VARCHAR', nullable: true, ordinal_position: 6, default: 'eu', metadata: [] });
    expect((await rows(name)).map((r: any) => r.region)).toEqual(['eu', 'eu', 'eu']);
    expect((await fileSchema(name)).columns.at(-1)).toEqual({ name: 'region', type: 'VARCHAR', notnull: false, default: "'eu'" });
    expect(t.services.catalog.getTable('p1', 'in_c_main', name)!.columns.at(-1)).toEqual({ name: 'region', type: 'VARCHAR', nullable: true, default: 'eu' });
    await expectCleanFolder();
  });

  it('NOT NULL with a default works on a keyed table with rows (DuckDB needs a rebuild there); key and data kept', async () => {
    const name = await freshTable();
    await metadata(name, 'name', 'KBC.description', 'who');
    const res = await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'qty', type: 'BIGINT', nullable: false, default: 1 } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.primary_key).toEqual(['id']);
    const file = await fileSchema(name);
    expect(file.primaryKey).toEqual(['id']);
    expect(file.columns.at(-1)).toMatchObject({ name: 'qty', type: 'BIGINT', notnull: true });
    expect(file.columns[1]).toMatchObject({ name: 'name', notnull: true, default: "CAST('anon' AS VARCHAR)" });
    expect((await rows(name)).map((r: any) => [r.id, r.name, r.qty])).toEqual([[1, 'alpha', 1], [2, 'beta', 1], [3, 'gamma', 1]]);
    expect(res.body.columns[1].metadata).toEqual([expect.objectContaining({ key: 'KBC.description', value: 'who' })]);
    // NOT NULL holds: a row without the column gets the default, an explicit NULL is refused.
    const ok = await t.call('POST', `${T(name)}/import?incremental=true`, { raw: 'id\n4\n', headers: { 'content-type': 'text/csv' } });
    expect(ok.status).toBe(200);
    expect((await rows(name)).at(-1)).toMatchObject({ id: 4, name: 'anon', qty: 1 });
    const refused = await t.call('POST', `${T(name)}/import?incremental=true`, { raw: 'id,qty\n5,\n', headers: { 'content-type': 'text/csv' } });
    expect(refused.status).toBe(400);
    await expectCleanFolder();
  });

  it('400 invalid_column: NOT NULL without a default on a table with rows; nothing changes', async () => {
    const name = await freshTable();
    const before = await state(name);
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'qty', type: 'INTEGER', nullable: false } }), 400, 'invalid_column');
    expect(await state(name)).toEqual(before);
    await expectCleanFolder();
  });

  it('NOT NULL without a default is fine on an empty table', async () => {
    const name = await freshTable({ rows: '' });
    const res = await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'qty', type: 'INTEGER', nullable: false } });
    expect(res.status).toBe(201);
    expect((await fileSchema(name)).columns.at(-1)).toMatchObject({ name: 'qty', notnull: true });
  });

  it('409 column_exists, also differing only in case; 422 for a bad name, type or default', async () => {
    const name = await freshTable();
    const before = await state(name);
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'NAME', type: 'INTEGER' } }), 409, 'column_exists');
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { name: '1bad', type: 'INTEGER' } }), 422, 'validation_error');
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'x', type: 'NOPE' } }), 422, 'validation_error');
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'x', type: 'INTEGER', default: 'abc' } }), 422, 'validation_error');
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'x', type: 'INTEGER', default: 1.5 } }), 422, 'validation_error');
    // Whole numbers out of the type's range, and booleans for a number, are refused too.
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'x', type: 'TINYINT', default: 128 } }), 422, 'validation_error');
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'x', type: 'UINTEGER', default: -1 } }), 422, 'validation_error');
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'x', type: 'BIGINT', default: 2 ** 63 } }), 422, 'validation_error');
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { type: 'INTEGER' } }), 422, 'validation_error');
    // The body is checked before the route's own errors: a taken name with a bad default is 422.
    expectError(await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'name', type: 'INTEGER', default: 'abc' } }), 422, 'validation_error');
    expect(await state(name)).toEqual(before);
  });

  it('404 table_not_found, bucket_not_found, project_not_found; 422 for a bad name in the path', async () => {
    const body = { body: { name: 'x', type: 'INTEGER' } };
    expectError(await t.callJson('POST', `${B}/tables/none/columns`, body), 404, 'table_not_found');
    expectError(await t.callJson('POST', `${P}/buckets/none/tables/x/columns`, body), 404, 'bucket_not_found');
    expectError(await t.callJson('POST', '/projects/none/buckets/b/tables/x/columns', body), 404, 'project_not_found');
    expectError(await t.callJson('POST', `${B}/tables/a.b/columns`, body), 422, 'validation_error');
  });
});

describe('PATCH T/columns/{column}', () => {
  it('renames: values, place, metadata and key membership follow; the new name imports', async () => {
    const name = await freshTable();
    await metadata(name, 'id', 'KBC.description', 'the key');
    const res = await t.callJson('PATCH', `${T(name)}/columns/id`, { body: { name: 'order_id' } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.primary_key).toEqual(['order_id']);
    expect(res.body.columns[0]).toMatchObject({ name: 'order_id', ordinal_position: 1, nullable: false, metadata: [expect.objectContaining({ value: 'the key' })] });
    expect((await fileSchema(name)).primaryKey).toEqual(['order_id']);
    // Imported into by its new name; the key still upserts.
    const imported = await t.call('POST', `${T(name)}/import?incremental=true`, { raw: 'order_id,name\n1,renamed\n9,new\n', headers: { 'content-type': 'text/csv' } });
    expect(imported.status, await imported.clone().text()).toBe(200);
    const preview = await t.callJson('POST', `${T(name)}/preview`, { body: { order_by: [{ column: 'order_id', order: 'asc' }] } });
    expect(preview.body.rows.map((r: any) => [r.order_id, r.name])).toEqual([[1, 'renamed'], [2, 'beta'], [3, 'gamma'], [9, 'new']]);
    // The old name is gone, metadata included.
    expectError(await t.callJson('GET', `${T(name)}/columns/id/metadata`), 404, 'column_not_found');
    expect((await t.callJson('GET', `${T(name)}/columns/order_id/metadata`)).body.metadata).toHaveLength(1);
  });

  it('renames in case only', async () => {
    const name = await freshTable();
    const res = await t.callJson('PATCH', `${T(name)}/columns/score`, { body: { name: 'Score' } });
    expect(res.status).toBe(200);
    expect(res.body.columns[2].name).toBe('Score');
    expect((await fileSchema(name)).columns[2].name).toBe('Score');
  });

  it('widens INTEGER to BIGINT in place, and a key column by a rebuild; NOT NULL, defaults, rows and metadata stay', async () => {
    const name = await freshTable({ columns: [...COLUMNS, { name: 'qty', type: 'INTEGER', nullable: false, default: 5 }] });
    await metadata(name, 'qty', 'unit', 'pieces');
    await metadata(name, null, 'owner', 'sales');
    const before = await rows(name);
    let res = await t.callJson('PATCH', `${T(name)}/columns/qty`, { body: { type: 'BIGINT' } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.columns[5]).toMatchObject({ name: 'qty', type: 'BIGINT', nullable: false, default: 5, metadata: [expect.objectContaining({ value: 'pieces' })] });
    expect((await fileSchema(name)).columns[5]).toEqual({ name: 'qty', type: 'BIGINT', notnull: true, default: "CAST('5' AS BIGINT)" });
    res = await t.callJson('PATCH', `${T(name)}/columns/id`, { body: { type: 'BIGINT' } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.primary_key).toEqual(['id']);
    expect(res.body.metadata).toEqual([expect.objectContaining({ key: 'owner' })]);
    const file = await fileSchema(name);
    expect(file.primaryKey).toEqual(['id']);
    expect(file.columns.map((c) => [c.name, c.type, c.notnull])).toEqual([
      ['id', 'BIGINT', true], ['name', 'VARCHAR', true], ['score', 'DOUBLE', false], ['amount', 'DECIMAL(10,2)', false], ['code', 'VARCHAR', false], ['qty', 'BIGINT', true],
    ]);
    expect(file.columns[1]!.default).toBe("CAST('anon' AS VARCHAR)");
    expect(await rows(name)).toEqual(before);
    await expectCleanFolder();
  });

  it('converts as an import: text to integers, DECIMAL rounding half away from zero', async () => {
    const name = await freshTable();
    let res = await t.callJson('PATCH', `${T(name)}/columns/code`, { body: { type: 'INTEGER' } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((await rows(name)).map((r: any) => r.code)).toEqual([7, 8, null]);
    res = await t.callJson('PATCH', `${T(name)}/columns/amount`, { body: { type: 'DECIMAL(10,1)' } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((await rows(name)).map((r: any) => r.amount)).toEqual(['10.3', null, '0.5']);
  });

  it('400 conversion_failed names a value that does not convert (1.5 is no INTEGER); nothing changes', async () => {
    const name = await freshTable();
    const before = await state(name);
    const res = await t.callJson('PATCH', `${T(name)}/columns/score`, { body: { type: 'INTEGER' } });
    expectError(res, 400, 'conversion_failed');
    expect(res.body.detail.details).toMatchObject({ column_name: 'score', example: 1.5 });
    const text = await t.callJson('PATCH', `${T(name)}/columns/name`, { body: { type: 'INTEGER', default: 0 } });
    expectError(text, 400, 'conversion_failed');
    expect(['alpha', 'beta', 'gamma']).toContain(text.body.detail.details.example);
    // A rename in the same request is not half done either.
    expectError(await t.callJson('PATCH', `${T(name)}/columns/score`, { body: { name: 'points', type: 'INTEGER' } }), 400, 'conversion_failed');
    expect(await state(name)).toEqual(before);
    await expectCleanFolder();
  });

  it('text to DATE or TIME converts the whole text or fails: a date with text after it is 400 conversion_failed', async () => {
    const columns = [{ name: 'id', type: 'INTEGER', nullable: false }, { name: 'day', type: 'VARCHAR' }, { name: 'at', type: 'VARCHAR' }];
    const good = await freshTable({ columns, rows: 'id,day,at\n1,2026-01-01,12:30\n2, 2026/2/3 ,\n' });
    expect((await t.callJson('PATCH', `${T(good)}/columns/day`, { body: { type: 'DATE' } })).status).toBe(200);
    expect((await t.callJson('PATCH', `${T(good)}/columns/at`, { body: { type: 'TIME' } })).status).toBe(200);
    expect((await rows(good)).map((r: any) => [String(r.day), r.at === null ? null : String(r.at)])).toEqual([['2026-01-01', '12:30:00'], ['2026-02-03', null]]);
    const bad = await freshTable({ columns, rows: 'id,day,at\n1,2026-01-01,12:30\n2,2026-01-01abc,12:30:00 junk\n' });
    const before = await state(bad);
    const day = await t.callJson('PATCH', `${T(bad)}/columns/day`, { body: { type: 'DATE' } });
    expectError(day, 400, 'conversion_failed');
    expect(day.body.detail.details).toMatchObject({ column_name: 'day', to_type: 'DATE', example: '2026-01-01abc' });
    const at = await t.callJson('PATCH', `${T(bad)}/columns/at`, { body: { type: 'TIME' } });
    expectError(at, 400, 'conversion_failed');
    expect(at.body.detail.details).toMatchObject({ column_name: 'at', to_type: 'TIME', example: '12:30:00 junk' });
    expect(await state(bad)).toEqual(before);
    await expectCleanFolder();
  });

  it('400 conversion_failed on a key column (a rebuild) leaves the old table; a retype that repeats keys is 409 duplicate_keys', async () => {
    const name = await freshTable({ columns: [{ name: 'id', type: 'VARCHAR' }, { name: 'v', type: 'INTEGER' }], rows: 'id,v\n1,1\n01,2\nx,3\n' });
    const before = await state(name);
    const res = await t.callJson('PATCH', `${T(name)}/columns/id`, { body: { type: 'INTEGER' } });
    expectError(res, 400, 'conversion_failed');
    expect(res.body.detail.details.example).toBe('x');
    expect(await state(name)).toEqual(before);
    expect((await t.callJson('POST', `${T(name)}/delete-rows`, { body: { filters: [{ column: 'id', operator: 'eq', values: ['x'] }] } })).status).toBe(200);
    const after = await state(name);
    const dup = await t.callJson('PATCH', `${T(name)}/columns/id`, { body: { type: 'INTEGER' } });
    expectError(dup, 409, 'duplicate_keys');
    expect(dup.body.detail.details.examples).toEqual([{ id: 1 }]);
    expect(await state(name)).toEqual(after);
    await expectCleanFolder();
  });

  it('nullability: NOT NULL set and dropped; 400 nulls_present; 400 column_in_primary_key', async () => {
    const name = await freshTable();
    const before = await state(name);
    const nulls = await t.callJson('PATCH', `${T(name)}/columns/score`, { body: { nullable: false } });
    expectError(nulls, 400, 'nulls_present');
    expect(nulls.body.detail.details).toMatchObject({ column_name: 'score', null_count: 1 });
    expectError(await t.callJson('PATCH', `${T(name)}/columns/id`, { body: { nullable: true } }), 400, 'column_in_primary_key');
    expect(await state(name)).toEqual(before);
    let res = await t.callJson('PATCH', `${T(name)}/columns/name`, { body: { nullable: true } });
    expect(res.body.columns[1]).toMatchObject({ nullable: true, default: 'anon' });
    expect((await fileSchema(name)).columns[1]).toMatchObject({ notnull: false, default: "CAST('anon' AS VARCHAR)" });
    res = await t.callJson('PATCH', `${T(name)}/columns/name`, { body: { nullable: false } });
    expect((await fileSchema(name)).columns[1]).toMatchObject({ notnull: true });
  });

  it('defaults: set, changed, removed; imports without the column use it', async () => {
    const name = await freshTable();
    let res = await t.callJson('PATCH', `${T(name)}/columns/score`, { body: { default: 0.5 } });
    expect(res.body.columns[2].default).toBe(0.5);
    await t.call('POST', `${T(name)}/import?incremental=true`, { raw: 'id\n10\n', headers: { 'content-type': 'text/csv' } });
    expect((await rows(name)).at(-1)).toMatchObject({ id: 10, score: 0.5, name: 'anon' });
    res = await t.callJson('PATCH', `${T(name)}/columns/name`, { body: { default: null } });
    expect(res.body.columns[1].default).toBeNull();
    expect((await fileSchema(name)).columns[1]!.default).toBeNull();
    expectError(await t.callJson('PATCH', `${T(name)}/columns/score`, { body: { default: 'abc' } }), 422, 'validation_error');
    // A type change the existing default does not fit: refused before anything is touched.
    expectError(await t.callJson('PATCH', `${T(name)}/columns/score`, { body: { type: 'BOOLEAN' } }), 422, 'validation_error');
  });

  it('409 column_exists on a rename to a taken name; 422 for an empty body or a bad type; 404 column_not_found', async () => {
    const name = await freshTable();
    const before = await state(name);
    expectError(await t.callJson('PATCH', `${T(name)}/columns/score`, { body: { name: 'AMOUNT' } }), 409, 'column_exists');
    expectError(await t.callJson('PATCH', `${T(name)}/columns/score`, { body: {} }), 422, 'validation_error');
    expectError(await t.callJson('PATCH', `${T(name)}/columns/score`, { body: { type: 'WHAT' } }), 422, 'validation_error');
    expectError(await t.callJson('PATCH', `${T(name)}/columns/nope`, { body: { type: 'INTEGER' } }), 404, 'column_not_found');
    expectError(await t.callJson('PATCH', `${T(name)}/columns/no-pe`, { body: { type: 'INTEGER' } }), 422, 'validation_error');
    expect(await state(name)).toEqual(before);
  });
});

describe('DELETE T/columns/{column}', () => {
  it('200: the column and its metadata go; the rest stays', async () => {
    const name = await freshTable();
    await metadata(name, 'code', 'pii', 'no');
    await metadata(name, 'name', 'pii', 'yes');
    const res = await t.callJson('DELETE', `${T(name)}/columns/code`);
    expect(res.status).toBe(200);
    expect(res.body.columns.map((c: any) => c.name)).toEqual(['id', 'name', 'score', 'amount']);
    expect(Object.keys(t.services.metadata.tableBundle('p1', MAIN_BRANCH, 'in_c_main', name).columns)).toEqual(['name']);
    expect((await fileSchema(name)).columns.map((c) => c.name)).toEqual(['id', 'name', 'score', 'amount']);
    // A new column of the old name starts without the old metadata.
    expect((await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'code', type: 'INTEGER' } })).body.columns.at(-1).metadata).toEqual([]);
  });

  it('400 column_in_primary_key, 400 last_column, 404 column_not_found; nothing changes', async () => {
    const name = await freshTable();
    const before = await state(name);
    expectError(await t.callJson('DELETE', `${T(name)}/columns/id`), 400, 'column_in_primary_key');
    expectError(await t.callJson('DELETE', `${T(name)}/columns/nope`), 404, 'column_not_found');
    expect(await state(name)).toEqual(before);
    const single = await freshTable({ columns: [{ name: 'id', type: 'INTEGER' }], key: [], rows: 'id\n1\n' });
    expectError(await t.callJson('DELETE', `${T(single)}/columns/id`), 400, 'last_column');
  });

  it('calls the snapshot hook before the drop; a hook that throws refuses the drop and a failed drop is undone', async () => {
    const name = await freshTable();
    const calls: string[] = [];
    t.services.snapshotHooks = {
      async beforeDropColumn(table, column) {
        calls.push(`${table.name}.${column}`);
        if (column === 'amount') throw new Error('no snapshot');
        return async () => void calls.push('undone');
      },
    };
    try {
      expect((await t.callJson('DELETE', `${T(name)}/columns/code`)).status).toBe(200);
      const before = await state(name);
      expect((await t.callJson('DELETE', `${T(name)}/columns/amount`)).status).toBe(500);
      expect(await state(name)).toEqual(before);
      expect(calls).toEqual([`${name}.code`, `${name}.amount`]);
    } finally {
      t.services.snapshotHooks = undefined;
    }
  });
});

describe('PUT and DELETE T/primary-key', () => {
  it('sets a key on a table without one; key columns become NOT NULL in the file', async () => {
    const name = await freshTable({ key: [] });
    const res = await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: ['id', 'NAME'] } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.primary_key).toEqual(['id', 'name']);
    expect(res.body.columns[0].nullable).toBe(false);
    const file = await fileSchema(name);
    expect(file.primaryKey).toEqual(['id', 'name']);
    expect(file.columns[0]!.notnull).toBe(true);
    await expectCleanFolder();
  });

  it('replaces a key (a rebuild) and drops it; data, NOT NULL, defaults and metadata stay', async () => {
    const name = await freshTable();
    await metadata(name, 'name', 'KBC.description', 'the name');
    const before = await rows(name);
    let res = await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: ['name'] } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.primary_key).toEqual(['name']);
    expect(res.body.columns[1].metadata).toHaveLength(1);
    let file = await fileSchema(name);
    expect(file.primaryKey).toEqual(['name']);
    expect(file.columns[0]).toMatchObject({ name: 'id', notnull: true });
    expect(file.columns[1]).toMatchObject({ name: 'name', notnull: true, default: "CAST('anon' AS VARCHAR)" });
    expect(await rows(name)).toEqual(before);
    res = await t.callJson('DELETE', `${T(name)}/primary-key`);
    expect(res.status).toBe(200);
    expect(res.body.primary_key).toEqual([]);
    file = await fileSchema(name);
    expect(file.primaryKey).toEqual([]);
    expect(file.columns[1]).toMatchObject({ notnull: true, default: "CAST('anon' AS VARCHAR)" });
    expect(await rows(name)).toEqual(before);
    // Without a key, an incremental load appends.
    await t.call('POST', `${T(name)}/import?incremental=true`, { raw: 'id,name\n1,alpha\n', headers: { 'content-type': 'text/csv' } });
    expect((await t.callJson('GET', T(name))).body.row_count).toBe(4);
    expectError(await t.callJson('DELETE', `${T(name)}/primary-key`), 404, 'primary_key_not_found');
    await expectCleanFolder();
  });

  it('409 duplicate_keys lists up to five repeated or NULL keys; nothing changes', async () => {
    const lines = ['id,v'];
    for (let i = 0; i < 20; i++) lines.push(`${i % 7},${i}`);
    lines.push(',99');
    const name = await freshTable({ columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'INTEGER' }], key: [], rows: `${lines.join('\n')}\n` });
    const before = await state(name);
    const res = await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: ['id'] } });
    expectError(res, 409, 'duplicate_keys');
    expect(res.body.detail.details.examples).toHaveLength(5);
    expect(await state(name)).toEqual(before);
    // On a keyed table (the rebuild path) too.
    const keyed = await freshTable();
    const keyedBefore = await state(keyed);
    const dup = await t.callJson('PUT', `${T(keyed)}/primary-key`, { body: { columns: ['score'] } });
    expectError(dup, 409, 'duplicate_keys');
    expect(dup.body.detail.details.examples).toEqual([{ score: null }]);
    expect(await state(keyed)).toEqual(keyedBefore);
    await expectCleanFolder();
  });

  it('409 duplicate_keys shows the key values themselves when a key column is called n (the name the count once took)', async () => {
    const name = await freshTable({ columns: [{ name: 'id', type: 'INTEGER' }, { name: 'n', type: 'DECIMAL(10,2)' }, { name: 'N_', type: 'INTEGER' }], key: [], rows: 'id,n,N_\n1,1.5,1\n2,1.5,1\n3,1.5,1\n4,2.25,7\n5,2.25,7\n' });
    const before = await state(name);
    const res = await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: ['n', 'N_'] } });
    expectError(res, 409, 'duplicate_keys');
    expect(res.body.detail.details.examples).toEqual([
      { n: '1.50', N_: 1 },
      { n: '2.25', N_: 7 },
    ]);
    expect(await state(name)).toEqual(before);
    await expectCleanFolder();
  });

  it('400 invalid_primary_key for a column that does not exist or is named twice; 422 for an empty list', async () => {
    const name = await freshTable();
    const before = await state(name);
    expectError(await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: ['nope'] } }), 400, 'invalid_primary_key');
    expectError(await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: ['id', 'ID'] } }), 400, 'invalid_primary_key');
    expectError(await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: [] } }), 422, 'validation_error');
    expectError(await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: Array.from({ length: 33 }, (_, i) => `c${i}`) } }), 422, 'validation_error');
    expect(await state(name)).toEqual(before);
    // The same key again is a no-op that answers the table.
    expect((await t.callJson('PUT', `${T(name)}/primary-key`, { body: { columns: ['id'] } })).body.primary_key).toEqual(['id']);
  });
});

describe('linked buckets and locks', () => {
  it('every change through a link is 403 bucket_readonly after the 404s, and nothing changes in the source', async () => {
    const name = await freshTable();
    const before = await state(name);
    const L = `/projects/p2/buckets/linked/tables/${name}`;
    const writes: [string, string, unknown?][] = [
      ['POST', `${L}/columns`, { name: 'x', type: 'INTEGER' }],
      ['PATCH', `${L}/columns/score`, { type: 'BIGINT' }],
      ['DELETE', `${L}/columns/score`],
      ['PUT', `${L}/primary-key`, { columns: ['name'] }],
      ['DELETE', `${L}/primary-key`],
    ];
    for (const [method, path, body] of writes) expectError(await t.callJson(method, path, { body }), 403, 'bucket_readonly');
    // The 404s come first: a table or column the source does not have.
    expectError(await t.callJson('POST', '/projects/p2/buckets/linked/tables/none/columns', { body: { name: 'x', type: 'INTEGER' } }), 404, 'table_not_found');
    expectError(await t.callJson('PATCH', `${L}/columns/none`, { body: { type: 'INTEGER' } }), 404, 'column_not_found');
    // And the body is validated after the 403.
    expectError(await t.callJson('POST', `${L}/columns`, { body: { bad: true } }), 403, 'bucket_readonly');
    expect(await state(name)).toEqual(before);
  });

  it('a change holds the table write lock: writes to it wait, reads of other tables do not', async () => {
    const busy = await freshTable();
    const other = await freshTable();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    t.services.snapshotHooks = { beforeDropColumn: async () => { entered(); await gate; } };
    try {
      const drop = t.callJson('DELETE', `${T(busy)}/columns/code`);
      await inside;
      let importDone = false;
      const write = t.call('POST', `${T(busy)}/import?incremental=true`, { raw: 'id\n50\n', headers: { 'content-type': 'text/csv' } }).then((r) => {
        importDone = true;
        return r;
      });
      // Reads of another table, and of this one, answer while the change waits.
      expect((await t.callJson('GET', `${T(other)}/preview`)).status).toBe(200);
      expect((await t.callJson('GET', `${T(busy)}/preview`)).body.columns.map((c: any) => c.name)).toContain('code');
      expect((await t.callJson('POST', `${T(other)}/columns`, { body: { name: 'extra', type: 'INTEGER' } })).status).toBe(201);
      expect(importDone).toBe(false);
      release();
      expect((await drop).status).toBe(200);
      expect((await write).status).toBe(200);
      expect((await rows(busy)).map((r: any) => r.id)).toEqual([1, 2, 3, 50]);
    } finally {
      t.services.snapshotHooks = undefined;
    }
  });
});

describe('deleting objects deletes their metadata', () => {
  beforeEach(settled);
  it('table, bucket and project deletes remove the metadata below them', async () => {
    const name = await freshTable();
    await metadata(name, null, 'k', 'v');
    await metadata(name, 'id', 'k', 'v');
    expect((await t.callJson('DELETE', T(name))).status).toBe(204);
    expect(t.services.metadata.all().filter((r) => r.table === name)).toEqual([]);
    // Re-created under the same name: no inherited metadata.
    await t.callJson('POST', `${B}/tables`, { body: { name, columns: [{ name: 'id', type: 'INTEGER' }] } });
    expect((await t.callJson('GET', T(name))).body.metadata).toEqual([]);

    await t.createProject('p3');
    await t.callJson('POST', '/projects/p3/buckets', { body: { name: 'b' } });
    await t.callJson('POST', '/projects/p3/buckets', { body: { name: 'c' } });
    for (const bucket of ['b', 'c']) {
      expect((await t.callJson('POST', `/projects/p3/buckets/${bucket}/metadata`, { body: { metadata: [{ key: 'k', value: 'v' }] } })).status).toBe(200);
    }
    expect((await t.callJson('DELETE', '/projects/p3/buckets/b')).status).toBe(204);
    expect(t.services.metadata.all().filter((r) => r.projectId === 'p3').map((r) => r.bucket)).toEqual(['c']);
    expect((await t.callJson('DELETE', '/projects/p3')).status).toBe(204);
    expect(t.services.metadata.all().filter((r) => r.projectId === 'p3')).toEqual([]);
  });
});

describe('how an interrupted change is told apart after a crash', () => {
  beforeEach(settled);
  /** The intents recorded while each request ran, read at the moment its intent became durable. */
  async function intentsOf(request: () => Promise<{ status: number }>, status: number) {
    const seen: { before: string; next: string[] }[] = [];
    t.services.faultPoint = async (step) => {
      // As a start after a crash here would read them (no wait: the change itself waits on this
      // step). The pause stands for a slow step: whatever the change does next waits for it.
      if (step !== 'intent_recorded') return;
      await new Promise((r) => setTimeout(r, 50));
      seen.push(...(await storedIntents(false)));
    };
    try {
      expect((await request()).status).toBe(status);
    } finally {
      t.services.faultPoint = undefined;
    }
    return seen;
  }

  it("a change of the columns' shape records an intent decided by the file's shape, without reading the file first", async () => {
    const name = await freshTable();
    const added = await intentsOf(() => t.callJson('POST', `${T(name)}/columns`, { body: { name: 'flag', type: 'INTEGER', default: 0 } }), 201);
    expect(added).toEqual([{ before: DECIDED_BY_SHAPE, next: ['id', 'name', 'score', 'amount', 'code', 'flag'] }]);
    const retyped = await intentsOf(() => t.callJson('PATCH', `${T(name)}/columns/flag`, { body: { type: 'BIGINT' } }), 200);
    expect(retyped.map((i) => i.before)).toEqual([DECIDED_BY_SHAPE]);
    // A default alone leaves the shape as it was: the file's signature tells the change.
    const defaulted = await intentsOf(() => t.callJson('PATCH', `${T(name)}/columns/flag`, { body: { default: 5 } }), 200);
    expect(defaulted).toHaveLength(1);
    expect(JSON.parse(defaulted[0]!.before)).toContainEqual(['flag', 'BIGINT', false, "CAST('0' AS BIGINT)", false]);
  });

  it('a change of shape that cannot get a connection for its ALTER leaves no intent and the previous row', async () => {
    const name = await freshTable();
    const before = (await t.callJson('GET', T(name))).body;
    const { db } = t.services;
    const original = db.with;
    let refused = 0;
    // The intent's catalog commit is already under way when the ALTER asks for its connection.
    db.with = async function <R>(this: typeof db, work: Parameters<typeof original>[0]): Promise<R> {
      if (refused++ === 0) throw new Error('no connection to be had');
      return original.call(this, work) as Promise<R>;
    } as typeof original;
    try {
      expect((await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'flag', type: 'INTEGER', default: 0 } })).status).toBe(500);
    } finally {
      db.with = original;
    }
    expect(refused).toBeGreaterThan(0);
    // Catalog writes run in order: storedIntents waits for any the change left in flight.
    expect(await storedIntents()).toEqual([]);
    const stored = await t.services.catalog.store.db.with(async (c) =>
      (await c.runAndReadAll("SELECT columns FROM tables_catalog WHERE project_id = 'p1' AND bucket_name = 'in_c_main' AND name = $1", [name])).getRowObjectsJS(),
    );
    expect(JSON.parse(stored[0]!.columns as string).map((c: { name: string }) => c.name)).toEqual(['id', 'name', 'score', 'amount', 'code']);
    expect((await t.callJson('GET', T(name))).body).toEqual(before);
    expect((await t.callJson('POST', `${T(name)}/columns`, { body: { name: 'flag', type: 'INTEGER', default: 0 } })).status).toBe(201);
  });

  it('a change of shape the file refuses leaves no intent and the previous row', async () => {
    const name = await freshTable();
    const before = (await t.callJson('GET', T(name))).body;
    // 1.5 is no INTEGER: the intent was committed beside the ALTER and is written back.
    const refused = await intentsOf(() => t.callJson('PATCH', `${T(name)}/columns/score`, { body: { type: 'INTEGER' } }), 400);
    expect(refused.map((i) => i.before)).toEqual([DECIDED_BY_SHAPE]);
    expect(await storedIntents()).toEqual([]);
    expect((await t.callJson('GET', T(name))).body).toEqual(before);
    expect((await fileSchema(name)).columns.find((c) => c.name === 'score')).toMatchObject({ type: 'DOUBLE' });
  });
});
