// The attachment registry on its own: sharing, detaching at zero, calling off a queued
// detach, refusing missing files, and blocking users while a file is being removed.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abortableTurn, Mutex } from '../src/storage/mutex.ts';
import { TableGoneError } from '../src/storage/registry.ts';
import { makeApp, type TestApp } from './helpers.ts';

let t: TestApp;
let path: string;

beforeAll(async () => {
  t = await makeApp();
  await t.createProject('p');
  await t.callJson('POST', '/projects/p/buckets', { body: { name: 'b' } });
  await t.callJson('POST', '/projects/p/buckets/b/tables', { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }] } });
  path = t.services.paths.tableFile('p', 'b', 't');
  await t.services.registry.settle();
});
afterAll(() => t.close());

const attachedAliases = async () =>
  t.services.db.with(async (c) => (await c.runAndReadAll("SELECT database_name FROM duckdb_databases() WHERE database_name LIKE 't%'")).getRows().map((r) => String(r[0])));

describe('AttachmentRegistry', () => {
  it('shares one attachment between users and detaches when the last one leaves', async () => {
    const { registry } = t.services;
    const [a, b] = await Promise.all([registry.acquire(path), registry.acquire(path)]);
    expect(a).toBe(b);
    expect(registry.openCount).toBe(1);
    registry.release(path);
    expect(registry.openCount).toBe(1);
    registry.release(path);
    await registry.settle();
    expect(registry.openCount).toBe(0);
    expect(await attachedAliases()).not.toContain(a);
  });

  it('calls off a queued detach when a new user arrives first', async () => {
    const { registry } = t.services;
    const first = await registry.acquire(path);
    registry.release(path); // detach queued
    const second = await registry.acquire(path); // arrives before the detach runs
    expect(second).toBe(first);
    await registry.settle();
    expect(registry.openCount).toBe(1);
    expect(await attachedAliases()).toContain(first);
    registry.release(path);
    await registry.settle();
    expect(registry.openCount).toBe(0);
  });

  it('never creates a missing file', async () => {
    const missing = t.services.paths.tableFile('p', 'b', 'nope');
    await expect(t.services.registry.acquire(missing)).rejects.toBeInstanceOf(TableGoneError);
    expect(existsSync(missing)).toBe(false);
    expect(t.services.registry.openCount).toBe(0);
  });

  it('keeps new users out while a file is held exclusively, and waits for current ones', async () => {
    const { registry } = t.services;
    await registry.acquire(path);
    let ran = false;
    const exclusive = registry.exclusive([path], async () => {
      ran = true;
      expect(registry.openCount).toBe(0);
    });
    await expect(registry.acquire(path)).rejects.toBeInstanceOf(TableGoneError);
    expect(ran).toBe(false);
    registry.release(path);
    await exclusive;
    expect(ran).toBe(true);
    const alias = await registry.acquire(path);
    expect(alias).toMatch(/^t\d+$/);
    registry.release(path);
    await registry.settle();
  });
});

describe('a write-lock wait given up through a signal (a cancelled job)', () => {
  it('rejects while waiting, lets the lock pass on untouched, and never stops work that has started', async () => {
    const lock = new Mutex();
    const take = <T>(turn: () => Promise<T>) => lock.run(turn);
    let release!: () => void;
    const holder = lock.run(() => new Promise<void>((resolve) => (release = resolve)));
    const controller = new AbortController();
    let ranWaiting = false;
    const waiting = abortableTurn(take, async () => {
      ranWaiting = true;
    }, controller.signal);
    const after = lock.run(async () => 'after');
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    release();
    await holder;
    expect(await after).toBe('after');
    expect(ranWaiting).toBe(false);

    // Aborted once its work runs: the work's own outcome is the answer.
    const late = new AbortController();
    let finish!: (value: string) => void;
    const running = abortableTurn(take, () => new Promise<string>((resolve) => (finish = resolve)), late.signal);
    await new Promise((resolve) => setImmediate(resolve));
    late.abort(new Error('too late'));
    finish('done');
    expect(await running).toBe('done');
  });

  it("the registry's table write lock gives up the wait the same way", async () => {
    const app = await makeApp();
    try {
      const path = app.services.paths.tableFile('p', 'b', 'locked');
      let release!: () => void;
      const holder = app.services.registry.withWriteLock(path, () => new Promise<void>((resolve) => (release = resolve)));
      const controller = new AbortController();
      let ran = false;
      const waiting = app.services.registry.withWriteLock(path, async () => {
        ran = true;
      }, controller.signal);
      controller.abort(new Error('cancelled'));
      await expect(waiting).rejects.toThrow('cancelled');
      release();
      await holder;
      expect(ran).toBe(false);
      expect(await app.services.registry.withWriteLock(path, async () => 'next')).toBe('next');
    } finally {
      await app.close();
    }
  });
});
