import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, manualClock, type TestApp } from './helpers.ts';
import { seedSales } from './sql-fixture.ts';

let t: TestApp;
const clock = manualClock();
const P = '/projects/p1';

beforeAll(async () => {
  t = await makeApp({ clock, env: { MAX_CONCURRENT_QUERIES: '2' } });
  await t.createProject('p1');
  await seedSales(t);
});
afterAll(() => t.close());

async function createWs(body: unknown = {}) {
  const r = await t.callJson('POST', `${P}/workspaces`, { body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

describe('a whole transformation', () => {
  it('create, load, SQL, unload, delete', async () => {
    const ws = await createWs({ name: 'tx' });
    expect(ws).toMatchObject({ name: 'tx', branch: 'default', tables: [] });
    expect(ws.id).toMatch(/^w_/);
    const loaded = await t.callJson('POST', `${P}/workspaces/${ws.id}/load`, { body: { tables: [{ source: 'in_c_sales.orders', destination: 'orders', filters: [{ column: 'customer', operator: 'eq', values: ['alice'] }] }] } });
    expect(loaded.status, JSON.stringify(loaded.body)).toBe(200);
    expect(loaded.body.tables).toEqual([{ name: 'orders', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'customer', type: 'VARCHAR' }, { name: 'amount', type: 'DECIMAL(10,2)' }], row_count: 2 }]);
    const q = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, {
      body: { sql: "CREATE TABLE totals AS SELECT customer, sum(amount) AS total FROM orders GROUP BY 1; INSERT INTO totals SELECT name, 0 FROM in_c_crm.customers WHERE name = 'bob'; SELECT * FROM totals ORDER BY 1" },
    });
    expect(q.status, JSON.stringify(q.body)).toBe(200);
    expect(q.body.results).toHaveLength(3);
    expect(q.body.results[0]).toMatchObject({ statement: 1, changed_rows: null });
    expect(q.body.results[1]).toMatchObject({ statement: 2, changed_rows: 1 });
    expect(q.body.results[2]).toMatchObject({ statement: 3, row_count: 2, rows: [{ customer: 'alice', total: '15.75' }, { customer: 'bob', total: '0.00' }] });
    const u = await t.callJson('POST', `${P}/workspaces/${ws.id}/unload`, { body: { source: 'totals', bucket: 'in_c_sales', table: 'totals', primary_key: ['customer'] } });
    expect(u.status, JSON.stringify(u.body)).toBe(200);
    expect(u.body.imported_rows).toBe(2);
    expect(u.body.table).toMatchObject({ name: 'totals', primary_key: ['customer'], row_count: 2 });
    const d = await t.call('DELETE', `${P}/workspaces/${ws.id}`);
    expect(d.status).toBe(204);
    expect(existsSync(t.services.paths.workspaceFile('p1', ws.id))).toBe(false);
  });
});

describe('workspace CRUD', () => {
  it('lists, gets, 404s and validates', async () => {
    const a = await createWs({ name: 'a', ttl_hours: 2 });
    expect(new Date(a.expires_at).getTime() - new Date(a.created_at).getTime()).toBe(2 * 3600_000);
    const list = await t.callJson('GET', `${P}/workspaces`);
    expect(list.status).toBe(200);
    expect(list.body.workspaces.map((w: { id: string }) => w.id)).toContain(a.id);
    expect(list.body.total).toBe(list.body.workspaces.length);
    expect((await t.callJson('GET', `${P}/workspaces/${a.id}`)).body).toMatchObject({ id: a.id, name: 'a', tables: [] });
    const missing = await t.callJson('GET', `${P}/workspaces/w_000000000000`);
    expect(missing.status).toBe(404);
    expect(missing.body.detail.error).toBe('workspace_not_found');
    expect((await t.callJson('DELETE', `${P}/workspaces/w_000000000000`)).status).toBe(404);
    expect((await t.callJson('GET', `${P}/workspaces/bad.id`)).status).toBe(422);
    for (const body of [{ ttl_hours: 0 }, { ttl_hours: 721 }, { name: 'x'.repeat(256) }]) {
      expect((await t.callJson('POST', `${P}/workspaces`, { body })).status).toBe(422);
    }
    expect((await t.callJson('POST', '/projects/nope/workspaces', { body: {} })).body.detail.error).toBe('project_not_found');
  });

  it('expires ttl_hours after its last use, through the sweeper', async () => {
    const ws = await createWs({ ttl_hours: 1 });
    clock.advance(30 * 60_000);
    expect((await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'SELECT 1' } })).status).toBe(200);
    clock.advance(45 * 60_000);
    await t.services.sweeper.runNow();
    expect((await t.callJson('GET', `${P}/workspaces/${ws.id}`)).status).toBe(200);
    clock.advance(16 * 60_000);
    await t.services.sweeper.runNow();
    expect((await t.callJson('GET', `${P}/workspaces/${ws.id}`)).status).toBe(404);
    // load and unload count as use too; a GET does not.
    const used = await createWs({ ttl_hours: 1 });
    clock.advance(50 * 60_000);
    expect((await t.callJson('POST', `${P}/workspaces/${used.id}/load`, { body: { tables: [{ source: 'in_c_crm.customers', destination: 'c' }] } })).status).toBe(200);
    clock.advance(50 * 60_000);
    expect((await t.callJson('POST', `${P}/workspaces/${used.id}/unload`, { body: { source: 'c', bucket: 'in_c_crm', table: 'ttl_copy' } })).status).toBe(200);
    clock.advance(50 * 60_000);
    expect((await t.callJson('GET', `${P}/workspaces/${used.id}`)).status).toBe(200);
    await t.services.sweeper.runNow();
    expect((await t.callJson('GET', `${P}/workspaces/${used.id}`)).status).toBe(200);
    clock.advance(11 * 60_000);
    await t.services.sweeper.runNow();
    expect((await t.callJson('GET', `${P}/workspaces/${used.id}`)).status).toBe(404);
    expect((await t.call('DELETE', '/projects/p1/buckets/in_c_crm/tables/ttl_copy')).status).toBe(204);
    expect(existsSync(t.services.paths.workspaceFile('p1', ws.id))).toBe(false);
  });
});

describe('load', () => {
  it('copies columns and a limit, drops other tables unless preserve', async () => {
    const ws = await createWs();
    const first = await t.callJson('POST', `${P}/workspaces/${ws.id}/load`, { body: { tables: [{ source: 'in_c_crm.customers', destination: 'c' }] } });
    expect(first.body.tables.map((x: { name: string }) => x.name)).toEqual(['c']);
    const kept = await t.callJson('POST', `${P}/workspaces/${ws.id}/load`, { body: { preserve: true, tables: [{ source: 'in_c_sales.orders', destination: 'o', columns: ['amount', 'id'], limit: 1 }] } });
    expect(kept.body.tables).toEqual([{ name: 'c', columns: [{ name: 'name', type: 'VARCHAR' }, { name: 'city', type: 'VARCHAR' }], row_count: 2 }, { name: 'o', columns: [{ name: 'amount', type: 'DECIMAL(10,2)' }, { name: 'id', type: 'INTEGER' }], row_count: 1 }]);
    const replaced = await t.callJson('POST', `${P}/workspaces/${ws.id}/load`, { body: { tables: [{ source: 'in_c_sales.orders', destination: 'o' }] } });
    expect(replaced.body.tables.map((x: { name: string; row_count: number }) => [x.name, x.row_count])).toEqual([['o', 3]]);
  });

  it('404 for a missing source bucket or table, 422 for bad specs', async () => {
    const ws = await createWs();
    const load = (tables: unknown) => t.callJson('POST', `${P}/workspaces/${ws.id}/load`, { body: { tables } });
    expect((await load([{ source: 'nope.orders', destination: 'x' }])).body.detail.error).toBe('bucket_not_found');
    expect((await load([{ source: 'in_c_sales.nope', destination: 'x' }])).body.detail.error).toBe('table_not_found');
    for (const tables of [[], [{ source: 'orders', destination: 'x' }], [{ source: 'in_c_sales.orders', destination: 'x', columns: ['nope'] }], [{ source: 'in_c_sales.orders', destination: 'x', filters: [{ column: 'id', operator: 'eq', values: ['abc'] }] }], [{ source: 'in_c_sales.orders', destination: 'x' }, { source: 'in_c_crm.customers', destination: 'X' }]]) {
      const r = await load(tables);
      expect(r.status, JSON.stringify(tables)).toBe(422);
    }
    expect((await t.callJson('GET', `${P}/workspaces/${ws.id}`)).body.tables).toEqual([]);
  });
});

describe('query', () => {
  it('keeps statements before a failing one, and names the failing statement', async () => {
    const ws = await createWs();
    const r = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1), (2); INSERT INTO a VALUES ('nope'); INSERT INTO a VALUES (3)" } });
    expect(r.status).toBe(400);
    expect(r.body.detail.error).toBe('query_failed');
    expect(r.body.detail.details.statement).toBe(3);
    // A failure while the statement runs is told in DuckDB's own words, from their start.
    const running = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: "INSERT INTO a SELECT 'q' || 1" } });
    expect(running.body.detail).toMatchObject({ error: 'query_failed', details: { statement: 1 } });
    expect(running.body.detail.message).toMatch(/^Conversion Error: Could not convert string 'q1' to INT32/);
    const after = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'SELECT count(*) AS n FROM a' } });
    expect(after.body.results[0].rows).toEqual([{ n: 2 }]);
    const refused = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'SELECT 1; ATTACH \':memory:\' AS m' } });
    expect(refused.body.detail).toMatchObject({ error: 'invalid_query', details: { statement: 2 } });
    const syntax = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'SELEC 1' } });
    expect(syntax.body.detail.error).toBe('invalid_query');
  });

  it('returns at most 1000 rows per statement with the full row_count, and changed_rows for writes', async () => {
    const ws = await createWs();
    const r = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'CREATE TABLE r AS SELECT range AS x FROM range(2500); UPDATE r SET x = x + 1 WHERE x < 10; DELETE FROM r WHERE x > 2000; SELECT * FROM r' } });
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
    expect(r.body.results.map((x: { changed_rows: number | null }) => x.changed_rows)).toEqual([null, 10, 499, null]);
    expect(r.body.results[3].row_count).toBe(2001);
    expect(r.body.results[3].rows).toHaveLength(1000);
  });

  it('400 query_timeout, and a schema named like a bucket is refused', async () => {
    const ws = await createWs();
    const slow = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'SELECT count(*) FROM range(1000000000000)', timeout_seconds: 1 } });
    expect(slow.body.detail).toMatchObject({ error: 'query_timeout', details: { statement: 1 } });
    const schema = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'CREATE SCHEMA in_c_sales' } });
    expect(schema.body.detail.error).toBe('invalid_query');
    expect((await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'SELECT count(*) AS n FROM in_c_sales.orders' } })).body.results[0].rows).toEqual([{ n: 3 }]);
  });

  it('isolates workspaces from each other and from other projects', async () => {
    const a = await createWs();
    const b = await createWs();
    expect((await t.callJson('POST', `${P}/workspaces/${a.id}/query`, { body: { sql: 'CREATE TABLE only_a AS SELECT 1 AS x' } })).status).toBe(200);
    const fromB = await t.callJson('POST', `${P}/workspaces/${b.id}/query`, { body: { sql: 'SELECT * FROM only_a' } });
    expect(fromB.body.detail.error).toBe('invalid_query');
    await t.createProject('other');
    expect((await t.callJson('GET', `/projects/other/workspaces/${a.id}`)).status).toBe(404);
    const otherWs = await t.callJson('POST', '/projects/other/workspaces', { body: {} });
    const cross = await t.callJson('POST', `/projects/other/workspaces/${otherWs.body.id}/query`, { body: { sql: 'SELECT * FROM in_c_sales.orders' } });
    expect(cross.body.detail.error).toBe('invalid_query');
  });
});

describe('locks', () => {
  it('a slow workspace statement holds only the tables it reads: a write to another table completes meanwhile', async () => {
    const ws = await createWs();
    const { queryWorkspace } = await import('../src/storage/sql/workspaces.ts');
    const record = t.services.workspaces.get('p1', ws.id)!;
    const abort = new AbortController();
    let settled = false;
    const slow = queryWorkspace(t.services, record, 'CREATE TABLE slow AS SELECT count(*) AS n FROM in_c_sales.orders, range(1000000000000)', 300, abort.signal)
      .catch((e) => e)
      .finally(() => (settled = true));
    while (t.services.sql.activeStatements < 1) await new Promise((resolve) => setImmediate(resolve));
    // A table the statement does not read: its write goes through while the statement runs.
    const other = await t.callJson('POST', '/projects/p1/buckets/in_c_crm/tables/customers/import?incremental=true', { raw: 'name,city\ncarol,Ostrava\n', headers: { 'content-type': 'text/csv' } });
    expect(other.status, JSON.stringify(other.body)).toBe(200);
    expect(settled).toBe(false);
    expect(t.services.sql.activeStatements).toBe(1);
    // The table it reads: its writers wait for the statement.
    let written = false;
    const write = t.callJson('POST', '/projects/p1/buckets/in_c_sales/tables/orders/truncate').then((r) => ((written = true), r));
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(written).toBe(false);
    abort.abort();
    expect(await slow).toMatchObject({ status: 400, code: 'query_timeout' });
    expect((await write).status).toBe(200);
    expect(t.services.sql.activeStatements).toBe(0);
    // Put the rows back for the other tests.
    const back = await t.call('POST', '/projects/p1/buckets/in_c_sales/tables/orders/import', { raw: 'id,customer,amount\n1,alice,10.50\n2,bob,20.00\n3,alice,5.25\n', headers: { 'content-type': 'text/csv' } });
    expect(back.status).toBe(200);
    const crm = await t.call('POST', '/projects/p1/buckets/in_c_crm/tables/customers/import', { raw: 'name,city\nalice,Prague\nbob,Brno\n', headers: { 'content-type': 'text/csv' } });
    expect(crm.status).toBe(200);
  });

  it('between statements no table is locked: a table deleted meanwhile fails the statement that reads it', async () => {
    await t.callJson('POST', '/projects/p1/buckets/in_c_crm/tables', { body: { name: 'doomed', columns: [{ name: 'x', type: 'INTEGER' }] } });
    const ws = await createWs();
    const { visibleTables } = await import('../src/storage/sql/scope.ts');
    const tables = visibleTables(t.services, 'p1').all();
    const session = await t.services.sql.openWorkspaceSession(t.services.paths.workspaceFile('p1', ws.id), tables);
    try {
      const index = session.lease.tables.findIndex((x) => x.name === 'doomed');
      expect(index).toBeGreaterThanOrEqual(0);
      // The session holds no lock now: the delete goes through.
      expect((await t.call('DELETE', '/projects/p1/buckets/in_c_crm/tables/doomed')).status).toBe(204);
      await expect(session.lockTables([index])).rejects.toThrow(/doomed was deleted/);
      // Other tables still lock and read.
      const other = session.lease.tables.findIndex((x) => x.name === 'customers');
      const unlock = await session.lockTables([other]);
      expect(Number((await session.sandbox.connection.runAndReadAll(`SELECT count(*) FROM _t${other}.main.data`)).getRows()[0]![0])).toBe(2);
      unlock();
    } finally {
      await session.close();
    }
  });

  it('queries on one workspace run one at a time, and count toward MAX_CONCURRENT_QUERIES', async () => {
    const ws = await createWs();
    const other = await createWs();
    const { queryWorkspace } = await import('../src/storage/sql/workspaces.ts');
    const abort = new AbortController();
    const slow = queryWorkspace(t.services, t.services.workspaces.get('p1', ws.id)!, 'SELECT count(*) FROM range(1000000000000)', 300, abort.signal).catch((e) => e);
    while (t.services.sql.activeStatements < 1) await new Promise((resolve) => setImmediate(resolve));
    let second = false;
    const queued = t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'SELECT 1 AS one' } }).then((r) => ((second = true), r));
    while (t.services.sql.activeQueries < 2) await new Promise((resolve) => setImmediate(resolve));
    // MAX_CONCURRENT_QUERIES is 2 here: the running and the waiting query hold both slots.
    const refused = await t.callJson('POST', `${P}/workspaces/${other.id}/query`, { body: { sql: 'SELECT 1' } });
    expect(refused.status).toBe(429);
    expect(refused.body.detail.error).toBe('too_many_requests');
    expect((await t.callJson('POST', `${P}/query`, { body: { sql: 'SELECT 1' } })).status).toBe(429);
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(second).toBe(false);
    abort.abort();
    expect(await slow).toMatchObject({ code: 'query_timeout' });
    expect((await queued).body.results[0].rows).toEqual([{ one: 1 }]);
  });

  it('reads a storage table as it is when the statement starts, after writes since the workspace query began', async () => {
    const ws = await createWs();
    const r = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'SELECT count(*) AS n FROM in_c_sales.orders' } });
    expect(r.body.results[0].rows).toEqual([{ n: 3 }]);
    const imported = await t.call('POST', '/projects/p1/buckets/in_c_sales/tables/orders/import?incremental=true', { raw: 'id,customer,amount\n4,dan,1.00\n', headers: { 'content-type': 'text/csv' } });
    expect(imported.status).toBe(200);
    const again = await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'CREATE TABLE o AS SELECT * FROM in_c_sales.orders; SELECT count(*) AS n FROM o' } });
    expect(again.body.results[1].rows).toEqual([{ n: 4 }]);
    await t.call('POST', '/projects/p1/buckets/in_c_sales/tables/orders/import', { raw: 'id,customer,amount\n1,alice,10.50\n2,bob,20.00\n3,alice,5.25\n', headers: { 'content-type': 'text/csv' } });
  });
});

describe('unload', () => {
  it('round-trips every §7 type into a new table, then loads full and incremental', async () => {
    const ws = await createWs();
    const create = `CREATE TABLE typed AS SELECT 1::INTEGER AS id, true AS b, 2::TINYINT AS ti, 3::SMALLINT AS si, 9007199254740993::BIGINT AS bi,
      170141183460469231731687303715884105727::HUGEINT AS hi, 4::UBIGINT AS ub, 1.5::FLOAT AS f, 2.5::DOUBLE AS d, 12.345::DECIMAL(10,3) AS dec,
      'text' AS v, DATE '2026-11-29' AS dt, TIME '12:30:00' AS tm, TIMESTAMP '2026-11-29 12:30:00.5' AS ts, TIMESTAMPTZ '2026-11-29 12:30:00+00' AS tz,
      INTERVAL 2 HOUR AS iv, 'a3bb189e-8bf9-3888-9912-ace4e6543002'::UUID AS u, '\\x41'::BLOB AS bl, '{"a":1}'::JSON AS j`;
    expect((await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: create } })).status).toBe(200);
    const u = await t.callJson('POST', `${P}/workspaces/${ws.id}/unload`, { body: { source: 'typed', bucket: 'in_c_sales', table: 'typed', primary_key: ['id'] } });
    expect(u.status, JSON.stringify(u.body)).toBe(200);
    expect(u.body.table.columns.map((c: { type: string }) => c.type)).toEqual([
      'INTEGER', 'BOOLEAN', 'TINYINT', 'SMALLINT', 'BIGINT', 'HUGEINT', 'UBIGINT', 'FLOAT', 'DOUBLE', 'DECIMAL(10,3)', 'VARCHAR', 'DATE', 'TIME', 'TIMESTAMP',
      'TIMESTAMP WITH TIME ZONE', 'INTERVAL', 'UUID', 'BLOB', 'JSON',
    ]);
    const preview = await t.callJson('GET', '/projects/p1/buckets/in_c_sales/tables/typed/preview');
    expect(preview.body.rows).toEqual([{
      id: 1, b: true, ti: 2, si: 3, bi: '9007199254740993', hi: '170141183460469231731687303715884105727', ub: 4, f: 1.5, d: 2.5, dec: '12.345', v: 'text',
      dt: '2026-11-29', tm: '12:30:00', ts: '2026-11-29T12:30:00.5', tz: '2026-11-29T12:30:00Z', iv: 'PT2H', u: 'a3bb189e-8bf9-3888-9912-ace4e6543002', bl: 'QQ==', j: { a: 1 },
    }]);
    await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'UPDATE typed SET v = \'changed\'; INSERT INTO typed (id, v) VALUES (2, \'new\')' } });
    const inc = await t.callJson('POST', `${P}/workspaces/${ws.id}/unload`, { body: { source: 'typed', bucket: 'in_c_sales', table: 'typed', incremental: true } });
    expect(inc.body).toMatchObject({ imported_rows: 2, table: { row_count: 2 } });
    await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'DELETE FROM typed WHERE id = 1' } });
    const full = await t.callJson('POST', `${P}/workspaces/${ws.id}/unload`, { body: { source: 'typed', bucket: 'in_c_sales', table: 'typed' } });
    expect(full.body).toMatchObject({ imported_rows: 1, table: { row_count: 1 } });
  });

  it('answers every error code and leaves nothing behind', async () => {
    const ws = await createWs();
    await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: "CREATE TABLE dup AS SELECT * FROM (VALUES (1, 'a'), (1, 'b')) v(k, x); CREATE TABLE odd AS SELECT [1, 2] AS l; CREATE TABLE extra AS SELECT 1 AS id, 2 AS nope" } });
    const unload = (body: Record<string, unknown>) => t.callJson('POST', `${P}/workspaces/${ws.id}/unload`, { body: { bucket: 'in_c_sales', ...body } });
    expect((await unload({ source: 'missing', table: 't1' })).body.detail.error).toBe('table_not_found');
    expect((await unload({ source: 'dup', bucket: 'nope', table: 't1' })).body.detail.error).toBe('bucket_not_found');
    const dup = await unload({ source: 'dup', table: 't1', primary_key: ['k'] });
    expect(dup.status).toBe(409);
    expect(dup.body.detail).toMatchObject({ error: 'duplicate_keys', details: { examples: [{ k: '1' }] } });
    const odd = await unload({ source: 'odd', table: 't1' });
    expect(odd.status).toBe(400);
    expect(odd.body.detail.error).toBe('invalid_column');
    const unknown = await unload({ source: 'extra', table: 'orders' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.detail.error).toBe('unknown_columns');
    expect(t.services.catalog.getTable('p1', 'in_c_sales', 't1')).toBeUndefined();
    expect(existsSync(t.services.paths.tableFile('p1', 'in_c_sales', 't1'))).toBe(false);
    expect((await t.callJson('POST', '/projects/p1/query', { body: { sql: 'SELECT count(*) AS n FROM in_c_sales.orders' } })).body.rows).toEqual([{ n: 3 }]);
  });

  it('403 bucket_readonly into a linked bucket', async () => {
    await t.createProject('lsrc');
    const { seedTable } = await import('./sql-fixture.ts');
    await seedTable(t, 'lsrc', 'sh', 'x', [{ name: 'a', type: 'INTEGER' }], '');
    await t.callJson('POST', '/projects/lsrc/buckets/sh/share', { body: { target_project_id: 'p1' } });
    expect((await t.callJson('POST', '/projects/p1/buckets/lnk/link', { body: { source_project_id: 'lsrc', source_bucket_name: 'sh' } })).status).toBe(201);
    const ws = await createWs();
    await t.callJson('POST', `${P}/workspaces/${ws.id}/query`, { body: { sql: 'CREATE TABLE x AS SELECT 1 AS a' } });
    const r = await t.callJson('POST', `${P}/workspaces/${ws.id}/unload`, { body: { source: 'x', bucket: 'lnk', table: 'x' } });
    expect(r.status).toBe(403);
    expect(r.body.detail.error).toBe('bucket_readonly');
  });
});

describe('project deletion', () => {
  it('deletes the project\'s workspaces', async () => {
    await t.createProject('gone');
    const ws = await t.callJson('POST', '/projects/gone/workspaces', { body: {} });
    expect(existsSync(t.services.paths.workspaceFile('gone', ws.body.id))).toBe(true);
    expect((await t.call('DELETE', '/projects/gone')).status).toBe(204);
    expect(existsSync(t.services.paths.projectWorkspacesDir('gone'))).toBe(false);
    expect(t.services.workspaces.all().some((w) => w.id === ws.body.id)).toBe(false);
  });
});
