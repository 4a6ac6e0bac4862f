import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import { saveDownload, type Download } from '../../client/index.ts';
import type { CliContext } from '../context.ts';
import { formatBytes } from '../output.ts';
import { transferBar } from '../progress.ts';

/** A streamed answer into a file (with a progress bar) or to stdout (the bytes only). */
export async function downloadTo(ctx: CliContext, download: Download, output: string | undefined): Promise<void> {
  if (output && output !== '-') {
    const bar = transferBar(ctx, 'Downloading');
    let saved;
    try {
      saved = await saveDownload(download, output, (p) => bar.update(p));
    } finally {
      bar.stop();
    }
    if (ctx.json) ctx.printJson({ path: saved.path, bytes: saved.bytes, content_type: download.contentType, filename: download.filename });
    else ctx.out(`Wrote ${formatBytes(saved.bytes)} to ${saved.path}`);
    return;
  }
  try {
    await pipeline(Readable.fromWeb(download.body as unknown as NodeWebStream<Uint8Array>), ctx.io.stdout, { end: false });
  } catch (error) {
    // A reader that stopped early (`| head`) is not a failure.
    if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
  }
}
