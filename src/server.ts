import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createServerAdapter } from '@whatwg-node/server';
import type { Logger } from 'pino';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import { recyclerOf } from './http/recycle.ts';
import { openServices, type Services } from './services.ts';

export interface RunningServer {
  server: Server;
  services: Services;
  url: string;
  /** The timeouts in force (ms), as given to node:http. */
  timeouts: Required<ServerOptions>;
  /** Stops accepting, waits (bounded) for requests in flight, then closes DuckDB. */
  stop(graceMs?: number): Promise<void>;
}

export interface ServerOptions {
  /** How long a client may take to send its request headers (ms); default 20 s. */
  headersTimeoutMs?: number;
  /**
   * How often node checks connections against that deadline (ms); default 1 s. Node's own
   * default is 30 s, which would let a slow client hold a socket for up to 50 s.
   */
  connectionsCheckingIntervalMs?: number;
  /**
   * How long a connection may stay silent, in either direction, before it is closed (ms);
   * default 5 minutes. An upload that stalls would otherwise hold its import slot (and a
   * MAX_CONCURRENT_IMPORTS place) for ever; a large import or export that keeps moving
   * bytes is never cut.
   */
  idleTimeoutMs?: number;
}

/** Opens the storage, mounts the app on node:http and listens. Used by main and by tests. */
export async function startServer(config: Config, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  const timeouts: Required<ServerOptions> = {
    headersTimeoutMs: options.headersTimeoutMs ?? 20_000,
    connectionsCheckingIntervalMs: options.connectionsCheckingIntervalMs ?? 1_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 300_000,
  };
  const services = await openServices(config, logger);
  const app = createApp(services);
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const adapter = createServerAdapter<{ req: IncomingMessage; res: ServerResponse }>(async (request, server) => {
    const response = await app.fetch(request, { rawUrl: server.req?.url });
    // JSON bodies are complete strings; only streamed downloads can fail half-way.
    const streamed = response.body && !response.headers.get('content-type')?.startsWith('application/json');
    if (!server.res || !streamed) return response;
    const recycle = recyclerOf(response.body);
    if (!recycle) return failLoudly(response, server.res);
    // Written here, so that each chunk goes back to its producer once the socket has it;
    // the adapter then finds the response ended and sends nothing more.
    await writeRecycling(response, server.req, server.res, recycle);
    return new Response(null, { status: response.status });
  });
  // A request is in flight from its headers until its response has been written out (or
  // the connection dropped): counting around app.fetch alone would let stop() cut the
  // socket between the handler's return and the adapter writing the response.
  const server = createServer({ connectionsCheckingInterval: timeouts.connectionsCheckingIntervalMs }, (req, res) => {
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (inFlight === 0) drained?.();
    });
    void adapter(req, res);
  });
  // Big imports stream for a long time: no overall request deadline, but a client must
  // finish sending its headers promptly, and idle keep-alive sockets are closed.
  server.requestTimeout = 0;
  server.headersTimeout = timeouts.headersTimeoutMs;
  server.keepAliveTimeout = 5_000;
  server.timeout = timeouts.idleTimeoutMs;
  // Destroy explicitly: node only does it itself when nothing else listens for 'timeout'
  // on the request or response, and the fetch adapter's streams may.
  server.on('timeout', (socket: Socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  // The log names the address as listened on (`0.0.0.0:8000`: every interface); `url` is
  // where a client on this machine reaches it.
  const listening = `${host}:${address.port}`;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  logger.info({ event: 'startup', address: listening, url: `http://${listening}`, data_dir: config.dataDir, version: services.version }, `listening on ${listening}`);

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 10_000) =>
    (stopping ??= (async () => {
      logger.info({ event: 'shutdown', in_flight: inFlight }, 'shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => (drained = resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref()),
        ]);
      }
      server.closeAllConnections();
      await closed;
      await services.close();
      logger.info({ event: 'shutdown' }, 'stopped');
    })());
  return { server, services, url, timeouts, stop };
}

/**
 * A body stream that fails after the headers went out must not look like a finished (or
 * stalled) download: the socket is destroyed so the client sees the transfer break, and
 * the failure never surfaces as an unhandled rejection in the adapter.
 */
export function failLoudly(response: Response, res: ServerResponse): Response {
  const reader = response.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        res.destroy(error as Error);
        controller.close();
      }
    },
    cancel(reason) {
      return reader.cancel(reason).catch(() => {});
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * Writes a streamed body marked by `recycling` (an export) straight into the node response:
 * each chunk is handed back to its producer once the socket write has completed, so the
 * producer reads its next bytes into it instead of allocating a buffer per chunk (which V8
 * collects late: on a 10M-row export those buffers were most of what the export added to
 * resident memory). Backpressure is the socket's: the next chunk is read once the previous
 * one drained. The client going away cancels the body (which stops the export); a body
 * that fails destroys the socket, as `failLoudly` does, so a cut download never looks complete.
 */
export async function writeRecycling(response: Response, req: IncomingMessage | undefined, res: ServerResponse, recycle: (chunk: Uint8Array) => void): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  // As the adapter does for a streamed body.
  req?.socket?.setTimeout(0);
  req?.socket?.setNoDelay(true);
  req?.socket?.setKeepAlive(true);
  if (response.statusText) res.writeHead(response.status, response.statusText, headers);
  else res.writeHead(response.status, headers);
  const reader = response.body!.getReader();
  let gone = res.destroyed;
  let wake: (() => void) | undefined;
  const onClose = () => {
    gone = true;
    wake?.();
  };
  res.once('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        if (!gone) res.end();
        return;
      }
      if (gone) break;
      const more = res.write(value, (error) => {
        // Written out: the bytes are in the kernel's socket buffer, the memory is free again.
        if (!error) recycle(value);
      });
      if (!more && !gone) {
        await new Promise<void>((resolve) => {
          const drained = () => {
            res.off('drain', drained);
            wake = undefined;
            resolve();
          };
          wake = drained;
          res.on('drain', drained);
        });
      }
    }
    await reader.cancel().catch(() => {});
  } catch (error) {
    res.destroy(error as Error);
  } finally {
    res.off('close', onClose);
  }
}
