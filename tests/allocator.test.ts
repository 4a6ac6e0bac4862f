// DuckDB's allocator options (src/storage/db.ts) hold for the whole process only if every
// instance the service opens carries them: the allocator's background threads are one
// switch for the process, and an instance opened without the option turns them off again
// (a query sandbox opened at start did, and idle memory stayed high).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInstance } from '../src/storage/db.ts';
import { makeApp, walk, type TestApp } from './helpers.ts';

const setting = (rows: unknown[][]) => String(rows[0]![0]);

describe('DuckDB instances and the allocator options', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.close());

  it('openInstance keeps the caller options and adds the allocator ones', async () => {
    const instance = await openInstance(':memory:', { threads: '1', memory_limit: '64MB' });
    try {
      const c = await instance.connect();
      const read = async (name: string) => setting((await c.runAndReadAll(`SELECT current_setting('${name}')`)).getRows());
      expect(await read('allocator_background_threads')).toBe('true');
      expect(await read('threads')).toBe('1');
      // 32 MB and 16 MB, as DuckDB shows them in MiB.
      expect(await read('allocator_flush_threshold')).toBe('30.5 MiB');
      expect(await read('allocator_bulk_deallocation_flush_threshold')).toBe('15.2 MiB');
      c.closeSync();
    } finally {
      instance.closeSync();
    }
  });

  it('the query sandbox instance opened at start has them too', async () => {
    const value = await t.services.sql.withParser(async (c) => setting((await c.runAndReadAll("SELECT current_setting('allocator_background_threads')")).getRows()));
    expect(value).toBe('true');
  });

  it('no module of the service opens an instance any other way', async () => {
    const root = join(import.meta.dirname, '..');
    const offenders: string[] = [];
    for (const dir of ['src', 'handlers']) {
      for (const rel of (await walk(join(root, dir))).map((path) => `${dir}/${path}`)) {
        // The CLI runs in a process of its own; db.ts is where openInstance lives.
        if (!rel.endsWith('.ts') || rel === 'src/storage/db.ts' || rel.startsWith('src/cli/')) continue;
        if ((await readFile(join(root, rel), 'utf8')).includes('DuckDBInstance.create(')) offenders.push(rel);
      }
    }
    expect(offenders).toEqual([]);
  });
});
