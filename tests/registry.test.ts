// The attachment registry on its own: sharing, detaching at zero, calling off a queued
// detach, refusing missing files, and blocking users while a file is being removed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abortableTurn, Mutex } from '../src/storage/mutex.ts';
import { Database } from '../src/storage/db.ts';
import { AttachmentRegistry, TableGoneError } from '../src/storage/registry.ts';
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

  it('GET T shows the size the file has once the checkpoint after its last write is done (the same size around a refused request); the write answers before it', async () => {
    const T = '/projects/p/buckets/b/tables/small';
    const path = app.services.paths.tableFile('p', 'b', 'small');
    await app.services.registry.settle();
    let alias: string | undefined;
    const held = gate.hold((sql) => {
      const attach = /^ATTACH '(.*)' AS "(t\d+)"$/.exec(sql);
      if (attach && attach[1] === path) alias = attach[2];
      return alias !== undefined && sql === `CHECKPOINT "${alias}"`;
    });
    const rows = ['id,v'];
    for (let i = 100; i < 3000; i++) rows.push(`${i},value ${i}`);
    let got: { status: number; body: any } | undefined;
    try {
      // The import answers while its checkpoint is held.
      const imported = await app.callJson('POST', `${T}/import?incremental=true`, { raw: `${rows.join('\n')}\n`, headers: { 'content-type': 'text/csv' } });
      expect(imported.status).toBe(200);
      await held.reached;
      expect(existsSync(`${path}.wal`)).toBe(true);
      const reading = app.callJson('GET', T).then((r) => (got = r));
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(got, 'GET T waits for the checkpoint').toBeUndefined();
      held.release();
      await reading;
    } finally {
      held.release();
    }
    await app.services.registry.writesSettled();
    const onDisk = (await import('node:fs')).statSync(path).size;
    expect(existsSync(`${path}.wal`)).toBe(false);
    expect(got!.body.size_bytes).toBe(onDisk);
    // A refused import between two reads: the table object is the same, size included.
    const before = await app.callJson('GET', T);
    expect((await app.callJson('POST', `${T}/import?incremental=true`, { raw: 'id,v\n1.5,x\n', headers: { 'content-type': 'text/csv' } })).status).toBe(400);
    expect((await app.callJson('GET', T)).body).toEqual(before.body);
    expect((await app.callJson('GET', '/projects/p/buckets/b/tables')).body.tables.find((t: { name: string }) => t.name === 'small')).toEqual(before.body);
  });

  it('the write checkpoints before it lets go of the table: a DETACH right after has no WAL to write back', async () => {
    const smallPath = app.services.paths.tableFile('p', 'b', 'small');
    const { registry } = app.services;
    // Hold the attachment the way a request does, so only the write's own checkpoint can empty the WAL.
    const alias = await registry.acquire(smallPath);
    try {
      await registry.withWriteLock(smallPath, () => app.services.db.with((c) => c.run(`INSERT INTO "${alias}".main.data VALUES (2, 'b')`)));
      // The writer has its answer before the checkpoint; the next holder of the lock finds it done.
      await registry.withWriteLock(smallPath, async () => {
        expect(existsSync(`${smallPath}.wal`)).toBe(false);
      });
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

// ---- warm attachments ----------------------------------------------------------------

const columns = [
  { name: 'id', type: 'INTEGER' },
  { name: 'v', type: 'VARCHAR' },
];
const csv = (from: number, to: number) => {
  const lines = ['id,v'];
  for (let i = from; i <= to; i++) lines.push(`${i},v${i}`);
  return `${lines.join('\n')}\n`;
};
/** The aliases of table files attached in the given database. */
const aliasesIn = async (db: Database) =>
  db.with(async (c) => (await c.runAndReadAll("SELECT database_name FROM duckdb_databases() WHERE regexp_full_match(database_name, 't[0-9]+')")).getRows().map((r) => String(r[0])));

/** Opens `file` read-write from a separate process (file locks are per process); its exit code and output. */
function openElsewhere(file: string): { status: number | null; output: string } {
  const script = `
    const { DuckDBInstance } = require('@duckdb/node-api');
    DuckDBInstance.create(process.argv[1]).then(async (db) => {
      const c = await db.connect();
      await c.run('INSERT INTO data VALUES (999, \\'outside\\')');
      const rows = (await c.runAndReadAll('SELECT count(*)::INTEGER FROM data')).getRows();
      console.log('rows=' + rows[0][0]);
      c.closeSync(); db.closeSync();
    }, (e) => { console.log('failed: ' + e.message); process.exit(3); });`;
  const run = spawnSync(process.execPath, ['-e', script, file], { cwd: process.cwd(), encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('warm attachments: files stay attached after use, within a timeout and a cap', () => {
  let app: TestApp;
  const T = '/projects/p/buckets/b/tables';
  beforeAll(async () => {
    // A long timeout: every file used stays attached until something needs it exclusively.
    app = await makeApp({ env: { TABLE_IDLE_DETACH_MS: '600000' } });
    await app.createProject('p');
    await app.callJson('POST', '/projects/p/buckets', { body: { name: 'b' } });
  });
  afterAll(() => app.close());

  const makeTable = async (name: string, rows: number) => {
    expect((await app.callJson('POST', T, { body: { name, columns, primary_key: ['id'] } })).status).toBe(201);
    if (rows) expect((await app.callJson('POST', `${T}/${name}/import`, { raw: csv(1, rows), headers: { 'content-type': 'text/csv' } })).status).toBe(200);
    const preview = await app.callJson('GET', `${T}/${name}/preview?limit=1`);
    expect(preview.body.total_row_count).toBe(rows);
  };

  it('a preview leaves the file attached; the next one reuses the attachment', async () => {
    await makeTable('reuse', 3);
    const path = app.services.paths.tableFile('p', 'b', 'reuse');
    const { registry } = app.services;
    const alias = await registry.acquire(path);
    registry.release(path);
    expect(await aliasesIn(app.services.db)).toContain(alias);
    const again = await app.callJson('GET', `${T}/reuse/preview`);
    expect(again.body.rows).toHaveLength(3);
    expect(await registry.acquire(path)).toBe(alias);
    registry.release(path);
  });

  it('DELETE of a warm table detaches it first: the file goes, and a new table of that name starts empty', async () => {
    await makeTable('gone', 5);
    const path = app.services.paths.tableFile('p', 'b', 'gone');
    const alias = await app.services.registry.acquire(path);
    app.services.registry.release(path);
    expect(await aliasesIn(app.services.db)).toContain(alias);
    expect((await app.call('DELETE', `${T}/gone`)).status).toBe(204);
    expect(existsSync(path)).toBe(false);
    expect(await aliasesIn(app.services.db)).not.toContain(alias);
    await makeTable('gone', 0);
    expect((await app.callJson('GET', `${T}/gone/preview`)).body.rows).toEqual([]);
  });

  it('a snapshot of a warm table holds its rows; a restore over the warm table replaces what readers see', async () => {
    await makeTable('snap', 4);
    const created = await app.callJson('POST', `${T}/snap/snapshots`, { body: { description: 'warm' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // Changed after the snapshot, while still warm.
    expect((await app.callJson('POST', `${T}/snap/import?incremental=true`, { raw: csv(5, 9), headers: { 'content-type': 'text/csv' } })).status).toBe(200);
    expect((await app.callJson('GET', `${T}/snap/preview?limit=1`)).body.total_row_count).toBe(9);
    const restored = await app.callJson('POST', `/projects/p/snapshots/${created.body.id}/restore`, { body: { overwrite: true } });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    const after = await app.callJson('GET', `${T}/snap/preview`);
    expect(after.body.total_row_count).toBe(4);
    expect(after.body.rows.map((r: { id: number }) => r.id).sort()).toEqual([1, 2, 3, 4]);
  });

  it('a write to a warm table is checkpointed into the file before the write lock goes', async () => {
    await makeTable('wal', 2);
    const path = app.services.paths.tableFile('p', 'b', 'wal');
    expect((await app.callJson('POST', `${T}/wal/import?incremental=true`, { raw: csv(3, 4), headers: { 'content-type': 'text/csv' } })).status).toBe(200);
    // Still attached (warm), yet once the write lock is free again the file alone holds
    // every row: nothing waits in the WAL.
    await app.services.registry.withWriteLock(path, async () => {});
    expect(app.services.registry.openCount).toBeGreaterThan(0);
    expect(existsSync(`${path}.wal`)).toBe(false);
  });

  it('a warm preview reuses its prepared statement, sees writes and schema changes, and the statement goes with the detach', async () => {
    await makeTable('prep', 3);
    const { registry } = app.services;
    const path = app.services.paths.tableFile('p', 'b', 'prep');
    const alias = await registry.acquire(path);
    registry.release(path);
    // makeTable's preview (limit=1) prepared one already.
    expect(registry.statements.keptFor(alias)).toBe(1);
    const first = await app.callJson('GET', `${T}/prep/preview?limit=7`);
    expect(first.body.total_row_count).toBe(3);
    expect(registry.statements.keptFor(alias)).toBe(2);
    // Same limit, same connection: the statement is reused, not prepared again.
    await app.callJson('GET', `${T}/prep/preview?limit=7`);
    expect(registry.statements.keptFor(alias)).toBe(2);
    // Rows written and a column added while the statement is kept: the next preview shows both.
    expect((await app.callJson('POST', `${T}/prep/import?incremental=true`, { raw: csv(4, 5), headers: { 'content-type': 'text/csv' } })).status).toBe(200);
    expect((await app.callJson('POST', `${T}/prep/columns`, { body: { name: 'extra', type: 'INTEGER' } })).status).toBe(201);
    const after = await app.callJson('GET', `${T}/prep/preview?limit=7`);
    expect(after.body.total_row_count).toBe(5);
    expect(after.body.rows).toHaveLength(5);
    expect(Object.keys(after.body.rows[0])).toContain('extra');
    // Detached (exclusive): its statements are destroyed first, and previews work afterwards.
    const current = await registry.acquire(path);
    registry.release(path);
    expect(registry.statements.keptFor(current)).toBeGreaterThan(0);
    await registry.exclusive([path], async () => {
      expect(registry.statements.keptFor(current)).toBe(0);
      expect(await aliasesIn(app.services.db)).not.toContain(current);
    });
    expect((await app.callJson('GET', `${T}/prep/preview?limit=7`)).body.total_row_count).toBe(5);
  });

  it('with a short timeout the server detaches an idle file by itself', async () => {
    const short = await makeApp({ env: { TABLE_IDLE_DETACH_MS: '30' } });
    try {
      await short.createProject('p');
      await short.callJson('POST', '/projects/p/buckets', { body: { name: 'b' } });
      expect((await short.callJson('POST', T, { body: { name: 't', columns } })).status).toBe(201);
      expect((await short.callJson('POST', `${T}/t/import`, { raw: csv(1, 2), headers: { 'content-type': 'text/csv' } })).status).toBe(200);
      expect((await short.callJson('GET', `${T}/t/preview`)).status).toBe(200);
      // Bounded wait for the timer: a condition, not a timing threshold.
      for (let i = 0; i < 2000 && short.services.registry.openCount > 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(short.services.registry.openCount).toBe(0);
      expect(await aliasesIn(short.services.db)).toEqual([]);
      const outside = openElsewhere(short.services.paths.tableFile('p', 'b', 't'));
      expect(outside.output).toContain('rows=3');
    } finally {
      await short.close();
    }
  });
});

describe('the registry on its own: idle timeout on an injected clock, the cap on open files', () => {
  let root: string;
  let db: Database;
  let now = 0;
  const files: string[] = [];
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-registry-'));
    db = await Database.open(join(root, 'meta.duckdb'), { threads: 1, memoryLimit: '256MB' });
    await db.with(async (c) => {
      for (let i = 0; i < 8; i++) {
        const file = join(root, `f${i}.duckdb`);
        await c.run(`ATTACH '${file}' AS x${i}`);
        await c.run(`CREATE TABLE x${i}.main.data (id INTEGER, v VARCHAR)`);
        await c.run(`INSERT INTO x${i}.main.data VALUES (${i}, 'inside')`);
        await c.run(`DETACH x${i}`);
        files.push(file);
      }
    });
  });
  afterAll(async () => {
    db.close();
    await rm(root, { recursive: true, force: true });
  });

  it('an idle file stays attached (locked against other processes) until the timeout, then another process opens it', { timeout: 60_000 }, async () => {
    const registry = new AttachmentRegistry(db, { idleMs: 1000, now: () => now });
    const file = files[0]!;
    await registry.acquire(file);
    registry.release(file);
    now += 999;
    await registry.detachIdle();
    expect(registry.openCount).toBe(1);
    const locked = openElsewhere(file);
    expect(locked.status).toBe(3);
    expect(locked.output).toMatch(/lock/i);
    now += 1;
    await registry.detachIdle();
    expect(registry.openCount).toBe(0);
    const opened = openElsewhere(file);
    expect(opened.output).toContain('rows=2');
    expect(opened.status).toBe(0);
    // And this side attaches it again, with the other process's row.
    const alias = await registry.acquire(file);
    const count = await db.with(async (c) => Number((await c.runAndReadAll(`SELECT count(*) FROM "${alias}".main.data`)).getRows()[0]![0]));
    expect(count).toBe(2);
    registry.release(file);
    await registry.settle();
    expect(await aliasesIn(db)).toEqual([]);
  });

  it('a file used again before its timeout starts a new idle period', async () => {
    const registry = new AttachmentRegistry(db, { idleMs: 1000, now: () => now });
    const file = files[1]!;
    await registry.acquire(file);
    registry.release(file);
    now += 800;
    await registry.acquire(file);
    registry.release(file);
    now += 800;
    await registry.detachIdle();
    expect(registry.openCount).toBe(1);
    now += 200;
    await registry.detachIdle();
    expect(registry.openCount).toBe(0);
  });

  it('keeps at most maxOpen files attached, detaching the least recently used idle ones', async () => {
    const registry = new AttachmentRegistry(db, { idleMs: 600_000, maxOpen: 3, now: () => now });
    for (const file of files) {
      await registry.acquire(file);
      registry.release(file);
    }
    await registry.acquire(files[5]!); // used again: now the most recent
    registry.release(files[5]!);
    await registry.acquire(files[0]!); // beyond the cap: the oldest idle one (6) goes
    registry.release(files[0]!);
    for (let i = 0; i < 100 && registry.openCount > 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect(registry.openCount).toBe(3);
    expect((await aliasesIn(db)).length).toBe(3);
    // Files in use are never detached to make room: the cap counts idle files only as spare.
    const held = await Promise.all(files.slice(0, 5).map((f) => registry.acquire(f)));
    expect(new Set(held).size).toBe(5);
    // The idle ones (5, 6, 7) make room; their detaches run after the attaches.
    for (let i = 0; i < 100 && registry.openCount > 5; i++) await new Promise((r) => setTimeout(r, 5));
    expect((await aliasesIn(db)).length).toBe(5);
    for (const f of files.slice(0, 5)) registry.release(f);
    for (let i = 0; i < 100 && registry.openCount > 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect(registry.openCount).toBe(3);
    // The three most recently released stay: 2, 3, 4.
    for (const f of files.slice(2, 5)) {
      const before = await aliasesIn(db);
      expect(before).toContain(await registry.acquire(f));
      registry.release(f);
    }
    await registry.settle();
    expect(await aliasesIn(db)).toEqual([]);
  });

  it('exclusive() of an idle file detaches it at once and keeps users out', async () => {
    const registry = new AttachmentRegistry(db, { idleMs: 600_000, now: () => now });
    const file = files[7]!;
    const alias = await registry.acquire(file);
    registry.release(file);
    await registry.exclusive([file], async () => {
      expect(registry.openCount).toBe(0);
      expect(await aliasesIn(db)).not.toContain(alias);
      await expect(registry.acquire(file)).rejects.toBeInstanceOf(TableGoneError);
    });
    await registry.acquire(file);
    registry.release(file);
    await registry.settle();
  });
});

describe('no leak: 10,000 requests across 500 tables', () => {
  it('open attachments stay within the cap and file descriptors come back', { timeout: 300_000 }, async () => {
    const app = await makeApp({ env: { TABLE_IDLE_DETACH_MS: '600000', MAX_OPEN_TABLES: '400' } });
    try {
      await app.createProject('p');
      await app.callJson('POST', '/projects/p/buckets', { body: { name: 'b' } });
      const T = '/projects/p/buckets/b/tables';
      const TABLES = 500;
      const REQUESTS = 10_000;
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = next++; i < TABLES; i = next++) {
            const created = await app.callJson('POST', T, { body: { name: `t${i}`, columns } });
            expect(created.status).toBe(201);
          }
        }),
      );
      await app.services.registry.settle();
      const fds = async () => (await readdir('/proc/self/fd')).length;
      const before = await fds();
      // A cap below the table count: the walk keeps evicting and re-attaching.
      let maxOpen = 0;
      let done = 0;
      next = 0;
      const statuses = new Map<number, number>();
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = next++; i < REQUESTS; i = next++) {
            // A scattered walk over the tables; previews and exports attach the file.
            const table = `t${(i * 7919) % TABLES}`;
            const response = await app.call('GET', i % 10 === 0 ? `${T}/${table}/export?format=csv` : `${T}/${table}/preview?limit=1`);
            await response.arrayBuffer();
            statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
            maxOpen = Math.max(maxOpen, app.services.registry.openCount);
            done++;
          }
        }),
      );
      expect(done).toBe(REQUESTS);
      expect([...statuses]).toEqual([[200, REQUESTS]]);
      // The cap plus the requests in flight (each holds one file) and detaches under way.
      expect(maxOpen).toBeLessThanOrEqual(400 + 8 + 8);
      expect(maxOpen).toBeGreaterThan(300);
      expect(app.services.registry.openCount).toBeLessThanOrEqual(400 + 8);
      await app.services.registry.settle();
      expect(app.services.registry.openCount).toBe(0);
      expect(await aliasesIn(app.services.db)).toEqual([]);
      // DuckDB's own handles (WAL, temp files) may come and go; attachments must not pile up.
      expect(await fds()).toBeLessThanOrEqual(before + 4);
    } finally {
      await app.close();
    }
  });
});
