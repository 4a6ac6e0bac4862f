// Property-based fuzzing of every route of the route table, in-process. Hostile paths,
// methods, headers, query strings and bodies, sent as the admin, as the project, as another
// project and with no key, must never produce a 5xx; every error carries the §1 body; no
// file appears outside DATA_DIR; and the service is healthy afterwards. Requests on project
// routes are also raced against a delete of the project, bucket or table they name (their
// bodies held half-way until the delete answered), and tables are keyed on every type.
//
// CI runs a fixed seed (FUZZ_SEED, default 424242) and a bounded number of runs per route
// (FUZZ_RUNS); `npm run fuzz` runs many more with a random seed, printed for replay.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes, type RouteDef } from '../src/routes.ts';
import { SCALAR_TYPES } from '../src/storage/types.ts';
import { FuzzWorld } from './fuzz/fixture.ts';
import { DEEP_ARRAY, DEEP_OBJECT, racingPair, requestFor, strayPath, toRequest, type FuzzRequest, type RacingPair } from './fuzz/generators.ts';
import { makeApp, walk, type TestApp } from './helpers.ts';

const SEED = process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED ?? 424242);
const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
/** Per property: generous, since a long `npm run fuzz` multiplies the runs. */
const TIMEOUT = Math.max(120_000, RUNS * 1_000);
const BASE = 'http://local.test';
const label = (route: RouteDef) => `${route.method} ${route.path}`;

if (process.env.FUZZ_SEED !== undefined || process.env.FUZZ_VERBOSE) {
  console.log(`fuzz: seed ${SEED}, ${RUNS} runs per route (replay with FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS})`);
}

/** What went wrong with one response, or undefined when it honours the contract. */
async function contractViolation(response: Response): Promise<string | undefined> {
  if (response.status >= 500) return `status ${response.status}: ${await response.text().catch(() => '(unreadable)')}`;
  if (response.status >= 300 && response.status < 400) {
    // A redirect (the docs page sends `…/docs/` to `…/docs`): it must say where to.
    await response.body?.cancel().catch(() => {});
    return response.headers.get('location') ? undefined : `redirect ${response.status} without Location`;
  }
  if (response.status < 300) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('application/json')) return `status ${response.status} with content-type ${type}`;
  const text = await response.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return `status ${response.status} body is not JSON: ${text.slice(0, 200)}`;
  }
  const detail = body?.detail;
  if (!detail || typeof detail !== 'object' || Array.isArray(detail)) return `no detail object: ${text.slice(0, 200)}`;
  if (typeof detail.error !== 'string' || !detail.error) return `detail.error is not a string: ${text.slice(0, 200)}`;
  if (typeof detail.message !== 'string') return `detail.message is not a string: ${text.slice(0, 200)}`;
  if ('details' in detail && (detail.details === null || typeof detail.details !== 'object' || Array.isArray(detail.details))) {
    return `detail.details is not an object: ${text.slice(0, 200)}`;
  }
  const extra = Object.keys(detail).filter((k) => !['error', 'message', 'details'].includes(k));
  if (extra.length) return `unexpected detail fields ${extra.join(', ')}`;
  if (Object.keys(body).length !== 1) return `unexpected top-level fields: ${Object.keys(body).join(', ')}`;
  if (response.status === 401 && response.headers.get('www-authenticate') !== 'Bearer') return '401 without WWW-Authenticate: Bearer';
  if (response.status === 405 && !response.headers.get('allow')) return '405 without Allow';
  if (response.status === 429 && !response.headers.get('retry-after')) return '429 without Retry-After';
  return undefined;
}

function describeRequest(fuzz: FuzzRequest, request: Request): string {
  const url = request.url.length > 300 ? `${request.url.slice(0, 300)}…` : request.url;
  const body = fuzz.body?.value !== undefined ? '(json value)' : fuzz.body ? `(${fuzz.body.bytes.length} bytes)` : '(none)';
  return `${request.method} ${url} as ${fuzz.principal}, headers ${JSON.stringify(Object.keys(fuzz.headers))}, body ${body}`;
}

describe('fuzzing every route', () => {
  let outer: string;
  let t: TestApp;
  let world: FuzzWorld;
  let before: string[];
  const statuses = new Map<number, number>();
  const perRoute = new Map<string, Record<number, number>>();
  const DATA = 'a/b/c/srv/data';
  const outside = async () => (await walk(outer)).filter((p) => p !== DATA && !p.startsWith(`${DATA}/`));

  beforeAll(async () => {
    // The data folder sits a few levels down, so a path that climbs out of it lands in
    // folders this test watches.
    outer = await mkdtemp(join(tmpdir(), 'dsa-fuzz-'));
    const root = join(outer, 'a', 'b', 'c', 'srv');
    await mkdir(root, { recursive: true });
    // A small import limit, so oversized import bodies stay small.
    t = await makeApp({ root, env: { MAX_IMPORT_BYTES: '65536' } });
    world = new FuzzWorld(t);
    await world.ensure();
    before = await outside();
    expect(relative(outer, t.dataDir)).toBe(join('a', 'b', 'c', 'srv', 'data'));
  });

  afterAll(async () => {
    if (process.env.FUZZ_VERBOSE) {
      console.log(JSON.stringify({ statuses: Object.fromEntries(statuses), per_route: Object.fromEntries(perRoute), repairs: world?.repairs }, null, 1));
    }
    await t?.close();
    if (outer) await rm(outer, { recursive: true, force: true });
  });

  async function send(fuzz: FuzzRequest): Promise<void> {
    await world.ensure();
    const request = toRequest(BASE, fuzz, world);
    const summary = describeRequest(fuzz, request);
    const response = await t.app.fetch(request);
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    const counts = perRoute.get(label(fuzz.route)) ?? {};
    counts[response.status] = (counts[response.status] ?? 0) + 1;
    perRoute.set(label(fuzz.route), counts);
    const problem = await contractViolation(response);
    if (problem) throw new Error(`${summary}\n→ ${problem}`);
  }

  routes.forEach((route, index) => {
    it(`${label(route)}: no 5xx, every error in the contract's shape`, { timeout: TIMEOUT }, async () => {
      await fc.assert(
        fc.asyncProperty(requestFor(route), (fuzz) => send(fuzz)),
        { seed: SEED + index, numRuns: RUNS, endOnFailure: true },
      );
    });
  });

  it('paths that match no route, under every method', { timeout: TIMEOUT }, async () => {
    const methods = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
    await fc.assert(
      fc.asyncProperty(strayPath, methods, fc.constantFrom('admin', 'own', 'none'), async (path, method, who) => {
        const headers: Record<string, string> = {};
        const key = world.keyOf(who as 'admin');
        if (key) headers.authorization = `Bearer ${key}`;
        const response = await t.app.fetch(new Request(`${BASE}${path}`, { method, headers }));
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (method === 'OPTIONS') {
          expect(response.status).toBe(204);
          return;
        }
        const problem = await contractViolation(response);
        if (problem) throw new Error(`${method} ${path.slice(0, 300)} as ${who} → ${problem}`);
      }),
      { seed: SEED - 1, numRuns: RUNS * 4, endOnFailure: true },
    );
  });

  /** `request` again, its body cut in two: the second half comes once `release` settles. */
  async function withHeldBody(request: Request, release: Promise<unknown>): Promise<Request> {
    if (!request.body) return request;
    const bytes = new Uint8Array(await request.arrayBuffer());
    const half = Math.floor(bytes.length / 2);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          if (sent === 0) {
            sent = 1;
            if (half) return controller.enqueue(bytes.subarray(0, half));
          }
          await release;
          if (half < bytes.length) controller.enqueue(bytes.subarray(half));
          controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    return new Request(request.url, { method: request.method, headers: request.headers, body, duplex: 'half' } as RequestInit);
  }

  const racing = { pairs: 0, deletesDone: 0, heldBodies: 0, gaveUp: 0 };

  async function race({ fuzz, target, ticks, slowBody }: RacingPair): Promise<void> {
    await world.ensure();
    const own = world.own.id;
    const deletePath = {
      project: `/projects/${own}`,
      bucket: `/projects/${own}/buckets/${world.bucket}?cascade=true&force=true`,
      table: `/projects/${own}/buckets/${world.bucket}/tables/${world.table}`,
    }[target];
    let deleted!: Promise<Response>;
    let sendDelete!: () => void;
    const deleteSent = new Promise<void>((resolve) => (sendDelete = resolve));
    // The held half of a body comes once the delete answered (or, should a handler hold a
    // lock while reading its body, after a while, so that is not a deadlock of the test).
    const deleteSettled = deleteSent.then(
      () =>
        new Promise<void>((resolve) => {
          const giveUp = setTimeout(() => {
            racing.gaveUp++;
            resolve();
          }, 1_000);
          void deleted.catch(() => {}).finally(() => {
            clearTimeout(giveUp);
            resolve();
          });
        }),
    );
    let request = toRequest(BASE, fuzz, world);
    let summary = '';
    if (slowBody && request.body) {
      request = await withHeldBody(request, deleteSettled);
      racing.heldBodies++;
    }
    summary = `${describeRequest(fuzz, request)} racing DELETE ${deletePath} after ${ticks} ticks${slowBody ? ', body held' : ''}`;
    // Each answer is read (or its stream cancelled) as soon as it comes: a streamed export
    // holds its table until then, and the delete waits for it.
    const check = async (what: string, response: Response) => {
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      return { status: response.status, problem: await contractViolation(response) };
    };
    const answer = t.app.fetch(request).then((r) => check('request', r));
    for (let i = 0; i < ticks; i++) await new Promise((r) => setImmediate(r));
    deleted = t.call('DELETE', deletePath);
    sendDelete();
    const [first, second] = await Promise.all([answer, deleted.then((r) => check('delete', r))]);
    racing.pairs++;
    if (first.problem) throw new Error(`${summary}\n→ request: ${first.problem}`);
    if (second.problem) throw new Error(`${summary}\n→ delete: ${second.problem}`);
    if (second.status === 204) racing.deletesDone++;
    // Two deletes of the same thing: only one of them did it.
    const same = fuzz.method === 'DELETE' && new URL(request.url).pathname === new URL(`${BASE}${deletePath}`).pathname;
    if (same && first.status === 204 && second.status === 204) throw new Error(`${summary}\n→ both deletes answered 204`);
  }

  it('requests racing a delete of the project, bucket or table they name (bodies held mid-way)', { timeout: TIMEOUT }, async () => {
    const projectRoutes = routes.filter((r) => r.path.startsWith('/projects/:id'));
    await fc.assert(fc.asyncProperty(racingPair(projectRoutes), (pair) => race(pair)), { seed: SEED + 7919, numRuns: RUNS, endOnFailure: true });
    expect(racing.pairs).toBe(RUNS);
    expect(racing.deletesDone, 'some deletes went through while the other request ran').toBeGreaterThan(0);
    expect(racing.heldBodies, 'some bodies were still arriving during the delete').toBeGreaterThan(0);
    if (process.env.FUZZ_VERBOSE) console.log(JSON.stringify({ racing }));
  });

  it('every accepted column type (and spelling) as a key, alone and in a composite key: no 5xx', async () => {
    await world.ensure();
    const base = `/projects/${world.own.id}/buckets/${world.bucket}/tables`;
    for (const [i, type] of [...SCALAR_TYPES, 'DECIMAL(10,2)', 'NUMERIC(38,0)', 'TIMESTAMPTZ', 'TEXT', 'BYTEA'].entries()) {
      for (const key of [['k'], ['id', 'k']]) {
        const name = `key_${i}_${key.length}`;
        const response = await t.call('POST', base, { body: { name, columns: [{ name: 'id', type: 'INTEGER' }, { name: 'k', type }], primary_key: key } });
        const problem = await contractViolation(response);
        if (problem) throw new Error(`${type} as key ${key.join(',')} → ${problem}`);
        if (response.status === 201) expect((await t.call('DELETE', `${base}/${name}`)).status).toBe(204);
      }
    }
  });

  it('two deletes of one project at once: one 204, one 404', async () => {
    for (let i = 0; i < 5; i++) {
      await world.ensure();
      const path = `/projects/${world.own.id}`;
      const answers = await Promise.all([t.call('DELETE', path), t.call('DELETE', path)]);
      expect(answers.map((a) => a.status).sort()).toEqual([204, 404]);
    }
  });

  it('reached the fixture: every class of outcome occurred', () => {
    // A fuzzer that only ever hits 401/422 proves little: successes, auth refusals,
    // validation errors and missing objects all happened.
    for (const status of [200, 201, 204, 401, 403, 404, 405, 422]) expect(statuses.get(status) ?? 0, `status ${status}`).toBeGreaterThan(0);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
  });

  it('nothing was created or removed outside DATA_DIR', async () => {
    expect(await outside()).toEqual(before);
  });

  it('no staging file is left in DATA_DIR/files', async () => {
    // Jobs the fuzz queued (§16) may still run: they stage, then place their files.
    const { jobRunner } = t.services;
    for (let i = 0; i < 3000 && (jobRunner.runningCount > 0 || jobRunner.waitingCount > 0); i++) await new Promise((r) => setTimeout(r, 10));
    expect(jobRunner.runningCount + jobRunner.waitingCount, 'jobs still running').toBe(0);
    // Stored files (§15) live in files/project_{id}/; staging is everything else there.
    const staging = (await readdir(t.services.paths.filesDir)).filter((name) => !/^project_/.test(name));
    expect(staging).toEqual([]);
    // And every stored file has its record.
    for (const project of await readdir(t.services.paths.filesDir)) {
      for (const id of await readdir(join(t.services.paths.filesDir, project))) {
        expect(t.services.files.get(project.slice('project_'.length), id), `${project}/${id}`).toBeDefined();
      }
    }
  });

  it('the service is still healthy and works normally', async () => {
    expect((await t.callJson('GET', '/health')).status).toBe(200);
    const created = await t.callJson('POST', '/projects', { body: { id: 'after_fuzz' } });
    expect(created.status).toBe(201);
    const key = created.body.api_key as string;
    expect((await t.callJson('POST', '/projects/after_fuzz/buckets', { key, body: { name: 'ok' } })).status).toBe(201);
    const listed = await t.callJson('GET', '/projects/after_fuzz/buckets', { key });
    expect(listed.status).toBe(200);
    expect(listed.body.buckets.map((b: { name: string }) => b.name)).toEqual(['ok']);
    expect((await t.callJson('GET', '/projects?limit=1000')).body.projects.some((p: { id: string }) => p.id === 'after_fuzz')).toBe(true);
    // The fixture still works end to end: its table reads.
    await world.ensure();
    const preview = await t.callJson('GET', `/projects/${world.own.id}/buckets/${world.bucket}/tables/${world.table}/preview`, { key: world.own.key });
    expect(preview.status).toBe(200);
  });
});

// Each of these was found by the fuzzer (a 5xx) and is kept here as a fixed case, so it
// stays covered whatever the seed.
describe('regressions found by fuzzing', () => {
  let t: TestApp;
  const T = '/projects/p/buckets/b/tables/t';
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p');
    expect((await t.callJson('POST', '/projects/p/buckets', { body: { name: 'b' } })).status).toBe(201);
    const columns = [
      { name: 'id', type: 'INTEGER' },
      { name: 'v', type: 'VARCHAR' },
    ];
    expect((await t.callJson('POST', '/projects/p/buckets/b/tables', { body: { name: 't', columns, primary_key: ['id'] } })).status).toBe(201);
    const rows = ['id,v'];
    for (let i = 0; i < 5000; i++) rows.push(`${i},value ${i}`);
    expect((await t.callJson('POST', `${T}/import`, { raw: `${rows.join('\n')}\n`, headers: { 'content-type': 'text/csv' } })).status).toBe(200);
  });
  afterAll(() => t.close());

  it('JSON nested 10,000 levels deep: 422, not a stack overflow on the way out', async () => {
    for (const raw of [DEEP_ARRAY, `{"id":"deep","settings":{"a":${DEEP_ARRAY}}}`, `{"id":"deep","settings":${DEEP_OBJECT}}`]) {
      const { status, body } = await t.callJson('POST', '/projects', { raw, headers: { 'content-type': 'application/json' } });
      expect(status).toBe(422);
      expect(body.detail.error).toBe('validation_error');
    }
    expect(t.services.catalog.getProject('deep')).toBeUndefined();
    // Brackets inside strings do not count; 100 levels are fine.
    const fine = { id: 'deep_ok', settings: { text: '['.repeat(5000), nested: JSON.parse(`${'['.repeat(98)}1${']'.repeat(98)}`) } };
    expect((await t.callJson('POST', '/projects', { body: fine })).status).toBe(201);
  });

  it('CSV import options that DuckDB refuses together: 422, nothing read', async () => {
    for (const query of ['quote=,', 'delimiter=%22', 'escape=,', 'delimiter=;&quote=;', 'null_string=a,b', 'null_string=%22', 'escape=x&null_string=x']) {
      const { status, body } = await t.callJson('POST', `${T}/import?${query}`, { raw: 'id,v\n1,a\n', headers: { 'content-type': 'text/csv' } });
      expect(status, query).toBe(422);
      expect(body.detail.error).toBe('validation_error');
    }
    expect(t.services.catalog.getTable('p', 'b', 't')!.rowCount).toBe(5000);
    // The same characters where they do not clash are fine.
    expect((await t.callJson('POST', `${T}/import?delimiter=;&quote=%27&incremental=true`, { raw: "id;v\n1;'a;b'\n", headers: { 'content-type': 'text/csv' } })).status).toBe(200);
  });

  it('an export whose body is cancelled leaves the table readable', async () => {
    for (const format of ['ndjson', 'csv', 'parquet']) {
      for (let i = 0; i < 3; i++) {
        const response = await t.call('GET', `${T}/export?format=${format}`);
        expect(response.status).toBe(200);
        await response.body?.cancel();
        const preview = await t.callJson('GET', `${T}/preview?limit=1`);
        expect(preview.status, `${format} #${i}: ${JSON.stringify(preview.body)}`).toBe(200);
      }
    }
  });
});
