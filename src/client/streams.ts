/**
 * Request bodies the client streams (imports, file uploads): never read into memory whole.
 * Node's `Readable` is an `AsyncIterable<Uint8Array>`, so `fs.createReadStream(path)` works
 * as it is; so do web `ReadableStream`s, `Blob`s, strings and byte arrays.
 */
export type UploadSource = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>;

/** Bytes moved so far, and the total when it is known. */
export interface TransferProgress {
  bytes: number;
  total: number | null;
}

export type ProgressCallback = (progress: TransferProgress) => void;

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array | string> {
  return value !== null && typeof value === 'object' && Symbol.asyncIterator in value;
}

const encoder = new TextEncoder();

function toBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
}

/** A pull-based stream over an async iterable: the source is read only as fast as the socket takes it. */
function iterableStream(source: AsyncIterable<Uint8Array | string>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(toBytes(next.value));
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
}

/** The size of a source when it can be known without reading it. */
export function knownSize(source: UploadSource): number | null {
  if (typeof source === 'string') return encoder.encode(source).byteLength;
  if (source instanceof Uint8Array) return source.byteLength;
  if (source instanceof ArrayBuffer) return source.byteLength;
  if (typeof Blob !== 'undefined' && source instanceof Blob) return source.size;
  return null;
}

/**
 * The body to hand to fetch. Without a progress callback, fixed-size sources go as they
 * are (fetch sets Content-Length); otherwise everything becomes a stream whose chunks are
 * counted as fetch pulls them.
 */
export function uploadBody(source: UploadSource, onProgress?: ProgressCallback, total: number | null = knownSize(source)): BodyInit {
  if (!onProgress && (typeof source === 'string' || source instanceof Uint8Array || source instanceof ArrayBuffer || (typeof Blob !== 'undefined' && source instanceof Blob))) {
    return source as BodyInit;
  }
  let stream: ReadableStream<Uint8Array>;
  if (typeof source === 'string' || source instanceof Uint8Array || source instanceof ArrayBuffer) {
    stream = new Blob([source as BlobPart]).stream();
  } else if (typeof Blob !== 'undefined' && source instanceof Blob) {
    stream = source.stream();
  } else if (source instanceof ReadableStream) {
    stream = source;
  } else if (isAsyncIterable(source)) {
    stream = iterableStream(source);
  } else {
    throw new TypeError('Unsupported upload source: pass a string, bytes, a Blob, a ReadableStream or an async iterable (a Node stream)');
  }
  return onProgress ? countBytes(stream, onProgress, total) : stream;
}

/** Passes a stream through, reporting the running byte count (and once more at the end). */
export function countBytes(stream: ReadableStream<Uint8Array>, onProgress: ProgressCallback, total: number | null): ReadableStream<Uint8Array> {
  let bytes = 0;
  const reader = stream.getReader();
  onProgress({ bytes, total });
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await reader.read();
      if (next.done) {
        onProgress({ bytes, total: total ?? bytes });
        controller.close();
        return;
      }
      bytes += next.value.byteLength;
      onProgress({ bytes, total });
      controller.enqueue(next.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
