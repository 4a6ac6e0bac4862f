import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runQuery } from '../src/storage/sql/query.ts';
import { makeApp, walk, type TestApp } from './helpers.ts';
import { seedSales, seedTable } from './sql-fixture.ts';

/**
 * The hostile corpus: every statement below must be refused (400 invalid_query or
 * query_failed), return nothing of another project, no host path, and change nothing on disk.
 */
let t: TestApp;
const SECRET = 'TOP-SECRET-p2';
const ESCAPE = join(tmpdir(), `dsa-escape-${process.pid}`);
let secretFile = '';

async function fingerprint(dir: string): Promise<Record<string, string>> {
  // Detaches still under way checkpoint their WAL into the file; let them finish first.
  await t.services.registry.settle();
  const out: Record<string, string> = {};
  for (const rel of await walk(dir)) {
    const full = join(dir, rel);
    if (statSync(full).isFile()) out[rel] = createHash('sha256').update(readFileSync(full)).digest('hex');
  }
  return out;
}

beforeAll(async () => {
  t = await makeApp({ env: { MAX_CONCURRENT_QUERIES: '2' } });
  await t.createProject('p1');
  await t.createProject('p2');
  await seedSales(t);
  await seedTable(t, 'p2', 'secret', 'data', [{ name: 'v', type: 'VARCHAR' }], `v\n${SECRET}\n`);
  secretFile = t.services.paths.tableFile('p2', 'secret', 'data');
});
afterAll(() => t.close());

const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

function corpus(): string[] {
  const own = t.services.paths.tableFile('p1', 'in_c_sales', 'orders');
  return [
    // file readers of every kind
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_csv(['/etc/passwd'])",
    "SELECT * FROM READ_CSV('/etc/passwd')",
    'SELECT * FROM "read_csv"(\'/etc/passwd\')',
    "SELECT * FROM main.read_csv('/etc/passwd')",
    "SELECT * FROM system.main.read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM read_json('/etc/passwd')",
    "SELECT * FROM read_json_auto('/etc/passwd')",
    "SELECT * FROM read_ndjson_objects('/etc/passwd')",
    "SELECT * FROM read_parquet('/etc/passwd')",
    "SELECT * FROM parquet_metadata('/etc/passwd')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM '/etc/passwd'",
    "FROM '/etc/passwd'",
    `SELECT * FROM ${lit(secretFile)}`,
    `SELECT * FROM ${lit(own)}`,
    "SELECT * FROM 'https://example.com/x.csv'",
    "SELECT * FROM in_c_sales.orders WHERE id IN (SELECT 1 FROM read_text('/etc/passwd'))",
    "DESCRIBE SELECT * FROM read_text('/etc/passwd')",
    // other databases, raw aliases
    'SELECT * FROM _t0.main.data',
    'SELECT * FROM t1.main.data',
    'SELECT * FROM memory.main.x',
    'SELECT * FROM secret.data',
    'SELECT * FROM p2.secret.data',
    '"SELECT * FROM _storage.in_c_sales.orders"'.slice(1, -1),
    `ATTACH ${lit(secretFile)} AS x`,
    "ATTACH ':memory:' AS m",
    'DETACH _t0',
    `DETACH _t0; ATTACH ${lit(own)} AS _t0`,
    'USE _t0',
    // writing
    `COPY (SELECT 1) TO ${lit(`${ESCAPE}.csv`)}`,
    `COPY in_c_sales.orders TO ${lit(`${ESCAPE}.csv`)}`,
    `EXPORT DATABASE ${lit(ESCAPE)}`,
    `IMPORT DATABASE ${lit(ESCAPE)}`,
    "INSERT INTO in_c_sales.orders VALUES (9, 'x', 1)",
    'UPDATE in_c_sales.orders SET amount = 0',
    'DELETE FROM in_c_sales.orders',
    'DROP VIEW in_c_sales.orders',
    'CREATE TABLE x AS SELECT 1',
    'CREATE TEMP TABLE x AS SELECT 1',
    "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    // extensions and settings
    'INSTALL httpfs',
    'LOAD httpfs',
    'FORCE INSTALL json',
    'SET enable_external_access = true',
    "SET memory_limit = '100GB'",
    'RESET lock_configuration',
    "SET search_path = 'main'",
    'SET VARIABLE x = 1',
    'PRAGMA enable_profiling',
    'PRAGMA database_list',
    'PRAGMA show_tables',
    'CALL duckdb_settings()',
    'CHECKPOINT',
    'VACUUM',
    'PREPARE p AS SELECT 1',
    'BEGIN TRANSACTION',
    'SELECT * FROM duckdb_settings()',
    'SELECT * FROM duckdb_databases()',
    'SELECT * FROM duckdb_databases',
    'SELECT * FROM "main"."duckdb_settings"',
    'SELECT * FROM duckdb_extensions()',
    'SELECT * FROM duckdb_secrets()',
    "SELECT current_setting('temp_directory')",
    "SELECT current_setting('allowed_paths')",
    "SELECT system.main.current_setting('threads')",
    "SELECT (SELECT current_setting('threads'))",
    "SELECT list_transform([1], x -> current_setting('allowed_paths'))",
    "SELECT getenv('HOME')",
    'SELECT * FROM information_schema.tables',
    'SELECT * FROM pg_catalog.pg_settings',
    'SELECT * FROM sqlite_master',
    'SUMMARIZE SELECT * FROM duckdb_settings()',
    'SELECT * FROM generate_series(1, 2), LATERAL (SELECT * FROM duckdb_settings())',
    // SQL given as a string
    "SELECT * FROM query('SELECT * FROM duckdb_settings()')",
    "SELECT * FROM query_table('_t0.main.data')",
    "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
    // CTEs named like system views, in one scope and another
    'WITH duckdb_databases AS (SELECT 1 AS a) SELECT * FROM duckdb_databases',
    'SELECT * FROM (WITH duckdb_settings AS (SELECT 1 AS a) SELECT * FROM duckdb_settings), duckdb_settings',
    'WITH x AS (SELECT 1) SELECT * FROM x, duckdb_settings',
    // EXPLAIN ANALYZE runs its statement
    'EXPLAIN ANALYZE CREATE TEMP TABLE x AS SELECT 1',
    'EXPLAIN ANALYZE SET VARIABLE x = 1',
    'EXPLAIN ANALYZE PRAGMA enable_profiling',
    'EXPLAIN ANALYZE CALL duckdb_settings()',
    "EXPLAIN ANALYZE INSERT INTO in_c_sales.orders VALUES (9, 'x', 1)",
    "EXPLAIN INSERT INTO in_c_sales.orders VALUES (9, 'x', 1)",
    "EXPLAIN ANALYZE SELECT * FROM read_text('/etc/passwd')",
    // stacking, comments hiding statements
    'SELECT 1; SELECT 2',
    'SELECT 1; DROP VIEW in_c_sales.orders',
    'SELECT 1 /* ; */ ; DETACH _t0',
    'SELECT 1 --\n; DETACH _t0',
    '/* SELECT 1 */ DETACH _t0',
    '-- SELECT 1\nDETACH _t0',
    // unicode tricks
    "SELECT * FROM ｒｅａｄ_csv('/etc/passwd')",
    "SELECT * FROM read\u200b_csv('/etc/passwd')",
    'DETACH\u00a0_t0',
  ];
}

/**
 * Statements of every kind a workspace runs (CREATE … AS, views, macros, defaults, INSERT …
 * SELECT, UPDATE, ALTER) whose SELECT or expression reads settings, the catalog's files, host
 * files or other databases. A workspace holding `x (v VARCHAR)` must refuse each.
 */
function writeCorpus(): string[] {
  return [
    'CREATE TABLE y AS SELECT * FROM duckdb_settings()',
    "CREATE TABLE y AS SELECT value FROM duckdb_settings() WHERE name = 'allowed_paths'",
    "CREATE TABLE y AS SELECT current_setting('temp_directory') AS v",
    "CREATE TABLE y AS SELECT current_setting('allowed_paths') AS v",
    'CREATE TABLE y AS SELECT path FROM duckdb_databases()',
    'CREATE TABLE y AS SELECT * FROM duckdb_databases',
    'CREATE TABLE y AS SELECT * FROM pragma_database_list',
    'CREATE TABLE y AS SELECT * FROM duckdb_extensions()',
    'CREATE TABLE y AS SELECT * FROM duckdb_secrets()',
    'CREATE TABLE y AS SELECT * FROM information_schema.schemata',
    "CREATE TABLE y AS SELECT * FROM read_text('/etc/passwd')",
    "CREATE TABLE y AS FROM '/etc/passwd'",
    "CREATE TABLE y AS SELECT * FROM query('SELECT * FROM duckdb_settings()')",
    'CREATE TABLE y AS WITH s AS (SELECT * FROM duckdb_settings()) SELECT * FROM s',
    "CREATE OR REPLACE TABLE x AS SELECT current_setting('extension_directory') AS v",
    "CREATE TEMP TABLE y AS SELECT current_setting('secret_directory') AS v",
    'CREATE VIEW y AS SELECT * FROM duckdb_settings()',
    "CREATE VIEW y AS SELECT current_setting('temp_directory') AS v",
    'CREATE VIEW y AS SELECT * FROM duckdb_databases()',
    "CREATE MACRO y() AS current_setting('allowed_paths')",
    'CREATE MACRO y() AS TABLE SELECT * FROM duckdb_settings()',
    "CREATE TABLE y (v VARCHAR DEFAULT current_setting('temp_directory'))",
    "CREATE TABLE y (v VARCHAR, w VARCHAR AS (current_setting('allowed_paths')))",
    "CREATE TABLE y (v VARCHAR CHECK (v <> current_setting('threads')))",
    "INSERT INTO x SELECT current_setting('allowed_paths')",
    "INSERT INTO x VALUES (current_setting('temp_directory'))",
    'INSERT INTO x SELECT path FROM duckdb_databases()',
    'INSERT INTO x SELECT file FROM pragma_database_list',
    'INSERT INTO x SELECT install_path FROM duckdb_extensions()',
    "INSERT INTO x SELECT value FROM duckdb_settings() WHERE name = 'allowed_paths'",
    "INSERT INTO x SELECT content FROM read_text('/etc/passwd')",
    `INSERT INTO x SELECT v FROM ${lit(secretFile)}`,
    "INSERT INTO x (v) SELECT current_setting('temp_directory') RETURNING *",
    "INSERT INTO in_c_sales.orders VALUES (9, 'x', 1)",
    "UPDATE x SET v = current_setting('allowed_paths')",
    'UPDATE x SET v = d.path FROM duckdb_databases() d',
    'DELETE FROM x WHERE v IN (SELECT path FROM duckdb_databases())',
    "ALTER TABLE x ADD COLUMN w VARCHAR DEFAULT current_setting('allowed_paths')",
    "ALTER TABLE x ALTER v SET DEFAULT current_setting('temp_directory')",
    "ALTER TABLE x ALTER v TYPE VARCHAR USING current_setting('allowed_paths')",
    "EXPLAIN ANALYZE CREATE TABLE y AS SELECT current_setting('allowed_paths') AS v",
    "EXPLAIN SELECT current_setting('allowed_paths')",
    'CREATE TABLE y AS SELECT * FROM _storage.in_c_sales.orders, duckdb_settings()',
    'CREATE INDEX y ON x ((current_setting(\'threads\')))',
  ];
}

describe('the hostile SQL corpus', () => {
  it('has at least 60 statements', () => expect(corpus().length).toBeGreaterThanOrEqual(60));

  it('refuses every statement, returns nothing it should not, and changes nothing on disk', async () => {
    const before = await fingerprint(join(t.dataDir, 'duckdb'));
    const root = t.services.sql.root;
    for (const sql of [...corpus(), ...writeCorpus()]) {
      const r = await t.call('POST', '/projects/p1/query', { body: { sql } });
      const text = await r.text();
      expect(r.status, `${sql} → ${text}`).toBe(400);
      expect(['invalid_query', 'query_failed'], `${sql} → ${text}`).toContain(JSON.parse(text).detail.error);
      expect(text, sql).not.toContain(SECRET);
      expect(text, sql).not.toContain(t.dataDir);
      expect(text, sql).not.toContain(root);
      expect(text, sql).not.toContain('/root');
    }
    expect(await fingerprint(join(t.dataDir, 'duckdb'))).toEqual(before);
    for (const suffix of ['', '.csv']) expect(existsSync(`${ESCAPE}${suffix}`)).toBe(false);
    // The data is still there and readable.
    const check = await t.callJson('POST', '/projects/p1/query', { body: { sql: 'SELECT count(*) AS n FROM in_c_sales.orders' } });
    expect(check.body.rows).toEqual([{ n: 3 }]);
  });

  it('a workspace refuses the same statements, and its storage tables stay untouched', async () => {
    const ws = await t.callJson('POST', '/projects/p1/workspaces', { body: {} });
    expect(ws.status).toBe(201);
    const before = await fingerprint(join(t.dataDir, 'duckdb'));
    const allowedInWorkspace = new Set(['CREATE TABLE x AS SELECT 1', 'CREATE TEMP TABLE x AS SELECT 1', 'SELECT 1; SELECT 2']);
    for (const sql of corpus()) {
      if (allowedInWorkspace.has(sql)) continue;
      const r = await t.call('POST', `/projects/p1/workspaces/${ws.body.id}/query`, { body: { sql } });
      const text = await r.text();
      expect(r.status, `${sql} → ${text}`).toBe(400);
      expect(['invalid_query', 'query_failed'], `${sql} → ${text}`).toContain(JSON.parse(text).detail.error);
      expect(text, sql).not.toContain(SECRET);
      expect(text, sql).not.toContain(t.dataDir);
    }
    expect(await fingerprint(join(t.dataDir, 'duckdb'))).toEqual(before);
  });

  it('a workspace refuses statements of every kind that read settings, the catalog, files or other databases', async () => {
    const ws = await t.callJson('POST', '/projects/p1/workspaces', { body: {} });
    const P = `/projects/p1/workspaces/${ws.body.id}`;
    const setup = await t.callJson('POST', `${P}/query`, { body: { sql: "CREATE TABLE x (v VARCHAR); INSERT INTO x VALUES ('kept')" } });
    expect(setup.status, JSON.stringify(setup.body)).toBe(200);
    const before = await fingerprint(join(t.dataDir, 'duckdb'));
    const workspaceFile = t.services.paths.workspaceFile('p1', ws.body.id);
    const fileBefore = createHash('sha256').update(readFileSync(workspaceFile)).digest('hex');
    const root = t.services.sql.root;
    for (const sql of writeCorpus()) {
      const r = await t.call('POST', `${P}/query`, { body: { sql } });
      const text = await r.text();
      expect(r.status, `${sql} → ${text}`).toBe(400);
      expect(['invalid_query', 'query_failed'], `${sql} → ${text}`).toContain(JSON.parse(text).detail.error);
      for (const path of [t.dataDir, root, '/root', tmpdir()]) expect(text, sql).not.toContain(path);
      expect(text, sql).not.toContain(SECRET);
    }
    // Nothing was created, changed or stored: the workspace holds what the setup made.
    expect(createHash('sha256').update(readFileSync(workspaceFile)).digest('hex')).toBe(fileBefore);
    const rows = await t.callJson('POST', `${P}/query`, { body: { sql: 'SELECT * FROM x' } });
    expect(rows.body.results[0].rows).toEqual([{ v: 'kept' }]);
    expect((await t.callJson('GET', P)).body.tables).toEqual([{ name: 'x', columns: [{ name: 'v', type: 'VARCHAR' }], row_count: 1 }]);
    expect(await fingerprint(join(t.dataDir, 'duckdb'))).toEqual(before);
  });

  it('no setting of a query or workspace sandbox names a host path but the files it reads', async () => {
    // Read on the server's own connection of each sandbox (user SQL may not call duckdb_settings).
    const { sql, paths } = t.services;
    const check = async (connection: import('@duckdb/node-api').DuckDBConnection) => {
      const rows = (await connection.runAndReadAll("SELECT name, value FROM duckdb_settings() WHERE value LIKE '%/%' AND name <> 'allowed_paths'")).getRows();
      for (const [name, value] of rows) {
        for (const path of [t.dataDir, sql.root, '/root', tmpdir(), process.env.HOME ?? '/root']) expect(String(value), String(name)).not.toContain(path);
      }
    };
    const lease = await sql.lease([]);
    const sandbox = await sql.openQuerySandbox(await sql.viewCatalog(lease), lease);
    try {
      await check(sandbox.connection);
    } finally {
      sandbox.close();
      await lease.release();
    }
    const ws = await t.callJson('POST', '/projects/p1/workspaces', { body: {} });
    const session = await sql.openWorkspaceSession(paths.workspaceFile('p1', ws.body.id), []);
    try {
      await check(session.sandbox.connection);
    } finally {
      await session.close();
    }
  });
});

describe('what the sandbox still allows', () => {
  it('reads own tables across buckets, with DESCRIBE, SUMMARIZE, VALUES, EXPLAIN and window functions', async () => {
    for (const sql of [
      'SELECT o.customer, c.city, sum(o.amount) FROM in_c_sales.orders o JOIN in_c_crm.customers c ON c.name = o.customer GROUP BY ALL',
      'DESCRIBE in_c_sales.orders',
      'SUMMARIZE in_c_sales.orders',
      'VALUES (1, 2), (3, 4)',
      'FROM in_c_sales.orders',
      'WITH x AS (SELECT * FROM in_c_sales.orders) SELECT count(*) FROM x',
      'SELECT id, row_number() OVER (PARTITION BY customer ORDER BY id) FROM in_c_sales.orders',
      'EXPLAIN SELECT * FROM in_c_sales.orders',
      'EXPLAIN ANALYZE SELECT * FROM in_c_sales.orders',
      'SELECT * FROM range(3)',
      "PIVOT in_c_sales.orders ON customer IN ('alice', 'bob') USING sum(amount)",
    ]) {
      const r = await t.callJson('POST', '/projects/p1/query', { body: { sql } });
      expect(r.status, `${sql} → ${JSON.stringify(r.body)}`).toBe(200);
    }
  });

  it('a PIVOT whose values are not listed is refused with what to write instead, not as two statements the caller never wrote', async () => {
    const sql = 'PIVOT in_c_sales.orders ON customer USING sum(amount)';
    const r = await t.callJson('POST', '/projects/p1/query', { body: { sql } });
    expect(r.status).toBe(400);
    expect(r.body.detail).toEqual({
      error: 'invalid_query',
      message: "Exactly one statement is allowed; DuckDB runs this statement as 2 statements, as it does a PIVOT whose values are not listed: name them (PIVOT … ON column IN ('a', 'b') …)",
    });
    // Two statements the caller wrote are still counted as written.
    const two = await t.callJson('POST', '/projects/p1/query', { body: { sql: 'SELECT 1; SELECT 2' } });
    expect(two.body.detail.message).toBe('Exactly one statement is allowed; the query contains 2');

    const ws = await t.callJson('POST', '/projects/p1/workspaces', { body: {} });
    const W = `/projects/p1/workspaces/${ws.body.id}`;
    const refused = await t.callJson('POST', `${W}/query`, { body: { sql: `CREATE TABLE kept AS SELECT 1 AS x; ${sql}` } });
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toEqual({
      error: 'invalid_query',
      message: "Statement 2: DuckDB runs this statement as 2 statements, as it does a PIVOT whose values are not listed: name them (PIVOT … ON column IN ('a', 'b') …)",
      details: { statement: 2 },
    });
    // Refused before anything ran: the first statement did not run either.
    expect((await t.callJson('GET', W)).body.tables).toEqual([]);
    expect((await t.callJson('DELETE', W)).status).toBe(204);
  });

  it('a workspace still runs statements of every kind over its own tables and the project\'s', async () => {
    const ws = await t.callJson('POST', '/projects/p1/workspaces', { body: {} });
    const P = `/projects/p1/workspaces/${ws.body.id}`;
    const statements = [
      'CREATE TABLE o AS SELECT * FROM in_c_sales.orders',
      'CREATE VIEW big_orders AS SELECT o.*, c.city FROM in_c_sales.orders o JOIN in_c_crm.customers c ON c.name = o.customer WHERE amount > 6',
      'SELECT count(*) FROM big_orders',
      'CREATE MACRO twice(x) AS x * 2',
      'CREATE MACRO top_orders(n) AS TABLE SELECT * FROM o ORDER BY amount DESC LIMIT n',
      'SELECT twice(amount) FROM top_orders(2)',
      "CREATE TABLE d (id INTEGER PRIMARY KEY, label VARCHAR DEFAULT 'none', doubled INTEGER AS (id * 2), CHECK (id > 0))",
      'INSERT INTO d (id) SELECT id FROM o',
      "INSERT OR REPLACE INTO d (id, label) VALUES (1, 'one')",
      "INSERT INTO d (id) VALUES (2) ON CONFLICT DO UPDATE SET label = 'two'",
      'UPDATE d SET label = o.customer FROM o WHERE o.id = d.id AND d.id = 3',
      'DELETE FROM d USING o WHERE o.id = d.id AND o.amount > 100',
      "MERGE INTO d USING (SELECT 4 AS id) s ON d.id = s.id WHEN NOT MATCHED THEN INSERT (id, label) VALUES (s.id, 'four')",
      'ALTER TABLE d ADD COLUMN note VARCHAR',
      "ALTER TABLE d ALTER note SET DEFAULT 'n/a'",
      'ALTER TABLE o RENAME TO orders_copy',
      'CREATE INDEX d_label ON d (label)',
      'CREATE SEQUENCE seq START 10',
      "SELECT nextval('seq')",
      "CREATE TYPE mood AS ENUM ('ok', 'bad')",
      "CREATE TEMP TABLE scratch AS SELECT 'ok'::mood AS m",
      'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) FROM r',
      'SELECT id, sum(amount) OVER (ORDER BY id) FROM orders_copy',
      'SUMMARIZE d',
      'DESCRIBE d',
      'EXPLAIN SELECT * FROM d',
      'EXPLAIN ANALYZE SELECT * FROM in_c_sales.orders',
      "PIVOT orders_copy ON customer IN ('alice', 'bob') USING sum(amount)",
      'CREATE SCHEMA stage',
      'CREATE TABLE stage.t AS SELECT unnest([1, 2, 3]) AS x',
      'DROP VIEW big_orders',
      'DROP MACRO twice',
      'DROP TABLE stage.t',
      'DROP SCHEMA stage',
    ];
    for (const sql of statements) {
      const r = await t.callJson('POST', `${P}/query`, { body: { sql } });
      expect(r.status, `${sql} → ${JSON.stringify(r.body).slice(0, 300)}`).toBe(200);
    }
    const rows = await t.callJson('POST', `${P}/query`, { body: { sql: 'SELECT id, label, doubled FROM d ORDER BY id' } });
    expect(rows.body.results[0].rows).toEqual([
      { id: 1, label: 'one', doubled: 2 },
      { id: 2, label: 'two', doubled: 4 },
      { id: 3, label: 'alice', doubled: 6 },
      { id: 4, label: 'four', doubled: 8 },
    ]);
  });

  it('a key restricted to some buckets sees only those (storage function, until such keys exist)', async () => {
    const deps = t.services;
    const allowed = await runQuery(deps, { projectId: 'p1', sql: 'SELECT count(*) AS n FROM in_c_sales.orders', limit: 10, timeoutSeconds: 10, format: 'json', allowedBuckets: ['in_c_sales'] });
    expect(allowed.kind === 'json' && allowed.body.rows).toEqual([{ n: 3 }]);
    await expect(
      runQuery(deps, { projectId: 'p1', sql: 'SELECT * FROM in_c_crm.customers', limit: 10, timeoutSeconds: 10, format: 'json', allowedBuckets: ['in_c_sales'] }),
    ).rejects.toMatchObject({ status: 400, code: 'invalid_query' });
  });
});
