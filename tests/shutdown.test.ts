// SIGTERM right after a write: the table is still being detached (with a checkpoint of the
// keyed table) when shutdown closes DuckDB. The process must still finish and exit 0.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { childEnv, freePort, run, type Child } from './spawn.ts';

const ADMIN = 'shutdown-test-admin-key-0123456789';
let root: string;
let child: Child | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dsa-shutdown-'));
});
afterAll(async () => {
  child?.process.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

it('exits 0 on SIGTERM sent straight after a large upsert', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  child = run(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: process.cwd(),
    env: childEnv({ DATA_DIR: join(root, 'data'), PORT: String(port), HOST: '127.0.0.1', ADMIN_API_KEY: ADMIN, LOG_LEVEL: 'warn' }),
  });
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const call = (method: string, path: string, body?: BodyInit, type = 'application/json') =>
    fetch(base + path, { method, body, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': type } });
  expect((await call('POST', '/projects', JSON.stringify({ id: 'p' }))).status).toBe(201);
  expect((await call('POST', '/projects/p/buckets', JSON.stringify({ name: 'b' }))).status).toBe(201);
  const columns = [{ name: 'id', type: 'BIGINT' }, { name: 'label', type: 'VARCHAR' }];
  expect((await call('POST', '/projects/p/buckets/b/tables', JSON.stringify({ name: 't', columns, primary_key: ['id'] }))).status).toBe(201);
  const rows = Array.from({ length: 150_000 }, (_, i) => `${i},label number ${i}`).join('\n');
  expect((await call('POST', '/projects/p/buckets/b/tables/t/import', `id,label\n${rows}\n`, 'text/csv')).status).toBe(200);
  const upsert = await call('POST', '/projects/p/buckets/b/tables/t/import?incremental=true', `id,label\n${rows}\n`, 'text/csv');
  expect(upsert.status).toBe(200);
  child.process.kill('SIGTERM');
  const code = await Promise.race([child.exited, new Promise((resolve) => setTimeout(() => resolve('still running after 30 s'), 30_000))]);
  expect(code).toBe(0);
});
