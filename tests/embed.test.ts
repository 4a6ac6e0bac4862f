import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createServerAdapter } from '@whatwg-node/server';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, openServices, type Services } from '../src/index.ts';
import { ADMIN_KEY, captureLogger, testConfig } from './helpers.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe('a host fetch server with the API mounted under /storage', () => {
  let root: string;
  let services: Services;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-embed-'));
    services = await openServices(testConfig(join(root, 'data')), captureLogger().logger);
    const storage = createApp(services, { basePath: '/storage' });
    // The host's own routing: its routes, the API below /storage, its own 404.
    const host = createServerAdapter(async (request: Request) => {
      const { pathname } = new URL(request.url);
      if (pathname === '/storage' || pathname.startsWith('/storage/')) return storage.fetch(request);
      if (pathname === '/hello') return Response.json({ hello: 'from the host' });
      return new Response('not a host route', { status: 404, headers: { 'content-type': 'text/plain' } });
    });
    server = createServer(host);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((done) => server?.close(done));
    await services?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('serves the host route and the API over one socket', async () => {
    const hello = await fetch(`${base}/hello`);
    expect(hello.status).toBe(200);
    expect(await hello.json()).toEqual({ hello: 'from the host' });

    const health = await fetch(`${base}/storage/health`);
    expect(health.status).toBe(200);
    expect((await health.json()).status).toBe('healthy');
    expect(health.headers.get('x-request-id')).toBeTruthy();

    const created = await fetch(`${base}/storage/projects`, {
      method: 'POST',
      headers: { ...auth(ADMIN_KEY), 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'emb' }),
    });
    expect(created.status).toBe(201);
    const { api_key: key } = await created.json();
    const project = await fetch(`${base}/storage/projects/emb`, { headers: auth(key) });
    expect(project.status).toBe(200);
    expect((await project.json()).id).toBe('emb');
  });

  it('answers only below its mount point', async () => {
    const outside = await fetch(`${base}/health`);
    expect(outside.status).toBe(404);
    expect(await outside.text()).toBe('not a host route');

    const unknown = await fetch(`${base}/storage/nope`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).detail.error).toBe('not_found');
  });

  it('documents and serves its docs under the mount point', async () => {
    const doc = await (await fetch(`${base}/storage/openapi.json`)).json();
    expect(doc.servers).toEqual([{ url: '/storage' }]);
    expect(doc.paths['/projects/{id}']).toBeDefined();

    // With a trailing slash the page's relative URLs would miss: it redirects to …/docs.
    const slash = await fetch(`${base}/storage/docs/`, { redirect: 'manual' });
    expect(slash.status).toBe(308);
    expect(new URL(slash.headers.get('location')!, `${base}/storage/docs/`).pathname).toBe('/storage/docs');

    const pageUrl = `${base}/storage/docs`;
    const page = await fetch(pageUrl);
    expect(page.status).toBe(200);
    const html = await page.text();
    // The page's own references resolve below /storage.
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => new URL(m[1]!, pageUrl));
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const url of refs) {
      expect(url.pathname.startsWith('/storage/docs/assets/'), url.pathname).toBe(true);
      expect((await fetch(url)).status, url.pathname).toBe(200);
    }
  });

  it('labels metrics by route pattern, without the mount point', async () => {
    const text = await (await fetch(`${base}/storage/metrics`, { headers: auth(ADMIN_KEY) })).text();
    expect(text).toMatch(/duckdb_storage_http_requests_total\{method="GET",route="\/health",status="200"\} 1/);
  });
});

describe('the package entry point on plain Node', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-embed-pkg-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('"exports" resolves the package by name to a build that embeds the app', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['.'].types).toBe('./src/index.ts');
    const target = join(ROOT, pkg.exports['.'].default);
    // As `npm run build:lib` does; written aside and renamed, so a concurrent run never reads half a file.
    const built = await build({
      entryPoints: [join(ROOT, 'src/index.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      write: false,
      outfile: target,
      logLevel: 'silent',
    });
    await mkdir(dirname(target), { recursive: true });
    const temporary = `${target}.${process.pid}.tmp`;
    await writeFile(temporary, built.outputFiles[0]!.contents);
    await rename(temporary, target);

    const script = `
      import { createApp, createLogger, openServices, parseConfig } from '${pkg.name}';
      const services = await openServices(parseConfig({ DATA_DIR: process.env.DATA, ADMIN_API_KEY: '${ADMIN_KEY}', DUCKDB_THREADS: '1' }), createLogger('silent'));
      const app = createApp(services, { basePath: '/storage' });
      const health = await app.fetch(new Request('http://host/storage/health'));
      const docs = await app.fetch(new Request('http://host/storage/docs/assets/swagger-ui.css'));
      await services.close();
      console.log(JSON.stringify({ health: health.status, docs: docs.status }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, DATA: join(root, 'data'), NODE_OPTIONS: '' },
      timeout: 60_000,
    });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ health: 200, docs: 200 });
  });
});
