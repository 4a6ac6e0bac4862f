// The attachment registry on its own: sharing, detaching at zero, calling off a queued
// detach, refusing missing files, and blocking users while a file is being removed.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abortableTurn, Mutex } from '../src/storage/mutex.ts';
import { TableGoneError } from '../src/storage/registry.ts';
import { makeApp, statementGate, type TestApp } from './helpers.ts';

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

describe('a read of one table while another table finishes a write (§9: reads never wait for writes to other tables)', () => {
  let app: TestApp;
  let gate: ReturnType<typeof statementGate>;
  beforeAll(async () => {
    app = await makeApp();
    gate = statementGate(app.services);
    await app.createProject('p');
    await app.callJson('POST', '/projects/p/buckets', { body: { name: 'b' } });
    for (const name of ['big', 'small']) {
      expect((await app.callJson('POST', '/projects/p/buckets/b/tables', { body: { name, columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }], primary_key: ['id'] } })).status).toBe(201);
    }
    expect((await app.callJson('POST', '/projects/p/buckets/b/tables/small/import', { raw: 'id,v\n1,a\n', headers: { 'content-type': 'text/csv' } })).status).toBe(200);
    await app.services.registry.settle();
  });
  afterAll(() => app.close());

  it('a preview of another table completes while the written table is still being checkpointed or detached', { timeout: 30_000 }, async () => {
    const bigPath = app.services.paths.tableFile('p', 'b', 'big');
    // Hold whatever writes the import's WAL back into its file: the CHECKPOINT, or the DETACH.
    let bigAlias: string | undefined;
    const held = gate.hold((sql) => {
      const attach = /^ATTACH '(.*)' AS "(t\d+)"$/.exec(sql);
      if (attach && attach[1] === bigPath) bigAlias = attach[2];
      return bigAlias !== undefined && (sql === `CHECKPOINT "${bigAlias}"` || sql === `DETACH "${bigAlias}"`);
    });
    const rows = ['id,v'];
    for (let i = 0; i < 20_000; i++) rows.push(`${i},value ${i}`);
    let importDone = false;
    const importing = app.callJson('POST', '/projects/p/buckets/b/tables/big/import', { raw: `${rows.join('\n')}\n`, headers: { 'content-type': 'text/csv' } }).finally(() => (importDone = true));
    await held.reached;
    // Only breaks a deadlock (the old code's preview waited for the held DETACH): the
    // assertion is about order, not time.
    const breaker = setTimeout(() => held.release(), 10_000);
    try {
      const preview = await app.callJson('GET', '/projects/p/buckets/b/tables/small/preview');
      expect(held.released, 'the preview finished while the other table was still held').toBe(false);
      expect(preview.status).toBe(200);
      expect(preview.body.rows).toEqual([{ id: 1, v: 'a' }]);
      // Filtered reads and exports of the other table do not wait either.
      const filtered = await app.callJson('POST', '/projects/p/buckets/b/tables/small/preview', { body: { filters: [{ column: 'id', operator: 'eq', values: [1] }] } });
      expect(filtered.status).toBe(200);
      expect(held.released).toBe(false);
    } finally {
      clearTimeout(breaker);
      held.release();
    }
    const imported = await importing;
    expect(importDone).toBe(true);
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    expect(imported.body.imported_rows).toBe(20_000);
    await app.services.registry.settle();
    // The write was checkpointed into the file: no WAL is left once it is detached.
    expect(existsSync(`${bigPath}.wal`)).toBe(false);
    expect((await app.callJson('GET', '/projects/p/buckets/b/tables/big/preview?limit=1')).body.total_row_count).toBe(20_000);
  });

  it('the write checkpoints before it lets go of the table: a DETACH right after has no WAL to write back', async () => {
    const smallPath = app.services.paths.tableFile('p', 'b', 'small');
    const { registry } = app.services;
    // Hold the attachment the way a request does, so only the write's own checkpoint can empty the WAL.
    const alias = await registry.acquire(smallPath);
    try {
      await registry.withWriteLock(smallPath, () => app.services.db.with((c) => c.run(`INSERT INTO "${alias}".main.data VALUES (2, 'b')`)));
      expect(existsSync(`${smallPath}.wal`)).toBe(false);
    } finally {
      registry.release(smallPath);
    }
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
