// The real server over a real socket: request ids, graceful stop, and mounting the app
// under a prefix inside another fetch server.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServerAdapter } from '@whatwg-node/server';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { startServer, type RunningServer } from '../src/server.ts';
import { openServices, type Services } from '../src/services.ts';
import { ADMIN_KEY, captureLogger, testConfig } from './helpers.ts';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

/** Sends raw bytes on a fresh connection and returns the raw response text. */
function rawExchange(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

/** Resolves with the error code of a connection attempt (or 'connected'). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('error', reject);
  });
}

describe('over a real socket', () => {
  let root: string;
  let running: RunningServer;
  let logLines: string[];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-server-'));
    const captured = captureLogger();
    logLines = captured.lines;
    running = await startServer(testConfig(join(root, 'data'), { PORT: '0', HOST: '127.0.0.1' }), captured.logger);
  });
  afterAll(async () => {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('listens on the port the system chose and logs the startup', async () => {
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(running.url).port)).toBeGreaterThan(0);
    const response = await fetch(`${running.url}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect((await response.json()).status).toBe('healthy');
    expect(logLines.some((l) => JSON.parse(l).event === 'startup')).toBe(true);
  });

  it('logs the address it listens on: 0.0.0.0 when listening on every interface', async () => {
    const root2 = await mkdtemp(join(tmpdir(), 'dsa-server-any-'));
    const captured = captureLogger();
    const any = await startServer(testConfig(join(root2, 'data'), { PORT: '0', HOST: '0.0.0.0' }), captured.logger);
    try {
      const port = new URL(any.url).port;
      const startup = captured.lines.map((l) => JSON.parse(l)).find((l) => l.event === 'startup' && l.address);
      expect(startup).toMatchObject({ address: `0.0.0.0:${port}`, url: `http://0.0.0.0:${port}`, msg: `listening on 0.0.0.0:${port}` });
      // A client on this machine still gets a URL it can connect to.
      expect(any.url).toBe(`http://127.0.0.1:${port}`);
      expect((await fetch(`${any.url}/health`)).status).toBe(200);
    } finally {
      await any.stop();
      await rm(root2, { recursive: true, force: true });
    }
  });

  it('echoes a valid X-Request-ID and logs the request under it', async () => {
    const response = await fetch(`${running.url}/projects`, { headers: { ...auth, 'x-request-id': 'socket-req-1' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('socket-req-1');
    await response.arrayBuffer();
    const line = logLines.map((l) => JSON.parse(l)).find((l) => l.request_id === 'socket-req-1');
    expect(line).toMatchObject({ method: 'GET', status: 200, route: '/projects' });
  });

  it('generates a UUID v4 when none is sent, or one that is too long', async () => {
    const none = await fetch(`${running.url}/`);
    expect(none.headers.get('x-request-id')).toMatch(UUID_V4);
    const long = await fetch(`${running.url}/`, { headers: { 'x-request-id': 'y'.repeat(129) } });
    expect(long.headers.get('x-request-id')).toMatch(UUID_V4);
  });

  it('generates a UUID v4 for an id with non-ASCII bytes', async () => {
    const { port } = new URL(running.url);
    const request = Buffer.concat([
      Buffer.from('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Request-ID: caf'),
      Buffer.from([0xc3, 0xa9]),
      Buffer.from('\r\n\r\n'),
    ]);
    const text = await rawExchange(Number(port), request);
    expect(text.startsWith('HTTP/1.1 200')).toBe(true);
    const id = /\r\nx-request-id: ([^\r]*)\r\n/i.exec(text)?.[1];
    expect(id).toMatch(UUID_V4);
  });

  it('a project created over HTTP works with its key over HTTP', async () => {
    const created = await fetch(`${running.url}/projects`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'wire' }),
    });
    expect(created.status).toBe(201);
    const { api_key } = await created.json();
    const got = await fetch(`${running.url}/projects/wire`, { headers: { authorization: `Bearer ${api_key}` } });
    expect(got.status).toBe(200);
    expect(logLines.join('\n')).not.toContain(api_key);
    expect(logLines.join('\n')).not.toContain(ADMIN_KEY);
  });

  it('OPTIONS preflight over HTTP is 204 without a key', async () => {
    const response = await fetch(`${running.url}/projects/wire`, {
      method: 'OPTIONS',
      headers: { origin: 'https://ui.example', 'access-control-request-method': 'PUT' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('graceful stop', () => {
  let root: string;
  let running: RunningServer;
  let logLines: string[];

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-stop-'));
    const captured = captureLogger();
    logLines = captured.lines;
    running = await startServer(testConfig(join(root, 'data'), { PORT: '0', HOST: '127.0.0.1' }), captured.logger);
  });
  afterEach(async () => {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('finishes a request whose body is still arriving, then stops; new connections are refused', async () => {
    const port = Number(new URL(running.url).port);
    const body = JSON.stringify({ id: 'inflight', name: 'Sent slowly' });
    const half = Math.floor(body.length / 2);

    // The server has the request (headers parsed, handler running) before stop() is called.
    const received = once(running.server, 'request');
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/projects',
      headers: { ...auth, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    });
    const responded = once(req, 'response') as Promise<[IncomingMessage]>;
    req.write(body.slice(0, half));
    await received;

    let stopped = false;
    const stopping = running.stop().then(() => {
      stopped = true;
    });

    // The listener is closed at once: nobody new gets in while the request drains.
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
    expect(stopped).toBe(false);

    req.end(body.slice(half));
    const [response] = await responded;
    const text = await readBody(response);
    expect(response.statusCode).toBe(201);
    expect(JSON.parse(text)).toMatchObject({ id: 'inflight', name: 'Sent slowly', status: 'active' });

    await stopping;
    expect(stopped).toBe(true);
    const shutdown = logLines.map((l) => JSON.parse(l)).find((l) => l.event === 'shutdown' && 'in_flight' in l);
    expect(shutdown.in_flight).toBe(1);
    expect(await tryConnect(port)).toBe('ECONNREFUSED');

    // What was acknowledged is on disk: a fresh open of the folder has the project.
    const services = await openServices(testConfig(join(root, 'data')), captureLogger().logger);
    try {
      expect(services.catalog.getProject('inflight')?.name).toBe('Sent slowly');
    } finally {
      await services.close();
    }
  });

  it('an idle keep-alive connection does not hold the stop up', async () => {
    const agentResponse = await fetch(`${running.url}/health`, { headers: { connection: 'keep-alive' } });
    await agentResponse.arrayBuffer();
    await running.stop(60_000);
    expect(await tryConnect(Number(new URL(running.url).port))).toBe('ECONNREFUSED');
  });

  it('stop() is idempotent and closes DuckDB (the folder can be reopened)', async () => {
    await Promise.all([running.stop(), running.stop()]);
    const services = await openServices(testConfig(join(root, 'data')), captureLogger().logger);
    await services.close();
  });
});

describe('mounted under a prefix inside another fetch server', () => {
  let root: string;
  let services: Services;
  let host: Server;
  let base: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-mount-'));
    services = await openServices(testConfig(join(root, 'data')), captureLogger().logger);
    const storage = createApp(services, { basePath: '/storage' });
    const adapter = createServerAdapter((request: Request) => {
      const { pathname } = new URL(request.url);
      if (pathname === '/storage' || pathname.startsWith('/storage/')) return storage.fetch(request);
      return Response.json({ host: 'answered', path: pathname });
    });
    host = createServer(adapter);
    host.listen(0, '127.0.0.1');
    await once(host, 'listening');
    base = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    host.closeAllConnections();
    await new Promise((resolve) => host.close(resolve));
    await services.close();
    await rm(root, { recursive: true, force: true });
  });

  it('/storage/health is the storage health', async () => {
    const response = await fetch(`${base}/storage/health`);
    expect(response.status).toBe(200);
    expect((await response.json()).status).toBe('healthy');
    expect(response.headers.get('x-request-id')).toMatch(UUID_V4);
  });

  it('/other is answered by the host', async () => {
    const response = await fetch(`${base}/other`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ host: 'answered', path: '/other' });
    expect(response.headers.get('x-request-id')).toBeNull();
  });

  it('/health without the prefix is the host’s, not the storage’s', async () => {
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ host: 'answered', path: '/health' });
  });

  it('the whole API works below the prefix, errors included', async () => {
    const created = await fetch(`${base}/storage/projects`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'mounted' }),
    });
    expect(created.status).toBe(201);
    const got = await fetch(`${base}/storage/projects/mounted`, { headers: auth });
    expect((await got.json()).id).toBe('mounted');

    const unknown = await fetch(`${base}/storage/nothing-here`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).detail.error).toBe('not_found');

    const wrongMethod = await fetch(`${base}/storage/projects`, { method: 'PATCH', headers: auth });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toContain('POST');

    const anonymous = await fetch(`${base}/storage/projects`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
  });
});
