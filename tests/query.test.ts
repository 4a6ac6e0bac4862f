import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, walk, type TestApp } from './helpers.ts';
import { seedSales } from './sql-fixture.ts';

let t: TestApp;
const Q = '/projects/p1/query';

beforeAll(async () => {
  t = await makeApp({ env: { MAX_CONCURRENT_QUERIES: '2' } });
  await t.createProject('p1');
  await seedSales(t);
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
