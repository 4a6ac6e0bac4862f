// A body refused before its staging file is even open must leave no file behind (CI once
// found `import-{uuid}.csv` left in files/ after a 413 on a busy machine: the write stream's
// background open created the file after the handler had already removed its name).
import fs from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { saveDownload } from '../src/client/index.ts';
import { pipeIntoNewFile } from '../src/storage/file-sink.ts';
import { makeApp, walk, type TestApp } from './helpers.ts';

const realOpen = fs.open;

/** Makes every fs.open of a path below `dir` start `ms` later, as on a machine whose I/O threads are all taken. */
function slowOpensBelow(dir: string, ms: number): void {
  (fs as { open: unknown }).open = (path: fs.PathLike, ...rest: unknown[]) => {
    const later = () => (realOpen as (...args: unknown[]) => void)(path, ...rest);
    if (String(path).startsWith(dir)) setTimeout(later, ms);
    else later();
  };
}

/** A body that never ends, its first chunk already over any small limit. */
const endless = () => {
  const chunk = new TextEncoder().encode(`id,name\n${'1,abc\n'.repeat(1000)}`);
  return new ReadableStream<Uint8Array>({ pull: (controller) => controller.enqueue(chunk) });
};

/** Lets a late open (and anything it would create) happen before the folder is read. */
const afterLateOpens = () => new Promise((resolve) => setTimeout(resolve, 150));

afterEach(() => {
  (fs as { open: unknown }).open = realOpen;
});

describe('a stream into a new file that fails before the file is open', () => {
  it('settles only after the file is closed, so removing its name then leaves nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsa-sink-'));
    try {
      slowOpensBelow(dir, 50);
      const path = join(dir, 'staged.csv');
      const failing = new Readable({ read() { this.destroy(new Error('over the limit')); } });
      await expect(pipeIntoNewFile(path, [failing])).rejects.toThrow('over the limit');
      await rm(path, { force: true });
      await afterLateOpens();
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a client download cut off before its partial file is open', () => {
  it('fails with stream_failed and leaves no partial file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsa-sink-'));
    try {
      slowOpensBelow(dir, 50);
      const body = new ReadableStream<Uint8Array>({ pull: (controller) => controller.error(new Error('server went away')) });
      const download = { body, contentType: 'text/csv', filename: null, size: null, response: new Response(null) };
      await expect(saveDownload(download, join(dir, 'out.csv'))).rejects.toMatchObject({ code: 'stream_failed' });
      await afterLateOpens();
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('refused bodies with slow opens leave nothing in files/', () => {
  let t: TestApp;
  afterEach(async () => {
    (fs as { open: unknown }).open = realOpen;
    await t?.close();
  });

  it('a synchronous import over MAX_IMPORT_BYTES: 413 and no staging file', async () => {
    t = await makeApp({ env: { MAX_IMPORT_BYTES: '1000' } });
    await t.createProject('p1');
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } });
    const created = await t.callJson('POST', '/projects/p1/buckets/b1/tables', { body: { name: 'people', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'name', type: 'VARCHAR' }] } });
    expect(created.status).toBe(201);
    slowOpensBelow(t.services.paths.filesDir, 50);
    const { status, body } = await t.callJson('POST', '/projects/p1/buckets/b1/tables/people/import', { raw: endless() });
    expect(status).toBe(413);
    expect(body.detail.error).toBe('payload_too_large');
    await afterLateOpens();
    expect(await readdir(t.services.paths.filesDir)).toEqual([]);
  });

  it('an upload over MAX_FILE_BYTES: 413, no file and no record', async () => {
    t = await makeApp({ env: { MAX_FILE_BYTES: '1000' } });
    await t.createProject('p1');
    const before = await walk(t.services.paths.filesDir);
    slowOpensBelow(t.services.paths.filesDir, 50);
    const { status, body } = await t.callJson('POST', '/projects/p1/files?name=big.csv', { raw: endless() });
    expect(status).toBe(413);
    expect(body.detail.error).toBe('payload_too_large');
    await afterLateOpens();
    expect(await walk(t.services.paths.filesDir)).toEqual(before);
    expect(t.services.files.list('p1')).toEqual([]);
  });
});
