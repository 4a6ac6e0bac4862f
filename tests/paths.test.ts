import { basename, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoragePaths } from '../src/storage/paths.ts';

describe('StoragePaths helpers for suffixed names', () => {
  const paths = new StoragePaths('/srv/data');

  it('builds the create-in-progress name next to the table file, in the form reconciliation removes', () => {
    const table = paths.tableFile('p1', 'in_c_sales', 'orders');
    const creating = paths.creatingTableFile('p1', 'in_c_sales', 'orders');
    expect(dirname(creating)).toBe(dirname(table));
    expect(basename(creating)).toMatch(/^orders\.duckdb\.creating-[0-9a-f-]{36}$/);
    expect(paths.creatingTableFile('p1', 'in_c_sales', 'orders')).not.toBe(creating);
    expect(() => paths.creatingTableFile('p1', 'in_c_sales', '../x')).toThrow();
  });

  it('names the WAL of a file inside the data folder only', () => {
    const table = paths.tableFile('p1', 'b', 't');
    expect(paths.walFile(table)).toBe(`${table}.wal`);
    expect(() => paths.walFile('/etc/passwd')).toThrow();
    expect(() => paths.walFile('/srv/database')).toThrow();
  });

  it('gives staging files fresh names under files/', () => {
    const name = paths.stagingName('import', 'csv');
    expect(name).toMatch(/^import-[0-9a-f-]{36}\.csv$/);
    expect(paths.stagingFile(name)).toBe(`/srv/data/files/${name}`);
    expect(paths.stagingName('export', 'parquet')).not.toBe(paths.stagingName('export', 'parquet'));
    expect(() => paths.stagingName('import', '../csv')).toThrow();
  });
});
