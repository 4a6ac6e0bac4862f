// Authorization proof, route by route from the route table: a key of another project —
// a stranger, or the partner the victim shares with and links from — is refused on every
// project-scoped route with 403 `forbidden`, AND the refused request changed nothing (the
// victim's catalog records, its files byte for byte, its rows, its keys, its shares and
// links). Each request is a real, effective one: sent with the victim's own key right
// after, it does change the snapshot (or, for reads, returns the data), which shows the
// snapshot would have caught a leak. Admin routes answer 401 to project keys, likewise
// without effect. tests/auth-matrix.test.ts covers the plain 401/403 matrix.
import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes, type RouteDef } from '../src/routes.ts';
import { makeApp, walk, type TestApp } from './helpers.ts';

const label = (route: RouteDef) => `${route.method} ${route.path}`;
const COLUMNS = [
  { name: 'id', type: 'INTEGER', nullable: false },
  { name: 'name', type: 'VARCHAR' },
  { name: 'amount', type: 'DECIMAL(10,2)' },
];
const ROWS = 'id,name,amount\n1,alpha,1.50\n2,beta,-2.00\n3,gamma,\n';

/** What each route is sent: an effective request on the victim's objects. */
interface Effective {
  bucket?: string;
  table?: string;
  column?: string;
  key?: string;
  query?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

/** The victim's own file and job (§15, §16), for the routes that address one. */
interface VictimIds {
  file: string;
  job: string;
}
const victimIds = new Map<string, VictimIds>();

/** Keyed by `METHOD path`; every project route must have an entry (checked below). */
const EFFECTIVE: Record<string, (attacker: string, ids: VictimIds) => Effective> = {
  'GET /projects/:id': () => ({}),
  'PUT /projects/:id': () => ({ body: { name: 'pwned', settings: { owner: 'attacker' } } }),
  'DELETE /projects/:id': () => ({}),
  'GET /projects/:id/stats': () => ({}),
  'POST /projects/:id/buckets': () => ({ body: { name: 'planted', description: 'x' } }),
  'GET /projects/:id/buckets': () => ({}),
  'GET /projects/:id/buckets/:bucket': () => ({}),
  'DELETE /projects/:id/buckets/:bucket': () => ({ query: 'cascade=true&force=true' }),
  'POST /projects/:id/buckets/:bucket/tables': () => ({ body: { name: 'planted', columns: [{ name: 'a', type: 'INTEGER' }] } }),
  'GET /projects/:id/buckets/:bucket/tables': () => ({}),
  'GET /projects/:id/buckets/:bucket/tables/:table': () => ({}),
  'DELETE /projects/:id/buckets/:bucket/tables/:table': () => ({}),
  'GET /projects/:id/buckets/:bucket/tables/:table/preview': () => ({}),
  'POST /projects/:id/buckets/:bucket/share': (attacker) => ({ body: { target_project_id: attacker } }),
  'DELETE /projects/:id/buckets/:bucket/share': () => ({ query: 'target_project_id=partner&force=true' }),
  'POST /projects/:id/buckets/:bucket/link': () => ({ bucket: 'fresh_link', body: { source_project_id: 'partner', source_bucket_name: 'bait' } }),
  'DELETE /projects/:id/buckets/:bucket/link': () => ({ bucket: 'linked_in' }),
  'POST /projects/:id/buckets/:bucket/grant-readonly': () => ({ bucket: 'spare' }),
  'DELETE /projects/:id/buckets/:bucket/grant-readonly': () => ({}),
  'GET /projects/:id/shared-buckets': () => ({}),
  'POST /projects/:id/buckets/:bucket/tables/:table/preview': () => ({ body: { filters: [{ column: 'id', operator: 'ge', values: [0] }] } }),
  'GET /projects/:id/buckets/:bucket/tables/:table/export': () => ({ query: 'format=csv' }),
  'POST /projects/:id/buckets/:bucket/tables/:table/export': () => ({ body: { format: 'ndjson' } }),
  'POST /projects/:id/buckets/:bucket/tables/:table/delete-rows': () => ({ body: { filters: [{ column: 'id', operator: 'ge', values: [0] }] } }),
  'POST /projects/:id/buckets/:bucket/tables/:table/truncate': () => ({}),
  'POST /projects/:id/buckets/:bucket/tables/:table/import': () => ({ raw: 'id,name,amount\n9,planted,9.99\n', headers: { 'content-type': 'text/csv' } }),
  'POST /projects/:id/api-keys': () => ({ body: { scope: 'admin', description: 'planted' } }),
  'GET /projects/:id/api-keys': () => ({}),
  'GET /projects/:id/api-keys/current': () => ({}),
  'GET /projects/:id/api-keys/:key_id': () => ({}),
  'DELETE /projects/:id/api-keys/:key_id': () => ({}),
  'POST /projects/:id/api-keys/:key_id/rotate': () => ({}),
  'POST /projects/:id/query': () => ({ body: { sql: 'SELECT * FROM sales.orders' } }),
  'POST /projects/:id/workspaces': () => ({ body: { name: 'planted' } }),
  'GET /projects/:id/workspaces': () => ({}),
  'GET /projects/:id/workspaces/:ws': () => ({}),
  'DELETE /projects/:id/workspaces/:ws': () => ({}),
  'POST /projects/:id/workspaces/:ws/load': () => ({ body: { tables: [{ source: 'sales.orders', destination: 'o' }] } }),
  'POST /projects/:id/workspaces/:ws/query': () => ({ body: { sql: 'CREATE TABLE planted AS SELECT 1' } }),
  'POST /projects/:id/workspaces/:ws/unload': () => ({ body: { source: 'o', bucket: 'sales', table: 'orders' } }),
  'POST /projects/:id/buckets/:bucket/tables/:table/columns': () => ({ body: { name: 'planted', type: 'INTEGER', default: 1 } }),
  'PATCH /projects/:id/buckets/:bucket/tables/:table/columns/:column': () => ({ body: { name: 'renamed' } }),
  'DELETE /projects/:id/buckets/:bucket/tables/:table/columns/:column': () => ({}),
  'PUT /projects/:id/buckets/:bucket/tables/:table/primary-key': () => ({ body: { columns: ['id', 'name'] } }),
  'DELETE /projects/:id/buckets/:bucket/tables/:table/primary-key': () => ({}),
  'GET /projects/:id/buckets/:bucket/tables/:table/profile': () => ({}),
  ...Object.fromEntries(
    ['/projects/:id/buckets/:bucket', '/projects/:id/buckets/:bucket/tables/:table', '/projects/:id/buckets/:bucket/tables/:table/columns/:column'].flatMap((base) => [
      [`GET ${base}/metadata`, () => ({})],
      [`POST ${base}/metadata`, () => ({ body: { metadata: [{ key: 'planted', value: 'x' }] } })],
      [`DELETE ${base}/metadata/:key`, () => ({})],
    ]),
  ),
  'POST /projects/:id/buckets/:bucket/tables/:table/snapshots': () => ({ body: { description: 'planted' } }),
  'GET /projects/:id/buckets/:bucket/tables/:table/snapshots': () => ({}),
  'GET /projects/:id/snapshots': () => ({}),
  'GET /projects/:id/snapshots/:snapshot_id': () => ({}),
  'DELETE /projects/:id/snapshots/:snapshot_id': () => ({}),
  'POST /projects/:id/snapshots/:snapshot_id/restore': () => ({ body: { table: 'restored' } }),
  'GET /projects/:id/settings/snapshots': () => ({}),
  'PUT /projects/:id/settings/snapshots': () => ({ body: { auto_retention_days: 1, auto: { full_import: true } } }),
  'POST /projects/:id/files': () => ({ query: 'name=planted.csv', raw: 'planted', headers: { 'content-type': 'text/csv' } }),
  'GET /projects/:id/files': () => ({}),
  'GET /projects/:id/files/:file_id': () => ({}),
  'GET /projects/:id/files/:file_id/download': () => ({}),
  'DELETE /projects/:id/files/:file_id': () => ({}),
  'POST /projects/:id/buckets/:bucket/tables/:table/import-async': (_attacker, ids) => ({ body: { file_id: ids.file, incremental: true } }),
  'POST /projects/:id/buckets/:bucket/tables/:table/export-async': () => ({ body: { format: 'csv' } }),
  'GET /projects/:id/jobs': () => ({}),
  'GET /projects/:id/jobs/:job_id': () => ({}),
  'DELETE /projects/:id/jobs/:job_id': () => ({}),
  'POST /projects/:id/branches': () => ({ body: { name: 'planted' } }),
  'GET /projects/:id/branches': () => ({}),
  'GET /projects/:id/branches/:branch': () => ({}),
  'DELETE /projects/:id/branches/:branch': () => ({}),
  'GET /projects/:id/branches/:branch/changes': () => ({}),
  'POST /projects/:id/branches/:branch/buckets/:bucket/tables/:table/reset': () => ({}),
  'POST /projects/:id/branches/:branch/buckets/:bucket/tables/:table/merge': () => ({ body: { force: true } }),
};

/** §14: a branch twin is sent what the route it was made from is sent. */
const entryFor = (route: RouteDef) => EFFECTIVE[label(route)] ?? (route.twinOf ? EFFECTIVE[`${route.method} ${route.twinOf}`] : undefined);

/**
 * Routes whose own-key call needs more than the common victim: a job that is still waiting
 * (a cancel of a finished one is 409). It waits behind a job that holds the victim's
 * `parking` table, whose write lock the test holds until `cleanup`.
 */
const PREPARE: Record<string, (victim: string, victimKey: string) => Promise<() => Promise<void>>> = {
  'DELETE /projects/:id/jobs/:job_id': async (victim, victimKey) => {
    const ids = victimIds.get(victim)!;
    const release = await holdWriteLock(t.services.paths.tableFile(victim, 'sales', 'parking'));
    const url = `/projects/${victim}/buckets/sales/tables/parking/import-async`;
    const first = await ok('POST', url, 202, { key: victimKey, body: { file_id: ids.file, incremental: true } });
    for (let i = 0; i < 2000 && t.services.jobs.get(victim, first.id)?.status !== 'processing'; i++) await new Promise((r) => setTimeout(r, 5));
    const second = await ok('POST', url, 202, { key: victimKey, body: { file_id: ids.file, incremental: true } });
    victimIds.set(victim, { ...ids, job: second.id });
    // Let the parked job finish before the next test looks at the data folder.
    return async () => {
      release();
      await ok('GET', `/projects/${victim}/jobs/${first.id}?wait=30`, 200);
      for (let i = 0; i < 2000 && t.services.jobRunner.runningCount > 0; i++) await new Promise((r) => setTimeout(r, 5));
      await t.services.registry.settle();
    };
  },
};

/** Takes a table's write lock and keeps it until the returned function is called. */
async function holdWriteLock(path: string): Promise<() => void> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await new Promise<void>((taken) => {
    void t.services.registry.withWriteLock(path, async () => {
      taken();
      await released;
    });
  });
  return release;
}

/** The snapshot each victim starts with (for the routes that name one). */
const victimSnapshots = new Map<string, string>();

const projectRoutes = routes.filter((r) => r.auth === 'project');
const adminRoutes = routes.filter((r) => r.auth === 'admin');

let t: TestApp;
let strangerKey: string;
let partnerKey: string;

beforeAll(async () => {
  t = await makeApp({ env: { MAX_CONCURRENT_JOBS: '64' } });
  strangerKey = await t.createProject('stranger');
  partnerKey = await t.createProject('partner');
  // The partner shares two buckets with every victim (one the victim links, one it may link).
  for (const name of ['bait', 'bait_linked']) {
    expect((await t.callJson('POST', '/projects/partner/buckets', { body: { name } })).status).toBe(201);
  }
  expect((await t.callJson('POST', '/projects/partner/buckets/bait_linked/tables', { body: { name: 'ptable', columns: COLUMNS } })).status).toBe(201);
});
afterAll(() => t.close());

const ok = async (method: string, path: string, status: number, options: Parameters<TestApp['call']>[2] = {}) => {
  const { status: got, body } = await t.callJson(method, path, options);
  expect(got, `${method} ${path}: ${JSON.stringify(body)}`).toBe(status);
  return body;
};

/**
 * A victim project with something of every kind: a bucket with a keyed table holding rows
 * (shared with the partner, which links it; read-only access granted), an empty bucket,
 * and a link to a bucket the partner shares with it.
 */
async function makeVictim(id: string): Promise<string> {
  const key = await t.createProject(id);
  await ok('PUT', `/projects/${id}`, 200, { body: { name: 'Victim', settings: { tier: 'gold' } } });
  await ok('POST', `/projects/${id}/buckets`, 201, { body: { name: 'sales', description: 'Sales' } });
  await ok('POST', `/projects/${id}/buckets`, 201, { body: { name: 'spare' } });
  await ok('POST', `/projects/${id}/buckets/sales/tables`, 201, { body: { name: 'orders', columns: COLUMNS, primary_key: ['id'] } });
  await ok('POST', `/projects/${id}/buckets/sales/tables/orders/import`, 200, { raw: ROWS, headers: { 'content-type': 'text/csv' } });
  await ok('POST', `/projects/${id}/buckets/sales/grant-readonly`, 200);
  await ok('POST', `/projects/${id}/buckets/sales/share`, 200, { body: { target_project_id: 'partner' } });
  await ok('POST', `/projects/partner/buckets/from_${id}/link`, 201, { body: { source_project_id: id, source_bucket_name: 'sales' }, key: partnerKey });
  for (const name of ['bait', 'bait_linked']) {
    await ok('POST', `/projects/partner/buckets/${name}/share`, 200, { body: { target_project_id: id } });
  }
  await ok('POST', `/projects/${id}/buckets/linked_in/link`, 201, { body: { source_project_id: 'partner', source_bucket_name: 'bait_linked' }, key });
  await ok('POST', `/projects/${id}/api-keys`, 201, { body: { scope: 'read', description: 'spare key' }, key });
  const ws = await ok('POST', `/projects/${id}/workspaces`, 201, { body: {}, key });
  victimWorkspaces.set(id, ws.id);
  await ok('POST', `/projects/${id}/workspaces/${ws.id}/load`, 200, { body: { tables: [{ source: 'sales.orders', destination: 'o' }] }, key });
  for (const target of ['sales', 'sales/tables/orders', 'sales/tables/orders/columns/name']) {
    await ok('POST', `/projects/${id}/buckets/${target}/metadata`, 200, { body: { metadata: [{ key: 'note', value: 'secret note' }] }, key });
  }
  victimSnapshots.set(id, (await ok('POST', `/projects/${id}/buckets/sales/tables/orders/snapshots`, 201, { body: {}, key })).id);
  // A stored file and a finished job (§15, §16).
  await ok('POST', `/projects/${id}/buckets/sales/tables`, 201, { body: { name: 'parking', columns: COLUMNS } });
  const file = await ok('POST', `/projects/${id}/files?name=rows.csv&tags=victim`, 201, { raw: ROWS, headers: { 'content-type': 'text/csv' }, key });
  const job = await ok('POST', `/projects/${id}/buckets/sales/tables/parking/import-async`, 202, { body: { file_id: file.id }, key });
  expect((await ok('GET', `/projects/${id}/jobs/${job.id}?wait=30`, 200)).status).toBe('success');
  victimIds.set(id, { file: file.id, job: job.id });
  // §14: a development branch holding its own copy of the table, and a workspace of its own.
  const branch = (await ok('POST', `/projects/${id}/branches`, 201, { body: { name: 'dev' }, key })).id as string;
  victimBranches.set(id, branch);
  const B = `/projects/${id}/branches/${branch}`;
  await ok('POST', `${B}/buckets/sales/tables/orders/import?incremental=true`, 200, { raw: 'id,name,amount\n4,delta,4.00\n', headers: { 'content-type': 'text/csv' }, key });
  const branchWs = await ok('POST', `${B}/workspaces`, 201, { body: {}, key });
  victimBranchWorkspaces.set(id, branchWs.id);
  victimBranchSnapshots.set(id, (await ok('POST', `${B}/buckets/sales/tables/orders/snapshots`, 201, { body: {}, key })).id);
  await ok('POST', `${B}/workspaces/${branchWs.id}/load`, 200, { body: { tables: [{ source: 'sales.orders', destination: 'o' }] }, key });
  return key;
}

/** Each victim's workspace (the `:ws` of workspace routes). */
const victimWorkspaces = new Map<string, string>();
/** Each victim's development branch, and that branch's workspace (§14). */
const victimBranches = new Map<string, string>();
const victimBranchWorkspaces = new Map<string, string>();
const victimBranchSnapshots = new Map<string, string>();

const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Everything about the victim that a request could change, as plain data. */
/** Waits for the work that runs after an answer: queued and running jobs (§16), and the checkpoints after writes. */
async function backgroundDone(): Promise<void> {
  for (let i = 0; i < 3000 && (t.services.jobRunner.runningCount > 0 || t.services.jobRunner.waitingCount > 0); i++) await new Promise((r) => setTimeout(r, 5));
  await t.services.registry.writesSettled();
}

async function snapshot(id: string, key: string) {
  const { catalog, paths } = t.services;
  const project = catalog.getProject(id);
  const buckets = catalog.listBuckets(id).map((b) => ({
    ...b,
    shares: catalog.sharesOf(id, b.name).map((s) => s.targetProjectId).sort(),
    linkedBy: catalog.linksTo(id, b.name).map((l) => `${l.projectId}.${l.name}`).sort(),
    tables: b.source ? [] : catalog.listTables(id, b.name),
  }));
  const sharedWithIt = catalog.sharesWith(id).map((s) => `${s.projectId}.${s.bucket}`).sort();
  // Rows through the API (as the admin), then the files byte for byte.
  const rows = catalog.getTable(id, 'sales', 'orders')
    ? (await t.callJson('POST', `/projects/${id}/buckets/sales/tables/orders/preview`, { body: { order_by: [{ column: 'id', order: 'asc' }] } })).body.rows
    : null;
  // The project's folder, byte for byte; null once it is gone (a delete that went through).
  // A write's checkpoint runs after its answer: the files are compared once those are done.
  await t.services.registry.writesSettled();
  const dir = join(paths.duckdbDir, `project_${id}`);
  const listed = await walk(dir, { allowMissing: true });
  let files: Record<string, string> | null = null;
  if (listed) {
    files = {};
    for (const rel of listed) {
      const full = join(dir, rel);
      files[rel] = (await stat(full)).isDirectory() ? 'dir' : digest(await readFile(full));
    }
  }
  // Its API keys (not their last use, which the victim's own calls move), and that its own key still works.
  const keys = t.services.keys.list(id).map((k) => [k.id, k.digest, k.scope, k.description, k.buckets, k.expiresAt]);
  const keyWorks = (await t.call('GET', `/projects/${id}`, { key })).status === 200;
  const workspaces = t.services.workspaces.all().filter((w) => w.projectId === id).map((w) => ({ ...w }));
  const metadata = t.services.metadata.all().filter((r) => r.projectId === id);
  const snapshots = { records: t.services.snapshots.list(id), settings: t.services.snapshots.settings(id), files: await walk(paths.snapshotsProjectDir(id), { allowMissing: true }) };
  // Its stored files (§15) byte for byte, their records, and its jobs (§16) without their live progress.
  const storedFiles: Record<string, string> = {};
  for (const rel of (await walk(paths.projectFilesDir(id), { allowMissing: true })) ?? []) {
    const full = join(paths.projectFilesDir(id), rel);
    storedFiles[rel] = (await stat(full)).isDirectory() ? 'dir' : digest(await readFile(full));
  }
  const stored = t.services.files.list(id);
  const jobs = t.services.jobs.list(id).map(({ progress: _progress, ...job }) => job);
  // §14: the branches, what each holds, their files byte for byte and the branch's rows.
  const { branches } = t.services;
  const branchRecords = branches.list(id).map((b) => ({ ...b, tables: branches.tableStates(id, b.id), buckets: branches.bucketStates(id, b.id), bucketMetadataCopies: branches.bucketMetadataCopies(id, b.id) }));
  const branchDir = join(paths.branchesDir, `project_${id}`);
  const branchFiles: Record<string, string> = {};
  for (const rel of (await walk(branchDir, { allowMissing: true })) ?? []) {
    const full = join(branchDir, rel);
    branchFiles[rel] = (await stat(full)).isDirectory() ? 'dir' : digest(await readFile(full));
  }
  const branch = victimBranches.get(id);
  const branchRows = branch && branches.get(id, branch)
    ? (await t.callJson('POST', `/projects/${id}/branches/${branch}/buckets/sales/tables/orders/preview`, { body: { order_by: [{ column: 'id', order: 'asc' }] } })).body.rows
    : null;
  return { project, buckets, sharedWithIt, rows, files, keys, keyWorks, workspaces, metadata, snapshots, storedFiles, stored, jobs, branchRecords, branchFiles, branchRows };
}

function pathFor(route: RouteDef, id: string, effective: Effective): string {
  // Twins run in the victim's branch (bucket metadata writes too: copy on write there);
  // sharing twins (400 main_branch_only there) under `default`.
  // The victim's job is main's: job twins reach it under `default` (a branch's twin reaches only its own).
  const jobRoute = route.path.includes('/jobs/:job_id');
  const branch = route.branch === 'main_only' || jobRoute ? 'default' : (victimBranches.get(id) ?? 'default');
  const inBranch = route.path.includes(':branch') && branch !== 'default';
  const path = route.path
    .replace(':id', id)
    .replace(':branch', branch)
    .replace(':bucket', effective.bucket ?? 'sales')
    .replace(':table', effective.table ?? 'orders')
    .replace(':key_id', t.services.keys.list(id).find((k) => k.description === 'spare key')?.id ?? 'k_000000000000')
    .replace(':ws', (inBranch ? victimBranchWorkspaces : victimWorkspaces).get(id) ?? 'w_000000000000')
    .replace(':column', effective.column ?? 'name')
    .replace(':key', effective.key ?? 'note')
    .replace(':snapshot_id', (inBranch ? victimBranchSnapshots : victimSnapshots).get(id) ?? 's_000000000000')
    .replace(':file_id', victimIds.get(id)?.file ?? 'f_000000000000')
    .replace(':job_id', victimIds.get(id)?.job ?? 'j_0000000000000000');
  return effective.query ? `${path}?${effective.query}` : path;
}

describe('every project route has an effective request here', () => {
  it('covers the whole route table', () => {
    const missing = projectRoutes.filter((r) => !entryFor(r)).map(label);
    expect(missing).toEqual([]);
  });
});

describe("another project's key: 403 forbidden and nothing changes", () => {
  projectRoutes.forEach((route, index) => {
    it(label(route), async () => {
      const entry = entryFor(route);
      if (!entry) return; // reported by the coverage test above
      const victim = `victim${index}`;
      const victimKey = await makeVictim(victim);
      const cleanup = await (PREPARE[label(route)] ?? (route.twinOf ? PREPARE[`${route.method} ${route.twinOf}`] : undefined))?.(victim, victimKey);
      try {
        const before = await snapshot(victim, victimKey);
        expect(before.rows).toHaveLength(3);
        expect(before.keyWorks).toBe(true);

        for (const [who, key] of [
          ['stranger', strangerKey],
          ['partner', partnerKey],
        ] as const) {
          const effective = entry(who, victimIds.get(victim)!);
          const path = pathFor(route, victim, effective);
          const call = { key, body: effective.body, raw: effective.raw, headers: effective.headers };
          // The path as given, and with the project id in another case.
          for (const target of [path, path.replace(`/projects/${victim}`, `/projects/${victim.toUpperCase()}`)]) {
            const response = await t.call(route.method, target, call);
            const text = await response.text();
            expect(response.status, `${who}: ${label(route)} → ${text}`).toBe(403);
            expect(response.headers.get('content-type')).toMatch(/^application\/json/);
            const body = JSON.parse(text);
            expect(body.detail.error).toBe('forbidden');
            // Nothing of the victim's is revealed in the refusal.
            for (const secret of ['orders', 'alpha', 'gold', 'sales']) expect(text, who).not.toContain(secret);
          }
          expect(await snapshot(victim, victimKey), `${who} changed something through ${label(route)}`).toEqual(before);
        }

        // The same request with the victim's own key is effective: a write changes the
        // snapshot, a read returns the data. So the comparison above would have caught it.
        const effective = entry('stranger', victimIds.get(victim)!);
        const own = await t.call(route.method, pathFor(route, victim, effective), { key: victimKey, body: effective.body, raw: effective.raw, headers: effective.headers });
        const text = await own.text();
        expect(own.status, `${label(route)} with the own key: ${text}`).toBeLessThan(300);
        if (route.method === 'GET') {
          expect(text.length).toBeGreaterThan(0);
        } else if (!route.path.endsWith('/preview') && !route.path.endsWith('/export') && !(route.twinOf ?? route.path).endsWith('/:id/query')) {
          // A queued job (§16) and a write's checkpoint run after the answer: the folder is read once they are done.
          await backgroundDone();
          expect(await snapshot(victim, victimKey), `${label(route)} with the own key changed nothing`).not.toEqual(before);
        }
      } finally {
        await cleanup?.();
        // Jobs the own-key call queued (§16) finish before the next test looks at the data folder.
        await backgroundDone();
        await t.services.registry.settle();
      }
    });
  });
});

describe('admin routes: a project key gets 401 and nothing changes', () => {
  async function globalState() {
    const { catalog, paths } = t.services;
    return {
      projects: catalog.listProjects().map((p) => ({ ...p })),
      files: await walk(paths.dataDir),
    };
  }

  const ADMIN_EFFECTIVE: Record<string, { body?: unknown; prepare?: () => Promise<void>; effect?: () => Promise<boolean> }> = {
    'POST /projects': { body: { id: 'intruder' }, effect: async () => t.services.catalog.getProject('intruder') !== undefined },
    'GET /projects': {},
    'POST /backend/init': {
      // A missing folder that init would create.
      prepare: () => rm(t.services.paths.snapshotsDir, { recursive: true, force: true }),
      effect: async () => (await walk(t.services.paths.dataDir)).includes('snapshots'),
    },
    'POST /backend/remove': {},
    'GET /metrics': {},
  };

  it('covers every admin route', () => {
    expect(adminRoutes.map(label).filter((l) => !Object.hasOwn(ADMIN_EFFECTIVE, l))).toEqual([]);
  });

  for (const route of adminRoutes) {
    it(label(route), async () => {
      const entry = ADMIN_EFFECTIVE[label(route)] ?? {};
      const victimKey = await t.createProject(`adm_${adminRoutes.indexOf(route)}`);
      await entry.prepare?.();
      const before = await globalState();
      for (const key of [victimKey, partnerKey]) {
        const response = await t.call(route.method, route.path, { key, body: entry.body });
        const text = await response.text();
        expect(response.status, `${label(route)} → ${text}`).toBe(401);
        expect(JSON.parse(text).detail.error).toBe('unauthorized');
        expect(response.headers.get('www-authenticate')).toBe('Bearer');
        expect(text).not.toContain('stranger'); // no project listing leaks into the refusal
      }
      expect(await globalState()).toEqual(before);
      // The admin's request is effective.
      const admin = await t.call(route.method, route.path, { body: entry.body });
      expect(admin.status, label(route)).toBeLessThan(300);
      await admin.body?.cancel();
      if (entry.effect) expect(await entry.effect()).toBe(true);
    });
  }
});
