// CONTRACT §2 for every route of the route table: a route added later is covered as soon
// as it is in `routes`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes, type RouteDef } from '../src/routes.ts';
import { ADMIN_KEY, makeApp, type TestApp } from './helpers.ts';

const label = (route: RouteDef) => `${route.method} ${route.path}`;

/** The route's path with real values for its parameters. */
function pathFor(route: RouteDef, projectId: string): string {
  return route.path.replace(/:(\w+)/g, (_match, name: string) => {
    if (name === 'id') return projectId;
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
    // /docs serves its assets locally, below /docs/.
    for (const route of openRoutes) {
      const documented = ['GET /', 'GET /health', 'GET /openapi.json', 'GET /docs'].includes(label(route));
      expect(documented || (route.method === 'GET' && route.path.startsWith('/docs/')), label(route)).toBe(true);
    }
  });
});

describe('§2 401/403 matrix', () => {
  let t: TestApp;
  /** A project per route for the own-key call, which may change or delete it. */
  const own = new Map<RouteDef, { id: string; key: string }>();
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
      own.set(route, { id, key: await t.createProject(id) });
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
        const { id, key } = own.get(route)!;
        const response = await t.call(route.method, pathFor(route, id), { key });
        expect([401, 403], `${label(route)}: ${response.status} ${await response.text()}`).not.toContain(response.status);
      });

      it('its own key passes with the id in another case', async () => {
        const { id, key } = own.get(route)!;
        if (route.method !== 'GET') return; // only reads: the write ran above
        const response = await t.call(route.method, pathFor(route, id.toUpperCase()), { key });
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
