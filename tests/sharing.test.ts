import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../src/storage/sql.ts';
import { makeApp, manualClock, type TestApp } from './helpers.ts';

const COLUMNS = [
  { name: 'id', type: 'INTEGER', nullable: false },
  { name: 'label', type: 'VARCHAR' },
];

let t: TestApp;
beforeAll(async () => {
  t = await makeApp();
});
afterAll(() => t.close());

async function bucket(projectId: string, name: string, description: string | null = null) {
  const r = await t.callJson('POST', `/projects/${projectId}/buckets`, { body: { name, description } });
  expect(r.status).toBe(201);
}

async function table(projectId: string, bucketName: string, name: string) {
  const r = await t.callJson('POST', `/projects/${projectId}/buckets/${bucketName}/tables`, { body: { name, columns: COLUMNS, primary_key: ['id'] } });
  expect(r.status).toBe(201);
}

/** Inserts rows straight into a table file, the way a writer holding the table's lock does. */
async function insertRows(projectId: string, bucketName: string, tableName: string, ids: number[]) {
  const { registry, db, paths } = t.services;
  const path = paths.tableFile(projectId, bucketName, tableName);
  await registry.withWriteLock(path, async () => {
    const alias = await registry.acquire(path);
    try {
      await db.with(async (c) => {
        const values = ids.map((_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ');
        await c.run(`INSERT INTO ${quoteIdent(alias)}.main.data VALUES ${values}`, ids.flatMap((id) => [id, `row ${id}`]));
      });
    } finally {
      registry.release(path);
    }
  });
}

const share = (projectId: string, bucketName: string, target: string, key?: string) =>
  t.callJson('POST', `/projects/${projectId}/buckets/${bucketName}/share`, { key, body: { target_project_id: target } });

const link = (projectId: string, name: string, sourceProject: string, sourceBucket: string, key?: string) =>
  t.callJson('POST', `/projects/${projectId}/buckets/${name}/link`, { key, body: { source_project_id: sourceProject, source_bucket_name: sourceBucket } });

const bucketNames = async (projectId: string) =>
  ((await t.callJson('GET', `/projects/${projectId}/buckets`)).body.buckets as { name: string }[]).map((b) => b.name);

const sharedWith = async (projectId: string, bucketName: string) =>
  (await t.callJson('GET', `/projects/${projectId}/buckets/${bucketName}`)).body.shared_with as string[];

describe('share', () => {
  let srcKey: string;
  let dstKey: string;
  beforeAll(async () => {
    srcKey = await t.createProject('sh_src');
    dstKey = await t.createProject('sh_dst');
    await t.createProject('sh_dst2');
    await bucket('sh_src', 'sales');
  });

  it('shares a bucket and lists the targets sorted', async () => {
    const r = await share('sh_src', 'sales', 'sh_dst2', srcKey);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ shared_with: ['sh_dst2'], is_linked: false, source_project_id: null, source_bucket_name: null });
    const again = await share('sh_src', 'sales', 'sh_dst');
    expect(again.status).toBe(200);
    expect(again.body.shared_with).toEqual(['sh_dst', 'sh_dst2']);
    expect(await sharedWith('sh_src', 'sales')).toEqual(['sh_dst', 'sh_dst2']);
  });

  it('answers the documented errors', async () => {
    const dup = await share('sh_src', 'sales', 'sh_dst');
    expect(dup.status).toBe(409);
    expect(dup.body.detail.error).toBe('already_shared');
    expect((await share('sh_src', 'sales', 'SH_DST')).body.detail.error).toBe('already_shared');

    const self = await share('sh_src', 'sales', 'sh_src');
    expect(self.status).toBe(400);
    expect(self.body.detail.error).toBe('invalid_target');

    const noTarget = await share('sh_src', 'sales', 'nobody');
    expect(noTarget.status).toBe(404);
    expect(noTarget.body.detail.error).toBe('project_not_found');

    const noSource = await share('ghost', 'sales', 'sh_dst');
    expect(noSource.status).toBe(404);
    expect(noSource.body.detail.error).toBe('project_not_found');

    const noBucket = await share('sh_src', 'missing', 'sh_dst');
    expect(noBucket.status).toBe(404);
    expect(noBucket.body.detail.error).toBe('bucket_not_found');

    const badBody = await share('sh_src', 'sales', 'bad id!');
    expect(badBody.status).toBe(422);
    expect(badBody.body.detail.error).toBe('validation_error');
    expect((await t.callJson('POST', '/projects/sh_src/buckets/sales/share', { body: {} })).status).toBe(422);

    // A bucket shared by another project must not be shared by the target in turn.
    expect((await link('sh_dst', 'sales_link', 'sh_src', 'sales', dstKey)).status).toBe(201);
    const onward = await share('sh_dst', 'sales_link', 'sh_dst2', dstKey);
    expect(onward.status).toBe(409);
    expect(onward.body.detail.error).toBe('bucket_is_linked');
    expect(await sharedWith('sh_dst', 'sales_link')).toEqual([]);
  });

  it('refuses a deleted target project', async () => {
    await t.createProject('sh_gone');
    expect((await t.call('DELETE', '/projects/sh_gone')).status).toBe(204);
    const r = await share('sh_src', 'sales', 'sh_gone');
    expect(r.status).toBe(404);
    expect(r.body.detail.error).toBe('project_not_found');
  });
});

describe('unshare', () => {
  let srcKey: string;
  let dstKey: string;
  beforeAll(async () => {
    srcKey = await t.createProject('us_src');
    dstKey = await t.createProject('us_dst');
    await t.createProject('us_other');
    await bucket('us_src', 'data');
    await table('us_src', 'data', 'orders');
  });

  it('needs target_project_id and an existing share', async () => {
    const missing = await t.callJson('DELETE', '/projects/us_src/buckets/data/share');
    expect(missing.status).toBe(422);
    expect(missing.body.detail.error).toBe('validation_error');
    expect(missing.body.detail.details.issues[0].path).toContain('target_project_id');

    const notShared = await t.callJson('DELETE', '/projects/us_src/buckets/data/share?target_project_id=us_other');
    expect(notShared.status).toBe(404);
    expect(notShared.body.detail.error).toBe('share_not_found');

    const noProject = await t.callJson('DELETE', '/projects/ghost/buckets/data/share?target_project_id=us_dst');
    expect(noProject.status).toBe(404);
    expect(noProject.body.detail.error).toBe('project_not_found');

    const noBucket = await t.callJson('DELETE', '/projects/us_src/buckets/nope/share?target_project_id=us_dst');
    expect(noBucket.status).toBe(404);
    expect(noBucket.body.detail.error).toBe('bucket_not_found');
  });

  it('removes a share nobody linked', async () => {
    expect((await share('us_src', 'data', 'us_other')).status).toBe(200);
    const r = await t.call('DELETE', '/projects/us_src/buckets/data/share?target_project_id=us_other', { key: srcKey });
    expect(r.status).toBe(204);
    expect(await sharedWith('us_src', 'data')).toEqual([]);
    expect((await t.callJson('GET', '/projects/us_other/shared-buckets')).body).toEqual({ buckets: [], total: 0 });
  });

  it('refuses while the target links the bucket, unless force=true, which removes the link', async () => {
    expect((await share('us_src', 'data', 'us_dst')).status).toBe(200);
    expect((await link('us_dst', 'mirror', 'us_src', 'data', dstKey)).status).toBe(201);

    const refused = await t.callJson('DELETE', '/projects/us_src/buckets/data/share?target_project_id=us_dst&force=false');
    expect(refused.status).toBe(409);
    expect(refused.body.detail.error).toBe('bucket_in_use');
    expect(await sharedWith('us_src', 'data')).toEqual(['us_dst']);
    expect(await bucketNames('us_dst')).toEqual(['mirror']);
    expect((await t.callJson('GET', '/projects/us_dst/buckets/mirror/tables/orders')).status).toBe(200);

    const forced = await t.call('DELETE', '/projects/us_src/buckets/data/share?target_project_id=us_dst&force=true');
    expect(forced.status).toBe(204);
    expect(await sharedWith('us_src', 'data')).toEqual([]);
    expect(await bucketNames('us_dst')).toEqual([]);
    expect((await t.callJson('GET', '/projects/us_dst/buckets/mirror/tables/orders')).body.detail.error).toBe('bucket_not_found');
    expect((await t.callJson('GET', '/projects/us_dst/shared-buckets')).body.total).toBe(0);
    // The source keeps everything.
    expect((await t.callJson('GET', '/projects/us_src/buckets/data/tables')).body.total).toBe(1);
    // And the target can no longer link it.
    const relink = await link('us_dst', 'mirror', 'us_src', 'data', dstKey);
    expect(relink.status).toBe(403);
    expect(relink.body.detail.error).toBe('not_shared');
  });
});

describe('link and unlink', () => {
  let dstKey: string;
  beforeAll(async () => {
    await t.createProject('ln_src');
    dstKey = await t.createProject('ln_dst');
    await bucket('ln_src', 'shared', 'Shared things');
    await bucket('ln_src', 'private');
    await bucket('ln_dst', 'taken');
    await table('ln_src', 'shared', 'events');
    await table('ln_src', 'shared', 'users');
    expect((await share('ln_src', 'shared', 'ln_dst')).status).toBe(200);
  });

  it('creates a linked bucket', async () => {
    const r = await link('ln_dst', 'in_shared', 'ln_src', 'shared', dstKey);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      name: 'in_shared',
      table_count: 2,
      description: 'Linked from ln_src.shared',
      is_linked: true,
      source_project_id: 'ln_src',
      source_bucket_name: 'shared',
      shared_with: [],
      readonly_access: false,
    });
    expect(typeof r.body.created_at).toBe('string');
    const got = await t.callJson('GET', '/projects/ln_dst/buckets/in_shared', { key: dstKey });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(r.body);
    expect(await bucketNames('ln_dst')).toEqual(['in_shared', 'taken']);
    // A link has no folder of its own: its tables live in the source.
    expect(existsSync(t.services.paths.bucketDir('ln_dst', 'in_shared'))).toBe(false);

    const twice = await link('ln_dst', 'in_shared_again', 'ln_src', 'shared', dstKey);
    expect(twice.status).toBe(409);
    expect(twice.body.detail.error).toBe('already_linked');
  });

  it('answers not_shared to a project key before revealing anything about the source', async () => {
    const cases: [string, string][] = [
      ['ln_src', 'private'], // exists, not shared
      ['ln_src', 'nope'], // bucket does not exist
      ['no_such_project', 'shared'], // project does not exist
    ];
    const bodies = [];
    for (const [project, name] of cases) {
      const r = await link('ln_dst', 'x', project, name, dstKey);
      expect(r.status).toBe(403);
      expect(r.body.detail.error).toBe('not_shared');
      bodies.push(r.body.detail.message.replace(`${project}.${name}`, ''));
    }
    expect(new Set(bodies).size).toBe(1);
    expect(await bucketNames('ln_dst')).toEqual(['in_shared', 'taken']);
  });

  it('lets the admin link any bucket, with 404s for a missing source', async () => {
    const r = await link('ln_dst', 'admin_private', 'ln_src', 'private');
    expect(r.status).toBe(201);
    expect(r.body.is_linked).toBe(true);

    const noProject = await link('ln_dst', 'x', 'no_such_project', 'shared');
    expect(noProject.status).toBe(404);
    expect(noProject.body.detail.error).toBe('project_not_found');
    const noBucket = await link('ln_dst', 'x', 'ln_src', 'nope');
    expect(noBucket.status).toBe(404);
    expect(noBucket.body.detail.error).toBe('bucket_not_found');
    const noTarget = await link('ghost', 'x', 'ln_src', 'shared');
    expect(noTarget.status).toBe(404);
    expect(noTarget.body.detail.error).toBe('project_not_found');
  });

  it('answers bucket_exists, invalid_source and validation errors', async () => {
    const taken = await link('ln_dst', 'TAKEN', 'ln_src', 'shared', dstKey);
    expect(taken.status).toBe(409);
    expect(taken.body.detail.error).toBe('bucket_exists');

    const own = await link('ln_dst', 'x', 'ln_dst', 'taken', dstKey);
    expect(own.status).toBe(400);
    expect(own.body.detail.error).toBe('invalid_source');

    await t.createProject('ln_third');
    const ofLink = await link('ln_third', 'x', 'ln_dst', 'in_shared');
    expect(ofLink.status).toBe(400);
    expect(ofLink.body.detail.error).toBe('invalid_source');

    expect((await link('ln_dst', 'bad.name', 'ln_src', 'shared', dstKey)).status).toBe(422);
    expect((await t.callJson('POST', '/projects/ln_dst/buckets/y/link', { body: { source_project_id: 'ln_src' } })).status).toBe(422);
    expect(await bucketNames('ln_third')).toEqual([]);
  });

  it('unlinks without touching the source', async () => {
    const notLink = await t.callJson('DELETE', '/projects/ln_dst/buckets/taken/link', { key: dstKey });
    expect(notLink.status).toBe(404);
    expect(notLink.body.detail.error).toBe('link_not_found');
    const missing = await t.callJson('DELETE', '/projects/ln_dst/buckets/nothing/link', { key: dstKey });
    expect(missing.status).toBe(404);
    expect(missing.body.detail.error).toBe('link_not_found');
    const noProject = await t.callJson('DELETE', '/projects/ghost/buckets/in_shared/link');
    expect(noProject.status).toBe(404);
    expect(noProject.body.detail.error).toBe('project_not_found');

    expect((await t.call('DELETE', '/projects/ln_dst/buckets/in_shared/link', { key: dstKey })).status).toBe(204);
    expect(await bucketNames('ln_dst')).toEqual(['admin_private', 'taken']);
    expect((await t.callJson('GET', '/projects/ln_dst/shared-buckets')).body.buckets[0].linked_as).toBeNull();
    expect((await t.callJson('GET', '/projects/ln_src/buckets/shared/tables')).body.total).toBe(2);
    expect(existsSync(t.services.paths.tableFile('ln_src', 'shared', 'events'))).toBe(true);
    expect(await sharedWith('ln_src', 'shared')).toEqual(['ln_dst']);

    // Deleting a linked bucket is the same as unlinking it.
    expect((await t.call('DELETE', '/projects/ln_dst/buckets/admin_private')).status).toBe(204);
    expect(await bucketNames('ln_dst')).toEqual(['taken']);
    expect(await bucketNames('ln_src')).toEqual(['private', 'shared']);
  });
});

describe('grant-readonly', () => {
  let key: string;
  beforeAll(async () => {
    key = await t.createProject('ro_p');
    await bucket('ro_p', 'b1');
  });

  it('sets and clears readonly_access', async () => {
    const r = await t.callJson('POST', '/projects/ro_p/buckets/b1/grant-readonly', { key });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'success', bucket_name: 'b1' });
    expect(typeof r.body.message).toBe('string');
    expect((await t.callJson('GET', '/projects/ro_p/buckets/b1')).body.readonly_access).toBe(true);
    const revoked = await t.call('DELETE', '/projects/ro_p/buckets/b1/grant-readonly', { key });
    expect(revoked.status).toBe(204);
    expect((await t.callJson('GET', '/projects/ro_p/buckets/b1')).body.readonly_access).toBe(false);
  });

  it('answers 404 for a missing bucket or project', async () => {
    for (const method of ['POST', 'DELETE']) {
      const noBucket = await t.callJson(method, '/projects/ro_p/buckets/none/grant-readonly');
      expect(noBucket.status).toBe(404);
      expect(noBucket.body.detail.error).toBe('bucket_not_found');
      const noProject = await t.callJson(method, '/projects/ghost/buckets/b1/grant-readonly');
      expect(noProject.status).toBe(404);
      expect(noProject.body.detail.error).toBe('project_not_found');
    }
  });
});

describe('shared-buckets', () => {
  let key: string;
  beforeAll(async () => {
    key = await t.createProject('sb_t');
    await t.createProject('sb_b');
    await t.createProject('sb_a');
    await bucket('sb_b', 'zeta', 'Z');
    await bucket('sb_b', 'alpha', 'A');
    await bucket('sb_a', 'mid');
    await bucket('sb_a', 'unshared');
    await table('sb_b', 'alpha', 't1');
    await table('sb_b', 'alpha', 't2');
    for (const [p, b] of [['sb_b', 'zeta'], ['sb_b', 'alpha'], ['sb_a', 'mid']]) expect((await share(p!, b!, 'sb_t')).status).toBe(200);
    expect((await link('sb_t', 'my_alpha', 'sb_b', 'alpha', key)).status).toBe(201);
  });

  it('lists what was shared with the project, sorted, with the link names', async () => {
    const r = await t.callJson('GET', '/projects/sb_t/shared-buckets', { key });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      buckets: [
        { source_project_id: 'sb_a', source_bucket_name: 'mid', description: null, table_count: 0, linked_as: null },
        { source_project_id: 'sb_b', source_bucket_name: 'alpha', description: 'A', table_count: 2, linked_as: 'my_alpha' },
        { source_project_id: 'sb_b', source_bucket_name: 'zeta', description: 'Z', table_count: 0, linked_as: null },
      ],
      total: 3,
    });
    expect((await t.callJson('GET', '/projects/sb_a/shared-buckets')).body).toEqual({ buckets: [], total: 0 });
    const missing = await t.callJson('GET', '/projects/ghost/shared-buckets');
    expect(missing.status).toBe(404);
    expect(missing.body.detail.error).toBe('project_not_found');
  });
});

describe('authorization on the sharing routes', () => {
  let ownKey: string;
  let otherKey: string;
  beforeAll(async () => {
    ownKey = await t.createProject('au_own');
    otherKey = await t.createProject('au_other');
    await bucket('au_own', 'b');
  });

  const routes: [string, string, unknown?][] = [
    ['POST', '/projects/au_own/buckets/b/share', { target_project_id: 'au_other' }],
    ['DELETE', '/projects/au_own/buckets/b/share?target_project_id=au_other'],
    ['POST', '/projects/au_own/buckets/l/link', { source_project_id: 'au_other', source_bucket_name: 'x' }],
    ['DELETE', '/projects/au_own/buckets/l/link'],
    ['POST', '/projects/au_own/buckets/b/grant-readonly'],
    ['DELETE', '/projects/au_own/buckets/b/grant-readonly'],
    ['GET', '/projects/au_own/shared-buckets'],
  ];

  it('needs a key, and the key of the project in the path', async () => {
    for (const [method, path, body] of routes) {
      const none = await t.callJson(method, path, { key: null, body });
      expect(none.status, `${method} ${path}`).toBe(401);
      expect(none.response.headers.get('www-authenticate')).toBe('Bearer');
      const other = await t.callJson(method, path, { key: otherKey, body });
      expect(other.status, `${method} ${path}`).toBe(403);
      expect(other.body.detail.error).toBe('forbidden');
    }
    // The project's own key gets through the guard (and on to the handler's answer).
    expect((await t.callJson('GET', '/projects/au_own/shared-buckets', { key: ownKey })).status).toBe(200);
    expect((await t.callJson('POST', '/projects/au_own/buckets/b/grant-readonly', { key: ownKey })).status).toBe(200);
  });

  it('shows the routes in the route table with their documented codes', () => {
    const sharing = t.app.routes.filter((r) => r.tag === 'sharing' && !r.twinOf);
    expect(sharing.map((r) => `${r.method} ${r.path}`).sort()).toEqual([
      'DELETE /projects/:id/buckets/:bucket/grant-readonly',
      'DELETE /projects/:id/buckets/:bucket/link',
      'DELETE /projects/:id/buckets/:bucket/share',
      'GET /projects/:id/shared-buckets',
      'POST /projects/:id/buckets/:bucket/grant-readonly',
      'POST /projects/:id/buckets/:bucket/link',
      'POST /projects/:id/buckets/:bucket/share',
    ]);
    const link = sharing.find((r) => r.method === 'POST' && r.path.endsWith('/link'))!;
    expect(link.responses).toEqual(expect.arrayContaining([201, 400, 403, 404, 409, 422]));
  });
});

describe('reading through a link', () => {
  let dstKey: string;
  beforeAll(async () => {
    await t.createProject('rd_src');
    dstKey = await t.createProject('rd_dst');
    await bucket('rd_src', 'live');
    await table('rd_src', 'live', 'orders');
    await insertRows('rd_src', 'live', 'orders', [1, 2, 3]);
    expect((await share('rd_src', 'live', 'rd_dst')).status).toBe(200);
    expect((await link('rd_dst', 'window', 'rd_src', 'live', dstKey)).status).toBe(201);
  });

  it('previews the source rows as they are now', async () => {
    const first = await t.callJson('GET', '/projects/rd_dst/buckets/window/tables/orders/preview', { key: dstKey });
    expect(first.status).toBe(200);
    expect(first.body.total_row_count).toBe(3);
    expect(first.body.rows).toEqual([
      { id: 1, label: 'row 1' },
      { id: 2, label: 'row 2' },
      { id: 3, label: 'row 3' },
    ]);
    expect(first.body.columns.map((c: { name: string }) => c.name)).toEqual(['id', 'label']);

    await insertRows('rd_src', 'live', 'orders', [4, 5]);
    const later = await t.callJson('GET', '/projects/rd_dst/buckets/window/tables/orders/preview?limit=2', { key: dstKey });
    expect(later.status).toBe(200);
    expect(later.body.total_row_count).toBe(5);
    expect(later.body.preview_row_count).toBe(2);
  });

  it('lists and describes the source tables under the link name', async () => {
    const list = await t.callJson('GET', '/projects/rd_dst/buckets/window/tables', { key: dstKey });
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(1);
    expect(list.body.tables[0]).toMatchObject({ name: 'orders', bucket: 'window', primary_key: ['id'] });
    const got = await t.callJson('GET', '/projects/rd_dst/buckets/window/tables/orders', { key: dstKey });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ name: 'orders', bucket: 'window' });
    expect(got.body.size_bytes).toBeGreaterThan(0);
    const missing = await t.callJson('GET', '/projects/rd_dst/buckets/window/tables/nothing', { key: dstKey });
    expect(missing.status).toBe(404);
    expect(missing.body.detail.error).toBe('table_not_found');
  });

  it('shows a source table created later and hides one deleted later', async () => {
    await table('rd_src', 'live', 'later');
    await insertRows('rd_src', 'live', 'later', [7]);
    let list = await t.callJson('GET', '/projects/rd_dst/buckets/window/tables', { key: dstKey });
    expect(list.body.tables.map((x: { name: string }) => x.name)).toEqual(['later', 'orders']);
    expect((await t.callJson('GET', '/projects/rd_dst/buckets/window', { key: dstKey })).body.table_count).toBe(2);
    const preview = await t.callJson('GET', '/projects/rd_dst/buckets/window/tables/later/preview', { key: dstKey });
    expect(preview.body.rows).toEqual([{ id: 7, label: 'row 7' }]);

    expect((await t.call('DELETE', '/projects/rd_src/buckets/live/tables/later')).status).toBe(204);
    list = await t.callJson('GET', '/projects/rd_dst/buckets/window/tables', { key: dstKey });
    expect(list.body.tables.map((x: { name: string }) => x.name)).toEqual(['orders']);
    const gone = await t.callJson('GET', '/projects/rd_dst/buckets/window/tables/later/preview', { key: dstKey });
    expect(gone.status).toBe(404);
    expect(gone.body.detail.error).toBe('table_not_found');
  });

  it('refuses every write with 403 bucket_readonly and leaves the source alone', async () => {
    const create = await t.callJson('POST', '/projects/rd_dst/buckets/window/tables', { key: dstKey, body: { name: 'sneaky', columns: COLUMNS } });
    expect(create.status).toBe(403);
    expect(create.body.detail.error).toBe('bucket_readonly');
    expect(existsSync(t.services.paths.tableFile('rd_src', 'live', 'sneaky'))).toBe(false);
    expect(t.services.catalog.getTable('rd_src', 'live', 'sneaky')).toBeUndefined();

    const drop = await t.callJson('DELETE', '/projects/rd_dst/buckets/window/tables/orders', { key: dstKey });
    expect(drop.status).toBe(403);
    expect(drop.body.detail.error).toBe('bucket_readonly');
    expect(existsSync(t.services.paths.tableFile('rd_src', 'live', 'orders'))).toBe(true);
    const source = await t.callJson('GET', '/projects/rd_src/buckets/live/tables/orders/preview');
    expect(source.body.total_row_count).toBe(5);
  });

  it('answers bucket_readonly to writes naming a table the source does not have', async () => {
    const writes: [string, string, unknown][] = [
      ['DELETE', '/projects/rd_dst/buckets/window/tables/nope', undefined],
      ['POST', '/projects/rd_dst/buckets/window/tables/nope/truncate', undefined],
      ['POST', '/projects/rd_dst/buckets/window/tables/nope/delete-rows', { filters: [{ column: 'id', operator: 'eq', values: [1] }] }],
    ];
    for (const [method, path, body] of writes) {
      const answer = await t.callJson(method, path, { key: dstKey, body });
      expect(answer.status, `${method} ${path}`).toBe(403);
      expect(answer.body.detail.error).toBe('bucket_readonly');
    }
    const load = await t.callJson('POST', '/projects/rd_dst/buckets/window/tables/nope/import', { key: dstKey, raw: 'id\n1\n', headers: { 'content-type': 'text/csv' } });
    expect(load.status).toBe(403);
    expect(load.body.detail.error).toBe('bucket_readonly');
  });

  it('refuses data-plane writes and serves data-plane reads through the link', async () => {
    const truncate = await t.callJson('POST', '/projects/rd_dst/buckets/window/tables/orders/truncate', { key: dstKey });
    expect(truncate.status).toBe(403);
    expect(truncate.body.detail.error).toBe('bucket_readonly');
    const deleteRows = await t.callJson('POST', '/projects/rd_dst/buckets/window/tables/orders/delete-rows', {
      key: dstKey,
      body: { filters: [{ column: 'id', operator: 'eq', values: [1] }] },
    });
    expect(deleteRows.status).toBe(403);
    expect(deleteRows.body.detail.error).toBe('bucket_readonly');
    for (const incremental of ['false', 'true']) {
      const load = await t.callJson('POST', `/projects/rd_dst/buckets/window/tables/orders/import?incremental=${incremental}`, {
        key: dstKey,
        raw: 'id,label\n100,intruder\n',
        headers: { 'content-type': 'text/csv' },
      });
      expect(load.status).toBe(403);
      expect(load.body.detail.error).toBe('bucket_readonly');
    }
    const source = await t.callJson('GET', '/projects/rd_src/buckets/live/tables/orders/preview');
    expect(source.body.total_row_count).toBe(5);
    expect(source.body.rows.map((row: { id: number }) => row.id)).toEqual([1, 2, 3, 4, 5]);

    const filtered = await t.callJson('POST', '/projects/rd_dst/buckets/window/tables/orders/preview', {
      key: dstKey,
      body: { filters: [{ column: 'id', operator: 'ge', values: [4] }] },
    });
    expect(filtered.status).toBe(200);
    expect(filtered.body.rows).toEqual([
      { id: 4, label: 'row 4' },
      { id: 5, label: 'row 5' },
    ]);
    const exported = await t.call('GET', '/projects/rd_dst/buckets/window/tables/orders/export?format=ndjson', { key: dstKey });
    expect(exported.status).toBe(200);
    const lines = (await exported.text()).trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((row: { id: number }) => row.id).sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps previews consistent while the source is written', async () => {
    await table('rd_src', 'live', 'busy');
    const batch = 4;
    const writes = 12;
    let done = false;
    const writer = (async () => {
      for (let i = 0; i < writes; i++) {
        await insertRows('rd_src', 'live', 'busy', Array.from({ length: batch }, (_, j) => i * batch + j));
      }
      done = true;
    })();
    const seen: number[] = [];
    const statuses = new Set<number>();
    const reader = async (limit: number) => {
      // Bounded: the writer finishes after a fixed number of batches.
      for (let n = 0; n < 500 && !done; n++) {
        const r = await t.callJson('GET', `/projects/rd_dst/buckets/window/tables/busy/preview?limit=${limit}`, { key: dstKey });
        statuses.add(r.status);
        if (r.status !== 200) break;
        seen.push(r.body.total_row_count);
        if (limit > r.body.total_row_count) expect(r.body.preview_row_count).toBe(r.body.total_row_count);
      }
    };
    await Promise.all([writer, reader(1), reader(1000)]);
    expect([...statuses]).toEqual([200]);
    for (const count of seen) {
      expect(count % batch).toBe(0);
      expect(count).toBeLessThanOrEqual(batch * writes);
    }
    const final = await t.callJson('GET', '/projects/rd_dst/buckets/window/tables/busy/preview', { key: dstKey });
    expect(final.body.total_row_count).toBe(batch * writes);
  });
});

describe('lifecycle', () => {
  let dstKey: string;
  beforeAll(async () => {
    await t.createProject('lc_src');
    dstKey = await t.createProject('lc_dst');
  });

  it('refuses to delete a bucket others link unless force=true, which removes the links', async () => {
    await bucket('lc_src', 'used');
    await table('lc_src', 'used', 't');
    expect((await share('lc_src', 'used', 'lc_dst')).status).toBe(200);
    expect((await link('lc_dst', 'used_here', 'lc_src', 'used', dstKey)).status).toBe(201);

    const refused = await t.callJson('DELETE', '/projects/lc_src/buckets/used');
    expect(refused.status).toBe(409);
    expect(refused.body.detail.error).toBe('bucket_in_use');
    expect(await bucketNames('lc_src')).toEqual(['used']);
    expect(await bucketNames('lc_dst')).toEqual(['used_here']);

    expect((await t.call('DELETE', '/projects/lc_src/buckets/used?force=true')).status).toBe(204);
    expect(await bucketNames('lc_src')).toEqual([]);
    expect(await bucketNames('lc_dst')).toEqual([]);
    expect((await t.callJson('GET', '/projects/lc_dst/shared-buckets')).body.total).toBe(0);
    expect(t.services.catalog.linksTo('lc_src', 'used')).toEqual([]);
    expect(existsSync(t.services.paths.bucketDir('lc_src', 'used'))).toBe(false);
  });

  it('deletes a shared bucket nobody linked, and the share with it', async () => {
    await bucket('lc_src', 'only_shared');
    expect((await share('lc_src', 'only_shared', 'lc_dst')).status).toBe(200);
    expect((await t.call('DELETE', '/projects/lc_src/buckets/only_shared')).status).toBe(204);
    expect((await t.callJson('GET', '/projects/lc_dst/shared-buckets')).body.total).toBe(0);
  });

  it('deleting the source project removes the shares and the links to it', async () => {
    const srcKey = await t.createProject('pd_src');
    const dstKey2 = await t.createProject('pd_dst');
    await bucket('pd_src', 'b');
    await table('pd_src', 'b', 't');
    expect((await share('pd_src', 'b', 'pd_dst', srcKey)).status).toBe(200);
    expect((await link('pd_dst', 'from_src', 'pd_src', 'b', dstKey2)).status).toBe(201);

    expect((await t.call('DELETE', '/projects/pd_src', { key: srcKey })).status).toBe(204);
    expect(await bucketNames('pd_dst')).toEqual([]);
    expect((await t.callJson('GET', '/projects/pd_dst/shared-buckets', { key: dstKey2 })).body).toEqual({ buckets: [], total: 0 });
    const through = await t.callJson('GET', '/projects/pd_dst/buckets/from_src/tables', { key: dstKey2 });
    expect(through.status).toBe(404);
    expect(through.body.detail.error).toBe('bucket_not_found');
    const relink = await link('pd_dst', 'again', 'pd_src', 'b');
    expect(relink.status).toBe(404);
    expect(relink.body.detail.error).toBe('project_not_found');
  });

  it('deleting the target project removes the shares made with it and its own links', async () => {
    await t.createProject('pt_src');
    const dstKey3 = await t.createProject('pt_dst');
    await bucket('pt_src', 'b');
    expect((await share('pt_src', 'b', 'pt_dst')).status).toBe(200);
    expect((await link('pt_dst', 'mine', 'pt_src', 'b', dstKey3)).status).toBe(201);
    expect(await sharedWith('pt_src', 'b')).toEqual(['pt_dst']);

    expect((await t.call('DELETE', '/projects/pt_dst', { key: dstKey3 })).status).toBe(204);
    expect(await sharedWith('pt_src', 'b')).toEqual([]);
    expect(t.services.catalog.linksTo('pt_src', 'b')).toEqual([]);
    expect(t.services.catalog.listBuckets('pt_dst')).toEqual([]);
    // The source bucket can now be deleted without force: nobody links it.
    expect((await t.call('DELETE', '/projects/pt_src/buckets/b')).status).toBe(204);
  });
});

describe('persistence', () => {
  it('keeps shares, links and readonly_access across a restart', async () => {
    const first = await makeApp();
    const root = first.root;
    try {
      await first.createProject('pp_src');
      await first.createProject('pp_dst');
      expect((await first.callJson('POST', '/projects/pp_src/buckets', { body: { name: 'b' } })).status).toBe(201);
      expect((await first.callJson('POST', '/projects/pp_src/buckets/b/share', { body: { target_project_id: 'pp_dst' } })).status).toBe(200);
      expect((await first.callJson('POST', '/projects/pp_dst/buckets/l/link', { body: { source_project_id: 'pp_src', source_bucket_name: 'b' } })).status).toBe(201);
      expect((await first.callJson('POST', '/projects/pp_src/buckets/b/grant-readonly')).status).toBe(200);
      await first.services.close();

      const second = await makeApp({ root });
      try {
        const source = await second.callJson('GET', '/projects/pp_src/buckets/b');
        expect(source.body).toMatchObject({ shared_with: ['pp_dst'], readonly_access: true });
        const linked = await second.callJson('GET', '/projects/pp_dst/buckets/l');
        expect(linked.body).toMatchObject({ is_linked: true, source_project_id: 'pp_src', source_bucket_name: 'b', description: 'Linked from pp_src.b' });
        expect((await second.callJson('GET', '/projects/pp_dst/shared-buckets')).body.buckets[0].linked_as).toBe('l');
      } finally {
        await second.services.close();
      }
    } finally {
      await first.close();
    }
  });
});

describe('catalog writes queued behind each other', () => {
  const linkRecord = (projectId: string, name: string, source: { projectId: string; bucket: string }) => ({
    projectId,
    name,
    description: `Linked from ${source.projectId}.${source.bucket}`,
    createdAt: new Date().toISOString(),
    readonlyAccess: false,
    source,
  });

  it('a link made while the source bucket is being deleted goes with it', async () => {
    const { catalog } = t.services;
    await t.createProject('cq_src');
    await t.createProject('cq_dst');
    await bucket('cq_src', 'b');
    // The link's write is queued first; the delete is asked for before it has landed.
    const linking = catalog.createBucket(linkRecord('cq_dst', 'l', { projectId: 'cq_src', bucket: 'b' }));
    const deleting = catalog.deleteBucket('cq_src', 'b', false);
    await Promise.all([linking, deleting]);
    expect(catalog.getBucket('cq_src', 'b')).toBeUndefined();
    expect(catalog.getBucket('cq_dst', 'l')).toBeUndefined();
    expect(await bucketNames('cq_dst')).toEqual([]);
  });

  it('unshare sees a link made a moment before it', async () => {
    const { catalog } = t.services;
    await t.createProject('cu_src');
    await t.createProject('cu_dst');
    await bucket('cu_src', 'b');
    expect((await share('cu_src', 'b', 'cu_dst')).status).toBe(200);
    const shareRecord = catalog.sharesOf('cu_src', 'b')[0]!;
    const linking = catalog.createBucket(linkRecord('cu_dst', 'l', { projectId: 'cu_src', bucket: 'b' }));
    const seen: string[][] = [];
    const unsharing = catalog.unshare(shareRecord, (links) => {
      seen.push(links.map((l) => l.name));
      if (links.length) throw new Error('in use');
    });
    await linking;
    await expect(unsharing).rejects.toThrow('in use');
    expect(seen).toEqual([['l']]);
    expect(catalog.sharesOf('cu_src', 'b')).toHaveLength(1);
    expect(catalog.getBucket('cu_dst', 'l')).toBeDefined();

    await catalog.unshare(shareRecord, () => {});
    expect(catalog.sharesOf('cu_src', 'b')).toHaveLength(0);
    expect(catalog.getBucket('cu_dst', 'l')).toBeUndefined();
  });

  it('setting readonly_access on a bucket deleted meanwhile does not bring it back', async () => {
    const { catalog } = t.services;
    await t.createProject('cr_p');
    await bucket('cr_p', 'b');
    const deleting = catalog.deleteBucket('cr_p', 'b', false);
    const granting = catalog.setReadonlyAccess('cr_p', 'b', true);
    await Promise.all([deleting, granting]);
    expect(catalog.getBucket('cr_p', 'b')).toBeUndefined();
    expect(await bucketNames('cr_p')).toEqual([]);
  });
});

describe('timestamps of buckets, links and shares come from the service clock', () => {
  it('a created bucket and a linked bucket are stamped with the clock\'s time', async () => {
    const clock = manualClock(new Date('2030-05-06T07:08:09.000Z'));
    const app = await makeApp({ clock });
    try {
      await app.createProject('src');
      await app.createProject('dst');
      const created = await app.callJson('POST', '/projects/src/buckets', { body: { name: 'shared' } });
      expect(created.status).toBe(201);
      expect(created.body.created_at).toBe('2030-05-06T07:08:09.000Z');
      clock.advance(60_000);
      expect((await app.callJson('POST', '/projects/src/buckets/shared/share', { body: { target_project_id: 'dst' } })).status).toBe(200);
      const linked = await app.callJson('POST', '/projects/dst/buckets/mirror/link', { body: { source_project_id: 'src', source_bucket_name: 'shared' } });
      expect(linked.status).toBe(201);
      expect(linked.body.created_at).toBe('2030-05-06T07:09:09.000Z');
    } finally {
      await app.close();
    }
  });
});
