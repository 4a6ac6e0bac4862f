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
