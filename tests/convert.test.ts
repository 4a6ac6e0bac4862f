import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offendingValueSql, strictConversion } from '../src/storage/convert.ts';

/** [source type, target type, input text, expected converted value (JSON form) or the reason it fails]. */
type Case = [string, string, string, unknown];
const fails = (reason: string) => ({ fails: reason });

const CASES: Case[] = [
  ['VARCHAR', 'INTEGER', '12', 12],
  ['VARCHAR', 'INTEGER', ' 7 ', 7],
  ['VARCHAR', 'INTEGER', '+5', 5],
  ['VARCHAR', 'INTEGER', '1.0', 1],
  ['VARCHAR', 'INTEGER', '1e2', 100],
  ['VARCHAR', 'INTEGER', '1.5e1', 15],
  ['VARCHAR', 'INTEGER', '100e-2', 1],
  ['VARCHAR', 'INTEGER', '1.5', fails('not a whole number')],
  ['VARCHAR', 'INTEGER', '-2.5', fails('not a whole number')],
  ['VARCHAR', 'INTEGER', '15e-1', fails('not a whole number')],
  ['VARCHAR', 'INTEGER', '.5', fails('not a whole number')],
  ['VARCHAR', 'INTEGER', '1e400', fails('out of range for INTEGER')],
  ['VARCHAR', 'INTEGER', '2147483648', fails('out of range for INTEGER')],
  ['VARCHAR', 'INTEGER', '-2147483648', -2147483648],
  ['VARCHAR', 'INTEGER', 'abc', fails('not a number')],
  ['VARCHAR', 'INTEGER', '0x10', fails('not a number')],
  ['VARCHAR', 'INTEGER', '', fails('not a number')],
  ['VARCHAR', 'SMALLINT', '32768', fails('out of range for SMALLINT')],
  ['VARCHAR', 'TINYINT', '-128', -128],
  ['VARCHAR', 'UTINYINT', '255', 255],
  ['VARCHAR', 'UTINYINT', '-1', fails('out of range for UTINYINT')],
  ['VARCHAR', 'UTINYINT', '255.5', fails('not a whole number')],
  ['VARCHAR', 'BIGINT', '9223372036854775807', '9223372036854775807'],
  ['VARCHAR', 'BIGINT', '9223372036854775807.5', fails('not a whole number')],
  ['VARCHAR', 'HUGEINT', '170141183460469231731687303715884105727', '170141183460469231731687303715884105727'],
  ['VARCHAR', 'HUGEINT', '170141183460469231731687303715884105728', fails('out of range for HUGEINT')],
  ['VARCHAR', 'UHUGEINT', '1.5', fails('not a whole number')],
  ['DOUBLE', 'BIGINT', '2.0', '2'],
  ['DOUBLE', 'BIGINT', '1.5', fails('not a whole number')],
  ['DOUBLE', 'INTEGER', '-2.5', fails('not a whole number')],
  ['DOUBLE', 'BIGINT', '9.3e18', fails('out of range for BIGINT')],
  ['DOUBLE', 'BIGINT', 'nan', fails('not a number')],
  ['DOUBLE', 'INTEGER', 'inf', fails('out of range for INTEGER')],
  ['FLOAT', 'SMALLINT', '1.5', fails('not a whole number')],
  ['DECIMAL(10,3)', 'INTEGER', '1.500', fails('not a whole number')],
  ['DECIMAL(10,3)', 'INTEGER', '-3.000', -3],
  ['BIGINT', 'TINYINT', '128', fails('out of range for TINYINT')],
  ['VARCHAR', 'DECIMAL(10,2)', '1.235', '1.24'],
  ['VARCHAR', 'DECIMAL(10,2)', '-1.235', '-1.24'],
  ['VARCHAR', 'DECIMAL(10,2)', '1.234', '1.23'],
  ['VARCHAR', 'DECIMAL(10,2)', '123456789012', fails('out of range for DECIMAL(10,2)')],
  ['VARCHAR', 'DECIMAL(10,2)', 'abc', fails('not a number')],
  ['DECIMAL(10,3)', 'DECIMAL(10,2)', '1.235', '1.24'],
  ['DECIMAL(10,3)', 'DECIMAL(10,2)', '-1.235', '-1.24'],
  ['DOUBLE', 'DECIMAL(10,2)', '1.005', '1.01'],
  ['DOUBLE', 'DECIMAL(10,2)', '-1.235', '-1.24'],
  ['DOUBLE', 'DECIMAL(10,2)', 'nan', fails('not a number')],
  ['DOUBLE', 'DECIMAL(4,2)', '100', fails('out of range for DECIMAL(4,2)')],
  ['VARCHAR', 'DOUBLE', '1.5', 1.5],
  ['VARCHAR', 'DOUBLE', '1e400', fails('out of range for DOUBLE')],
  ['VARCHAR', 'DOUBLE', '-1e400', fails('out of range for DOUBLE')],
  ['VARCHAR', 'DOUBLE', '-Infinity', '-Infinity'],
  ['VARCHAR', 'FLOAT', '1e39', fails('out of range for FLOAT')],
  ['DOUBLE', 'FLOAT', '1e300', fails('out of range for FLOAT')],
  ['DOUBLE', 'FLOAT', 'inf', 'Infinity'],
  ['VARCHAR', 'DATE', '2020-02-30', fails('not a date')],
  ['VARCHAR', 'DATE', '2020-02-29', '2020-02-29'],
  // DuckDB's DATE and TIME casts (and its CSV reader) keep what they can read and drop the rest.
  ['VARCHAR', 'DATE', '2026-01-01abc', fails('not a date')],
  ['VARCHAR', 'DATE', '2026-01-01 junk', fails('not a date')],
  ['VARCHAR', 'DATE', '2026-01-01Z', fails('not a date')],
  ['VARCHAR', 'DATE', '20260101', fails('not a date')],
  ['VARCHAR', 'DATE', '', fails('not a date')],
  ['VARCHAR', 'DATE', ' 2026-01-01 ', '2026-01-01'],
  ['VARCHAR', 'DATE', '2026/1/1', '2026-01-01'],
  ['VARCHAR', 'DATE', '2026-01-01 10:00:00', '2026-01-01'],
  ['VARCHAR', 'DATE', '0044-03-15 (BC)', '0044-03-15 (BC)'],
  ['VARCHAR', 'DATE', '300000-01-01', '300000-01-01'],
  ['VARCHAR', 'TIME', '12:30:00', '12:30:00'],
  ['VARCHAR', 'TIME', ' 12:30 ', '12:30:00'],
  ['VARCHAR', 'TIME', '12:30:00.25', '12:30:00.25'],
  ['VARCHAR', 'TIME', '24:00:00', '24:00:00'],
  ['VARCHAR', 'TIME', '12:30:00abc', fails('not a time of day')],
  ['VARCHAR', 'TIME', '12:30:00 junk', fails('not a time of day')],
  ['VARCHAR', 'TIME', '12:61', fails('not a time of day')],
  ['TIMESTAMP', 'DATE', '2026-01-01 10:00:00', '2026-01-01'],
];

describe('strict conversion (convert.ts)', () => {
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

  const source = (type: string) => (type === 'VARCHAR' ? 'SELECT $1::VARCHAR AS x' : `SELECT CAST($1::VARCHAR AS ${type}) AS x`);

  for (const [from, to, input, expected] of CASES) {
    it(`${from} ${JSON.stringify(input)} → ${to}: ${JSON.stringify(expected)}`, async () => {
      const conversion = strictConversion('x', from, to, 'amount');
      const checked = (await c.runAndReadAll(`SELECT ${conversion.invalid}, ${conversion.reason} FROM (${source(from)})`, [input])).getRowsJson()[0]!;
      if (typeof expected === 'object' && expected !== null && 'fails' in expected) {
        expect(checked).toEqual([true, expected.fails]);
        const attempt = c.runAndReadAll(`SELECT ${conversion.value} FROM (${source(from)})`, [input]);
        await expect(attempt).rejects.toThrow(`Cannot convert value ${from === 'VARCHAR' ? JSON.stringify(input) : ''}`.trim());
        await expect(attempt).rejects.toThrow(`of column amount to ${to}: ${expected.fails}`);
      } else {
        expect(checked[0]).toBe(false);
        const value = (await c.runAndReadAll(`SELECT ${conversion.value} FROM (${source(from)})`, [input])).getRowsJson()[0]![0];
        expect(value).toEqual(expected);
      }
    });
  }

  it('reads the infinite dates as DuckDB does', async () => {
    for (const text of ['infinity', '-infinity']) {
      const conversion = strictConversion('x', 'VARCHAR', 'DATE');
      const row = (await c.runAndReadAll(`SELECT ${conversion.value} = CAST(x AS DATE), ${conversion.invalid} FROM (SELECT $1::VARCHAR AS x)`, [text])).getRowsJson()[0];
      expect(row, text).toEqual([true, false]);
    }
  });

  it('keeps NULL as NULL and never fails on it', async () => {
    const conversion = strictConversion('x', 'VARCHAR', 'INTEGER');
    const row = (await c.runAndReadAll(`SELECT ${conversion.value}, ${conversion.invalid} FROM (SELECT NULL::VARCHAR AS x)`)).getRowsJson()[0];
    expect(row).toEqual([null, false]);
  });

  it('fails a whole statement on one bad row among good ones, and finds an example of it', async () => {
    const rows = "(VALUES ('1'), ('2'), (NULL), ('3.5'), ('4')) t(x)";
    await expect(c.runAndReadAll(`SELECT ${strictConversion('x', 'VARCHAR', 'INTEGER').value} FROM ${rows}`)).rejects.toThrow(/"3\.5".*not a whole number/);
    const example = (await c.runAndReadAll(offendingValueSql(rows, 'x', 'VARCHAR', 'INTEGER'))).getRowsJson();
    expect(example).toEqual([['3.5']]);
    expect((await c.runAndReadAll(offendingValueSql("(VALUES ('1'), (NULL)) t(x)", 'x', 'VARCHAR', 'INTEGER'))).getRowsJson()).toEqual([]);
  });
});
