import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walk } from './helpers.ts';
import { prng } from './prng.ts';
import { type Child, startSourceServer } from './spawn.ts';

// CONTRACT §13 crash safety: the real server in a child process, killed with SIGKILL while
// clients take snapshots, restore them over the table and elsewhere, import and truncate;
// then started again on the same data folder. Every acknowledged snapshot must be there and
// restorable, no half-written snapshot may show up or leave a file, and the table must be in
// one whole state (catalog and file agreeing).

const ADMIN_KEY = 'snapshot-crash-admin-key-0123456789';
const PROJECT = 'snapcrash';
const TABLE = `/projects/${PROJECT}/buckets/b/tables/t`;
const CLIENTS = 4;
const KILL_AFTER = [9, 17, 23];
const SEED = Number(process.env.SNAPCRASH_SEED ?? 1313);

interface Server {
  child: Child;
  url: string;
}

async function start(dataDir: string): Promise<Server> {
  return startSourceServer(dataDir, ADMIN_KEY, { LOG_LEVEL: process.env.SNAPCRASH_LOG ?? 'warn' });
}

async function call(url: string, method: string, path: string, body?: unknown, raw?: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (raw !== undefined) headers['content-type'] = 'text/csv';
  const response = await fetch(url + path, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

function rows(from: number, count: number): string {
  const lines = ['id,label,amount'];
  for (let i = from; i < from + count; i++) lines.push(`${i},row ${i},${i % 100}.50`);
  return `${lines.join('\n')}\n`;
}

describe('kill -9 during snapshots and restores', () => {
  let root: string;
  let dataDir: string;
  let server: Server | undefined;
  /** Acknowledged snapshots and the row count each was taken with. */
  const snapshots = new Map<string, number>();
  /** Tables created by acknowledged restores, and their row count. */
  const restoredTables = new Map<string, number>();

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-snapcrash-'));
    dataDir = join(root, 'data');
  });

  afterAll(async () => {
    if (server && server.child.process.exitCode === null && server.child.process.signalCode === null) {
      server.child.process.kill('SIGKILL');
      await server.child.exited;
    }
    await rm(root, { recursive: true, force: true });
  });

  async function burst(s: Server, cycle: number, killAfter: number) {
    const random = prng(SEED + cycle);
    let acknowledged = 0;
    let killed = false;
    const inFlight = new Map<string, number>();
    const inFlightAtKill: string[] = [];
    const unexpected: string[] = [];
    let nextId = 1_000_000 * (cycle + 1);
    const send = async (kind: string, method: string, path: string, body?: unknown, raw?: string) => {
      inFlight.set(kind, (inFlight.get(kind) ?? 0) + 1);
      try {
        return await call(s.url, method, path, body, raw);
      } catch {
        return undefined; // the server is gone
      } finally {
        inFlight.set(kind, inFlight.get(kind)! - 1);
      }
    };
    const acknowledge = () => {
      if (++acknowledged < killAfter || killed) return;
      killed = true;
      for (const [kind, n] of inFlight) if (n > 0) inFlightAtKill.push(kind);
      s.child.process.kill('SIGKILL');
    };
    const client = async (id: number) => {
      for (let i = 0; !killed && i < 100; i++) {
        const pick = random();
        const known = [...snapshots.keys()];
        const some = known[Math.floor(random() * known.length)]!;
        if (pick < 0.35) {
          const r = await send('snapshot', 'POST', `${TABLE}/snapshots`, { description: `c${cycle}` });
          if (!r) return;
          if (r.status !== 201) unexpected.push(`snapshot: ${r.status} ${JSON.stringify(r.body)}`);
          else snapshots.set(r.body.id, r.body.row_count);
        } else if (pick < 0.65) {
          const r = await send('restore', 'POST', `/projects/${PROJECT}/snapshots/${some}/restore`, { overwrite: true });
          if (!r) return;
          if (r.status !== 200 || !r.body.auto_snapshot_id) unexpected.push(`restore: ${r.status} ${JSON.stringify(r.body)}`);
          else snapshots.set(r.body.auto_snapshot_id, -1);
        } else if (pick < 0.75) {
          const name = `r${cycle}_${id}_${i}`;
          const r = await send('restore', 'POST', `/projects/${PROJECT}/snapshots/${some}/restore`, { table: name });
          if (!r) return;
          if (r.status !== 200) unexpected.push(`restore elsewhere: ${r.status} ${JSON.stringify(r.body)}`);
          else restoredTables.set(name, r.body.table.row_count);
        } else if (pick < 0.9) {
          const r = await send('import', 'POST', `${TABLE}/import?incremental=true`, undefined, rows((nextId += 10), 10));
          if (!r) return;
          if (r.status !== 200) unexpected.push(`import: ${r.status} ${JSON.stringify(r.body)}`);
        } else {
          const r = await send('truncate', 'POST', `${TABLE}/truncate`);
          if (!r) return;
          if (r.status !== 200) unexpected.push(`truncate: ${r.status} ${JSON.stringify(r.body)}`);
        }
        acknowledge();
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, id) => client(id)));
    await s.child.exited;
    return { acknowledged, inFlightAtKill, unexpected };
  }

  async function checkConsistent(s: Server) {
    const listed = await call(s.url, 'GET', `/projects/${PROJECT}/snapshots?limit=1000`);
    expect(listed.status).toBe(200);
    const byId = new Map<string, any>(listed.body.snapshots.map((snap: any) => [snap.id, snap]));
    // Every acknowledged snapshot survived, as it was acknowledged.
    for (const [id, rowCount] of snapshots) {
      expect(byId.has(id), `snapshot ${id} acknowledged but gone`).toBe(true);
      if (rowCount >= 0) expect(byId.get(id).row_count).toBe(rowCount);
    }
    // Snapshots of `t` that were cut off but made it whole join the pool the next burst restores from.
    for (const [id, snap] of byId) if (!snapshots.has(id) && snap.table === 't') snapshots.set(id, snap.row_count);
    // The folder holds exactly the listed snapshots' files: nothing half-written, no WAL.
    const files = (await readdir(join(dataDir, 'snapshots', `project_${PROJECT}`))).sort();
    expect(files).toEqual([...byId.keys()].map((id) => `${id}.duckdb`).sort());
    const leftovers = (await walk(dataDir)).filter((path) => /\.creating-|\.restore-|\.trash-/.test(path));
    expect(leftovers).toEqual([]);

    // The table is whole: its catalog row agrees with its file, its columns and key intact.
    const table = await call(s.url, 'GET', TABLE);
    expect(table.status).toBe(200);
    expect(table.body.columns.map((c: any) => [c.name, c.type, c.nullable])).toEqual([
      ['id', 'INTEGER', false],
      ['label', 'VARCHAR', true],
      ['amount', 'DECIMAL(10,2)', true],
    ]);
    expect(table.body.primary_key).toEqual(['id']);
    const preview = await call(s.url, 'GET', `${TABLE}/preview?limit=1`);
    expect(preview.body.total_row_count).toBe(table.body.row_count);

    for (const [name, rowCount] of restoredTables) {
      const got = await call(s.url, 'GET', `/projects/${PROJECT}/buckets/b/tables/${name}`);
      expect(got.status, name).toBe(200);
      expect(got.body.row_count).toBe(rowCount);
    }
    // Listed snapshots restore to what they say they hold.
    const sample = [...byId.values()].slice(0, 3);
    for (const snap of sample) {
      const name = `check_${snap.id}`;
      const restored = await call(s.url, 'POST', `/projects/${PROJECT}/snapshots/${snap.id}/restore`, { table: name });
      expect(restored.status, JSON.stringify(restored.body)).toBe(200);
      const check = await call(s.url, 'GET', `/projects/${PROJECT}/buckets/b/tables/${name}/preview?limit=1`);
      expect(check.body.total_row_count).toBe(snap.row_count);
      expect((await call(s.url, 'DELETE', `/projects/${PROJECT}/buckets/b/tables/${name}`)).status).toBe(204);
    }
  }

  it('keeps every acknowledged snapshot and leaves whole tables across three kill/restart cycles', { timeout: 240_000 }, async () => {
    server = await start(dataDir);
    expect((await call(server.url, 'POST', '/projects', { id: PROJECT })).status).toBe(201);
    expect((await call(server.url, 'POST', `/projects/${PROJECT}/buckets`, { name: 'b' })).status).toBe(201);
    const created = await call(server.url, 'POST', `/projects/${PROJECT}/buckets/b/tables`, {
      name: 't',
      columns: [
        { name: 'id', type: 'INTEGER', nullable: false },
        { name: 'label', type: 'VARCHAR' },
        { name: 'amount', type: 'DECIMAL(10,2)' },
      ],
      primary_key: ['id'],
    });
    expect(created.status).toBe(201);
    expect((await call(server.url, 'POST', `${TABLE}/import`, undefined, rows(0, 50_000))).status).toBe(200);
    const first = await call(server.url, 'POST', `${TABLE}/snapshots`, {});
    expect(first.status).toBe(201);
    snapshots.set(first.body.id, 50_000);

    const cutOff: string[] = [];
    for (let cycle = 0; cycle < KILL_AFTER.length; cycle++) {
      const outcome = await burst(server, cycle, KILL_AFTER[cycle]!);
      expect(outcome.unexpected, server.child.output()).toEqual([]);
      expect(server.child.process.signalCode).toBe('SIGKILL');
      cutOff.push(...outcome.inFlightAtKill);
      server = await start(dataDir);
      await checkConsistent(server);
    }
    // Snapshots and restores were on the wire when the process died.
    expect(cutOff.some((kind) => kind === 'snapshot' || kind === 'restore'), cutOff.join(',')).toBe(true);

    server.child.process.kill('SIGTERM');
    await server.child.exited;
    expect(existsSync(join(dataDir, '.running'))).toBe(false);
  });
});
