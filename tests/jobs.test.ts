// CONTRACT §16: asynchronous import and export jobs over the files of §15.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteWorker, type CountOptions } from '../src/storage/byte-worker.ts';
import { makeApp, manualClock, type TestApp } from './helpers.ts';
import { prng } from './prng.ts';

const P = '/projects/p';
const B = `${P}/buckets/in_c_jobs`;
const T = (table: string) => `${B}/tables/${table}`;

/** A promise and the function that settles it: holds a table's write lock for as long as a test needs. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

interface Ctx {
  t: TestApp;
  upload(data: string | Uint8Array, headers?: Record<string, string>, name?: string): Promise<string>;
  submit(table: string, body: Record<string, unknown>, op?: 'import-async' | 'export-async'): Promise<{ status: number; body: any; response: Response }>;
  finished(jobId: string): Promise<any>;
  rows(table: string): Promise<any[]>;
  createTable(name: string, columns: { name: string; type: string; nullable?: boolean }[], primaryKey?: string[]): Promise<void>;
  /** Holds the table's write lock until the returned function is called. */
  holdTable(table: string): Promise<() => void>;
  until(check: () => boolean | Promise<boolean>, what: string): Promise<void>;
}

async function setup(env: Record<string, string> = {}, clock?: ReturnType<typeof manualClock>): Promise<Ctx> {
  const t = await makeApp({ env, clock });
  await t.createProject('p');
  expect((await t.callJson('POST', `${P}/buckets`, { body: { name: 'in_c_jobs' } })).status).toBe(201);
  const ctx: Ctx = {
    t,
    async upload(data, headers = { 'content-type': 'text/csv' }, name = 'data.csv') {
      const raw = typeof data === 'string' ? data : new Uint8Array(data);
      const { status, body } = await t.callJson('POST', `${P}/files?name=${encodeURIComponent(name)}`, { raw, headers });
      expect(status, JSON.stringify(body)).toBe(201);
      return body.id;
    },
    submit(table, body, op = 'import-async') {
      return t.callJson('POST', `${T(table)}/${op}`, { body });
    },
    async finished(jobId) {
      for (;;) {
        const { status, body } = await t.callJson('GET', `${P}/jobs/${jobId}?wait=30`);
        expect(status).toBe(200);
        if (['success', 'error', 'cancelled'].includes(body.status)) return body;
      }
    },
    async rows(table) {
      const { body } = await t.callJson('GET', `${T(table)}/preview?limit=10000`);
      return body.rows;
    },
    async createTable(name, columns, primaryKey) {
      const { status, body } = await t.callJson('POST', `${B}/tables`, { body: { name, columns, primary_key: primaryKey } });
      expect(status, JSON.stringify(body)).toBe(201);
    },
    async holdTable(table) {
      const { open, opened } = gate();
      let held!: () => void;
      const taken = new Promise<void>((resolve) => (held = resolve));
      void t.services.registry.withWriteLock(t.services.paths.tableFile('p', 'in_c_jobs', table), async () => {
        held();
        await opened;
      });
      await taken;
      return open;
    },
    async until(check, what) {
      for (let i = 0; i < 2000; i++) {
        if (await check()) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      throw new Error(`timed out waiting for ${what}`);
    },
  };
  return ctx;
}

const status = (t: TestApp, id: string) => t.services.jobs.get('p', id)?.status;

describe('§16 import-async', () => {
  let c: Ctx;
  beforeAll(async () => {
    c = await setup();
    await c.createTable('orders', [{ name: 'id', type: 'INTEGER', nullable: false }, { name: 'label', type: 'VARCHAR' }], ['id']);
    await c.createTable('plain', [{ name: 'n', type: 'INTEGER' }]);
  });
  afterAll(() => c.t.close());

  it('202 with the job and its Location; the job runs the §8 import and shows its result', async () => {
    const file = await c.upload('id,label\n1,a\n2,b\n');
    const { status, body, response } = await c.submit('orders', { file_id: file });
    expect(status).toBe(202);
    expect(response.headers.get('location')).toBe(`${P}/jobs/${body.id}`);
    expect(body).toMatchObject({
      id: expect.stringMatching(/^j_[0-9a-f]{16}$/),
      operation: 'import',
      branch: 'default',
      table: { bucket: 'in_c_jobs', name: 'orders' },
      params: { file_id: file, format: 'csv', incremental: false, delimiter: ',', quote: '"', escape: '"', header: true, columns: null, null_string: null },
      result: null,
      error: null,
    });
    expect(['waiting', 'processing']).toContain(body.status);
    const done = await c.finished(body.id);
    expect(done.status).toBe('success');
    expect(done.result).toMatchObject({ imported_rows: 2, row_count: 2, table: { name: 'orders', bucket: 'in_c_jobs', row_count: 2 } });
    expect(done.progress).toEqual({ rows: 2, bytes: 'id,label\n1,a\n2,b\n'.length });
    expect(done.started_at).toEqual(expect.any(String));
    expect(done.finished_at).toEqual(expect.any(String));
    expect(await c.rows('orders')).toEqual([{ id: 1, label: 'a' }, { id: 2, label: 'b' }]);
  });

  it('incremental upserts by key, with CSV options as JSON', async () => {
    const file = await c.upload('2;B\n3;C\n');
    const { body } = await c.submit('orders', { file_id: file, incremental: true, header: false, columns: ['id', 'label'], delimiter: ';' });
    const done = await c.finished(body.id);
    expect(done.status).toBe('success');
    expect(done.result).toMatchObject({ imported_rows: 2, row_count: 3 });
    expect(await c.rows('orders')).toEqual([{ id: 1, label: 'a' }, { id: 2, label: 'B' }, { id: 3, label: 'C' }]);
  });

  it('takes the format from the file type, and reads gzip files decompressed (by encoding, type or first bytes)', async () => {
    const ndjson = await c.upload('{"n": 1}\n{"n": 2}\n', { 'content-type': 'application/x-ndjson' });
    expect((await c.finished((await c.submit('plain', { file_id: ndjson })).body.id)).result.row_count).toBe(2);
    const csv = gzipSync('n\n5\n6\n7\n');
    const variants: Record<string, string>[] = [{ 'content-encoding': 'gzip', 'content-type': 'text/csv' }, { 'content-type': 'application/gzip' }, { 'content-type': 'application/octet-stream' }];
    for (const headers of variants) {
      const id = await c.upload(csv, headers);
      const done = await c.finished((await c.submit('plain', { file_id: id })).body.id);
      expect(done.status, JSON.stringify(headers)).toBe('success');
      expect(done.result.imported_rows).toBe(3);
    }
    expect(await c.rows('plain')).toEqual([{ n: 5 }, { n: 6 }, { n: 7 }]);
  });

  it('a failing import ends in error with the exact §8 error object; the table is unchanged', async () => {
    const before = await c.rows('orders');
    const bad = await c.upload('id,label\n1,x\nnot-a-number,y\n');
    const failed = await c.finished((await c.submit('orders', { file_id: bad })).body.id);
    expect(failed.status).toBe('error');
    expect(failed.result).toBeNull();
    expect(failed.error).toMatchObject({ error: 'import_failed', message: expect.stringContaining('line 3'), details: { line: 3 } });
    const unknown = await c.upload('id,nope\n1,x\n');
    const failed2 = await c.finished((await c.submit('orders', { file_id: unknown })).body.id);
    expect(failed2.error).toMatchObject({ error: 'unknown_columns', details: { columns: ['nope'] } });
    // The synchronous import answers the same object.
    const sync = await c.t.callJson('POST', `${T('orders')}/import`, { raw: 'id,nope\n1,x\n', headers: { 'content-type': 'text/csv' } });
    expect(sync.body.detail).toEqual(failed2.error);
    const notGzip = await c.upload(new Uint8Array([0x1f, 0x8b, 1, 2, 3]), { 'content-type': 'text/csv' });
    const failed3 = await c.finished((await c.submit('orders', { file_id: notGzip })).body.id);
    expect(failed3.error.error).toBe('import_failed');
    expect(await c.rows('orders')).toEqual(before);
  });

  it('refuses at submission: 404 file_not_found and table_not_found, 415, 422 options; nothing queued', async () => {
    const count = c.t.services.jobs.list('p').length;
    const file = await c.upload('id\n1\n');
    const noFile = await c.submit('orders', { file_id: 'f_000000000000' });
    expect(noFile.status).toBe(404);
    expect(noFile.body.detail.error).toBe('file_not_found');
    const noTable = await c.submit('missing', { file_id: file });
    expect(noTable.status).toBe(404);
    expect(noTable.body.detail.error).toBe('table_not_found');
    const json = await c.upload('{}', { 'content-type': 'application/json' });
    const unsupported = await c.submit('orders', { file_id: json });
    expect(unsupported.status).toBe(415);
    expect(unsupported.body.detail.error).toBe('unsupported_media_type');
    // With a format it is accepted.
    expect((await c.submit('plain', { file_id: json, format: 'ndjson', incremental: true })).status).toBe(202);
    for (const body of [
      { file_id: file, delimiter: ';;' },
      { file_id: file, header: false },
      { file_id: file, quote: ',' },
      { file_id: file, columns: ['bad name'] },
      { file_id: file, incremental: 'yes' },
      { file_id: file, format: 'xml' },
      {},
    ]) {
      const refused = await c.submit('orders', body);
      expect(refused.status, JSON.stringify(body)).toBe(422);
      expect(refused.body.detail.error).toBe('validation_error');
    }
    expect(c.t.services.jobs.list('p').length).toBe(count + 1);
  });

  it('403 bucket_readonly for a linked bucket', async () => {
    await c.t.createProject('src');
    await c.t.callJson('POST', '/projects/src/buckets', { body: { name: 'shared' } });
    await c.t.callJson('POST', '/projects/src/buckets/shared/tables', { body: { name: 'x', columns: [{ name: 'n', type: 'INTEGER' }] } });
    await c.t.callJson('POST', '/projects/src/buckets/shared/share', { body: { target_project_id: 'p' } });
    expect((await c.t.callJson('POST', `${P}/buckets/linked/link`, { body: { source_project_id: 'src', source_bucket_name: 'shared' } })).status).toBe(201);
    const file = await c.upload('n\n1\n');
    const refused = await c.t.callJson('POST', `${P}/buckets/linked/tables/x/import-async`, { body: { file_id: file } });
    expect(refused.status).toBe(403);
    expect(refused.body.detail.error).toBe('bucket_readonly');
    // Exporting from a linked bucket is a read: allowed.
    const exported = await c.t.callJson('POST', `${P}/buckets/linked/tables/x/export-async`, { body: {} });
    expect(exported.status).toBe(202);
    expect((await c.finished(exported.body.id)).status).toBe('success');
  });
});

describe('§16 export-async', () => {
  let c: Ctx;
  beforeAll(async () => {
    c = await setup();
    await c.createTable('sales', [{ name: 'id', type: 'INTEGER' }, { name: 'city', type: 'VARCHAR' }]);
    const { status } = await c.t.callJson('POST', `${T('sales')}/import`, { raw: 'id,city\n1,Praha\n2,Brno\n3,Praha\n', headers: { 'content-type': 'text/csv' } });
    expect(status).toBe(200);
  });
  afterAll(() => c.t.close());

  it('writes the §8 export into a new file and answers {file_id, rows, size_bytes}', async () => {
    const body = { format: 'csv', filters: [{ column: 'city', operator: 'eq', values: ['Praha'] }], order_by: [{ column: 'id', order: 'desc' }] };
    const { status, body: job } = await c.submit('sales', body, 'export-async');
    expect(status).toBe(202);
    expect(job.operation).toBe('export');
    const done = await c.finished(job.id);
    expect(done.status).toBe('success');
    expect(done.result).toEqual({ file_id: expect.stringMatching(/^f_/), rows: 2, size_bytes: expect.any(Number) });
    const file = (await c.t.callJson('GET', `${P}/files/${done.result.file_id}`)).body;
    expect(file).toMatchObject({ name: 'sales.csv', content_type: 'text/csv; charset=utf-8', tags: [], is_permanent: false, size_bytes: done.result.size_bytes });
    const downloaded = await (await c.t.call('GET', `${P}/files/${file.id}/download`)).text();
    const sync = await (await c.t.call('POST', `${T('sales')}/export`, { body })).text();
    expect(downloaded).toBe(sync);
    expect(downloaded).toBe('id,city\n3,Praha\n1,Praha\n');
  });

  it('gzip and the other formats name the file {table}.{ext}(.gz)', async () => {
    for (const [format, gzip, name] of [['ndjson', false, 'sales.ndjson'], ['parquet', false, 'sales.parquet'], ['csv', true, 'sales.csv.gz']] as const) {
      const done = await c.finished((await c.submit('sales', { format, gzip }, 'export-async')).body.id);
      expect(done.status).toBe('success');
      expect(done.result.rows).toBe(3);
      const file = (await c.t.callJson('GET', `${P}/files/${done.result.file_id}`)).body;
      expect(file.name).toBe(name);
    }
  });

  it('an exported file imports back through import-async', async () => {
    const exported = await c.finished((await c.submit('sales', { format: 'parquet' }, 'export-async')).body.id);
    await c.createTable('copy', [{ name: 'id', type: 'INTEGER' }, { name: 'city', type: 'VARCHAR' }]);
    const imported = await c.finished((await c.submit('copy', { file_id: exported.result.file_id })).body.id);
    expect(imported.result.imported_rows).toBe(3);
  });

  it('422 at submission for unknown columns or a filter value that does not convert; 404 for a missing table', async () => {
    const count = c.t.services.jobs.list('p').length;
    expect((await c.submit('sales', { columns: ['nope'] }, 'export-async')).status).toBe(422);
    expect((await c.submit('sales', { filters: [{ column: 'id', operator: 'eq', values: ['x'] }] }, 'export-async')).status).toBe(422);
    expect((await c.submit('sales', { format: 'xml' }, 'export-async')).status).toBe(422);
    const missing = await c.submit('nope', {}, 'export-async');
    expect(missing.status).toBe(404);
    expect(missing.body.detail.error).toBe('table_not_found');
    expect(c.t.services.jobs.list('p').length).toBe(count);
  });
});

describe('§16 listing, long-polling, cancel, order and limits', () => {
  let c: Ctx;
  beforeAll(async () => {
    c = await setup({ MAX_CONCURRENT_JOBS: '4', MAX_QUEUED_JOBS: '3' });
    for (const name of ['a', 'b', 'x']) await c.createTable(name, [{ name: 'v', type: 'VARCHAR' }]);
  });
  afterAll(() => c.t.close());

  it('GET answers at once without wait, and long-polls until the job finishes', async () => {
    const release = await c.holdTable('a');
    const file = await c.upload('v\nlong-poll\n');
    const job = (await c.submit('a', { file_id: file })).body;
    await c.until(() => status(c.t, job.id) === 'processing', 'the job to run');
    const now = await c.t.callJson('GET', `${P}/jobs/${job.id}`);
    expect(now.body.status).toBe('processing');
    const polled = c.t.callJson('GET', `${P}/jobs/${job.id}?wait=60`);
    let answered = false;
    void polled.then(() => (answered = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(answered).toBe(false);
    release();
    const { body } = await polled;
    expect(body.status).toBe('success');
  });

  it('422 for wait outside 0..60; 404 job_not_found', async () => {
    expect((await c.t.callJson('GET', `${P}/jobs/j_0000000000000000?wait=1`)).body.detail.error).toBe('job_not_found');
    const any = c.t.services.jobs.list('p')[0]!;
    expect((await c.t.callJson('GET', `${P}/jobs/${any.id}?wait=61`)).status).toBe(422);
    expect((await c.t.callJson('GET', `${P}/jobs/${any.id}?wait=-1`)).status).toBe(422);
    const other = await c.t.createProject('other');
    expect((await c.t.callJson('GET', `/projects/other/jobs/${any.id}`, { key: other })).status).toBe(404);
  });

  it('runs the jobs of one table one at a time in submission order, other tables meanwhile', async () => {
    const release = await c.holdTable('a');
    const files = [await c.upload('v\nfirst\n'), await c.upload('v\nsecond\n'), await c.upload('v\nthird\n')];
    const ids: string[] = [];
    for (const file of files) ids.push((await c.submit('a', { file_id: file })).body.id);
    const other = (await c.submit('b', { file_id: files[0] })).body.id;
    // A free slot does not let a later job of the same table overtake.
    expect((await c.finished(other)).status).toBe('success');
    await c.until(() => status(c.t, ids[0]!) === 'processing', 'the first job to run');
    expect(ids.map((id) => status(c.t, id))).toEqual(['processing', 'waiting', 'waiting']);
    release();
    const done = [];
    for (const id of ids) done.push(await c.finished(id));
    expect(done.map((j) => j.status)).toEqual(['success', 'success', 'success']);
    for (let i = 1; i < done.length; i++) expect(done[i].started_at >= done[i - 1].finished_at).toBe(true);
    expect(await c.rows('a')).toEqual([{ v: 'third' }]);
  });

  it('429 too_many_requests with Retry-After once MAX_QUEUED_JOBS wait; nothing queued', async () => {
    const release = await c.holdTable('a');
    const file = await c.upload('v\nq\n');
    const first = (await c.submit('a', { file_id: file })).body.id;
    await c.until(() => status(c.t, first) === 'processing', 'the first job to run');
    const waiting = [];
    for (let i = 0; i < 3; i++) waiting.push((await c.submit('a', { file_id: file, incremental: true })).body.id);
    expect(c.t.services.jobs.count('waiting')).toBe(3);
    const count = c.t.services.jobs.list('p').length;
    const refused = await c.submit('a', { file_id: file });
    expect(refused.status).toBe(429);
    expect(refused.body.detail.error).toBe('too_many_requests');
    expect(refused.response.headers.get('retry-after')).toBe('5');
    expect((await c.submit('b', {}, 'export-async')).status).toBe(429);
    expect(c.t.services.jobs.list('p').length).toBe(count);
    release();
    for (const id of [first, ...waiting]) expect((await c.finished(id)).status).toBe('success');
  });

  it('cancels a waiting job (it never runs) and a running one (the table is left as it was); 409 job_finished after', async () => {
    await c.t.callJson('POST', `${T('x')}/import`, { raw: 'v\nbefore\n', headers: { 'content-type': 'text/csv' } });
    const release = await c.holdTable('x');
    const file = await c.upload('v\nafter\n');
    const running = (await c.submit('x', { file_id: file })).body.id;
    const waiting = (await c.submit('x', { file_id: file, incremental: true })).body.id;
    await c.until(() => status(c.t, running) === 'processing', 'the first job to run');
    expect((await c.t.call('DELETE', `${P}/jobs/${waiting}`)).status).toBe(204);
    const w = (await c.t.callJson('GET', `${P}/jobs/${waiting}`)).body;
    expect(w).toMatchObject({ status: 'cancelled', started_at: null, finished_at: expect.any(String) });
    // The running one is stopped, though it is waiting for the table's lock (held here): the
    // answer comes once it has stopped, without waiting for the lock.
    expect((await c.t.call('DELETE', `${P}/jobs/${running}`)).status).toBe(204);
    expect(c.t.services.jobRunner.runningCount).toBe(0);
    release();
    expect((await c.t.callJson('GET', `${P}/jobs/${running}`)).body.status).toBe('cancelled');
    expect(await c.rows('x')).toEqual([{ v: 'before' }]);
    for (const id of [running, waiting]) {
      const again = await c.t.callJson('DELETE', `${P}/jobs/${id}`);
      expect(again.status).toBe(409);
      expect(again.body.detail).toMatchObject({ error: 'job_finished', details: { status: 'cancelled' } });
    }
    const done = (await c.submit('x', { file_id: file })).body.id;
    await c.finished(done);
    expect((await c.t.callJson('DELETE', `${P}/jobs/${done}`)).body.detail).toMatchObject({ error: 'job_finished', details: { status: 'success' } });
  });

  it('a cancelled export leaves no file', async () => {
    const release = await c.holdTable('a');
    const filesBefore = c.t.services.files.list('p').length;
    // An export takes no write lock: block it behind an import of the same table instead.
    const file = await c.upload('v\nz\n');
    const blocker = (await c.submit('a', { file_id: file, incremental: true })).body.id;
    const exp = (await c.submit('a', { format: 'csv' }, 'export-async')).body.id;
    expect((await c.t.call('DELETE', `${P}/jobs/${exp}`)).status).toBe(204);
    release();
    await c.finished(blocker);
    expect((await c.finished(exp)).status).toBe('cancelled');
    expect(c.t.services.files.list('p').length).toBe(filesBefore + 1);
  });

  it('deleting a branch cancels its waiting and running jobs; jobs of main go on', async () => {
    await c.createTable('br', [{ name: 'v', type: 'VARCHAR' }]);
    await c.t.callJson('POST', `${T('br')}/import`, { raw: 'v\nmain\n', headers: { 'content-type': 'text/csv' } });
    const made = await c.t.callJson('POST', `${P}/branches`, { body: { name: 'doomed' } });
    expect(made.status).toBe(201);
    const BR = `${P}/branches/${made.body.id}/buckets/in_c_jobs/tables/br`;
    const file = await c.upload('v\nbranch\n');
    // The branch's copy of the table is locked, so its first job stays processing and the second waits.
    const { open, opened } = gate();
    let held!: () => void;
    const taken = new Promise<void>((resolve) => (held = resolve));
    void c.t.services.registry.withWriteLock(c.t.services.paths.branchTableFile('p', made.body.id, 'in_c_jobs', 'br'), async () => {
      held();
      await opened;
    });
    await taken;
    const running = (await c.t.callJson('POST', `${BR}/import-async`, { body: { file_id: file } })).body.id;
    const waiting = (await c.t.callJson('POST', `${BR}/import-async`, { body: { file_id: file, incremental: true } })).body.id;
    await c.until(() => status(c.t, running) === 'processing', 'the branch job to run');
    expect(status(c.t, waiting)).toBe('waiting');
    const deleted = c.t.call('DELETE', `${P}/branches/${made.body.id}`);
    await c.until(() => status(c.t, running) === 'cancelled' && status(c.t, waiting) === 'cancelled', 'the branch jobs to be cancelled');
    open();
    expect((await deleted).status).toBe(204);
    const main = (await c.submit('br', { file_id: file, incremental: true })).body.id;
    expect((await c.finished(main)).status).toBe('success');
    expect(await c.rows('br')).toEqual([{ v: 'main' }, { v: 'branch' }]);
  });

  it('a running export stopped after writing its staging file leaves no file; progress showed its rows and bytes', async () => {
    await c.createTable('ex', [{ name: 'v', type: 'VARCHAR' }]);
    await c.t.callJson('POST', `${T('ex')}/import`, { raw: 'v\nx\ny\nz\n', headers: { 'content-type': 'text/csv' } });
    const filesBefore = c.t.services.files.list('p').length;
    const { open, opened } = gate();
    let reached = false;
    c.t.services.faultPoint = async (step) => {
      if (step !== 'export_job_written') return;
      reached = true;
      await opened;
    };
    try {
      const id = (await c.submit('ex', { format: 'csv' }, 'export-async')).body.id;
      await c.until(() => reached, 'the export to be written');
      const running = (await c.t.callJson('GET', `${P}/jobs/${id}`)).body;
      expect(running.status).toBe('processing');
      expect(running.progress).toEqual({ rows: 3, bytes: 'v\nx\ny\nz\n'.length });
      const staged = (await readdir(c.t.services.paths.filesDir)).filter((name) => name.startsWith(`job-${id}`));
      expect(staged.length).toBe(1);
      const cancelled = c.t.call('DELETE', `${P}/jobs/${id}`);
      // The stop is asked for (the job's signal aborts) before the export may go on.
      const runs = (c.t.services.jobRunner as unknown as { running: Map<string, { controller: AbortController }> }).running;
      await c.until(() => runs.get(id)?.controller.signal.aborted === true, 'the cancel to stop the job');
      open();
      expect((await cancelled).status).toBe(204);
      expect((await c.t.callJson('GET', `${P}/jobs/${id}`)).body).toMatchObject({ status: 'cancelled', result: null, error: null });
      expect(c.t.services.files.list('p').length).toBe(filesBefore);
      expect((await readdir(c.t.services.paths.filesDir)).filter((name) => name.startsWith(`job-${id}`))).toEqual([]);
    } finally {
      c.t.services.faultPoint = undefined;
      open();
    }
  });

  it('an export stopped before its first chunk (while it attaches the table) is cancelled, not left running', async () => {
    // Found by a stress run of cancelled jobs: the export's body was closed by the abort
    // before its first pull, so the first chunk it waited for never came; the job, and the
    // cancel waiting for it, hung for good.
    await c.createTable('early', [{ name: 'v', type: 'VARCHAR' }]);
    await c.t.callJson('POST', `${T('early')}/import`, { raw: 'v\nx\n', headers: { 'content-type': 'text/csv' } });
    const filesBefore = c.t.services.files.list('p').length;
    let held = gate();
    let reached = false;
    c.t.services.faultPoint = async (step) => {
      if (step !== 'export_job_attached') return;
      reached = true;
      await held.opened;
    };
    try {
      for (const body of [{ format: 'csv' }, { format: 'parquet' }, { format: 'csv', gzip: true }]) {
        held.open();
        held = gate();
        reached = false;
        const id = (await c.submit('early', body, 'export-async')).body.id;
        await c.until(() => reached, 'the export to attach the table');
        let answered = false;
        const cancelled = c.t.call('DELETE', `${P}/jobs/${id}`).then((r) => {
          answered = true;
          return r;
        });
        const runs = (c.t.services.jobRunner as unknown as { running: Map<string, { controller: AbortController }> }).running;
        await c.until(() => runs.get(id)?.controller.signal.aborted === true, 'the cancel to stop the job');
        held.open();
        await c.until(() => answered, `the cancel of the ${JSON.stringify(body)} export to answer`);
        expect((await cancelled).status).toBe(204);
        expect((await c.t.callJson('GET', `${P}/jobs/${id}`)).body).toMatchObject({ status: 'cancelled', result: null, error: null });
      }
      expect(c.t.services.files.list('p').length).toBe(filesBefore);
      expect(c.t.services.jobRunner.runningCount).toBe(0);
      await c.until(() => c.t.services.registry.waitingWrites === 0, 'nothing to wait for the table');
      expect((await c.t.callJson('POST', `${T('early')}/import`, { raw: 'v\ny\n', headers: { 'content-type': 'text/csv' } })).status).toBe(200);
    } finally {
      c.t.services.faultPoint = undefined;
      held.open();
    }
  });

  it('at most MAX_CONCURRENT_JOBS run at once in the whole service; the others wait', async () => {
    const d = await setup({ MAX_CONCURRENT_JOBS: '2' });
    try {
      const releases: (() => void)[] = [];
      for (const name of ['m1', 'm2', 'm3']) {
        await d.createTable(name, [{ name: 'v', type: 'VARCHAR' }]);
        releases.push(await d.holdTable(name));
      }
      const file = await d.upload('v\nq\n');
      const ids: string[] = [];
      for (const name of ['m1', 'm2', 'm3']) ids.push((await d.submit(name, { file_id: file })).body.id);
      await d.until(() => ids.filter((id) => status(d.t, id) === 'processing').length === 2, 'two jobs to run');
      expect(ids.map((id) => status(d.t, id))).toEqual(['processing', 'processing', 'waiting']);
      for (const release of releases) release();
      for (const id of ids) expect((await d.finished(id)).status).toBe('success');
    } finally {
      await d.t.close();
    }
  });

  it('lists newest first, filtered by status and operation, paged', async () => {
    const all = (await c.t.callJson('GET', `${P}/jobs?limit=1000`)).body;
    expect(all.total).toBe(c.t.services.jobs.list('p').length);
    const seqs = all.jobs.map((j: any) => c.t.services.jobs.get('p', j.id)!.seq);
    expect(seqs).toEqual([...seqs].sort((a: number, b: number) => b - a));
    const cancelled = (await c.t.callJson('GET', `${P}/jobs?status=cancelled`)).body;
    expect(cancelled.jobs.length).toBeGreaterThan(0);
    expect(cancelled.jobs.every((j: any) => j.status === 'cancelled')).toBe(true);
    const exports = (await c.t.callJson('GET', `${P}/jobs?operation=export&branch=default`)).body;
    expect(exports.jobs.every((j: any) => j.operation === 'export')).toBe(true);
    expect((await c.t.callJson('GET', `${P}/jobs?branch=b_1`)).body.total).toBe(0);
    const page = (await c.t.callJson('GET', `${P}/jobs?limit=2&offset=1`)).body;
    expect(page.jobs.map((j: any) => j.id)).toEqual(all.jobs.slice(1, 3).map((j: any) => j.id));
    for (const q of ['status=done', 'operation=copy', 'limit=0', 'offset=x']) expect((await c.t.callJson('GET', `${P}/jobs?${q}`)).status, q).toBe(422);
  });

});

describe('§16 a job is bound to its table and file', () => {
  let c: Ctx;
  beforeAll(async () => {
    // One slot: a job behind a held table waits, so its own table and file can be deleted meanwhile.
    c = await setup({ MAX_CONCURRENT_JOBS: '1' });
    for (const name of ['a', 'doomed', 'remade']) await c.createTable(name, [{ name: 'v', type: 'VARCHAR' }]);
  });
  afterAll(() => c.t.close());

  it('a job whose table or file was deleted (or the table made again) before it ran ends with table_not_found / file_not_found', async () => {
    const release = await c.holdTable('a');
    const keep = await c.upload('v\n1\n');
    const gone = await c.upload('v\n2\n');
    const blocker = (await c.submit('a', { file_id: keep })).body.id;
    await c.until(() => status(c.t, blocker) === 'processing', 'the blocker to run');
    const onFile = (await c.submit('a', { file_id: gone, incremental: true })).body.id;
    const onTable = (await c.submit('doomed', { file_id: keep })).body.id;
    const onRemade = (await c.submit('remade', { file_id: keep })).body.id;
    expect([onFile, onTable, onRemade].map((id) => status(c.t, id))).toEqual(['waiting', 'waiting', 'waiting']);
    expect((await c.t.call('DELETE', `${P}/files/${gone}`)).status).toBe(204);
    expect((await c.t.call('DELETE', T('doomed'))).status).toBe(204);
    expect((await c.t.call('DELETE', T('remade'))).status).toBe(204);
    await c.createTable('remade', [{ name: 'v', type: 'VARCHAR' }]);
    release();
    expect((await c.finished(blocker)).status).toBe('success');
    expect((await c.finished(onFile)).error).toMatchObject({ error: 'file_not_found', details: { file_id: gone } });
    expect((await c.finished(onTable)).error).toMatchObject({ error: 'table_not_found', details: { table_name: 'doomed' } });
    expect((await c.finished(onRemade)).error).toMatchObject({ error: 'table_not_found', details: { table_name: 'remade' } });
    expect(await c.rows('remade')).toEqual([]);
  });
});

describe('§11 with §15/§16: a bucket-restricted key sees only the files and jobs it created', () => {
  let c: Ctx;
  let restricted: string;
  beforeAll(async () => {
    c = await setup();
    await c.createTable('t', [{ name: 'v', type: 'VARCHAR' }]);
    const key = await c.t.callJson('POST', `${P}/api-keys`, { body: { scope: 'write', buckets: ['in_c_jobs'] } });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    restricted = key.body.api_key;
  });
  afterAll(() => c.t.close());

  it('lists, gets and imports only its own files; lists and gets only its own jobs; its export is its file', async () => {
    const theirs = await c.upload('v\nadmin\n');
    const mine = (await c.t.callJson('POST', `${P}/files?name=mine.csv`, { key: restricted, raw: 'v\nmine\n', headers: { 'content-type': 'text/csv' } })).body.id;
    expect((await c.t.callJson('GET', `${P}/files`, { key: restricted })).body.files.map((f: any) => f.id)).toEqual([mine]);
    expect((await c.t.callJson('GET', `${P}/files`)).body.total).toBe(2);
    for (const path of [`${P}/files/${theirs}`, `${P}/files/${theirs}/download`]) {
      expect((await c.t.callJson('GET', path, { key: restricted })).status, path).toBe(404);
    }
    const refused = await c.t.callJson('POST', `${T('t')}/import-async`, { key: restricted, body: { file_id: theirs } });
    expect(refused.status).toBe(404);
    expect(refused.body.detail.error).toBe('file_not_found');

    const own = await c.t.callJson('POST', `${T('t')}/import-async`, { key: restricted, body: { file_id: mine } });
    expect(own.status).toBe(202);
    const adminJob = (await c.submit('t', { file_id: theirs, incremental: true })).body.id;
    await c.finished(own.body.id);
    await c.finished(adminJob);
    expect((await c.t.callJson('GET', `${P}/jobs`, { key: restricted })).body.jobs.map((j: any) => j.id)).toEqual([own.body.id]);
    expect((await c.t.callJson('GET', `${P}/jobs/${adminJob}`, { key: restricted })).status).toBe(404);
    expect((await c.t.callJson('DELETE', `${P}/jobs/${adminJob}`, { key: restricted })).status).toBe(404);
    expect((await c.t.callJson('GET', `${P}/jobs`)).body.total).toBe(2);

    const exported = await c.t.callJson('POST', `${T('t')}/export-async`, { key: restricted, body: {} });
    const done = (await c.t.callJson('GET', `${P}/jobs/${exported.body.id}?wait=30`, { key: restricted })).body;
    expect(done.status).toBe('success');
    expect((await c.t.callJson('GET', `${P}/files/${done.result.file_id}`, { key: restricted })).status).toBe(200);
  });
});

describe('§16 jobs across a restart, expiry and project deletion', () => {
  it('a job left processing runs again after a restart and is applied once (incremental, no key)', async () => {
    const c = await setup();
    const root = c.t.root;
    await c.createTable('log', [{ name: 'v', type: 'VARCHAR' }]);
    const file = await c.upload('v\none\ntwo\n');
    const job = await c.finished((await c.submit('log', { file_id: file, incremental: true })).body.id);
    expect(job.status).toBe('success');
    // As if killed after the rows committed but before the job's state was written.
    await c.t.services.catalog.store.db.with((conn) => conn.run("UPDATE jobs SET status = 'processing', finished_at = NULL, result = NULL WHERE id = $1", [job.id]));
    // And one that never ran: it must run after the restart.
    await c.t.services.jobs.insert({ ...c.t.services.jobs.get('p', job.id)!, id: 'j_00000000000000aa', seq: 999, status: 'waiting', params: { ...job.params }, result: null, finishedAt: null, startedAt: null, progress: { rows: 0, bytes: 0 } });
    await c.t.services.close();
    const again = await makeApp({ root });
    try {
      const t = again;
      const poll = async (id: string) => {
        for (;;) {
          const { body } = await t.callJson('GET', `${P}/jobs/${id}?wait=30`);
          if (['success', 'error', 'cancelled'].includes(body.status)) return body;
        }
      };
      const rerun = await poll(job.id);
      expect(rerun.status).toBe('success');
      expect(rerun.result).toMatchObject({ imported_rows: 2, row_count: 2 });
      const waited = await poll('j_00000000000000aa');
      expect(waited.status).toBe('success');
      const rows = (await t.callJson('GET', `${T('log')}/preview`)).body.rows;
      expect(rows).toEqual([{ v: 'one' }, { v: 'two' }, { v: 'one' }, { v: 'two' }]);
    } finally {
      await again.services.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a gzip file that inflates past MAX_IMPORT_BYTES ends with 413 payload_too_large, as the synchronous import answers', async () => {
    const c = await setup({ MAX_IMPORT_BYTES: '10000' });
    try {
      await c.createTable('t', [{ name: 'v', type: 'VARCHAR' }]);
      const bomb = gzipSync(`v\n${'x'.repeat(50_000)}\n`);
      const id = await c.upload(bomb, { 'content-type': 'text/csv', 'content-encoding': 'gzip' });
      const job = await c.finished((await c.submit('t', { file_id: id })).body.id);
      expect(job.status).toBe('error');
      const sync = await c.t.callJson('POST', `${T('t')}/import`, { raw: new Uint8Array(bomb), headers: { 'content-type': 'text/csv', 'content-encoding': 'gzip' } });
      expect(sync.status).toBe(413);
      expect(job.error).toEqual(sync.body.detail);
      expect(await c.rows('t')).toEqual([]);
      expect((await readdir(c.t.services.paths.filesDir)).filter((n) => !n.startsWith('project_'))).toEqual([]);
    } finally {
      await c.t.close();
    }
  });

  it('a running import stopped mid-load (DuckDB interrupted) leaves the table exactly as it was', async () => {
    const c = await setup();
    try {
      await c.createTable('big', [{ name: 'id', type: 'BIGINT' }, { name: 'v', type: 'VARCHAR' }]);
      await c.t.callJson('POST', `${T('big')}/import`, { raw: 'id,v\n-1,before\n', headers: { 'content-type': 'text/csv' } });
      const lines = ['id,v'];
      for (let i = 0; i < 2_000_000; i++) lines.push(`${i},value-${i}`);
      const file = await c.upload(`${lines.join('\n')}\n`);
      const id = (await c.submit('big', { file_id: file })).body.id;
      // Cancel once DuckDB reports reading the file: the statement is interrupted.
      await c.until(() => (c.t.services.jobs.get('p', id)?.progress.bytes ?? 0) > 0 || status(c.t, id) === 'success', 'the load to be under way');
      const cancelled = await c.t.call('DELETE', `${P}/jobs/${id}`);
      const job = (await c.t.callJson('GET', `${P}/jobs/${id}`)).body;
      const rows = (await c.t.callJson('GET', T('big'))).body.row_count;
      // Either the cancel came first (nothing changed) or the load had committed (409): never half.
      if (cancelled.status === 204) {
        expect(job.status).toBe('cancelled');
        expect(rows).toBe(1);
        const preview = await c.t.callJson('GET', `${T('big')}/preview`);
        expect(preview.body.rows, JSON.stringify(preview.body)).toEqual([{ id: -1, v: 'before' }]);
      } else {
        expect(cancelled.status).toBe(409);
        expect(job.status).toBe('success');
        expect(rows).toBe(2_000_000);
      }
    } finally {
      await c.t.close();
    }
  }, 60_000);

  it('progress has the rows and bytes read while the import runs (held at its first reading mid-way)', async () => {
    const c = await setup();
    try {
      await c.createTable('big', [{ name: 'id', type: 'BIGINT' }, { name: 'v', type: 'VARCHAR' }]);
      const total = 2_000_000;
      const lines = ['id,v'];
      for (let i = 0; i < total; i++) lines.push(`${i},value-${i}`);
      const data = `${lines.join('\n')}\n`;
      const file = await c.upload(data);
      const { open, opened } = gate();
      let reached = false;
      c.t.services.faultPoint = async (step) => {
        if (step !== 'import_job_progress') return;
        reached = true;
        await opened;
      };
      const id = (await c.submit('big', { file_id: file })).body.id;
      await c.until(() => reached || status(c.t, id) !== 'processing' && status(c.t, id) !== 'waiting', 'a progress reading mid-way');
      expect(reached, 'the import never reported progress between start and end').toBe(true);
      const running = (await c.t.callJson('GET', `${P}/jobs/${id}`)).body;
      expect(running.status).toBe('processing');
      const { rows, bytes } = running.progress;
      expect(rows).toBeGreaterThan(0);
      expect(rows).toBeLessThan(total);
      expect(bytes).toBeGreaterThan(0);
      expect(bytes).toBeLessThan(data.length);
      // Never more rows than the whole records within the bytes read (the count may lag
      // behind DuckDB on a busy machine, never run ahead of it). Lines grow longer with
      // their id, so the share of rows runs ahead of the share of bytes: count them exactly.
      const recordsWithin = data.slice(0, bytes).split('\n').length - 2;
      expect(rows).toBeLessThanOrEqual(recordsWithin);
      open();
      const done = await c.finished(id);
      expect(done.status).toBe('success');
      expect(done.progress).toEqual({ rows: total, bytes: data.length });
      expect(done.result.imported_rows).toBe(total);
    } finally {
      await c.t.close();
    }
  }, 60_000);

  it('at start, jobs of a project that is no longer active are dropped (a delete cut short)', async () => {
    const c = await setup();
    const root = c.t.root;
    await c.createTable('t', [{ name: 'v', type: 'VARCHAR' }]);
    const file = await c.upload('v\n1\n');
    const release = await c.holdTable('t');
    const job = (await c.submit('t', { file_id: file })).body.id;
    const waiting = (await c.submit('t', { file_id: file })).body.id;
    // As if killed after the project was marked deleted, before its jobs went.
    await c.t.services.catalog.store.db.with((conn) => conn.run("UPDATE projects SET status = 'deleted' WHERE id = 'p'"));
    release();
    await c.t.services.close();
    const again = await makeApp({ root });
    try {
      expect(again.services.jobs.byIdAnyProject(job)).toBeUndefined();
      expect(again.services.jobs.byIdAnyProject(waiting)).toBeUndefined();
      const left = await again.services.catalog.store.db.with(async (conn) => Number((await conn.runAndReadAll("SELECT count(*) FROM jobs WHERE project_id = 'p'")).getRows()[0]![0]));
      expect(left).toBe(0);
    } finally {
      await again.services.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('finished jobs go after 7 days; files a waiting job needs are kept past their expiry', async () => {
    const clock = manualClock();
    const c = await setup({ FILE_RETENTION_DAYS: '1' }, clock);
    try {
      await c.createTable('t', [{ name: 'v', type: 'VARCHAR' }]);
      const file = await c.upload('v\n1\n');
      const done = await c.finished((await c.submit('t', { file_id: file })).body.id);
      const release = await c.holdTable('t');
      const pending = (await c.submit('t', { file_id: file })).body.id;
      clock.advance(2 * 86_400_000);
      await c.t.services.sweeper.runNow();
      expect(c.t.services.files.get('p', file)).toBeDefined();
      release();
      await c.finished(pending);
      await c.t.services.sweeper.runNow();
      expect(c.t.services.files.get('p', file)).toBeUndefined();
      expect((await c.t.callJson('GET', `${P}/jobs/${done.id}`)).status).toBe(200);
      clock.advance(5 * 86_400_000 - 1);
      await c.t.services.sweeper.runNow();
      expect((await c.t.callJson('GET', `${P}/jobs/${done.id}`)).status).toBe(200);
      clock.advance(1);
      await c.t.services.sweeper.runNow();
      expect((await c.t.callJson('GET', `${P}/jobs/${done.id}`)).status).toBe(404);
      expect((await c.t.callJson('GET', `${P}/jobs/${pending}`)).status).toBe(200);
    } finally {
      await c.t.close();
    }
  });

  it('deleting the project stops and removes its jobs', async () => {
    const c = await setup();
    try {
      await c.createTable('t', [{ name: 'v', type: 'VARCHAR' }]);
      const file = await c.upload('v\n1\n');
      const release = await c.holdTable('t');
      const running = (await c.submit('t', { file_id: file })).body.id;
      const waiting = (await c.submit('t', { file_id: file })).body.id;
      const deleting = c.t.call('DELETE', P);
      await c.until(() => status(c.t, waiting) === 'cancelled', 'the waiting job to be cancelled');
      release();
      expect((await deleting).status).toBe(204);
      expect(c.t.services.jobs.byIdAnyProject(running)).toBeUndefined();
      expect(c.t.services.jobs.byIdAnyProject(waiting)).toBeUndefined();
      const rows = await c.t.services.catalog.store.db.with(async (conn) => (await conn.runAndReadAll("SELECT count(*) FROM jobs WHERE project_id = 'p'")).getRows()[0]![0]);
      expect(Number(rows)).toBe(0);
      expect(existsSync(c.t.services.paths.projectFilesDir('p'))).toBe(false);
    } finally {
      await c.t.close();
    }
  });

  it('metrics count finished jobs by operation and status, the queue and durations', async () => {
    const c = await setup();
    try {
      await c.createTable('t', [{ name: 'v', type: 'VARCHAR' }]);
      const file = await c.upload('v\n1\n');
      await c.finished((await c.submit('t', { file_id: file })).body.id);
      await c.finished((await c.submit('t', { file_id: await c.upload('nope\n1\n') })).body.id);
      const text = await (await c.t.call('GET', '/metrics')).text();
      expect(text).toContain('duckdb_storage_jobs_total{operation="import",status="success"} 1');
      expect(text).toContain('duckdb_storage_jobs_total{operation="import",status="error"} 1');
      expect(text).toContain('duckdb_storage_jobs_waiting 0');
      expect(text).toMatch(/duckdb_storage_job_duration_seconds_count\{operation="import",status="success"\} 1/);
      // The queue while a job runs and another waits; a cancel counts as a final status too.
      const release = await c.holdTable('t');
      const running = (await c.submit('t', { file_id: file })).body.id;
      await c.until(() => status(c.t, running) === 'processing', 'the job to run');
      const waiting = (await c.submit('t', { file_id: file })).body.id;
      const busy = await (await c.t.call('GET', '/metrics')).text();
      expect(busy).toContain('duckdb_storage_jobs_waiting 1');
      expect(busy).toContain('duckdb_storage_jobs_running 1');
      expect((await c.t.call('DELETE', `${P}/jobs/${waiting}`)).status).toBe(204);
      release();
      await c.finished(running);
      const after = await (await c.t.call('GET', '/metrics')).text();
      expect(after).toContain('duckdb_storage_jobs_total{operation="import",status="cancelled"} 1');
      expect(after).toContain('duckdb_storage_jobs_total{operation="import",status="success"} 2');
      expect(after).toContain('duckdb_storage_jobs_waiting 0');
      expect(after).toContain('duckdb_storage_jobs_running 0');
      expect(after).toMatch(/duckdb_storage_job_duration_seconds_bucket\{le="[^"]+",operation="import",status="success"\} \d/);
    } finally {
      await c.t.close();
    }
  });
});

describe('§16 progress: counting the records of an import file', () => {
  let root: string;
  const worker = new ByteWorker();
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-count-'));
  });
  afterAll(async () => {
    await worker.close();
    await rm(root, { recursive: true, force: true });
  });

  /** The rows before every byte offset of `text`, counted in blocks of 3 bytes. */
  async function counted(text: string, options: CountOptions): Promise<{ total: number; before: (n: number) => number }> {
    const path = join(root, `f${Math.random().toString(36).slice(2)}`);
    await writeFile(path, text);
    const count = worker.countRecords(path, { blockBytes: 3, ...options });
    await count.done;
    return { total: count.rowsBefore(Buffer.byteLength(text)), before: (n) => count.rowsBefore(n) };
  }

  it('CSV: line ends inside quotes, doubled quotes, CRLF, blank lines and a last line without its end', async () => {
    const csv = 'id,v\r\n1,"two\nlines"\r\n2,"say ""hi""\n"\r\n\r\n3,plain';
    const { total, before } = await counted(csv, { quote: '"', escape: '"', skip: 1 });
    expect(total).toBe(3);
    expect(before(csv.indexOf('2,'))).toBe(1);
    expect(before(csv.indexOf('3,'))).toBe(2);
    // Never more than the rows that ended within the bytes, and never going back.
    const seen = Array.from({ length: csv.length + 1 }, (_, n) => before(n));
    for (let n = 1; n < seen.length; n++) expect(seen[n]!).toBeGreaterThanOrEqual(seen[n - 1]!);
    expect((await counted(csv, { quote: '"', escape: '"', skip: 0 })).total).toBe(4);
  });

  it('CSV with another escape character, and another quote', async () => {
    expect((await counted('v\n"a\\"\nb"\n"c"\n', { quote: '"', escape: '\\', skip: 1 })).total).toBe(2);
    expect((await counted("v\n'a\nb'\n\"c\n", { quote: "'", escape: "'", skip: 1 })).total).toBe(2);
  });

  it('NDJSON: one record a line, quotes and escaped quotes inside strings do not matter', async () => {
    const ndjson = '{"a":"x\\"y"}\n\n{"a":"\\\\"}\n{"a":3}';
    expect((await counted(ndjson, {})).total).toBe(3);
  });
  /** Records of `bytes` as one byte at a time counts them: what the word-at-a-time scan must match. */
  function byteByByte(bytes: Uint8Array, quote: number, escape: number): number {
    let records = 0;
    let inQuotes = false;
    let skip = false;
    let content = false;
    for (const b of bytes) {
      if (skip) skip = false;
      else if (inQuotes) {
        if (b === escape && escape !== quote) skip = true;
        else if (b === quote) inQuotes = false;
      } else if (b === 10) {
        if (content) records++;
        content = false;
      } else if (b !== 13 && b !== 32 && b !== 9) {
        content = true;
        if (b === quote) inQuotes = true;
      }
    }
    return content ? records + 1 : records;
  }

  it('counts long lines four bytes at a time exactly as byte by byte, in blocks of any size and alignment', async () => {
    const random = prng(20261202);
    // Mostly plain text, with line ends, quotes, escapes, blanks and multi-byte characters among it.
    const pieces = ['a', 'bc', '12345', ',', 'é', '€', '\n', '\r\n', '"', '""', '\\', "'", ' ', '\t', '\n\n', ' \n'];
    const weights = [30, 20, 20, 10, 3, 2, 6, 2, 3, 1, 2, 2, 2, 1, 1, 1];
    const pick = () => {
      let r = random() * weights.reduce((a, b) => a + b, 0);
      for (const [i, w] of weights.entries()) if ((r -= w) < 0) return pieces[i]!;
      return pieces[0]!;
    };
    const byte = (c: string | undefined) => (c ? c.charCodeAt(0) : -1);
    for (let round = 0; round < 6; round++) {
      const text = Array.from({ length: 2000 + Math.floor(random() * 3000) }, pick).join('');
      const bytes = Buffer.from(text);
      for (const options of [{ quote: '"', escape: '"' }, { quote: '"', escape: '\\' }, { quote: "'", escape: "'" }, {}] as CountOptions[]) {
        const expected = byteByByte(bytes, byte(options.quote), options.escape ? byte(options.escape) : byte(options.quote));
        for (const blockBytes of [5, 64, 1021, 1 << 16]) {
          const path = join(root, `w${round}-${blockBytes}`);
          await writeFile(path, bytes);
          const count = worker.countRecords(path, { blockBytes, ...options });
          await count.done;
          expect({ round, options, blockBytes, total: count.rowsBefore(bytes.length) }).toEqual({ round, options, blockBytes, total: expected });
        }
      }
    }
  });
});
