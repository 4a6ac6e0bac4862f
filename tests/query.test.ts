import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DuckDBInstance } from '@duckdb/node-api';
import { renderingLines, runQuery } from '../src/storage/sql/query.ts';
import { makeApp, walk, type TestApp } from './helpers.ts';
import { seedSales, seedTable } from './sql-fixture.ts';

let t: TestApp;
const Q = '/projects/p1/query';

beforeAll(async () => {
  t = await makeApp({ env: { MAX_CONCURRENT_QUERIES: '2' } });
  await t.createProject('p1');
  await seedSales(t);
  // Read by the tests of stopped queries only (others truncate the sales tables).
  await seedTable(t, 'p1', 'in_c_life', 'nums', [{ name: 'id', type: 'INTEGER' }], 'id\n1\n2\n3\n');
});
afterAll(() => t.close());

describe('POST P/query', () => {
  it('runs a group-by over bucket.table and maps values by §7', async () => {
    const r = await t.callJson('POST', Q, { body: { sql: 'SELECT customer, sum(amount) AS total FROM in_c_sales.orders GROUP BY 1 ORDER BY 1' } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.columns).toEqual([{ name: 'customer', type: 'VARCHAR' }, { name: 'total', type: 'DECIMAL(38,2)' }]);
    expect(r.body.rows).toEqual([{ customer: 'alice', total: '15.75' }, { customer: 'bob', total: '20.00' }]);
    expect(r.body.row_count).toBe(2);
    expect(r.body.truncated).toBe(false);
    expect(typeof r.body.elapsed_ms).toBe('number');
  });
});

describe('POST P/query: results', () => {
  it('cuts the result at limit and says so', async () => {
    const cut = await t.callJson('POST', Q, { body: { sql: 'SELECT id FROM in_c_sales.orders ORDER BY id', limit: 2 } });
    expect(cut.body).toMatchObject({ rows: [{ id: 1 }, { id: 2 }], row_count: 2, truncated: true });
    const whole = await t.callJson('POST', Q, { body: { sql: 'SELECT id FROM in_c_sales.orders ORDER BY id', limit: 3 } });
    expect(whole.body).toMatchObject({ row_count: 3, truncated: false });
  });

  it('maps values by §7', async () => {
    const r = await t.callJson('POST', Q, {
      body: {
        sql: `SELECT NULL AS n, true AS b, 9007199254740993::BIGINT AS big, 42 AS i, 1.5::DOUBLE AS d, 'NaN'::DOUBLE AS nan, 12.50::DECIMAL(10,2) AS dec,
          DATE '2026-11-29' AS dt, TIME '12:30:00' AS tm, TIMESTAMP '2026-11-29 12:30:00' AS ts, TIMESTAMPTZ '2026-11-29 12:30:00+00' AS tz,
          '{"a":[1,2]}'::JSON AS j, '\\x41\\x42'::BLOB AS bl, INTERVAL 1 DAY AS iv, [1, 2] AS l, {'k': 'v'} AS s, 'a3bb189e-8bf9-3888-9912-ace4e6543002'::UUID AS u`,
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.rows[0]).toEqual({
      n: null, b: true, big: '9007199254740993', i: 42, d: 1.5, nan: 'NaN', dec: '12.50', dt: '2026-11-29', tm: '12:30:00', ts: '2026-11-29T12:30:00',
      tz: '2026-11-29T12:30:00Z', j: { a: [1, 2] }, bl: 'QUI=', iv: 'P1D', l: [1, 2], s: { k: 'v' }, u: 'a3bb189e-8bf9-3888-9912-ace4e6543002',
    });
  });

  it('streams csv, ndjson and parquet named query.{ext}', async () => {
    const sql = 'SELECT id, customer FROM in_c_sales.orders ORDER BY id';
    const csv = await t.call('POST', Q, { body: { sql, format: 'csv', limit: 2 } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="query.csv"');
    expect(await csv.text()).toBe('id,customer\n1,alice\n2,bob\n');
    const nd = await t.call('POST', Q, { body: { sql, format: 'ndjson' } });
    expect(nd.headers.get('content-disposition')).toBe('attachment; filename="query.ndjson"');
    expect((await nd.text()).trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ id: 1, customer: 'alice' }, { id: 2, customer: 'bob' }, { id: 3, customer: 'alice' }]);
    const pq = await t.call('POST', Q, { body: { sql, format: 'parquet' } });
    expect(pq.headers.get('content-disposition')).toBe('attachment; filename="query.parquet"');
    const bytes = Buffer.from(await pq.arrayBuffer());
    expect(bytes.subarray(0, 4).toString()).toBe('PAR1');
    // Nothing of the queries is left in the private folder but the cached view catalogs.
    expect((await walk(t.services.sql.root)).filter((f) => f.startsWith('q-'))).toEqual([]);
  });

  it('reads linked buckets as schemas', async () => {
    await t.createProject('src');
    const { seedTable } = await import('./sql-fixture.ts');
    await seedTable(t, 'src', 'shared', 'items', [{ name: 'x', type: 'INTEGER' }], 'x\n7\n');
    expect((await t.callJson('POST', '/projects/src/buckets/shared/share', { body: { target_project_id: 'p1' } })).status).toBe(200);
    expect((await t.callJson('POST', '/projects/p1/buckets/linked_items/link', { body: { source_project_id: 'src', source_bucket_name: 'shared' } })).status).toBe(201);
    const r = await t.callJson('POST', Q, { body: { sql: 'SELECT x FROM linked_items.items' } });
    expect(r.body.rows).toEqual([{ x: 7 }]);
    // The source's own bucket name means nothing in p1.
    expect((await t.callJson('POST', Q, { body: { sql: 'SELECT x FROM shared.items' } })).body.detail.error).toBe('invalid_query');
  });
});

describe('POST P/query: errors', () => {
  it('422 for an empty sql, a bad limit, timeout or format', async () => {
    for (const body of [{ sql: '' }, { sql: 'SELECT 1', limit: 0 }, { sql: 'SELECT 1', limit: 100001 }, { sql: 'SELECT 1', timeout_seconds: 301 }, { sql: 'SELECT 1', format: 'xml' }, {}]) {
      const r = await t.callJson('POST', Q, { body });
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.body.detail.error).toBe('validation_error');
    }
  });

  it('404 project_not_found', async () => {
    const r = await t.callJson('POST', '/projects/nope/query', { body: { sql: 'SELECT 1' } });
    expect(r.status).toBe(404);
    expect(r.body.detail.error).toBe('project_not_found');
  });

  it('400 invalid_query for syntax, unknown tables and columns, with DuckDB text', async () => {
    for (const sql of ['SELEC 1', 'SELECT * FROM in_c_sales.nope', 'SELECT nope FROM in_c_sales.orders', 'SELECT * FROM nope.orders', '   ']) {
      const r = await t.callJson('POST', Q, { body: { sql } });
      expect(r.status, sql).toBe(400);
      expect(r.body.detail.error, sql).toBe('invalid_query');
      expect(r.body.detail.message.length).toBeGreaterThan(0);
    }
    const column = await t.callJson('POST', Q, { body: { sql: 'SELECT nope FROM in_c_sales.orders' } });
    expect(column.body.detail.message).toMatch(/nope/);
    // What runs is DuckDB's rendering of the statement under a LIMIT; a fault is told in the caller's own text.
    const own = await t.callJson('POST', Q, { body: { sql: 'select  nope  from in_c_sales.orders' } });
    expect(own.body.detail.message).toContain('select  nope  from in_c_sales.orders');
    expect(own.body.detail.message).not.toMatch(/LIMIT/);
  });

  it('400 query_failed for a runtime error', async () => {
    const r = await t.callJson('POST', Q, { body: { sql: "SELECT 'abc'::INTEGER" } });
    expect(r.status).toBe(400);
    expect(r.body.detail.error).toBe('query_failed');
    // DuckDB's own message from its start, not the client library's note about a failed pending result.
    expect(r.body.detail.message).toMatch(/^Conversion Error: Could not convert string 'abc' to INT32/);
    expect(r.body.detail.message).not.toMatch(/pending query result/);
    // Likewise for a failure while rows are produced, and for error() called by the statement.
    const raised = await t.callJson('POST', Q, { body: { sql: "SELECT error('stop at ' || 7) AS x" } });
    expect(raised.body.detail).toMatchObject({ error: 'query_failed', message: 'Invalid Input Error: stop at 7' });
    // The line DuckDB points at is the line of the statement it quotes (the one that ran is
    // wrapped in a LIMIT that starts a line above it), in every format.
    for (const format of ['json', 'ndjson', 'csv', 'parquet']) {
      const r = await t.callJson('POST', Q, { body: { sql: "SELECT\n  'abc'::INTEGER AS n", format } });
      expect(r.body.detail.error, format).toBe('query_failed');
      expect(r.body.detail.message, format).toMatch(/\n\nLINE 1: SELECT CAST\('abc' AS INTEGER\)/);
    }
    // An EXPLAIN runs as the caller wrote it: its lines are the caller's own.
    for (const format of ['json', 'ndjson']) {
      const r = await t.callJson('POST', Q, { body: { sql: "EXPLAIN ANALYZE SELECT\n  'abc'::INTEGER AS n", format } });
      expect(r.body.detail.error, format).toBe('query_failed');
      expect(r.body.detail.message, format).toMatch(/\n\nLINE 2: {3}'abc'::INTEGER AS n/);
    }
  });

  it('renderingLines tells a line one lower, unless the number would get shorter, and leaves other errors alone', () => {
    const told = (message: string) => (renderingLines(new Error(message)) as Error).message;
    expect(told('Conversion Error: x\n\nLINE 2: SELECT 1\n        ^')).toBe('Conversion Error: x\n\nLINE 1: SELECT 1\n        ^');
    expect(told('Conversion Error: x\n\nLINE 12: SELECT 1')).toBe('Conversion Error: x\n\nLINE 11: SELECT 1');
    expect(told('Conversion Error: x\n\nLINE 10: SELECT 1')).toBe('Conversion Error: x\n\nLINE 10: SELECT 1');
    expect(told('Conversion Error: no line')).toBe('Conversion Error: no line');
    class Other extends Error {}
    const other = new Other('x\nLINE 2: y');
    expect(renderingLines(other)).toBe(other);
    expect(renderingLines('text')).toBe('text');
  });

  it('400 query_timeout stops a long query at its timeout', async () => {
    const r = await t.callJson('POST', Q, { body: { sql: 'SELECT count(*) FROM range(1000000000000)', timeout_seconds: 1 } });
    expect(r.status).toBe(400);
    expect(r.body.detail.error).toBe('query_timeout');
    expect(t.services.sql.activeQueries).toBe(0);
  });

  it('429 with Retry-After beyond MAX_CONCURRENT_QUERIES, and a runaway query does not block other requests', async () => {
    const aborts = [new AbortController(), new AbortController()];
    const long = aborts.map((a) =>
      runQuery(t.services, { projectId: 'p1', sql: 'SELECT count(*) FROM range(1000000000000)', limit: 10, timeoutSeconds: 300, format: 'json', allowedBuckets: null, signal: a.signal }).catch((e) => e),
    );
    while (t.services.sql.activeQueries < 2) await new Promise((resolve) => setImmediate(resolve));
    const refused = await t.callJson('POST', Q, { body: { sql: 'SELECT 1' } });
    expect(refused.status).toBe(429);
    expect(refused.body.detail.error).toBe('too_many_requests');
    expect(refused.response.headers.get('retry-after')).toBeTruthy();
    // Other requests answer while both queries run.
    expect((await t.callJson('GET', '/projects/p1/buckets')).status).toBe(200);
    expect((await t.callJson('GET', '/projects/p1/buckets/in_c_sales/tables/orders/preview')).status).toBe(200);
    expect(t.services.sql.activeQueries).toBe(2);
    for (const a of aborts) a.abort();
    for (const result of await Promise.all(long)) expect(result).toMatchObject({ status: 400 });
    expect(t.services.sql.activeQueries).toBe(0);
    expect((await t.callJson('POST', Q, { body: { sql: 'SELECT 1 AS one' } })).body.rows).toEqual([{ one: 1 }]);
  });

  it('a write to a table waits while a query reads it', async () => {
    const abort = new AbortController();
    const running = runQuery(t.services, {
      projectId: 'p1', sql: 'SELECT count(*) FROM in_c_sales.orders, range(1000000000000)', limit: 10, timeoutSeconds: 300, format: 'json', allowedBuckets: null, signal: abort.signal,
    }).catch((e) => e);
    while (t.services.sql.activeQueries < 1) await new Promise((resolve) => setImmediate(resolve));
    let truncated = false;
    const write = t.callJson('POST', '/projects/p1/buckets/in_c_sales/tables/orders/truncate').then((r) => {
      truncated = true;
      return r;
    });
    // Give the write every chance to run; it must still wait for the query's lock.
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(truncated).toBe(false);
    abort.abort();
    await running;
    expect((await write).status).toBe(200);
    const count = await t.callJson('POST', Q, { body: { sql: 'SELECT count(*) AS n FROM in_c_sales.orders' } });
    expect(count.body.rows).toEqual([{ n: 0 }]);
  });
});

describe('POST P/query: §17 details', () => {
  it('a bucket-restricted key sees only its buckets (another bucket is an unknown schema)', async () => {
    const key = await t.callJson('POST', '/projects/p1/api-keys', { body: { scope: 'read', buckets: ['in_c_crm'] } });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    const as = (sql: string) => t.callJson('POST', Q, { key: key.body.api_key, body: { sql } });
    expect((await as('SELECT count(*) AS n FROM in_c_crm.customers')).body.rows).toEqual([{ n: 2 }]);
    const hidden = await as('SELECT * FROM in_c_sales.orders');
    expect(hidden.status).toBe(400);
    expect(hidden.body.detail.error).toBe('invalid_query');
    expect(hidden.body.detail.message).not.toContain('in_c_crm');
    const joined = await as('SELECT * FROM in_c_sales.orders o JOIN in_c_crm.customers c ON c.name = o.customer');
    expect(joined.body.detail.error).toBe('invalid_query');
  });

  it('a statement parsed once is checked again against every caller: the same text is refused to a key that may not see its bucket', async () => {
    const sql = 'SELECT count(*) AS n FROM in_c_sales.orders';
    // Parsed and kept for the admin key…
    const first = await t.callJson('POST', Q, { body: { sql } });
    expect(first.status).toBe(200);
    expect((await t.callJson('POST', Q, { body: { sql } })).body.rows).toEqual(first.body.rows);
    // …the same text again, for a key restricted to another bucket.
    const key = await t.callJson('POST', '/projects/p1/api-keys', { body: { scope: 'read', buckets: ['in_c_crm'] } });
    const hidden = await t.callJson('POST', Q, { key: key.body.api_key, body: { sql } });
    expect(hidden.status).toBe(400);
    expect(hidden.body.detail.error).toBe('invalid_query');
    // And in a project without that bucket.
    await t.createProject('p_other');
    const elsewhere = await t.callJson('POST', '/projects/p_other/query', { body: { sql } });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.detail.error).toBe('invalid_query');
    // A text that failed its parse is refused again (nothing of it was kept as good).
    for (let i = 0; i < 2; i++) expect((await t.callJson('POST', Q, { body: { sql: 'SELECT 1; SELECT 2' } })).body.detail.error).toBe('invalid_query');
  });

  it('a result whose later rows fail is an error in every format, never a short answer', async () => {
    // Wide rows: DuckDB has produced many chunks before row 50,000 raises the error (and a
    // streamed result of DuckDB's ends silently there, as if complete).
    const sql = "SELECT range AS x, CASE WHEN range < 50000 THEN repeat('x', 1000) ELSE error('boom') END AS y FROM range(100000)";
    for (const format of ['json', 'ndjson', 'csv', 'parquet']) {
      const r = await t.call('POST', Q, { body: { sql, format, limit: 100000 } });
      const text = await r.text();
      expect(r.status, `${format}: ${text.slice(0, 200)}`).toBe(400);
      expect(JSON.parse(text).detail.error).toBe('query_failed');
    }
    expect(t.services.sql.activeQueries).toBe(0);
    const ws = await t.callJson('POST', '/projects/p1/workspaces', { body: {} });
    const inWs = await t.callJson('POST', `/projects/p1/workspaces/${ws.body.id}/query`, { body: { sql } });
    expect(inWs.body.detail).toMatchObject({ error: 'query_failed', details: { statement: 1 } });
  });

  it('what runs is the checked statement exactly: integers beyond 2^53 keep every digit in every format', async () => {
    const sql = 'SELECT 9007199254740993::BIGINT AS big, 170141183460469231731687303715884105727::HUGEINT AS huge';
    expect((await t.callJson('POST', Q, { body: { sql } })).body.rows).toEqual([{ big: '9007199254740993', huge: '170141183460469231731687303715884105727' }]);
    expect(await (await t.call('POST', Q, { body: { sql, format: 'csv' } })).text()).toBe('big,huge\n9007199254740993\n170141183460469231731687303715884105727\n'.replace('993\n', '993,'));
    expect(JSON.parse(await (await t.call('POST', Q, { body: { sql, format: 'ndjson' } })).text())).toEqual({ big: '9007199254740993', huge: '170141183460469231731687303715884105727' });
  });

  it('EXPLAIN and EXPLAIN ANALYZE of a read answer with the plan', async () => {
    for (const sql of ['EXPLAIN SELECT * FROM in_c_sales.orders', 'EXPLAIN ANALYZE SELECT count(*) FROM in_c_sales.orders']) {
      const r = await t.callJson('POST', Q, { body: { sql } });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.row_count).toBeGreaterThan(0);
    }
  });
});

describe('kept sandboxes', () => {
  it('a sandbox kept after a query reads the table as it is now, and never another project\'s rows', async () => {
    const other = await makeApp({});
    try {
      await other.createProject('a');
      await other.createProject('b');
      const { seedTable } = await import('./sql-fixture.ts');
      await seedTable(other, 'a', 'shop', 'items', [{ name: 'v', type: 'VARCHAR' }], 'v\nfrom-a\n');
      await seedTable(other, 'b', 'shop', 'items', [{ name: 'v', type: 'VARCHAR' }], 'v\nfrom-b\n');
      const ask = async (project: string, format = 'json') => {
        const r = await other.call('POST', `/projects/${project}/query`, { body: { sql: 'SELECT v FROM shop.items ORDER BY v', format } });
        expect(r.status).toBe(200);
        return format === 'json' ? (await r.json()).rows.map((row: { v: string }) => row.v) : (await r.text()).trim().split('\n');
      };
      expect(await ask('a')).toEqual(['from-a']);
      // Given back to the pool after the answer.
      await other.services.sql.returned();
      expect(other.services.sql.idleSandboxes).toBe(1);
      // The same names in another project: the kept sandbox is taken, with b's file.
      expect(await ask('b')).toEqual(['from-b']);
      await other.services.sql.returned();
      expect(other.services.sql.idleSandboxes).toBe(1);
      const imported = await other.call('POST', '/projects/a/buckets/shop/tables/items/import?incremental=true', { raw: 'v\nnew-a\n', headers: { 'content-type': 'text/csv' } });
      expect(imported.status).toBe(200);
      expect(await ask('a')).toEqual(['from-a', 'new-a']);
      expect(await ask('a', 'csv')).toEqual(['v', 'from-a', 'new-a']);
      expect(await ask('b', 'ndjson')).toEqual(['{"v":"from-b"}']);
      // A query that failed does not give its sandbox back.
      await other.services.sql.returned();
      const before = other.services.sql.idleSandboxes;
      expect((await other.callJson('POST', '/projects/a/query', { body: { sql: "SELECT v::INTEGER FROM shop.items" } })).status).toBe(400);
      expect(other.services.sql.idleSandboxes).toBe(before - 1);
      expect(await ask('a')).toEqual(['from-a', 'new-a']);
    } finally {
      await other.close();
    }
  });
});

describe('kept sandboxes, given back after the answer', () => {
  it('the next query for the same tables, sent as soon as the answer came, takes the sandbox being given back instead of opening another', async () => {
    const other = await makeApp({});
    try {
      await other.createProject('a');
      const { seedTable } = await import('./sql-fixture.ts');
      await seedTable(other, 'a', 'shop', 'items', [{ name: 'v', type: 'VARCHAR' }], 'v\nx\n');
      for (let i = 0; i < 5; i++) {
        const r = await other.callJson('POST', '/projects/a/query', { body: { sql: `SELECT v, ${i} AS i FROM shop.items` } });
        expect(r.status).toBe(200);
        expect(r.body.rows).toEqual([{ v: 'x', i }]);
      }
      await other.services.sql.returned();
      expect(other.services.sql.idleSandboxes).toBe(1);
      expect(other.services.sql.activeQueries).toBe(0);
      // Nothing of the queries holds the table: a write goes through at once, and the next query sees it.
      expect((await other.call('POST', '/projects/a/buckets/shop/tables/items/import?incremental=true', { raw: 'v\ny\n', headers: { 'content-type': 'text/csv' } })).status).toBe(200);
      expect((await other.callJson('POST', '/projects/a/query', { body: { sql: 'SELECT v FROM shop.items ORDER BY v' } })).body.rows).toEqual([{ v: 'x' }, { v: 'y' }]);
    } finally {
      await other.close();
    }
  });
});

describe('memory limit', () => {
  it('400 query_failed when a query needs more than QUERY_MEMORY_LIMIT, and the next query runs', async () => {
    const small = await makeApp({ env: { QUERY_MEMORY_LIMIT: '32MB' } });
    try {
      await small.createProject('m');
      const r = await small.callJson('POST', '/projects/m/query', { body: { sql: 'SELECT count(*) FROM (SELECT DISTINCT range::VARCHAR || \'x\' FROM range(20000000))' } });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.detail.error).toBe('query_failed');
      expect(r.body.detail.message).toMatch(/memory/i);
      expect((await small.callJson('POST', '/projects/m/query', { body: { sql: 'SELECT 1 AS one' } })).body.rows).toEqual([{ one: 1 }]);
      // A workspace statement is bounded the same way; the statements before it stay applied.
      const ws = await small.callJson('POST', '/projects/m/workspaces', { body: {} });
      const heavy = await small.callJson('POST', `/projects/m/workspaces/${ws.body.id}/query`, {
        body: { sql: "CREATE TABLE a AS SELECT 1 AS x; CREATE TABLE b AS SELECT DISTINCT range::VARCHAR || 'x' AS v FROM range(20000000)" },
      });
      expect(heavy.status, JSON.stringify(heavy.body)).toBe(400);
      expect(heavy.body.detail).toMatchObject({ error: 'query_failed', details: { statement: 2 } });
      expect(heavy.body.detail.message).toMatch(/memory/i);
      expect((await small.callJson('GET', `/projects/m/workspaces/${ws.body.id}`)).body.tables.map((x: { name: string }) => x.name)).toEqual(['a']);
    } finally {
      await small.close();
    }
  });
});

describe('reserved bucket names', () => {
  it('are refused at bucket creation (422)', async () => {
    for (const name of ['main', 'TEMP', 'system', 'Information_Schema', 'pg_catalog']) {
      const r = await t.callJson('POST', '/projects/p1/buckets', { body: { name } });
      expect(r.status, name).toBe(422);
    }
  });
});

/** A moment a test holds: `reach` says it came, `open` lets it go on. */
function gate() {
  let open!: () => void;
  let reach!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (reach = resolve));
  return { open, reach, opened, reached };
}

type Opened = Awaited<ReturnType<TestApp['services']['sql']['openPooledQuerySandbox']>>;

/** Lets `wrap` see the connection of each query sandbox handed out until the returned function restores the pool. */
function watchSandboxes(wrap: (opened: Opened) => void): () => void {
  const { sql } = t.services;
  const open = sql.openPooledQuerySandbox.bind(sql);
  sql.openPooledQuerySandbox = async (tables) => {
    const opened = await open(tables);
    wrap(opened);
    return opened;
  };
  return () => {
    sql.openPooledQuerySandbox = open;
  };
}

describe('POST P/query: a stop never closes a sandbox under a running DuckDB call', () => {
  it('a streamed NDJSON body cancelled while its next chunk is fetched closes the sandbox (and gives the tables back) only after the fetch', async () => {
    // Found by reading: the cancel closed the connection and the instance (and let writers
    // at the hard-linked table file) while the pull's fetchChunk still ran in the thread pool.
    const fetchHeld = gate();
    const closedUnder: string[] = [];
    let fetching = false;
    const restore = watchSandboxes(({ sandbox }) => {
      const c = sandbox.connection;
      const closeSync = c.closeSync.bind(c);
      const extract = c.extractStatements.bind(c);
      // The answer runs a prepared statement: its pending result's chunks are watched.
      c.extractStatements = (async (sql: string) => {
        const extracted = await extract(sql);
        const prepare = extracted.prepare.bind(extracted);
        extracted.prepare = async (index: number) => {
          const prepared = await prepare(index);
          const start = prepared.start.bind(prepared);
          prepared.start = () => {
            const pending = start();
            const getResult = pending.getResult.bind(pending);
            pending.getResult = async () => {
              const result = await getResult();
              const fetchChunk = result.fetchChunk.bind(result);
              let calls = 0;
              result.fetchChunk = async () => {
                fetching = true;
                try {
                  // The first chunk is read before the answer; the second by the body's next pull.
                  if (++calls === 2) {
                    fetchHeld.reach();
                    await fetchHeld.opened;
                  }
                  return await fetchChunk();
                } finally {
                  fetching = false;
                }
              };
              return result;
            };
            return pending;
          };
          return prepared;
        };
        return extracted;
      }) as typeof c.extractStatements;
      c.closeSync = () => {
        if (fetching) closedUnder.push('fetchChunk');
        closeSync();
      };
    });
    try {
      const response = await t.call('POST', Q, { body: { sql: 'SELECT n.id, r.range FROM in_c_life.nums n, range(100000) r', format: 'ndjson', limit: 100000 } });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      await fetchHeld.reached;
      const cancelled = reader.cancel();
      await new Promise((resolve) => setImmediate(resolve));
      fetchHeld.open();
      await cancelled;
    } finally {
      restore();
      fetchHeld.open();
    }
    expect(closedUnder).toEqual([]);
    expect(t.services.sql.activeQueries).toBe(0);
    expect((await t.callJson('POST', Q, { body: { sql: 'SELECT count(*) AS n FROM in_c_life.nums' } })).body.rows).toEqual([{ n: 3 }]);
  });

  it('a client that goes away while a finished COPY answer puts its sandbox back interrupts nothing any more', async () => {
    // The abort listener was still there while the clean-up ran: it interrupted the DETACH of
    // the sandbox being put back, and started the timer's repeated interrupts after the timer
    // was stopped, on a connection closed by then, for as long as the process lived.
    const detach = gate();
    let interruptsAfterDone = 0;
    let done = false;
    let discarded = false;
    const restore = watchSandboxes(({ sandbox }) => {
      const c = sandbox.connection;
      const closeInstance = sandbox.instance.closeSync.bind(sandbox.instance);
      sandbox.instance.closeSync = () => {
        discarded = true;
        closeInstance();
      };
      const run = c.run.bind(c);
      const interrupt = c.interrupt.bind(c);
      c.run = (async (sql: string, ...rest: unknown[]) => {
        if (sql.startsWith('DETACH')) {
          done = true;
          detach.reach();
          await detach.opened;
        }
        return (run as (...a: unknown[]) => Promise<unknown>)(sql, ...rest);
      }) as typeof c.run;
      c.interrupt = () => {
        if (done) interruptsAfterDone++;
        interrupt();
      };
    });
    const abort = new AbortController();
    let output: Awaited<ReturnType<typeof runQuery>>;
    try {
      const running = runQuery(t.services, { projectId: 'p1', sql: 'SELECT id FROM in_c_life.nums ORDER BY id', limit: 10, timeoutSeconds: 30, format: 'csv', allowedBuckets: null, signal: abort.signal });
      await detach.reached;
      abort.abort();
      detach.open();
      output = await running;
    } finally {
      restore();
      detach.open();
    }
    expect(interruptsAfterDone).toBe(0);
    expect(output.kind).toBe('stream');
    // The client is gone: its answer is let go unread.
    if (output.kind === 'stream') await output.body.cancel().catch(() => {});
    // The sandbox was put back, not thrown away as an interrupted one.
    expect(discarded).toBe(false);
    expect(t.services.sql.activeQueries).toBe(0);
  });
});

describe('POST P/query: a client gone before it reads the streamed answer', () => {
  /** Polls `check` (bounded), for clean-ups that run after the client has gone. */
  async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < 2000; i++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`timed out waiting for ${what}`);
  }
  const outputs = async () => (await readdir(t.services.sql.root)).filter((name) => name.startsWith('out-'));

  it('NDJSON: the query stops and gives back its sandbox, tables and slot; CSV and Parquet: the output file is removed', async () => {
    // Found by a soak with dropped clients: the server neither reads nor cancels the body of
    // a client that is gone, so these were kept for good.
    for (const format of ['ndjson', 'csv', 'parquet'] as const) {
      const abort = new AbortController();
      const output = await runQuery(t.services, { projectId: 'p1', sql: 'SELECT n.id, r.range FROM in_c_life.nums n, range(100000) r', limit: 100000, timeoutSeconds: 30, format, allowedBuckets: null, signal: abort.signal });
      expect(output.kind).toBe('stream');
      if (format === 'ndjson') expect(t.services.sql.activeQueries).toBe(1);
      else expect(await outputs()).toHaveLength(1);
      abort.abort();
      await until(async () => t.services.sql.activeQueries === 0 && (await outputs()).length === 0, `the ${format} answer to be let go`);
    }
    // Gone before the answer was handed over at all: the same.
    const abort = new AbortController();
    const running = runQuery(t.services, { projectId: 'p1', sql: 'SELECT id FROM in_c_life.nums', limit: 10, timeoutSeconds: 30, format: 'ndjson', allowedBuckets: null, signal: abort.signal });
    abort.abort();
    await running.catch(() => undefined);
    await until(() => t.services.sql.activeQueries === 0, 'the slot to be given back');
  });
});

describe('the SQL service closing', () => {
  it('closes the parser instance only once a connect to it under way has answered', async () => {
    // Found by reading: close() closed the parser instance while a statement check could be
    // connecting to it; DuckDB's connect reads the instance in the thread pool.
    const app = await makeApp();
    try {
      const parser = (app.services.sql as unknown as { parser: DuckDBInstance }).parser;
      const connect = parser.connect.bind(parser);
      const closeSync = parser.closeSync.bind(parser);
      const held = gate();
      let connecting = false;
      const closes: string[] = [];
      parser.connect = async () => {
        connecting = true;
        try {
          const c = await connect();
          held.reach();
          await held.opened;
          return c;
        } finally {
          connecting = false;
        }
      };
      parser.closeSync = () => {
        closes.push(connecting ? 'under a connect' : 'after it');
        closeSync();
      };
      const checking = app.services.sql.withParser(async (c) => (await c.extractStatements('SELECT 1; SELECT 2')).count);
      await held.reached;
      const closing = app.services.sql.close();
      held.open();
      expect(await checking).toBe(2);
      await closing;
      expect(closes).toEqual(['after it']);
      await expect(app.services.sql.withParser(async () => 0)).rejects.toThrow(/closed/);
    } finally {
      await app.close();
    }
  });
});
