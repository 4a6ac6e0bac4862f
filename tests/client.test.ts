// The typed client (src/client) against the real server on port 0: every route group, the
// error class, streamed uploads and downloads, and the built bundle imported by package name.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageApiError, StorageClient, type RequestTrace } from '../src/client/index.ts';
import { routes } from '../src/routes.ts';
import { startServer, type RunningServer } from '../src/server.ts';
import { ADMIN_KEY, captureLogger, testConfig } from './helpers.ts';

const REPO = resolve(import.meta.dirname, '..');
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$/;

/** Every client method of every group, called once with placeholder arguments against a fake fetch. */
async function routesTheClientReaches(branch?: string): Promise<Set<string>> {
  const fakeFetch = (async () => new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } })) as typeof fetch;
  const client = new StorageClient({ url: 'http://fake.test', apiKey: 'k', fetch: fakeFetch, branch });
  const reached = new Set<string>();
  client.transport.onRequest = (trace: RequestTrace) => reached.add(`${trace.method} ${trace.route}`);
  for (const [groupName, group] of Object.entries(client)) {
    if (groupName === 'transport' || groupName === 'options') continue;
    for (const method of Object.values(group as Record<string, (...args: unknown[]) => Promise<unknown>>)) {
      await method('p', 'b', 't', 'c', 'k', {});
    }
  }
  return reached;
}

describe('the typed client', () => {
  let root: string;
  let running: RunningServer;
  let admin: StorageClient;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-client-'));
    running = await startServer(testConfig(join(root, 'data'), { PORT: '0', HOST: '127.0.0.1' }), captureLogger().logger);
    admin = new StorageClient({ url: running.url, apiKey: ADMIN_KEY });
  });
  afterAll(async () => {
    await running?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('has one method per route of the route table, and no method for a route that does not exist', async () => {
    const served = new Set(routes.filter((r) => !r.internal).map((r) => `${r.method} ${r.path}`));
    const reached = await routesTheClientReaches();
    // Routes under P/branches/{branch}/… that mirror a project route are reached through inBranch().
    const inBranch = await routesTheClientReaches('b_1');
    const missing = [...served].filter((r) => !reached.has(r) && !inBranch.has(r));
    const extra = [...reached].filter((r) => !served.has(r));
    expect(missing, 'routes without a client method (add them to a group in src/client/groups/)').toEqual([]);
    expect(extra, 'client methods for routes the server does not have').toEqual([]);
  });

  it('inBranch() moves project routes under P/branches/{branch}/, and leaves the project, its keys and branches alone', async () => {
    const seen: string[] = [];
    const fakeFetch = (async (url: string | URL | Request) => {
      seen.push(String(url));
      return new Response('{}', { status: 200 });
    }) as typeof fetch;
    const client = new StorageClient({ url: 'http://fake.test/base/', fetch: fakeFetch }).inBranch('b_7');
    await client.tables.get('123', 'in_c_sales', 'orders');
    await client.buckets.list('123');
    await client.projects.get('123');
    await client.projects.stats('123');
    await client.keys.list('123');
    await client.inBranch('default').tables.list('123', 'in c');
    expect(seen).toEqual([
      'http://fake.test/base/projects/123/branches/b_7/buckets/in_c_sales/tables/orders',
      'http://fake.test/base/projects/123/branches/b_7/buckets',
      'http://fake.test/base/projects/123',
      'http://fake.test/base/projects/123/stats',
      'http://fake.test/base/projects/123/api-keys',
      'http://fake.test/base/projects/123/buckets/in%20c/tables',
    ]);
  });

  it('service: info, health, init, remove, openapi, docs, metrics', async () => {
    const anonymous = new StorageClient({ url: `${running.url}/` });
    expect(await anonymous.service.info()).toEqual({ service: 'DuckDB Storage API', version: expect.any(String), health: '/health', docs: '/docs' });
    const health = await anonymous.service.health();
    expect(health.status).toBe('healthy');
    expect(health.storage_available).toBe(true);
    expect(health.details).toEqual({ data_dir: true, duckdb_dir: true, files_dir: true, snapshots_dir: true });
    const init = await admin.service.init();
    expect(init.success).toBe(true);
    expect(Object.keys(init.storage_paths).sort()).toEqual(['data_dir', 'duckdb_dir', 'files_dir', 'snapshots_dir']);
    expect(await admin.service.remove()).toEqual({ success: true, message: 'Backend removal acknowledged (no-op)', storage_paths: null });
    const openapi = await anonymous.service.openapi();
    expect(openapi.openapi).toMatch(/^3\.1/);
    expect(await anonymous.service.docs()).toContain('<html');
    expect(await anonymous.service.ui()).toContain('<html');
    expect(await admin.service.metrics()).toContain('duckdb_storage_http_requests_total');
    // Admin-only routes refuse anonymous callers with the contract's 401.
    const refused = await anonymous.service.metrics().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StorageApiError);
    expect((refused as StorageApiError).status).toBe(401);
    expect((refused as StorageApiError).code).toBe('unauthorized');
  });

  it('projects: create (with its key), list, get, update, stats, delete', async () => {
    const created = await admin.projects.create({ id: 'c_proj', name: 'Client project', settings: { owner: 'bi' } });
    expect(created.id).toBe('c_proj');
    expect(created.name).toBe('Client project');
    expect(created.settings).toEqual({ owner: 'bi' });
    expect(created.status).toBe('active');
    expect(created.db_path).toBe('project_c_proj');
    expect(created.created_at).toMatch(ISO);
    expect(created.api_key).toMatch(/^proj_c_proj_admin_[0-9a-f]{32}$/);

    const list = await admin.projects.list({ status: 'active', limit: 1000, offset: 0 });
    expect(list.projects.map((p) => p.id)).toContain('c_proj');
    expect(list.total).toBe(list.projects.length);

    const own = new StorageClient({ url: running.url, apiKey: created.api_key });
    expect((await own.projects.get('c_proj')).name).toBe('Client project');
    const updated = await own.projects.update('c_proj', { name: null });
    expect(updated.name).toBeNull();
    expect(updated.settings).toEqual({ owner: 'bi' });
    expect(await own.projects.stats('c_proj')).toMatchObject({ id: 'c_proj', size_bytes: 0, table_count: 0, bucket_count: 0 });

    await own.projects.delete('c_proj');
    const gone = await own.projects.get('c_proj').catch((e: unknown) => e);
    expect((gone as StorageApiError).code).toBe('forbidden');
    expect((await admin.projects.list({ status: 'deleted' })).projects.map((p) => p.id)).toContain('c_proj');
  });

  it('throws one error class with status, code, message, details and request id', async () => {
    await admin.projects.create({ id: 'c_err' });
    const conflict = await admin.projects.create({ id: 'c_err' }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(StorageApiError);
    const error = conflict as StorageApiError;
    expect(error.status).toBe(409);
    expect(error.code).toBe('project_exists');
    expect(error.message).toBe('Project c_err already exists');
    expect(error.details).toEqual({ project_id: 'c_err', status: 'active' });
    expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const invalid = (await admin.buckets.create('c_err', { name: 'bad.name' }).catch((e: unknown) => e)) as StorageApiError;
    expect(invalid.status).toBe(422);
    expect(invalid.code).toBe('validation_error');
    expect(invalid.details?.issues).toEqual([expect.objectContaining({ path: 'name' })]);

    const wrongKey = new StorageClient({ url: running.url, apiKey: 'proj_c_err_admin_00000000000000000000000000000000' });
    const forbidden = (await wrongKey.buckets.list('c_err').catch((e: unknown) => e)) as StorageApiError;
    expect([forbidden.status, forbidden.code]).toEqual([403, 'forbidden']);

    // Nothing listens on a port that was just closed: status 0, connection_failed.
    const closed = await startServer(testConfig(join(root, 'closed'), { PORT: '0', HOST: '127.0.0.1' }), captureLogger().logger);
    const url = closed.url;
    await closed.stop();
    const unreachable = (await new StorageClient({ url }).service.health().catch((e: unknown) => e)) as StorageApiError;
    expect(unreachable).toBeInstanceOf(StorageApiError);
    expect([unreachable.status, unreachable.code]).toEqual([0, 'connection_failed']);
  });

  describe('with a project', () => {
    let client: StorageClient;
    let key: string;

    beforeAll(async () => {
      key = (await admin.projects.create({ id: 'c_data' })).api_key;
      client = new StorageClient({ url: running.url, apiKey: key });
    });

    it('buckets and tables: create, list, get, preview, delete', async () => {
      const bucket = await client.buckets.create('c_data', { name: 'in_c_sales', description: 'Sales' });
      expect(bucket).toMatchObject({
        name: 'in_c_sales',
        table_count: 0,
        description: 'Sales',
        is_linked: false,
        source_project_id: null,
        source_bucket_name: null,
        shared_with: [],
        readonly_access: false,
        created_at: expect.stringMatching(ISO),
      });
      expect((await client.buckets.list('c_data')).buckets.map((b) => b.name)).toEqual(['in_c_sales']);
      expect((await client.buckets.get('c_data', 'in_c_sales')).description).toBe('Sales');

      const table = await client.tables.create('c_data', 'in_c_sales', {
        name: 'orders',
        columns: [{ name: 'id', type: 'INTEGER' }, { name: 'amount', type: 'DECIMAL(10,2)' }, { name: 'status', type: 'VARCHAR' }],
        primary_key: ['id'],
      });
      expect(table.name).toBe('orders');
      expect(table.bucket).toBe('in_c_sales');
      expect(table.columns.map(({ name, type, nullable, ordinal_position }) => ({ name, type, nullable, ordinal_position }))).toEqual([
        { name: 'id', type: 'INTEGER', nullable: false, ordinal_position: 1 },
        { name: 'amount', type: 'DECIMAL(10,2)', nullable: true, ordinal_position: 2 },
        { name: 'status', type: 'VARCHAR', nullable: true, ordinal_position: 3 },
      ]);
      expect(table.primary_key).toEqual(['id']);
      expect(table.row_count).toBe(0);
      expect((await client.tables.list('c_data', 'in_c_sales')).tables.map((t) => t.name)).toEqual(['orders']);
      expect((await client.tables.get('c_data', 'in_c_sales', 'orders')).primary_key).toEqual(['id']);
      const preview = await client.tables.preview('c_data', 'in_c_sales', 'orders', { limit: 5 });
      expect(preview.columns.map((c) => c.name)).toEqual(['id', 'amount', 'status']);
      expect(preview).toMatchObject({ rows: [], total_row_count: 0, preview_row_count: 0 });

      await client.tables.create('c_data', 'in_c_sales', { name: 'scratch', columns: [{ name: 'x', type: 'INT' }] });
      await client.tables.delete('c_data', 'in_c_sales', 'scratch');
      expect(((await client.tables.get('c_data', 'in_c_sales', 'scratch').catch((e: unknown) => e)) as StorageApiError).code).toBe('table_not_found');
      await client.buckets.create('c_data', { name: 'tmp' });
      await client.buckets.delete('c_data', 'tmp', { cascade: false, force: false });
      expect(((await client.buckets.get('c_data', 'tmp').catch((e: unknown) => e)) as StorageApiError).code).toBe('bucket_not_found');
    });

    it('data: a streamed import reports progress as it goes, then filtered preview, delete-rows and truncate', async () => {
      // 2000 chunks from a generator that is only read as fast as the request goes out.
      let produced = 0;
      async function* rows() {
        yield 'id,amount,status\n';
        for (let chunk = 0; chunk < 2000; chunk++) {
          let text = '';
          for (let i = 0; i < 50; i++) {
            const id = chunk * 50 + i;
            text += `${id},${(id % 1000) / 10},${id % 2 ? 'open' : 'done'}\n`;
          }
          produced++;
          yield text;
        }
      }
      const seen: number[] = [];
      const result = await client.data.import('c_data', 'in_c_sales', 'orders', rows(), {
        contentType: 'text/csv',
        onProgress: (p) => seen.push(p.bytes),
      });
      expect(produced).toBe(2000);
      expect(result.imported_rows).toBe(100_000);
      expect(result.row_count).toBe(100_000);
      expect(result.table.row_count).toBe(100_000);
      // Progress came chunk by chunk, increasing, not once for a buffered body.
      expect(seen.length).toBeGreaterThan(100);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);

      // Incremental load from a Node stream: upserts by key.
      const upsert = await client.data.import('c_data', 'in_c_sales', 'orders', Readable.from(['id,amount,status\n', '1,99.99,changed\n', '100000,1.00,new\n']), {
        incremental: true,
        contentType: 'text/csv',
      });
      expect(upsert.imported_rows).toBe(2);
      expect(upsert.row_count).toBe(100_001);

      const filtered = await client.data.preview('c_data', 'in_c_sales', 'orders', {
        columns: ['id', 'status'],
        filters: [{ column: 'id', operator: 'in', values: [1, 2, 100000] }],
        order_by: [{ column: 'id', order: 'desc' }],
        limit: 10,
      });
      expect(filtered.columns.map((c) => c.name)).toEqual(['id', 'status']);
      expect(filtered.rows).toEqual([
        { id: 100000, status: 'new' },
        { id: 2, status: 'done' },
        { id: 1, status: 'changed' },
      ]);
      expect(filtered.total_row_count).toBe(3);
      expect(filtered.preview_row_count).toBe(3);

      const deleted = await client.data.deleteRows('c_data', 'in_c_sales', 'orders', { filters: [{ column: 'status', operator: 'eq', values: ['open'] }] });
      // The odd ids were open, but id 1 was changed by the upsert.
      expect(deleted).toEqual({ deleted_rows: 49_999, row_count: 50_002 });

      // An import that fails is refused as a whole and the table is as before.
      const failed = (await client.data.import('c_data', 'in_c_sales', 'orders', 'id,amount\nnot-a-number,1\n').catch((e: unknown) => e)) as StorageApiError;
      expect([failed.status, failed.code]).toEqual([400, 'import_failed']);
      expect((await client.tables.get('c_data', 'in_c_sales', 'orders')).row_count).toBe(50_002);
    });

    it('data: exports stream into a file with progress (GET and filtered POST), and a refused export leaves no file', async () => {
      const folder = await mkdtemp(join(root, 'export-'));
      const seen: number[] = [];
      const saved = await client.exportToFile('c_data', 'in_c_sales', 'orders', join(folder, 'orders.csv'), { onDownload: (p) => seen.push(p.bytes) });
      const text = await readFile(join(folder, 'orders.csv'), 'utf8');
      const lines = text.trim().split('\n');
      expect(lines[0]).toBe('id,amount,status');
      expect(lines.length).toBe(50_003);
      expect(saved.bytes).toBe(Buffer.byteLength(text));
      expect(saved.contentType).toMatch(/^text\/csv/);
      expect(saved.filename).toBe('orders.csv');
      expect(seen.at(-1)).toBe(saved.bytes);
      expect(seen.length).toBeGreaterThan(2);

      await client.exportToFile('c_data', 'in_c_sales', 'orders', join(folder, 'top.ndjson'), {
        format: 'ndjson',
        columns: ['id'],
        filters: [{ column: 'id', operator: 'le', values: [4] }],
        order_by: [{ column: 'id', order: 'desc' }],
      });
      expect((await readFile(join(folder, 'top.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ id: 4 }, { id: 2 }, { id: 1 }, { id: 0 }]);

      const download = await client.data.export('c_data', 'in_c_sales', 'orders', { format: 'csv', columns: ['id'], limit: 3 });
      expect(download.filename).toBe('orders.csv');
      expect(await new Response(download.body).text()).toBe('id\n0\n1\n2\n');
      const posted = await client.data.exportFiltered('c_data', 'in_c_sales', 'orders', { columns: ['status'], limit: 1, gzip: true });
      expect(posted.filename).toBe('orders.csv.gz');
      expect(Buffer.from(await new Response(posted.body).arrayBuffer()).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

      const before = await readdir(folder);
      const refused = (await client.exportToFile('c_data', 'in_c_sales', 'missing', join(folder, 'missing.csv')).catch((e: unknown) => e)) as StorageApiError;
      expect(refused.code).toBe('table_not_found');
      expect(await readdir(folder)).toEqual(before);
    });

    it('importFile streams a local file, its type and gzip taken from its name', async () => {
      const folder = await mkdtemp(join(root, 'import-'));
      const ndjson = '{"id": 7, "amount": 7.5, "status": "x"}\n{"id": 8, "amount": 8.5, "status": "y"}\n';
      await writeFile(join(folder, 'orders.ndjson'), ndjson);
      const seen: { bytes: number; total: number | null }[] = [];
      const result = await client.importFile('c_data', 'in_c_sales', 'orders', join(folder, 'orders.ndjson'), { onUpload: (p) => seen.push(p) });
      expect(result.imported_rows).toBe(2);
      expect(result.row_count).toBe(2);
      expect(seen.at(-1)).toEqual({ bytes: ndjson.length, total: ndjson.length });
      expect(seen[0]).toEqual({ bytes: 0, total: ndjson.length });
      const truncated = await client.data.truncate('c_data', 'in_c_sales', 'orders');
      expect(truncated).toEqual({ deleted_rows: 2, row_count: 0 });
      const missing = await client.importFile('c_data', 'in_c_sales', 'orders', join(folder, 'nope.csv')).catch((e: NodeJS.ErrnoException) => e);
      expect((missing as NodeJS.ErrnoException).code).toBe('ENOENT');
      // A web stream works as a source too.
      const web = Readable.toWeb(createReadStream(join(folder, 'orders.ndjson'))) as unknown as ReadableStream<Uint8Array>;
      expect((await client.data.import('c_data', 'in_c_sales', 'orders', web, { format: 'ndjson' })).imported_rows).toBe(2);
    });

    it('sharing: share, shared-with, link, read-only grant, unlink, unshare', async () => {
      const targetKey = (await admin.projects.create({ id: 'c_target' })).api_key;
      const target = new StorageClient({ url: running.url, apiKey: targetKey });
      expect(await client.sharing.share('c_data', 'in_c_sales', { target_project_id: 'c_target' })).toEqual({
        shared_with: ['c_target'],
        is_linked: false,
        source_project_id: null,
        source_bucket_name: null,
      });
      expect(await target.sharing.sharedWith('c_target')).toEqual({
        buckets: [{ source_project_id: 'c_data', source_bucket_name: 'in_c_sales', description: 'Sales', table_count: 1, linked_as: null }],
        total: 1,
      });
      const linked = await target.sharing.link('c_target', 'sales', { source_project_id: 'c_data', source_bucket_name: 'in_c_sales' });
      expect(linked.is_linked).toBe(true);
      expect(linked.description).toBe('Linked from c_data.in_c_sales');
      expect((await target.tables.list('c_target', 'sales')).tables.map((t) => t.name)).toEqual(['orders']);
      const readonly = (await target.data.truncate('c_target', 'sales', 'orders').catch((e: unknown) => e)) as StorageApiError;
      expect([readonly.status, readonly.code]).toEqual([403, 'bucket_readonly']);

      expect(await client.sharing.grantReadonly('c_data', 'in_c_sales')).toEqual({ status: 'success', message: expect.any(String), bucket_name: 'in_c_sales' });
      expect((await client.buckets.get('c_data', 'in_c_sales')).readonly_access).toBe(true);
      await client.sharing.revokeReadonly('c_data', 'in_c_sales');
      expect((await client.buckets.get('c_data', 'in_c_sales')).readonly_access).toBe(false);

      const inUse = (await client.sharing.unshare('c_data', 'in_c_sales', { target_project_id: 'c_target' }).catch((e: unknown) => e)) as StorageApiError;
      expect(inUse.code).toBe('bucket_in_use');
      await target.sharing.unlink('c_target', 'sales');
      await client.sharing.unshare('c_data', 'in_c_sales', { target_project_id: 'c_target' });
      expect((await client.buckets.get('c_data', 'in_c_sales')).shared_with).toEqual([]);
    });

    it('keys: create, list, current, get, rotate, delete', async () => {
      const created = await client.keys.create('c_data', { scope: 'read', description: 'BI', buckets: ['in_c_sales'] });
      expect(created.id).toMatch(/^k_/);
      expect(created.scope).toBe('read');
      expect(created.description).toBe('BI');
      expect(created.buckets).toEqual(['in_c_sales']);
      expect(created.branch).toBeNull();
      expect(created.key_prefix).toBe('proj_c_data_read_...');
      expect(created.api_key).toMatch(/^proj_c_data_read_[0-9a-f]{32}$/);

      const reader = new StorageClient({ url: running.url, apiKey: created.api_key });
      const current = await reader.keys.current('c_data');
      expect(current.id).toBe(created.id);
      expect(await admin.keys.current('c_data')).toEqual({ id: null, scope: 'service_admin' });
      const scoped = (await reader.buckets.create('c_data', { name: 'nope' }).catch((e: unknown) => e)) as StorageApiError;
      expect([scoped.status, scoped.code]).toEqual([403, 'insufficient_scope']);

      const list = await client.keys.list('c_data');
      expect(list.api_keys.map((k) => k.id)).toContain(created.id);
      expect(list.total).toBe(list.api_keys.length);
      expect(JSON.stringify(list)).not.toContain(created.api_key);
      expect((await client.keys.get('c_data', created.id)).description).toBe('BI');

      const rotated = await client.keys.rotate('c_data', created.id);
      expect(rotated.id).toBe(created.id);
      expect(rotated.rotated_at).toMatch(ISO);
      expect(rotated.api_key).not.toBe(created.api_key);
      expect(((await reader.keys.current('c_data').catch((e: unknown) => e)) as StorageApiError).code).toBe('forbidden');

      await client.keys.delete('c_data', created.id);
      expect(((await client.keys.get('c_data', created.id).catch((e: unknown) => e)) as StorageApiError).code).toBe('key_not_found');
    });

    it('schema: add, alter, drop columns, set and drop the primary key, profile', async () => {
      await client.tables.create('c_data', 'in_c_sales', { name: 'schema_t', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }] });
      await client.data.import('c_data', 'in_c_sales', 'schema_t', 'id,v\n1,10\n2,20\n3,30\n');
      const added = await client.schema.addColumn('c_data', 'in_c_sales', 'schema_t', { name: 'flag', type: 'BOOLEAN', nullable: false, default: false });
      expect(added.columns.map((c) => [c.name, c.type, c.nullable, c.default])).toEqual([
        ['id', 'INTEGER', true, null],
        ['v', 'VARCHAR', true, null],
        ['flag', 'BOOLEAN', false, false],
      ]);
      const altered = await client.schema.alterColumn('c_data', 'in_c_sales', 'schema_t', 'v', { name: 'value', type: 'BIGINT' });
      expect(altered.columns[1]).toMatchObject({ name: 'value', type: 'BIGINT' });
      const refused = (await client.schema.alterColumn('c_data', 'in_c_sales', 'schema_t', 'value', {}).catch((e: unknown) => e)) as StorageApiError;
      expect([refused.status, refused.code]).toEqual([422, 'validation_error']);
      expect((await client.schema.setPrimaryKey('c_data', 'in_c_sales', 'schema_t', { columns: ['id'] })).primary_key).toEqual(['id']);
      expect((await client.schema.dropPrimaryKey('c_data', 'in_c_sales', 'schema_t')).primary_key).toEqual([]);
      expect((await client.schema.dropColumn('c_data', 'in_c_sales', 'schema_t', 'flag')).columns.map((c) => c.name)).toEqual(['id', 'value']);
      const profile = await client.schema.profile('c_data', 'in_c_sales', 'schema_t');
      expect(profile.row_count).toBe(3);
      expect(profile.profiled_at).toMatch(ISO);
      expect(profile.columns.find((c) => c.name === 'value')).toMatchObject({ type: 'BIGINT', null_count: 0, distinct_count: 3, min: 10, max: 30, avg: 20 });
    });

    it('metadata: list, upsert and delete on a bucket, a table and a column', async () => {
      const targets = [
        { list: () => client.metadata.listBucket('c_data', 'in_c_sales'), upsert: (b: Parameters<typeof client.metadata.upsertBucket>[2]) => client.metadata.upsertBucket('c_data', 'in_c_sales', b), remove: (k: string, q?: { provider?: string }) => client.metadata.deleteBucket('c_data', 'in_c_sales', k, q) },
        { list: () => client.metadata.listTable('c_data', 'in_c_sales', 'schema_t'), upsert: (b: Parameters<typeof client.metadata.upsertBucket>[2]) => client.metadata.upsertTable('c_data', 'in_c_sales', 'schema_t', b), remove: (k: string, q?: { provider?: string }) => client.metadata.deleteTable('c_data', 'in_c_sales', 'schema_t', k, q) },
        { list: () => client.metadata.listColumn('c_data', 'in_c_sales', 'schema_t', 'id'), upsert: (b: Parameters<typeof client.metadata.upsertBucket>[2]) => client.metadata.upsertColumn('c_data', 'in_c_sales', 'schema_t', 'id', b), remove: (k: string, q?: { provider?: string }) => client.metadata.deleteColumn('c_data', 'in_c_sales', 'schema_t', 'id', k, q) },
      ];
      for (const target of targets) {
        expect(await target.list()).toEqual({ metadata: [] });
        const after = await target.upsert({ provider: 'gov', metadata: [{ key: 'owner', value: 'bi' }, { key: 'pii', value: 'no' }] });
        expect(after.metadata.map((m) => [m.provider, m.key, m.value])).toEqual([
          ['gov', 'owner', 'bi'],
          ['gov', 'pii', 'no'],
        ]);
        expect(after.metadata[0]!.updated_at).toMatch(ISO);
        await target.remove('pii', { provider: 'gov' });
        expect((await target.list()).metadata.map((m) => m.key)).toEqual(['owner']);
        const missing = (await target.remove('pii', { provider: 'gov' }).catch((e: unknown) => e)) as StorageApiError;
        expect(missing.code).toBe('metadata_not_found');
      }
    });

    it('snapshots: create, list (table and project), get, restore, settings, delete', async () => {
      const snapshot = await client.snapshots.create('c_data', 'in_c_sales', 'schema_t', { description: 'before', retention_days: 30 });
      expect(snapshot.id).toMatch(/^s_/);
      expect(snapshot).toMatchObject({ bucket: 'in_c_sales', table: 'schema_t', branch: 'default', description: 'before', kind: 'manual', reason: null, row_count: 3 });
      expect(snapshot.columns.map((c) => c.name)).toEqual(['id', 'value']);
      expect(snapshot.expires_at).toMatch(ISO);
      // Newest first: ours, then the auto snapshot the column drop above took.
      const forTable = await client.snapshots.listForTable('c_data', 'in_c_sales', 'schema_t');
      expect(forTable.snapshots.map((x) => [x.kind, x.reason])).toEqual([
        ['manual', null],
        ['auto', 'drop_column'],
      ]);
      expect(forTable.snapshots[0]!.id).toBe(snapshot.id);
      expect((await client.snapshots.get('c_data', snapshot.id)).description).toBe('before');

      await client.data.truncate('c_data', 'in_c_sales', 'schema_t');
      const restored = await client.snapshots.restore('c_data', snapshot.id, { overwrite: true });
      expect(restored.snapshot_id).toBe(snapshot.id);
      expect(restored.table.row_count).toBe(3);
      expect(restored.auto_snapshot_id).toMatch(/^s_/);
      const copy = await client.snapshots.restore('c_data', snapshot.id, { table: 'schema_copy' });
      expect(copy.table.name).toBe('schema_copy');
      expect(copy.auto_snapshot_id).toBeNull();
      const exists = (await client.snapshots.restore('c_data', snapshot.id).catch((e: unknown) => e)) as StorageApiError;
      expect([exists.status, exists.code]).toEqual([409, 'table_exists']);

      const all = await client.snapshots.list('c_data', { table: 'schema_t', kind: 'manual' });
      expect(all.snapshots.map((x) => x.id)).toEqual([snapshot.id]);
      expect(await client.snapshots.settings('c_data')).toEqual({ auto: { drop_table: true, truncate: true, drop_column: true, full_import: false }, manual_retention_days: 90, auto_retention_days: 7 });
      const changed = await client.snapshots.updateSettings('c_data', { auto: { full_import: true }, auto_retention_days: 3 });
      expect(changed).toEqual({ auto: { drop_table: true, truncate: true, drop_column: true, full_import: true }, manual_retention_days: 90, auto_retention_days: 3 });

      await client.snapshots.delete('c_data', snapshot.id);
      expect(((await client.snapshots.get('c_data', snapshot.id).catch((e: unknown) => e)) as StorageApiError).code).toBe('snapshot_not_found');
    });

    it('files: upload (streamed, with progress), list by tags, get, download (whole and a range), delete', async () => {
      const seen: { bytes: number; total: number | null }[] = [];
      async function* parts() {
        for (let i = 0; i < 100; i++) yield `line ${i}\n`;
      }
      const expected = Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join('');
      const file = await client.files.upload('c_data', parts(), { name: 'lines.txt', tags: ['daily', 'x'], contentType: 'text/plain', onProgress: (p) => seen.push(p) });
      expect(file.id).toMatch(/^f_/);
      expect(file).toMatchObject({ name: 'lines.txt', size_bytes: expected.length, content_type: 'text/plain', tags: ['daily', 'x'], is_permanent: false });
      expect(file.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(seen.at(-1)).toEqual({ bytes: expected.length, total: expected.length });
      expect((await client.files.list('c_data', { tags: ['daily'] })).files.map((f) => f.id)).toContain(file.id);
      expect((await client.files.list('c_data', { tags: ['daily', 'nope'] })).files).toEqual([]);
      expect((await client.files.get('c_data', file.id)).name).toBe('lines.txt');
      const whole = await client.files.download('c_data', file.id);
      expect(whole.size).toBe(expected.length);
      expect(whole.filename).toBe('lines.txt');
      expect(await new Response(whole.body).text()).toBe(expected);
      const part = await client.files.download('c_data', file.id, { range: { start: 5, end: 6 } });
      expect(part.response.status).toBe(206);
      expect(await new Response(part.body).text()).toBe('0\n');
      const folder = await mkdtemp(join(root, 'files-'));
      const local = join(folder, 'up.csv');
      await writeFile(local, 'id,amount,status\n9,9.00,z\n');
      const uploaded = await client.uploadFile('c_data', local, { permanent: true });
      expect(uploaded).toMatchObject({ name: 'up.csv', content_type: 'text/csv', is_permanent: true, expires_at: null });
      await client.files.delete('c_data', file.id);
      await client.files.delete('c_data', uploaded.id);
      expect(((await client.files.get('c_data', file.id).catch((e: unknown) => e)) as StorageApiError).code).toBe('file_not_found');
    });

    it('jobs: importFile uploads, submits and waits (progress for both); failed jobs throw their own error; exportAsync, list, get, cancel', async () => {
      const folder = await mkdtemp(join(root, 'jobs-'));
      const local = join(folder, 'orders.csv');
      const content = 'id,amount,status\n1,1.00,a\n2,2.00,b\n3,3.00,c\n';
      await writeFile(local, content);
      const uploads: number[] = [];
      const states: string[] = [];
      const result = await client.importFile('c_data', 'in_c_sales', 'orders', local, { onUpload: (p) => uploads.push(p.bytes), onJob: (j) => states.push(j.status) });
      expect(result.imported_rows).toBe(3);
      expect(result.row_count).toBe(3);
      expect(result.table.name).toBe('orders');
      expect(uploads.at(-1)).toBe(content.length);
      expect(states.at(-1)).toBe('success');
      // The uploaded input is gone once the job has finished.
      expect((await client.files.list('c_data')).files.map((f) => f.name)).not.toContain('orders.csv');

      await writeFile(local, 'id,amount,status\nx,1.00,a\n');
      const failed = (await client.importFile('c_data', 'in_c_sales', 'orders', local).catch((e: unknown) => e)) as StorageApiError;
      expect(failed).toBeInstanceOf(StorageApiError);
      expect(failed.code).toBe('import_failed');
      expect(failed.status).toBe(0);
      expect(failed.job?.status).toBe('error');
      expect((await client.tables.get('c_data', 'in_c_sales', 'orders')).row_count).toBe(3);

      const exportJob = await client.jobs.exportAsync('c_data', 'in_c_sales', 'orders', { format: 'ndjson', columns: ['id'], order_by: [{ column: 'id', order: 'asc' }] });
      expect(exportJob.operation).toBe('export');
      expect(['waiting', 'processing', 'success']).toContain(exportJob.status);
      const done = await client.waitForJob('c_data', exportJob.id);
      const exported = done.result as { file_id: string; rows: number; size_bytes: number };
      expect(exported.rows).toBe(3);
      const download = await client.files.download('c_data', exported.file_id);
      expect((await new Response(download.body).text()).trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);

      const got = await client.jobs.get('c_data', exportJob.id, { wait: 0 });
      expect(got).toMatchObject({ id: exportJob.id, operation: 'export', status: 'success', table: { bucket: 'in_c_sales', name: 'orders' } });
      const list = await client.jobs.list('c_data', { operation: 'export', status: 'success' });
      expect(list.jobs.map((j) => j.id)).toContain(exportJob.id);
      const finished = (await client.jobs.cancel('c_data', exportJob.id).catch((e: unknown) => e)) as StorageApiError;
      expect([finished.status, finished.code]).toEqual([409, 'job_finished']);

      // The synchronous path stays available (and puts back the rows the SQL tests read).
      await writeFile(local, 'id,amount,status\n7,7.5,x\n8,8.5,y\n');
      const jobsBefore = (await client.jobs.list('c_data')).total;
      expect((await client.importFile('c_data', 'in_c_sales', 'orders', local, { mode: 'sync' })).row_count).toBe(2);
      expect((await client.jobs.list('c_data')).total).toBe(jobsBefore);
    });

    it('sql: a read-only query as JSON and streamed, refused writes', async () => {
      const result = await client.sql.query('c_data', { sql: 'SELECT id, status FROM in_c_sales.orders ORDER BY id', limit: 1 });
      expect(result.columns).toEqual([
        { name: 'id', type: 'INTEGER' },
        { name: 'status', type: 'VARCHAR' },
      ]);
      expect(result.rows).toEqual([{ id: 7, status: 'x' }]);
      expect(result.row_count).toBe(1);
      expect(result.truncated).toBe(true);
      expect(typeof result.elapsed_ms).toBe('number');

      const streamed = await client.sql.queryStream('c_data', { sql: 'SELECT id FROM in_c_sales.orders ORDER BY id', format: 'csv' });
      expect(streamed.filename).toBe('query.csv');
      expect(await new Response(streamed.body).text()).toBe('id\n7\n8\n');

      const refused = (await client.sql.query('c_data', { sql: 'DELETE FROM in_c_sales.orders' }).catch((e: unknown) => e)) as StorageApiError;
      expect([refused.status, refused.code]).toEqual([400, 'invalid_query']);
      expect((await client.tables.get('c_data', 'in_c_sales', 'orders')).row_count).toBe(2);
    });

    it('workspaces: create, list, get, load, query, unload, delete', async () => {
      const ws = await client.workspaces.create('c_data', { name: 'nightly', ttl_hours: 2 });
      expect(ws.id).toMatch(/^w_/);
      expect(ws.name).toBe('nightly');
      expect(ws.branch).toBe('default');
      expect(ws.tables).toEqual([]);
      expect(ws.expires_at).toMatch(ISO);
      expect((await client.workspaces.list('c_data')).workspaces.map((w) => w.id)).toEqual([ws.id]);

      const loaded = await client.workspaces.load('c_data', ws.id, { tables: [{ source: 'in_c_sales.orders', destination: 'o', columns: ['id', 'status'] }] });
      expect(loaded.tables).toEqual([{ name: 'o', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'status', type: 'VARCHAR' }], row_count: 2 }]);

      const ran = await client.workspaces.query('c_data', ws.id, { sql: "CREATE TABLE s AS SELECT status, count(*) AS n FROM o GROUP BY 1; UPDATE s SET n = n + 1 WHERE status = 'x'; SELECT * FROM s ORDER BY status" });
      expect(ran.results.map((r) => [r.statement, r.changed_rows])).toEqual([
        [1, null],
        [2, 1],
        [3, null],
      ]);
      expect(ran.results[2]!.rows).toEqual([
        { status: 'x', n: 2 },
        { status: 'y', n: 1 },
      ]);

      const unloaded = await client.workspaces.unload('c_data', ws.id, { source: 's', bucket: 'in_c_sales', table: 'status_counts', primary_key: ['status'] });
      expect(unloaded.imported_rows).toBe(2);
      expect(unloaded.table.name).toBe('status_counts');
      expect(unloaded.table.primary_key).toEqual(['status']);
      expect((await client.workspaces.get('c_data', ws.id)).tables.map((t) => t.name).sort()).toEqual(['o', 's']);

      await client.workspaces.delete('c_data', ws.id);
      expect(((await client.workspaces.get('c_data', ws.id).catch((e: unknown) => e)) as StorageApiError).code).toBe('workspace_not_found');
    });

    it('branches: create, list, get, changes; writes in the branch through inBranch(); reset, merge, delete', async () => {
      await client.tables.create('c_data', 'in_c_sales', { name: 'branched', columns: [{ name: 'id', type: 'INTEGER' }], primary_key: ['id'] });
      await client.data.import('c_data', 'in_c_sales', 'branched', 'id\n1\n2\n');
      const branch = await client.branches.create('c_data', { name: 'feature', description: 'try things' });
      expect(branch).toMatchObject({ name: 'feature', description: 'try things', is_default: false, created_at: expect.stringMatching(ISO) });
      expect(branch.id).toMatch(/^[a-z0-9_]{1,40}$/);
      expect((await client.branches.list('c_data')).branches.map((b) => b.id)).toEqual(['default', branch.id]);
      expect((await client.branches.get('c_data', branch.id)).name).toBe('feature');

      const dev = client.inBranch(branch.id);
      await dev.data.import('c_data', 'in_c_sales', 'branched', 'id\n3\n', { incremental: 'true' });
      expect((await dev.tables.get('c_data', 'in_c_sales', 'branched')).row_count).toBe(3);
      expect((await client.tables.get('c_data', 'in_c_sales', 'branched')).row_count).toBe(2);
      expect((await client.branches.changes('c_data', branch.id)).tables).toEqual([{ bucket: 'in_c_sales', table: 'branched', state: 'copied', main_changed: false }]);

      const reset = await client.branches.reset('c_data', branch.id, 'in_c_sales', 'branched');
      expect(reset.row_count).toBe(2);
      await dev.data.import('c_data', 'in_c_sales', 'branched', 'id\n4\n', { incremental: 'true' });
      const merged = await client.branches.merge('c_data', branch.id, 'in_c_sales', 'branched');
      expect(merged.table?.row_count).toBe(3);
      expect(merged.snapshot_id).toMatch(/^s_/);
      expect((await client.tables.get('c_data', 'in_c_sales', 'branched')).row_count).toBe(3);
      const nothing = (await client.branches.merge('c_data', branch.id, 'in_c_sales', 'branched').catch((e: unknown) => e)) as StorageApiError;
      expect([nothing.status, nothing.code]).toEqual([400, 'nothing_to_merge']);

      await client.branches.delete('c_data', branch.id);
      expect(((await client.branches.get('c_data', branch.id).catch((e: unknown) => e)) as StorageApiError).code).toBe('branch_not_found');
    });
  });

  it('the built bundle resolves as duckdb-storage-api/client and carries none of the server', async () => {
    await promisify(execFile)(process.execPath, ['esbuild.config.mjs', '--only', 'client'], { cwd: REPO });
    const bundle = await readFile(join(REPO, 'dist', 'client.mjs'), 'utf8');
    const imports = [...bundle.matchAll(/^import .* from ["']([^"']+)["'];?$/gm)].map((m) => m[1]!);
    expect(imports.length).toBeGreaterThan(0);
    for (const specifier of imports) expect(specifier).toMatch(/^node:/);
    expect(bundle).not.toMatch(/valibot|@duckdb|handlers\//);

    const script = `
      import { StorageClient, StorageApiError } from 'duckdb-storage-api/client';
      const client = new StorageClient({ url: process.env.URL, apiKey: process.env.KEY });
      const { buckets } = await client.buckets.list('c_data');
      const error = await client.buckets.get('c_data', 'missing').catch((e) => e);
      console.log(JSON.stringify({ buckets: buckets.map((b) => b.name), error: error instanceof StorageApiError ? error.code : String(error) }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO,
      env: { ...process.env, URL: running.url, KEY: ADMIN_KEY, NODE_OPTIONS: '' },
    });
    expect(JSON.parse(stdout.trim())).toEqual({ buckets: ['in_c_sales'], error: 'bucket_not_found' });
  });
});
