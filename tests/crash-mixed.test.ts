// kill -9 in the middle of a mixed write burst — table creates, imports with primary-key
// upserts and full loads, row deletes, table deletes — three times, restarting the real
// server on the same data folder each time. Every acknowledged write must survive: a
// table's rows are exactly those of its last acknowledged write, or of the write that was
// on the wire when the process died (old or new, nothing in between). No orphan file or
// catalog row, no staging file left over, and the service healthy. (tests/crash.test.ts
// covers creates and deletes alone.)
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walk } from './helpers.ts';
import { type Child, startSourceServer } from './spawn.ts';
import { prng } from './prng.ts';

const ADMIN_KEY = 'crash-mixed-admin-key-0123456789';
const PROJECT = 'mixed';
const BUCKET = 'b';
const CLIENTS = 6;
/** Acknowledged writes after which each cycle's child is killed. */
const KILL_AFTER = [30, 45, 60];
const COLUMNS = [
  { name: 'id', type: 'INTEGER' },
  { name: 'v', type: 'VARCHAR' },
  { name: 'n', type: 'DOUBLE' },
];

/** What a table may hold: the ids of each possible state (usually one). */
type Keys = number[];
interface Tracked {
  /** Possible states; `null` stands for "the table does not exist". */
  possible: (Keys | null)[];
  /** A write on it was cut off by the kill. */
  cutOff: boolean;
}


const sorted = (keys: Iterable<number>) => [...new Set(keys)].sort((a, b) => a - b);
const same = (a: Keys | null, b: Keys | null) => JSON.stringify(a) === JSON.stringify(b);

interface Server {
  child: Child;
  url: string;
}

async function start(dataDir: string): Promise<Server> {
  return startSourceServer(dataDir, ADMIN_KEY, { MAX_CONCURRENT_IMPORTS: '32' });
}

async function call(url: string, method: string, path: string, options: { json?: unknown; csv?: string } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` };
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.csv !== undefined) {
    headers['content-type'] = 'text/csv';
    body = options.csv;
  }
  const response = await fetch(url + path, { method, headers, body });
  const text = await response.text();
  return { status: response.status, body: text && response.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text };
}

describe('kill -9 during a mixed write burst', () => {
  let root: string;
  let dataDir: string;
  let server: Server | undefined;
  const tables = new Map<string, Tracked>();
  const random = prng(20261129);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-crash-mixed-'));
    dataDir = join(root, 'data');
  });

  afterAll(async () => {
    if (server && server.child.process.exitCode === null && server.child.process.signalCode === null) {
      server.child.process.kill('SIGKILL');
      await server.child.exited;
    }
    await rm(root, { recursive: true, force: true });
  });

  const tablePath = (name: string) => `/projects/${PROJECT}/buckets/${BUCKET}/tables/${name}`;
  const bucketDir = () => join(dataDir, 'duckdb', `project_${PROJECT}`, BUCKET);

  /** A CSV of 1–25 rows with ids in 0..39 (repeats included: the last one wins). */
  function file(): { csv: string; ids: number[] } {
    const rows = 1 + Math.floor(random() * 25);
    const ids: number[] = [];
    const lines = ['id,v,n'];
    for (let i = 0; i < rows; i++) {
      const id = Math.floor(random() * 40);
      ids.push(id);
      lines.push(`${id},"v${id}, ""${i}""",${(random() * 100).toFixed(3)}`);
    }
    return { csv: `${lines.join('\n')}\n`, ids };
  }

  /**
   * CLIENTS clients each create tables one after another and write to each a few times
   * (full loads, upserts, row deletes), sometimes deleting it; the child is killed with
   * SIGKILL after `killAfter` acknowledged writes. One more import hangs mid-body, so the
   * kill always leaves a staging file behind.
   */
  async function burst(s: Server, cycle: number, killAfter: number) {
    let acknowledged = 0;
    let killed = false;
    const unexpected: string[] = [];
    const kill = () => {
      if (killed) return;
      killed = true;
      s.child.process.kill('SIGKILL');
    };

    // The hanging import: its staging file exists before the burst starts.
    const hangTable = `hang${cycle}`;
    expect((await call(s.url, 'POST', `/projects/${PROJECT}/buckets/${BUCKET}/tables`, { json: { name: hangTable, columns: COLUMNS, primary_key: ['id'] } })).status).toBe(201);
    tables.set(hangTable, { possible: [[]], cutOff: false });
    const hanging = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`id,v,n\n${'1,x,1\n'.repeat(2000)}`));
      },
    });
    const hangingImport = fetch(`${s.url}${tablePath(hangTable)}/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' },
      body: hanging,
      duplex: 'half',
    } as RequestInit).then(
      () => 'answered',
      () => 'cut off',
    );
    const filesDir = join(dataDir, 'files');
    for (let i = 0; i < 400 && (await readdir(filesDir)).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await readdir(filesDir)).length, 'the hanging import is staging').toBeGreaterThan(0);

    /** Sends one write; undefined when the server died under it. */
    const send = async (method: string, path: string, options: { json?: unknown; csv?: string }) => {
      try {
        return await call(s.url, method, path, options);
      } catch {
        return undefined;
      }
    };

    const client = async (id: number) => {
      for (let k = 0; k < 100 && !killed; k++) {
        const name = `c${cycle}_w${id}_${k}`;
        const tracked: Tracked = { possible: [null, []], cutOff: true };
        tables.set(name, tracked);
        const created = await send('POST', `/projects/${PROJECT}/buckets/${BUCKET}/tables`, { json: { name, columns: COLUMNS, primary_key: ['id'] } });
        if (!created) return;
        if (created.status !== 201) {
          unexpected.push(`create ${name}: ${created.status} ${JSON.stringify(created.body)}`);
          return;
        }
        Object.assign(tracked, { possible: [[]], cutOff: false });
        if (++acknowledged >= killAfter) kill();
        let keys: Keys = [];
        const writes = 2 + Math.floor(random() * 4);
        for (let w = 0; w < writes; w++) {
          const choice = random();
          let next: Keys | null;
          let result;
          if (choice < 0.75) {
            const { csv, ids } = file();
            const incremental = choice < 0.45;
            next = incremental ? sorted([...keys, ...ids]) : sorted(ids);
            tracked.possible = [keys, next];
            tracked.cutOff = true;
            result = await send('POST', `${tablePath(name)}/import?incremental=${incremental}`, { csv });
            if (result && result.status === 200 && result.body.row_count !== next.length) {
              unexpected.push(`import ${name}: row_count ${result.body.row_count}, expected ${next.length}`);
            }
          } else {
            const below = Math.floor(random() * 40);
            next = keys.filter((key) => key >= below);
            tracked.possible = [keys, next];
            tracked.cutOff = true;
            result = await send('POST', `${tablePath(name)}/delete-rows`, { json: { filters: [{ column: 'id', operator: 'lt', values: [below] }] } });
            if (result && result.status === 200 && result.body.row_count !== next.length) {
              unexpected.push(`delete-rows ${name}: row_count ${result.body.row_count}, expected ${next.length}`);
            }
          }
          if (!result) return;
          if (result.status !== 200) {
            unexpected.push(`write ${name}: ${result.status} ${JSON.stringify(result.body)}`);
            return;
          }
          keys = next;
          Object.assign(tracked, { possible: [keys], cutOff: false });
          if (++acknowledged >= killAfter) kill();
        }
        if (random() < 0.35) {
          tracked.possible = [keys, null];
          tracked.cutOff = true;
          const deleted = await send('DELETE', tablePath(name), {});
          if (!deleted) return;
          if (deleted.status !== 204) {
            unexpected.push(`delete ${name}: ${deleted.status}`);
            return;
          }
          Object.assign(tracked, { possible: [null], cutOff: false });
          if (++acknowledged >= killAfter) kill();
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, id) => client(id)));
    kill(); // in case the clients ran out of work first
    await s.child.exited;
    expect(await hangingImport).toBe('cut off');
    const cutOff = [...tables.values()].filter((t) => t.cutOff).length;
    return { acknowledged, unexpected, cutOff, stagedAtKill: (await readdir(filesDir)).length };
  }

  /** The §9 invariants after a restart; settles each cut-off write to what was found. */
  async function checkConsistent(s: Server) {
    expect((await call(s.url, 'GET', '/health')).status).toBe(200);
    const listed = await call(s.url, 'GET', `/projects/${PROJECT}/buckets/${BUCKET}/tables`);
    expect(listed.status).toBe(200);
    const names = new Map<string, number>(listed.body.tables.map((t: { name: string; row_count: number }) => [t.name, t.row_count]));

    // Files and catalog rows agree; nothing half-made lies around; staging is empty.
    const strays: string[] = [];
    for (const entry of await readdir(bucketDir())) {
      const table = /^(.+)\.duckdb(\.wal)?$/.exec(entry)?.[1];
      if (!table || !names.has(table)) strays.push(entry);
    }
    expect(strays).toEqual([]);
    for (const name of names.keys()) expect(existsSync(join(bucketDir(), `${name}.duckdb`)), name).toBe(true);
    expect((await walk(join(dataDir, 'duckdb'))).filter((p) => /\.creating-|\.trash-/.test(p))).toEqual([]);
    expect(await readdir(join(dataDir, 'files'))).toEqual([]);

    // Every table holds one of its possible states, exactly.
    const wrong: string[] = [];
    for (const [name, tracked] of tables) {
      let found: Keys | null = null;
      if (names.has(name)) {
        const preview = await call(s.url, 'GET', `${tablePath(name)}/preview?limit=10000`);
        expect(preview.status, name).toBe(200);
        found = sorted(preview.body.rows.map((row: { id: number }) => row.id));
        // The catalog's count is the file's, and no id appears twice (the key held).
        if (preview.body.total_row_count !== names.get(name) || preview.body.rows.length !== found.length) {
          wrong.push(`${name}: catalog ${names.get(name)}, file ${preview.body.total_row_count}, distinct ${found.length}`);
        }
      }
      if (!tracked.possible.some((state) => same(state, found))) {
        wrong.push(`${name}: found ${JSON.stringify(found)}, possible ${JSON.stringify(tracked.possible)}`);
      }
      Object.assign(tracked, { possible: [found], cutOff: false });
    }
    expect(wrong).toEqual([]);
    // Nothing listed that no client made (a table only ever appears by a create).
    for (const name of names.keys()) expect(tables.has(name), name).toBe(true);
  }

  it('every acknowledged write survives three kill/restart cycles', { timeout: 300_000 }, async () => {
    server = await start(dataDir);
    expect((await call(server.url, 'POST', '/projects', { json: { id: PROJECT } })).status).toBe(201);
    expect((await call(server.url, 'POST', `/projects/${PROJECT}/buckets`, { json: { name: BUCKET } })).status).toBe(201);

    let cutOff = 0;
    let acknowledged = 0;
    for (let cycle = 0; cycle < KILL_AFTER.length; cycle++) {
      const outcome = await burst(server, cycle, KILL_AFTER[cycle]!);
      expect(outcome.unexpected, server.child.output()).toEqual([]);
      expect(server.child.process.signalCode).toBe('SIGKILL');
      expect(outcome.stagedAtKill, 'a staging file was left by the kill').toBeGreaterThan(0);
      cutOff += outcome.cutOff;
      acknowledged += outcome.acknowledged;

      server = await start(dataDir);
      await checkConsistent(server);
    }
    // The kills did land mid-write.
    expect(cutOff).toBeGreaterThan(0);
    expect(acknowledged).toBeGreaterThanOrEqual(KILL_AFTER.reduce((a, b) => a + b, 0));
    const states = [...tables.values()].map((t) => t.possible[0]);
    expect(states.filter((s) => s && s.length > 0).length, 'tables with rows').toBeGreaterThan(0);
    expect(states.filter((s) => s === null).length, 'deleted tables').toBeGreaterThan(0);

    // The recovered service works normally.
    const created = await call(server.url, 'POST', `/projects/${PROJECT}/buckets/${BUCKET}/tables`, { json: { name: 'after', columns: COLUMNS, primary_key: ['id'] } });
    expect(created.status).toBe(201);
    const imported = await call(server.url, 'POST', `${tablePath('after')}/import`, { csv: 'id,v,n\n1,a,1\n2,b,2\n1,c,3\n' });
    expect(imported.status).toBe(200);
    expect(imported.body.row_count).toBe(2);

    server.child.process.kill('SIGTERM');
    await server.child.exited;
    expect(server.child.process.exitCode).toBe(0);
  });
});
