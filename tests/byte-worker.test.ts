// The byte worker's copy thread and shutdown: a copy cut short by close() must fail only
// once its thread has stopped, or the caller's fallback copy (clone.ts, bufferedCopy) would
// write into the same file while the thread still did.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ByteWorker, HelperThreadError } from '../src/storage/byte-worker.ts';

describe('ByteWorker.copyFile and close()', () => {
  it('a copy cut by close() fails after its thread has exited, and nothing writes the target after that', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsa-bw-'));
    const source = join(dir, 'source.bin');
    const target = join(dir, 'target.bin');
    try {
      await writeFile(source, Buffer.alloc(64 << 20, 7));
      const worker = new ByteWorker();
      const copying = worker.copyFile(source, target);
      expect(copying).toBeDefined();
      const thread = (worker as unknown as { copier: { worker: Worker } }).copier.worker;
      const events: string[] = [];
      thread.once('exit', () => events.push('thread exited'));
      const failed = copying!.then(
        () => events.push('copied'),
        (error: unknown) => {
          events.push(error instanceof HelperThreadError ? 'copy failed' : `other error: ${String(error)}`);
        },
      );
      await worker.close();
      await failed;
      expect(events).toEqual(['thread exited', 'copy failed']);
      const size = (await stat(target).catch(() => null))?.size ?? -1;
      // Gone is gone: the stopped thread writes nothing more.
      await new Promise((resolve) => setImmediate(resolve));
      expect((await stat(target).catch(() => null))?.size ?? -1).toBe(size);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a copy that finishes before close() resolves, with the bytes in place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsa-bw-'));
    try {
      await writeFile(join(dir, 'a'), Buffer.from('some bytes to copy'));
      const worker = new ByteWorker();
      await worker.copyFile(join(dir, 'a'), join(dir, 'b'));
      await worker.close();
      expect((await stat(join(dir, 'b'))).size).toBe(18);
      expect(worker.copyFile(join(dir, 'a'), join(dir, 'c'))).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
