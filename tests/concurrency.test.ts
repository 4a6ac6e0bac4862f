import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, statementGate, walk, type TestApp } from './helpers.ts';

const COLUMNS = [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }];

function tablePath(t: TestApp, bucket: string, table: string): string {
  return join(t.dataDir, 'duckdb', 'project_p1', bucket, `${table}.duckdb`);
}

async function allDetached(t: TestApp): Promise<void> {
  for (let i = 0; i < 2000 && t.services.registry.openCount > 0; i++) await new Promise((r) => setTimeout(r, 5));
  expect(t.services.registry.openCount).toBe(0);
}

/** An insert as an import would do it: under the table's write lock, through the shared attachment. */
async function insertRows(t: TestApp, path: string, from: number, count: number): Promise<void> {
  const { registry, db } = t.services;
  await registry.withWriteLock(path, async () => {
    const alias = await registry.acquire(path);
    try {
      await db.with((c) => c.run(`INSERT INTO "${alias}".main.data SELECT i, 'v' || i FROM range(${from}, ${from + count}) r(i)`));
    } finally {
      registry.release(path);
    }
  });
}

describe('concurrent requests', () => {
  let t: TestApp;
  let gate: ReturnType<typeof statementGate>;
  beforeAll(async () => {
    t = await makeApp();
    gate = statementGate(t.services);
    await t.createProject('p1');
  });
  afterAll(() => t.close());

  it('20 different tables created in one bucket at once: all 201, all listed', async () => {
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'many' } });
    const names = Array.from({ length: 20 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    const results = await Promise.all(names.map((name) => t.callJson('POST', '/projects/p1/buckets/many/tables', { body: { name, columns: COLUMNS } })));
    expect(results.map((r) => r.status)).toEqual(names.map(() => 201));
    const list = await t.callJson('GET', '/projects/p1/buckets/many/tables');
    expect(list.body.total).toBe(20);
    expect(list.body.tables.map((x: any) => x.name)).toEqual(names);
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1', 'many'))).toEqual(names.map((n) => `${n}.duckdb`));
    expect((await t.callJson('GET', '/projects/p1/buckets/many')).body.table_count).toBe(20);
  });

  it('the same table name created 10 times at once (in varying case): exactly one 201, the rest 409', async () => {
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'same' } });
    const spellings = ['orders', 'Orders', 'ORDERS', 'orders', 'oRders', 'orders', 'ordERS', 'Orders', 'orders', 'ORDERs'];
    const results = await Promise.all(spellings.map((name) => t.callJson('POST', '/projects/p1/buckets/same/tables', { body: { name, columns: COLUMNS } })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, ...Array(9).fill(409)]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.detail.error).toBe('table_exists');
    const winner = results.find((r) => r.status === 201)!.body.name;
    expect((await t.callJson('GET', '/projects/p1/buckets/same/tables')).body.tables.map((x: any) => x.name)).toEqual([winner]);
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1', 'same'))).toEqual([`${winner}.duckdb`]);
  });

  it('the same bucket created 10 times at once: exactly one 201, the rest 409 bucket_exists', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => t.callJson('POST', '/projects/p1/buckets', { body: { name: i % 2 ? 'Race' : 'race' } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, ...Array(9).fill(409)]);
    const names = (await t.callJson('GET', '/projects/p1/buckets')).body.buckets.map((b: any) => b.name).filter((n: string) => n.toLowerCase() === 'race');
    expect(names).toHaveLength(1);
    expect((await walk(join(t.dataDir, 'duckdb', 'project_p1'))).filter((p) => p.toLowerCase() === 'race')).toEqual(names);
  });

  it('writes and previews on one table at once: previews see whole inserts only', async () => {
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'rw' } });
    await t.callJson('POST', '/projects/p1/buckets/rw/tables', { body: { name: 'log', columns: COLUMNS, primary_key: ['id'] } });
    const path = tablePath(t, 'rw', 'log');
    const BATCH = 50;
    const writes = Array.from({ length: 10 }, (_, i) => insertRows(t, path, i * BATCH, BATCH));
    const previews = Array.from({ length: 20 }, () => t.callJson('GET', '/projects/p1/buckets/rw/tables/log/preview?limit=10000'));
    const [, results] = await Promise.all([Promise.all(writes), Promise.all(previews)]);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body.total_row_count % BATCH).toBe(0);
      expect(r.body.preview_row_count).toBe(r.body.total_row_count);
      expect(new Set(r.body.rows.map((row: any) => row.id)).size).toBe(r.body.rows.length);
    }
    const final = await t.callJson('GET', '/projects/p1/buckets/rw/tables/log/preview?limit=10000');
    expect(final.body.total_row_count).toBe(10 * BATCH);
    await allDetached(t);
  });

  it('a table deleted while previews run: a preview under way answers 200, one that starts during the delete 404, the delete 204, then it is gone', async () => {
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'del' } });
    await t.callJson('POST', '/projects/p1/buckets/del/tables', { body: { name: 'victim', columns: COLUMNS } });
    await t.callJson('POST', '/projects/p1/buckets/del/tables', { body: { name: 'bystander', columns: COLUMNS } });
    const path = tablePath(t, 'del', 'victim');
    await insertRows(t, path, 0, 100);
    const { registry } = t.services;

    // One preview is held in the middle of its query (attached, reading) ...
    let victimAlias: string | undefined;
    const held = gate.hold((sql) => {
      const attach = /^ATTACH '(.*)' AS "(t\d+)"$/.exec(sql);
      if (attach && attach[1] === path) victimAlias = attach[2];
      return victimAlias !== undefined && sql.includes(`"${victimAlias}".main.data`);
    });
    const underWay = t.callJson('GET', '/projects/p1/buckets/del/tables/victim/preview?limit=10');
    await held.reached;
    // ... and more race in at the same moment as the delete, whatever they answer.
    const racing = Array.from({ length: 30 }, (_, i) =>
      t.callJson('GET', `/projects/p1/buckets/del/tables/${i % 5 === 4 ? 'bystander' : 'victim'}/preview?limit=10`).then((r) => ({ i, r })),
    );
    // The delete: noticed once it waits for the table's users (new users are kept out from then on).
    let waiting!: () => void;
    const deleteWaits = new Promise<void>((resolve) => (waiting = resolve));
    const exclusive = registry.exclusive.bind(registry);
    registry.exclusive = (paths, work) => {
      if (paths.includes(path)) waiting();
      return exclusive(paths, work);
    };
    let deleted: Response;
    try {
      const deletion = t.call('DELETE', '/projects/p1/buckets/del/tables/victim');
      await deleteWaits;
      // Started while the delete waits: refused, not served from a table about to vanish.
      const refused = await Promise.all(Array.from({ length: 10 }, () => t.callJson('GET', '/projects/p1/buckets/del/tables/victim/preview')));
      held.release();
      deleted = await deletion;
      const first = await underWay;
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      expect(first.body.total_row_count).toBe(100);
      for (const r of refused) {
        expect(r.status, JSON.stringify(r.body)).toBe(404);
        expect(r.body.detail.error).toBe('table_not_found');
      }
    } finally {
      held.release();
      registry.exclusive = exclusive;
    }
    expect(deleted.status).toBe(204);
    for (const { i, r } of await Promise.all(racing)) {
      if (i % 5 === 4) {
        expect(r.status).toBe(200);
        continue;
      }
      expect([200, 404], JSON.stringify(r.body)).toContain(r.status);
      if (r.status === 200) expect(r.body.total_row_count).toBe(100);
      else expect(r.body.detail.error).toBe('table_not_found');
    }
    await allDetached(t);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.wal`)).toBe(false);
    expect((await t.callJson('GET', '/projects/p1/buckets/del/tables')).body.tables.map((x: any) => x.name)).toEqual(['bystander']);
    expect((await t.callJson('GET', '/projects/p1/buckets/del/tables/victim/preview')).status).toBe(404);
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1', 'del'))).toEqual(['bystander.duckdb']);
  });
});

describe('bucket deletes racing table creates', () => {
  let root: string;
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    root = t.root;
    await t.createProject('p1');
  });
  afterAll(async () => {
    await t.services.close();
    await rm(root, { recursive: true, force: true });
  });

  const documented = new Set([201, 204, 404, 409]);

  it('only documented codes, and catalog and files agree afterwards (also after a restart)', async () => {
    for (let round = 0; round < 6; round++) {
      const bucket = `race${round}`;
      expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: bucket } })).status).toBe(201);
      await t.callJson('POST', `/projects/p1/buckets/${bucket}/tables`, { body: { name: 'seed', columns: COLUMNS } });
      const creates = Array.from({ length: 8 }, (_, i) =>
        t.callJson('POST', `/projects/p1/buckets/${bucket}/tables`, { body: { name: `t${i}`, columns: COLUMNS } }),
      );
      // Round 0 sends the deletes at once; later rounds once `round` creates have answered,
      // so that some creates land before the deletes and some wait behind them.
      const deletes = (async () => {
        for (let i = 0; i < round; i++) await creates[i];
        return Promise.all(Array.from({ length: 3 }, () => t.callJson('DELETE', `/projects/p1/buckets/${bucket}?cascade=true`)));
      })();
      const results = [...(await Promise.all(creates)), ...(await deletes)];
      for (const r of results) {
        expect(documented.has(r.status), `${r.status} ${JSON.stringify(r.body)}`).toBe(true);
        if (r.status === 404) expect(['bucket_not_found', 'table_not_found']).toContain(r.body.detail.error);
      }
      // Deletes of one bucket take turns: exactly one succeeds, the others find it gone.
      const deleteStatuses = results.slice(creates.length).map((r) => r.status);
      expect(deleteStatuses.sort()).toEqual([204, 404, 404]);
      const createStatuses = results.slice(0, creates.length).map((r) => r.status);
      expect(createStatuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(round);
      // The bucket is gone, with every table and file, whatever the creates answered.
      expect((await t.callJson('GET', `/projects/p1/buckets/${bucket}`)).status).toBe(404);
      await allDetached(t);
      expect(existsSync(join(t.dataDir, 'duckdb', 'project_p1', bucket))).toBe(false);
      expect(t.services.catalog.listTables('p1', bucket)).toEqual([]);
      // A new bucket of that name starts empty.
      expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: bucket } })).status).toBe(201);
      expect((await t.callJson('GET', `/projects/p1/buckets/${bucket}/tables`)).body).toEqual({ tables: [], total: 0 });
      expect((await t.call('DELETE', `/projects/p1/buckets/${bucket}`)).status).toBe(204);
    }
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1'))).toEqual([]);
    expect((await t.callJson('GET', '/projects/p1/stats')).body).toMatchObject({ table_count: 0, bucket_count: 0, size_bytes: 0 });

    // Nothing for a restart to resurrect either.
    await t.services.close();
    t = await makeApp({ root });
    expect((await t.callJson('GET', '/projects/p1/buckets')).body).toEqual({ buckets: [], total: 0 });
    expect(await walk(join(t.dataDir, 'duckdb', 'project_p1'))).toEqual([]);
  });

  it('a project deleted while a new bucket and its first table are created: no 500, no leftovers (repeated until they overlapped)', { timeout: 120_000 }, async () => {
    // The delete must wait for creates in buckets that did not exist when it started: the
    // bucket `fresh` is created (and a table in it) while the delete waits for the busy
    // bucket's creates. A round counts as overlapping when the delete was sent before the
    // bucket create answered and the table create was sent before the delete answered.
    const ids: string[] = [];
    let overlapped = 0;
    let round = 0;
    for (; round < 60 && overlapped < 12; round++) {
      const id = `fresh${round}`;
      ids.push(id);
      await t.createProject(id);
      expect((await t.callJson('POST', `/projects/${id}/buckets`, { body: { name: 'busy' } })).status).toBe(201);
      const events: string[] = [];
      const busy = Array.from({ length: 3 }, (_, i) => t.callJson('POST', `/projects/${id}/buckets/busy/tables`, { body: { name: `b${i}`, columns: COLUMNS } }));
      const chain = (async () => {
        const bucket = await t.callJson('POST', `/projects/${id}/buckets`, { body: { name: 'fresh' } });
        events.push('bucket answered');
        if (bucket.status !== 201) return [bucket];
        events.push('table sent');
        const tables = await Promise.all(
          ['first', 'second', 'third'].map((name) => t.callJson('POST', `/projects/${id}/buckets/fresh/tables`, { body: { name, columns: COLUMNS, primary_key: ['id'] } })),
        );
        events.push('table answered');
        return [bucket, ...tables];
      })();
      const deletion = (async () => {
        // A different moment each round, from "at once" to "after the bucket exists".
        for (let i = 0; i < round % 12; i++) await new Promise((r) => setImmediate(r));
        events.push('delete sent');
        const answer = await t.callJson('DELETE', `/projects/${id}`);
        events.push('delete answered');
        return answer;
      })();
      const [busyResults, chainResults, deleted] = await Promise.all([Promise.all(busy), chain, deletion]);
      expect(deleted.status).toBe(204);
      for (const r of [...busyResults, ...chainResults]) {
        expect([201, 404], `${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
        if (r.status === 404) expect(r.body.detail.error).toBe('project_not_found');
      }
      const at = (event: string) => (events.includes(event) ? events.indexOf(event) : Infinity);
      if (at('delete sent') < at('bucket answered') && at('table sent') < at('delete answered')) overlapped++;
      await allDetached(t);
      expect(existsSync(join(t.dataDir, 'duckdb', `project_${id}`)), `round ${round}: folder left`).toBe(false);
      expect(t.services.catalog.listBuckets(id), `round ${round}: bucket rows left`).toEqual([]);
      expect(t.services.catalog.allTables().filter((x) => x.projectId === id), `round ${round}: table rows left`).toEqual([]);
    }
    expect(overlapped, `the delete overlapped the creates in ${overlapped} of ${round} rounds`).toBeGreaterThan(0);
    // Nothing for a restart to find either.
    await t.services.close();
    t = await makeApp({ root });
    expect(t.services.catalog.allTables().filter((x) => ids.includes(x.projectId))).toEqual([]);
    expect(ids.flatMap((id) => t.services.catalog.listBuckets(id))).toEqual([]);
    expect((await walk(join(t.dataDir, 'duckdb'))).filter((p) => ids.some((id) => p.startsWith(`project_${id}`)))).toEqual([]);
  });

  it('a project deleted while tables and buckets are being created in it: 201/404 only, nothing left behind', async () => {
    const ids: string[] = [];
    for (let round = 0; round < 5; round++) {
      const id = `gone${round}`;
      ids.push(id);
      await t.createProject(id);
      expect((await t.callJson('POST', `/projects/${id}/buckets`, { body: { name: 'b' } })).status).toBe(201);
      const creates = [
        ...Array.from({ length: 6 }, (_, i) => t.callJson('POST', `/projects/${id}/buckets/b/tables`, { body: { name: `t${i}`, columns: COLUMNS } })),
        ...Array.from({ length: 2 }, (_, i) => t.callJson('POST', `/projects/${id}/buckets`, { body: { name: `nb${i}` } })),
      ];
      const deletion = (async () => {
        for (let i = 0; i < round; i++) await creates[i];
        return t.call('DELETE', `/projects/${id}`);
      })();
      const results = await Promise.all(creates);
      expect((await deletion).status).toBe(204);
      for (const r of results) {
        expect([201, 404], `${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
        if (r.status === 404) expect(r.body.detail.error).toBe('project_not_found');
      }
      await allDetached(t);
      expect(existsSync(join(t.dataDir, 'duckdb', `project_${id}`))).toBe(false);
      expect(t.services.catalog.listBuckets(id)).toEqual([]);
      expect(t.services.catalog.listTables(id, 'b')).toEqual([]);
    }
    expect(t.services.catalog.allTables().filter((x) => ids.includes(x.projectId))).toEqual([]);
    await t.services.close();
    t = await makeApp({ root });
    expect(t.services.catalog.allTables().filter((x) => ids.includes(x.projectId))).toEqual([]);
    expect((await walk(join(t.dataDir, 'duckdb'))).filter((p) => ids.some((id) => p.startsWith(`project_${id}`)))).toEqual([]);
  });
});

describe('project delete vs. a table create in a bucket made after the delete started (held on purpose)', () => {
  let t: TestApp;
  let root: string;
  let gate: ReturnType<typeof statementGate>;
  beforeAll(async () => {
    t = await makeApp();
    root = t.root;
    gate = statementGate(t.services);
  });
  afterAll(async () => {
    await t.services.close();
    await rm(root, { recursive: true, force: true });
  });

  /** Holds the CREATE TABLE of every table file created under `folder` (matched by its ATTACH). */
  function holdCreatesIn(folder: string) {
    const aliases = new Set<string>();
    return gate.hold((sql) => {
      const attach = /^ATTACH '(.*)' AS "(t\d+)"$/.exec(sql);
      if (attach && attach[1]!.startsWith(`${folder}/`) && attach[1]!.includes('.creating-')) aliases.add(attach[2]!);
      return [...aliases].some((alias) => sql.startsWith(`CREATE TABLE "${alias}".`));
    });
  }

  it('the delete waits for the create (or the create finds the project gone): no 500, no leftovers, also after a restart', async () => {
    const { paths, registry } = t.services;
    await t.createProject('held');
    expect((await t.callJson('POST', '/projects/held/buckets', { body: { name: 'busy' } })).status).toBe(201);
    const slowHeld = holdCreatesIn(paths.bucketDir('held', 'busy'));
    const freshHeld = holdCreatesIn(paths.bucketDir('held', 'fresh'));

    // Lock requests, to know when the delete is waiting and whether a create queued behind it.
    const projectDir = paths.projectDir('held').toLowerCase();
    let deleteQueued!: () => void;
    const deleteWaits = new Promise<void>((resolve) => (deleteQueued = resolve));
    let createQueued!: () => void;
    const createWaitsBehindDelete = new Promise<string>((resolve) => (createQueued = () => resolve('queued')));
    let deleteSeen = false;
    const withFolderLock = registry.withFolderLock.bind(registry);
    registry.withFolderLock = (path, mode, work) => {
      if (path.toLowerCase() === projectDir && mode === 'exclusive' && !deleteSeen) {
        deleteSeen = true;
        deleteQueued();
      } else if (path.toLowerCase() === projectDir && mode === 'shared' && deleteSeen) createQueued();
      return withFolderLock(path, mode, work);
    };
    try {
      // 1. A table create in `busy` is held half-way, holding whatever locks it takes.
      const slow = t.callJson('POST', '/projects/held/buckets/busy/tables', { body: { name: 'slow', columns: COLUMNS } });
      await slowHeld.reached;
      // 2. The delete starts while it runs: `fresh` does not exist yet.
      let deleteAnswered = false;
      const deletion = t.callJson('DELETE', '/projects/held').finally(() => (deleteAnswered = true));
      // Old code took no project lock (nothing to observe): it looked at the buckets at once.
      await Promise.race([deleteWaits, new Promise((r) => setImmediate(r))]);
      // 3. Then a new bucket and tables in it.
      const chain = (async () => {
        const bucket = await t.callJson('POST', '/projects/held/buckets', { body: { name: 'fresh' } });
        if (bucket.status !== 201) return [bucket];
        return [bucket, ...(await Promise.all(['a', 'b'].map((name) => t.callJson('POST', '/projects/held/buckets/fresh/tables', { body: { name, columns: COLUMNS } }))))];
      })();
      // Either the new creates got as far as writing their files (the delete did not keep
      // them out), or they queued behind the delete.
      const how = await Promise.race([freshHeld.reached.then(() => 'running'), createWaitsBehindDelete]);
      expect(deleteAnswered, 'the delete overlapped the creates').toBe(false);
      slowHeld.release();
      if (how === 'running') await deletion; // let the delete finish while those creates are held
      freshHeld.release();
      const [slowAnswer, chainAnswers, deleted] = await Promise.all([slow, chain, deletion]);
      expect(deleted.status).toBe(204);
      for (const r of [slowAnswer, ...chainAnswers]) {
        expect([201, 404], `${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
        if (r.status === 404) expect(r.body.detail.error).toBe('project_not_found');
      }
      expect(how, 'the bucket create waited for the delete').toBe('queued');
    } finally {
      slowHeld.release();
      freshHeld.release();
      registry.withFolderLock = withFolderLock;
    }
    await allDetached(t);
    expect(existsSync(paths.projectDir('held'))).toBe(false);
    expect(t.services.catalog.listBuckets('held')).toEqual([]);
    expect(t.services.catalog.allTables().filter((x) => x.projectId === 'held')).toEqual([]);
    await t.services.close();
    t = await makeApp({ root });
    expect(t.services.catalog.allTables().filter((x) => x.projectId === 'held')).toEqual([]);
    expect(t.services.catalog.listBuckets('held')).toEqual([]);
  });
});
