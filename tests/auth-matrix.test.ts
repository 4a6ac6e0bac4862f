// CONTRACT §2 for every route of the route table: a route added later is covered as soon
// as it is in `routes`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes, type RouteDef } from '../src/routes.ts';
import { join } from 'node:path';
import { ADMIN_KEY, makeApp, manualClock, walk, type TestApp } from './helpers.ts';

const label = (route: RouteDef) => `${route.method} ${route.path}`;

/** The route's path with real values for its parameters (`branch`: a branch of the project, when it has one). */
function pathFor(route: RouteDef, projectId: string, branch = 'x_branch'): string {
  return route.path.replace(/:(\w+)/g, (_match, name: string) => {
    if (name === 'id') return projectId;
    if (name === 'branch') return branch;
    if (name === 'bucket') return 'in_c_matrix';
    if (name === 'table') return 'orders';
    return `x_${name}`;
  });
}

const adminRoutes = routes.filter((r) => r.auth === 'admin');
const projectRoutes = routes.filter((r) => r.auth === 'project');
const openRoutes = routes.filter((r) => r.auth === 'none');

describe('the route table', () => {
  it('has routes of every kind, and every route has a known auth', () => {
    expect(adminRoutes.length).toBeGreaterThan(0);
    expect(projectRoutes.length).toBeGreaterThan(0);
    expect(openRoutes.map(label)).toEqual(expect.arrayContaining(['GET /', 'GET /health']));
    for (const route of routes) expect(['none', 'admin', 'project']).toContain(route.auth);
  });

  it('every project route declares the scope it needs, and only project routes do', () => {
    for (const route of routes) {
      if (route.auth === 'project') expect(['read', 'write', 'admin'], label(route)).toContain(route.scope);
      else expect(route.scope, label(route)).toBeNull();
    }
  });

  it('project routes all take the project id as :id', () => {
    for (const route of projectRoutes) expect(route.path.startsWith('/projects/:id'), label(route)).toBe(true);
  });

  it('only the documented open endpoints are open', () => {
    // /docs and /ui serve their assets locally, below /docs/ and /ui/ (the explorer's data calls need a key).
    for (const route of openRoutes) {
      const documented = ['GET /', 'GET /health', 'GET /openapi.json', 'GET /docs', 'GET /ui'].includes(label(route));
      expect(documented || (route.method === 'GET' && (route.path.startsWith('/docs/') || route.path.startsWith('/ui/'))), label(route)).toBe(true);
    }
  });
});

describe('§2 401/403 matrix', () => {
  let t: TestApp;
  /** A project per route for the own-key call, which may change or delete it. */
  const own = new Map<RouteDef, { id: string; key: string; branch: string }>();
  let otherKey: string;
  let deleted: { id: string; key: string };
  let victim: string;

  beforeAll(async () => {
    t = await makeApp();
    victim = 'victim';
    await t.createProject(victim);
    otherKey = await t.createProject('other');
    deleted = { id: 'gone', key: await t.createProject('gone') };
    expect((await t.call('DELETE', '/projects/gone')).status).toBe(204);
    let i = 0;
    for (const route of projectRoutes) {
      const id = `own${i++}`;
      const key = await t.createProject(id);
      // Routes under P/branches/{branch}/… run in a real development branch of the project.
      const branch = route.path.includes(':branch') ? (await t.callJson('POST', `/projects/${id}/branches`, { body: { name: 'dev' } })).body.id : 'x_branch';
      own.set(route, { id, key, branch });
    }
  });
  afterAll(() => t.close());

  async function expect401(route: RouteDef, headers: Record<string, string>, why: string) {
    const response = await t.call(route.method, pathFor(route, victim), { key: null, headers });
    const body = await response.json();
    expect(response.status, `${label(route)} ${why}`).toBe(401);
    expect(body.detail.error).toBe('unauthorized');
    expect(response.headers.get('www-authenticate'), `${label(route)} ${why}`).toBe('Bearer');
  }

  async function expect403(route: RouteDef, projectId: string, key: string, why: string) {
    const response = await t.call(route.method, pathFor(route, projectId), { key });
    const body = await response.json();
    expect(response.status, `${label(route)} ${why}`).toBe(403);
    expect(body.detail.error, `${label(route)} ${why}`).toBe('forbidden');
  }

  for (const route of [...adminRoutes, ...projectRoutes]) {
    describe(label(route), () => {
      it('no Authorization header → 401', () => expect401(route, {}, 'without a header'));
      it('"Basic x" → 401', () => expect401(route, { authorization: 'Basic x' }, 'with Basic'));
      it('"Bearer " with no key → 401', () => expect401(route, { authorization: 'Bearer ' }, 'with an empty key'));
      it('"Bearer" alone → 401', () => expect401(route, { authorization: 'Bearer' }, 'with no key'));
    });
  }

  for (const route of adminRoutes) {
    describe(`${label(route)} (admin)`, () => {
      it('a project key → 401', async () => {
        const response = await t.call(route.method, pathFor(route, victim), { key: otherKey });
        expect(response.status).toBe(401);
        expect((await response.json()).detail.error).toBe('unauthorized');
        expect(response.headers.get('www-authenticate')).toBe('Bearer');
      });

      it('a wrong key → 401', async () => {
        for (const key of ['wrong', `${ADMIN_KEY}x`, ADMIN_KEY.slice(0, -1)]) {
          const response = await t.call(route.method, pathFor(route, victim), { key });
          expect(response.status, key).toBe(401);
          expect((await response.json()).detail.error).toBe('unauthorized');
        }
      });

      it('the admin key passes', async () => {
        const response = await t.call(route.method, pathFor(route, victim));
        expect([401, 403]).not.toContain(response.status);
      });
    });
  }

  for (const route of projectRoutes) {
    describe(`${label(route)} (project)`, () => {
      it('a wrong key → 403 forbidden', async () => {
        await expect403(route, victim, 'proj_victim_admin_00000000000000000000000000000000', 'with a forged key');
        await expect403(route, victim, 'wrong', 'with a wrong key');
      });

      it("another project's key → 403 forbidden", () => expect403(route, victim, otherKey, "with another project's key"));

      it("a deleted project's key → 403 forbidden", () => expect403(route, deleted.id, deleted.key, "with a deleted project's key"));

      it('a key for a project that does not exist → 403 (nothing revealed)', () => expect403(route, 'nosuchproject', otherKey, 'on a missing project'));

      it('its own key passes', async () => {
        const { id, key, branch } = own.get(route)!;
        const response = await t.call(route.method, pathFor(route, id, branch), { key });
        expect([401, 403], `${label(route)}: ${response.status} ${await response.text()}`).not.toContain(response.status);
      });

      it('its own key passes with the id in another case', async () => {
        const { id, key, branch } = own.get(route)!;
        if (route.method !== 'GET') return; // only reads: the write ran above
        const response = await t.call(route.method, pathFor(route, id.toUpperCase(), branch), { key });
        expect([401, 403]).not.toContain(response.status);
      });

      it('the admin key passes', async () => {
        if (route.method !== 'GET') return; // writes are exercised with the own key
        const response = await t.call(route.method, pathFor(route, victim));
        expect([401, 403]).not.toContain(response.status);
      });
    });
  }

  // An open route with parameters (a docs asset) may answer 404 for a made-up value, but
  // never with an authentication error.
  const openStatus = (route: RouteDef, status: number) => {
    if (route.path.includes(':')) expect([401, 403], label(route)).not.toContain(status);
    else expect(status, label(route)).toBe(200);
  };

  for (const route of openRoutes) {
    it(`${label(route)} answers without a key`, async () => {
      const response = await t.call(route.method, pathFor(route, victim), { key: null });
      openStatus(route, response.status);
    });

    it(`${label(route)} ignores a wrong key`, async () => {
      const response = await t.call(route.method, pathFor(route, victim), { key: 'wrong' });
      openStatus(route, response.status);
    });
  }

  it('the victim project is untouched by all of the above', async () => {
    const { status, body } = await t.callJson('GET', '/projects/victim');
    expect(status).toBe(200);
    expect(body.status).toBe('active');
  });
});

// CONTRACT §11 for every project route of the route table × every kind of project key:
// the expected answer (through, or 403 with the exact code), and for every refused call
// nothing changed — catalog, files and rows alike.
describe('§11 scope matrix', () => {
  const clock = manualClock();
  let t: TestApp;
  const ALLOWED = 'in_c_matrix';
  const OTHER = 'in_c_other';
  type KeyKind = 'read' | 'write' | 'admin' | 'bucket read' | 'bucket write' | 'branch read' | 'branch write' | 'revoked' | 'expired' | "other project's admin";
  const KINDS: KeyKind[] = ['read', 'write', 'admin', 'bucket read', 'bucket write', 'branch read', 'branch write', 'revoked', 'expired', "other project's admin"];
  /** `branch`: the development branch the branch keys are bound to; `other`: one they are not. */
  let fixture: { id: string; branch: string; other: string; keys: Record<KeyKind, string> };
  let mutable = 0;

  /** A project with both buckets, a table with a row in each, and one key of every kind. */
  async function makeFixture(id: string) {
    const admin = await t.createProject(id);
    for (const bucket of [ALLOWED, OTHER]) {
      expect((await t.call('POST', `/projects/${id}/buckets`, { body: { name: bucket } })).status).toBe(201);
      const table = await t.call('POST', `/projects/${id}/buckets/${bucket}/tables`, { body: { name: 'orders', columns: [{ name: 'id', type: 'INTEGER' }] } });
      expect(table.status).toBe(201);
      const imported = await t.call('POST', `/projects/${id}/buckets/${bucket}/tables/orders/import`, { raw: 'id\n1\n', headers: { 'content-type': 'text/csv' } });
      expect(imported.status).toBe(200);
    }
    const newBranch = async (name: string) => (await t.callJson('POST', `/projects/${id}/branches`, { body: { name } })).body.id as string;
    const branch = await newBranch('dev');
    const other = await newBranch('other');
    // The branch holds its own copy of one table, so writes there are writes to a copy.
    expect((await t.call('POST', `/projects/${id}/branches/${branch}/buckets/${ALLOWED}/tables/orders/import?incremental=true`, { raw: 'id\n5\n', headers: { 'content-type': 'text/csv' } })).status).toBe(200);
    const make = async (body: Record<string, unknown>) => {
      const { status, body: made } = await t.callJson('POST', `/projects/${id}/api-keys`, { body, key: admin });
      expect(status).toBe(201);
      return made as { id: string; api_key: string };
    };
    const revoked = await make({ scope: 'admin' });
    expect((await t.call('DELETE', `/projects/${id}/api-keys/${revoked.id}`)).status).toBe(204);
    const expired = await make({ scope: 'admin', expires_in_seconds: 60 });
    const keys: Record<KeyKind, string> = {
      read: (await make({ scope: 'read' })).api_key,
      write: (await make({ scope: 'write' })).api_key,
      admin,
      'bucket read': (await make({ scope: 'read', buckets: [ALLOWED] })).api_key,
      'bucket write': (await make({ scope: 'write', buckets: [ALLOWED] })).api_key,
      'branch read': (await make({ scope: 'read', branch })).api_key,
      'branch write': (await make({ scope: 'write', branch })).api_key,
      revoked: revoked.api_key,
      expired: expired.api_key,
      "other project's admin": otherAdmin,
    };
    return { id, branch, other, keys };
  }

  let otherAdmin = '';
  beforeAll(async () => {
    t = await makeApp({ clock });
    otherAdmin = await t.createProject('elsewhere');
    fixture = await makeFixture('scoped');
    clock.advance(61_000); // the expired keys are now past their expiry
  });
  afterAll(() => t.close());

  const pathIn = (route: RouteDef, own: { id: string }, bucket: string, branch: string) =>
    pathFor(route, own.id, branch).replace('/buckets/in_c_matrix', `/buckets/${bucket}`);

  /** What a key of this kind must meet on the route (before anything else is looked at). */
  function expected(route: RouteDef, kind: KeyKind, bucket: string, inKeysBranch: boolean): { status: 403; code: string } | 'through' {
    if (kind === 'revoked' || kind === 'expired' || kind === "other project's admin") return { status: 403, code: 'forbidden' };
    const restricted = kind.startsWith('bucket ');
    if (kind.startsWith('branch ') && route.branchRestrictedKeys !== 'allowed') {
      if (route.branchRestrictedKeys === 'forbidden' || !route.path.includes(':branch') || !inKeysBranch) return { status: 403, code: 'forbidden' };
    }
    const scope = kind.replace(/^(bucket|branch) /, '') as 'read' | 'write' | 'admin';
    if (restricted && route.path.includes(':bucket') && bucket !== ALLOWED) return { status: 403, code: 'forbidden' };
    if (restricted && !route.path.includes(':bucket') && route.bucketRestrictedKeys === 'forbidden') return { status: 403, code: 'forbidden' };
    const order = ['read', 'write', 'admin'];
    if (order.indexOf(scope) < order.indexOf(route.scope!)) return { status: 403, code: 'insufficient_scope' };
    if (restricted && !route.path.includes(':bucket') && route.bucketRestrictedKeys === 'insufficient_scope') return { status: 403, code: 'insufficient_scope' };
    return 'through';
  }

  /** Everything a refused call might have touched: catalog records, files and their sizes, rows. */
  async function fingerprint(projectId: string): Promise<string> {
    const s = t.services;
    const files = [...(await walk(join(t.dataDir, 'duckdb', `project_${projectId}`))), ...(await walk(join(t.dataDir, 'duckdb', 'branches', `project_${projectId}`)))].filter((f) => !f.endsWith('.wal'));
    const tables = s.catalog.listProjectTables(projectId).map((x) => [x.bucket, x.name, x.rowCount, x.columns]);
    const rows: unknown[] = [];
    for (const bucket of [ALLOWED, OTHER]) {
      const preview = await t.callJson('GET', `/projects/${projectId}/buckets/${bucket}/tables/orders/preview`);
      rows.push(preview.status, preview.body?.rows);
      const inBranch = await t.callJson('GET', `/projects/${projectId}/branches/${fixture.branch}/buckets/${bucket}/tables/orders/preview`);
      rows.push(inBranch.status, inBranch.body?.rows);
    }
    const branches = s.branches.list(projectId).map((b) => [b.id, b.name, s.branches.tableStates(projectId, b.id), s.branches.bucketStates(projectId, b.id)]);
    return JSON.stringify({
      project: s.catalog.getProject(projectId),
      buckets: s.catalog.listBuckets(projectId),
      tables,
      keys: s.keys.list(projectId).map((k) => [k.id, k.digest, k.scope, k.buckets, k.branch, k.expiresAt]),
      branches,
      shares: s.catalog.sharesWith('elsewhere'),
      files,
      rows,
    });
  }

  for (const route of projectRoutes) {
    describe(label(route), () => {
      for (const kind of KINDS) {
        const buckets = route.path.includes(':bucket') && kind.startsWith('bucket ') ? [ALLOWED, OTHER] : [ALLOWED];
        // Under P/branches/{branch}/…: in the branch the branch keys are bound to, and (for them) in another.
        const inBranches = route.path.includes(':branch') && kind.startsWith('branch ') ? [true, false] : [true];
        for (const bucket of buckets) for (const inKeysBranch of inBranches) {
          const want = (): ReturnType<typeof expected> => expected(route, kind, bucket, inKeysBranch);
          const where = [buckets.length > 1 ? ` on ${bucket === ALLOWED ? 'its' : 'another'} bucket` : '', inBranches.length > 1 ? ` in ${inKeysBranch ? 'its' : 'another'} branch` : ''].join('');
          it(`${kind} key${where}`, async () => {
            const outcome = want();
            if (outcome === 'through') {
              // Passing calls may change what they touch: each runs on a project of its own.
              const own = route.method === 'GET' ? fixture : await makeFixture(`m${mutable++}`);
              const response = await t.call(route.method, pathIn(route, own, bucket, inKeysBranch ? own.branch : own.other), { key: own.keys[kind], body: route.body ? {} : undefined });
              const text = await response.text();
              const code = response.status === 403 ? JSON.parse(text).detail.error : null;
              expect([401, 500], `${label(route)} as ${kind}: ${response.status} ${text}`).not.toContain(response.status);
              expect(['forbidden', 'insufficient_scope'], `${label(route)} as ${kind}: ${text}`).not.toContain(code);
              return;
            }
            const before = await fingerprint(fixture.id);
            const response = await t.call(route.method, pathIn(route, fixture, bucket, inKeysBranch ? fixture.branch : fixture.other), {
              key: fixture.keys[kind],
              body: route.body ? { name: 'in_c_new', scope: 'admin', target_project_id: 'elsewhere', columns: [{ name: 'x', type: 'INTEGER' }], filters: [{ column: 'id', operator: 'eq', values: [1] }] } : undefined,
              raw: route.path.endsWith('/import') ? 'id\n2\n' : undefined,
              headers: route.path.endsWith('/import') ? { 'content-type': 'text/csv' } : undefined,
            });
            const body = await response.json();
            expect(response.status, `${label(route)} as ${kind}: ${JSON.stringify(body)}`).toBe(outcome.status);
            expect(body.detail.error, `${label(route)} as ${kind}`).toBe(outcome.code);
            if (outcome.code === 'insufficient_scope' && body.detail.details?.required !== 'unrestricted') {
              const scope = kind.replace(/^(bucket|branch) /, '');
              expect(body.detail.details).toEqual({ required: route.scope, scope });
            }
            expect(await fingerprint(fixture.id), `${label(route)} as ${kind} changed something`).toBe(before);
          });
        }
      }
    });
  }

  it('bucket-restricted keys see only their buckets in listings', async () => {
    for (const kind of ['bucket read', 'bucket write'] as const) {
      const { body } = await t.callJson('GET', `/projects/${fixture.id}/buckets`, { key: fixture.keys[kind] });
      expect(body.buckets.map((b: { name: string }) => b.name)).toEqual([ALLOWED]);
      expect(body.total).toBe(1);
    }
    const all = await t.callJson('GET', `/projects/${fixture.id}/buckets`, { key: fixture.keys.read });
    expect(all.body.total).toBe(2);
  });

  it('a bucket-restricted key meets 403 forbidden on a bucket that does not exist, before validation', async () => {
    for (const name of ['in_c_nosuch', 'bad.name']) {
      const res = await t.callJson('GET', `/projects/${fixture.id}/buckets/${name}/tables`, { key: fixture.keys['bucket read'] });
      expect(res.status, name).toBe(403);
      expect(res.body.detail.error).toBe('forbidden');
    }
  });

  it('shared-bucket listings of a bucket-restricted key show only what it links as one of its buckets', async () => {
    const src = 'sharer';
    await t.createProject(src);
    for (const name of ['in_c_one', 'in_c_two']) {
      await t.call('POST', `/projects/${src}/buckets`, { body: { name } });
      expect((await t.call('POST', `/projects/${src}/buckets/${name}/share`, { body: { target_project_id: fixture.id } })).status).toBe(200);
    }
    expect((await t.call('POST', `/projects/${fixture.id}/buckets/${ALLOWED}_link/link`, { body: { source_project_id: src, source_bucket_name: 'in_c_one' } })).status).toBe(201);
    const viewer = (await t.callJson('POST', `/projects/${fixture.id}/api-keys`, { body: { scope: 'read', buckets: [`${ALLOWED}_link`] } })).body.api_key;
    const seen = await t.callJson('GET', `/projects/${fixture.id}/shared-buckets`, { key: viewer });
    expect(seen.body.buckets.map((b: { source_bucket_name: string }) => b.source_bucket_name)).toEqual(['in_c_one']);
    const unrestricted = await t.callJson('GET', `/projects/${fixture.id}/shared-buckets`, { key: fixture.keys.read });
    expect(unrestricted.body.total).toBe(2);
    // Linking is an admin route: a restricted key never links, whatever the bucket.
    const link = await t.callJson('POST', `/projects/${fixture.id}/buckets/${ALLOWED}/link`, { key: fixture.keys['bucket write'], body: { source_project_id: src, source_bucket_name: 'in_c_two' } });
    expect(link.status).toBe(403);
    expect(link.body.detail.error).toBe('insufficient_scope');
  });

  it('a branch-restricted key reaches only the routes under its branch, its GET and current (§11, §14)', async () => {
    const key = fixture.keys['branch write'];
    const P = `/projects/${fixture.id}`;
    const through = async (method: string, path: string) => {
      const res = await t.callJson(method, path, { key });
      expect([401, 403], `${method} ${path}: ${JSON.stringify(res.body)}`).not.toContain(res.status);
    };
    await through('GET', `${P}/branches/${fixture.branch}`);
    await through('GET', `${P}/branches/${fixture.branch}/buckets/${ALLOWED}/tables/orders`);
    await through('GET', `${P}/api-keys/current`);
    for (const [method, path] of [
      ['GET', `${P}/buckets`],
      ['GET', `${P}/branches/default/buckets`],
      ['GET', `${P}/branches/${fixture.other}/buckets`],
      ['GET', `${P}/branches/${fixture.other}`],
      ['GET', `${P}/branches`],
      ['DELETE', `${P}/branches/${fixture.branch}`],
      ['POST', `${P}/branches/${fixture.branch}/buckets/${ALLOWED}/tables/orders/merge`],
    ] as const) {
      const res = await t.callJson(method, path, { key, body: method === 'POST' ? {} : undefined });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.detail.error).toBe('forbidden');
    }
    expect(t.services.branches.get(fixture.id, fixture.branch)).toBeDefined();
  });
  it("a bucket-restricted key's SQL sees only its buckets", async () => {
    const key = fixture.keys['bucket read'];
    const own = await t.callJson('POST', `/projects/${fixture.id}/query`, { key, body: { sql: `SELECT count(*) AS n FROM ${ALLOWED}.orders` } });
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body.rows).toEqual([{ n: 1 }]);
    const other = await t.callJson('POST', `/projects/${fixture.id}/query`, { key, body: { sql: `SELECT count(*) AS n FROM ${OTHER}.orders` } });
    expect(other.status).toBe(400);
    expect(other.body.detail.error).toBe('invalid_query');
    expect(JSON.stringify(other.body)).not.toContain('"n"');
    const unrestricted = await t.callJson('POST', `/projects/${fixture.id}/query`, { key: fixture.keys.read, body: { sql: `SELECT count(*) AS n FROM ${OTHER}.orders` } });
    expect(unrestricted.status).toBe(200);
  });

  it('a bucket-restricted key sees and restores only the snapshots of its buckets', async () => {
    const mine = (await t.callJson('POST', `/projects/${fixture.id}/buckets/${ALLOWED}/tables/orders/snapshots`, { body: {} })).body;
    const theirs = (await t.callJson('POST', `/projects/${fixture.id}/buckets/${OTHER}/tables/orders/snapshots`, { body: {} })).body;
    const key = fixture.keys['bucket write'];
    const list = await t.callJson('GET', `/projects/${fixture.id}/snapshots`, { key });
    expect(list.body.snapshots.map((s: { id: string }) => s.id)).toEqual([mine.id]);
    expect(list.body.total).toBe(1);
    expect((await t.callJson('GET', `/projects/${fixture.id}/snapshots/${mine.id}`, { key })).status).toBe(200);
    for (const [method, path] of [['GET', ''], ['DELETE', ''], ['POST', '/restore']] as const) {
      const res = await t.callJson(method, `/projects/${fixture.id}/snapshots/${theirs.id}${path}`, { key, body: method === 'POST' ? { table: 'copy' } : undefined });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.detail.error).toBe('snapshot_not_found');
    }
    const into = await t.callJson('POST', `/projects/${fixture.id}/snapshots/${mine.id}/restore`, { key, body: { bucket: OTHER, table: 'copy' } });
    expect(into.status).toBe(403);
    expect(into.body.detail.error).toBe('forbidden');
    expect(t.services.catalog.getTable(fixture.id, OTHER, 'copy')).toBeUndefined();
    const ok = await t.callJson('POST', `/projects/${fixture.id}/snapshots/${mine.id}/restore`, { key, body: { table: 'copy' } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(t.services.snapshots.list(fixture.id).some((s) => s.id === theirs.id)).toBe(true);
  });

});
