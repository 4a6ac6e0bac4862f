// CONTRACT §12 metadata over HTTP: entries on buckets, tables and columns, upserted by
// (provider, key), listed sorted, deleted by key and provider; shown in the bucket and
// table objects; a linked bucket shows the source's, read-only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, manualClock, type TestApp } from './helpers.ts';

const clock = manualClock(new Date('2026-12-01T10:00:00.000Z'));
const B = '/projects/p1/buckets/in_c_sales';
const T = `${B}/tables/orders`;
const C = `${T}/columns/amount`;
const TARGETS = [
  ['bucket', B],
  ['table', T],
  ['column', C],
] as const;

let t: TestApp;
beforeAll(async () => {
  t = await makeApp({ clock });
  await t.createProject('p1');
  await t.createProject('p2');
  expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'in_c_sales' } })).status).toBe(201);
  const columns = [{ name: 'id', type: 'INTEGER' }, { name: 'amount', type: 'DECIMAL(10,2)' }];
  expect((await t.callJson('POST', `${B}/tables`, { body: { name: 'orders', columns, primary_key: ['id'] } })).status).toBe(201);
  expect((await t.callJson('POST', `${B}/share`, { body: { target_project_id: 'p2' } })).status).toBe(200);
  expect((await t.callJson('POST', '/projects/p2/buckets/from_p1/link', { body: { source_project_id: 'p1', source_bucket_name: 'in_c_sales' } })).status).toBe(201);
});
afterAll(() => t.close());

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.detail.error).toBe(code);
}

describe.each(TARGETS)('%s metadata', (_kind, M) => {
  it('starts empty, upserts by (provider, key) and lists sorted by provider, then key', async () => {
    expect((await t.callJson('GET', `${M}/metadata`)).body).toEqual({ metadata: [] });
    clock.set(new Date('2026-12-01T10:00:00.000Z'));
    const first = await t.callJson('POST', `${M}/metadata`, { body: { metadata: [{ key: 'KBC.description', value: 'first' }, { key: 'a:b-c_d.e', value: 'x' }] } });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.metadata).toEqual([
      { key: 'KBC.description', value: 'first', provider: 'user', updated_at: '2026-12-01T10:00:00.000Z' },
      { key: 'a:b-c_d.e', value: 'x', provider: 'user', updated_at: '2026-12-01T10:00:00.000Z' },
    ]);
    clock.advance(60_000);
    const second = await t.callJson('POST', `${M}/metadata`, { body: { provider: 'airflow', metadata: [{ key: 'KBC.description', value: 'other provider' }] } });
    const third = await t.callJson('POST', `${M}/metadata`, { body: { metadata: [{ key: 'KBC.description', value: 'second' }] } });
    expect(second.status).toBe(200);
    expect(third.body.metadata).toEqual([
      { key: 'KBC.description', value: 'other provider', provider: 'airflow', updated_at: '2026-12-01T10:01:00.000Z' },
      { key: 'KBC.description', value: 'second', provider: 'user', updated_at: '2026-12-01T10:01:00.000Z' },
      { key: 'a:b-c_d.e', value: 'x', provider: 'user', updated_at: '2026-12-01T10:00:00.000Z' },
    ]);
    expect((await t.callJson('GET', `${M}/metadata`)).body).toEqual(third.body);
  });

  it('deletes by key and provider (default user); 404 metadata_not_found; a key with ":" may be percent-encoded', async () => {
    expect((await t.call('DELETE', `${M}/metadata/KBC.description?provider=airflow`)).status).toBe(204);
    expectError(await t.callJson('DELETE', `${M}/metadata/KBC.description?provider=airflow`), 404, 'metadata_not_found');
    expect((await t.call('DELETE', `${M}/metadata/${encodeURIComponent('a:b-c_d.e')}`)).status).toBe(204);
    expect((await t.callJson('GET', `${M}/metadata`)).body.metadata.map((e: any) => `${e.provider}/${e.key}`)).toEqual(['user/KBC.description']);
    expectError(await t.callJson('DELETE', `${M}/metadata/nothing`), 404, 'metadata_not_found');
  });

  it('422 for bad keys, values, providers and list sizes; nothing is stored', async () => {
    const before = (await t.callJson('GET', `${M}/metadata`)).body;
    const bad = [
      { metadata: [] },
      { metadata: [{ key: 'has space', value: 'x' }] },
      { metadata: [{ key: 'k'.repeat(256), value: 'x' }] },
      { metadata: [{ key: 'k', value: 'x'.repeat(64 * 1024 + 1) }] },
      { metadata: [{ key: 'k', value: 5 }] },
      { provider: 'Upper', metadata: [{ key: 'k', value: 'x' }] },
      { provider: '', metadata: [{ key: 'k', value: 'x' }] },
      { metadata: Array.from({ length: 101 }, (_, i) => ({ key: `k${i}`, value: 'x' })) },
      {},
    ];
    for (const body of bad) expectError(await t.callJson('POST', `${M}/metadata`, { body }), 422, 'validation_error');
    // Exactly at the limits is fine.
    const ok = await t.callJson('POST', `${M}/metadata`, { body: { metadata: [{ key: 'k'.repeat(255), value: 'é'.repeat(32 * 1024) }] } });
    expect(ok.status).toBe(200);
    expect((await t.call('DELETE', `${M}/metadata/${'k'.repeat(255)}`)).status).toBe(204);
    expectError(await t.callJson('DELETE', `${M}/metadata/bad%20key`), 422, 'validation_error');
    expectError(await t.callJson('DELETE', `${M}/metadata/k?provider=NO`), 422, 'validation_error');
    expect((await t.callJson('GET', `${M}/metadata`)).body).toEqual(before);
  });
});

describe('where metadata shows', () => {
  it('the bucket object and the table object (table level and per column) carry it', async () => {
    const bucket = await t.callJson('GET', B);
    expect(bucket.body.metadata).toEqual([expect.objectContaining({ key: 'KBC.description', value: 'second' })]);
    expect((await t.callJson('GET', '/projects/p1/buckets')).body.buckets[0].metadata).toHaveLength(1);
    const table = await t.callJson('GET', T);
    expect(table.body.metadata).toEqual([expect.objectContaining({ key: 'KBC.description' })]);
    expect(table.body.columns.map((c: any) => c.metadata.length)).toEqual([0, 1]);
    expect((await t.callJson('GET', `${B}/tables`)).body.tables[0].columns[1].metadata).toHaveLength(1);
  });

  it("a linked bucket shows the source's metadata, live and read-only", async () => {
    const L = '/projects/p2/buckets/from_p1';
    expect((await t.callJson('GET', L)).body.metadata).toEqual((await t.callJson('GET', B)).body.metadata);
    expect((await t.callJson('GET', `${L}/metadata`)).body).toEqual((await t.callJson('GET', `${B}/metadata`)).body);
    expect((await t.callJson('GET', `${L}/tables/orders/metadata`)).body.metadata).toHaveLength(1);
    expect((await t.callJson('GET', `${L}/tables/orders/columns/amount/metadata`)).body.metadata).toHaveLength(1);
    expect((await t.callJson('GET', `${L}/tables/orders`)).body.columns[1].metadata).toHaveLength(1);
    // A change in the source shows at once.
    await t.callJson('POST', `${B}/metadata`, { body: { metadata: [{ key: 'live', value: 'yes' }] } });
    expect((await t.callJson('GET', `${L}/metadata`)).body.metadata.map((e: any) => e.key)).toEqual(['KBC.description', 'live']);
    for (const M of [L, `${L}/tables/orders`, `${L}/tables/orders/columns/amount`]) {
      expectError(await t.callJson('POST', `${M}/metadata`, { body: { metadata: [{ key: 'x', value: 'y' }] } }), 403, 'bucket_readonly');
      expectError(await t.callJson('DELETE', `${M}/metadata/KBC.description`), 403, 'bucket_readonly');
    }
    // 404s of the path come before the 403.
    expectError(await t.callJson('POST', `${L}/tables/none/metadata`, { body: { metadata: [{ key: 'x', value: 'y' }] } }), 404, 'table_not_found');
    expectError(await t.callJson('DELETE', `${L}/tables/orders/columns/none/metadata/x`), 404, 'column_not_found');
    expect((await t.callJson('GET', `${B}/metadata`)).body.metadata).toHaveLength(2);
  });

  it('404 of the object: project, bucket, table, column', async () => {
    expectError(await t.callJson('GET', '/projects/none/buckets/b/metadata'), 404, 'project_not_found');
    expectError(await t.callJson('GET', '/projects/p1/buckets/none/metadata'), 404, 'bucket_not_found');
    expectError(await t.callJson('GET', `${B}/tables/none/metadata`), 404, 'table_not_found');
    expectError(await t.callJson('POST', `${T}/columns/none/metadata`, { body: { metadata: [{ key: 'x', value: 'y' }] } }), 404, 'column_not_found');
    expectError(await t.callJson('GET', `${B}/tables/a.b/metadata`), 422, 'validation_error');
  });

  it('a body over 1 MiB is 413; a body that is not JSON is 415 or 422', async () => {
    const big = { metadata: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: 'x'.repeat(60_000) })) };
    expectError(await t.callJson('POST', `${T}/metadata`, { body: big }), 413, 'payload_too_large');
    expectError(await t.callJson('POST', `${T}/metadata`, { raw: 'x', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    expectError(await t.callJson('POST', `${T}/metadata`, { raw: '{', headers: { 'content-type': 'application/json' } }), 422, 'validation_error');
  });
});
