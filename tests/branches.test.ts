// CONTRACT §14: development branches — records, the branch twins of the bucket, table and
// data routes, copy-on-write isolation both ways, tombstones, reset, merge with conflict
// detection, branch-restricted keys, and what deleting a branch or a project leaves behind.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, manualClock, shareAndLink, walk, type TestApp } from './helpers.ts';
import { withWriteLocks } from '../src/storage/branch-snapshots.ts';

let t: TestApp;
beforeAll(async () => {
  t = await makeApp();
});
afterAll(() => t.close());

const CSV = { 'content-type': 'text/csv' };
let seq = 0;

/** A project with bucket `b` and table `t` (id INTEGER key, v VARCHAR) holding rows 1 and 2. */
async function project(): Promise<{ id: string; P: string }> {
  const id = `br${seq++}`;
  await t.createProject(id);
  const P = `/projects/${id}`;
  expect((await t.call('POST', `${P}/buckets`, { body: { name: 'b' } })).status).toBe(201);
  expect((await t.call('POST', `${P}/buckets/b/tables`, { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }], primary_key: ['id'] } })).status).toBe(201);
  expect((await t.call('POST', `${P}/buckets/b/tables/t/import`, { raw: 'id,v\n1,a\n2,b\n', headers: CSV })).status).toBe(200);
  return { id, P };
}

async function branch(P: string, name = 'dev'): Promise<string> {
  const res = await t.callJson('POST', `${P}/branches`, { body: { name } });
  expect(res.status).toBe(201);
  return `${P}/branches/${res.body.id}`;
}

async function rows(path: string): Promise<unknown[]> {
  const res = await t.callJson('GET', `${path}/preview`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.rows;
}

const ids = async (path: string) => (await rows(path)).map((r: any) => r.id).sort((a: number, b: number) => a - b);
const importCsv = (path: string, csv: string, incremental = true) => t.call('POST', `${path}/import?incremental=${incremental}`, { raw: csv, headers: CSV });

describe('branch records', () => {
  it('creates, lists (default first), gets and deletes branches', async () => {
    const { id, P } = await project();
    const created = await t.callJson('POST', `${P}/branches`, { body: { name: 'Feature', description: 'try things' } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.stringMatching(/^[a-z0-9_]{1,40}$/), name: 'Feature', description: 'try things', is_default: false, created_at: expect.any(String) });
    expect(created.body.id).not.toBe('default');
    const second = await t.callJson('POST', `${P}/branches`, { body: { name: 'other' } });
    const list = await t.callJson('GET', `${P}/branches`);
    expect(list.body.total).toBe(3);
    expect(list.body.branches.map((b: any) => b.id)).toEqual(['default', created.body.id, second.body.id]);
    expect(list.body.branches[0]).toMatchObject({ id: 'default', name: 'Main', is_default: true, description: null });
    expect((await t.callJson('GET', `${P}/branches/${created.body.id}`)).body).toEqual(created.body);
    expect((await t.callJson('GET', `${P}/branches/default`)).body).toMatchObject({ id: 'default', is_default: true });
    expect((await t.call('DELETE', `${P}/branches/${second.body.id}`)).status).toBe(204);
    expect((await t.callJson('GET', `${P}/branches/${second.body.id}`)).body.detail.error).toBe('branch_not_found');
    expect(t.services.branches.list(id).map((b) => b.id)).toEqual([created.body.id]);
  });

  it('refuses a taken name without regard to case (Main included), bad bodies and the default branch', async () => {
    const { P } = await project();
    await branch(P, 'dev');
    for (const name of ['DEV', 'main', 'Main']) {
      const res = await t.callJson('POST', `${P}/branches`, { body: { name } });
      expect(res.status, name).toBe(409);
      expect(res.body.detail.error).toBe('branch_exists');
    }
    for (const body of [{}, { name: '' }, { name: 'x'.repeat(256) }, { name: 1 }]) {
      expect((await t.callJson('POST', `${P}/branches`, { body })).status).toBe(422);
    }
    const del = await t.callJson('DELETE', `${P}/branches/default`);
    expect(del.status).toBe(400);
    expect(del.body.detail.error).toBe('invalid_branch');
    for (const path of ['changes', 'buckets/b/tables/t/reset', 'buckets/b/tables/t/merge']) {
      const res = await t.callJson(path === 'changes' ? 'GET' : 'POST', `${P}/branches/default/${path}`, { body: path === 'changes' ? undefined : {} });
      expect(res.status, path).toBe(400);
      expect(res.body.detail.error).toBe('invalid_branch');
    }
    expect((await t.callJson('GET', `${P}/branches/b_000000000000/buckets`)).body.detail.error).toBe('branch_not_found');
    expect((await t.callJson('GET', `${P}/branches/bad.name/buckets`)).status).toBe(422);
    expect((await t.callJson('GET', '/projects/nosuch/branches/default/buckets')).body.detail.error).toBe('project_not_found');
  });

  it('creating a branch copies nothing', async () => {
    const { id, P } = await project();
    const files = async () => (await walk(join(t.dataDir, 'duckdb'))).filter((f) => !f.endsWith('.wal'));
    const before = await files();
    await branch(P);
    expect(await files()).toEqual(before);
    expect(existsSync(t.services.paths.branchesProjectDir(id))).toBe(false);
  });
});

describe('the branch twins of the routes', () => {
  it('P/branches/default/… is the same as P/…', async () => {
    const { P } = await project();
    for (const path of ['/buckets', '/buckets/b', '/buckets/b/tables', '/buckets/b/tables/t', '/buckets/b/tables/t/preview']) {
      // Sizes move as files are checkpointed on detach: everything else is equal.
      const strip = (body: unknown) => JSON.parse(JSON.stringify(body, (key, value) => (key === 'size_bytes' ? 0 : value)));
      const main = await t.callJson('GET', P + path);
      const twin = await t.callJson('GET', `${P}/branches/default${path}`);
      expect(twin.status, path).toBe(200);
      expect(strip(twin.body), path).toEqual(strip(main.body));
    }
    const imported = await importCsv(`${P}/branches/default/buckets/b/tables/t`, 'id,v\n3,c\n');
    expect(imported.status).toBe(200);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
  });

  it('sharing routes answer 400 main_branch_only in a development branch, after the 404s', async () => {
    const { id, P } = await project();
    // A linked bucket, so that unlink gets past its 404 (link_not_found).
    await t.createProject(`${id}src`);
    expect((await t.call('POST', `/projects/${id}src/buckets`, { body: { name: 's' } })).status).toBe(201);
    await shareAndLink(t, { from: `${id}src`, bucket: 's', to: id, as: 'lnk' });
    const B = await branch(P);
    const calls: [string, string, unknown?][] = [
      ['POST', `${B}/buckets/b/share`, { target_project_id: 'x' }],
      ['DELETE', `${B}/buckets/b/share?target_project_id=x`],
      ['POST', `${B}/buckets/new/link`, { source_project_id: 'x', source_bucket_name: 'y' }],
      ['DELETE', `${B}/buckets/lnk/link`],
      ['POST', `${B}/buckets/b/grant-readonly`],
      ['DELETE', `${B}/buckets/b/grant-readonly`],
      ['GET', `${B}/shared-buckets`],
    ];
    for (const [method, path, body] of calls) {
      const res = await t.callJson(method, path, { body });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.body.detail.error).toBe('main_branch_only');
    }
    expect((await t.callJson('POST', `${B}/buckets/nosuch/share`, { body: { target_project_id: 'x' } })).body.detail.error).toBe('bucket_not_found');
    expect((await t.callJson('DELETE', `${B}/buckets/b/link`)).body.detail.error).toBe('link_not_found');
    expect((await t.callJson('GET', `${P}/buckets/lnk`)).status).toBe(200);
    expect((await t.callJson('GET', `${P}/branches/default/shared-buckets`)).status).toBe(200);
  });
});

describe('copy-on-write isolation', () => {
  it('a branch sees main live until its first write, then only its own copy', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const main = `${P}/buckets/b/tables/t`;
    const dev = `${B}/buckets/b/tables/t`;
    expect((await t.callJson('GET', dev)).body.branch_state).toBe('main');
    expect((await importCsv(main, 'id,v\n3,c\n')).status).toBe(200);
    expect(await ids(dev)).toEqual([1, 2, 3]); // live view of main
    expect((await t.callJson('GET', main)).body.branch_state).toBeUndefined();
    // First write in the branch: a copy.
    const res = await importCsv(dev, 'id,v\n4,d\n');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.table.branch_state).toBe('copied');
    expect(existsSync(t.services.paths.branchTableFile(id, B.split('/').pop()!, 'b', 't'))).toBe(true);
    expect(await ids(dev)).toEqual([1, 2, 3, 4]);
    expect(await ids(main)).toEqual([1, 2, 3]);
    // Main's writes no longer show in the branch.
    expect((await importCsv(main, 'id,v\n5,e\n')).status).toBe(200);
    expect(await ids(dev)).toEqual([1, 2, 3, 4]);
    expect(await ids(main)).toEqual([1, 2, 3, 5]);
    expect((await t.callJson('GET', dev)).body.row_count).toBe(4);
    expect((await t.callJson('GET', main)).body.row_count).toBe(4);
    // Stats: size_bytes stays main's tables; the branch's copy counts in branches_size_bytes.
    // (Once the writes' checkpoints, which run after their answers, have folded the WALs in.)
    await t.services.registry.writesSettled();
    const stats = (await t.callJson('GET', `${P}/stats`)).body;
    const { statSync } = await import('node:fs');
    expect(stats.branches_size_bytes).toBe(statSync(t.services.paths.branchTableFile(id, B.split('/').pop()!, 'b', 't')).size);
    expect(stats.size_bytes).toBe(statSync(t.services.paths.tableFile(id, 'b', 't')).size);
  });

  for (const kind of ['full import', 'delete-rows', 'truncate'] as const) {
    it(`${kind} in a branch leaves main alone, and main's ${kind} leaves the branch alone`, async () => {
      const { P } = await project();
      const B = await branch(P);
      const main = `${P}/buckets/b/tables/t`;
      const dev = `${B}/buckets/b/tables/t`;
      const write = async (path: string) => {
        const res =
          kind === 'full import'
            ? await importCsv(path, 'id,v\n9,z\n', false)
            : kind === 'delete-rows'
              ? await t.call('POST', `${path}/delete-rows`, { body: { filters: [{ column: 'id', operator: 'eq', values: [1] }] } })
              : await t.call('POST', `${path}/truncate`);
        expect(res.status, await res.clone().text()).toBe(200);
      };
      const after = kind === 'full import' ? [9] : kind === 'delete-rows' ? [2] : [];
      await write(dev);
      expect(await ids(dev)).toEqual(after);
      expect(await ids(main)).toEqual([1, 2]);
      // A second branch still sees main.
      const B2 = await branch(P, 'second');
      await write(main);
      expect(await ids(main)).toEqual(after);
      expect((await importCsv(dev, 'id,v\n7,q\n')).status).toBe(200);
      expect(await ids(dev)).toEqual([...after, 7].sort((a, b) => a - b));
      expect(await ids(main)).toEqual(after);
      expect(await ids(`${B2}/buckets/b/tables/t`)).toEqual(after);
    });
  }

  it('tables and buckets created in a branch exist only there; those created in main show up live', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    expect((await t.callJson('POST', `${B}/buckets`, { body: { name: 'nb' } })).status).toBe(201);
    const created = await t.callJson('POST', `${B}/buckets/nb/tables`, { body: { name: 'x', columns: [{ name: 'id', type: 'INTEGER' }] } });
    expect(created.status).toBe(201);
    expect(created.body.branch_state).toBe('created');
    expect((await t.callJson('POST', `${B}/buckets/b/tables`, { body: { name: 'y', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await importCsv(`${B}/buckets/nb/tables/x`, 'id\n1\n')).status).toBe(200);
    expect(await ids(`${B}/buckets/nb/tables/x`)).toEqual([1]);
    expect((await t.callJson('GET', `${P}/buckets/nb`)).body.detail.error).toBe('bucket_not_found');
    expect((await t.callJson('GET', `${P}/buckets/b/tables/y`)).body.detail.error).toBe('table_not_found');
    expect(t.services.catalog.getBucket(id, 'nb')).toBeUndefined();
    expect(existsSync(join(t.dataDir, 'duckdb', `project_${id}`, 'nb'))).toBe(false);
    const buckets = await t.callJson('GET', `${B}/buckets`);
    expect(buckets.body.buckets.map((b: any) => [b.name, b.table_count])).toEqual([['b', 2], ['nb', 1]]);
    expect((await t.callJson('GET', `${B}/buckets/b/tables`)).body.tables.map((x: any) => [x.name, x.branch_state])).toEqual([['t', 'main'], ['y', 'created']]);
    // Main creates things: they show in the branch at once.
    expect((await t.call('POST', `${P}/buckets`, { body: { name: 'mb' } })).status).toBe(201);
    expect((await t.call('POST', `${P}/buckets/b/tables`, { body: { name: 'z', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await t.callJson('GET', `${B}/buckets/mb`)).status).toBe(200);
    expect((await t.callJson('GET', `${B}/buckets/b/tables/z`)).body.branch_state).toBe('main');
    // Names taken in the branch's view are refused there.
    expect((await t.callJson('POST', `${B}/buckets`, { body: { name: 'NB' } })).body.detail.error).toBe('bucket_exists');
    expect((await t.callJson('POST', `${B}/buckets`, { body: { name: 'mb' } })).body.detail.error).toBe('bucket_exists');
    expect((await t.callJson('POST', `${B}/buckets/b/tables`, { body: { name: 'T', columns: [{ name: 'id', type: 'INTEGER' }] } })).body.detail.error).toBe('table_exists');
  });

  it("deleting main's table or bucket in a branch hides it there only (force and links do not apply)", async () => {
    const { id, P } = await project();
    expect((await t.call('POST', `${P}/buckets`, { body: { name: 'shared' } })).status).toBe(201);
    await t.createProject(`${id}_t`);
    await shareAndLink(t, { from: id, bucket: 'shared', to: `${id}_t`, as: 'lnk' });
    const B = await branch(P);
    expect((await t.call('DELETE', `${B}/buckets/b/tables/t`)).status).toBe(204);
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t`)).body.detail.error).toBe('table_not_found');
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
    // A bucket that other projects link: no bucket_in_use in a branch.
    expect((await t.call('DELETE', `${B}/buckets/shared`)).status).toBe(204);
    expect((await t.callJson('GET', `${B}/buckets/shared`)).body.detail.error).toBe('bucket_not_found');
    expect((await t.callJson('GET', `${P}/buckets/shared`)).status).toBe(200);
    expect((await t.callJson('GET', `/projects/${id}_t/buckets/lnk`)).status).toBe(200);
    expect((await t.callJson('DELETE', `${B}/buckets/b?cascade=false`)).status).toBe(204); // its only table is deleted there
    expect((await t.callJson('GET', `${B}/buckets`)).body.total).toBe(0);
    expect((await t.callJson('GET', `${P}/buckets`)).body.total).toBe(2);
    const changes = await t.callJson('GET', `${B}/changes`);
    expect(changes.body).toEqual({ tables: [], buckets: [{ bucket: 'b', state: 'deleted' }, { bucket: 'shared', state: 'deleted' }] });
    // Main deleting its own table does not touch the branch's records.
    expect((await t.call('DELETE', `${P}/buckets/b/tables/t`)).status).toBe(204);
  });

  it('linked buckets show up read-only in a branch', async () => {
    const { id, P } = await project();
    await t.createProject(`${id}_l`);
    await shareAndLink(t, { from: id, bucket: 'b', to: `${id}_l`, as: 'lnk' });
    const L = `/projects/${id}_l`;
    const B = await branch(L);
    expect(await ids(`${B}/buckets/lnk/tables/t`)).toEqual([1, 2]);
    const write = await importCsv(`${B}/buckets/lnk/tables/t`, 'id,v\n3,c\n');
    expect(write.status).toBe(403);
    expect((await write.json()).detail.error).toBe('bucket_readonly');
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
  });

  it('a refused first write leaves the branch on main: no copy, no record', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    const bad = await importCsv(`${B}/buckets/b/tables/t`, 'id,v\nnot-a-number,x\n');
    expect(bad.status).toBe(400);
    expect((await bad.json()).detail.error).toBe('import_failed');
    const unknown = await importCsv(`${B}/buckets/b/tables/t`, 'id,nope\n1,x\n');
    expect((await unknown.json()).detail.error).toBe('unknown_columns');
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t`)).body.branch_state).toBe('main');
    expect(t.services.branches.tableStates(id, branchId)).toEqual([]);
    // The copy's file goes once the failed request let go of it, in a turn of the file's
    // write lock queued before the answer: the next turn of that lock comes after it.
    const file = t.services.paths.branchTableFile(id, branchId, 'b', 't');
    await t.services.registry.withWriteLock(file, async () => {});
    expect(existsSync(file)).toBe(false);
    expect((await t.callJson('GET', `${B}/changes`)).body).toEqual({ tables: [], buckets: [] });
  });
});

  it('a first write whose copy fails while its record commits leaves no record, no file, and the branch on main', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    // The copy fails once its record is durable (the record commits while the file is cloned).
    t.services.faultPoint = async (step) => {
      if (step !== 'branch_clone_started') return;
      for (let i = 0; i < 400; i++) {
        const rows = await t.services.catalog.store.db.with(async (c) =>
          (await c.runAndReadAll('SELECT count(*)::INTEGER AS n FROM branch_tables WHERE project_id = $1 AND branch_id = $2', [id, branchId])).getRowObjectsJS(),
        );
        if (rows[0]!.n === 1) throw new Error('disk gone');
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    try {
      const failed = await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n');
      expect(failed.status).toBe(500);
    } finally {
      t.services.faultPoint = undefined;
    }
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t`)).body.branch_state).toBe('main');
    expect(t.services.branches.tableStates(id, branchId)).toEqual([]);
    const left = await t.services.catalog.store.db.with(async (c) =>
      (await c.runAndReadAll('SELECT count(*)::INTEGER AS n FROM branch_tables WHERE project_id = $1 AND branch_id = $2', [id, branchId])).getRowObjectsJS(),
    );
    expect(left[0]!.n).toBe(0);
    expect(existsSync(t.services.paths.branchTableFile(id, branchId, 'b', 't'))).toBe(false);
    expect(await ids(`${B}/buckets/b/tables/t`)).toEqual([1, 2]);
    // The next write copies again and works.
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    expect(await ids(`${B}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
  });

describe('changes and reset', () => {
  it('lists copied, created and deleted tables and buckets, and whether main moved', async () => {
    const { P } = await project();
    expect((await t.call('POST', `${P}/buckets/b/tables`, { body: { name: 'u', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    const B = await branch(P);
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    expect((await t.call('DELETE', `${B}/buckets/b/tables/u`)).status).toBe(204);
    expect((await t.call('POST', `${B}/buckets/b/tables`, { body: { name: 'n', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await t.call('POST', `${B}/buckets`, { body: { name: 'nb' } })).status).toBe(201);
    let changes = (await t.callJson('GET', `${B}/changes`)).body;
    expect(changes).toEqual({
      tables: [
        { bucket: 'b', table: 'n', state: 'created', main_changed: false },
        { bucket: 'b', table: 't', state: 'copied', main_changed: false },
        { bucket: 'b', table: 'u', state: 'deleted', main_changed: false },
      ],
      buckets: [{ bucket: 'nb', state: 'created' }],
    });
    expect((await importCsv(`${P}/buckets/b/tables/t`, 'id,v\n8,m\n')).status).toBe(200);
    expect((await t.call('POST', `${P}/buckets/b/tables`, { body: { name: 'n', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    changes = (await t.callJson('GET', `${B}/changes`)).body;
    expect(changes.tables.map((x: any) => [x.table, x.main_changed])).toEqual([['n', true], ['t', true], ['u', false]]);
  });

  it('reset drops a copy or a tombstone; a table in state main is answered unchanged; a created one is 400 not_in_main', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    const dev = `${B}/buckets/b/tables/t`;
    const unchanged = await t.callJson('POST', `${dev}/reset`);
    expect(unchanged.status).toBe(200);
    expect(unchanged.body).toMatchObject({ name: 't', branch_state: 'main', row_count: 2 });
    expect((await importCsv(dev, 'id,v\n3,c\n')).status).toBe(200);
    const file = t.services.paths.branchTableFile(id, branchId, 'b', 't');
    expect(existsSync(file)).toBe(true);
    const reset = await t.callJson('POST', `${dev}/reset`);
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({ name: 't', branch_state: 'main', row_count: 2 });
    expect(existsSync(file)).toBe(false);
    expect(await ids(dev)).toEqual([1, 2]);
    // A tombstone.
    expect((await t.call('DELETE', dev)).status).toBe(204);
    expect((await t.callJson('POST', `${dev}/reset`)).body).toMatchObject({ name: 't', branch_state: 'main' });
    expect(await ids(dev)).toEqual([1, 2]);
    // Created in the branch.
    expect((await t.call('POST', `${B}/buckets/b/tables`, { body: { name: 'n', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    const refused = await t.callJson('POST', `${B}/buckets/b/tables/n/reset`);
    expect(refused.status).toBe(400);
    expect(refused.body.detail.error).toBe('not_in_main');
    expect((await t.callJson('GET', `${B}/buckets/b/tables/n`)).status).toBe(200);
    expect((await t.callJson('POST', `${B}/buckets/b/tables/nosuch/reset`)).body.detail.error).toBe('table_not_found');
  });
});

describe('merge', () => {
  it("merges a copied table: main gets the branch's rows and the branch sees main's table again", async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    const dev = `${B}/buckets/b/tables/t`;
    const nothing = await t.callJson('POST', `${dev}/merge`, { body: {} });
    expect(nothing.status).toBe(400);
    expect(nothing.body.detail.error).toBe('nothing_to_merge');
    expect((await importCsv(dev, 'id,v\n3,c\n')).status).toBe(200);
    const merged = await t.callJson('POST', `${dev}/merge`, { body: {} });
    expect(merged.status, JSON.stringify(merged.body)).toBe(200);
    expect(merged.body.table).toMatchObject({ name: 't', bucket: 'b', row_count: 3, primary_key: ['id'] });
    expect(merged.body.table.branch_state).toBeUndefined();
    expect(merged.body).toHaveProperty('snapshot_id');
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
    expect((await t.callJson('GET', dev)).body.branch_state).toBe('main');
    expect(existsSync(t.services.paths.branchTableFile(id, branchId, 'b', 't'))).toBe(false);
    expect(t.services.branches.listIntents()).toEqual([]);
    // Main's writes show in the branch again.
    expect((await importCsv(`${P}/buckets/b/tables/t`, 'id,v\n4,d\n')).status).toBe(200);
    expect(await ids(dev)).toEqual([1, 2, 3, 4]);
    expect((await t.callJson('GET', `${B}/changes`)).body.tables).toEqual([]);
  });

  it('merges a created table into main, creating its bucket there when the branch created it', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    expect((await t.call('POST', `${B}/buckets`, { body: { name: 'nb', description: 'made in dev' } })).status).toBe(201);
    expect((await t.call('POST', `${B}/buckets/nb/tables`, { body: { name: 'x', columns: [{ name: 'id', type: 'INTEGER' }], primary_key: ['id'] } })).status).toBe(201);
    expect((await t.call('POST', `${B}/buckets/nb/tables`, { body: { name: 'other', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await importCsv(`${B}/buckets/nb/tables/x`, 'id\n1\n2\n')).status).toBe(200);
    const merged = await t.callJson('POST', `${B}/buckets/nb/tables/x/merge`, { body: {} });
    expect(merged.status, JSON.stringify(merged.body)).toBe(200);
    expect(merged.body).toMatchObject({ table: { name: 'x', bucket: 'nb', row_count: 2, primary_key: ['id'] }, snapshot_id: null });
    expect((await t.callJson('GET', `${P}/buckets/nb`)).body).toMatchObject({ name: 'nb', description: 'made in dev', table_count: 1 });
    expect(await ids(`${P}/buckets/nb/tables/x`)).toEqual([1, 2]);
    expect(t.services.catalog.getTable(id, 'nb', 'x')?.rowCount).toBe(2);
    // The branch now sees main's bucket with main's table and its own other table.
    expect((await t.callJson('GET', `${B}/buckets/nb/tables`)).body.tables.map((x: any) => [x.name, x.branch_state])).toEqual([['other', 'created'], ['x', 'main']]);
  });

  it("merges a deleted table: main's table is dropped", async () => {
    const { id, P } = await project();
    const B = await branch(P);
    expect((await t.call('DELETE', `${B}/buckets/b/tables/t`)).status).toBe(204);
    const merged = await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: {} });
    expect(merged.status, JSON.stringify(merged.body)).toBe(200);
    expect(merged.body).toEqual({ table: null, snapshot_id: expect.stringMatching(/^s_/) });
    // Main's table was snapshotted first (§13 reason merge): it can come back.
    expect(t.services.snapshots.get(merged.body.snapshot_id)).toMatchObject({ kind: 'auto', reason: 'merge', table: 't', rowCount: 2 });
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.detail.error).toBe('table_not_found');
    expect(existsSync(t.services.paths.tableFile(id, 'b', 't'))).toBe(false);
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t`)).body.detail.error).toBe('table_not_found');
    expect((await t.callJson('GET', `${B}/changes`)).body.tables).toEqual([]);
  });

  it('answers 409 merge_conflict when main moved since the copy, and force overwrites', async () => {
    const { P } = await project();
    const B = await branch(P);
    const dev = `${B}/buckets/b/tables/t`;
    expect((await importCsv(dev, 'id,v\n3,branch\n')).status).toBe(200);
    expect((await importCsv(`${P}/buckets/b/tables/t`, 'id,v\n4,main\n')).status).toBe(200);
    const refused = await t.callJson('POST', `${dev}/merge`, { body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body.detail.error).toBe('merge_conflict');
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2, 4]);
    expect((await t.callJson('GET', dev)).body.branch_state).toBe('copied');
    const forced = await t.callJson('POST', `${dev}/merge`, { body: { force: true } });
    expect(forced.status).toBe(200);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
  });

  it('answers 409 when main created the same name meanwhile, or dropped and re-created it, or changed a table the branch deleted', async () => {
    const { P } = await project();
    const B = await branch(P);
    expect((await t.call('POST', `${B}/buckets/b/tables`, { body: { name: 'n', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await t.call('POST', `${P}/buckets/b/tables`, { body: { name: 'n', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await t.callJson('POST', `${B}/buckets/b/tables/n/merge`, { body: {} })).body.detail.error).toBe('merge_conflict');
    // Drop and re-create in main after the branch copied.
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    expect((await t.call('DELETE', `${P}/buckets/b/tables/t`)).status).toBe(204);
    expect((await t.call('POST', `${P}/buckets/b/tables`, { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: {} })).body.detail.error).toBe('merge_conflict');
    // A tombstone of a table main changed since.
    const B2 = await branch(P, 'two');
    expect((await t.call('DELETE', `${B2}/buckets/b/tables/n`)).status).toBe(204);
    expect((await importCsv(`${P}/buckets/b/tables/n`, 'id\n1\n')).status).toBe(200);
    expect((await t.callJson('POST', `${B2}/buckets/b/tables/n/merge`, { body: {} })).body.detail.error).toBe('merge_conflict');
    expect((await t.callJson('POST', `${B2}/buckets/b/tables/n/merge`, { body: { force: true } })).body).toEqual({ table: null, snapshot_id: expect.stringMatching(/^s_/) });
  });
});

describe('branch-restricted keys and deletion', () => {
  it('reach only their branch, its GET, never merge or delete it; creating one needs the branch', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    const other = await branch(P, 'other');
    const missing = await t.callJson('POST', `${P}/api-keys`, { body: { scope: 'write', branch: 'b_000000000000' } });
    expect(missing.status).toBe(404);
    expect(missing.body.detail.error).toBe('branch_not_found');
    const made = await t.callJson('POST', `${P}/api-keys`, { body: { scope: 'write', branch: branchId } });
    expect(made.status).toBe(201);
    expect(made.body.branch).toBe(branchId);
    const key = made.body.api_key;
    const ok = async (method: string, path: string, body?: unknown) => {
      const res = await t.callJson(method, path, { key, body });
      expect([401, 403], `${method} ${path}: ${JSON.stringify(res.body)}`).not.toContain(res.status);
      return res;
    };
    const refused = async (method: string, path: string, body?: unknown) => {
      const res = await t.callJson(method, path, { key, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.detail.error).toBe('forbidden');
    };
    await ok('GET', `${B}/buckets`);
    await ok('GET', B);
    await ok('GET', `${B}/changes`);
    await ok('GET', `${P}/api-keys/current`);
    expect((await ok('POST', `${B}/buckets/b/tables/t/import?incremental=true`)).status).toBe(200);
    await ok('POST', `${B}/buckets/b/tables/t/reset`);
    await refused('GET', `${P}/buckets`);
    await refused('GET', `${P}/branches/default/buckets`);
    await refused('GET', `${other}/buckets`);
    await refused('GET', P);
    await refused('GET', `${P}/branches`);
    await refused('POST', `${P}/branches`, { name: 'x' });
    await refused('DELETE', B);
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n5,x\n')).status).toBe(200);
    await refused('POST', `${B}/buckets/b/tables/t/merge`, {});
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
    // Deleting the branch takes its keys.
    expect((await t.call('DELETE', B)).status).toBe(204);
    expect(t.services.keys.list(id).filter((k) => k.branch === branchId)).toEqual([]);
    expect((await t.callJson('GET', `${P}/api-keys/current`, { key })).status).toBe(403);
  });

  it('deleting a branch removes its files and records and leaves main as it was', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    expect((await t.call('POST', `${B}/buckets`, { body: { name: 'nb' } })).status).toBe(201);
    expect((await t.call('POST', `${B}/buckets/nb/tables`, { body: { name: 'x', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    const dir = t.services.paths.branchDir(id, branchId);
    expect((await walk(dir)).filter((f) => f.endsWith('.duckdb')).sort()).toEqual(['b/t.duckdb', 'nb/x.duckdb']);
    const mainFiles = await walk(join(t.dataDir, 'duckdb', `project_${id}`));
    expect((await t.call('DELETE', B)).status).toBe(204);
    expect(existsSync(dir)).toBe(false);
    expect(t.services.branches.get(id, branchId)).toBeUndefined();
    expect(t.services.branches.tableStates(id, branchId)).toEqual([]);
    expect(await walk(join(t.dataDir, 'duckdb', `project_${id}`))).toEqual(mainFiles);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
    expect((await t.callJson('GET', `${B}/buckets`)).body.detail.error).toBe('branch_not_found');
  });

  it('deleting a project removes its branches', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    expect(existsSync(t.services.paths.branchesProjectDir(id))).toBe(true);
    expect((await t.call('DELETE', P)).status).toBe(204);
    expect(existsSync(t.services.paths.branchesProjectDir(id))).toBe(false);
    expect(t.services.branches.list(id)).toEqual([]);
  });
});

describe('restart', () => {
  it('branches, their copies, tombstones and versions survive a restart; orphan branch files are removed', async () => {
    const root = (await import('node:fs/promises')).mkdtemp(join((await import('node:os')).tmpdir(), 'dsa-branch-'));
    const dir = await root;
    let app = await makeApp({ root: dir });
    try {
      await app.createProject('r');
      const P = '/projects/r';
      await app.call('POST', `${P}/buckets`, { body: { name: 'b' } });
      await app.call('POST', `${P}/buckets/b/tables`, { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }] } });
      await app.call('POST', `${P}/buckets/b/tables`, { body: { name: 'u', columns: [{ name: 'id', type: 'INTEGER' }] } });
      await app.call('POST', `${P}/buckets/b/tables/t/import`, { raw: 'id\n1\n', headers: CSV });
      const branchId = (await app.callJson('POST', `${P}/branches`, { body: { name: 'dev' } })).body.id;
      const B = `${P}/branches/${branchId}`;
      await app.call('POST', `${B}/buckets/b/tables/t/import?incremental=true`, { raw: 'id\n2\n', headers: CSV });
      await app.call('DELETE', `${B}/buckets/b/tables/u`);
      await app.call('POST', `${P}/buckets/b/tables/t/import?incremental=true`, { raw: 'id\n3\n', headers: CSV });
      await app.services.close();
      // An orphan: a branch file no record claims, and a folder of a branch that is gone.
      const { mkdir, writeFile } = await import('node:fs/promises');
      await writeFile(join(app.services.paths.branchBucketDir('r', branchId, 'b'), 'stray.duckdb'), 'x');
      await mkdir(join(app.services.paths.branchesProjectDir('r'), 'b_ffffffffffff', 'b'), { recursive: true });
      app = await makeApp({ root: dir });
      const changes = await app.callJson('GET', `${B}/changes`);
      expect(changes.body.tables).toEqual([
        { bucket: 'b', table: 't', state: 'copied', main_changed: true },
        { bucket: 'b', table: 'u', state: 'deleted', main_changed: false },
      ]);
      const preview = await app.callJson('GET', `${B}/buckets/b/tables/t/preview`);
      expect(preview.body.rows.map((r: any) => r.id).sort()).toEqual([1, 2]);
      expect((await walk(app.services.paths.branchesProjectDir('r'))).sort()).toEqual([branchId, `${branchId}/b`, `${branchId}/b/t.duckdb`]);
      expect((await app.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: {} })).body.detail.error).toBe('merge_conflict');
    } finally {
      await app.close();
      await (await import('node:fs/promises')).rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SQL in a branch (§17)', () => {
  it("a query under P/branches/{branch}/query reads the branch's view", async () => {
    const { P } = await project();
    const B = await branch(P);
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    expect((await t.call('POST', `${B}/buckets`, { body: { name: 'nb' } })).status).toBe(201);
    expect((await t.call('POST', `${B}/buckets/nb/tables`, { body: { name: 'x', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    const sql = { sql: 'SELECT count(*) AS n FROM b.t' };
    const inBranch = await t.callJson('POST', `${B}/query`, { body: sql });
    expect(inBranch.status, JSON.stringify(inBranch.body)).toBe(200);
    expect(inBranch.body.rows).toEqual([{ n: 3 }]);
    expect((await t.callJson('POST', `${P}/query`, { body: sql })).body.rows).toEqual([{ n: 2 }]);
    expect((await t.callJson('POST', `${B}/query`, { body: { sql: 'SELECT count(*) AS n FROM nb.x' } })).body.rows).toEqual([{ n: 0 }]);
    expect((await t.callJson('POST', `${P}/query`, { body: { sql: 'SELECT count(*) AS n FROM nb.x' } })).body.detail.error).toBe('invalid_query');
  });

  it("workspaces belong to their branch: load reads the branch's tables, unload writes into the branch, deleting the branch deletes them", async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    const ws = await t.callJson('POST', `${B}/workspaces`, { body: { name: 'w' } });
    expect(ws.status).toBe(201);
    expect(ws.body.branch).toBe(branchId);
    expect((await t.callJson('GET', `${P}/workspaces`)).body.total).toBe(0);
    expect((await t.callJson('GET', `${B}/workspaces`)).body.total).toBe(1);
    expect((await t.callJson('GET', `${P}/workspaces/${ws.body.id}`)).body.detail.error).toBe('workspace_not_found');
    const W = `${B}/workspaces/${ws.body.id}`;
    const loaded = await t.callJson('POST', `${W}/load`, { body: { tables: [{ source: 'b.t', destination: 'src' }] } });
    expect(loaded.status, JSON.stringify(loaded.body)).toBe(200);
    expect(loaded.body.tables).toEqual([expect.objectContaining({ name: 'src', row_count: 3 })]);
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: 'CREATE TABLE out AS SELECT id * 10 AS id FROM src' } })).status).toBe(200);
    const unloaded = await t.callJson('POST', `${W}/unload`, { body: { source: 'out', bucket: 'b', table: 'made' } });
    expect(unloaded.status, JSON.stringify(unloaded.body)).toBe(200);
    expect(unloaded.body.table.branch_state).toBe('created');
    expect(await ids(`${B}/buckets/b/tables/made`)).toEqual([10, 20, 30]);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/made`)).body.detail.error).toBe('table_not_found');
    // Unloading into one of main's tables writes the branch's copy only.
    expect((await t.callJson('POST', `${W}/unload`, { body: { source: 'out', bucket: 'b', table: 't', incremental: true } })).status).toBe(200);
    expect(await ids(`${B}/buckets/b/tables/t`)).toEqual([1, 2, 3, 10, 20, 30]);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
    expect((await t.call('DELETE', B)).status).toBe(204);
    expect(t.services.workspaces.all().filter((w) => w.projectId === id)).toEqual([]);
  });
});

describe('schema changes and metadata in a branch (§12)', () => {
  it('a column added in a branch exists only there, and one added in main does not show in a copied table', async () => {
    const { P } = await project();
    const B = await branch(P);
    const added = await t.callJson('POST', `${B}/buckets/b/tables/t/columns`, { body: { name: 'extra', type: 'INTEGER' } });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body.branch_state).toBe('copied');
    expect(added.body.columns.map((c: any) => c.name)).toEqual(['id', 'v', 'extra']);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.columns.map((c: any) => c.name)).toEqual(['id', 'v']);
    expect((await t.callJson('POST', `${P}/buckets/b/tables/t/columns`, { body: { name: 'only_main', type: 'VARCHAR' } })).status).toBe(201);
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t`)).body.columns.map((c: any) => c.name)).toEqual(['id', 'v', 'extra']);
    expect((await t.callJson('PATCH', `${B}/buckets/b/tables/t/columns/v`, { body: { name: 'renamed' } })).status).toBe(200);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.columns.map((c: any) => c.name)).toEqual(['id', 'v', 'only_main']);
    expect((await t.callJson('GET', `${B}/changes`)).body.tables).toEqual([{ bucket: 'b', table: 't', state: 'copied', main_changed: true }]);
    // The rows came along with the copy.
    expect(await ids(`${B}/buckets/b/tables/t`)).toEqual([1, 2]);
  });

  it("table and column metadata: the copy starts with main's, then each side keeps its own; merge carries the branch's to main", async () => {
    const { P } = await project();
    expect((await t.call('POST', `${P}/buckets/b/tables/t/metadata`, { body: { metadata: [{ key: 'owner', value: 'main-team' }] } })).status).toBe(200);
    const B = await branch(P);
    // Until the branch writes, it reads main's metadata.
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t/metadata`)).body.metadata.map((m: any) => m.value)).toEqual(['main-team']);
    const written = await t.callJson('POST', `${B}/buckets/b/tables/t/metadata`, { body: { metadata: [{ key: 'note', value: 'from dev' }] } });
    expect(written.status, JSON.stringify(written.body)).toBe(200);
    expect(written.body.metadata.map((m: any) => m.key)).toEqual(['note', 'owner']);
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t`)).body.branch_state).toBe('copied');
    expect((await t.callJson('POST', `${B}/buckets/b/tables/t/columns/v/metadata`, { body: { metadata: [{ key: 'pii', value: 'no' }] } })).status).toBe(200);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t/metadata`)).body.metadata.map((m: any) => m.key)).toEqual(['owner']);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t/columns/v/metadata`)).body.metadata).toEqual([]);
    // Main's metadata write moves main's version: a merge needs force now.
    expect((await t.call('POST', `${P}/buckets/b/tables/t/metadata`, { body: { metadata: [{ key: 'owner', value: 'changed' }] } })).status).toBe(200);
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t/metadata`)).body.metadata.find((m: any) => m.key === 'owner').value).toBe('main-team');
    expect((await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: {} })).body.detail.error).toBe('merge_conflict');
    expect((await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: { force: true } })).status).toBe(200);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t/metadata`)).body.metadata.map((m: any) => `${m.key}=${m.value}`)).toEqual(['note=from dev', 'owner=main-team']);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t/columns/v/metadata`)).body.metadata.map((m: any) => m.key)).toEqual(['pii']);
  });

  it("bucket metadata: a bucket the branch created has its own; a merge creating the bucket in main takes it along", async () => {
    const { P } = await project();
    const B = await branch(P);
    expect((await t.call('POST', `${B}/buckets`, { body: { name: 'nb' } })).status).toBe(201);
    expect((await t.callJson('POST', `${B}/buckets/nb/metadata`, { body: { metadata: [{ key: 'k', value: 'v' }] } })).status).toBe(200);
    expect((await t.callJson('GET', `${B}/buckets/nb`)).body.metadata.map((m: any) => m.key)).toEqual(['k']);
    // Merging a table of it creates the bucket in main with that metadata.
    expect((await t.call('POST', `${B}/buckets/nb/tables`, { body: { name: 'x', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await t.callJson('POST', `${B}/buckets/nb/tables/x/merge`, { body: {} })).status).toBe(200);
    expect((await t.callJson('GET', `${P}/buckets/nb`)).body.metadata.map((m: any) => `${m.key}=${m.value}`)).toEqual(['k=v']);
  });

  it("bucket metadata of main's bucket: live until the branch writes it, then each side keeps its own (copy on write)", async () => {
    const { id, P } = await project();
    const entries = async (path: string) => (await t.callJson('GET', `${path}/buckets/b/metadata`)).body.metadata.map((m: any) => `${m.key}=${m.value}`);
    const bucketObject = async (path: string) => (await t.callJson('GET', `${path}/buckets/b`)).body.metadata.map((m: any) => `${m.key}=${m.value}`);
    expect((await t.call('POST', `${P}/buckets/b/metadata`, { body: { metadata: [{ key: 'owner', value: 'main' }] } })).status).toBe(200);
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    expect(await entries(B)).toEqual(['owner=main']);
    expect((await t.call('POST', `${P}/buckets/b/metadata`, { body: { metadata: [{ key: 'owner', value: 'main2' }] } })).status).toBe(200);
    expect(await entries(B)).toEqual(['owner=main2']);
    // A refused first write (no such key) takes no copy: main's changes still show.
    const missing = await t.callJson('DELETE', `${B}/buckets/b/metadata/nosuch`);
    expect(missing.status).toBe(404);
    expect(missing.body.detail.error).toBe('metadata_not_found');
    expect(t.services.metadata.all().filter((r) => r.branch === branchId)).toEqual([]);
    // The first write: the branch gets its own copy of main's entries, then writes it.
    const written = await t.callJson('POST', `${B}/buckets/b/metadata`, { body: { metadata: [{ key: 'note', value: 'dev' }] } });
    expect(written.status, JSON.stringify(written.body)).toBe(200);
    expect(written.body.metadata.map((m: any) => `${m.key}=${m.value}`)).toEqual(['note=dev', 'owner=main2']);
    expect(await entries(P)).toEqual(['owner=main2']);
    expect(await bucketObject(P)).toEqual(['owner=main2']);
    expect(await bucketObject(B)).toEqual(['note=dev', 'owner=main2']);
    // Main's later changes do not show in the branch, nor the branch's in main.
    expect((await t.call('POST', `${P}/buckets/b/metadata`, { body: { metadata: [{ key: 'x', value: '1' }] } })).status).toBe(200);
    expect((await t.call('DELETE', `${B}/buckets/b/metadata/owner`)).status).toBe(204);
    expect(await entries(B)).toEqual(['note=dev']);
    expect(await entries(P)).toEqual(['owner=main2', 'x=1']);
    // An emptied copy stays the branch's (main's entries do not come back).
    expect((await t.call('DELETE', `${B}/buckets/b/metadata/note`)).status).toBe(204);
    expect(await entries(B)).toEqual([]);
    expect(await entries(P)).toEqual(['owner=main2', 'x=1']);
    expect((await t.call('POST', `${B}/buckets/b/metadata`, { body: { metadata: [{ key: 'note', value: 'again' }] } })).status).toBe(200);
    // Merging a table of the bucket leaves main's bucket metadata alone (main has the bucket).
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    expect((await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: {} })).status).toBe(200);
    expect(await entries(P)).toEqual(['owner=main2', 'x=1']);
    expect(await entries(B)).toEqual(['note=again']);
    // Table metadata writes in the branch do not touch the bucket's either way.
    expect((await t.call('POST', `${B}/buckets/b/tables/t/metadata`, { body: { metadata: [{ key: 'tk', value: 'tv' }] } })).status).toBe(200);
    expect(await entries(B)).toEqual(['note=again']);
    // The branch's changes do not list a metadata copy (buckets there are created or deleted ones).
    expect((await t.callJson('GET', `${B}/changes`)).body.buckets).toEqual([]);
    // Deleting the bucket in the branch drops its copy; a bucket created there again starts empty.
    expect((await t.call('DELETE', `${B}/buckets/b`)).status).toBe(204);
    expect((await t.call('POST', `${B}/buckets`, { body: { name: 'b' } })).status).toBe(201);
    expect(await entries(B)).toEqual([]);
    expect(await entries(P)).toEqual(['owner=main2', 'x=1']);
    expect((await t.call('POST', `${B}/buckets/b/metadata`, { body: { metadata: [{ key: 'fresh', value: 'y' }] } })).status).toBe(200);
    // Deleting the branch deletes its metadata.
    expect((await t.call('DELETE', B)).status).toBe(204);
    expect(t.services.metadata.all().filter((r) => r.projectId === id && r.branch === branchId)).toEqual([]);
    expect(t.services.branches.bucketMetadataCopy(id, branchId, 'b')).toBeUndefined();
  });

  it("a linked bucket's metadata stays read-only in a branch; a copy survives a restart", async () => {
    const dir = await (await import('node:fs/promises')).mkdtemp(join((await import('node:os')).tmpdir(), 'dsa-branch-md-'));
    let app = await makeApp({ root: dir });
    try {
      await app.createProject('m');
      await app.createProject('src');
      await app.call('POST', '/projects/src/buckets', { body: { name: 'shared' } });
      await shareAndLink(app, { from: 'src', bucket: 'shared', to: 'm', as: 'lnk' });
      await app.call('POST', '/projects/m/buckets', { body: { name: 'b' } });
      await app.call('POST', '/projects/m/buckets/b/metadata', { body: { metadata: [{ key: 'k', value: 'main' }] } });
      const branchId = (await app.callJson('POST', '/projects/m/branches', { body: { name: 'dev' } })).body.id;
      const B = `/projects/m/branches/${branchId}`;
      const linked = await app.callJson('POST', `${B}/buckets/lnk/metadata`, { body: { metadata: [{ key: 'k', value: 'v' }] } });
      expect(linked.status).toBe(403);
      expect(linked.body.detail.error).toBe('bucket_readonly');
      expect((await app.call('POST', `${B}/buckets/b/metadata`, { body: { metadata: [{ key: 'k', value: 'dev' }] } })).status).toBe(200);
      await app.services.close();
      app = await makeApp({ root: dir });
      expect((await app.call('POST', '/projects/m/buckets/b/metadata', { body: { metadata: [{ key: 'k2', value: 'main' }] } })).status).toBe(200);
      expect((await app.callJson('GET', `${B}/buckets/b/metadata`)).body.metadata.map((m: any) => `${m.key}=${m.value}`)).toEqual(['k=dev']);
    } finally {
      await app.close();
      await (await import('node:fs/promises')).rm(dir, { recursive: true, force: true });
    }
  });
});

describe('snapshots in a branch (§13)', () => {
  it('a restore in a branch that creates a deleted bucket again gives it the description and metadata of snapshot time, in the branch only', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    expect((await t.callJson('POST', `${B}/buckets`, { body: { name: 'nb', description: 'made in dev' } })).status).toBe(201);
    expect((await t.callJson('POST', `${B}/buckets/nb/tables`, { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await importCsv(`${B}/buckets/nb/tables/t`, 'id\n7\n')).status).toBe(200);
    expect((await t.callJson('POST', `${B}/buckets/nb/metadata`, { body: { metadata: [{ key: 'KBC.owner', value: 'ann' }] } })).status).toBe(200);
    const snap = (await t.callJson('POST', `${B}/buckets/nb/tables/t/snapshots`, { body: {} })).body;
    const atSnapshot = (await t.callJson('GET', `${B}/buckets/nb`)).body;
    expect(atSnapshot.metadata.map((e: any) => [e.key, e.value])).toEqual([['KBC.owner', 'ann']]);
    await t.callJson('POST', `${B}/buckets/nb/metadata`, { body: { metadata: [{ key: 'KBC.owner', value: 'bob' }] } });
    expect((await t.call('DELETE', `${B}/buckets/nb?force=true`)).status).toBe(204);
    expect((await t.call('GET', `${B}/buckets/nb`)).status).toBe(404);

    const restored = await t.callJson('POST', `${B}/snapshots/${snap.id}/restore`, { body: {} });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    const again = (await t.callJson('GET', `${B}/buckets/nb`)).body;
    expect(again.description).toBe('made in dev');
    expect(again.metadata).toEqual(atSnapshot.metadata);
    expect((await t.callJson('GET', `${B}/buckets/nb/metadata`)).body.metadata).toEqual(atSnapshot.metadata);
    expect(await ids(`${B}/buckets/nb/tables/t`)).toEqual([7]);
    // Main has no such bucket, and no metadata of it.
    expect((await t.call('GET', `${P}/buckets/nb`)).status).toBe(404);
    expect(t.services.metadata.all().filter((r) => r.projectId === id && r.branch !== branchId && r.bucket === 'nb')).toEqual([]);
  });

  it("belong to the branch: listed and reached under it only, restored into it, deleted with it", async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    const taken = await t.callJson('POST', `${B}/buckets/b/tables/t/snapshots`, { body: { description: 'dev state' } });
    expect(taken.status, JSON.stringify(taken.body)).toBe(201);
    expect(taken.body).toMatchObject({ branch: branchId, row_count: 3, kind: 'manual' });
    const mainSnap = (await t.callJson('POST', `${P}/buckets/b/tables/t/snapshots`, { body: {} })).body;
    expect(mainSnap.branch).toBe('default');
    // Listings: the table's under each branch; P/snapshots shows all, a branch's twin only its own.
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t/snapshots`)).body.snapshots.map((s: any) => s.id)).toEqual([taken.body.id]);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t/snapshots`)).body.snapshots.map((s: any) => s.id)).toEqual([mainSnap.id]);
    expect((await t.callJson('GET', `${P}/snapshots`)).body.total).toBe(2);
    expect((await t.callJson('GET', `${B}/snapshots`)).body.snapshots.map((s: any) => s.id)).toEqual([taken.body.id]);
    expect((await t.callJson('GET', `${B}/snapshots/${mainSnap.id}`)).body.detail.error).toBe('snapshot_not_found');
    expect((await t.callJson('GET', `${P}/snapshots/${taken.body.id}`)).status).toBe(200);
    // Restore goes into the branch: main keeps its rows.
    expect((await t.call('POST', `${B}/buckets/b/tables/t/truncate`)).status).toBe(200);
    const restored = await t.callJson('POST', `${B}/snapshots/${taken.body.id}/restore`, { body: { overwrite: true } });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(restored.body.table).toMatchObject({ name: 't', row_count: 3, branch_state: 'copied' });
    expect(restored.body.auto_snapshot_id).toMatch(/^s_/);
    expect(await ids(`${B}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
    const copy = await t.callJson('POST', `${B}/snapshots/${taken.body.id}/restore`, { body: { table: 'again' } });
    expect(copy.status).toBe(200);
    expect(copy.body.table.branch_state).toBe('created');
    expect((await t.callJson('GET', `${P}/buckets/b/tables/again`)).status).toBe(404);
    // Deleting the branch deletes its snapshots and their files.
    const files = t.services.snapshots.list(id, { branch: branchId }).map((s) => t.services.paths.snapshotFile(id, s.id));
    expect(files.length).toBeGreaterThan(0);
    expect((await t.call('DELETE', B)).status).toBe(204);
    expect(t.services.snapshots.list(id, { branch: branchId })).toEqual([]);
    for (const file of files) expect(existsSync(file)).toBe(false);
    expect(t.services.snapshots.get(mainSnap.id)).toBeDefined();
  });

  it('a full import in a branch takes its auto snapshot in the branch', async () => {
    const { id, P } = await project();
    expect((await t.call('PUT', `${P}/settings/snapshots`, { body: { auto: { full_import: true } } })).status).toBe(200);
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n9,z\n', false)).status).toBe(200);
    const autos = t.services.snapshots.list(id, { kind: 'auto' });
    expect(autos.map((s) => [s.branch, s.reason, s.rowCount])).toEqual([[branchId, 'full_import', 2]]);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
  });
});

describe('concurrency', () => {
  it('writes to one table in main and in a branch at once: each side keeps exactly its own, the first copy is taken once', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    const main = `${P}/buckets/b/tables/t`;
    const dev = `${B}/buckets/b/tables/t`;
    const mainIds = Array.from({ length: 8 }, (_, i) => 100 + i);
    const devIds = Array.from({ length: 8 }, (_, i) => 200 + i);
    // Rounds of four at once (MAX_CONCURRENT_IMPORTS), two on each side.
    for (let round = 0; round < 4; round++) {
      const pick = (list: number[]) => list.slice(round * 2, round * 2 + 2);
      const results = await Promise.all([...pick(mainIds).map((n) => importCsv(main, `id,v\n${n},m\n`)), ...pick(devIds).map((n) => importCsv(dev, `id,v\n${n},d\n`))]);
      for (const res of results) expect(res.status).toBe(200);
    }
    const inMain = await ids(main);
    const inDev = await ids(dev);
    expect(inMain).toEqual([1, 2, ...mainIds]);
    expect(inDev.filter((n) => n >= 200)).toEqual(devIds);
    // The copy saw main as it was at one moment: the originals and some of main's imports, never more.
    expect(inDev.filter((n) => n < 200).every((n) => n <= 2 || mainIds.includes(n))).toBe(true);
    expect(inDev).toEqual(expect.arrayContaining([1, 2]));
    expect(t.services.branches.tableStates(id, branchId).map((x) => x.state)).toEqual(['copied']);
    expect((await t.callJson('GET', dev)).body.row_count).toBe(inDev.length);
  });
});

describe("main deleting a bucket the branch holds tables of", () => {
  it('leaves the branch its copies (and their bucket), and a forced merge brings the bucket back', async () => {
    const { P } = await project();
    const B = await branch(P);
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    expect((await t.call('DELETE', `${P}/buckets/b`)).status).toBe(204);
    expect((await t.callJson('GET', `${B}/buckets`)).body.buckets.map((b: any) => [b.name, b.table_count])).toEqual([['b', 1]]);
    expect(await ids(`${B}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
    expect((await t.callJson('GET', `${B}/changes`)).body.tables).toEqual([{ bucket: 'b', table: 't', state: 'copied', main_changed: true }]);
    expect((await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: {} })).body.detail.error).toBe('merge_conflict');
    expect((await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: { force: true } })).status).toBe(200);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
  });

  it("a merge that brings the bucket back gives it the branch's copy of its metadata", async () => {
    const { id, P } = await project();
    expect((await t.call('POST', `${P}/buckets/b/metadata`, { body: { metadata: [{ key: 'owner', value: 'main' }] } })).status).toBe(200);
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    expect((await t.call('POST', `${B}/buckets/b/metadata`, { body: { metadata: [{ key: 'note', value: 'dev' }] } })).status).toBe(200);
    expect((await t.call('DELETE', `${P}/buckets/b`)).status).toBe(204);
    // The branch keeps its copy of the bucket's metadata along with its copy of the table.
    expect((await t.callJson('GET', `${B}/buckets/b`)).body.metadata.map((m: any) => `${m.key}=${m.value}`)).toEqual(['note=dev', 'owner=main']);
    expect((await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: { force: true } })).status).toBe(200);
    expect((await t.callJson('GET', `${P}/buckets/b`)).body.metadata.map((m: any) => `${m.key}=${m.value}`)).toEqual(['note=dev', 'owner=main']);
    // The branch sees main's bucket again, and keeps no copy.
    expect(t.services.branches.bucketMetadataCopy(id, branchId, 'b')).toBeUndefined();
    expect((await t.call('POST', `${P}/buckets/b/metadata`, { body: { metadata: [{ key: 'later', value: 'm' }] } })).status).toBe(200);
    expect((await t.callJson('GET', `${B}/buckets/b/metadata`)).body.metadata.map((m: any) => m.key)).toEqual(['later', 'note', 'owner']);
  });

  it("a copy of an earlier bucket's metadata is not used once main created the bucket again", async () => {
    const clock = manualClock();
    const app = await makeApp({ clock });
    try {
      await app.createProject('q');
      const P = '/projects/q';
      await app.call('POST', `${P}/buckets`, { body: { name: 'b' } });
      const branchId = (await app.callJson('POST', `${P}/branches`, { body: { name: 'dev' } })).body.id;
      const B = `${P}/branches/${branchId}`;
      expect((await app.call('POST', `${B}/buckets/b/metadata`, { body: { metadata: [{ key: 'old', value: 'x' }] } })).status).toBe(200);
      clock.advance(1000);
      expect((await app.call('DELETE', `${P}/buckets/b`)).status).toBe(204);
      expect((await app.call('POST', `${P}/buckets`, { body: { name: 'b' } })).status).toBe(201);
      expect((await app.call('POST', `${P}/buckets/b/metadata`, { body: { metadata: [{ key: 'new', value: 'y' }] } })).status).toBe(200);
      expect((await app.callJson('GET', `${B}/buckets/b/metadata`)).body.metadata.map((m: any) => m.key)).toEqual(['new']);
      // Its first write now copies the new bucket's entries.
      expect((await app.call('POST', `${B}/buckets/b/metadata`, { body: { metadata: [{ key: 'dev', value: 'z' }] } })).status).toBe(200);
      expect((await app.callJson('GET', `${B}/buckets/b/metadata`)).body.metadata.map((m: any) => m.key)).toEqual(['dev', 'new']);
      expect((await app.callJson('GET', `${P}/buckets/b/metadata`)).body.metadata.map((m: any) => m.key)).toEqual(['new']);
    } finally {
      await app.close();
    }
  });
});

describe('files and jobs in a branch (§15, §16)', () => {
  it("an import job submitted in a branch runs on the branch's copy; branch job listings show that branch's only", async () => {
    const { P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    // A file belongs to the project: uploaded under the branch, it is the same file in main.
    const file = await t.callJson('POST', `${B}/files?name=rows.csv`, { raw: 'id,v\n7,j\n', headers: { 'content-type': 'text/csv' } });
    expect(file.status).toBe(201);
    expect((await t.callJson('GET', `${P}/files/${file.body.id}`)).status).toBe(200);
    const job = await t.callJson('POST', `${B}/buckets/b/tables/t/import-async`, { body: { file_id: file.body.id, incremental: true } });
    expect(job.status, JSON.stringify(job.body)).toBe(202);
    expect(job.body.branch).toBe(branchId);
    const done = await t.callJson('GET', `${B}/jobs/${job.body.id}?wait=30`);
    expect(done.body.status, JSON.stringify(done.body)).toBe('success');
    expect(await ids(`${B}/buckets/b/tables/t`)).toEqual([1, 2, 7]);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
    const mainJob = await t.callJson('POST', `${P}/buckets/b/tables/t/export-async`, { body: { format: 'csv' } });
    expect(mainJob.status).toBe(202);
    expect((await t.callJson('GET', `${P}/jobs/${mainJob.body.id}?wait=30`)).body.status).toBe('success');
    expect((await t.callJson('GET', `${B}/jobs`)).body.jobs.map((j: any) => j.id)).toEqual([job.body.id]);
    expect((await t.callJson('GET', `${P}/jobs`)).body.total).toBe(2);
    expect((await t.callJson('GET', `${P}/jobs?branch=${branchId}`)).body.total).toBe(1);
    expect((await t.callJson('GET', `${B}/jobs/${mainJob.body.id}`)).body.detail.error).toBe('job_not_found');
  });
});

describe('auto snapshots of writes inside a branch (§13: by the same settings, the branch\'s)', () => {
  const autos = (id: string, branchId: string) =>
    t.services.snapshots
      .list(id, { kind: 'auto', branch: branchId })
      .map((s) => [s.reason, s.bucket, s.table, s.rowCount])
      .sort((a, b) => String(a[2]).localeCompare(String(b[2])));
  const mainAutos = (id: string) => t.services.snapshots.list(id, { kind: 'auto', branch: 'default' });

  it("truncate of a table still main's snapshots main's rows as the branch saw them; of its copy, the copy's file itself", async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    const truncated = await t.callJson('POST', `${B}/buckets/b/tables/t/truncate`);
    expect(truncated.status, JSON.stringify(truncated.body)).toBe(200);
    expect(truncated.body).toEqual({ deleted_rows: 2, row_count: 0 });
    expect(autos(id, branchId)).toEqual([['truncate', 'b', 't', 2]]);
    expect(mainAutos(id)).toEqual([]);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
    // The branch's copy now: rows 5, truncated again — its file becomes the snapshot, no copy.
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n5,e\n')).status).toBe(200);
    const file = t.services.paths.branchTableFile(id, branchId, 'b', 't');
    const before = statSync(file).ino;
    expect((await t.callJson('POST', `${B}/buckets/b/tables/t/truncate`)).body).toEqual({ deleted_rows: 1, row_count: 0 });
    const second = t.services.snapshots.list(id, { kind: 'auto', branch: branchId })[0]!;
    expect([second.reason, second.rowCount]).toEqual(['truncate', 1]);
    expect(statSync(t.services.paths.snapshotFile(id, second.id)).ino).toBe(before);
    expect(await ids(`${B}/buckets/b/tables/t`)).toEqual([]);
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t`)).body).toMatchObject({ row_count: 0, branch_state: 'copied', primary_key: ['id'] });
    // Restoring one brings the branch's rows back, in the branch only.
    const restored = await t.callJson('POST', `${B}/snapshots/${second.id}/restore`, { body: { overwrite: true } });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(await ids(`${B}/buckets/b/tables/t`)).toEqual([5]);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
    expect(t.services.snapshots.get(restored.body.auto_snapshot_id)).toMatchObject({ branch: branchId, reason: 'restore' });
  });

  it("dropping main's table in a branch snapshots main's file as it was (main keeps it); dropping a copy or a created table moves the branch's file", async () => {
    const { id, P } = await project();
    expect((await t.call('POST', `${P}/buckets/b/tables`, { body: { name: 'u', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await t.callJson('POST', `${P}/buckets/b/tables/t/metadata`, { body: { metadata: [{ key: 'owner', value: 'main' }] } })).status).toBe(200);
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    const mainFile = t.services.paths.tableFile(id, 'b', 't');
    expect((await t.call('DELETE', `${B}/buckets/b/tables/t`)).status).toBe(204);
    expect(autos(id, branchId)).toEqual([['drop_table', 'b', 't', 2]]);
    const tomb = t.services.snapshots.list(id, { branch: branchId })[0]!;
    expect(tomb.metadata?.table.map((m) => m.value)).toEqual(['main']);
    expect(existsSync(mainFile)).toBe(true);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
    expect(mainAutos(id)).toEqual([]);
    // A copy: import makes it, the drop moves its file into the snapshot.
    expect((await importCsv(`${B}/buckets/b/tables/u`, 'id\n7\n8\n9\n')).status).toBe(200);
    const uFile = t.services.paths.branchTableFile(id, branchId, 'b', 'u');
    const ino = statSync(uFile).ino;
    expect((await t.call('DELETE', `${B}/buckets/b/tables/u`)).status).toBe(204);
    const uSnap = t.services.snapshots.list(id, { branch: branchId, table: 'u' })[0]!;
    expect([uSnap.reason, uSnap.rowCount]).toEqual(['drop_table', 3]);
    expect(statSync(t.services.paths.snapshotFile(id, uSnap.id)).ino).toBe(ino);
    expect(existsSync(uFile)).toBe(false);
    // A table created in the branch.
    expect((await t.call('POST', `${B}/buckets/b/tables`, { body: { name: 'w', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await importCsv(`${B}/buckets/b/tables/w`, 'id\n1\n')).status).toBe(200);
    expect((await t.call('DELETE', `${B}/buckets/b/tables/w`)).status).toBe(204);
    expect(autos(id, branchId)).toEqual([['drop_table', 'b', 't', 2], ['drop_table', 'b', 'u', 3], ['drop_table', 'b', 'w', 1]]);
    // Restoring the tombstone's snapshot gives the branch main's table back as its own copy.
    const restored = await t.callJson('POST', `${B}/snapshots/${tomb.id}/restore`, { body: {} });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(restored.body.table).toMatchObject({ name: 't', branch_state: 'copied', row_count: 2 });
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t/metadata`)).body.metadata.map((m: any) => m.value)).toEqual(['main']);
    // Under the branch, only its snapshots; deleting the branch deletes them and their files.
    expect((await t.callJson('POST', `${P}/buckets/b/tables/t/snapshots`, { body: {} })).status).toBe(201);
    const listed = await t.callJson('GET', `${B}/snapshots?kind=auto`);
    expect(listed.body.snapshots.every((s: any) => s.branch === branchId)).toBe(true);
    expect(listed.body.total).toBe(3);
    const files = t.services.snapshots.list(id, { branch: branchId }).map((s) => t.services.paths.snapshotFile(id, s.id));
    expect((await t.call('DELETE', B)).status).toBe(204);
    for (const f of files) expect(existsSync(f)).toBe(false);
    expect(t.services.snapshots.list(id, { branch: 'default' })).toHaveLength(1);
  });

  it("a bucket's cascade delete in a branch snapshots every table the branch saw in it", async () => {
    const { id, P } = await project();
    expect((await t.call('POST', `${P}/buckets/b/tables`, { body: { name: 'u', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    expect((await importCsv(`${B}/buckets/b/tables/u`, 'id\n1\n2\n3\n')).status).toBe(200);
    expect((await t.call('POST', `${B}/buckets/b/tables`, { body: { name: 'w', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await t.call('DELETE', `${B}/buckets/b`)).status).toBe(204);
    expect(autos(id, branchId)).toEqual([['drop_table', 'b', 't', 2], ['drop_table', 'b', 'u', 3], ['drop_table', 'b', 'w', 0]]);
    expect(mainAutos(id)).toEqual([]);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2]);
    expect(existsSync(t.services.paths.branchBucketDir(id, branchId, 'b'))).toBe(false);
    // The bucket comes back in the branch when a snapshot of it is restored.
    const u = t.services.snapshots.list(id, { branch: branchId, table: 'u' })[0]!;
    expect((await t.callJson('POST', `${B}/snapshots/${u.id}/restore`, { body: {} })).status).toBe(200);
    expect(await ids(`${B}/buckets/b/tables/u`)).toEqual([1, 2, 3]);
    expect(await ids(`${P}/buckets/b/tables/u`)).toEqual([]);
  });

  it("a cascade delete's locks: thousands of tables do not nest thousands of calls on one stack", async () => {
    const paths = Array.from({ length: 5000 }, (_, i) => join(t.dataDir, 'locks', `t${i}.duckdb`));
    expect(await withWriteLocks(t.services.registry, paths, async () => 'held')).toBe('held');
  });

  it('a column drop in a branch takes its snapshot in the branch; settings switched off mean none', async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    expect((await t.callJson('DELETE', `${B}/buckets/b/tables/t/columns/v`)).status).toBe(200);
    const drop = t.services.snapshots.list(id, { branch: branchId });
    expect(drop.map((s) => [s.reason, s.rowCount, s.columns.map((c) => c.name)])).toEqual([['drop_column', 2, ['id', 'v']]]);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.columns.map((c: any) => c.name)).toEqual(['id', 'v']);
    // Off: truncate, drop and a bucket delete take none (PUT through the branch's twin of the settings).
    const off = await t.callJson('PUT', `${B}/settings/snapshots`, { body: { auto: { drop_table: false, truncate: false, drop_column: false } } });
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    expect((await t.call('POST', `${B}/buckets/b/tables/t/truncate`)).status).toBe(200);
    expect((await t.call('POST', `${P}/buckets/b/tables`, { body: { name: 'u', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await t.call('DELETE', `${B}/buckets/b/tables/u`)).status).toBe(204);
    expect((await t.call('DELETE', `${B}/buckets/b`)).status).toBe(204);
    expect(t.services.snapshots.list(id, { branch: branchId })).toHaveLength(1);
  });

  it('a full unload from a workspace into an existing table takes the full_import snapshot, in main and in a branch', async () => {
    const { id, P } = await project();
    expect((await t.call('PUT', `${P}/settings/snapshots`, { body: { auto: { full_import: true } } })).status).toBe(200);
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    for (const [base, owner] of [[B, branchId], [P, 'default']] as const) {
      const ws = (await t.callJson('POST', `${base}/workspaces`, { body: {} })).body.id;
      expect((await t.callJson('POST', `${base}/workspaces/${ws}/query`, { body: { sql: "CREATE TABLE out AS SELECT 9 AS id, 'z' AS v" } })).status).toBe(200);
      const unloaded = await t.callJson('POST', `${base}/workspaces/${ws}/unload`, { body: { source: 'out', bucket: 'b', table: 't' } });
      expect(unloaded.status, JSON.stringify(unloaded.body)).toBe(200);
      expect(t.services.snapshots.list(id, { branch: owner }).map((s) => [s.reason, s.rowCount])).toEqual([['full_import', 2]]);
      // A table the unload creates has nothing to snapshot.
      expect((await t.callJson('POST', `${base}/workspaces/${ws}/unload`, { body: { source: 'out', bucket: 'b', table: 'fresh' } })).status).toBe(200);
      expect(t.services.snapshots.list(id, { branch: owner })).toHaveLength(1);
    }
    expect(await ids(`${B}/buckets/b/tables/t`)).toEqual([9]);
    expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([9]);
  });

  it('a full import into a table still main\'s snapshots the rows the branch saw', async () => {
    const { id, P } = await project();
    expect((await t.call('PUT', `${P}/settings/snapshots`, { body: { auto: { full_import: true } } })).status).toBe(200);
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n9,z\n', false)).status).toBe(200);
    const [snap] = t.services.snapshots.list(id, { branch: branchId });
    expect((await t.callJson('POST', `${B}/snapshots/${snap!.id}/restore`, { body: { table: 'back' } })).status).toBe(200);
    expect(await ids(`${B}/buckets/b/tables/back`)).toEqual([1, 2]);
  });
});

describe('the branch twin of the snapshot settings (§13 settings belong to the project)', () => {
  it('reads and writes the same project settings as P/settings/snapshots', async () => {
    const { P } = await project();
    const B = await branch(P);
    const main = await t.callJson('GET', `${P}/settings/snapshots`);
    expect((await t.callJson('GET', `${B}/settings/snapshots`)).body).toEqual(main.body);
    expect((await t.callJson('GET', `${P}/branches/default/settings/snapshots`)).body).toEqual(main.body);
    const put = await t.callJson('PUT', `${B}/settings/snapshots`, { body: { auto_retention_days: 3 } });
    expect(put.status).toBe(200);
    expect(put.body.auto_retention_days).toBe(3);
    expect((await t.callJson('GET', `${P}/settings/snapshots`)).body).toEqual(put.body);
    expect((await t.callJson('PUT', `${P}/branches/default/settings/snapshots`, { body: { manual_retention_days: 5 } })).body.manual_retention_days).toBe(5);
    expect((await t.callJson('GET', `${B}/settings/snapshots`)).body).toMatchObject({ auto_retention_days: 3, manual_retention_days: 5 });
    expect((await t.callJson('PUT', `${B}/settings/snapshots`, { body: { auto_retention_days: 0 } })).status).toBe(422);
    expect((await t.callJson('GET', `${P}/branches/b_000000000000/settings/snapshots`)).body.detail.error).toBe('branch_not_found');
  });

  it('a branch-restricted key reads them under its branch only, and cannot change them (admin scope)', async () => {
    const { P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    const key = (await t.callJson('POST', `${P}/api-keys`, { body: { scope: 'write', branch: branchId } })).body.api_key;
    expect((await t.callJson('GET', `${B}/settings/snapshots`, { key })).status).toBe(200);
    expect((await t.callJson('GET', `${P}/settings/snapshots`, { key })).body.detail.error).toBe('forbidden');
    const put = await t.callJson('PUT', `${B}/settings/snapshots`, { key, body: { auto_retention_days: 3 } });
    expect(put.status).toBe(403);
    expect(put.body.detail.error).toBe('insufficient_scope');
  });
});

describe('§14 sentences checked one by one', () => {
  it("P/branches/{b}/snapshots/{id}, its delete and its restore reach only that branch's snapshots", async () => {
    const { id, P } = await project();
    const B = await branch(P);
    const other = await branch(P, 'other');
    const mainSnap = (await t.callJson('POST', `${P}/buckets/b/tables/t/snapshots`, { body: {} })).body.id;
    const otherSnap = (await t.callJson('POST', `${other}/buckets/b/tables/t/snapshots`, { body: {} })).body.id;
    for (const snap of [mainSnap, otherSnap]) {
      for (const [method, path, body] of [['GET', '', undefined], ['DELETE', '', undefined], ['POST', '/restore', { table: 'copy' }]] as const) {
        const res = await t.callJson(method, `${B}/snapshots/${snap}${path}`, { body });
        expect(res.status, `${method} ${snap}${path}`).toBe(404);
        expect(res.body.detail.error).toBe('snapshot_not_found');
      }
      expect(t.services.snapshots.get(snap)).toBeDefined();
    }
    expect((await t.callJson('GET', `${B}/buckets/b/tables/copy`)).status).toBe(404);
    expect((await t.callJson('GET', `${P}/branches/default/snapshots/${mainSnap}`)).status).toBe(200);
    expect((await t.callJson('GET', `${P}/branches/default/snapshots/${otherSnap}`)).status).toBe(200);
    expect(t.services.snapshots.list(id)).toHaveLength(2);
  });

  it('P/branches/default/… answers as P/… on every kind of GET route (metadata, profile, snapshots, settings, jobs, files, workspaces)', async () => {
    const { P } = await project();
    await branch(P);
    expect((await t.call('POST', `${P}/buckets/b/metadata`, { body: { metadata: [{ key: 'k', value: 'v' }] } })).status).toBe(200);
    expect((await t.call('POST', `${P}/buckets/b/tables/t/columns/v/metadata`, { body: { metadata: [{ key: 'c', value: 'w' }] } })).status).toBe(200);
    expect((await t.callJson('POST', `${P}/buckets/b/tables/t/snapshots`, { body: {} })).status).toBe(201);
    expect((await t.callJson('POST', `${P}/files?name=x.csv`, { raw: 'id\n1\n', headers: CSV })).status).toBe(201);
    const job = await t.callJson('POST', `${P}/buckets/b/tables/t/export-async`, { body: { format: 'csv' } });
    await t.callJson('GET', `${P}/jobs/${job.body.id}?wait=30`);
    expect((await t.callJson('POST', `${P}/workspaces`, { body: {} })).status).toBe(201);
    const strip = (body: unknown) => JSON.parse(JSON.stringify(body, (key, value) => (key === 'size_bytes' || key === 'profiled_at' || key === 'last_used_at' ? 0 : value)));
    const paths = ['/buckets/b/metadata', '/buckets/b/tables/t/metadata', '/buckets/b/tables/t/columns/v/metadata', '/buckets/b/tables/t/profile', '/buckets/b/tables/t/snapshots', '/snapshots', '/settings/snapshots', '/jobs', '/files', '/workspaces'];
    for (const path of paths) {
      const main = await t.callJson('GET', P + path);
      const twin = await t.callJson('GET', `${P}/branches/default${path}`);
      expect(main.status, path).toBe(200);
      expect(twin.status, path).toBe(200);
      expect(strip(twin.body), path).toEqual(strip(main.body));
    }
  });

  it('every table object answered in a development branch carries branch_state; under P/branches/default none does', async () => {
    const { P } = await project();
    const B = await branch(P);
    const T = `${B}/buckets/b/tables/t`;
    expect((await t.callJson('GET', T)).body.branch_state).toBe('main');
    expect((await t.callJson('GET', `${B}/buckets/b/tables`)).body.tables.map((x: any) => x.branch_state)).toEqual(['main']);
    const answers: [string, string, unknown, string, (body: any) => any][] = [
      ['POST', `${T}/import?incremental=true`, 'id,v\n3,c\n', 'copied', (b) => b.table],
      ['POST', `${T}/columns`, { name: 'extra', type: 'INTEGER' }, 'copied', (b) => b],
      ['PATCH', `${T}/columns/extra`, { name: 'extra2' }, 'copied', (b) => b],
      ['DELETE', `${T}/columns/extra2`, undefined, 'copied', (b) => b],
      ['DELETE', `${T}/primary-key`, undefined, 'copied', (b) => b],
      ['PUT', `${T}/primary-key`, { columns: ['id'] }, 'copied', (b) => b],
      ['POST', `${T}/reset`, {}, 'main', (b) => b],
      ['POST', `${B}/buckets/b/tables`, { name: 'n', columns: [{ name: 'id', type: 'INTEGER' }] }, 'created', (b) => b],
      ['GET', `${B}/buckets/b/tables/n`, undefined, 'created', (b) => b],
    ];
    for (const [method, path, body, state, pick] of answers) {
      const res = await t.callJson(method, path, typeof body === 'string' ? { raw: body, headers: CSV } : { body });
      expect(res.status, `${method} ${path} ${JSON.stringify(res.body)}`).toBeLessThan(300);
      expect(pick(res.body).branch_state, `${method} ${path}`).toBe(state);
    }
    const snap = await t.callJson('POST', `${B}/buckets/b/tables/n/snapshots`, { body: {} });
    const restored = await t.callJson('POST', `${B}/snapshots/${snap.body.id}/restore`, { body: { table: 'n2' } });
    expect(restored.body.table.branch_state).toBe('created');
    expect((await t.callJson('GET', `${B}/buckets/b/tables`)).body.tables.map((x: any) => [x.name, x.branch_state])).toEqual([['n', 'created'], ['n2', 'created'], ['t', 'main']]);
    // Main's answers, also under P/branches/default, carry none.
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body).not.toHaveProperty('branch_state');
    expect((await t.callJson('GET', `${P}/branches/default/buckets/b/tables/t`)).body).not.toHaveProperty('branch_state');
    expect((await t.callJson('POST', `${P}/branches/default/buckets/b/tables/t/columns`, { body: { name: 'm', type: 'INTEGER' } })).body).not.toHaveProperty('branch_state');
  });

  it('jobs and workspaces belong to the branch they were created in; P/jobs?branch= filters, P/workspaces is main\'s', async () => {
    const { P } = await project();
    const B = await branch(P);
    const branchId = B.split('/').pop()!;
    const devJob = await t.callJson('POST', `${B}/buckets/b/tables/t/export-async`, { body: { format: 'csv' } });
    const mainJob = await t.callJson('POST', `${P}/branches/default/buckets/b/tables/t/export-async`, { body: { format: 'csv' } });
    expect([devJob.status, mainJob.status]).toEqual([202, 202]);
    expect([devJob.body.branch, mainJob.body.branch]).toEqual([branchId, 'default']);
    expect((await t.callJson('GET', `${P}/jobs?branch=default`)).body.jobs.map((j: any) => j.id)).toEqual([mainJob.body.id]);
    expect((await t.callJson('GET', `${P}/jobs?branch=${branchId}`)).body.jobs.map((j: any) => j.id)).toEqual([devJob.body.id]);
    expect((await t.callJson('GET', `${P}/branches/default/jobs`)).body.jobs.map((j: any) => j.id).sort()).toEqual((await t.callJson('GET', `${P}/jobs`)).body.jobs.map((j: any) => j.id).sort());
    expect((await t.callJson('GET', `${P}/jobs/${devJob.body.id}`)).status).toBe(200);
    const mainWs = await t.callJson('POST', `${P}/branches/default/workspaces`, { body: {} });
    const devWs = await t.callJson('POST', `${B}/workspaces`, { body: {} });
    expect([mainWs.body.branch, devWs.body.branch]).toEqual(['default', branchId]);
    expect((await t.callJson('GET', `${P}/workspaces`)).body.workspaces.map((w: any) => w.id)).toEqual([mainWs.body.id]);
    expect((await t.callJson('GET', `${B}/workspaces`)).body.workspaces.map((w: any) => w.id)).toEqual([devWs.body.id]);
    expect((await t.callJson('GET', `${B}/workspaces/${mainWs.body.id}`)).body.detail.error).toBe('workspace_not_found');
    for (const job of [devJob, mainJob]) await t.callJson('GET', `${P}/jobs/${job.body.id}?wait=30`);
  });
});

describe("main's version of a table moves with every kind of committed write (§14 merge conflicts)", () => {
  const writes: [string, (P: string) => Promise<Response>][] = [
    ['delete-rows', (P) => t.call('POST', `${P}/buckets/b/tables/t/delete-rows`, { body: { filters: [{ column: 'id', operator: 'eq', values: [1] }] } })],
    ['truncate', (P) => t.call('POST', `${P}/buckets/b/tables/t/truncate`)],
    ['full import', (P) => importCsv(`${P}/buckets/b/tables/t`, 'id,v\n5,e\n', false)],
    ['column change', (P) => t.call('PATCH', `${P}/buckets/b/tables/t/columns/v`, { body: { name: 'w' } })],
    ['primary key drop', (P) => t.call('DELETE', `${P}/buckets/b/tables/t/primary-key`)],
    ['column metadata', (P) => t.call('POST', `${P}/buckets/b/tables/t/columns/v/metadata`, { body: { metadata: [{ key: 'k', value: 'v' }] } })],
    [
      'overwriting restore',
      async (P) => {
        const snap = await t.callJson('POST', `${P}/buckets/b/tables/t/snapshots`, { body: {} });
        return t.call('POST', `${P}/snapshots/${snap.body.id}/restore`, { body: { overwrite: true } });
      },
    ],
  ];
  for (const [kind, write] of writes) {
    it(`a ${kind} in main after the branch copied the table: main_changed, and merge answers 409 unless forced`, async () => {
      const { P } = await project();
      const B = await branch(P);
      expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
      // Bucket metadata is no write to the table: it moves no version.
      expect((await t.call('POST', `${P}/buckets/b/metadata`, { body: { metadata: [{ key: 'k', value: 'v' }] } })).status).toBe(200);
      expect((await t.callJson('GET', `${B}/changes`)).body.tables).toEqual([{ bucket: 'b', table: 't', state: 'copied', main_changed: false }]);
      const res = await write(P);
      expect(res.status, kind).toBeLessThan(300);
      expect((await t.callJson('GET', `${B}/changes`)).body.tables).toEqual([{ bucket: 'b', table: 't', state: 'copied', main_changed: true }]);
      expect((await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: {} })).body.detail.error).toBe('merge_conflict');
      expect((await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: { force: true } })).status).toBe(200);
      expect(await ids(`${P}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
    });
  }

  it('the tables of a bucket the branch deleted are not listed one by one in changes', async () => {
    const { P } = await project();
    const B = await branch(P);
    expect((await importCsv(`${B}/buckets/b/tables/t`, 'id,v\n3,c\n')).status).toBe(200);
    expect((await t.call('DELETE', `${B}/buckets/b`)).status).toBe(204);
    expect((await t.callJson('GET', `${B}/changes`)).body).toEqual({ tables: [], buckets: [{ bucket: 'b', state: 'deleted' }] });
  });
});
