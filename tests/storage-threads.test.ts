// The storage instance (the one the table files are attached to) runs DUCKDB_THREADS
// threads but at most one per CPU core: threads beyond the cores only spin around small
// statements (src/storage/db.ts, `storageThreads`). The query sandbox keeps its own count.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { storageThreads } from '../src/storage/db.ts';
import { makeApp } from './helpers.ts';

const threadsOf = async (t: Awaited<ReturnType<typeof makeApp>>) =>
  Number((await t.services.db.with((c) => c.runAndReadAll("SELECT current_setting('threads')"))).getRows()[0]![0]);

describe('threads of the storage instance', () => {
  it('are DUCKDB_THREADS, capped at the core count', () => {
    expect(storageThreads(4, 2)).toBe(2);
    expect(storageThreads(4, 8)).toBe(4);
    expect(storageThreads(1, 2)).toBe(1);
    expect(storageThreads(3, 1)).toBe(1);
  });

  it('an instance opened with more threads than cores runs one per core', async () => {
    const t = await makeApp({ env: { DUCKDB_THREADS: String(availableParallelism() + 6) } });
    try {
      expect(await threadsOf(t)).toBe(availableParallelism());
    } finally {
      await t.close();
    }
  });

  it('an instance opened with one thread keeps one', async () => {
    const t = await makeApp({ env: { DUCKDB_THREADS: '1' } });
    try {
      expect(await threadsOf(t)).toBe(1);
    } finally {
      await t.close();
    }
  });
});
