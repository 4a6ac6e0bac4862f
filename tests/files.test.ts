// CONTRACT §15: files kept by the service.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer, IncomingMessage, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { startServer, type RunningServer } from '../src/server.ts';
import { ByteWorker, HelperThreadError, inlineHasher } from '../src/storage/byte-worker.ts';
import { createServerAdapter } from '@whatwg-node/server';
import { createApp } from '../src/app.ts';
import { bodyStream, writeStaging } from '../src/storage/files.ts';
import { ADMIN_KEY, captureLogger, makeApp, manualClock, testConfig, walk, type TestApp } from './helpers.ts';

const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** A body that sends `chunks` and then breaks off, as a client that goes away mid-upload. */
function brokenBody(chunks: string[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(new TextEncoder().encode(chunks[i++]!));
      else controller.error(new Error('client went away'));
    },
  });
}

describe('§15 files', () => {
  let t: TestApp;
  const P = '/projects/p1';
  const clock = manualClock();

  async function upload(query: string, body: BodyInit, headers: Record<string, string> = {}) {
    return t.callJson('POST', `${P}/files?${query}`, { raw: body, headers });
  }

  /** Files in the data folder's files/ (staging and stored). */
  const filesOnDisk = () => walk(t.services.paths.filesDir);

  beforeAll(async () => {
    t = await makeApp({ clock, env: { MAX_FILE_BYTES: '1000', FILE_RETENTION_DAYS: '2' } });
    await t.createProject('p1');
    await t.createProject('p2');
  });
  afterAll(() => t.close());

  describe('upload', () => {
    it('stores the bytes as sent and answers 201 with the file object', async () => {
      const data = 'id,name\n1,a\n2,b\n';
      const { status, body, response } = await upload('name=orders.csv&tags=daily,raw', data, { 'content-type': 'text/csv' });
      expect(status).toBe(201);
      expect(body).toEqual({
        id: expect.stringMatching(/^f_[0-9a-f]{12}$/),
        name: 'orders.csv',
        size_bytes: data.length,
        content_type: 'text/csv',
        content_encoding: null,
        sha256: sha(data),
        tags: ['daily', 'raw'],
        is_permanent: false,
        created_at: clock.now().toISOString(),
        expires_at: new Date(clock.now().getTime() + 2 * 86_400_000).toISOString(),
      });
      expect(response.headers.get('location')).toBe(`${P}/files/${body.id}`);
      const stored = join(t.dataDir, 'files', 'project_p1', body.id);
      expect(await readFile(stored, 'utf8')).toBe(data);
      expect(t.services.files.get('p1', body.id)).toBeDefined();
    });

    it('keeps a gzip body compressed and records its Content-Encoding; the type defaults to octet-stream', async () => {
      const gz = gzipSync('a,b\n1,2\n');
      const { status, body } = await upload('name=x.csv.gz', new Uint8Array(gz), { 'content-encoding': 'gzip' });
      expect(status).toBe(201);
      expect(body.content_type).toBe('application/octet-stream');
      expect(body.content_encoding).toBe('gzip');
      expect(body.size_bytes).toBe(gz.length);
      expect(body.sha256).toBe(sha(gz));
      expect(Buffer.compare(await readFile(join(t.dataDir, 'files', 'project_p1', body.id)), gz)).toBe(0);
    });

    it('accepts an empty file and a permanent one (no expiry)', async () => {
      const { status, body } = await upload('name=empty&permanent=true', new Uint8Array(0));
      expect(status).toBe(201);
      expect(body).toMatchObject({ size_bytes: 0, is_permanent: true, expires_at: null, sha256: sha('') });
    });

    it('413 for a body over MAX_FILE_BYTES, declared or streamed, and leaves nothing', async () => {
      const before = await filesOnDisk();
      const count = t.services.files.list('p1').length;
      const big = 'x'.repeat(1001);
      const declared = await upload('name=big', big);
      expect(declared.status).toBe(413);
      expect(declared.body.detail.error).toBe('payload_too_large');
      // Streamed without a length: refused once the 1001st byte arrives.
      const streamed = await upload('name=big', new Blob([big]).stream());
      expect(streamed.status).toBe(413);
      expect(await filesOnDisk()).toEqual(before);
      expect(t.services.files.list('p1').length).toBe(count);
      // Exactly the limit is fine.
      expect((await upload('name=fits', 'x'.repeat(1000))).status).toBe(201);
    });

    it('an interrupted upload leaves no file and no record', async () => {
      const before = await filesOnDisk();
      const count = t.services.files.list('p1').length;
      const { status, body } = await upload('name=cut', brokenBody(['abc', 'def']));
      expect(status).toBe(400);
      expect(body.detail.error).toBe('upload_failed');
      expect(await filesOnDisk()).toEqual(before);
      expect(t.services.files.list('p1').length).toBe(count);
    });

    it.each([
      ['no name', 'tags=a'],
      ['an empty name', 'name='],
      ['a slash in the name', 'name=a/b'],
      ['a backslash in the name', 'name=a%5Cb'],
      ['a control character in the name', 'name=a%01b'],
      ['a name of 256 characters', `name=${'n'.repeat(256)}`],
      ['a bad tag', 'name=a&tags=ok,b%20ad'],
      ['an empty tag', 'name=a&tags=a,,b'],
      ['21 tags', `name=a&tags=${Array.from({ length: 21 }, (_, i) => `t${i}`).join(',')}`],
      ['a tag of 65 characters', `name=a&tags=${'t'.repeat(65)}`],
      ['permanent=maybe', 'name=a&permanent=maybe'],
    ])('422 for %s, and nothing stored', async (_why, query) => {
      const before = await filesOnDisk();
      const { status, body } = await upload(query, 'data');
      expect(status).toBe(422);
      expect(body.detail.error).toBe('validation_error');
      expect(await filesOnDisk()).toEqual(before);
    });

    it('accepts names with spaces, quotes and non-ASCII letters, and 255 characters', async () => {
      for (const name of ['my file "v2".csv', 'Übersicht – 2026.csv', 'n'.repeat(255)]) {
        const { status, body } = await upload(`name=${encodeURIComponent(name)}`, 'x');
        expect(status, name).toBe(201);
        expect(body.name).toBe(name);
      }
    });

    it('404 project_not_found for a missing project', async () => {
      const { status, body } = await t.callJson('POST', '/projects/nope/files?name=a', { raw: 'x' });
      expect(status).toBe(404);
      expect(body.detail.error).toBe('project_not_found');
    });
  });

  describe('list and get', () => {
    let ids: string[];
    beforeAll(async () => {
      ids = [];
      for (const [name, tags] of [['l1', 'listing,a'], ['l2', 'listing,b'], ['l3', 'listing,a,b']] as const) {
        clock.advance(1000);
        ids.push((await upload(`name=${name}&tags=${tags}`, name)).body.id);
      }
      await t.callJson('POST', '/projects/p2/files?name=p2file', { raw: 'p2' });
    });

    it('lists newest first with total, and filters by all of the given tags', async () => {
      const all = await t.callJson('GET', `${P}/files?tags=listing`);
      expect(all.status).toBe(200);
      expect(all.body.files.map((f: any) => f.name)).toEqual(['l3', 'l2', 'l1']);
      expect(all.body.total).toBe(3);
      const ab = await t.callJson('GET', `${P}/files?tags=a,b`);
      expect(ab.body.files.map((f: any) => f.name)).toEqual(['l3']);
      const none = await t.callJson('GET', `${P}/files?tags=a,zzz`);
      expect(none.body).toEqual({ files: [], total: 0 });
    });

    it('pages with limit and offset; total counts the filter', async () => {
      const page = await t.callJson('GET', `${P}/files?tags=listing&limit=1&offset=1`);
      expect(page.body.files.map((f: any) => f.name)).toEqual(['l2']);
      expect(page.body.total).toBe(3);
      const everything = await t.callJson('GET', `${P}/files?limit=1000`);
      expect(everything.body.total).toBe(t.services.files.list('p1').length);
      // Files of another project are not listed.
      expect(everything.body.files.some((f: any) => f.name === 'p2file')).toBe(false);
    });

    it.each(['limit=0', 'limit=1001', 'offset=-1', 'limit=x', 'tags=bad%20tag'])('422 for %s', async (query) => {
      const { status, body } = await t.callJson('GET', `${P}/files?${query}`);
      expect(status).toBe(422);
      expect(body.detail.error).toBe('validation_error');
    });

    it('gets one file; 404 file_not_found for an unknown id or one of another project', async () => {
      const got = await t.callJson('GET', `${P}/files/${ids[0]}`);
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ id: ids[0], name: 'l1', tags: ['listing', 'a'] });
      const unknown = await t.callJson('GET', `${P}/files/f_000000000000`);
      expect(unknown.status).toBe(404);
      expect(unknown.body.detail).toMatchObject({ error: 'file_not_found', details: { file_id: 'f_000000000000' } });
      const p2 = (await t.callJson('GET', '/projects/p2/files')).body.files[0].id;
      expect((await t.callJson('GET', `${P}/files/${p2}`)).status).toBe(404);
      expect((await t.callJson('GET', `${P}/files/nonexistent`)).status).toBe(404);
      expect((await t.callJson('GET', `${P}/files/a.b`)).status).toBe(422);
    });
  });

  describe('download', () => {
    const data = '0123456789abcdefghij';
    let id: string;
    let url: string;
    beforeAll(async () => {
      id = (await upload('name=digits%20"x".txt', data, { 'content-type': 'text/plain; charset=utf-8' })).body.id;
      url = `${P}/files/${id}/download`;
    });

    it('streams the bytes with type, length, ETag and Content-Disposition', async () => {
      const response = await t.call('GET', url);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(data);
      expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(response.headers.get('content-length')).toBe(String(data.length));
      expect(response.headers.get('etag')).toBe(`"${sha(data)}"`);
      expect(response.headers.get('content-disposition')).toBe('attachment; filename="digits \\"x\\".txt"');
      expect(response.headers.get('accept-ranges')).toBe('bytes');
    });

    it.each([
      ['bytes=0-4', 0, 4],
      ['bytes=5-9', 5, 9],
      ['bytes=15-', 15, 19],
      ['bytes=-3', 17, 19],
      ['bytes=10-1000', 10, 19],
      ['bytes=-1000', 0, 19],
      ['bytes=19-19', 19, 19],
    ])('206 for Range %s', async (range, start, end) => {
      const response = await t.call('GET', url, { headers: { range } });
      expect(response.status).toBe(206);
      expect(await response.text()).toBe(data.slice(start, end + 1));
      expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${data.length}`);
      expect(response.headers.get('content-length')).toBe(String(end - start + 1));
      expect(response.headers.get('etag')).toBe(`"${sha(data)}"`);
    });

    it.each(['bytes=20-', 'bytes=25-30', 'bytes=-0'])('416 for Range %s, with the size in Content-Range', async (range) => {
      const response = await t.call('GET', url, { headers: { range } });
      expect(response.status).toBe(416);
      expect(response.headers.get('content-range')).toBe(`bytes */${data.length}`);
      expect((await response.json()).detail.error).toBe('range_not_satisfiable');
    });

    it.each(['items=0-1', 'bytes=5-2', 'bytes=0-1,4-5', 'bytes=abc', 'bytes=-'])('ignores a Range it does not serve (%s): 200 with everything', async (range) => {
      const response = await t.call('GET', url, { headers: { range } });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(data);
    });

    it('any range of an empty file is unsatisfiable; the whole empty file is 200', async () => {
      const empty = (await upload('name=e', new Uint8Array(0))).body.id;
      const whole = await t.call('GET', `${P}/files/${empty}/download`);
      expect(whole.status).toBe(200);
      expect(await whole.text()).toBe('');
      expect((await t.call('GET', `${P}/files/${empty}/download`, { headers: { range: 'bytes=0-' } })).status).toBe(416);
    });

    it('304 for a matching If-None-Match; If-Range with another tag gets the whole file', async () => {
      const etag = `"${sha(data)}"`;
      expect((await t.call('GET', url, { headers: { 'if-none-match': etag } })).status).toBe(304);
      const stale = await t.call('GET', url, { headers: { range: 'bytes=0-1', 'if-range': '"other"' } });
      expect(stale.status).toBe(200);
      const fresh = await t.call('GET', url, { headers: { range: 'bytes=0-1', 'if-range': etag } });
      expect(fresh.status).toBe(206);
    });

    it('serves a gzip upload as its stored bytes, not decoded', async () => {
      const gz = gzipSync('hello');
      const gid = (await upload('name=h.gz', new Uint8Array(gz), { 'content-encoding': 'gzip', 'content-type': 'application/gzip' })).body.id;
      const response = await t.call('GET', `${P}/files/${gid}/download`);
      expect(response.headers.get('content-encoding')).toBeNull();
      expect(Buffer.compare(Buffer.from(await response.arrayBuffer()), gz)).toBe(0);
    });

    it('names a non-ASCII file both ways in Content-Disposition', async () => {
      const nid = (await upload(`name=${encodeURIComponent('čísla.csv')}`, 'x')).body.id;
      const response = await t.call('GET', `${P}/files/${nid}/download`);
      expect(response.headers.get('content-disposition')).toBe(`attachment; filename="__sla.csv"; filename*=UTF-8''${encodeURIComponent('čísla.csv')}`);
    });

    it('404 file_not_found for an unknown file', async () => {
      const response = await t.call('GET', `${P}/files/f_000000000000/download`);
      expect(response.status).toBe(404);
      expect((await response.json()).detail.error).toBe('file_not_found');
    });
  });

  describe('delete', () => {
    it('204, then the file is gone from the API and the disk; a second delete is 404', async () => {
      const id = (await upload('name=doomed', 'bye')).body.id;
      const path = join(t.dataDir, 'files', 'project_p1', id);
      expect(existsSync(path)).toBe(true);
      expect((await t.call('DELETE', `${P}/files/${id}`)).status).toBe(204);
      expect(existsSync(path)).toBe(false);
      expect((await t.callJson('GET', `${P}/files/${id}`)).status).toBe(404);
      const again = await t.callJson('DELETE', `${P}/files/${id}`);
      expect(again.status).toBe(404);
      expect(again.body.detail.error).toBe('file_not_found');
    });
  });

  describe('expiry', () => {
    it('the sweeper deletes files past expires_at, keeps permanent and younger ones', async () => {
      const local = manualClock(new Date('2027-01-01T00:00:00.000Z'));
      const e = await makeApp({ clock: local, env: { FILE_RETENTION_DAYS: '1' } });
      try {
        await e.createProject('x');
        const old = (await e.callJson('POST', '/projects/x/files?name=old', { raw: 'o' })).body;
        const keep = (await e.callJson('POST', '/projects/x/files?name=keep&permanent=true', { raw: 'k' })).body;
        local.advance(12 * 3600_000);
        const young = (await e.callJson('POST', '/projects/x/files?name=young', { raw: 'y' })).body;
        local.set(new Date(old.expires_at));
        await e.services.sweeper.runNow();
        const names = (await e.callJson('GET', '/projects/x/files')).body.files.map((f: any) => f.name);
        expect(names).toEqual(['young', 'keep']);
        expect(existsSync(join(e.dataDir, 'files', 'project_x', old.id))).toBe(false);
        expect(existsSync(join(e.dataDir, 'files', 'project_x', keep.id))).toBe(true);
        local.advance(365 * 86_400_000);
        await e.services.sweeper.runNow();
        expect((await e.callJson('GET', '/projects/x/files')).body.files.map((f: any) => f.id)).toEqual([keep.id]);
        expect(young.id).toBeTruthy();
      } finally {
        await e.close();
      }
    });
  });

  describe('restarts and project deletion', () => {
    it('stored files survive a restart; staging, unrecorded files and orphan records are cleaned up', async () => {
      const first = await makeApp();
      const root = first.root;
      await first.createProject('r');
      const kept = (await first.callJson('POST', '/projects/r/files?name=kept&tags=t', { raw: 'keep me' })).body;
      const orphanRecord = (await first.callJson('POST', '/projects/r/files?name=gone', { raw: 'x' })).body;
      const torn = (await first.callJson('POST', '/projects/r/files?name=torn', { raw: 'all of it' })).body;
      await first.services.close();
      const files = join(root, 'data', 'files');
      // Leftovers of a killed process: staging, a file whose record was never written, a
      // record whose file vanished, and the files of a project that no longer exists.
      await writeFile(join(files, 'upload-0b3c2f'), 'partial');
      await writeFile(join(files, 'project_r', 'f_aaaaaaaaaaaa'), 'unrecorded');
      await rm(join(files, 'project_r', orphanRecord.id));
      // Uploads are not fsynced: a power cut can leave a recorded file short of its bytes.
      await writeFile(join(files, 'project_r', torn.id), 'all');
      await mkdir(join(files, 'project_ghost'));
      await writeFile(join(files, 'project_ghost', 'f_bbbbbbbbbbbb'), 'ghost');

      const second = await makeApp({ root });
      try {
        const got = await second.callJson('GET', `/projects/r/files/${kept.id}`);
        expect(got.status).toBe(200);
        expect(got.body).toEqual(kept);
        expect(await (await second.call('GET', `/projects/r/files/${kept.id}/download`)).text()).toBe('keep me');
        expect((await second.callJson('GET', `/projects/r/files/${orphanRecord.id}`)).status).toBe(404);
        expect((await second.callJson('GET', `/projects/r/files/${torn.id}`)).status).toBe(404);
        expect(await walk(files)).toEqual(['project_r', `project_r/${kept.id}`]);
      } finally {
        await second.services.close();
        await rm(root, { recursive: true, force: true });
      }
    });

    it('deleting the project deletes its files', async () => {
      await t.createProject('doomed');
      const id = (await t.callJson('POST', '/projects/doomed/files?name=a', { raw: 'a' })).body.id;
      expect(existsSync(join(t.dataDir, 'files', 'project_doomed', id))).toBe(true);
      expect((await t.call('DELETE', '/projects/doomed')).status).toBe(204);
      expect(existsSync(join(t.dataDir, 'files', 'project_doomed'))).toBe(false);
      expect(t.services.files.list('doomed')).toEqual([]);
      expect((await readdir(join(t.dataDir, 'files'))).includes('project_doomed')).toBe(false);
    });
  });
});

describe('§15 over a real socket', () => {
  let running: RunningServer;
  let root: string;
  const auth = { authorization: `Bearer ${ADMIN_KEY}` };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-files-http-'));
    running = await startServer(testConfig(join(root, 'data'), { PORT: '0', HOST: '127.0.0.1', MAX_FILE_BYTES: '100000' }), captureLogger().logger);
    await fetch(`${running.url}/projects`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'h' }) });
  });
  afterAll(async () => {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** A POST whose body is written by hand: `declared` as Content-Length, then `chunks`, then maybe a cut. */
  function rawUpload(path: string, declared: number | undefined, chunks: Buffer[], cut?: () => Promise<void>): Promise<{ status: number; text: string }> {
    return new Promise((resolve) => {
      const headers: Record<string, string> = { ...auth, 'content-type': 'text/csv' };
      if (declared !== undefined) headers['content-length'] = String(declared);
      const req = httpRequest(`${running.url}${path}`, { method: 'POST', headers }, (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', () => resolve({ status: 0, text: '' }));
      for (const chunk of chunks) req.write(chunk);
      if (cut) void cut().then(() => req.destroy());
      else req.end();
    });
  }

  it('uploads, downloads whole and by range, with the headers the contract names', async () => {
    const data = Buffer.from('a,b\n'.repeat(5000));
    const up = await fetch(`${running.url}/projects/h/files?name=ab.csv`, { method: 'POST', headers: { ...auth, 'content-type': 'text/csv' }, body: data });
    expect(up.status).toBe(201);
    const file = await up.json();
    expect(file.size_bytes).toBe(data.length);
    const whole = await fetch(`${running.url}/projects/h/files/${file.id}/download`, { headers: auth });
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-length')).toBe(String(data.length));
    expect(whole.headers.get('etag')).toBe(`"${sha(data)}"`);
    expect(Buffer.compare(Buffer.from(await whole.arrayBuffer()), data)).toBe(0);
    const part = await fetch(`${running.url}/projects/h/files/${file.id}/download`, { headers: { ...auth, range: 'bytes=4-11' } });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('a,b\na,b\n');
  });

  it('413 for a declared Content-Length over MAX_FILE_BYTES, and for a body that grows past it; nothing stored', async () => {
    const declared = await rawUpload('/projects/h/files?name=big', 200_000, [Buffer.alloc(200_000, 120)]);
    expect(declared.status).toBe(413);
    const grown = await rawUpload('/projects/h/files?name=big', undefined, [Buffer.alloc(60_000, 120), Buffer.alloc(60_000, 120)]);
    expect(grown.status).toBe(413);
    // Far past the limit: the client still reads the 413 (the server stops reading, it does not cut the socket).
    const far = await rawUpload('/projects/h/files?name=big', undefined, Array.from({ length: 80 }, () => Buffer.alloc(64 * 1024, 120)));
    expect(far.status).toBe(413);
    const names = (await running.services.files.list('h')).map((f) => f.name);
    expect(names).not.toContain('big');
    expect((await walk(running.services.paths.filesDir)).filter((p) => !p.startsWith('project_'))).toEqual([]);
  });

  it('a client that breaks off mid-upload leaves no file and no record', async () => {
    const before = await walk(running.services.paths.filesDir);
    const count = running.services.files.list('h').length;
    // Cut once the server is staging the body.
    const staging = async () => (await readdir(running.services.paths.filesDir)).some((name) => name.startsWith('upload-'));
    await rawUpload('/projects/h/files?name=cut', 50_000, [Buffer.alloc(10_000, 97)], async () => {
      for (let i = 0; i < 1000 && !(await staging()); i++) await new Promise((r) => setTimeout(r, 5));
      expect(await staging()).toBe(true);
    });
    // The server notices the broken socket on its own time: wait (bounded) for the staging file to go.
    for (let i = 0; i < 500; i++) {
      const now = await walk(running.services.paths.filesDir);
      if (JSON.stringify(now) === JSON.stringify(before)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await walk(running.services.paths.filesDir)).toEqual(before);
    expect(running.services.files.list('h').length).toBe(count);
  });
});

describe('§15 downloads a client leaves', () => {
  let running: RunningServer;
  let root: string;
  const auth = { authorization: `Bearer ${ADMIN_KEY}` };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-files-gone-'));
    running = await startServer(testConfig(join(root, 'data'), { PORT: '0', HOST: '127.0.0.1' }), captureLogger().logger);
    await fetch(`${running.url}/projects`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'g' }) });
  });
  afterAll(async () => {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** This process's open descriptors on `path` (Linux), or undefined where they cannot be listed. */
  const openOn = async (path: string): Promise<number | undefined> => {
    let names: string[];
    try {
      names = await readdir('/proc/self/fd');
    } catch {
      return undefined;
    }
    let count = 0;
    for (const name of names) {
      const target = await readlink(`/proc/self/fd/${name}`).catch(() => '');
      if (target === path) count++;
    }
    return count;
  };

  it('a client that hangs up mid-download closes the stored file (whole and by range)', async () => {
    // Larger than the socket buffers: the server is still reading the file when the client goes.
    const data = Buffer.alloc(48 * 1024 * 1024, 97);
    const up = await fetch(`${running.url}/projects/g/files?name=big.bin`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: data });
    expect(up.status).toBe(201);
    const file = await up.json();
    const stored = running.services.paths.storedFile('g', file.id);
    if ((await openOn(stored)) === undefined) return; // no /proc: nothing to count here
    for (const range of [undefined, 'bytes=1024-']) {
      const req = await new Promise<ReturnType<typeof httpRequest>>((resolve, reject) => {
        const headers: Record<string, string> = { ...auth };
        if (range) headers.range = range;
        const made = httpRequest(`${running.url}/projects/g/files/${file.id}/download`, { headers }, (res) => {
          res.once('data', () => {
            res.pause();
            resolve(made);
          });
        });
        made.on('error', () => {});
        made.end();
        setTimeout(() => reject(new Error('no byte of the download arrived')), 30_000).unref();
      });
      // The server is reading the file now…
      expect(await openOn(stored)).toBeGreaterThan(0);
      // …and the client goes.
      req.destroy();
      let left = await openOn(stored);
      for (let i = 0; i < 500 && left; i++) {
        await new Promise((r) => setTimeout(r, 10));
        left = await openOn(stored);
      }
      expect(left, `range ${range}`).toBe(0);
    }
    // And the file is still whole for the next reader.
    const again = await fetch(`${running.url}/projects/g/files/${file.id}/download`, { headers: auth });
    expect(Buffer.from(await again.arrayBuffer()).length).toBe(data.length);
  });
});

describe('§15 writing a stream to staging', () => {
  let root: string;
  const worker = new ByteWorker();
  /** A hasher on a helper thread (a free one is always there here). */
  const threaded = () => {
    const hasher = worker.hasher();
    expect(hasher).toBeDefined();
    return hasher!;
  };
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-staging-'));
  });
  afterAll(async () => {
    await worker.close();
    await rm(root, { recursive: true, force: true });
  });

  /** `total` bytes of varied content in chunks of varied sizes (none lines up with a 2 MiB batch). */
  function chunked(total: number): { data: Buffer; chunks: Buffer[] } {
    const data = Buffer.alloc(total);
    for (let i = 0; i < total; i++) data[i] = (i * 7919 + (i >> 11)) & 0xff;
    const chunks: Buffer[] = [];
    for (let at = 0, k = 1; at < total; k++) {
      const n = Math.min(total - at, ((k * 104_729) % 300_000) + 1);
      chunks.push(data.subarray(at, at + n));
      at += n;
    }
    return { data, chunks };
  }

  it('writes every byte in order and hashes them, on a helper thread (past the end of its ring) or inline', async () => {
    const { data, chunks } = chunked(9 * 1024 * 1024 + 12_345);
    for (const [name, hasher] of [['worker', threaded()], ['inline', inlineHasher()]] as const) {
      const target = join(root, `whole-${name}`);
      const written = await writeStaging(Readable.from(chunks), target, data.length, { hasher });
      expect(written).toEqual({ sizeBytes: data.length, sha256: sha(data) });
      expect(Buffer.compare(await readFile(target), data)).toBe(0);
    }
    const empty = await writeStaging(Readable.from([]), join(root, 'empty'), 10, { hasher: threaded() });
    expect(empty).toEqual({ sizeBytes: 0, sha256: sha('') });
  });

  it('413 once the stream passes the limit, and a stream that breaks off: no staging file either way', async () => {
    const { chunks } = chunked(5 * 1024 * 1024);
    const over = writeStaging(Readable.from(chunks), join(root, 'over'), 3 * 1024 * 1024, { hasher: threaded() });
    await expect(over).rejects.toMatchObject({ status: 413, code: 'payload_too_large' });
    const broken = Readable.from((async function* () {
      yield* chunks.slice(0, 30);
      throw new Error('client went away');
    })());
    await expect(writeStaging(broken, join(root, 'broken'), Number.MAX_SAFE_INTEGER, { hasher: threaded() })).rejects.toThrow('client went away');
    expect(existsSync(join(root, 'over')) || existsSync(join(root, 'broken'))).toBe(false);
    // The helper thread is still fine for the next stream.
    const next = await writeStaging(Readable.from([Buffer.from('after')]), join(root, 'after'), 10, { hasher: threaded() });
    expect(next.sha256).toBe(sha('after'));
  });

  it('an upload whose hash thread dies answers 500 and leaves no file and no record; the next upload is fine', async () => {
    const app = await makeApp();
    try {
      await app.createProject('h');
      const threads = (app.services.byteWorker as unknown as { hashers: { worker: { terminate(): Promise<number> } }[] }).hashers;
      let n = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (n === 3) await threads[0]!.worker.terminate();
          if (n++ < 20) controller.enqueue(new Uint8Array(256 * 1024).fill(n));
          else controller.close();
        },
      });
      const failed = await app.callJson('POST', '/projects/h/files?name=x', { raw: body });
      expect(failed.status).toBe(500);
      expect(failed.body.detail.error).toBe('internal_server_error');
      expect(app.services.files.list('h')).toEqual([]);
      expect((await walk(app.services.paths.filesDir)).filter((p) => !p.startsWith('project_'))).toEqual([]);
      const ok = await app.callJson('POST', '/projects/h/files?name=y', { raw: new Blob(['fine']).stream() });
      expect(ok.status).toBe(201);
      expect(ok.body.sha256).toBe(sha('fine'));
    } finally {
      await app.close();
    }
  });

  it('four streams hash on helper threads at once; a fifth finds none (and is hashed inline); a finished one frees its thread, and a dropped one stops waiting for room', async () => {
    const pool = new ByteWorker();
    try {
      const hashers = Array.from({ length: 4 }, () => pool.hasher());
      expect(hashers.every((h) => h !== undefined)).toBe(true);
      expect(pool.hasher()).toBeUndefined();
      const data = Array.from({ length: 4 }, (_, i) => Buffer.alloc(3 * 1024 * 1024 + i, 97 + i));
      await Promise.all(hashers.map((h, i) => h!.update(data[i]!)));
      expect(await Promise.all(hashers.map((h) => h!.digest()))).toEqual(data.map((d) => sha(d)));
      // A stream dropped while its copy waits for room in the ring: the copy gives up.
      const again = pool.hasher()!;
      const pending = again.update(Buffer.alloc(20 * 1024 * 1024));
      again.abort();
      await pending;
    } finally {
      await pool.close();
    }
  });

  it('a helper thread that dies fails the stream (no staging file); the next stream gets a new thread', async () => {
    const { chunks } = chunked(6 * 1024 * 1024);
    const hasher = threaded();
    let sent = 0;
    const source = Readable.from((async function* () {
      for (const chunk of chunks) {
        // Kill the thread once a few batches are out.
        if ((sent += chunk.length) > 3 * 1024 * 1024 && sent - chunk.length <= 3 * 1024 * 1024) await (worker as unknown as { hashers: { worker: { terminate(): Promise<number> } }[] }).hashers[0]!.worker.terminate();
        yield chunk;
      }
    })());
    await expect(writeStaging(source, join(root, 'dead'), Number.MAX_SAFE_INTEGER, { hasher })).rejects.toThrow(HelperThreadError);
    expect(existsSync(join(root, 'dead'))).toBe(false);
    const next = await writeStaging(Readable.from([Buffer.from('again')]), join(root, 'again'), 10, { hasher: threaded() });
    expect(next.sha256).toBe(sha('again'));
  });
});

describe('§15 the node request body and the Request fallback', () => {
  const LIMIT = 3_000_000;
  let running: RunningServer;
  let root: string;
  let app: ReturnType<typeof createApp>;
  const auth = { authorization: `Bearer ${ADMIN_KEY}` };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-files-paths-'));
    running = await startServer(testConfig(join(root, 'data'), { PORT: '0', HOST: '127.0.0.1', MAX_FILE_BYTES: String(LIMIT) }), captureLogger().logger);
    app = createApp(running.services);
    await fetch(`${running.url}/projects`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'b' }) });
  });
  afterAll(async () => {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** `total` bytes of varied content, and the same cut into chunks of varied sizes. */
  function content(total: number, seed = 1): { data: Buffer; chunks: Buffer[] } {
    const data = Buffer.alloc(total);
    for (let i = 0; i < total; i++) data[i] = (i * 131 + seed * 7 + (i >> 9)) & 0xff;
    const chunks: Buffer[] = [];
    for (let at = 0, k = seed; at < total; k++) {
      const n = Math.min(total - at, ((k * 7_919) % 200_000) + 1);
      chunks.push(data.subarray(at, at + n));
      at += n;
    }
    return { data, chunks };
  }

  /** Over the socket: `declared` as Content-Length (none: chunked), the chunks, then the end or a cut. */
  function overSocket(name: string, declared: number | undefined, chunks: Buffer[], cut = false): Promise<{ status: number; body: any }> {
    return new Promise((resolve) => {
      const headers: Record<string, string> = { ...auth, 'content-type': 'text/csv' };
      if (declared !== undefined) headers['content-length'] = String(declared);
      const req = httpRequest(`${running.url}/projects/b/files?name=${name}`, { method: 'POST', headers }, (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      });
      req.on('error', () => resolve({ status: 0, body: undefined }));
      for (const chunk of chunks) req.write(chunk);
      if (!cut) return void req.end();
      // Cut once the server is staging the body.
      void (async () => {
        for (let i = 0; i < 1000 && (await staging()).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
        req.destroy();
      })();
    });
  }

  /** In process: a Request whose body is a WHATWG stream of the chunks (then an error when `cut`). */
  async function inProcess(name: string, chunks: Buffer[], cut = false): Promise<{ status: number; body: any }> {
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i < chunks.length) controller.enqueue(new Uint8Array(chunks[i++]!));
        else if (cut) controller.error(new Error('client went away'));
        else controller.close();
      },
    });
    const response = await app.fetch(new Request(`http://local.test/projects/b/files?name=${name}`, { method: 'POST', headers: { ...auth, 'content-type': 'text/csv' }, body, duplex: 'half' } as RequestInit));
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  const stored = (id: string) => readFile(running.services.paths.storedFile('b', id));
  const staging = async () => (await walk(running.services.paths.filesDir).catch(() => [] as string[])).filter((p) => !p.startsWith('project_'));
  const names = () => running.services.files.list('b').map((f) => f.name);

  it('behind the node server the handler gets the IncomingMessage itself; a plain Request body is adapted', async () => {
    const seen: string[] = [];
    const adapter = createServerAdapter(async (request) => {
      const source = bodyStream(request.body);
      seen.push(source instanceof IncomingMessage ? 'node' : 'adapted');
      for await (const chunk of source) void chunk;
      return new Response('ok');
    });
    const server = createServer(adapter);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { port } = server.address() as AddressInfo;
      const answer = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'abc' });
      expect(await answer.text()).toBe('ok');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const plain = bodyStream(new Request('http://x/', { method: 'POST', body: 'abc' }).body);
    seen.push(plain instanceof IncomingMessage ? 'node' : 'adapted');
    expect(seen).toEqual(['node', 'adapted']);
  });

  it('stores the same bytes with the same SHA-256 either way, with a length or without', async () => {
    const { data, chunks } = content(2_500_000);
    const answers = [
      await overSocket('declared', data.length, chunks),
      await overSocket('chunked', undefined, chunks),
      await inProcess('stream', chunks),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(201);
      expect(answer.body).toMatchObject({ size_bytes: data.length, sha256: sha(data) });
      expect(Buffer.compare(await stored(answer.body.id), data)).toBe(0);
    }
    expect(await staging()).toEqual([]);
  });

  it('MAX_FILE_BYTES either way: exactly the limit is stored, one byte more is 413 with nothing left', async () => {
    const { data, chunks } = content(LIMIT, 2);
    const over = [...chunks, Buffer.from('!')];
    const before = names();
    expect((await overSocket('over-socket', undefined, over)).status).toBe(413);
    const refused = await inProcess('over-process', over);
    expect(refused.status).toBe(413);
    expect(refused.body.detail.error).toBe('payload_too_large');
    expect(names()).toEqual(before);
    expect(await staging()).toEqual([]);
    for (const fits of [await overSocket('fits-socket', undefined, chunks), await inProcess('fits-process', chunks)]) {
      expect(fits.status).toBe(201);
      expect(fits.body).toMatchObject({ size_bytes: LIMIT, sha256: sha(data) });
    }
  });

  it('an upload broken off half-way leaves no file and no record either way', async () => {
    const { data, chunks } = content(2_000_000, 3);
    const before = names();
    const filesBefore = await walk(running.services.paths.filesDir);
    expect((await overSocket('cut-socket', data.length + 500_000, chunks, true)).status).toBe(0);
    const cut = await inProcess('cut-process', chunks, true);
    expect(cut.status).toBe(400);
    expect(cut.body.detail.error).toBe('upload_failed');
    // The server notices the broken socket on its own time: wait (bounded) for the staging file to go.
    for (let i = 0; i < 500 && (await staging()).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await walk(running.services.paths.filesDir)).toEqual(filesBefore);
    expect(names()).toEqual(before);
  });
});
