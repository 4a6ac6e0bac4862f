import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * The helper threads' code, plain JavaScript (evaluated, so it runs the same under tsx,
 * vitest and the esbuild bundle). Two jobs, each keyed by a session id the main thread picks:
 *
 * - `file`: the SHA-256 of a file while it is being written. The main thread writes the
 *   file and says how far it has got (`grown`) after each write; this thread reads the
 *   new bytes back (from the page cache, where they just went) and hashes them, and once
 *   told the file is complete (`end`) answers the digest. The main thread neither copies nor
 *   hashes anything; one thread serves every file at once, each catching up in turn.
 * - `count`: reads a file in blocks and counts its records (CSV: line ends outside quotes;
 *   NDJSON: lines), posting the running count after each block, so a job can turn "DuckDB
 *   has read this many bytes" into "this many rows". Blank lines are not records.
 */
const WORKER_SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { open } = require('node:fs/promises');
const fs = require('node:fs');
const counts = new Map();
const NL = 10, CR = 13, STEP = 1 << 20;

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

/**
 * File hash sessions: each reads its file from where it has hashed up to the size last
 * announced, in blocks of STEP (synchronous reads: the bytes are in the page cache, and
 * this thread has nothing else to do meanwhile), then returns to the message loop, where
 * the other sessions' announcements wait their turn. A session told its end answers the
 * digest once it has caught up; a failed read answers 'failed'.
 */
const files = new Map();
const block = Buffer.allocUnsafe(STEP);

function hashFile(f) {
  try {
    if (f.fd === undefined) f.fd = fs.openSync(f.path, 'r');
    while (f.hashed < f.size) {
      const n = fs.readSync(f.fd, block, 0, Math.min(STEP, f.size - f.hashed), f.hashed);
      if (n === 0) throw new Error('the file is shorter than was written');
      f.hash.update(block.subarray(0, n));
      f.hashed += n;
    }
    if (f.ended) {
      closeFile(f);
      parentPort.postMessage({ t: 'digest', id: f.id, hex: f.hash.digest('hex') });
    }
  } catch (error) {
    closeFile(f);
    parentPort.postMessage({ t: 'failed', id: f.id, message: String(error && error.message) });
  }
}

function closeFile(f) {
  files.delete(f.id);
  if (f.fd !== undefined) try { fs.closeSync(f.fd); } catch {}
  f.fd = undefined;
}

parentPort.on('message', (m) => {
  switch (m.t) {
    case 'file': files.set(m.id, { id: m.id, path: m.path, hash: createHash('sha256'), hashed: 0, size: 0, ended: false, fd: undefined }); break;
    case 'grown': case 'end': {
      const f = files.get(m.id);
      if (!f) break;
      if (m.t === 'grown') f.size = m.size;
      else f.ended = true;
      hashFile(f);
      break;
    }
    case 'drop': { const f = files.get(m.id); if (f) closeFile(f); break; }
    case 'count': void count(m); break;
    case 'stop': { const state = counts.get(m.id); if (state) state.cancelled = true; break; }
  }
});
`;

/** A helper thread that failed (or was closed) under a session: the service's trouble, never the client's. */
export class HelperThreadError extends Error {}

type Reply =
  | { t: 'digest'; id: number; hex: string }
  | { t: 'counted'; id: number; offset: number; records: number; end?: boolean }
  | { t: 'failed'; id: number; message: string };

/**
 * The SHA-256 of a stream written to a file, in order. `update` is given each chunk as it
 * arrives and returns nothing when it was taken at once, or a promise that resolves once
 * it is (the caller must not feed the next chunk before); `written` is told how many bytes
 * the file holds after each write (a hasher that reads them back from there needs only
 * that). `digest` resolves once all are hashed; `abort` drops the stream.
 */
export interface StreamHasher {
  update(bytes: Uint8Array): Promise<void> | undefined;
  written(size: number): void;
  digest(): Promise<string>;
  abort(): void;
}

/** Hashing on the calling thread: for bodies small enough that a helper would cost more. */
export function inlineHasher(): StreamHasher {
  const hash = createHash('sha256');
  return {
    update(bytes) {
      hash.update(bytes);
      return undefined;
    },
    written() {},
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

type Session = { onReply(reply: Reply): void; onFailure(error: Error): void };

/** A helper thread and its sessions. */
interface Thread {
  worker: Worker;
  sessions: Map<number, Session>;
}

/**
 * Helper threads for byte crunching that would otherwise hold the event loop while a
 * request streams: one hashes files as they are written (the SHA-256 of uploads and export
 * files, §15), one counts records for job progress (§16). They start on first use, are
 * unref'd (never keeping a process alive) and end with `close`. A thread that dies fails
 * its sessions; the next use starts a new one.
 */
export class ByteWorker {
  private counter: Thread | undefined;
  private hashing: Thread | undefined;
  private nextId = 1;
  private closed = false;

  private spawn(onGone: (thread: Thread) => void): Thread {
    if (this.closed) throw new HelperThreadError('the byte worker is closed');
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'dsa-bytes' });
    worker.unref();
    const thread: Thread = { worker, sessions: new Map() };
    worker.on('message', (reply: Reply) => thread.sessions.get(reply.id)?.onReply(reply));
    let gone = false;
    const fail = (error: Error) => {
      if (gone) return;
      gone = true;
      onGone(thread);
      const sessions = [...thread.sessions.values()];
      thread.sessions.clear();
      for (const session of sessions) session.onFailure(error);
    };
    worker.on('error', (error) => fail(new HelperThreadError(`the byte worker failed: ${error.message}`)));
    worker.on('exit', (code) => fail(new HelperThreadError(`the byte worker exited with code ${code}`)));
    return thread;
  }

  private countThread(): Thread {
    this.counter ??= this.spawn((thread) => {
      if (this.counter === thread) this.counter = undefined;
    });
    return this.counter;
  }

  private hashThread(): Thread {
    this.hashing ??= this.spawn((thread) => {
      if (this.hashing === thread) this.hashing = undefined;
    });
    return this.hashing;
  }

  /**
   * A hasher for the file at `path` as the caller writes it: after each write the helper
   * thread is told the size (one message per write, not per chunk) and reads the new bytes
   * back and hashes them beside the next reads and writes; this thread copies nothing.
   * Throws HelperThreadError when the thread cannot be had (closed).
   */
  fileHasher(path: string): StreamHasher {
    const { worker, sessions } = this.hashThread();
    const id = this.nextId++;
    let failure: Error | undefined;
    let done = false;
    let digest: { resolve(hex: string): void; reject(error: Error): void } | undefined;
    const fail = (error: Error) => {
      failure ??= error;
      sessions.delete(id);
      digest?.reject(failure);
    };
    sessions.set(id, {
      onReply: (reply) => {
        if (reply.t === 'digest') {
          sessions.delete(id);
          digest?.resolve(reply.hex);
        } else if (reply.t === 'failed') fail(new HelperThreadError(`hashing ${path} failed: ${reply.message}`));
      },
      onFailure: fail,
    });
    worker.postMessage({ t: 'file', id, path });
    return {
      update: () => (failure ? Promise.reject(failure) : undefined),
      written(size) {
        if (!failure && !done) worker.postMessage({ t: 'grown', id, size });
      },
      digest() {
        if (failure) return Promise.reject(failure);
        return new Promise<string>((resolve, reject) => {
          digest = { resolve, reject };
          done = true;
          worker.postMessage({ t: 'end', id });
        });
      },
      abort() {
        if (failure || done) return;
        done = true;
        sessions.delete(id);
        worker.postMessage({ t: 'drop', id });
      },
    };
  }

  /** Counts the records of `path` on the helper thread; the count grows as it reads. */
  countRecords(path: string, options: CountOptions = {}): RecordCount {
    const { worker, sessions } = this.countThread();
    const id = this.nextId++;
    const ends: number[] = [];
    const totals: number[] = [];
    const skip = options.skip ?? 0;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const end = () => {
      sessions.delete(id);
      finish();
    };
    sessions.set(id, {
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
    const threads = [this.hashing, this.counter].filter((thread): thread is Thread => thread !== undefined);
    this.hashing = undefined;
    this.counter = undefined;
    for (const thread of threads) {
      const sessions = [...thread.sessions.values()];
      thread.sessions.clear();
      for (const session of sessions) session.onFailure(new HelperThreadError('the byte worker is closed'));
    }
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }
}
