// What URL parsing hides: dot segments in the raw request target, and a response body
// that fails after the headers went out.
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failLoudly, startServer, type RunningServer } from '../src/server.ts';
import { ADMIN_KEY, captureLogger, testConfig } from './helpers.ts';

/** Sends a request with the path exactly as given (node's client does not normalise it). */
function rawRequest(base: string, method: string, path: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { authorization: `Bearer ${ADMIN_KEY}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('raw request targets', () => {
  let root: string;
  let running: RunningServer;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-raw-'));
    const config = testConfig(join(root, 'data'), { PORT: '0', HOST: '127.0.0.1' });
    running = await startServer(config, captureLogger().logger);
    const post = (path: string, body: unknown) =>
      fetch(running.url + path, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/projects', { id: 'p1' })).status).toBe(201);
    expect((await post('/projects/p1/buckets', { name: 'x' })).status).toBe(201);
    expect((await post('/projects/p1/buckets/x/tables', { name: 't', columns: [{ name: 'a', type: 'INTEGER' }] })).status).toBe(201);
  });
  afterAll(async () => {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  });

  it.each(['/projects/p1/buckets/x/tables/..', '/projects/p1/buckets/x/tables/%2e%2E', '/projects/p1/buckets/x/tables/t/.', '/projects/p1/buckets/x/./tables/t'])(
    'DELETE %s is refused with 422 and deletes nothing',
    async (path) => {
      const response = await rawRequest(running.url, 'DELETE', path);
      expect(response.status).toBe(422);
      expect(JSON.parse(response.body).detail.error).toBe('validation_error');
      const table = await fetch(`${running.url}/projects/p1/buckets/x/tables/t`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      expect(table.status).toBe(200);
    },
  );

  it('still serves names that merely contain dots elsewhere in the query', async () => {
    const response = await rawRequest(running.url, 'GET', '/projects/p1/buckets/x/tables/t/preview?limit=1&x=..');
    expect(response.status).toBe(200);
  });
});

describe('failLoudly', () => {
  it('destroys the socket when the body fails after the headers went out', async () => {
    const failing = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('first chunk'));
      },
      pull(controller) {
        controller.error(new Error('disk went away'));
      },
    });
    let destroyedWith: Error | undefined;
    const res = { destroy: (error: Error) => (destroyedWith = error) } as unknown as ServerResponse;
    const wrapped = failLoudly(new Response(failing, { status: 200 }), res);
    const reader = wrapped.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('first chunk');
    expect((await reader.read()).done).toBe(true);
    expect(destroyedWith?.message).toBe('disk went away');
  });
});
