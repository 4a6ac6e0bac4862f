import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walk } from './helpers.ts';
import { freePort } from './spawn.ts';

// The real server in a child process, killed with SIGKILL in the middle of a burst of
// table creates and deletes, then started again on the same data folder: §9 says the
// service comes back with the catalog and the files in agreement and nothing that was
// acknowledged lost.

const REPO = resolve(import.meta.dirname, '..');
const ADMIN_KEY = 'crash-test-admin-key-0123456789';
const PROJECT = 'crash';
const BUCKET = 'in_c_burst';
const CLIENTS = 8;
const CREATES_PER_CLIENT = 14;
/** Acknowledged creates after which each cycle's child is killed (well before the burst ends). */
const KILL_AFTER = [17, 29, 41];

type TableState = 'creating' | 'created' | 'deleting' | 'deleted';

interface Child {
  process: ChildProcess;
  url: string;
  output: string[];
  exited: Promise<void>;
}

async function startChild(dataDir: string): Promise<Child> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      DUCKDB_THREADS: '2',
      DUCKDB_MEMORY_LIMIT: '1GB',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(String(chunk));
    if (output.length > 50) output.shift();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = `http://127.0.0.1:${port}`;
  // Bounded wait for the service to answer; a child that dies on start fails at once.
  let gone = false;
  void exited.then(() => (gone = true));
  for (let attempt = 0; attempt < 600; attempt++) {
    if (gone) throw new Error(`server exited on start:\n${output.join('')}`);
    try {
      const response = await fetch(`${url}/health`);
      await response.body?.cancel();
      if (response.status === 200) return { process: child, url, output, exited };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`server did not become healthy:\n${output.join('')}`);
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

function columnsFor(name: string) {
  return [
    { name: 'id', type: 'BIGINT' },
    { name: 'label', type: 'VARCHAR', default: name },
    { name: 'amount', type: 'DECIMAL(12,2)' },
    { name: 'seen_at', type: 'TIMESTAMP' },
  ];
}

describe('kill -9 during a burst of table creates and deletes', () => {
  let root: string;
  let dataDir: string;
  let child: Child | undefined;
  const tables = new Map<string, TableState>();

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-crash-'));
    dataDir = join(root, 'data');
  });

  afterAll(async () => {
    if (child && child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGKILL');
      await child.exited;
    }
    await rm(root, { recursive: true, force: true });
  });

  const bucketDir = () => join(dataDir, 'duckdb', `project_${PROJECT}`, BUCKET);
  const tablePath = (name: string) => join(bucketDir(), `${name}.duckdb`);
  const tableUrl = (name: string) => `/projects/${PROJECT}/buckets/${BUCKET}/tables/${name}`;

  /**
   * Runs CLIENTS concurrent clients, each creating its own tables and deleting every other
   * one it made, and kills the child with SIGKILL once `killAfter` creates were acknowledged.
   */
  async function burst(server: Child, cycle: number, killAfter: number) {
    let acknowledged = 0;
    let inFlight = 0;
    let inFlightAtKill = -1;
    const unexpected: string[] = [];
    const kill = () => {
      if (inFlightAtKill >= 0) return;
      inFlightAtKill = inFlight;
      server.process.kill('SIGKILL');
    };
    const send = async (method: string, path: string, body?: unknown): Promise<number | undefined> => {
      inFlight++;
      try {
        const response = await fetch(server.url + path, {
          method,
          headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        // The status line is the acknowledgement: the server answers only after its work is done.
        await response.text().catch(() => {});
        return response.status;
      } catch {
        return undefined; // the server is gone
      } finally {
        inFlight--;
      }
    };
    const client = async (id: number) => {
      for (let i = 0; i < CREATES_PER_CLIENT; i++) {
        const name = `c${cycle}_w${id}_${i}`;
        tables.set(name, 'creating');
        const created = await send('POST', `/projects/${PROJECT}/buckets/${BUCKET}/tables`, {
          name,
          columns: columnsFor(name),
          primary_key: ['id'],
        });
        if (created === undefined) return;
        if (created !== 201) {
          unexpected.push(`create ${name}: ${created}`);
          return;
        }
        tables.set(name, 'created');
        if (++acknowledged === killAfter) kill();
        if (i % 2 === 1) {
          const victim = `c${cycle}_w${id}_${i - 1}`;
          tables.set(victim, 'deleting');
          const deleted = await send('DELETE', tableUrl(victim));
          if (deleted === undefined) return;
          if (deleted !== 204) {
            unexpected.push(`delete ${victim}: ${deleted}`);
            return;
          }
          tables.set(victim, 'deleted');
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, id) => client(id)));
    await server.exited;
    return { acknowledged, inFlightAtKill, unexpected };
  }

  /** The §9 invariants after a restart; settles the fate of requests cut off by the kill. */
  async function checkConsistent(server: Child) {
    const health = await call(server.url, 'GET', '/health');
    expect(health.status).toBe(200);

    const listed = await call(server.url, 'GET', `/projects/${PROJECT}/buckets/${BUCKET}/tables`);
    expect(listed.status).toBe(200);
    const names = new Set<string>(listed.body.tables.map((t: { name: string }) => t.name));
    expect(listed.body.total).toBe(names.size);

    // No catalog row without a file.
    const withoutFile = [...names].filter((name) => !existsSync(tablePath(name)));
    expect(withoutFile).toEqual([]);

    // No file without a catalog row, and nothing else lying in the bucket folder.
    const strays: string[] = [];
    for (const entry of await readdir(bucketDir())) {
      const table = /^(.+)\.duckdb(\.wal)?$/.exec(entry)?.[1];
      if (!table || !names.has(table)) strays.push(entry);
    }
    expect(strays).toEqual([]);

    // No leftovers of interrupted creates or deletes anywhere.
    const leftovers = (await walk(join(dataDir, 'duckdb'))).filter((path) => /\.creating-|\.trash-/.test(path));
    expect(leftovers).toEqual([]);

    // Acknowledged work survived; cut-off work is all there or not at all.
    const lost: string[] = [];
    const revived: string[] = [];
    for (const [name, state] of tables) {
      const present = names.has(name);
      if (state === 'created' && !present) lost.push(name);
      if (state === 'deleted' && present) revived.push(name);
      if (state === 'created' || state === 'deleted') {
        const got = await call(server.url, 'GET', tableUrl(name));
        expect(got.status, name).toBe(present ? 200 : 404);
        if (present) expect(got.body.columns.map((c: { name: string }) => c.name)).toEqual(['id', 'label', 'amount', 'seen_at']);
      }
      tables.set(name, present ? 'created' : 'deleted');
    }
    expect(lost).toEqual([]);
    expect(revived).toEqual([]);
  }

  it('comes back consistent after three kill/restart cycles', { timeout: 240_000 }, async () => {
    child = await startChild(dataDir);
    expect((await call(child.url, 'POST', '/projects', { id: PROJECT })).status).toBe(201);
    expect((await call(child.url, 'POST', `/projects/${PROJECT}/buckets`, { name: BUCKET })).status).toBe(201);

    let cutOff = 0;
    for (let cycle = 0; cycle < KILL_AFTER.length; cycle++) {
      const outcome = await burst(child, cycle, KILL_AFTER[cycle]!);
      expect(outcome.unexpected, child.output.join('')).toEqual([]);
      expect(outcome.inFlightAtKill, 'the child was killed').toBeGreaterThanOrEqual(0);
      expect(child.process.signalCode).toBe('SIGKILL');
      // Killed mid-burst: acknowledged work stopped well short of the whole burst.
      expect(outcome.acknowledged).toBeLessThan(CLIENTS * CREATES_PER_CLIENT);
      cutOff += outcome.inFlightAtKill;

      child = await startChild(dataDir);
      await checkConsistent(child);
    }
    // Across the cycles, some requests were on the wire when the process died.
    expect(cutOff).toBeGreaterThan(0);
    const states = [...tables.values()];
    expect(states.filter((s) => s === 'created').length).toBeGreaterThan(0);
    expect(states.filter((s) => s === 'deleted').length).toBeGreaterThan(0);

    // The service still works normally on the recovered data.
    const created = await call(child.url, 'POST', `/projects/${PROJECT}/buckets/${BUCKET}/tables`, { name: 'after', columns: columnsFor('after') });
    expect(created.status).toBe(201);
    expect((await call(child.url, 'DELETE', tableUrl('after'))).status).toBe(204);

    child.process.kill('SIGTERM');
    await child.exited;
    expect(child.process.exitCode).toBe(0);
    expect(existsSync(join(dataDir, '.running'))).toBe(false);
  });
});
