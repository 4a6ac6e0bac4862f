/**
 * A streamed response body whose chunks its producer wants back once they are written out,
 * to read the next bytes into instead of allocating (and later garbage-collecting) a new
 * buffer per chunk. Only a writer that knows when a chunk has left the process (the node
 * server, after the socket write's callback) hands chunks back; any other reader of the
 * stream (a test, gzip, a job writing a file) simply keeps them, and the producer allocates.
 */
const RECYCLE = Symbol('recycle');

type Recycler = (chunk: Uint8Array) => void;

/** Marks `stream` as a body whose written chunks may be handed to `recycle`. */
export function recycling<T extends ReadableStream<Uint8Array>>(stream: T, recycle: Recycler): T {
  Object.defineProperty(stream, RECYCLE, { value: recycle });
  return stream;
}

/** The producer's hand-back function of a body marked by `recycling`, if any. */
export function recyclerOf(stream: ReadableStream<Uint8Array> | null | undefined): Recycler | undefined {
  return (stream as { [RECYCLE]?: Recycler } | null | undefined)?.[RECYCLE];
}

/**
 * Fixed-size read buffers of one producer, handed out by `take` and returned by `give` once
 * their bytes are written. A chunk is taken back only if it came from this pool and is out
 * (never twice), and at most `keep` buffers wait for reuse.
 */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  /** Buffers handed out, by their memory; weak, so that chunks a reader keeps are collected as usual. */
  private readonly out = new WeakMap<ArrayBufferLike, Buffer>();

  constructor(
    readonly size: number,
    private readonly keep = 4,
  ) {}

  take(): Buffer {
    const buffer = this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
    this.out.set(buffer.buffer, buffer);
    return buffer;
  }

  /** Gives back a chunk (the whole buffer or a view of it) whose bytes are no longer needed. */
  give(chunk: Uint8Array): void {
    const buffer = this.out.get(chunk.buffer);
    if (!buffer) return;
    this.out.delete(chunk.buffer);
    if (this.free.length < this.keep) this.free.push(buffer);
  }
}
