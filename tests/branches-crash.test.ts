// CONTRACT §14 and §9: the real server in a child process, stopped for good at a chosen
// step of a first-write clone or of a merge (DSA_TEST_PAUSE_AT), killed with SIGKILL there,
// and started again on the same data folder. The table comes back in its old or its new
// state, never in between, and no file is left that no record claims.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { walk } from './helpers.ts';
import { type Child, startSourceServer } from './spawn.ts';

const ADMIN_KEY = 'branch-crash-admin-key-0123456789';
const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

interface Server {
  child: Child;
  url: string;
}

async function start(dataDir: string, pauseAt?: string): Promise<Server> {
  return startSourceServer(dataDir, ADMIN_KEY, pauseAt ? { DSA_TEST_PAUSE_AT: pauseAt } : {});
}

async function call(server: Server, method: string, path: string, options: { body?: unknown; csv?: string } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` };
  let body: string | undefined;
  if (options.csv !== undefined) {
    headers['content-type'] = 'text/csv';
    body = options.csv;
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(server.url + path, { method, headers, body });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function kill(server: Server): Promise<void> {
  server.child.process.kill('SIGKILL');
  await server.child.exited;
}

const P = '/projects/p';

/** Project p, bucket b, table t (id key) with rows 1 and 2, and branch dev. */
async function setUp(server: Server): Promise<string> {
  expect((await call(server, 'POST', '/projects', { body: { id: 'p' } })).status).toBe(201);
  expect((await call(server, 'POST', `${P}/buckets`, { body: { name: 'b' } })).status).toBe(201);
  expect((await call(server, 'POST', `${P}/buckets/b/tables`, { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }], primary_key: ['id'] } })).status).toBe(201);
  expect((await call(server, 'POST', `${P}/buckets/b/tables/t/import`, { csv: 'id\n1\n2\n' })).status).toBe(200);
  const branch = await call(server, 'POST', `${P}/branches`, { body: { name: 'dev' } });
  expect(branch.status).toBe(201);
  return `${P}/branches/${branch.body.id}`;
}

async function ids(server: Server, path: string): Promise<number[]> {
  const res = await call(server, 'GET', `${path}/preview`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.rows.map((r: { id: number }) => r.id).sort();
}

/** Files under duckdb/ that are not table files claimed by a record (partial copies, backups, orphans). */
async function strayFiles(dataDir: string, branchId: string): Promise<string[]> {
  const all = await walk(join(dataDir, 'duckdb'));
  return all.filter((f) => /\.creating-|\.trash-/.test(f) || (f.startsWith('branches/') && f.endsWith('.duckdb') && !f.startsWith(`branches/project_p/${branchId}/`)));
}

/** Starts a server paused at `step`, runs `setUp` and `trigger`, kills it once the step is reached, and starts it again. */
async function crashAt(step: string, prepare: (server: Server, B: string) => Promise<void>, trigger: (server: Server, B: string) => Promise<unknown>) {
  const root = await mkdtemp(join(tmpdir(), 'dsa-branch-crash-'));
  roots.push(root);
  const dataDir = join(root, 'data');
  const first = await start(dataDir, step);
  const B = await setUp(first);
  await prepare(first, B);
  const pending = trigger(first, B).catch(() => undefined);
  await first.child.waitFor((out) => out.includes('"test_pause"') && out.includes(`"${step}"`));
  await kill(first);
  await pending;
  const second = await start(dataDir);
  return { server: second, B, branchId: B.split('/').pop()!, dataDir };
}

describe('kill -9 during a first-write clone', () => {
  // The copy's record commits while the file is cloned. Killed before the clone is in place,
  // the branch sees main's table and no copy is left; killed once it is (branch_clone_copied),
  // the record may have committed too: then the branch holds its copy of main's rows, without
  // the write that was never answered. Either way nothing is half made.
  for (const step of ['branch_clone_started', 'branch_clone_copied']) {
    it(`at ${step}: the branch sees main's rows, without the write, and no stray file is left`, async () => {
      const { server, B, branchId, dataDir } = await crashAt(step, async () => {}, (s, B) => call(s, 'POST', `${B}/buckets/b/tables/t/import?incremental=true`, { csv: 'id\n3\n' }));
      try {
        const state = (await call(server, 'GET', `${B}/buckets/b/tables/t`)).body.branch_state;
        expect(step === 'branch_clone_started' ? ['main'] : ['main', 'copied']).toContain(state);
        expect(await ids(server, `${B}/buckets/b/tables/t`)).toEqual([1, 2]);
        expect(await ids(server, `${P}/buckets/b/tables/t`)).toEqual([1, 2]);
        const copied = [{ bucket: 'b', table: 't', state: 'copied', main_changed: false }];
        expect((await call(server, 'GET', `${B}/changes`)).body).toEqual({ tables: state === 'main' ? [] : copied, buckets: [] });
        const files = (await walk(join(dataDir, 'duckdb', 'branches'))).filter((f) => !/^project_p(\/b_[0-9a-f]+(\/b)?)?$/.test(f));
        expect(files).toEqual(state === 'main' ? [] : [`project_p/${branchId}/b/t.duckdb`]);
        expect(await strayFiles(dataDir, branchId)).toEqual([]);
        // The branch works afterwards: the first write makes its copy now.
        expect((await call(server, 'POST', `${B}/buckets/b/tables/t/import?incremental=true`, { csv: 'id\n3\n' })).status).toBe(200);
        expect(await ids(server, `${B}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
      } finally {
        await kill(server);
      }
    });
  }
});

describe('kill -9 during a merge', () => {
  const copied = async (s: Server, B: string) => {
    expect((await call(s, 'POST', `${B}/buckets/b/tables/t/import?incremental=true`, { csv: 'id\n3\n' })).status).toBe(200);
  };
  const merge = (s: Server, B: string) => call(s, 'POST', `${B}/buckets/b/tables/t/merge`, { body: {} });

  for (const step of ['merge_intent_recorded', 'merge_main_moved']) {
    it(`of a copied table at ${step}: rolled back, main as it was and the branch keeps its copy`, async () => {
      const { server, B, branchId, dataDir } = await crashAt(step, copied, merge);
      try {
        expect(await ids(server, `${P}/buckets/b/tables/t`)).toEqual([1, 2]);
        expect((await call(server, 'GET', `${P}/buckets/b/tables/t`)).body.row_count).toBe(2);
        expect(await ids(server, `${B}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
        expect((await call(server, 'GET', `${B}/changes`)).body.tables).toEqual([{ bucket: 'b', table: 't', state: 'copied', main_changed: false }]);
        expect(await strayFiles(dataDir, branchId)).toEqual([]);
        // The merge can be done again, and then it is complete.
        expect((await merge(server, B)).status).toBe(200);
        expect(await ids(server, `${P}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
      } finally {
        await kill(server);
      }
    });
  }

  it('of a copied table at merge_branch_moved: completed, main has the branch rows and the branch sees main', async () => {
    const { server, B, branchId, dataDir } = await crashAt('merge_branch_moved', copied, merge);
    try {
      expect(await ids(server, `${P}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
      expect((await call(server, 'GET', `${P}/buckets/b/tables/t`)).body.row_count).toBe(3);
      expect((await call(server, 'GET', `${B}/buckets/b/tables/t`)).body.branch_state).toBe('main');
      expect((await call(server, 'GET', `${B}/changes`)).body.tables).toEqual([]);
      expect(await strayFiles(dataDir, branchId)).toEqual([]);
      expect((await walk(join(dataDir, 'duckdb', 'branches'))).filter((f) => f.endsWith('.duckdb'))).toEqual([]);
    } finally {
      await kill(server);
    }
  });

  it('of a table and bucket the branch created, at merge_branch_moved: completed with the bucket in main', async () => {
    const created = async (s: Server, B: string) => {
      expect((await call(s, 'POST', `${B}/buckets`, { body: { name: 'nb' } })).status).toBe(201);
      expect((await call(s, 'POST', `${B}/buckets/nb/tables`, { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
      expect((await call(s, 'POST', `${B}/buckets/nb/tables/t/import`, { csv: 'id\n7\n' })).status).toBe(200);
    };
    const { server, B, branchId, dataDir } = await crashAt('merge_branch_moved', created, (s, B) => call(s, 'POST', `${B}/buckets/nb/tables/t/merge`, { body: {} }));
    try {
      expect((await call(server, 'GET', `${P}/buckets/nb`)).status).toBe(200);
      expect(await ids(server, `${P}/buckets/nb/tables/t`)).toEqual([7]);
      expect((await call(server, 'GET', `${B}/buckets/nb/tables/t`)).body.branch_state).toBe('main');
      expect(await strayFiles(dataDir, branchId)).toEqual([]);
    } finally {
      await kill(server);
    }
  });

  it("of a table the branch deleted, at merge_main_moved: completed (main's file was already out), main has no such table", async () => {
    const deleted = async (s: Server, B: string) => {
      expect((await call(s, 'DELETE', `${B}/buckets/b/tables/t`)).status).toBe(204);
    };
    const { server, B, branchId, dataDir } = await crashAt('merge_main_moved', deleted, merge);
    try {
      expect((await call(server, 'GET', `${P}/buckets/b/tables/t`)).status).toBe(404);
      expect((await call(server, 'GET', `${B}/buckets/b/tables/t`)).status).toBe(404);
      expect((await call(server, 'GET', `${B}/changes`)).body.tables).toEqual([]);
      expect((await walk(join(dataDir, 'duckdb', 'project_p'))).filter((f) => f.includes('t.duckdb'))).toEqual([]);
      expect(await strayFiles(dataDir, branchId)).toEqual([]);
    } finally {
      await kill(server);
    }
  });
});

describe('kill -9 during a schema change in a branch', () => {
  for (const step of ['intent_recorded', 'altered_in_file']) {
    it(`at ${step}: the branch's table is the old or the new one, main is untouched`, async () => {
      const { server, B, branchId, dataDir } = await crashAt(step, async () => {}, (s, B) => call(s, 'POST', `${B}/buckets/b/tables/t/columns`, { body: { name: 'extra', type: 'INTEGER' } }));
      try {
        const inBranch = (await call(server, 'GET', `${B}/buckets/b/tables/t`)).body;
        const names = inBranch.columns.map((c: { name: string }) => c.name);
        expect([['id'], ['id', 'extra']]).toContainEqual(names);
        if (step === 'altered_in_file') expect(names).toEqual(['id', 'extra']);
        expect(await ids(server, `${B}/buckets/b/tables/t`)).toEqual([1, 2]);
        expect((await call(server, 'GET', `${P}/buckets/b/tables/t`)).body.columns.map((c: { name: string }) => c.name)).toEqual(['id']);
        expect(await ids(server, `${P}/buckets/b/tables/t`)).toEqual([1, 2]);
        expect(await strayFiles(dataDir, branchId)).toEqual([]);
        // The table works in the branch afterwards.
        expect((await call(server, 'POST', `${B}/buckets/b/tables/t/import?incremental=true`, { csv: 'id\n3\n' })).status).toBe(200);
      } finally {
        await kill(server);
      }
    });
  }
});

describe('kill -9 while a write in a branch moves its file into an auto snapshot (§13)', () => {
  const copied = async (s: Server, B: string) => {
    expect((await call(s, 'POST', `${B}/buckets/b/tables/t/import?incremental=true`, { csv: 'id\n3\n' })).status).toBe(200);
  };
  const cases: [string, (s: Server, B: string) => Promise<unknown>][] = [
    ['truncate', (s, B) => call(s, 'POST', `${B}/buckets/b/tables/t/truncate`)],
    ['table drop', (s, B) => call(s, 'DELETE', `${B}/buckets/b/tables/t`)],
    ['bucket delete', (s, B) => call(s, 'DELETE', `${B}/buckets/b`)],
  ];
  for (const [what, trigger] of cases) {
    it(`a ${what} cut short after the move: the file moves back, the branch's copy is as it was, no snapshot is left`, async () => {
      const { server, B, branchId, dataDir } = await crashAt('branch_snapshot_moved', copied, trigger);
      try {
        expect((await call(server, 'GET', `${B}/buckets/b/tables/t`)).body).toMatchObject({ branch_state: 'copied', row_count: 3 });
        expect(await ids(server, `${B}/buckets/b/tables/t`)).toEqual([1, 2, 3]);
        expect(await ids(server, `${P}/buckets/b/tables/t`)).toEqual([1, 2]);
        expect((await call(server, 'GET', `${B}/snapshots`)).body.total).toBe(0);
        expect((await walk(join(dataDir, 'snapshots'))).filter((f) => f.endsWith('.duckdb'))).toEqual([]);
        expect(await strayFiles(dataDir, branchId)).toEqual([]);
        // The same write goes through afterwards, with its snapshot.
        expect((await trigger(server, B) as { status: number }).status).toBeLessThan(300);
        expect((await call(server, 'GET', `${B}/snapshots`)).body.snapshots.map((s: { reason: string; row_count: number }) => [s.reason, s.row_count])).toEqual([[what === 'truncate' ? 'truncate' : 'drop_table', 3]]);
      } finally {
        await kill(server);
      }
    });
  }
});
