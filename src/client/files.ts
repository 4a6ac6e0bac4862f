// Helpers that move local files through the client: a file is streamed from or to disk,
// never held in memory whole.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import { StorageApiError } from './errors.ts';
import { countBytes, type ProgressCallback } from './streams.ts';
import type { Download } from './types.ts';

/** What a local file's name says about its bytes: §8's content types, and `.gz` as gzip. */
export function describeLocalFile(path: string): { contentType: string; contentEncoding?: 'gzip'; format: 'csv' | 'ndjson' | 'parquet' | null } {
  let name = basename(path).toLowerCase();
  const gzip = name.endsWith('.gz');
  if (gzip) name = name.slice(0, -3);
  const encoding = gzip ? { contentEncoding: 'gzip' as const } : {};
  if (name.endsWith('.ndjson') || name.endsWith('.jsonl')) return { contentType: 'application/x-ndjson', format: 'ndjson', ...encoding };
  if (name.endsWith('.parquet')) return { contentType: 'application/vnd.apache.parquet', format: 'parquet', ...encoding };
  if (name.endsWith('.csv') || name.endsWith('.tsv')) return { contentType: 'text/csv', format: 'csv', ...encoding };
  return { contentType: 'application/octet-stream', format: null, ...encoding };
}

/** A local file as an upload: its stream and its size (for progress). */
export async function openLocalFile(path: string): Promise<{ stream: Readable; size: number }> {
  const info = await stat(path);
  if (!info.isFile()) throw new Error(`${path} is not a file`);
  return { stream: createReadStream(path), size: info.size };
}

/**
 * Writes a download to `path`: into a temporary file beside it, renamed when complete, so
 * a cut stream never leaves a file that looks whole.
 */
export async function saveDownload(download: Download, path: string, onProgress?: ProgressCallback): Promise<{ bytes: number; path: string }> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.part`);
  let bytes = 0;
  const counted = countBytes(
    download.body,
    (progress) => {
      bytes = progress.bytes;
      onProgress?.(progress);
    },
    download.size,
  );
  const sink = createWriteStream(temporary, { mode: 0o644 });
  try {
    await pipeline(Readable.fromWeb(counted as unknown as NodeWebStream<Uint8Array>), sink);
    await rename(temporary, path);
  } catch (error) {
    // The sink opens its file in the background; removed before that, the file would come back.
    if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
    await rm(temporary, { force: true });
    if (error instanceof StorageApiError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    // A read error means the server cut the stream (§8: a failed export aborts the connection).
    throw new StorageApiError(0, 'stream_failed', `The download stopped after ${bytes} bytes: ${reason}`, { bytes }, download.response.headers.get('x-request-id'), { cause: error });
  }
  return { bytes, path };
}
