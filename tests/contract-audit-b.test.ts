// Contract audit of §14 (branches), §15 (files), §16 (jobs) and §17 (SQL, workspaces):
// one probe per statement that no other test pinned down, asserting the contract's words
// (status, error code, fields, headers) and that a refused request changed nothing.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, manualClock, shareAndLink, walk, type TestApp } from './helpers.ts';

let t: TestApp;
const clock = manualClock(new Date('2026-12-01T00:00:00.000Z'));
beforeAll(async () => {
  t = await makeApp({ clock });
});
afterAll(() => t.close());

const CSV = { 'content-type': 'text/csv' };
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$/;
let seq = 0;

/** A project with bucket `b` and table `t` (id INTEGER key, v VARCHAR) holding rows 1 and 2. */
async function project(): Promise<{ id: string; P: string; key: string }> {
  const id = `ab${seq++}`;
  const key = await t.createProject(id);
  const P = `/projects/${id}`;
  expect((await t.call('POST', `${P}/buckets`, { body: { name: 'b' } })).status).toBe(201);
  expect((await t.call('POST', `${P}/buckets/b/tables`, { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }], primary_key: ['id'] } })).status).toBe(201);
  expect((await t.call('POST', `${P}/buckets/b/tables/t/import`, { raw: 'id,v\n1,a\n2,b\n', headers: CSV })).status).toBe(200);
  return { id, P, key };
}

async function branch(P: string, name = 'dev'): Promise<{ id: string; B: string }> {
  const res = await t.callJson('POST', `${P}/branches`, { body: { name } });
  expect(res.status).toBe(201);
  return { id: res.body.id, B: `${P}/branches/${res.body.id}` };
}

function expectError(res: { status: number; body: any; response: Response }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.body.detail.error).toBe(code);
  expect(typeof res.body.detail.message).toBe('string');
  if ('details' in res.body.detail) expect(typeof res.body.detail.details).toBe('object');
}

async function upload(P: string, data: string, query = 'name=data.csv', headers: Record<string, string> = CSV) {
  // Bytes, not a string: a string body would make the Request add text/plain itself.
  const res = await t.callJson('POST', `${P}/files?${query}`, { raw: new TextEncoder().encode(data), headers });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function finished(P: string, jobId: string) {
  const res = await t.callJson('GET', `${P}/jobs/${jobId}?wait=30`);
  expect(res.status).toBe(200);
  expect(['success', 'error', 'cancelled']).toContain(res.body.status);
  return res.body;
}

describe('§14 branches, sentence by sentence', () => {
  it('an unknown branch id of any id-like shape is 404 branch_not_found on every branch route', async () => {
    const { P } = await project();
    for (const id of ['nope', 'no-such-branch', 'b_000000000000']) {
      expectError(await t.callJson('GET', `${P}/branches/${id}`), 404, 'branch_not_found');
      expectError(await t.callJson('DELETE', `${P}/branches/${id}`), 404, 'branch_not_found');
      expectError(await t.callJson('GET', `${P}/branches/${id}/changes`), 404, 'branch_not_found');
      expectError(await t.callJson('GET', `${P}/branches/${id}/buckets`), 404, 'branch_not_found');
    }
  });

  it('path names are validated before path objects are looked up (422 before 404 branch_not_found)', async () => {
    const { P } = await project();
    expectError(await t.callJson('GET', `${P}/branches/nope/buckets/a.b`), 422, 'validation_error');
    expectError(await t.callJson('GET', `${P}/branches/nope/buckets/b/tables/a.b`), 422, 'validation_error');
  });

  it('branch create: description absent is null; 255-character name; a refused create adds no branch', async () => {
    const { P } = await project();
    const created = await t.callJson('POST', `${P}/branches`, { body: { name: 'x'.repeat(255) } });
    expect(created.status).toBe(201);
    expect(created.response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(created.body).sort()).toEqual(['created_at', 'description', 'id', 'is_default', 'name']);
    expect(created.body.description).toBeNull();
    expect(created.body.created_at).toMatch(ISO);
    expect(created.body.id).toMatch(/^[a-z0-9_]{1,40}$/);
    const before = (await t.callJson('GET', `${P}/branches`)).body;
    for (const body of [{ name: 'X'.repeat(255) }, { name: 'MAIN' }, { name: 'ok', description: 5 }, { name: 'ok', extra: 1, description: [] }]) {
      const res = await t.callJson('POST', `${P}/branches`, { body });
      expect([409, 422]).toContain(res.status);
    }
    expect((await t.callJson('GET', `${P}/branches`)).body).toEqual(before);
  });

  it('a refused delete of the default branch, reset and merge change nothing', async () => {
    const { P } = await project();
    const { B } = await branch(P);
    const before = (await t.callJson('GET', `${P}/branches`)).body;
    expectError(await t.callJson('DELETE', `${P}/branches/default`), 400, 'invalid_branch');
    expect((await t.callJson('GET', `${P}/branches`)).body).toEqual(before);
    // reset of a table in state main: 200, the table unchanged
    const reset = await t.callJson('POST', `${B}/buckets/b/tables/t/reset`);
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({ name: 't', bucket: 'b', branch_state: 'main', row_count: 2 });
    // merge of a table in state main: 400 nothing_to_merge, no snapshot taken
    const snaps = (await t.callJson('GET', `${P}/snapshots`)).body.total;
    expectError(await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: {} }), 400, 'nothing_to_merge');
    expect((await t.callJson('GET', `${P}/snapshots`)).body.total).toBe(snaps);
    expectError(await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: { force: 'yes' } }), 422, 'validation_error');
    expectError(await t.callJson('POST', `${B}/buckets/b/tables/nope/merge`, { body: {} }), 404, 'table_not_found');
    expectError(await t.callJson('POST', `${B}/buckets/nope/tables/t/reset`), 404, 'bucket_not_found');
    expectError(await t.callJson('POST', `${B}/buckets/b/tables/nope/reset`), 404, 'table_not_found');
  });

  it('merge: the response shape, the auto snapshot of main (reason merge), and a conflict changes nothing', async () => {
    const { P } = await project();
    const { B, id: bid } = await branch(P);
    expect((await t.call('POST', `${B}/buckets/b/tables/t/import?incremental=true`, { raw: 'id,v\n3,c\n', headers: CSV })).status).toBe(200);
    const merged = await t.callJson('POST', `${B}/buckets/b/tables/t/merge`);
    expect(merged.status).toBe(200);
    expect(Object.keys(merged.body).sort()).toEqual(['snapshot_id', 'table']);
    expect(merged.body.table).toMatchObject({ name: 't', bucket: 'b', row_count: 3 });
    const snap = await t.callJson('GET', `${P}/snapshots/${merged.body.snapshot_id}`);
    expect(snap.body).toMatchObject({ kind: 'auto', reason: 'merge', branch: 'default', row_count: 2, bucket: 'b', table: 't' });
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t`)).body.branch_state).toBe('main');
    // conflict: the branch copies, main moves, merge → 409, main and branch unchanged
    expect((await t.call('POST', `${B}/buckets/b/tables/t/import?incremental=true`, { raw: 'id,v\n4,d\n', headers: CSV })).status).toBe(200);
    expect((await t.call('POST', `${P}/buckets/b/tables/t/import?incremental=true`, { raw: 'id,v\n5,e\n', headers: CSV })).status).toBe(200);
    const snaps = (await t.callJson('GET', `${P}/snapshots`)).body.total;
    expectError(await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: { force: false } }), 409, 'merge_conflict');
    expect((await t.callJson('GET', `${P}/snapshots`)).body.total).toBe(snaps);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.row_count).toBe(4);
    expect((await t.callJson('GET', `${B}/buckets/b/tables/t`)).body).toMatchObject({ row_count: 4, branch_state: 'copied' });
    const changes = await t.callJson('GET', `${B}/changes`);
    expect(changes.body).toEqual({ tables: [{ bucket: 'b', table: 't', state: 'copied', main_changed: true }], buckets: [] });
    expect(bid).toBeTruthy();
  });

  it('merge of a table created in the branch: snapshot_id null; of one the branch deleted: table null', async () => {
    const { P } = await project();
    const { B } = await branch(P);
    expect((await t.call('POST', `${B}/buckets/b/tables`, { body: { name: 'n', columns: [{ name: 'a', type: 'INTEGER' }] } })).status).toBe(201);
    const created = await t.callJson('POST', `${B}/buckets/b/tables/n/merge`, { body: {} });
    expect(created.status).toBe(200);
    expect(created.body.snapshot_id).toBeNull();
    expect(created.body.table).toMatchObject({ name: 'n', bucket: 'b' });
    expect((await t.call('DELETE', `${B}/buckets/b/tables/t`)).status).toBe(204);
    const dropped = await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: {} });
    expect(dropped.status).toBe(200);
    expect(dropped.body.table).toBeNull();
    expect(typeof dropped.body.snapshot_id).toBe('string');
    expectError(await t.callJson('GET', `${P}/buckets/b/tables/t`), 404, 'table_not_found');
  });

  it('files are the same in every branch; the §15–§17 routes have branch twins', async () => {
    const { P } = await project();
    const { B } = await branch(P);
    const file = await upload(P, 'id,v\n9,z\n');
    expect((await t.callJson('GET', `${B}/files/${file.id}`)).body).toEqual(file);
    expect((await t.callJson('GET', `${B}/files`)).body.total).toBe(1);
    const inBranch = await upload(B, 'x');
    expect((await t.callJson('GET', `${P}/files/${inBranch.id}`)).status).toBe(200);
    expect((await t.callJson('POST', `${B}/query`, { body: { sql: 'SELECT count(*) AS n FROM b.t' } })).body.rows).toEqual([{ n: 2 }]);
    const ws = await t.callJson('POST', `${B}/workspaces`, { body: {} });
    expect(ws.status).toBe(201);
    expect(ws.body.branch).not.toBe('default');
    expect((await t.callJson('GET', `${P}/workspaces`)).body.total).toBe(0);
    expectError(await t.callJson('GET', `${P}/workspaces/${ws.body.id}`), 404, 'workspace_not_found');
  });
});

describe('§15 files, sentence by sentence', () => {
  it('the file object: fields, types, expiry FILE_RETENTION_DAYS after upload, none when permanent', async () => {
    const { P } = await project();
    const file = await upload(P, 'abc', 'name=a.csv&tags=daily,x:y');
    expect(Object.keys(file).sort()).toEqual(['content_encoding', 'content_type', 'created_at', 'expires_at', 'id', 'is_permanent', 'name', 'sha256', 'size_bytes', 'tags']);
    expect(file).toMatchObject({ name: 'a.csv', size_bytes: 3, content_type: 'text/csv', content_encoding: null, tags: ['daily', 'x:y'], is_permanent: false });
    expect(file.id).toMatch(/^f_[0-9a-f]{12}$/);
    expect(file.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(file.created_at).toMatch(ISO);
    expect(Date.parse(file.expires_at) - Date.parse(file.created_at)).toBe(15 * 24 * 3600 * 1000);
    const permanent = await upload(P, 'abc', 'name=p&permanent=true', {});
    expect(permanent.is_permanent).toBe(true);
    expect(permanent.expires_at).toBeNull();
    expect(permanent.content_type).toBe('application/octet-stream');
  });

  it('refused uploads (422) store nothing: no record, no file', async () => {
    const { id, P } = await project();
    const dir = join(t.dataDir, 'files', `project_${id}`);
    const before = await walk(dir, { allowMissing: true });
    const bad = ['', 'name=', 'name=a/b', 'name=a%5Cb', `name=${'x'.repeat(256)}`, 'name=a%0Ab', 'name=a&tags=bad%20tag', `name=a&tags=${Array.from({ length: 21 }, (_, i) => `t${i}`).join(',')}`, `name=a&tags=${'x'.repeat(65)}`, 'name=a&tags=a,,b', 'name=a&permanent=yes'];
    for (const query of bad) {
      const res = await t.callJson('POST', `${P}/files?${query}`, { raw: 'abc', headers: CSV });
      expectError(res, 422, 'validation_error');
      expect(Array.isArray(res.body.detail.details.issues), query).toBe(true);
    }
    expect((await t.callJson('GET', `${P}/files`)).body).toEqual({ files: [], total: 0 });
    expect(await walk(dir, { allowMissing: true })).toEqual(before);
  });

  it('list: 422 for limit and offset out of range or a bad tag; 20 tags are fine', async () => {
    const { P } = await project();
    for (const q of ['limit=0', 'limit=1001', 'offset=-1', 'limit=x', 'tags=a%20b']) expectError(await t.callJson('GET', `${P}/files?${q}`), 422, 'validation_error');
    const twenty = Array.from({ length: 20 }, (_, i) => `t${i}`).join(',');
    expect((await t.callJson('GET', `${P}/files?tags=${twenty}&limit=1000`)).status).toBe(200);
    const file = await upload(P, 'abc', `name=a&tags=${twenty}`);
    expect(file.tags).toHaveLength(20);
  });

  it('download: the stored type, length, ETag, Content-Disposition; 206 for a range; 416 outside', async () => {
    const { P } = await project();
    const file = await upload(P, '0123456789', 'name=digits.txt', { 'content-type': 'text/plain' });
    const whole = await t.call('GET', `${P}/files/${file.id}/download`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('text/plain');
    expect(whole.headers.get('content-length')).toBe('10');
    expect(whole.headers.get('etag')).toBe(`"${file.sha256}"`);
    expect(whole.headers.get('content-disposition')).toBe('attachment; filename="digits.txt"');
    expect(await whole.text()).toBe('0123456789');
    const part = await t.call('GET', `${P}/files/${file.id}/download`, { headers: { range: 'bytes=2-4' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 2-4/10');
    expect(await part.text()).toBe('234');
    const outside = await t.callJson('GET', `${P}/files/${file.id}/download`, { headers: { range: 'bytes=20-30' } });
    expect(outside.status).toBe(416);
    expectError(await t.callJson('GET', `${P}/files/f_000000000000/download`), 404, 'file_not_found');
    expectError(await t.callJson('DELETE', `${P}/files/f_000000000000`), 404, 'file_not_found');
    expectError(await t.callJson('GET', `${P}/files/nope`), 404, 'file_not_found');
  });
});

describe('§16 jobs, sentence by sentence', () => {
  it('the job object of a submission: every field, its types, Location', async () => {
    const { P } = await project();
    const file = await upload(P, 'id,v\n3,c\n');
    const res = await t.callJson('POST', `${P}/buckets/b/tables/t/import-async`, { body: { file_id: file.id, incremental: true } });
    expect(res.status).toBe(202);
    expect(res.response.headers.get('location')).toBe(`${P}/jobs/${res.body.id}`);
    expect(Object.keys(res.body).sort()).toEqual(['branch', 'created_at', 'error', 'finished_at', 'id', 'operation', 'params', 'progress', 'result', 'started_at', 'status', 'table']);
    expect(res.body).toMatchObject({ operation: 'import', branch: 'default', table: { bucket: 'b', name: 't' }, result: null, error: null, finished_at: null });
    expect(['waiting', 'processing']).toContain(res.body.status);
    expect(res.body.id).toMatch(/^j_/);
    expect(res.body.created_at).toMatch(ISO);
    expect(res.body.progress).toEqual({ rows: expect.any(Number), bytes: expect.any(Number) });
    const done = await finished(P, res.body.id);
    expect(done.status).toBe('success');
    expect(done.started_at).toMatch(ISO);
    expect(done.finished_at).toMatch(ISO);
    expect(Object.keys(done.result).sort()).toEqual(['imported_rows', 'row_count', 'table']);
    expect(done.result).toMatchObject({ imported_rows: 1, row_count: 3 });
    // DELETE of a finished job: 409 job_finished, the job unchanged
    expectError(await t.callJson('DELETE', `${P}/jobs/${done.id}`), 409, 'job_finished');
    expect((await t.callJson('GET', `${P}/jobs/${done.id}`)).body).toEqual(done);
    expectError(await t.callJson('DELETE', `${P}/jobs/j_nope`), 404, 'job_not_found');
  });

  it('a failed import job: status error, error is the inner §1 object, the table unchanged', async () => {
    const { P } = await project();
    const file = await upload(P, 'id,v\nx,c\n');
    const res = await t.callJson('POST', `${P}/buckets/b/tables/t/import-async`, { body: { file_id: file.id } });
    const done = await finished(P, res.body.id);
    expect(done.status).toBe('error');
    expect(done.result).toBeNull();
    expect(done.error.error).toBe('import_failed');
    expect(typeof done.error.message).toBe('string');
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.row_count).toBe(2);
  });

  it('an export job writes a new file named {table}.{ext}: §8 type, no tags, not permanent', async () => {
    const { P } = await project();
    const res = await t.callJson('POST', `${P}/buckets/b/tables/t/export-async`, { body: { format: 'ndjson', gzip: true } });
    expect(res.status).toBe(202);
    expect(res.response.headers.get('location')).toBe(`${P}/jobs/${res.body.id}`);
    expect(res.body.operation).toBe('export');
    const done = await finished(P, res.body.id);
    expect(done.status).toBe('success');
    expect(Object.keys(done.result).sort()).toEqual(['file_id', 'rows', 'size_bytes']);
    expect(done.result.rows).toBe(2);
    const file = (await t.callJson('GET', `${P}/files/${done.result.file_id}`)).body;
    expect(file).toMatchObject({ name: 't.ndjson.gz', tags: [], is_permanent: false, size_bytes: done.result.size_bytes });
    // §8: a gzipped export is a .gz file of type application/gzip.
    expect(file.content_type).toBe('application/gzip');
    const plain = await finished(P, (await t.callJson('POST', `${P}/buckets/b/tables/t/export-async`, { body: { format: 'ndjson' } })).body.id);
    expect((await t.callJson('GET', `${P}/files/${plain.result.file_id}`)).body).toMatchObject({ name: 't.ndjson', content_type: 'application/x-ndjson' });
  });

  it('submissions refused at once queue nothing', async () => {
    const { P } = await project();
    const json = await upload(P, '{}', 'name=a.json', { 'content-type': 'application/json' });
    const refusals: [string, unknown, number, string][] = [
      ['import-async', { file_id: 'f_000000000000' }, 404, 'file_not_found'],
      ['import-async', { file_id: json.id }, 415, 'unsupported_media_type'],
      ['import-async', { file_id: json.id, format: 'csv', delimiter: ';;' }, 422, 'validation_error'],
      ['import-async', { file_id: json.id, format: 'csv', header: false }, 422, 'validation_error'],
      ['import-async', {}, 422, 'validation_error'],
      ['export-async', { format: 'xml' }, 422, 'validation_error'],
      ['export-async', { columns: ['nope'] }, 422, 'validation_error'],
    ];
    for (const [op, body, status, code] of refusals) expectError(await t.callJson('POST', `${P}/buckets/b/tables/t/${op}`, { body }), status, code);
    expectError(await t.callJson('POST', `${P}/buckets/b/tables/nope/export-async`, { body: {} }), 404, 'table_not_found');
    expectError(await t.callJson('POST', `${P}/buckets/b/tables/nope/import-async`, { body: { file_id: json.id } }), 404, 'table_not_found');
    // Options naming their format are the body: 422 before the file's 404, issues at the body's paths.
    const clash = await t.callJson('POST', `${P}/buckets/b/tables/t/import-async`, { body: { file_id: 'f_000000000000', format: 'csv', delimiter: ';', quote: ';' } });
    expectError(clash, 422, 'validation_error');
    expect(clash.body.detail.details.issues.map((i: any) => i.path)).toEqual(['quote', 'escape']);
    expectError(await t.callJson('POST', `${P}/buckets/b/tables/t/import-async`, { body: { file_id: 'f_000000000000', format: 'csv', header: false } }), 422, 'validation_error');
    expect((await t.callJson('GET', `${P}/jobs`)).body).toEqual({ jobs: [], total: 0 });
  });

  it('GET P/jobs validates its query: 422 for an unknown status or operation, limits out of range', async () => {
    const { P } = await project();
    for (const q of ['status=done', 'operation=copy', 'limit=0', 'limit=1001', 'offset=-1']) expectError(await t.callJson('GET', `${P}/jobs?${q}`), 422, 'validation_error');
    // The query comes after the path objects: an unknown job is 404 whatever its query.
    expectError(await t.callJson('GET', `${P}/jobs/j_nope?wait=61`), 404, 'job_not_found');
    const job = await finished(P, (await t.callJson('POST', `${P}/buckets/b/tables/t/export-async`, { body: {} })).body.id);
    for (const q of ['wait=61', 'wait=-1', 'wait=1.5']) expectError(await t.callJson('GET', `${P}/jobs/${job.id}?${q}`), 422, 'validation_error');
    expect((await t.callJson('GET', `${P}/jobs?branch=no-such-branch`)).body).toEqual({ jobs: [], total: 0 });
    expect((await t.callJson('GET', `${P}/jobs?branch=DEFAULT`)).body.total).toBe(1);
  });
});

describe('§17 SQL, sentence by sentence', () => {
  it('json answer: exactly its fields, row_count the rows returned, truncated when the limit cut', async () => {
    const { P } = await project();
    const res = await t.callJson('POST', `${P}/query`, { body: { sql: 'SELECT id, v FROM b.t ORDER BY id', limit: 1 } });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['columns', 'elapsed_ms', 'row_count', 'rows', 'truncated']);
    expect(res.body).toMatchObject({ columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }], rows: [{ id: 1, v: 'a' }], row_count: 1, truncated: true });
    expect(typeof res.body.elapsed_ms).toBe('number');
    const all = await t.callJson('POST', `${P}/query`, { body: { sql: 'SELECT id FROM b.t', limit: 2 } });
    expect(all.body).toMatchObject({ row_count: 2, truncated: false });
    for (const sql of ['VALUES (1)', 'DESCRIBE b.t', 'SUMMARIZE b.t', 'WITH x AS (SELECT 1 AS a) SELECT a FROM x', 'EXPLAIN SELECT 1']) {
      expect((await t.callJson('POST', `${P}/query`, { body: { sql } })).status, sql).toBe(200);
    }
  });

  it('non-reads, several statements, files, settings → 400 invalid_query or query_failed; nothing changes', async () => {
    const { P } = await project();
    const sqls = ['SELECT 1; SELECT 2', 'INSERT INTO b.t VALUES (9, \'z\')', 'DELETE FROM b.t', 'CREATE TABLE x (a INT)', "SELECT * FROM read_csv('/etc/passwd')", "SET memory_limit='10GB'", 'ATTACH \':memory:\' AS m', "SELECT * FROM glob('*')", "SELECT getenv('HOME')", 'PRAGMA database_list', 'EXPLAIN DELETE FROM b.t', 'COPY b.t TO \'/tmp/x.csv\''];
    for (const sql of sqls) {
      const res = await t.callJson('POST', `${P}/query`, { body: { sql } });
      expect(res.status, sql).toBe(400);
      expect(['invalid_query', 'query_failed'], sql).toContain(res.body.detail.error);
    }
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.row_count).toBe(2);
    expectError(await t.callJson('POST', `${P}/query`, { body: { sql: 'SELECT * FROM b.nope' } }), 400, 'invalid_query');
    expectError(await t.callJson('POST', `${P}/query`, { body: { sql: "SELECT 'a'::INTEGER" } }), 400, 'query_failed');
  });

  it('buckets named as SQL reserves are refused (422), also in a branch, without regard to case', async () => {
    const { P } = await project();
    const { B } = await branch(P);
    for (const name of ['main', 'TEMP', 'System', 'information_schema', 'PG_CATALOG']) {
      expectError(await t.callJson('POST', `${P}/buckets`, { body: { name } }), 422, 'validation_error');
      expectError(await t.callJson('POST', `${B}/buckets`, { body: { name } }), 422, 'validation_error');
    }
    expect((await t.callJson('GET', `${P}/buckets`)).body.total).toBe(1);
  });

  it('streamed formats are named query.{ext} with at most limit rows', async () => {
    const { P } = await project();
    for (const [format, type] of [['csv', 'text/csv'], ['ndjson', 'application/x-ndjson'], ['parquet', 'application/vnd.apache.parquet']] as const) {
      const res = await t.call('POST', `${P}/query`, { body: { sql: 'SELECT id FROM b.t ORDER BY id', format, limit: 1 } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(new RegExp(`^${type}`));
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="query.${format}"`);
      const body = Buffer.from(await res.arrayBuffer());
      if (format === 'csv') expect(body.toString()).toBe('id\n1\n');
      if (format === 'ndjson') expect(body.toString()).toBe('{"id":1}\n');
    }
  });
});

describe('§17 workspaces, sentence by sentence', () => {
  it('the workspace object; an unknown id of any shape is 404 workspace_not_found', async () => {
    const { P } = await project();
    const res = await t.callJson('POST', `${P}/workspaces`, { body: { name: 'w' } });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['branch', 'created_at', 'expires_at', 'id', 'name', 'size_bytes', 'tables']);
    expect(res.body).toMatchObject({ name: 'w', branch: 'default', tables: [] });
    expect(res.body.id).toMatch(/^w_/);
    expect(typeof res.body.size_bytes).toBe('number');
    expect(Date.parse(res.body.expires_at) - Date.parse(res.body.created_at)).toBe(24 * 3600 * 1000);
    for (const id of ['nope', 'w_000000000000', 'W_X', 'w-1']) {
      expectError(await t.callJson('GET', `${P}/workspaces/${id}`), 404, 'workspace_not_found');
      expectError(await t.callJson('DELETE', `${P}/workspaces/${id}`), 404, 'workspace_not_found');
      expectError(await t.callJson('POST', `${P}/workspaces/${id}/query`, { body: { sql: 'SELECT 1' } }), 404, 'workspace_not_found');
    }
    for (const body of [{ name: 'x'.repeat(256) }, { ttl_hours: 0 }, { ttl_hours: 721 }, { ttl_hours: 1.5 }, { name: 5 }]) {
      expectError(await t.callJson('POST', `${P}/workspaces`, { body }), 422, 'validation_error');
    }
    expect((await t.callJson('GET', `${P}/workspaces`)).body.total).toBe(1);
  });

  it('load, query and unload count as use: expires_at moves to ttl_hours after the last use', async () => {
    const { P } = await project();
    const ws = (await t.callJson('POST', `${P}/workspaces`, { body: { ttl_hours: 2 } })).body;
    const W = `${P}/workspaces/${ws.id}`;
    clock.advance(60_000);
    const loaded = await t.callJson('POST', `${W}/load`, { body: { tables: [{ source: 'b.t', destination: 'x' }] } });
    expect(loaded.status).toBe(200);
    expect(Date.parse(loaded.body.expires_at)).toBe(clock.now().getTime() + 2 * 3600 * 1000);
    expect(loaded.body.tables).toEqual([{ name: 'x', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }], row_count: 2 }]);
    clock.advance(60_000);
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: 'SELECT 1' } })).status).toBe(200);
    expect(Date.parse((await t.callJson('GET', W)).body.expires_at)).toBe(clock.now().getTime() + 2 * 3600 * 1000);
    clock.advance(60_000);
    expect((await t.callJson('POST', `${W}/unload`, { body: { source: 'x', bucket: 'b', table: 'out' } })).status).toBe(200);
    const used = clock.now().getTime();
    expect(Date.parse((await t.callJson('GET', W)).body.expires_at)).toBe(used + 2 * 3600 * 1000);
    // Reading the workspace (GET, list) is not a use.
    clock.advance(60_000);
    expect(Date.parse((await t.callJson('GET', W)).body.expires_at)).toBe(used + 2 * 3600 * 1000);
    expect(Date.parse((await t.callJson('GET', `${P}/workspaces`)).body.workspaces[0].expires_at)).toBe(used + 2 * 3600 * 1000);
  });

  it('query results: statement numbers from 1, changed_rows only for INSERT/UPDATE/DELETE, failure names its statement', async () => {
    const { P } = await project();
    const W = `${P}/workspaces/${(await t.callJson('POST', `${P}/workspaces`, { body: {} })).body.id}`;
    const res = await t.callJson('POST', `${W}/query`, { body: { sql: 'CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1), (2); UPDATE a SET x = x + 1; SELECT * FROM a ORDER BY x; DELETE FROM a WHERE x = 2' } });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: any) => [r.statement, r.changed_rows])).toEqual([[1, null], [2, 2], [3, 2], [4, null], [5, 1]]);
    for (const r of res.body.results) expect(Object.keys(r).sort()).toEqual(['changed_rows', 'columns', 'row_count', 'rows', 'statement']);
    expect(res.body.results[3]).toMatchObject({ columns: [{ name: 'x', type: 'INTEGER' }], rows: [{ x: 2 }, { x: 3 }], row_count: 2 });
    const failed = await t.callJson('POST', `${W}/query`, { body: { sql: "INSERT INTO a VALUES (7); SELECT 'q'::INTEGER; INSERT INTO a VALUES (8)" } });
    expectError(failed, 400, 'query_failed');
    expect(failed.body.detail.details.statement).toBe(2);
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: 'SELECT x FROM a ORDER BY x' } })).body.results[0].rows).toEqual([{ x: 3 }, { x: 7 }]);
    expectError(await t.callJson('POST', `${W}/query`, { body: { sql: 'SELEC 1' } }), 400, 'invalid_query');
    // No statement at all (semicolons, comments): invalid_query, in a workspace and in a query.
    for (const sql of [';', ' ; ;', '-- nothing', '/* nothing */']) {
      const inWorkspace = await t.callJson('POST', `${W}/query`, { body: { sql } });
      expectError(inWorkspace, 400, 'invalid_query');
      expect(inWorkspace.body.detail.message).toBe('The query contains no statement');
      const query = await t.callJson('POST', `${P}/query`, { body: { sql } });
      expectError(query, 400, 'invalid_query');
      expect(query.body.detail.message).toBe('The query contains no statement');
    }
    for (const body of [{ sql: '' }, { sql: 'SELECT 1', timeout_seconds: 0 }, { sql: 'SELECT 1', timeout_seconds: 3601 }, {}]) {
      expectError(await t.callJson('POST', `${W}/query`, { body }), 422, 'validation_error');
    }
  });

  it('unload: creates with the source columns and primary_key; 409 duplicate_keys and 404s leave nothing', async () => {
    const { P } = await project();
    const W = `${P}/workspaces/${(await t.callJson('POST', `${P}/workspaces`, { body: {} })).body.id}`;
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: "CREATE TABLE s AS SELECT * FROM (VALUES (1, 'a'), (1, 'b')) v(k, label); CREATE TABLE u AS SELECT 1 AS k, 'x' AS extra; CREATE TABLE l AS SELECT [1, 2] AS arr" } })).status).toBe(200);
    const tables = async () => (await t.callJson('GET', `${P}/buckets/b/tables`)).body.tables.map((x: any) => x.name);
    const before = await tables();
    expectError(await t.callJson('POST', `${W}/unload`, { body: { source: 's', bucket: 'b', table: 'dup', primary_key: ['k'] } }), 409, 'duplicate_keys');
    expectError(await t.callJson('POST', `${W}/unload`, { body: { source: 'nope', bucket: 'b', table: 'x' } }), 404, 'table_not_found');
    expectError(await t.callJson('POST', `${W}/unload`, { body: { source: 's', bucket: 'nope', table: 'x' } }), 404, 'bucket_not_found');
    expectError(await t.callJson('POST', `${W}/unload`, { body: { source: 'u', bucket: 'b', table: 't' } }), 400, 'unknown_columns');
    expect(await tables()).toEqual(before);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.row_count).toBe(2);
    const created = await t.callJson('POST', `${W}/unload`, { body: { source: 's', bucket: 'b', table: 'made' } });
    expect(created.status).toBe(200);
    expect(Object.keys(created.body).sort()).toEqual(['imported_rows', 'table']);
    expect(created.body.imported_rows).toBe(2);
    expect(created.body.table.columns.map((c: any) => [c.name, c.type])).toEqual([['k', 'INTEGER'], ['label', 'VARCHAR']]);
  });
});

describe('§1 conventions on the §14–§17 routes', () => {
  it('415 for a JSON route sent another type, 422 for JSON that does not parse, 413 over 1 MiB; nothing created', async () => {
    const { P } = await project();
    for (const path of [`${P}/branches`, `${P}/query`, `${P}/workspaces`]) {
      expectError(await t.callJson('POST', path, { raw: '{"name":"x","sql":"SELECT 1"}', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
      expectError(await t.callJson('POST', path, { raw: '{"name":', headers: { 'content-type': 'application/json' } }), 422, 'validation_error');
      expectError(await t.callJson('POST', path, { body: { name: 'x', sql: `SELECT '${'x'.repeat(1024 * 1024)}'` } }), 413, 'payload_too_large');
    }
    expect((await t.callJson('GET', `${P}/branches`)).body.total).toBe(1);
    expect((await t.callJson('GET', `${P}/workspaces`)).body.total).toBe(0);
  });

  it('405 with Allow for a known path and a wrong method; 404 not_found for an unknown one; X-Request-ID and CORS on streams', async () => {
    const { P } = await project();
    const wrong = await t.callJson('PUT', `${P}/branches`);
    expectError(wrong, 405, 'method_not_allowed');
    expect(wrong.response.headers.get('allow')).toMatch(/GET/);
    expect(wrong.response.headers.get('allow')).toMatch(/POST/);
    expectError(await t.callJson('GET', `${P}/branches/default/nothing-here`), 404, 'not_found');
    const stream = await t.call('POST', `${P}/query`, { body: { sql: 'SELECT 1 AS a', format: 'csv' }, headers: { 'x-request-id': 'probe-1' } });
    expect(stream.headers.get('x-request-id')).toBe('probe-1');
    expect(stream.headers.get('access-control-allow-origin')).toBe('*');
    await stream.text();
  });
});

describe('§14–§17 orders and ties', () => {
  it('newest first (files, jobs) and by creation (branches) also when timestamps are equal', async () => {
    const { P } = await project();
    const files = [];
    for (let i = 0; i < 4; i++) files.push((await upload(P, `x${i}`, `name=f${i}`)).id);
    expect((await t.callJson('GET', `${P}/files`)).body.files.map((f: any) => f.id)).toEqual([...files].reverse());
    expect((await t.callJson('GET', `${P}/files?limit=2&offset=1`)).body).toMatchObject({ total: 4, files: [{ id: files[2] }, { id: files[1] }] });
    const branches = [];
    for (let i = 0; i < 4; i++) branches.push((await branch(P, `br${i}`)).id);
    expect((await t.callJson('GET', `${P}/branches`)).body.branches.map((b: any) => b.id)).toEqual(['default', ...branches]);
    const jobs = [];
    for (let i = 0; i < 4; i++) jobs.push((await t.callJson('POST', `${P}/buckets/b/tables/t/export-async`, { body: {} })).body.id);
    for (const id of jobs) await finished(P, id);
    expect((await t.callJson('GET', `${P}/jobs`)).body.jobs.map((j: any) => j.id)).toEqual([...jobs].reverse());
    expect((await t.callJson('GET', `${P}/jobs?operation=export&status=success&limit=1`)).body).toMatchObject({ total: 4, jobs: [{ id: jobs[3] }] });
  });

  it('branches created in one millisecond keep their creation order across a restart', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const root = await mkdtemp(join(tmpdir(), 'dsa-audit-b-'));
    const frozen = manualClock();
    try {
      let app = await makeApp({ root, clock: frozen });
      await app.createProject('order');
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push((await app.callJson('POST', '/projects/order/branches', { body: { name: `n${i}` } })).body.id);
      const listed = async () => (await app.callJson('GET', '/projects/order/branches')).body.branches.map((b: any) => b.id);
      expect(await listed()).toEqual(['default', ...ids]);
      await app.close();
      app = await makeApp({ root, clock: frozen });
      expect(await listed()).toEqual(['default', ...ids]);
      await app.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('download ranges: suffix, open-ended, and a range past the end is clipped', async () => {
    const { P } = await project();
    const file = await upload(P, '0123456789', 'name=d');
    const get = (range: string) => t.call('GET', `${P}/files/${file.id}/download`, { headers: { range } });
    const suffix = await get('bytes=-3');
    expect([suffix.status, suffix.headers.get('content-range'), await suffix.text()]).toEqual([206, 'bytes 7-9/10', '789']);
    const open = await get('bytes=5-');
    expect([open.status, open.headers.get('content-range'), await open.text()]).toEqual([206, 'bytes 5-9/10', '56789']);
    const clipped = await get('bytes=8-100');
    expect([clipped.status, clipped.headers.get('content-range'), await clipped.text()]).toEqual([206, 'bytes 8-9/10', '89']);
  });
});

describe('§17 edges', () => {
  it('an empty sql is 422 (one of blanks only has no statement: 400 invalid_query, as query.test pins); over 100 KiB is 422; a fractional limit is 422', async () => {
    const { P } = await project();
    expectError(await t.callJson('POST', `${P}/query`, { body: { sql: '   ' } }), 400, 'invalid_query');
    for (const body of [{ sql: '' }, { sql: `SELECT 1 ${' '.repeat(100 * 1024)}` }, { sql: 'SELECT 1', limit: 1.5 }, { sql: 'SELECT 1', timeout_seconds: 301 }, { sql: 'SELECT 1', limit: 100001 }]) {
      expectError(await t.callJson('POST', `${P}/query`, { body }), 422, 'validation_error');
    }
    expect((await t.callJson('POST', `${P}/query`, { body: { sql: 'SELECT 1 AS a', limit: 100000, timeout_seconds: 300 } })).status).toBe(200);
  });

  it('a refused load changes nothing in the workspace (not even the tables a non-preserving load would drop)', async () => {
    const { P } = await project();
    const W = `${P}/workspaces/${(await t.callJson('POST', `${P}/workspaces`, { body: {} })).body.id}`;
    expect((await t.callJson('POST', `${W}/load`, { body: { tables: [{ source: 'b.t', destination: 'keep' }] } })).status).toBe(200);
    const before = (await t.callJson('GET', W)).body.tables;
    expectError(await t.callJson('POST', `${W}/load`, { body: { tables: [{ source: 'b.t', destination: 'new' }, { source: 'b.nope', destination: 'x' }] } }), 404, 'table_not_found');
    expectError(await t.callJson('POST', `${W}/load`, { body: { tables: [{ source: 'b.t', destination: 'new' }, { source: 'nope.t', destination: 'x' }] } }), 404, 'bucket_not_found');
    expectError(await t.callJson('POST', `${W}/load`, { body: { tables: [] } }), 422, 'validation_error');
    expectError(await t.callJson('POST', `${W}/load`, { body: { tables: [{ source: 'b.t', destination: 'n', columns: ['nope'] }] } }), 422, 'validation_error');
    expect((await t.callJson('GET', W)).body.tables).toEqual(before);
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: 'SELECT count(*) AS n FROM keep' } })).body.results[0].rows).toEqual([{ n: 2 }]);
  });

  it('unload: a source column type §7 does not accept is 400 invalid_column; a key column not in the source is refused; nothing created', async () => {
    const { P } = await project();
    const W = `${P}/workspaces/${(await t.callJson('POST', `${P}/workspaces`, { body: {} })).body.id}`;
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: "CREATE TABLE l AS SELECT [1, 2] AS arr, 1 AS k; CREATE TABLE ok AS SELECT 1 AS k" } })).status).toBe(200);
    const before = (await t.callJson('GET', `${P}/buckets/b/tables`)).body;
    const listed = await t.callJson('POST', `${W}/unload`, { body: { source: 'l', bucket: 'b', table: 'lst' } });
    // §7 tables take scalar types; LIST/STRUCT/MAP appear only in its value mapping.
    expectError(listed, 400, 'invalid_column');
    const badKey = await t.callJson('POST', `${W}/unload`, { body: { source: 'ok', bucket: 'b', table: 'bk', primary_key: ['nope'] } });
    expect(badKey.status, JSON.stringify(badKey.body)).toBe(400);
    expect(badKey.body.detail.error).toBe('invalid_primary_key');
    expect((await t.callJson('GET', `${P}/buckets/b/tables`)).body).toEqual(before);
  });
});

describe('§14–§17 side effects and layout', () => {
  it('a first write in a branch clones the table to duckdb/branches/project_{id}/{branch}/{bucket}/{table}.duckdb; deleting the branch removes it', async () => {
    const { id, P } = await project();
    const { B, id: bid } = await branch(P);
    expect((await t.call('POST', `${B}/buckets/b/tables/t/truncate`)).status).toBe(200);
    const file = join(t.dataDir, 'duckdb', 'branches', `project_${id}`, bid, 'b', 't.duckdb');
    expect((await walk(join(t.dataDir, 'duckdb', 'branches', `project_${id}`))).filter((f) => !f.endsWith('.wal'))).toContain(`${bid}/b/t.duckdb`);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.row_count).toBe(2);
    expect((await t.call('DELETE', `${P}/branches/${bid}`)).status).toBe(204);
    expect((await walk(join(t.dataDir, 'duckdb', 'branches'), { allowMissing: true }) ?? []).filter((f) => f.startsWith(`project_${id}/${bid}`))).toEqual([]);
    expect(file).toContain(bid);
  });

  it('merge takes its auto snapshot even when every auto snapshot setting is off', async () => {
    const { P } = await project();
    const off = await t.callJson('PUT', `${P}/settings/snapshots`, { body: { auto: { drop_table: false, truncate: false, drop_column: false, full_import: false } } });
    expect(off.status).toBe(200);
    const { B } = await branch(P);
    expect((await t.call('POST', `${B}/buckets/b/tables/t/import?incremental=true`, { raw: 'id,v\n3,c\n', headers: CSV })).status).toBe(200);
    const merged = await t.callJson('POST', `${B}/buckets/b/tables/t/merge`, { body: {} });
    expect(merged.status).toBe(200);
    expect(typeof merged.body.snapshot_id).toBe('string');
    expect((await t.callJson('GET', `${P}/snapshots/${merged.body.snapshot_id}`)).body).toMatchObject({ kind: 'auto', reason: 'merge' });
  });

  it('a bucket linked under a name SQL reserves is refused (422): new buckets may not take those names', async () => {
    const { id, P } = await project();
    await t.createProject(`${id}src`);
    expect((await t.call('POST', `/projects/${id}src/buckets`, { body: { name: 's' } })).status).toBe(201);
    expect((await t.call('POST', `/projects/${id}src/buckets/s/share`, { body: { target_project_id: id } })).status).toBe(200);
    for (const name of ['main', 'Information_Schema']) {
      expectError(await t.callJson('POST', `${P}/buckets/${name}/link`, { body: { source_project_id: `${id}src`, source_bucket_name: 's' } }), 422, 'validation_error');
    }
    expect((await t.callJson('GET', `${P}/buckets`)).body.total).toBe(1);
  });

  it('workspace: its file at workspaces/project_{id}/{ws}.duckdb; ISO timestamps; project tables are read-only and nothing outside is reachable', async () => {
    const { id, P } = await project();
    const ws = (await t.callJson('POST', `${P}/workspaces`, { body: {} })).body;
    expect(ws.created_at).toMatch(ISO);
    expect(ws.expires_at).toMatch(ISO);
    expect(await walk(join(t.dataDir, 'workspaces', `project_${id}`))).toContain(`${ws.id}.duckdb`);
    const W = `${P}/workspaces/${ws.id}`;
    for (const sql of ["INSERT INTO b.t VALUES (9, 'z')", 'DELETE FROM b.t', 'DROP TABLE b.t', "SELECT * FROM read_csv('/etc/passwd')", "COPY (SELECT 1) TO '/tmp/audit-b.csv'", "ATTACH '/tmp/audit-b.duckdb' AS x", "SET memory_limit = '100GB'", 'CREATE SCHEMA b']) {
      const res = await t.callJson('POST', `${W}/query`, { body: { sql } });
      expect(res.status, sql).toBe(400);
      expect(['invalid_query', 'query_failed'], sql).toContain(res.body.detail.error);
    }
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.row_count).toBe(2);
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: 'CREATE VIEW vv AS SELECT * FROM b.t; SELECT count(*) AS n FROM vv' } })).body.results[1].rows).toEqual([{ n: 2 }]);
    expect((await t.call('DELETE', W)).status).toBe(204);
    expect(await walk(join(t.dataDir, 'workspaces', `project_${id}`))).not.toContain(`${ws.id}.duckdb`);
    expectError(await t.callJson('DELETE', W), 404, 'workspace_not_found');
  });

  it('unload: primary_key applies only when the table is created; a NULL key value is 409 duplicate_keys', async () => {
    const { P } = await project();
    const W = `${P}/workspaces/${(await t.callJson('POST', `${P}/workspaces`, { body: {} })).body.id}`;
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: "CREATE TABLE s AS SELECT * FROM (VALUES (3, 'c'), (4, 'd')) v(id, v); CREATE TABLE n AS SELECT * FROM (VALUES (1), (NULL)) v(k)" } })).status).toBe(200);
    const into = await t.callJson('POST', `${W}/unload`, { body: { source: 's', bucket: 'b', table: 't', incremental: true, primary_key: ['v'] } });
    expect(into.status, JSON.stringify(into.body)).toBe(200);
    expect(into.body).toMatchObject({ imported_rows: 2, table: { primary_key: ['id'], row_count: 4 } });
    expectError(await t.callJson('POST', `${W}/unload`, { body: { source: 'n', bucket: 'b', table: 'nk', primary_key: ['k'] } }), 409, 'duplicate_keys');
    expectError(await t.callJson('GET', `${P}/buckets/b/tables/nk`), 404, 'table_not_found');
    const full = await t.callJson('POST', `${W}/unload`, { body: { source: 's', bucket: 'b', table: 't' } });
    expect(full.body).toMatchObject({ imported_rows: 2, table: { row_count: 2 } });
  });
});

describe('§1 no host paths in any error of §15–§17', () => {
  const noPath = (body: unknown) => {
    const text = JSON.stringify(body);
    expect(text).not.toContain(t.dataDir);
    expect(text).not.toContain(t.root);
    expect(text).not.toMatch(/\/tmp\/|dsa-test-/);
  };

  it('failed import jobs (bad values, bad CSV, bad parquet, bad gzip), failed queries and workspace statements', async () => {
    const { P } = await project();
    const bad = [
      await upload(P, 'id,v\nx,c\n'),
      await upload(P, 'id,v\n1,"unterminated\n'),
      await upload(P, 'not parquet at all', 'name=p.parquet', { 'content-type': 'application/vnd.apache.parquet' }),
      await upload(P, '\x1f\x8b\x08garbage', 'name=g.csv.gz', { 'content-type': 'text/csv', 'content-encoding': 'gzip' }),
      await upload(P, '{"id": "x"}\n', 'name=n.ndjson', { 'content-type': 'application/x-ndjson' }),
    ];
    for (const file of bad) {
      const job = await finished(P, (await t.callJson('POST', `${P}/buckets/b/tables/t/import-async`, { body: { file_id: file.id } })).body.id);
      expect(job.status, file.name).toBe('error');
      noPath(job);
    }
    for (const sql of ['SELECT * FROM b.nope', "SELECT 'a'::INTEGER", "SELECT * FROM read_parquet('x.parquet')", 'SELECT * FROM nope']) {
      const res = await t.callJson('POST', `${P}/query`, { body: { sql } });
      expect(res.status).toBe(400);
      noPath(res.body);
    }
    const W = `${P}/workspaces/${(await t.callJson('POST', `${P}/workspaces`, { body: {} })).body.id}`;
    for (const sql of ['SELECT * FROM nope', "ATTACH 'x.duckdb' AS y", "COPY (SELECT 1) TO 'x.csv'", 'CREATE TABLE a (x INTEGER PRIMARY KEY); INSERT INTO a VALUES (1), (1)', "SELECT * FROM read_csv('x.csv')"]) {
      const res = await t.callJson('POST', `${W}/query`, { body: { sql } });
      expect(res.status, sql).toBe(400);
      noPath(res.body);
    }
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: "CREATE TABLE s AS SELECT 'x' AS id" } })).status).toBe(200);
    const failed = await t.callJson('POST', `${W}/unload`, { body: { source: 's', bucket: 'b', table: 't' } });
    expectError(failed, 400, 'import_failed');
    noPath(failed.body);
    expect((await t.callJson('GET', `${P}/buckets/b/tables/t`)).body.row_count).toBe(2);
  });
});

describe('odd bodies on the §14–§17 routes are a 4xx, never a 500, and change nothing', () => {
  it('null, arrays, strings, numbers and wrong field types', async () => {
    const { P } = await project();
    const { B } = await branch(P);
    const W = `${P}/workspaces/${(await t.callJson('POST', `${P}/workspaces`, { body: {} })).body.id}`;
    const file = await upload(P, 'id,v\n5,e\n');
    const T = `${P}/buckets/b/tables/t`;
    const routes: [string, unknown[]][] = [
      [`${P}/branches`, [{ name: ['x'] }, { name: 'x', description: {} }]],
      [`${B}/buckets/b/tables/t/merge`, [{ force: 1 }, { force: null }]],
      [`${T}/import-async`, [{ file_id: file.id, incremental: 'true' }, { file_id: file.id, columns: [] }, { file_id: file.id, columns: ['bad name'] }, { file_id: file.id, header: 'no' }, { file_id: file.id, null_string: 5 }, { file_id: file.id, format: 'xml' }, { file_id: 5 }, { file_id: file.id, quote: '' }, { file_id: file.id, escape: 'ab' }]],
      [`${T}/export-async`, [{ limit: 0 }, { limit: 1.5 }, { gzip: 'yes' }, { filters: [{ column: 'id', operator: 'between', values: [1] }] }, { order_by: [{ column: 'nope' }] }, { columns: [] }]],
      [`${P}/query`, [{ sql: 5 }, { sql: 'SELECT 1', limit: '10' }, { sql: 'SELECT 1', format: 'JSON' }, { sql: null }]],
      [`${P}/workspaces`, [{ ttl_hours: '24' }, { name: null }]],
      [`${W}/load`, [{ tables: {} }, { tables: [{ source: 'b', destination: 'x' }] }, { tables: [{ source: 'b.t', destination: 'a.b' }] }, { tables: [{ source: 'b.t', destination: 'x' }, { source: 'b.t', destination: 'X' }] }, { tables: [{ source: 'b.t', destination: 'x', limit: 0 }] }, { tables: [{ source: 'b.t', destination: 'x', filters: [{ column: 'id', operator: 'eq', values: ['q'] }] }] }]],
      [`${W}/query`, [{ sql: ['SELECT 1'] }, { sql: 'SELECT 1', timeout_seconds: 'x' }]],
      [`${W}/unload`, [{ source: 'x' }, { source: 'x', bucket: 'b', table: 'a.b' }, { source: 'x', bucket: 'b', table: 'n', primary_key: 'id' }, { source: 'x', bucket: 'b', table: 'n', incremental: 1 }]],
    ];
    for (const [path, bodies] of routes) {
      for (const body of [null, [], 'x', 1, ...bodies]) {
        const res = await t.callJson('POST', path, { body });
        expect(res.status, `${path} ${JSON.stringify(body)} ${JSON.stringify(res.body)}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${path} ${JSON.stringify(body)} ${JSON.stringify(res.body)}`).toBeLessThan(500);
        expect(res.body.detail.error).toBeTruthy();
      }
    }
    // A JSON array is not the object these routes take, even where every field is optional.
    for (const path of [`${T}/export-async`, `${B}/buckets/b/tables/t/merge`, `${P}/workspaces`, `${W}/load`]) {
      expectError(await t.callJson('POST', path, { body: [] }), 422, 'validation_error');
    }
    expect((await t.callJson('GET', `${P}/branches`)).body.total).toBe(2);
    expect((await t.callJson('GET', `${P}/jobs`)).body.total).toBe(0);
    expect((await t.callJson('GET', `${P}/workspaces`)).body.total).toBe(1);
    expect((await t.callJson('GET', W)).body.tables).toEqual([]);
    expect((await t.callJson('GET', `${P}/buckets/b/tables`)).body.total).toBe(1);
  });
});

describe('§17 unload: its errors in the order the table lists them', () => {
  it('the source (404 table_not_found), then the bucket (404 bucket_not_found), then 403 bucket_readonly; a source named in another case is found', async () => {
    const { id, P } = await project();
    await t.createProject(`${id}src`);
    expect((await t.call('POST', `/projects/${id}src/buckets`, { body: { name: 's' } })).status).toBe(201);
    await shareAndLink(t, { from: `${id}src`, bucket: 's', to: id, as: 'lnk' });
    const W = `${P}/workspaces/${(await t.callJson('POST', `${P}/workspaces`, { body: {} })).body.id}`;
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: 'CREATE TABLE MixedCase AS SELECT 1 AS k' } })).status).toBe(200);
    const unload = (body: Record<string, unknown>) => t.callJson('POST', `${W}/unload`, { body });
    expectError(await unload({ source: 'nope', bucket: 'nope', table: 'x' }), 404, 'table_not_found');
    expectError(await unload({ source: 'nope', bucket: 'lnk', table: 'x' }), 404, 'table_not_found');
    expectError(await unload({ source: 'mixedcase', bucket: 'nope', table: 'x' }), 404, 'bucket_not_found');
    expectError(await unload({ source: 'mixedcase', bucket: 'lnk', table: 'x' }), 403, 'bucket_readonly');
    expect((await t.callJson('GET', `/projects/${id}src/buckets/s/tables`)).body.total).toBe(0);
    const made = await unload({ source: 'mixedcase', bucket: 'B', table: 'made' });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    expect(made.body).toMatchObject({ imported_rows: 1, table: { name: 'made', bucket: 'b', row_count: 1 } });
    expect((await t.callJson('GET', `${P}/buckets/b/tables/made`)).body.bucket).toBe('b');
  });
});

describe('§17 small statements', () => {
  it('CSV answers as §8 exports: NULL an empty unquoted field, an empty string ""', async () => {
    const { P } = await project();
    const res = await t.call('POST', `${P}/query`, { body: { sql: "SELECT NULL AS a, '' AS b, 'x,y' AS c", format: 'csv' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('a,b,c\n,"","x,y"\n');
    const nd = await t.call('POST', `${P}/query`, { body: { sql: "SELECT NULL AS a, 1.5::DECIMAL(4,2) AS d, DATE '2026-11-29' AS day", format: 'ndjson' } });
    expect(JSON.parse((await nd.text()).trim())).toEqual({ a: null, d: '1.50', day: '2026-11-29' });
  });

  it('workspace names need not be unique; the name may be left out', async () => {
    const { P } = await project();
    const a = await t.callJson('POST', `${P}/workspaces`, { body: { name: 'same' } });
    const b = await t.callJson('POST', `${P}/workspaces`, { body: { name: 'same' } });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body.id).not.toBe(b.body.id);
    const unnamed = await t.callJson('POST', `${P}/workspaces`);
    expect(unnamed.status).toBe(201);
    expect(typeof unnamed.body.name).toBe('string');
    expect((await t.callJson('GET', `${P}/workspaces`)).body.total).toBe(3);
  });
});

describe('Part II order of checks on §14/§16 writes into a linked bucket', () => {
  it('a missing table is 404 table_not_found before 403 bucket_readonly; an existing one is 403 and nothing is queued', async () => {
    const { id, P } = await project();
    await t.createProject(`${id}src`);
    expect((await t.call('POST', `/projects/${id}src/buckets`, { body: { name: 's' } })).status).toBe(201);
    expect((await t.call('POST', `/projects/${id}src/buckets/s/tables`, { body: { name: 'st', columns: [{ name: 'a', type: 'INTEGER' }] } })).status).toBe(201);
    await shareAndLink(t, { from: `${id}src`, bucket: 's', to: id, as: 'lnk' });
    const file = await upload(P, 'a\n1\n');
    expectError(await t.callJson('POST', `${P}/buckets/lnk/tables/nope/import-async`, { body: { file_id: file.id } }), 404, 'table_not_found');
    expectError(await t.callJson('POST', `${P}/buckets/lnk/tables/st/import-async`, { body: { file_id: file.id } }), 403, 'bucket_readonly');
    expectError(await t.callJson('POST', `${P}/buckets/lnk/tables/st/import-async`, { body: { file_id: 'f_000000000000' } }), 403, 'bucket_readonly');
    expect((await t.callJson('GET', `${P}/jobs`)).body.total).toBe(0);
    const { B } = await branch(P);
    expectError(await t.callJson('POST', `${B}/buckets/lnk/tables/nope/merge`, { body: {} }), 404, 'table_not_found');
    expectError(await t.callJson('POST', `${B}/buckets/lnk/tables/st/merge`, { body: {} }), 403, 'bucket_readonly');
    expectError(await t.callJson('POST', `${B}/buckets/lnk/tables/nope/import-async`, { body: { file_id: file.id } }), 404, 'table_not_found');
  });
});

describe('Part II: a workspace file with no record is deleted at start, a record without its file dropped', () => {
  it('after a restart the stray file is gone, the kept workspace works, the one whose file vanished is 404', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const root = await mkdtemp(join(tmpdir(), 'dsa-audit-b-'));
    try {
      let app = await makeApp({ root });
      await app.createProject('wsr');
      const P = '/projects/wsr';
      const kept = (await app.callJson('POST', `${P}/workspaces`, { body: {} })).body.id;
      const lost = (await app.callJson('POST', `${P}/workspaces`, { body: {} })).body.id;
      expect((await app.callJson('POST', `${P}/workspaces/${kept}/query`, { body: { sql: 'CREATE TABLE a AS SELECT 1 AS x' } })).status).toBe(200);
      await app.close();
      const dir = join(root, 'data', 'workspaces', 'project_wsr');
      await writeFile(join(dir, 'w_stray0000000.duckdb'), 'not a database');
      await rm(join(dir, `${lost}.duckdb`));
      app = await makeApp({ root });
      expect((await walk(dir)).filter((f) => !f.endsWith('.wal'))).toEqual([`${kept}.duckdb`]);
      expect((await app.callJson('GET', `${P}/workspaces`)).body.workspaces.map((w: any) => w.id)).toEqual([kept]);
      expect((await app.callJson('GET', `${P}/workspaces/${lost}`)).body.detail.error).toBe('workspace_not_found');
      expect((await app.callJson('POST', `${P}/workspaces/${kept}/query`, { body: { sql: 'SELECT x FROM a' } })).body.results[0].rows).toEqual([{ x: 1 }]);
      await app.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
