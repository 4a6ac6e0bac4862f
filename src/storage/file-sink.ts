import { createWriteStream } from 'node:fs';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Pipes `streams` into a file created for it (`wx`: never over an existing one). On failure
 * it settles only once the file's descriptor is closed. The write stream opens its file in
 * the background, so a stream that fails before that open is done (a body refused at its
 * first chunk) would otherwise let the caller remove the name first and the open create
 * the file after it, left behind.
 */
export async function pipeIntoNewFile(path: string, streams: [Readable, ...Transform[]], options: { highWaterMark?: number; signal?: AbortSignal } = {}): Promise<void> {
  const sink = createWriteStream(path, { flags: 'wx', highWaterMark: options.highWaterMark });
  try {
    const stages: NodeJS.ReadWriteStream[] = [...(streams as NodeJS.ReadWriteStream[]), sink as unknown as NodeJS.ReadWriteStream];
    await (pipeline as (...args: unknown[]) => Promise<void>)(...stages, { signal: options.signal });
  } catch (error) {
    if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
    throw error;
  }
}
