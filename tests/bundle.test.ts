// The container's artefact: build dist/main.mjs with esbuild, then run it with plain node
// exactly as the Dockerfile's CMD does, on a fresh data folder and no ADMIN_API_KEY.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, freePort, logRecords, run, type Child } from './spawn.ts';

const REPO = resolve(import.meta.dirname, '..');
const BUNDLE = join(REPO, 'dist', 'main.mjs');

describe('the bundle (dist/main.mjs) as the container runs it', () => {
  let root: string;
  let dataDir: string;
  const children: Child[] = [];

  function startBundle(port: number): Child {
    // Dockerfile: CMD ["node", "--enable-source-maps", "dist/main.mjs"]. The working folder
    // is a temporary one so that a developer's .env cannot leak in.
    const child = run(process.execPath, ['--enable-source-maps', BUNDLE], {
      cwd: root,
      env: childEnv({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' }),
    });
    children.push(child);
    return child;
  }

  beforeAll(async () => {
    await promisify(execFile)(process.execPath, ['esbuild.config.mjs'], { cwd: REPO });
    root = await mkdtemp(join(tmpdir(), 'dsa-bundle-'));
    dataDir = join(root, 'data');
  });
  afterAll(async () => {
    for (const child of children) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await rm(root, { recursive: true, force: true });
  });

  it('builds a self-contained ESM bundle', async () => {
    const text = await readFile(BUNDLE, 'utf8');
    expect(text.length).toBeGreaterThan(1000);
    // Only DuckDB's native package stays external; our own sources are inlined.
    expect(text).not.toMatch(/from ["']\.\.?\/(src|handlers)\//);
  });

  it('starts, generates the admin key file (0600), serves it, logs no key, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const child = startBundle(port);
    await child.waitFor((out) => logRecords(out).some((r) => r.event === 'startup' && typeof r.url === 'string'));

    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect((await health.json()).status).toBe('healthy');

    // The data explorer is embedded in the bundle: nothing next to it is read.
    const ui = await fetch(`http://127.0.0.1:${port}/ui`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-security-policy')).toContain("default-src 'self'");
    for (const file of ['app.js', 'app.css']) {
      const asset = await fetch(`http://127.0.0.1:${port}/ui/assets/${file}`);
      expect(asset.status, file).toBe(200);
      expect((await asset.text()).length, file).toBeGreaterThan(1000);
    }

    const keyFile = join(dataDir, 'admin.key');
    const info = await stat(keyFile);
    expect(info.isFile()).toBe(true);
    expect(info.mode & 0o777).toBe(0o600);
    const adminKey = (await readFile(keyFile, 'utf8')).trim();
    expect(adminKey.length).toBeGreaterThanOrEqual(32);

    const projects = await fetch(`http://127.0.0.1:${port}/projects`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(projects.status).toBe(200);
    expect(await projects.json()).toEqual({ projects: [], total: 0 });
    const wrong = await fetch(`http://127.0.0.1:${port}/projects`, { headers: { authorization: `Bearer ${adminKey}x` } });
    expect(wrong.status).toBe(401);

    const created = await fetch(`http://127.0.0.1:${port}/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'bundled' }),
    });
    expect(created.status).toBe(201);
    const projectKey = (await created.json()).api_key as string;

    child.process.kill('SIGTERM');
    expect(await child.exited).toBe(0);

    const output = child.output();
    expect(output).not.toContain(adminKey);
    expect(output).not.toContain(projectKey);
    const records = logRecords(output);
    // The log names the file instead.
    expect(records.some((r) => typeof r.file === 'string' && (r.file as string).endsWith('admin.key'))).toBe(true);
    expect(records.some((r) => r.msg === 'stopped')).toBe(true);
    // Every request line names its request id.
    const requests = records.filter((r) => r.msg === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(4);
    for (const r of requests) expect(typeof r.request_id).toBe('string');
  });

  it('reuses the stored key on the next start', async () => {
    const adminKey = (await readFile(join(dataDir, 'admin.key'), 'utf8')).trim();
    const port = await freePort();
    const child = startBundle(port);
    await child.waitFor((out) => logRecords(out).some((r) => r.event === 'startup' && typeof r.url === 'string'));
    const got = await fetch(`http://127.0.0.1:${port}/projects/bundled`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(got.status).toBe(200);
    expect((await readFile(join(dataDir, 'admin.key'), 'utf8')).trim()).toBe(adminKey);
    child.process.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    expect(child.output()).not.toContain(adminKey);
  });
});
