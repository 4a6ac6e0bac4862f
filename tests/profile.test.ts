// CONTRACT §12 GET T/profile: one pass over the table; min, max and quartiles in the
// column's type through the §7 value mapping, for every §7 type; avg and std for numbers;
// exact distinct counts up to 100,000 rows and within 5% above; own and linked tables.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../src/storage/sql.ts';
import { makeApp, manualClock, type TestApp } from './helpers.ts';

const clock = manualClock(new Date('2026-12-02T08:00:00.000Z'));
const B = '/projects/p1/buckets/in_c_prof';

let t: TestApp;
beforeAll(async () => {
  t = await makeApp({ clock });
  await t.createProject('p1');
  await t.createProject('p2');
  expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'in_c_prof' } })).status).toBe(201);
  expect((await t.callJson('POST', `${B}/share`, { body: { target_project_id: 'p2' } })).status).toBe(200);
  expect((await t.callJson('POST', '/projects/p2/buckets/linked/link', { body: { source_project_id: 'p1', source_bucket_name: 'in_c_prof' } })).status).toBe(201);
});
afterAll(() => t.close());

/** Fills a table straight through SQL (types no import format spells easily), then fixes its row count. */
async function fill(table: string, select: string): Promise<void> {
  const { registry, db, paths, catalog } = t.services;
  const path = paths.tableFile('p1', 'in_c_prof', table);
  const alias = await registry.acquire(path);
  try {
    const count = await db.with(async (c) => {
      await c.run(`INSERT INTO ${quoteIdent(alias)}.main.data ${select}`);
      return Number((await c.runAndReadAll(`SELECT count(*) FROM ${quoteIdent(alias)}.main.data`)).getRows()[0]![0]);
    });
    await catalog.setRowCount(catalog.getTable('p1', 'in_c_prof', table)!, count);
  } finally {
    registry.release(path);
  }
}

// name, type, five values (SQL), then the expected min and max in the §7 mapping.
const TYPES: [string, string, string[], unknown, unknown][] = [
  ['c_bool', 'BOOLEAN', ['true', 'false', 'true', 'NULL', 'true'], false, true],
  ['c_tiny', 'TINYINT', ['-128', '0', '1', '2', '127'], -128, 127],
  ['c_small', 'SMALLINT', ['-5', '0', '1', '2', '3'], -5, 3],
  ['c_int', 'INTEGER', ['10', '20', '30', '40', 'NULL'], 10, 40],
  ['c_big', 'BIGINT', ['-9007199254740993', '0', '1', '2', '3'], '-9007199254740993', 3],
  ['c_huge', 'HUGEINT', ['170141183460469231731687303715884105727', '0', '1', '2', '3'], 0, '170141183460469231731687303715884105727'],
  ['c_utiny', 'UTINYINT', ['0', '1', '2', '3', '255'], 0, 255],
  ['c_usmall', 'USMALLINT', ['0', '1', '2', '3', '65535'], 0, 65535],
  ['c_uint', 'UINTEGER', ['0', '1', '2', '3', '4294967295'], 0, 4294967295],
  ['c_ubig', 'UBIGINT', ['0', '1', '2', '3', '18446744073709551615'], 0, '18446744073709551615'],
  ['c_uhuge', 'UHUGEINT', ['0', '1', '2', '3', '4'], 0, 4],
  ['c_float', 'FLOAT', ['0.5', '1.5', '2.5', '3.5', '4.5'], 0.5, 4.5],
  ['c_double', 'DOUBLE', ["'-Infinity'", '1.25', '2', '3', '4'], '-Infinity', 4],
  ['c_dec', 'DECIMAL(10,2)', ['0.50', '1.25', '2.00', '3.10', '999.99'], '0.50', '999.99'],
  ['c_wide', 'DECIMAL(38,10)', ['-1.5', '0', '1', '2', '12345678901234567890.0123456789'], '-1.5000000000', '12345678901234567890.0123456789'],
  ['c_text', 'VARCHAR', ["'pear'", "'apple'", "'fig'", "''", 'NULL'], '', 'pear'],
  ['c_date', 'DATE', ["'2026-01-01'", "'2026-03-01'", "'2025-12-31'", "'2026-02-01'", "'2026-01-15'"], '2025-12-31', '2026-03-01'],
  ['c_time', 'TIME', ["'12:30:00'", "'00:00:01'", "'23:59:59.5'", "'08:00:00'", "'09:00:00'"], '00:00:01', '23:59:59.5'],
  ['c_ts', 'TIMESTAMP', ["'2026-11-29 12:30:00'", "'2026-11-29 12:30:00.25'", "'2020-01-01 00:00:00'", "'2026-01-01'", "'2026-06-01'"], '2020-01-01T00:00:00', '2026-11-29T12:30:00.25'],
  ['c_tstz', 'TIMESTAMP WITH TIME ZONE', ["'2026-11-29 12:30:00+02'", "'2026-01-01 00:00:00+00'", "'2026-02-01 00:00:00+00'", "'2026-03-01 00:00:00+00'", "'2026-04-01 00:00:00+00'"], '2026-01-01T00:00:00Z', '2026-11-29T10:30:00Z'],
  ['c_ts_s', 'TIMESTAMP_S', ["'2026-01-01 00:00:01'", "'2026-01-02'", "'2026-01-03'", "'2026-01-04'", "'2026-01-05'"], '2026-01-01T00:00:01', '2026-01-05T00:00:00'],
  ['c_ts_ms', 'TIMESTAMP_MS', ["'2026-01-01 00:00:00.123'", "'2026-01-02'", "'2026-01-03'", "'2026-01-04'", "'2026-01-05'"], '2026-01-01T00:00:00.123', '2026-01-05T00:00:00'],
  ['c_ts_ns', 'TIMESTAMP_NS', ["'2026-01-01 00:00:00.123456789'", "'2026-01-02'", "'2026-01-03'", "'2026-01-04'", "'2026-01-05'"], '2026-01-01T00:00:00.123456789', '2026-01-05T00:00:00'],
  ['c_iv', 'INTERVAL', ["INTERVAL '1 day'", "INTERVAL '2 hours'", "INTERVAL '1 month'", "INTERVAL '3 seconds'", 'NULL'], 'PT3S', 'P1M'],
  ['c_uuid', 'UUID', ["'00000000-0000-0000-0000-000000000001'", "'ffffffff-0000-0000-0000-000000000000'", "'10000000-0000-0000-0000-000000000000'", 'NULL', 'NULL'], '00000000-0000-0000-0000-000000000001', 'ffffffff-0000-0000-0000-000000000000'],
  ['c_blob', 'BLOB', ["'\\x00\\x01'::BLOB", "'ab'::BLOB", "'zz'::BLOB", 'NULL', 'NULL'], 'AAE=', 'eno='],
  ['c_json', 'JSON', [`'{"a": 1}'`, `'[1, 2]'`, `'"s"'`, 'NULL', 'NULL'], 's', { a: 1 }],
];

const NUMERIC = new Set(['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'UHUGEINT', 'FLOAT', 'DOUBLE']);
const NO_QUARTILES = new Set(['BOOLEAN', 'VARCHAR', 'INTERVAL', 'UUID', 'BLOB', 'JSON', 'UHUGEINT']);

describe('GET T/profile', () => {
  it('profiles every §7 type: counts, min/max mapped as in §7, avg/std for numbers, quartiles where the type has them', async () => {
    const columns = TYPES.map(([name, type]) => ({ name, type }));
    expect((await t.callJson('POST', `${B}/tables`, { body: { name: 'all_types', columns } })).status).toBe(201);
    const rows = [0, 1, 2, 3, 4].map((i) => `SELECT ${TYPES.map(([name, type, values]) => `CAST(${values[i]} AS ${type}) AS ${name}`).join(', ')}`);
    await fill('all_types', rows.join(' UNION ALL '));
    const res = await t.callJson('GET', `${B}/tables/all_types/profile`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.row_count).toBe(5);
    expect(res.body.profiled_at).toBe('2026-12-02T08:00:00.000Z');
    expect(res.body.columns.map((c: any) => c.name)).toEqual(TYPES.map(([name]) => name));
    for (const [index, [name, type, values, min, max]] of TYPES.entries()) {
      const column = res.body.columns[index];
      const nulls = values.filter((v) => v === 'NULL').length;
      expect(column, name).toMatchObject({ name, type, null_count: nulls, min, max });
      expect(Object.keys(column).sort()).toEqual(['avg', 'distinct_count', 'max', 'min', 'name', 'null_count', 'q25', 'q50', 'q75', 'std', 'type']);
      expect(column.distinct_count, name).toBe(new Set(values.filter((v) => v !== 'NULL')).size);
      if (NUMERIC.has(type) || type.startsWith('DECIMAL')) {
        expect(typeof column.avg === 'number' || column.avg === '-Infinity', name).toBe(true);
      } else {
        expect(column.avg, name).toBeNull();
        expect(column.std, name).toBeNull();
      }
      if (NO_QUARTILES.has(type)) expect([column.q25, column.q50, column.q75], name).toEqual([null, null, null]);
      else expect(column.q50, name).not.toBeNull();
    }
    const byName = Object.fromEntries(res.body.columns.map((c: any) => [c.name, c]));
    expect(byName.c_int).toMatchObject({ avg: 25, min: 10, max: 40 });
    expect(byName.c_int.std).toBeCloseTo(12.909944, 5);
    // Quartiles keep the column's type: DECIMAL as an exact string of its scale, dates as dates.
    expect(byName.c_dec.q50).toMatch(/^\d+\.\d{2}$/);
    expect(byName.c_date.q50).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(byName.c_tstz.q50).toMatch(/Z$/);
    expect(byName.c_time.q25).toMatch(/^\d{2}:\d{2}:\d{2}/);
  });

  it('an empty table profiles as zeros and nulls', async () => {
    expect((await t.callJson('POST', `${B}/tables`, { body: { name: 'empty', columns: [{ name: 'n', type: 'INTEGER' }, { name: 's', type: 'VARCHAR' }] } })).status).toBe(201);
    const res = await t.callJson('GET', `${B}/tables/empty/profile`);
    expect(res.body).toEqual({
      row_count: 0,
      profiled_at: '2026-12-02T08:00:00.000Z',
      columns: [
        { name: 'n', type: 'INTEGER', null_count: 0, distinct_count: 0, min: null, max: null, avg: null, std: null, q25: null, q50: null, q75: null },
        { name: 's', type: 'VARCHAR', null_count: 0, distinct_count: 0, min: null, max: null, avg: null, std: null, q25: null, q50: null, q75: null },
      ],
    });
  });

  it('agrees with SUMMARIZE on a larger table; distinct counts within 5% above 100,000 rows', async () => {
    const columns = [{ name: 'id', type: 'BIGINT' }, { name: 'amount', type: 'DECIMAL(10,2)' }, { name: 'label', type: 'VARCHAR' }];
    expect((await t.callJson('POST', `${B}/tables`, { body: { name: 'big', columns } })).status).toBe(201);
    await fill('big', `SELECT i, (i % 100000) / 100.0, 'l' || (i % 5000) FROM range(150000) r(i)`);
    const res = await t.callJson('GET', `${B}/tables/big/profile`);
    expect(res.status).toBe(200);
    const [id, amount, label] = res.body.columns;
    expect(res.body.row_count).toBe(150000);
    expect(Math.abs(id.distinct_count - 150000) / 150000).toBeLessThanOrEqual(0.05);
    expect(Math.abs(label.distinct_count - 5000) / 5000).toBeLessThanOrEqual(0.05);
    expect(id).toMatchObject({ min: 0, max: 149999, null_count: 0 });
    expect(amount).toMatchObject({ min: '0.00', max: '999.99' });
    expect(id.avg).toBeCloseTo(74999.5, 3);
    // SUMMARIZE on the same file: the same figures (its text form).
    const { registry, db, paths } = t.services;
    const path = paths.tableFile('p1', 'in_c_prof', 'big');
    const alias = await registry.acquire(path);
    try {
      const summary = await db.with(async (c) => (await c.runAndReadAll(`SUMMARIZE ${quoteIdent(alias)}.main.data`)).getRowObjectsJS());
      expect(String(summary[0]!.max)).toBe('149999');
      expect(Number(summary[0]!.avg)).toBeCloseTo(id.avg, 3);
      expect(Number(summary[1]!.std)).toBeCloseTo(amount.std, 3);
      expect(Math.abs(Number(summary[0]!.q50) - id.q50) / 150000).toBeLessThan(0.01);
    } finally {
      registry.release(path);
    }
    // An exact count below the threshold.
    const small = await t.callJson('GET', `${B}/tables/all_types/profile`);
    expect(small.body.columns[0].distinct_count).toBe(2);
  });

  it('works through a link (read-only access) and answers 404s in order', async () => {
    const own = await t.callJson('GET', `${B}/tables/big/profile`);
    const linked = await t.callJson('GET', '/projects/p2/buckets/linked/tables/big/profile');
    expect(linked.status).toBe(200);
    // Quartiles are approximate and a parallel sum may differ in its last bits between two
    // runs: those are compared loosely, everything else exactly.
    const loose = ['q25', 'q50', 'q75', 'std', 'avg'] as const;
    const exact = (body: any) => ({ row_count: body.row_count, columns: body.columns.map((c: any) => Object.fromEntries(Object.entries(c).filter(([k]) => !(loose as readonly string[]).includes(k)))) });
    expect(exact(linked.body)).toEqual(exact(own.body));
    own.body.columns.forEach((c: any, i: number) => {
      for (const field of loose) {
        const a = c[field];
        const b = linked.body.columns[i][field];
        if (a === null || b === null || typeof a === 'boolean') expect(b, `${c.name}.${field}`).toEqual(a);
        else if (Number.isFinite(Number(a))) expect(Math.abs(Number(a) - Number(b)), `${c.name}.${field}`).toBeLessThanOrEqual(Math.max(1e-6 * Math.abs(Number(a)), 0.02 * (Math.abs(Number(c.max) - Number(c.min)) || 1)));
        else expect(b, `${c.name}.${field}`).toEqual(a);
      }
    });
    const missing = await t.callJson('GET', '/projects/p2/buckets/linked/tables/none/profile');
    expect(missing.status).toBe(404);
    expect(missing.body.detail.error).toBe('table_not_found');
    expect((await t.callJson('GET', '/projects/p1/buckets/none/tables/x/profile')).body.detail.error).toBe('bucket_not_found');
    expect((await t.callJson('GET', '/projects/p1/buckets/in_c_prof/tables/a.b/profile')).status).toBe(422);
  });
});
