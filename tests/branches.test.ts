// CONTRACT §14: development branches — records, the branch twins of the bucket, table and
// data routes, copy-on-write isolation both ways, tombstones, reset, merge with conflict
// detection, branch-restricted keys, and what deleting a branch or a project leaves behind.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, walk, type TestApp } from './helpers.ts';

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
    const { P } = await project();
    const B = await branch(P);
    const calls: [string, string, unknown?][] = [
      ['POST', `${B}/buckets/b/share`, { target_project_id: 'x' }],
      ['DELETE', `${B}/buckets/b/share?target_project_id=x`],
      ['POST', `${B}/buckets/new/link`, { source_project_id: 'x', source_bucket_name: 'y' }],
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
    expect((await t.call('POST', `${P}/buckets/shared/share`, { body: { target_project_id: `${id}_t` } })).status).toBe(200);
    expect((await t.call('POST', `/projects/${id}_t/buckets/lnk/link`, { body: { source_project_id: id, source_bucket_name: 'shared' } })).status).toBe(201);
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
    expect((await t.call('POST', `${P}/buckets/b/share`, { body: { target_project_id: `${id}_l` } })).status).toBe(200);
    const L = `/projects/${id}_l`;
    expect((await t.call('POST', `${L}/buckets/lnk/link`, { body: { source_project_id: id, source_bucket_name: 'b' } })).status).toBe(201);
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
    // The copy's file goes once the failed request let go of it.
    const file = t.services.paths.branchTableFile(id, branchId, 'b', 't');
    for (let i = 0; i < 200 && existsSync(file); i++) await new Promise((r) => setTimeout(r, 5));
    expect(existsSync(file)).toBe(false);
    expect((await t.callJson('GET', `${B}/changes`)).body).toEqual({ tables: [], buckets: [] });
  });
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

  it("bucket metadata: a bucket the branch created has its own; main's buckets are read-only there", async () => {
    const { P } = await project();
    const B = await branch(P);
    const refused = await t.callJson('POST', `${B}/buckets/b/metadata`, { body: { metadata: [{ key: 'k', value: 'v' }] } });
    expect(refused.status).toBe(400);
    expect(refused.body.detail.error).toBe('main_branch_only');
    expect((await t.callJson('GET', `${P}/buckets/b/metadata`)).body.metadata).toEqual([]);
    expect((await t.call('POST', `${B}/buckets`, { body: { name: 'nb' } })).status).toBe(201);
    expect((await t.callJson('POST', `${B}/buckets/nb/metadata`, { body: { metadata: [{ key: 'k', value: 'v' }] } })).status).toBe(200);
    expect((await t.callJson('GET', `${B}/buckets/nb`)).body.metadata.map((m: any) => m.key)).toEqual(['k']);
    // Merging a table of it creates the bucket in main with that metadata.
    expect((await t.call('POST', `${B}/buckets/nb/tables`, { body: { name: 'x', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    expect((await t.callJson('POST', `${B}/buckets/nb/tables/x/merge`, { body: {} })).status).toBe(200);
    expect((await t.callJson('GET', `${P}/buckets/nb`)).body.metadata.map((m: any) => `${m.key}=${m.value}`)).toEqual(['k=v']);
  });
});

describe('snapshots in a branch (§13)', () => {
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
