// kill -9 of the real server with import jobs waiting and one processing (§16): after the
// restart every acknowledged job ends, and each file's rows are in the table exactly once —
// into a table without a primary key, where applying a file twice would show. Stored
// files survive the restarts too (§15).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walk } from './helpers.ts';
import { type Child, startSourceServer } from './spawn.ts';

const ADMIN_KEY = 'jobs-crash-admin-key-0123456789';
const P = '/projects/jc';
const T = `${P}/buckets/b/tables`;

interface Server {
  child: Child;
  url: string;
}

async function start(dataDir: string): Promise<Server> {
  return startSourceServer(dataDir, ADMIN_KEY, { MAX_CONCURRENT_JOBS: '1' });
}

async function call(server: Server, method: string, path: string, options: { json?: unknown; raw?: string; type?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` };
  let body: string | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  } else if (options.raw !== undefined) {
    body = options.raw;
    headers['content-type'] = options.type ?? 'text/csv';
  }
  const response = await fetch(server.url + path, { method, headers, body });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function kill(server: Server): Promise<void> {
  server.child.process.kill('SIGKILL');
  await server.child.exited;
}

/** A CSV whose every row names its job, so the table shows how often each file was applied. */
const csvFor = (tag: string, rows: number) => `v,n\n${Array.from({ length: rows }, (_, i) => `${tag},${i}`).join('\n')}\n`;

describe('kill -9 with import jobs waiting and one processing', () => {
  let root: string;
  let dataDir: string;
  let server: Server | undefined;
  /** Job id → (tag, rows of its file). */
  const jobs = new Map<string, { tag: string; rows: number }>();
  const files: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-jobs-crash-'));
    dataDir = join(root, 'data');
  });

  afterAll(async () => {
    if (server && server.child.process.exitCode === null && server.child.process.signalCode === null) await kill(server);
    await rm(root, { recursive: true, force: true });
  });

  async function submit(s: Server, tag: string, rows: number) {
    const up = await call(s, 'POST', `${P}/files?name=${tag}.csv`, { raw: csvFor(tag, rows) });
    expect(up.status).toBe(201);
    files.push(up.body.id);
    const job = await call(s, 'POST', `${T}/log/import-async`, { json: { file_id: up.body.id, incremental: true } });
    expect(job.status).toBe(202);
    jobs.set(job.body.id, { tag, rows });
    return job.body.id as string;
  }

  it('every acknowledged job ends exactly once, across two kills', { timeout: 180_000 }, async () => {
    server = await start(dataDir);
    expect((await call(server, 'POST', '/projects', { json: { id: 'jc' } })).status).toBe(201);
    expect((await call(server, 'POST', `${P}/buckets`, { json: { name: 'b' } })).status).toBe(201);
    expect((await call(server, 'POST', `${T}`, { json: { name: 'log', columns: [{ name: 'v', type: 'VARCHAR' }, { name: 'n', type: 'INTEGER' }] } })).status).toBe(201);

    // Cycle 1: a large job is loading (one slot), four more wait behind it.
    const big = await submit(server, 'big', 1_500_000);
    for (let i = 0; i < 4; i++) await submit(server, `small${i}`, 1000 + i);
    let atKill = 'waiting';
    for (let i = 0; i < 2000 && atKill === 'waiting'; i++) {
      atKill = (await call(server, 'GET', `${P}/jobs/${big}`)).body.status;
      if (atKill === 'waiting') await new Promise((r) => setTimeout(r, 5));
    }
    await kill(server);
    expect(atKill).toBe('processing');

    // Cycle 2: the restarted service resumes the queue; more jobs join; killed again at once.
    server = await start(dataDir);
    await server.child.waitFor((out) => out.includes('jobs that were processing at the last stop run again'));
    for (let i = 0; i < 3; i++) await submit(server, `late${i}`, 500 + i);
    await kill(server);

    server = await start(dataDir);
    for (const id of jobs.keys()) {
      let job;
      for (;;) {
        job = (await call(server, 'GET', `${P}/jobs/${id}?wait=30`)).body;
        if (['success', 'error', 'cancelled'].includes(job.status)) break;
      }
      expect(job.status, `${id}: ${JSON.stringify(job.error)}`).toBe('success');
    }
    // Count rows per tag through a filtered preview: exactly the file's rows, once.
    for (const { tag, rows } of jobs.values()) {
      const { body } = await call(server, 'POST', `${T}/log/preview`, { json: { limit: 1, filters: [{ column: 'v', operator: 'eq', values: [tag] }] } });
      expect(body.total_row_count, tag).toBe(rows);
    }
    const table = (await call(server, 'GET', `${T}/log`)).body;
    expect(table.row_count).toBe([...jobs.values()].reduce((sum, j) => sum + j.rows, 0));
    // The uploaded files survived both kills; no staging is left.
    const listed = (await call(server, 'GET', `${P}/files?limit=1000`)).body;
    expect(listed.files.map((f: any) => f.id).sort()).toEqual([...files].sort());
    const onDisk = await walk(join(dataDir, 'files'));
    expect(onDisk.filter((entry) => !entry.startsWith('project_jc'))).toEqual([]);
    await kill(server);
  });
});
