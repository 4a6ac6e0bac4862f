import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * The helper threads' code, plain JavaScript (evaluated, so it runs the same under tsx,
 * vitest and the esbuild bundle). Two jobs, each keyed by a session id the main thread picks:
 *
 * - `ring`: the SHA-256 of a stream the main thread copies, chunk by chunk, into a ring in
 *   shared memory (see `hashRing`); it holds its thread until the stream ends.
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
    // A whole number of 4-byte words, read also as words (see below).
    const words = new ArrayBuffer(Math.ceil(m.block / 4) * 4);
    const block = new Uint8Array(words), word = new Uint32Array(words);
    const quote = m.quote, escape = m.escape;
    // The quote byte in each byte of a word (a byte no quote matches when there is none).
    const quotes = quote >= 0 ? Math.imul(quote, 0x01010101) : 0;
    let records = 0, inQuotes = false, skip = false, content = false, offset = 0;
    for (;;) {
      if (state.cancelled) return;
      const { bytesRead } = await handle.read(block, 0, m.block, offset);
      if (bytesRead === 0) break;
      const whole = bytesRead >> 2;
      for (let i = 0; i < bytesRead; i++) {
        if (content && !inQuotes && !skip && (i & 3) === 0) {
          // On a line that has content, outside quotes, a byte that is neither a line end
          // nor a quote changes nothing: skip whole words holding neither (tested four
          // bytes at once: a byte of x ^ pattern is zero where it matches), at about a
          // third of the byte loop's time.
          let w = i >> 2;
          for (; w < whole; w++) {
            const x = word[w];
            const n = x ^ 0x0a0a0a0a;
            let hit = (n - 0x01010101) & ~n & 0x80808080;
            if (quote >= 0) {
              const q = x ^ quotes;
              hit |= (q - 0x01010101) & ~q & 0x80808080;
            }
            if (hit) break;
          }
          i = w << 2;
          if (i >= bytesRead) break;
        }
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
 * A hash session over a ring in shared memory: the main thread copies each chunk in and
 * bumps WRITTEN; this thread hashes up to it and bumps HASHED, sleeping on the sequence
 * word while there is nothing new. It owns the thread until the stream ends or is dropped.
 */
function hashRing(m) {
  const ring = new Uint8Array(m.ring);
  const pos = new BigInt64Array(m.pos);
  const sig = new Int32Array(m.sig);
  const size = BigInt(ring.length);
  const hash = createHash('sha256');
  let hashed = 0n;
  for (;;) {
    const seq = Atomics.load(sig, 0);
    const state = Atomics.load(sig, 2);
    if (state === 2) {
      // Wakes a copier still waiting for room, which then finds the stream dropped.
      Atomics.add(sig, 1, 1);
      Atomics.notify(sig, 1);
      return parentPort.postMessage({ t: 'dropped', id: m.id });
    }
    const written = Atomics.load(pos, 0);
    if (written > hashed) {
      // At most 1 MiB (and never past the ring's end) per step, each step handed back at once.
      const from = Number(hashed % size);
      const n = Math.min(Number(written - hashed), ring.length - from, STEP);
      hash.update(ring.subarray(from, from + n));
      hashed += BigInt(n);
      Atomics.store(pos, 1, hashed);
      Atomics.add(sig, 1, 1);
      Atomics.notify(sig, 1);
      continue;
    }
    if (state === 1) return parentPort.postMessage({ t: 'digest', id: m.id, hex: hash.digest('hex') });
    Atomics.wait(sig, 0, seq);
  }
}

/**
 * Copies a file with plain reads and writes, synchronously (one file at a time per thread):
 * no event-loop turn between two chunks, and no copy_file_range (see clone.ts).
 */
function copy(m) {
  const buffer = Buffer.allocUnsafe(m.chunk);
  let from, to;
  try {
    from = fs.openSync(m.source, 'r');
    to = fs.openSync(m.target, 'w');
    for (let position = 0; ; ) {
      const n = fs.readSync(from, buffer, 0, buffer.length, position);
      if (n === 0) break;
      for (let done = 0; done < n; ) done += fs.writeSync(to, buffer, done, n - done, position + done);
      position += n;
    }
    parentPort.postMessage({ t: 'copied', id: m.id });
  } catch (error) {
    parentPort.postMessage({ t: 'failed', id: m.id, message: String(error && error.message), code: error && error.code });
  } finally {
    if (from !== undefined) try { fs.closeSync(from); } catch {}
    if (to !== undefined) try { fs.closeSync(to); } catch {}
  }
}

parentPort.on('message', (m) => {
  switch (m.t) {
    case 'ring': hashRing(m); break;
    case 'copy': copy(m); break;
    case 'count': void count(m); break;
    case 'stop': { const state = counts.get(m.id); if (state) state.cancelled = true; break; }
  }
});
`;

/** A helper thread that failed (or was closed) under a session: the service's trouble, never the client's. */
export class HelperThreadError extends Error {}

type Reply =
  | { t: 'digest'; id: number; hex: string }
  | { t: 'dropped'; id: number }
  | { t: 'counted'; id: number; offset: number; records: number; end?: boolean }
  | { t: 'copied'; id: number }
  | { t: 'failed'; id: number; message: string; code?: string };

/**
 * The SHA-256 of a stream, fed chunk by chunk in order. `update` resolves once the chunk
 * is taken (the caller may then reuse its memory); `digest` once all are hashed.
 */
export interface StreamHasher {
  update(bytes: Uint8Array): Promise<void>;
  digest(): Promise<string>;
  abort(): void;
}

/** Hashing on the calling thread: for bodies small enough that a helper would cost more. */
export function inlineHasher(): StreamHasher {
  const hash = createHash('sha256');
  return {
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

/** Bytes of a hash ring: how far the copying may run ahead of the hashing. */
const RING_BYTES = 8 << 20;
/** Hash threads at most; a stream that finds them all busy is hashed on the main thread. */
const HASH_THREADS = 4;

type Session = { onReply(reply: Reply): void; onFailure(error: Error): void };

/** A helper thread, its sessions, and (for a hash thread) its ring and whether a stream holds it. */
interface Thread {
  worker: Worker;
  sessions: Map<number, Session>;
  ring?: { data: SharedArrayBuffer; bytes: Uint8Array };
  busy: boolean;
}

/**
 * Helper threads for byte crunching that would otherwise hold the event loop while a
 * request streams: the SHA-256 of uploads and export files (§15), and record counts for job
 * progress (§16). One thread counts; up to four hash, one stream each. They start on first
 * use, are unref'd (never keeping a process alive) and end with `close`. A thread that dies
 * fails its sessions; the next use starts a new one.
 */
/** Bytes per read and write of a copy on the helper thread (256 KiB measured best here: 5.5 ms for 18 MB). */
const COPY_CHUNK = 256 << 10;

export class ByteWorker {
  private counter: Thread | undefined;
  private copier: Thread | undefined;
  private readonly hashers: Thread[] = [];
  private nextId = 1;
  private closed = false;

  private spawn(onGone: (thread: Thread) => void): Thread {
    if (this.closed) throw new HelperThreadError('the byte worker is closed');
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'dsa-bytes' });
    worker.unref();
    const thread: Thread = { worker, sessions: new Map(), busy: false };
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
    worker.on('exit', (code) => fail(new HelperThreadError(this.closed ? 'the byte worker is closed' : `the byte worker exited with code ${code}`)));
    return thread;
  }

  private countThread(): Thread {
    this.counter ??= this.spawn((thread) => {
      if (this.counter === thread) this.counter = undefined;
    });
    return this.counter;
  }

  /**
   * A hasher on a helper thread of its own, fed through a ring in shared memory: each
   * `update` copies the chunk in (waiting only while the ring is full) and wakes the thread,
   * so the hash runs beside the socket reads and file writes rather than between them.
   * Undefined when every hash thread is taken.
   */
  hasher(): StreamHasher | undefined {
    let thread = this.hashers.find((t) => !t.busy);
    if (!thread) {
      if (this.hashers.length >= HASH_THREADS) return undefined;
      thread = this.spawn((gone) => {
        const at = this.hashers.indexOf(gone);
        if (at >= 0) this.hashers.splice(at, 1);
      });
      this.hashers.push(thread);
    }
    thread.busy = true;
    thread.ring ??= (() => {
      const data = new SharedArrayBuffer(RING_BYTES);
      return { data, bytes: new Uint8Array(data) };
    })();
    const { worker, sessions } = thread;
    const ring = thread.ring.bytes;
    const owner = thread;
    // pos: [written, hashed] bytes; sig: [write sequence, hash sequence, state (1 end, 2 drop)].
    const pos = new BigInt64Array(new SharedArrayBuffer(16));
    const sig = new Int32Array(new SharedArrayBuffer(12));
    const id = this.nextId++;
    let written = 0;
    let dropped = false;
    let failure: Error | undefined;
    let onFailed: ((error: Error) => void) | undefined;
    let digest: { resolve(hex: string): void; reject(error: Error): void } | undefined;
    const release = () => {
      sessions.delete(id);
      owner.busy = false;
    };
    sessions.set(id, {
      onReply: (reply) => {
        if (reply.t === 'digest') {
          release();
          digest?.resolve(reply.hex);
        } else if (reply.t === 'dropped') release();
      },
      onFailure: (error) => {
        failure = error;
        onFailed?.(error);
        digest?.reject(error);
      },
    });
    worker.postMessage({ t: 'ring', id, ring: thread.ring.data, pos: pos.buffer, sig: sig.buffer });
    const signal = (state?: number) => {
      if (state) Atomics.store(sig, 2, state);
      Atomics.add(sig, 0, 1);
      Atomics.notify(sig, 0);
    };
    /** Copies what fits of `bytes` from `offset`; returns the offset reached. */
    const copy = (bytes: Uint8Array, offset: number): number => {
      while (offset < bytes.length) {
        const space = ring.length - (written - Number(Atomics.load(pos, 1)));
        if (space === 0) break;
        const at = written % ring.length;
        const n = Math.min(space, bytes.length - offset, ring.length - at);
        ring.set(bytes.subarray(offset, offset + n), at);
        offset += n;
        written += n;
        Atomics.store(pos, 0, BigInt(written));
        signal();
      }
      return offset;
    };
    const whenSpace = (): Promise<void> => {
      const seen = Atomics.load(sig, 1);
      if (ring.length - (written - Number(Atomics.load(pos, 1))) > 0) return Promise.resolve();
      // Node has had Atomics.waitAsync since 16; TypeScript's lib here predates it.
      const wait = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string } }).waitAsync(sig, 1, seen);
      const woken = wait.async ? (wait.value as Promise<string>).then(() => undefined) : Promise.resolve();
      return Promise.race([woken, new Promise<void>((_, reject) => (onFailed = reject))]);
    };
    return {
      update(bytes) {
        if (failure) return Promise.reject(failure);
        let offset = copy(bytes, 0);
        if (offset === bytes.length) return Promise.resolve();
        return (async () => {
          while (offset < bytes.length && !dropped) {
            await whenSpace();
            if (!dropped) offset = copy(bytes, offset);
          }
        })();
      },
      digest() {
        if (failure) return Promise.reject(failure);
        return new Promise<string>((resolve, reject) => {
          digest = { resolve, reject };
          signal(1);
        });
      },
      abort() {
        if (failure || digest || dropped) return;
        dropped = true;
        signal(2);
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

  /**
   * Copies `source` to `target` (created or overwritten) on the copy thread; undefined when
   * that thread is copying another file (the caller copies on its own then), so concurrent
   * clones never queue behind each other. Rejects with the file system's error (its `code`
   * kept), or a HelperThreadError when the thread is gone.
   */
  copyFile(source: string, target: string): Promise<void> | undefined {
    if (this.closed) return undefined;
    this.copier ??= this.spawn((thread) => {
      if (this.copier === thread) this.copier = undefined;
    });
    const thread = this.copier;
    if (thread.busy) return undefined;
    thread.busy = true;
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        thread.sessions.delete(id);
        thread.busy = false;
      };
      thread.sessions.set(id, {
        onReply: (reply) => {
          done();
          if (reply.t === 'copied') resolve();
          else if (reply.t === 'failed') reject(Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}));
        },
        onFailure: (error) => {
          done();
          reject(error);
        },
      });
      thread.worker.postMessage({ t: 'copy', id, source, target, chunk: COPY_CHUNK });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const threads = [...this.hashers, ...(this.counter ? [this.counter] : []), ...(this.copier ? [this.copier] : [])];
    this.hashers.length = 0;
    this.counter = undefined;
    this.copier = undefined;
    // Each thread is stopped before its sessions fail (its exit fails them): a copy failed
    // while its thread still wrote would let the caller copy into the same file beside it.
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
    for (const thread of threads) {
      const sessions = [...thread.sessions.values()];
      thread.sessions.clear();
      for (const session of sessions) session.onFailure(new HelperThreadError('the byte worker is closed'));
    }
  }
}
