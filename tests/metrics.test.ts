import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, makeApp, type TestApp } from './helpers.ts';

/** The value of the sample with exactly these labels, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) found[key!] = value!;
    if (Object.keys(labels).length !== Object.keys(found).length) continue;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(t: TestApp): Promise<string> {
  const response = await t.call('GET', '/metrics');
  expect(response.status).toBe(200);
  return response.text();
}

const M = 'duckdb_storage_';

describe('GET /metrics', () => {
  let t: TestApp;
  let projectKey: string;
  beforeAll(async () => {
    t = await makeApp();
    projectKey = await t.createProject('mp');
  });
  afterAll(() => t.close());

  it('needs the admin key and answers in the Prometheus text format', async () => {
    const anonymous = await t.callJson('GET', '/metrics', { key: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.detail.error).toBe('unauthorized');
    expect((await t.call('GET', '/metrics', { key: projectKey })).status).toBe(401);

    const response = await t.call('GET', '/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    expect(text).toContain(`# TYPE ${M}http_requests_total counter`);
    expect(text).toContain(`# TYPE ${M}http_request_duration_seconds histogram`);
    expect(text).toContain(`# TYPE ${M}process_resident_memory_bytes gauge`);
    expect(text).not.toContain(ADMIN_KEY);
    expect(text).not.toContain(projectKey);
  });

  it('counts requests and their durations by route pattern and status', async () => {
    for (let i = 0; i < 3; i++) expect((await t.call('GET', '/health', { key: null })).status).toBe(200);
    expect((await t.call('GET', '/projects/mp', { key: projectKey })).status).toBe(200);
    expect((await t.call('GET', '/projects/mp/stats', { key: projectKey })).status).toBe(200);
    expect((await t.call('POST', '/projects', { body: { id: 'mp' } })).status).toBe(409);
    expect((await t.call('GET', '/no/such/thing')).status).toBe(404);
    expect((await t.call('GET', '/projects/nope', { key: projectKey })).status).toBe(403);

    const text = await scrape(t);
    const requests = (route: string, status: string, method = 'GET') => sample(text, `${M}http_requests_total`, { method, route, status });
    expect(requests('/health', '200')).toBe(3);
    expect(requests('/projects/:id', '200')).toBe(1);
    expect(requests('/projects/:id', '403')).toBe(1);
    expect(requests('/projects/:id/stats', '200')).toBe(1);
    expect(requests('/projects', '201', 'POST')).toBe(1);
    expect(requests('/projects', '409', 'POST')).toBe(1);
    expect(requests('(unmatched)', '404')).toBe(1);
    // Raw paths never become labels.
    expect(text).not.toContain('route="/projects/mp"');
    expect(text).not.toContain('/no/such/thing');

    const histogram = { method: 'GET', route: '/health', status: '200' };
    expect(sample(text, `${M}http_request_duration_seconds_count`, histogram)).toBe(3);
    expect(sample(text, `${M}http_request_duration_seconds_bucket`, { ...histogram, le: '+Inf' })).toBe(3);
    expect(sample(text, `${M}http_request_duration_seconds_sum`, histogram)).toBeGreaterThan(0);
  });

  it('reports open attachments, pending table writes and running imports live', async () => {
    const { registry } = t.services;
    expect((await t.call('POST', '/projects/mp/buckets', { body: { name: 'b' } })).status).toBe(201);
    const created = await t.call('POST', '/projects/mp/buckets/b/tables', { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }] } });
    expect(created.status).toBe(201);
    const file = t.services.paths.tableFile('mp', 'b', 't');

    let text = await scrape(t);
    expect(sample(text, `${M}open_attachments`)).toBe(0);
    expect(sample(text, `${M}pending_table_writes`)).toBe(0);
    expect(sample(text, `${M}active_imports`)).toBe(0);

    await registry.acquire(file);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = registry.withWriteLock(file, () => gate);
    const second = registry.withWriteLock(file, async () => {});
    t.services.activeImports.count += 2;
    try {
      text = await scrape(t);
      expect(sample(text, `${M}open_attachments`)).toBe(1);
      expect(sample(text, `${M}pending_table_writes`)).toBe(2);
      expect(sample(text, `${M}active_imports`)).toBe(2);
    } finally {
      t.services.activeImports.count -= 2;
      release();
      await Promise.all([first, second]);
      registry.release(file);
    }
    // Detaching runs after the last release (at the idle timeout): settle detaches the warm
    // file now and waits for it, where a bounded poll failed once the detach took longer.
    await registry.settle();
    text = await scrape(t);
    expect(sample(text, `${M}open_attachments`)).toBe(0);
    expect(sample(text, `${M}pending_table_writes`)).toBe(0);
  });

  it('counts the rows and bytes that imports load and the rows that exports stream', async () => {
    const counters = async () => {
      const text = await scrape(t);
      return {
        rows: sample(text, `${M}imported_rows_total`)!,
        bytes: sample(text, `${M}imported_bytes_total`)!,
        exported: sample(text, `${M}exported_rows_total`)!,
      };
    };
    const before = await counters();
    expect((await t.call('POST', '/projects/mp/buckets', { body: { name: 'data' } })).status).toBe(201);
    const table = { name: 'rows', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'label', type: 'VARCHAR' }] };
    expect((await t.call('POST', '/projects/mp/buckets/data/tables', { body: table })).status).toBe(201);
    const csv = `id,label\n${Array.from({ length: 25 }, (_, i) => `${i},row ${i}`).join('\n')}\n`;
    const load = await t.call('POST', '/projects/mp/buckets/data/tables/rows/import', { raw: csv, headers: { 'content-type': 'text/csv' } });
    expect(load.status).toBe(200);
    const afterImport = await counters();
    expect(afterImport.rows).toBe(before.rows + 25);
    expect(afterImport.bytes).toBe(before.bytes + Buffer.byteLength(csv));

    for (const format of ['csv', 'ndjson', 'parquet']) {
      const exported = await t.call('GET', `/projects/mp/buckets/data/tables/rows/export?format=${format}&limit=10`);
      expect(exported.status).toBe(200);
      await exported.arrayBuffer();
    }
    expect((await counters()).exported).toBe(afterImport.exported + 30);
  });
});

describe('two apps in one process', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await makeApp();
    b = await makeApp();
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('keep separate registries and counts', async () => {
    expect(a.services.metrics.registry).not.toBe(b.services.metrics.registry);
    for (let i = 0; i < 4; i++) await a.call('GET', '/health', { key: null });
    await b.call('GET', '/health', { key: null });
    a.services.metrics.importedRows.inc(11);
    const health = { method: 'GET', route: '/health', status: '200' };
    const textA = await scrape(a);
    const textB = await scrape(b);
    expect(sample(textA, `${M}http_requests_total`, health)).toBe(4);
    expect(sample(textB, `${M}http_requests_total`, health)).toBe(1);
    expect(sample(textA, `${M}imported_rows_total`)).toBe(11);
    expect(sample(textB, `${M}imported_rows_total`)).toBe(0);
  });
});
