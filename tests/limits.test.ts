// Limits and timeouts on the real server (node:http on a loopback port):
// - JSON bodies over 1 MiB → 413, whether the length is declared or the body is chunked;
// - import bodies declared over MAX_IMPORT_BYTES → 413 before a byte is staged (the chunked
//   case, cut off while the body still arrives, is in tests/import.test.ts "import over a
//   real socket"; the 429 + Retry-After past MAX_CONCURRENT_IMPORTS is in tests/import.test.ts
//   "limits and access");
// - a client that sends its request headers slowly (slowloris) is cut off by the server's
//   headers timeout, which node enforces on its connectionsCheckingInterval: the client keeps
//   sending until the server closes, so the outcome does not depend on how fast this machine is.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_BYTES } from '../src/http/request.ts';
import { startServer, type RunningServer } from '../src/server.ts';
import { ADMIN_KEY, captureLogger, testConfig } from './helpers.ts';

/** Sends a body in the given chunks (chunked unless a content-length header is given). */
function send(url: string, method: string, headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; body: any; chunksSent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    const req = request(url, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined, chunksSent: sent }));
      res.on('error', reject);
    });
    // The server may answer and close before the whole body went out.
    req.on('error', () => {});
    const pump = () => {
      while (sent < chunks.length) {
        if (req.destroyed) return;
        if (!req.write(chunks[sent++]!)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('limits on the real server', () => {
  let root: string;
  let running: RunningServer;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-limits-'));
    running = await startServer(testConfig(join(root, 'data'), { HOST: '127.0.0.1', PORT: '0', MAX_IMPORT_BYTES: '4096' }), captureLogger().logger, {
      // Short, so the slow-client test does not wait 20 s; checked often.
      headersTimeoutMs: 400,
      connectionsCheckingIntervalMs: 50,
    });
    const json = { 'content-type': 'application/json' };
    expect((await send(`${running.url}/projects`, 'POST', json, [Buffer.from('{"id":"p"}')])).status).toBe(201);
    expect((await send(`${running.url}/projects/p/buckets`, 'POST', json, [Buffer.from('{"name":"b"}')])).status).toBe(201);
    const table = JSON.stringify({ name: 't', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }] });
    expect((await send(`${running.url}/projects/p/buckets/b/tables`, 'POST', json, [Buffer.from(table)])).status).toBe(201);
  });

  afterAll(async () => {
    await running?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  describe('JSON bodies: 1 MiB at most', () => {
    const big = () => Buffer.from(JSON.stringify({ id: 'big', settings: { blob: 'x'.repeat(MAX_JSON_BYTES) } }));

    it('413 for a declared Content-Length over 1 MiB', async () => {
      const body = big();
      const answer = await send(`${running.url}/projects`, 'POST', { 'content-type': 'application/json', 'content-length': String(body.length) }, [body]);
      expect(answer.status).toBe(413);
      expect(answer.body.detail.error).toBe('payload_too_large');
      expect(answer.body.detail.details.limit_bytes).toBe(MAX_JSON_BYTES);
    });

    it('413 for a chunked body that passes 1 MiB, without reading it all', async () => {
      const body = big();
      const chunks: Buffer[] = [];
      for (let at = 0; at < body.length; at += 16_384) chunks.push(body.subarray(at, at + 16_384));
      // And then much more, which the server never needs to read.
      for (let i = 0; i < 512; i++) chunks.push(Buffer.alloc(16_384, 0x20));
      const answer = await send(`${running.url}/projects`, 'POST', { 'content-type': 'application/json' }, chunks);
      expect(answer.status).toBe(413);
      expect(answer.body.detail.error).toBe('payload_too_large');
      expect(running.services.catalog.getProject('big')).toBeUndefined();
    });

    it('exactly 1 MiB is accepted', async () => {
      const shell = { id: 'edge', settings: { blob: '' } };
      shell.settings.blob = 'y'.repeat(MAX_JSON_BYTES - JSON.stringify(shell).length);
      const body = Buffer.from(JSON.stringify(shell));
      expect(body.length).toBe(MAX_JSON_BYTES);
      expect((await send(`${running.url}/projects`, 'POST', { 'content-type': 'application/json' }, [body])).status).toBe(201);
    });
  });

  describe('import bodies: MAX_IMPORT_BYTES at most', () => {
    it('413 for a declared Content-Length over the limit; nothing is staged, the rows stay', async () => {
      const url = `${running.url}/projects/p/buckets/b/tables/t/import`;
      expect((await send(url, 'POST', { 'content-type': 'text/csv' }, [Buffer.from('id,v\n1,a\n')])).status).toBe(200);
      const body = Buffer.from(`id,v\n${'2,bbbbbbbb\n'.repeat(500)}`);
      expect(body.length).toBeGreaterThan(4096);
      const answer = await send(url, 'POST', { 'content-type': 'text/csv', 'content-length': String(body.length) }, [body]);
      expect(answer.status).toBe(413);
      expect(answer.body.detail.error).toBe('payload_too_large');
      expect(await readdir(running.services.paths.filesDir)).toEqual([]);
      expect(running.services.catalog.getTable('p', 'b', 't')!.rowCount).toBe(1);
      expect(running.services.activeImports.count).toBe(0);
    });
  });

  describe('headers timeout', () => {
    /**
     * Opens a connection and sends a request line and the first header byte at once, then
     * one more byte after each earlier one went out (paced by `pace` ms), never finishing the
     * headers, until the server closes the socket. The client never stops on its own before
     * `giveUpMs`, so the cut-off is always the server's: however slow this machine is, bytes
     * are still arriving when it comes.
     */
    function slowloris(pace: number, giveUpMs: number): Promise<{ closedByServer: boolean; received: string; bytes: number }> {
      const { port } = new URL(running.url);
      return new Promise((resolve) => {
        const socket = connect(Number(port), '127.0.0.1');
        let received = '';
        let bytes = 0;
        let timer: NodeJS.Timeout | undefined;
        let done = false;
        const finish = (closedByServer: boolean) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          clearTimeout(giveUp);
          socket.destroy();
          resolve({ closedByServer, received, bytes });
        };
        const giveUp = setTimeout(() => finish(false), giveUpMs);
        const trickle = () => {
          if (done || socket.destroyed) return;
          bytes++;
          socket.write('a', () => (timer = setTimeout(trickle, pace)));
        };
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => (received += d));
        // Whatever the server sent is read before 'close' is emitted.
        socket.on('close', () => finish(true));
        socket.on('error', () => {});
        socket.on('connect', () => {
          socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
          trickle();
        });
      });
    }

    it('a client that trickles its headers gets its socket closed with 408', { timeout: 30_000 }, async () => {
      const { headersTimeoutMs, connectionsCheckingIntervalMs } = running.timeouts;
      expect({ headersTimeoutMs, connectionsCheckingIntervalMs }).toEqual({ headersTimeoutMs: 400, connectionsCheckingIntervalMs: 50 });
      // Node's own checking interval (30 s) would let this run into the give-up time.
      const outcome = await slowloris(20, 20_000);
      expect(outcome.closedByServer, 'the server closed the connection').toBe(true);
      expect(outcome.bytes, 'header bytes were still arriving when it was cut off').toBeGreaterThan(0);
      expect(outcome.received).toMatch(/^HTTP\/1\.1 408 /);
    });

    it('the server goes on serving normal clients', async () => {
      const response = await fetch(`${running.url}/health`);
      expect(response.status).toBe(200);
      await response.body?.cancel();
    });

    it('an upload that stalls is cut off and gives its import slot back', { timeout: 30_000 }, async () => {
      const root2 = await mkdtemp(join(tmpdir(), 'dsa-limits-idle-'));
      const other = await startServer(testConfig(join(root2, 'data'), { HOST: '127.0.0.1', PORT: '0', MAX_CONCURRENT_IMPORTS: '1' }), captureLogger().logger, { idleTimeoutMs: 300 });
      try {
        const json = { 'content-type': 'application/json' };
        expect((await send(`${other.url}/projects`, 'POST', json, [Buffer.from('{"id":"p"}')])).status).toBe(201);
        expect((await send(`${other.url}/projects/p/buckets`, 'POST', json, [Buffer.from('{"name":"b"}')])).status).toBe(201);
        const table = JSON.stringify({ name: 't', columns: [{ name: 'id', type: 'INTEGER' }] });
        expect((await send(`${other.url}/projects/p/buckets/b/tables`, 'POST', json, [Buffer.from(table)])).status).toBe(201);

        // Headers and the first rows, then silence: the socket must be closed by the server.
        const closed = await new Promise<boolean>((resolve) => {
          const socket = connect(Number(new URL(other.url).port), '127.0.0.1');
          const giveUp = setTimeout(() => {
            socket.destroy();
            resolve(false);
          }, 10_000);
          socket.on('close', () => {
            clearTimeout(giveUp);
            resolve(true);
          });
          socket.on('error', () => {});
          socket.on('connect', () => {
            socket.write(
              `POST /projects/p/buckets/b/tables/t/import HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN_KEY}\r\n` +
                'Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nid\n1\n\r\n',
            );
          });
        });
        expect(closed, 'the server closed the stalled upload').toBe(true);

        // The slot is free again (MAX_CONCURRENT_IMPORTS=1) and nothing is left staged.
        for (let i = 0; i < 200 && other.services.activeImports.count > 0; i++) await new Promise((r) => setTimeout(r, 10));
        expect(other.services.activeImports.count).toBe(0);
        expect(await readdir(other.services.paths.filesDir)).toEqual([]);
        const next = await send(`${other.url}/projects/p/buckets/b/tables/t/import`, 'POST', { 'content-type': 'text/csv' }, [Buffer.from('id\n7\n')]);
        expect(next.status).toBe(200);
        expect(next.body.imported_rows).toBe(1);
      } finally {
        await other.stop();
        await rm(root2, { recursive: true, force: true });
      }
    });

    it('startServer defaults: 20 s headers timeout, checked every second (not node\'s 30 s)', async () => {
      const root2 = await mkdtemp(join(tmpdir(), 'dsa-limits-default-'));
      const other = await startServer(testConfig(join(root2, 'data'), { HOST: '127.0.0.1', PORT: '0' }), captureLogger().logger);
      try {
        expect(other.server.headersTimeout).toBe(20_000);
        expect(other.server.requestTimeout).toBe(0);
        expect(other.server.timeout).toBe(300_000);
        expect(other.timeouts).toEqual({ headersTimeoutMs: 20_000, connectionsCheckingIntervalMs: 1_000, idleTimeoutMs: 300_000 });
      } finally {
        await other.stop();
        await rm(root2, { recursive: true, force: true });
      }
    });
  });
});
