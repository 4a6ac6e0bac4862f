import { join } from 'node:path';
import { DuckDBInstance, DuckDBTimestampTZValue, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonRows } from '../src/storage/read.ts';
import { toJsonValue } from '../src/storage/values.ts';
import { makeApp, type TestApp } from './helpers.ts';

describe('toJsonValue: the §7 JSON mapping, on values from an in-memory DuckDB', () => {
  let instance: DuckDBInstance;
  let c: DuckDBConnection;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    c = await instance.connect();
  });
  afterAll(() => {
    c.closeSync();
    instance.closeSync();
  });

  /** One SQL expression → its mapped JSON value (through toJsonValue with the column type). */
  async function map(expression: string): Promise<unknown> {
    const reader = await c.runAndReadAll(`SELECT ${expression} AS v`);
    return toJsonValue(reader.getRows()[0]![0]!, reader.columnTypes()[0]);
  }

  const cases: [string, string, unknown][] = [
    // NULL of any type
    ['NULL integer', 'NULL::INTEGER', null],
    ['NULL varchar', 'NULL::VARCHAR', null],
    ['NULL json', 'NULL::JSON', null],
    ['NULL decimal', 'NULL::DECIMAL(10,2)', null],
    // BOOLEAN
    ['true', 'true', true],
    ['false', 'false', false],
    // integers
    ['TINYINT', '-12::TINYINT', -12],
    ['SMALLINT', '32000::SMALLINT', 32000],
    ['INTEGER', '(-2147483647)::INTEGER', -2147483647],
    ['UINTEGER', '4294967295::UINTEGER', 4294967295],
    ['BIGINT small', '42::BIGINT', 42],
    ['BIGINT 2^53-1', '9007199254740991::BIGINT', 9007199254740991],
    ['BIGINT -(2^53-1)', '-9007199254740991::BIGINT', -9007199254740991],
    ['BIGINT 2^53', '9007199254740992::BIGINT', '9007199254740992'],
    ['BIGINT -2^53', '-9007199254740992::BIGINT', '-9007199254740992'],
    ['BIGINT max', '9223372036854775807::BIGINT', '9223372036854775807'],
    ['BIGINT min', '(-9223372036854775807::BIGINT - 1)', '-9223372036854775808'],
    ['UBIGINT small', '7::UBIGINT', 7],
    ['UBIGINT max', '18446744073709551615::UBIGINT', '18446744073709551615'],
    ['HUGEINT small', '-5::HUGEINT', -5],
    ['HUGEINT max', '170141183460469231731687303715884105727::HUGEINT', '170141183460469231731687303715884105727'],
    ['HUGEINT 2^53', '9007199254740992::HUGEINT', '9007199254740992'],
    ['UHUGEINT max', '340282366920938463463374607431768211455::UHUGEINT', '340282366920938463463374607431768211455'],
    // floating point
    ['DOUBLE', '1.25::DOUBLE', 1.25],
    ['DOUBLE negative', '-0.5::DOUBLE', -0.5],
    ['FLOAT', '1.5::FLOAT', 1.5],
    ['DOUBLE NaN', "'NaN'::DOUBLE", 'NaN'],
    ['DOUBLE Infinity', "'Infinity'::DOUBLE", 'Infinity'],
    ['DOUBLE -Infinity', "'-Infinity'::DOUBLE", '-Infinity'],
    ['FLOAT NaN', "'NaN'::FLOAT", 'NaN'],
    ['FLOAT Infinity', "'inf'::FLOAT", 'Infinity'],
    ['FLOAT -Infinity', "'-inf'::FLOAT", '-Infinity'],
    // DECIMAL: exact text, scale kept
    ['DECIMAL 12.50', '12.5::DECIMAL(10,2)', '12.50'],
    ['DECIMAL zero', '0::DECIMAL(10,2)', '0.00'],
    ['DECIMAL negative', '-0.5::DECIMAL(4,2)', '-0.50'],
    ['DECIMAL scale 0', '123::DECIMAL(5,0)', '123'],
    ['DECIMAL(18,4)', '-12345678901234.5678::DECIMAL(18,4)', '-12345678901234.5678'],
    ['DECIMAL(38,3)', '12345678901234567890123456789012345.678::DECIMAL(38,3)', '12345678901234567890123456789012345.678'],
    // text, UUID
    ['VARCHAR', "'héllo \"x\"'", 'héllo "x"'],
    ['VARCHAR that looks like JSON stays text', "'{\"a\":1}'::VARCHAR", '{"a":1}'],
    ['UUID', "'550e8400-e29b-41d4-a716-446655440000'::UUID", '550e8400-e29b-41d4-a716-446655440000'],
    // dates and times
    ['DATE', "DATE '2026-11-29'", '2026-11-29'],
    ['TIME', "TIME '12:30:00'", '12:30:00'],
    ['TIME midnight', "TIME '00:00:00'", '00:00:00'],
    ['TIMESTAMP', "TIMESTAMP '2026-11-29 12:30:00'", '2026-11-29T12:30:00'],
    ['TIMESTAMP fraction', "TIMESTAMP '2026-11-29 12:30:00.123456'", '2026-11-29T12:30:00.123456'],
    ['TIMESTAMP ms fraction', "TIMESTAMP '2026-11-29 12:30:00.5'", '2026-11-29T12:30:00.5'],
    ['TIMESTAMPTZ UTC', "TIMESTAMPTZ '2026-11-29 12:30:00+00'", '2026-11-29T12:30:00Z'],
    ['TIMESTAMPTZ offset', "TIMESTAMPTZ '2026-11-29 14:30:00.25+02'", '2026-11-29T12:30:00.25Z'],
    // JSON: parsed
    ['JSON object', `'{"a":[1,2,{"b":null}],"c":"x"}'::JSON`, { a: [1, 2, { b: null }], c: 'x' }],
    ['JSON array', "'[1,\"two\",true]'::JSON", [1, 'two', true]],
    ['JSON string', `'"str"'::JSON`, 'str'],
    ['JSON number', "'3.5'::JSON", 3.5],
    ['JSON null', "'null'::JSON", null],
    // BLOB: base64
    ['BLOB', "'\\x00\\xFFab'::BLOB", 'AP9hYg=='],
    ['BLOB empty', "''::BLOB", ''],
    // INTERVAL: ISO 8601 duration
    ['INTERVAL full', "INTERVAL '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds'", 'P1Y2M3DT4H5M6.5S'],
    ['INTERVAL zero', "INTERVAL '0 seconds'", 'PT0S'],
    ['INTERVAL days', "INTERVAL '1 day'", 'P1D'],
    ['INTERVAL hours', "INTERVAL '36 hours'", 'PT36H'],
    ['INTERVAL months', "INTERVAL '13 months'", 'P1Y1M'],
    ['INTERVAL micro', "INTERVAL '0.000001 seconds'", 'PT0.000001S'],
    // nested types, mapped element by element
    ['LIST', '[1, 2, NULL]::INTEGER[]', [1, 2, null]],
    ['LIST of big integers', '[9007199254740993::BIGINT, 1]', ['9007199254740993', 1]],
    ['LIST of decimals', '[1.5::DECIMAL(4,2)]', ['1.50']],
    ['LIST of JSON', `['{"x":1}'::JSON]`, [{ x: 1 }]],
    ['ARRAY', '[1, 2]::INTEGER[2]', [1, 2]],
    ['STRUCT', "{'a': 1, 'b': 'x', 'c': DATE '2026-01-01', 'd': NULL::INTEGER}", { a: 1, b: 'x', c: '2026-01-01', d: null }],
    ['STRUCT with JSON', `{'j': '{"q":2}'::JSON}`, { j: { q: 2 } }],
    ['STRUCT nested', "{'outer': {'inner': [TIMESTAMP '2026-11-29 12:30:00']}}", { outer: { inner: ['2026-11-29T12:30:00'] } }],
    ['LIST of STRUCT with JSON', `[{'x': '[1]'::JSON}]`, [{ x: [1] }]],
    ['MAP', "MAP {'k1': 1.5::DECIMAL(4,2), 'k2': NULL}", { k1: '1.50', k2: null }],
    ['MAP integer keys', "MAP {1: 'a', 2: 'b'}", { '1': 'a', '2': 'b' }],
    ['MAP with JSON values', `MAP {'k': '{"a":1}'::JSON}`, { k: { a: 1 } }],
  ];

  for (const [label, expression, expected] of cases) {
    it(`${label}: ${expression}`, async () => {
      expect(await map(expression)).toEqual(expected);
    });
  }

  it('TIMESTAMPTZ is UTC with Z whatever the host time zone (node-api formats in local time)', async () => {
    const saved = DuckDBTimestampTZValue.timezoneOffsetInMinutes;
    try {
      for (const offset of [120, -300, 330]) {
        DuckDBTimestampTZValue.timezoneOffsetInMinutes = offset;
        expect(await map("TIMESTAMPTZ '2026-11-29 12:30:00+00'")).toBe('2026-11-29T12:30:00Z');
        expect(await map("TIMESTAMPTZ '2026-01-01 00:30:00.5+01'")).toBe('2025-12-31T23:30:00.5Z');
      }
    } finally {
      DuckDBTimestampTZValue.timezoneOffsetInMinutes = saved;
    }
  });

  it('infinite timestamps stay words, with no Z appended', async () => {
    expect(await map("'infinity'::TIMESTAMPTZ")).toBe('infinity');
    expect(await map("'-infinity'::TIMESTAMPTZ")).toBe('-infinity');
    expect(await map("'infinity'::TIMESTAMP")).toBe('infinity');
  });

  it('every mapped value is plain JSON (survives a round trip unchanged)', async () => {
    for (const [, expression] of cases) {
      const value = await map(expression);
      expect(JSON.parse(JSON.stringify(value))).toEqual(value);
    }
  });

  it('readJsonRows maps every column of every row by its type', async () => {
    const rows = await readJsonRows(
      c,
      `SELECT i AS n, i::BIGINT * 9007199254740991 AS big, ('{"k":' || i || '}')::JSON AS j, i::DECIMAL(5,1) AS d FROM range(1, 3) r(i) ORDER BY i`,
    );
    expect(rows).toEqual([
      { n: 1, big: 9007199254740991, j: { k: 1 }, d: '1.0' },
      { n: 2, big: '18014398509481982', j: { k: 2 }, d: '2.0' },
    ]);
  });

  it('readJsonRows binds parameters', async () => {
    expect(await readJsonRows(c, 'SELECT $1::INTEGER + 1 AS x', [41])).toEqual([{ x: 42 }]);
  });
});

describe('preview maps every column type of a real table end to end', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b' } });
  });
  afterAll(() => t.close());

  it('rows inserted through DuckDB come back as the contract says', async () => {
    const columns = [
      ['id', 'INTEGER'],
      ['flag', 'BOOLEAN'],
      ['small', 'BIGINT'],
      ['big', 'BIGINT'],
      ['huge', 'HUGEINT'],
      ['ubig', 'UBIGINT'],
      ['dbl', 'DOUBLE'],
      ['flt', 'FLOAT'],
      ['money', 'NUMERIC(10,2)'],
      ['day', 'DATE'],
      ['clock', 'TIME'],
      ['ts', 'TIMESTAMP'],
      ['tsf', 'TIMESTAMP'],
      ['tz', 'TIMESTAMPTZ'],
      ['doc', 'JSON'],
      ['uid', 'UUID'],
      ['bin', 'BLOB'],
      ['span', 'INTERVAL'],
      ['txt', 'TEXT'],
    ];
    const created = await t.callJson('POST', '/projects/p1/buckets/b/tables', {
      body: { name: 'typed', columns: columns.map(([name, type]) => ({ name, type })), primary_key: ['id'] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    const path = join(t.dataDir, 'duckdb', 'project_p1', 'b', 'typed.duckdb');
    const { registry, db } = t.services;
    await registry.withWriteLock(path, async () => {
      const alias = await registry.acquire(path);
      try {
        await db.with((c) =>
          c.run(`INSERT INTO "${alias}".main.data VALUES
            (1, true, 9007199254740991, 9007199254740993, 170141183460469231731687303715884105727, 18446744073709551615,
             'NaN', 'Infinity', 12.5, '2026-11-29', '12:30:00', '2026-11-29 12:30:00', '2026-11-29 12:30:00.250',
             '2026-11-29 13:30:00+01', '{"a":[1,{"b":true}]}', '550e8400-e29b-41d4-a716-446655440000', '\\x00\\xFFab',
             INTERVAL '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds', 'plain'),
            (2, false, -9007199254740991, -9007199254740993, -1, 0, -1.5, '-Infinity', -0.5, '1999-01-01', '00:00:00',
             '1999-01-01 00:00:00', '1999-01-01 00:00:00.000001', '1999-01-01 00:00:00+00', '[1,2]', '00000000-0000-0000-0000-000000000000',
             '', INTERVAL '0 seconds', '{"not":"json"}'),
            (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`),
        );
      } finally {
        registry.release(path);
      }
    });

    const res = await t.callJson('GET', '/projects/p1/buckets/b/tables/typed/preview');
    expect(res.status).toBe(200);
    expect(res.body.columns.map((col: any) => col.type)).toEqual([
      'INTEGER', 'BOOLEAN', 'BIGINT', 'BIGINT', 'HUGEINT', 'UBIGINT', 'DOUBLE', 'FLOAT', 'DECIMAL(10,2)', 'DATE', 'TIME',
      'TIMESTAMP', 'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE', 'JSON', 'UUID', 'BLOB', 'INTERVAL', 'VARCHAR',
    ]);
    expect(res.body.total_row_count).toBe(3);
    const byId = Object.fromEntries(res.body.rows.map((row: any) => [row.id, row]));
    expect(byId[1]).toEqual({
      id: 1,
      flag: true,
      small: 9007199254740991,
      big: '9007199254740993',
      huge: '170141183460469231731687303715884105727',
      ubig: '18446744073709551615',
      dbl: 'NaN',
      flt: 'Infinity',
      money: '12.50',
      day: '2026-11-29',
      clock: '12:30:00',
      ts: '2026-11-29T12:30:00',
      tsf: '2026-11-29T12:30:00.25',
      tz: '2026-11-29T12:30:00Z',
      doc: { a: [1, { b: true }] },
      uid: '550e8400-e29b-41d4-a716-446655440000',
      bin: 'AP9hYg==',
      span: 'P1Y2M3DT4H5M6.5S',
      txt: 'plain',
    });
    expect(byId[2]).toEqual({
      id: 2,
      flag: false,
      small: -9007199254740991,
      big: '-9007199254740993',
      huge: -1,
      ubig: 0,
      dbl: -1.5,
      flt: '-Infinity',
      money: '-0.50',
      day: '1999-01-01',
      clock: '00:00:00',
      ts: '1999-01-01T00:00:00',
      tsf: '1999-01-01T00:00:00.000001',
      tz: '1999-01-01T00:00:00Z',
      doc: [1, 2],
      uid: '00000000-0000-0000-0000-000000000000',
      bin: '',
      span: 'PT0S',
      txt: '{"not":"json"}',
    });
    expect(byId[3]).toEqual(Object.fromEntries(columns.map(([name]) => [name, name === 'id' ? 3 : null])));
  });
});

describe('fast formatting of timestamps and decimals agrees with DuckDB', () => {
  let instance: DuckDBInstance;
  let c: DuckDBConnection;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    c = await instance.connect();
    await c.run("SET TimeZone = 'UTC'");
  });
  afterAll(() => {
    c.closeSync();
    instance.closeSync();
  });

  it('maps TIMESTAMP and TIMESTAMPTZ exactly as DuckDB prints them (T separator, Z for UTC)', async () => {
    // Random instants across years 1..9999, with and without fractions, plus the edges.
    const reader = await c.runAndReadAll(`
      SELECT ts, ts::TIMESTAMPTZ AS tz, CAST(ts AS VARCHAR) AS text FROM (
        SELECT make_timestamp(CAST(floor(random() * 253402300799999999) - 62135596800000000 AS BIGINT)) AS ts FROM range(2000)
        UNION ALL SELECT make_timestamp(CAST(floor(random() * 1000) AS BIGINT) * 1000000 + CAST(floor(random() * 3) AS BIGINT) * 250000) FROM range(50)
        UNION ALL SELECT TIMESTAMP '0001-01-01 00:00:00'
        UNION ALL SELECT TIMESTAMP '9999-12-31 23:59:59.999999'
        UNION ALL SELECT TIMESTAMP '1969-12-31 23:59:59.000001'
        UNION ALL SELECT TIMESTAMP '1970-01-01 00:00:00.5'
      )`);
    const types = reader.columnTypes();
    for (const [ts, tz, text] of reader.getRows()) {
      const expected = String(text).replace(' ', 'T');
      expect(toJsonValue(ts!, types[0])).toBe(expected);
      expect(toJsonValue(tz!, types[1])).toBe(`${expected}Z`);
    }
  });

  it('maps DECIMAL to its exact text for every scale and sign', async () => {
    const reader = await c.runAndReadAll(`
      SELECT d4, CAST(d4 AS VARCHAR), d18, CAST(d18 AS VARCHAR), d38, CAST(d38 AS VARCHAR), d0, CAST(d0 AS VARCHAR) FROM (
        SELECT (random() * 199 - 99.5)::DECIMAL(4,2) AS d4, (random() * 2e6 - 1e6)::DECIMAL(18,6) AS d18,
               (random() * 2e20 - 1e20)::DECIMAL(38,10) AS d38, (random() * 2e6 - 1e6)::DECIMAL(9,0) AS d0 FROM range(2000)
        UNION ALL SELECT -0.05, 0.000001, -0.0000000001, 0
        UNION ALL SELECT 99.99, -999999999999.999999, 9999999999999999999999999999.9999999999, -999999999
      )`);
    const types = reader.columnTypes();
    for (const row of reader.getRows()) {
      for (let i = 0; i < row.length; i += 2) expect(toJsonValue(row[i]!, types[i])).toBe(String(row[i + 1]));
    }
  });
});
