import { expect } from 'vitest';
import type { TestApp } from './helpers.ts';

/** Creates a bucket (once) and a table in project `project`, and loads `csv` into it through the import endpoint. */
export async function seedTable(
  t: TestApp,
  project: string,
  bucket: string,
  table: string,
  columns: { name: string; type: string; nullable?: boolean }[],
  csv: string,
  primaryKey: string[] = [],
): Promise<void> {
  const b = await t.callJson('POST', `/projects/${project}/buckets`, { body: { name: bucket } });
  expect([201, 409]).toContain(b.status);
  const created = await t.callJson('POST', `/projects/${project}/buckets/${bucket}/tables`, { body: { name: table, columns, primary_key: primaryKey } });
  expect(created.status).toBe(201);
  if (csv) {
    const imported = await t.call('POST', `/projects/${project}/buckets/${bucket}/tables/${table}/import`, { raw: csv, headers: { 'content-type': 'text/csv' } });
    expect(imported.status).toBe(200);
  }
}

/** The standard fixture: project p1 with in_c_sales.orders (3 rows) and in_c_crm.customers (2 rows). */
export async function seedSales(t: TestApp, project = 'p1'): Promise<void> {
  await seedTable(t, project, 'in_c_sales', 'orders', [
    { name: 'id', type: 'INTEGER', nullable: false },
    { name: 'customer', type: 'VARCHAR' },
    { name: 'amount', type: 'DECIMAL(10,2)' },
  ], 'id,customer,amount\n1,alice,10.50\n2,bob,20.00\n3,alice,5.25\n', ['id']);
  await seedTable(t, project, 'in_c_crm', 'customers', [
    { name: 'name', type: 'VARCHAR' },
    { name: 'city', type: 'VARCHAR' },
  ], 'name,city\nalice,Prague\nbob,Brno\n');
}
