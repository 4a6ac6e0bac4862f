import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * The thread's code, plain JavaScript (evaluated, so it runs the same under tsx, vitest and
 * the esbuild bundle). Two jobs, each keyed by a session id the main thread picks:
 *
 * - `hash`: SHA-256 of the batches an upload writes, in the order they are posted. A batch
 *   lives in a SharedArrayBuffer the main thread also writes to disk from, so nothing is
 *   copied; `done` hands the batch back.
 * - `count`: reads a file in blocks and counts its records (CSV: line ends outside quotes;
 *   NDJSON: lines), posting the running count after each block, so a job can turn "DuckDB
 *   has read this many bytes" into "this many rows". Blank lines are not records.
 */
const WORKER_SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { open } = require('node:fs/promises');
const hashes = new Map();
const counts = new Map();
const NL = 10, CR = 13;

async function count(m) {
  const state = { cancelled: false };
  counts.set(m.id, state);
  let handle;
  try {
    handle = await open(m.path, 'r');
    const block = Buffer.allocUnsafe(m.block);
    const quote = m.quote, escape = m.escape;
    let records = 0, inQuotes = false, skip = false, content = false, offset = 0;
    for (;;) {
      if (state.cancelled) return;
      const { bytesRead } = await handle.read(block, 0, block.length, offset);
      if (bytesRead === 0) break;
      for (let i = 0; i < bytesRead; i++) {
        const b = block[i];
        if (skip) { skip = false; continue; }
        if (inQuotes) {
          if (b === escape && escape !== quote) skip = true;
          else if (b === quote) inQuotes = false;
          continue;
        }
        if (b === NL) { if (content) records++; content = false; continue; }
        if (b === CR || b === 32 || b === 9) continue;
        content = true;
        if (b === quote) inQuotes = true;
      }
      offset += bytesRead;
      parentPort.postMessage({ t: 'counted', id: m.id, offset, records });
    }
    if (content) records++;
    parentPort.postMessage({ t: 'counted', id: m.id, offset, records, end: true });
  } catch (error) {
    parentPort.postMessage({ t: 'failed', id: m.id, message: String(error && error.message) });
  } finally {
    counts.delete(m.id);
    await handle?.close().catch(() => {});
  }
}

parentPort.on('message', (m) => {
  switch (m.t) {
    case 'open': hashes.set(m.id, createHash('sha256')); break;
    case 'data':
      hashes.get(m.id).update(new Uint8Array(m.buf, m.off, m.len));
      parentPort.postMessage({ t: 'done', id: m.id });
      break;
    case 'end': {
      const hash = hashes.get(m.id);
      hashes.delete(m.id);
      parentPort.postMessage({ t: 'digest', id: m.id, hex: hash.digest('hex') });
      break;
    }
    case 'drop': hashes.delete(m.id); break;
    case 'count': void count(m); break;
    case 'stop': { const state = counts.get(m.id); if (state) state.cancelled = true; break; }
  }
});
`;

type Reply =
  | { t: 'done'; id: number }
  | { t: 'digest'; id: number; hex: string }
  | { t: 'counted'; id: number; offset: number; records: number; end?: boolean }
  | { t: 'failed'; id: number; message: string };

/**
 * The SHA-256 of a stream that is written in batches. `update` resolves once the batch
 * has been hashed (the caller may then reuse its memory); `digest` once all have.
 */
export interface StreamHasher {
  /** Whether batches should live in SharedArrayBuffers (they are then hashed without a copy). */
  readonly shared: boolean;
  update(bytes: Uint8Array): Promise<void>;
  digest(): Promise<string>;
  abort(): void;
}

/** Hashing on the calling thread: for bodies small enough that a round trip would cost more. */
export function inlineHasher(): StreamHasher {
  const hash = createHash('sha256');
  return {
    shared: false,
    update(bytes) {
      hash.update(bytes);
      return Promise.resolve();
    },
    digest: () => Promise.resolve(hash.digest('hex')),
    abort() {},
  };
}

/** Records counted so far in a file: `rowsBefore(n)` is how many records end within its first n bytes. */
export interface RecordCount {
  rowsBefore(bytes: number): number;
  /** Resolves when the whole file was counted (or counting stopped or failed). */
  readonly done: Promise<void>;
  stop(): void;
}

export interface CountOptions {
  /** The CSV quote and escape characters; none for NDJSON, whose strings hold no raw line breaks. */
  quote?: string;
  escape?: string;
  /** How many leading records are not rows (a CSV header). */
  skip?: number;
  /** Bytes read per step (and per progress message); 256 KiB by default. */
  blockBytes?: number;
}

/**
 * One helper thread for byte crunching that would otherwise hold the event loop while a
 * request streams: the SHA-256 of uploads (§15) and record counts for job progress (§16).
 * It starts on first use, is unref'd (it never keeps a process alive), and `close` ends it.
 * A thread that dies fails the sessions it had; the next use starts a new one.
 */
export class ByteWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly sessions = new Map<number, { onReply(reply: Reply): void; onFailure(error: Error): void }>();
  private closed = false;

  private thread(): Worker {
    if (this.closed) throw new Error('the byte worker is closed');
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'dsa-bytes' });
    worker.unref();
    worker.on('message', (reply: Reply) => this.sessions.get(reply.id)?.onReply(reply));
    const fail = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const sessions = [...this.sessions.values()];
      this.sessions.clear();
      for (const session of sessions) session.onFailure(error);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the byte worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  /** A hasher whose work runs on the helper thread, in parallel with the writes. */
  hasher(): StreamHasher {
    const worker = this.thread();
    const id = this.nextId++;
    const pending: { resolve(): void; reject(error: Error): void }[] = [];
    let digest: { resolve(hex: string): void; reject(error: Error): void } | undefined;
    let failure: Error | undefined;
    const end = () => this.sessions.delete(id);
    this.sessions.set(id, {
      onReply: (reply) => {
        if (reply.t === 'done') pending.shift()?.resolve();
        else if (reply.t === 'digest') {
          end();
          digest?.resolve(reply.hex);
        }
      },
      onFailure: (error) => {
        failure = error;
        for (const p of pending.splice(0)) p.reject(error);
        digest?.reject(error);
      },
    });
    worker.postMessage({ t: 'open', id });
    return {
      shared: true,
      update(bytes) {
        if (failure) return Promise.reject(failure);
        return new Promise<void>((resolve, reject) => {
          pending.push({ resolve, reject });
          // A batch in shared memory goes by reference; anything else is copied over.
          const buf = bytes.buffer instanceof SharedArrayBuffer ? bytes.buffer : bytes.slice().buffer;
          const off = bytes.buffer instanceof SharedArrayBuffer ? bytes.byteOffset : 0;
          worker.postMessage({ t: 'data', id, buf, off, len: bytes.byteLength });
        });
      },
      digest() {
        if (failure) return Promise.reject(failure);
        return new Promise<string>((resolve, reject) => {
          digest = { resolve, reject };
          worker.postMessage({ t: 'end', id });
        });
      },
      abort() {
        if (!failure) worker.postMessage({ t: 'drop', id });
        end();
        const dropped = new Error('the hash was dropped');
        for (const p of pending.splice(0)) p.reject(dropped);
        digest?.reject(dropped);
      },
    };
  }

  /** Counts the records of `path` on the helper thread; the count grows as it reads. */
  countRecords(path: string, options: CountOptions = {}): RecordCount {
    const worker = this.thread();
    const id = this.nextId++;
    const ends: number[] = [];
    const totals: number[] = [];
    const skip = options.skip ?? 0;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const end = () => {
      this.sessions.delete(id);
      finish();
    };
    this.sessions.set(id, {
      onReply: (reply) => {
        if (reply.t === 'counted') {
          ends.push(reply.offset);
          totals.push(reply.records);
          if (reply.end) end();
        } else if (reply.t === 'failed') end();
      },
      onFailure: () => end(),
    });
    // No quote character (NDJSON), or one that is not a single byte: -1 matches no byte.
    const byte = (s: string | undefined) => (s && s.charCodeAt(0) < 128 ? s.charCodeAt(0) : -1);
    const quote = byte(options.quote);
    const escape = options.escape ? byte(options.escape) : quote;
    worker.postMessage({ t: 'count', id, path, quote, escape, block: options.blockBytes ?? 256 << 10 });
    return {
      done,
      rowsBefore(bytes) {
        // The last block that ends within `bytes`: every record it counted ended there.
        let lo = 0;
        let hi = ends.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (ends[mid]! <= bytes) lo = mid + 1;
          else hi = mid;
        }
        return lo === 0 ? 0 : Math.max(0, totals[lo - 1]! - skip);
      },
      stop: () => {
        worker.postMessage({ t: 'stop', id });
        end();
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    for (const session of [...this.sessions.values()]) session.onFailure(new Error('the byte worker is closed'));
    this.sessions.clear();
    await worker?.terminate();
  }
}
