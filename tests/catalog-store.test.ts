// The catalog's write path on its own: writes queued while one commits share the next
// transaction (group commit), each still runs in order and sees the ones before it, a write
// whose SQL fails is refused alone, and what was answered as written is in the file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CatalogStore } from '../src/storage/catalog/store.ts';
import { Database } from '../src/storage/db.ts';

let root: string;
let db: Database;
let store: CatalogStore;
/** Every COMMIT run on the database's connections. */
let commits: number;
/** Every statement text prepared on them. */
let prepares: string[];

async function open(): Promise<void> {
  db = await Database.open(join(root, 'metadata.duckdb'), { threads: 2, memoryLimit: '256MB' });
  const acquire = db.acquire.bind(db);
  const wrapped = new WeakSet<object>();
  db.acquire = async () => {
    const c = await acquire();
    if (!wrapped.has(c)) {
      wrapped.add(c);
      const run = c.run.bind(c);
      c.run = ((sql: string, ...rest: unknown[]) => {
        if (sql === 'COMMIT') commits++;
        return (run as (...a: unknown[]) => ReturnType<typeof c.run>)(sql, ...rest);
      }) as typeof c.run;
      const prepare = c.prepare.bind(c);
      c.prepare = ((sql: string) => {
        prepares.push(sql);
        return prepare(sql);
      }) as typeof c.prepare;
    }
    return c;
  };
  store = new CatalogStore(db);
}

const rows = async () => db.with(async (c) => (await c.runAndReadAll('SELECT k, v FROM kv ORDER BY k')).getRowObjectsJS());

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'dsa-store-'));
  commits = 0;
  prepares = [];
  await open();
  await db.with((c) => c.run('CREATE TABLE kv (k VARCHAR PRIMARY KEY, v INTEGER)'));
});
afterEach(async () => {
  db.close();
  await rm(root, { recursive: true, force: true });
});

describe('CatalogStore group commit', () => {
  it('writes queued while one commits share one COMMIT; every one is applied in order and in the file after a reopen', async () => {
    const memory: string[] = [];
    const writes = Array.from({ length: 20 }, (_, i) => store.commit([['INSERT INTO kv VALUES ($1, $2)', [`k${String(i).padStart(2, '0')}`, i]]], () => memory.push(`k${i}`)));
    await Promise.all(writes);
    expect(memory).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`));
    // The first runs alone; the other 19 queued behind it and go in far fewer transactions.
    expect(commits).toBeLessThan(20);
    expect(commits).toBeGreaterThanOrEqual(2);
    db.close();
    await open();
    expect((await rows()).length).toBe(20);
  });

  it('a later write of a group sees the earlier ones applied (its guard and its statements are built from memory)', async () => {
    let counter = 0;
    const bump = () =>
      store.commit(
        () => [['INSERT OR REPLACE INTO kv VALUES ($1, $2)', ['counter', counter + 1]]],
        () => counter++,
        () => {
          if (counter >= 5) throw new Error('full');
        },
      );
    const results = await Promise.allSettled(Array.from({ length: 8 }, bump));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected']);
    expect(counter).toBe(5);
    expect(await rows()).toEqual([{ k: 'counter', v: 5 }]);
  });

  it('a write whose SQL fails is refused alone: the writes before and after it in the queue commit', async () => {
    await store.commit([['INSERT INTO kv VALUES ($1, $2)', ['taken', 0]]], () => {});
    const applied: string[] = [];
    const write = (k: string) => store.commit([['INSERT INTO kv VALUES ($1, $2)', [k, 1]]], () => applied.push(k));
    const results = await Promise.allSettled([write('a'), write('b'), write('taken'), write('c'), write('d')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason.message).toMatch(/constraint|duplicate/i);
    expect(applied).toEqual(['a', 'b', 'c', 'd']);
    expect((await rows()).map((r) => r.k)).toEqual(['a', 'b', 'c', 'd', 'taken']);
  });

  it('a write whose later statement fails leaves none of its statements behind; the rest of its group commits', async () => {
    await store.commit([['INSERT INTO kv VALUES ($1, $2)', ['taken', 0]]], () => {});
    const applied: string[] = [];
    const ok = (k: string) => store.commit([['INSERT INTO kv VALUES ($1, $2)', [k, 1]]], () => applied.push(k));
    const halfway = store.commit(
      [
        ['INSERT INTO kv VALUES ($1, $2)', ['half', 1]],
        ['INSERT INTO kv VALUES ($1, $2)', ['taken', 1]],
      ],
      () => applied.push('half'),
    );
    const results = await Promise.allSettled([ok('a'), ok('b'), halfway, ok('c')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(applied).toEqual(['a', 'b', 'c']);
    expect((await rows()).map((r) => r.k)).toEqual(['a', 'b', 'c', 'taken']);
  });

  it('runs a statement text through one prepared statement with fresh values each time, prepared again after it failed', async () => {
    const insert = 'INSERT INTO kv VALUES ($1, $2)';
    for (let i = 0; i < 5; i++) await store.commit([[insert, [`k${i}`, i]]], () => {});
    await store.commit([['UPDATE kv SET v = $2 WHERE k = $1', ['k1', 10]]], () => {});
    await store.commit([['UPDATE kv SET v = $2 WHERE k = $1', ['k2', 20]]], () => {});
    expect(prepares.filter((sql) => sql === insert)).toHaveLength(1);
    expect(prepares.filter((sql) => sql.startsWith('UPDATE'))).toHaveLength(1);
    await expect(store.commit([[insert, ['k0', 0]]], () => {})).rejects.toThrow(/constraint|duplicate/i);
    await store.commit([[insert, ['k5', 5]]], () => {});
    expect(prepares.filter((sql) => sql === insert)).toHaveLength(2);
    expect(await rows()).toEqual([
      { k: 'k0', v: 0 },
      { k: 'k1', v: 10 },
      { k: 'k2', v: 20 },
      { k: 'k3', v: 3 },
      { k: 'k4', v: 4 },
      { k: 'k5', v: 5 },
    ]);
  });
});
