// §12 + Part II "operations on several files": the real server in a child process is
// stopped for good at each step of a schema change (DSA_TEST_PAUSE_AT), killed with
// SIGKILL there, and started again on the same data folder. The table must then be
// exactly the old one or exactly the new one (catalog, file, rows, column metadata), with
// no temporary file left, and further changes must work.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { SCHEMA_STEPS } from '../src/storage/schema.ts';
import { type Child, startSourceServer } from './spawn.ts';

const ADMIN_KEY = 'schema-crash-admin-key-0123456789';
const T = '/projects/p1/buckets/b/tables/t';
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

async function call(server: Server, method: string, path: string, body?: unknown, raw?: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (raw !== undefined) headers['content-type'] = 'text/csv';
  const response = await fetch(server.url + path, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function kill(server: Server): Promise<void> {
  server.child.process.kill('SIGKILL');
  await server.child.exited;
}

async function stop(server: Server): Promise<void> {
  server.child.process.kill('SIGTERM');
  await server.child.exited;
}

/** The table file as any DuckDB client sees it (the server is stopped). */
async function readFile(path: string) {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  try {
    const c = await instance.connect();
    const columns = (await c.runAndReadAll(`SELECT name, type, "notnull" FROM pragma_table_info('main.data') ORDER BY cid`)).getRowObjectsJS();
    const key = (await c.runAndReadAll(`SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = 'data' AND constraint_type = 'PRIMARY KEY'`)).getRowObjectsJS();
    const rows = (await c.runAndReadAll('SELECT * FROM main.data ORDER BY 1')).getRowObjectsJS();
    c.closeSync();
    return {
      columns: columns.map((r) => [r.name, r.type, r.notnull]),
      primaryKey: (key[0]?.constraint_column_names as string[] | undefined) ?? [],
      rows: rows.map((r) => Object.values(r).map((v) => (typeof v === 'bigint' ? Number(v) : v))),
    };
  } finally {
    instance.closeSync();
  }
}

const OLD_COLUMNS = [['id', 'INTEGER', true], ['name', 'VARCHAR', false], ['score', 'DOUBLE', false]];
const ROWS = [[1, 'alpha', 1.5], [2, 'beta', 2], [3, 'gamma', null]];

interface Scenario {
  title: string;
  change: [string, string, unknown?];
  /** Steps this change passes through. */
  steps: readonly string[];
  /** After a crash at this step: the new table (else the old one). */
  newAfter: readonly string[];
  next: { columns: unknown[]; primaryKey: string[]; rows: unknown[][]; metadataOn: string | null; nameDefault?: string };
}

const SCENARIOS: Scenario[] = [
  {
    title: 'a key column renamed and retyped (a rebuild)',
    change: ['PATCH', `${T}/columns/id`, { name: 'order_id', type: 'BIGINT' }],
    steps: ['intent_recorded', 'rebuild_created', 'rebuild_filled', 'rebuild_renamed'],
    newAfter: ['rebuild_renamed'],
    next: { columns: [['order_id', 'BIGINT', true], ['name', 'VARCHAR', false], ['score', 'DOUBLE', false]], primaryKey: ['order_id'], rows: ROWS, metadataOn: 'order_id' },
  },
  {
    title: 'a key column renamed in place',
    change: ['PATCH', `${T}/columns/id`, { name: 'order_id' }],
    steps: ['intent_recorded', 'altered_in_file'],
    newAfter: ['altered_in_file'],
    next: { columns: [['order_id', 'INTEGER', true], ['name', 'VARCHAR', false], ['score', 'DOUBLE', false]], primaryKey: ['order_id'], rows: ROWS, metadataOn: 'order_id' },
  },
  {
    // Told after the crash by the file's shape (the intent reads nothing from the file).
    title: 'a column added in place',
    change: ['POST', `${T}/columns`, { name: 'flag', type: 'INTEGER', default: 7 }],
    steps: ['intent_recorded', 'altered_in_file'],
    newAfter: ['altered_in_file'],
    next: { columns: [...OLD_COLUMNS, ['flag', 'INTEGER', false]], primaryKey: ['id'], rows: ROWS.map((r) => [...r, 7]), metadataOn: 'id' },
  },
  {
    // The shape stays: told after the crash by the file's signature.
    title: 'a default set in place',
    change: ['PATCH', `${T}/columns/name`, { default: 'anon' }],
    steps: ['intent_recorded', 'altered_in_file'],
    newAfter: ['altered_in_file'],
    next: { columns: OLD_COLUMNS, primaryKey: ['id'], rows: ROWS, metadataOn: 'id', nameDefault: 'anon' },
  },
  {
    title: 'the primary key dropped (a rebuild)',
    change: ['DELETE', `${T}/primary-key`],
    steps: ['intent_recorded', 'rebuild_created', 'rebuild_filled', 'rebuild_renamed'],
    newAfter: ['rebuild_renamed'],
    next: { columns: OLD_COLUMNS, primaryKey: [], rows: ROWS, metadataOn: 'id' },
  },
];

describe('kill -9 at every step of a schema change', () => {
  it('knows every step it can stop at', () => {
    const covered = new Set(SCENARIOS.flatMap((s) => s.steps));
    expect([...covered].sort()).toEqual([...SCHEMA_STEPS].sort());
  });

  for (const scenario of SCENARIOS) {
    for (const step of scenario.steps) {
      it(`${scenario.title}, killed at ${step}`, async () => {
        const root = await mkdtemp(join(tmpdir(), 'dsa-schema-crash-'));
        roots.push(root);
        const dataDir = join(root, 'data');
        const bucketDir = join(dataDir, 'duckdb', 'project_p1', 'b');

        let server = await start(dataDir, step);
        try {
          expect((await call(server, 'POST', '/projects', { id: 'p1' })).status).toBe(201);
          expect((await call(server, 'POST', '/projects/p1/buckets', { name: 'b' })).status).toBe(201);
          const columns = [{ name: 'id', type: 'INTEGER' }, { name: 'name', type: 'VARCHAR' }, { name: 'score', type: 'DOUBLE' }];
          expect((await call(server, 'POST', '/projects/p1/buckets/b/tables', { name: 't', columns, primary_key: ['id'] })).status).toBe(201);
          expect((await call(server, 'POST', `${T}/import`, undefined, 'id,name,score\n1,alpha,1.5\n2,beta,2\n3,gamma,\n')).status).toBe(200);
          expect((await call(server, 'POST', `${T}/columns/id/metadata`, { metadata: [{ key: 'KBC.description', value: 'the key' }] })).status).toBe(200);

          const [method, path, body] = scenario.change;
          const pending = call(server, method, path, body).catch(() => undefined);
          await server.child.waitFor((out) => out.includes('"event":"test_pause"') && out.includes(`"step":"${step}"`), 30_000);
          await kill(server);
          await pending;
        } catch (error) {
          if (server.child.process.exitCode === null) await kill(server);
          throw error;
        }

        server = await start(dataDir);
        const becameNew = scenario.newAfter.includes(step);
        const expected = becameNew ? scenario.next : { columns: OLD_COLUMNS, primaryKey: ['id'], rows: ROWS, metadataOn: 'id' };
        try {
          const table = await call(server, 'GET', T);
          expect(table.status).toBe(200);
          expect(table.body.columns.map((c: any) => [c.name, c.type, !c.nullable])).toEqual(expected.columns);
          expect(table.body.primary_key).toEqual(expected.primaryKey);
          expect(table.body.row_count).toBe(3);
          expect(table.body.columns.find((c: any) => c.name === 'name').default).toBe(expected.nameDefault ?? null);
          // The column's metadata is where the column is.
          const withMetadata = table.body.columns.filter((c: any) => c.metadata.length).map((c: any) => c.name);
          expect(withMetadata).toEqual([expected.metadataOn]);
          const preview = await call(server, 'GET', `${T}/preview`);
          expect(preview.body.rows.map((r: any) => Object.values(r))).toEqual(expected.rows);
          // The table takes further changes: no intent is left hanging on it.
          const added = await call(server, 'POST', `${T}/columns`, { name: 'extra', type: 'INTEGER', default: 0 });
          expect(added.status, JSON.stringify(added.body)).toBe(201);
        } finally {
          await stop(server);
        }
        // No temporary or orphan file; the file itself is what the catalog said.
        expect((await readdir(bucketDir)).filter((f) => f !== 't.duckdb')).toEqual([]);
        expect(existsSync(join(bucketDir, 't.duckdb'))).toBe(true);
        const file = await readFile(join(bucketDir, 't.duckdb'));
        expect(file.columns).toEqual([...expected.columns, ['extra', 'INTEGER', false]]);
        expect(file.primaryKey).toEqual(expected.primaryKey);
        expect(file.rows).toEqual(expected.rows.map((r) => [...r, 0]));
      }, 90_000);
    }
  }
});
