import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, type TestApp } from './helpers.ts';

const T = '/projects/p1/buckets/b1/tables';

/**
 * Column names that are valid by §7 but special to JavaScript objects: `__proto__` set by
 * plain assignment changes an object's prototype instead of adding a key, and the others
 * shadow Object.prototype members.
 */
const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'prototype', 'isPrototypeOf'];

/** The keys of a parsed JSON object in order, with their values (own properties only). */
const entries = (row: Record<string, unknown>) => Object.entries(row);

describe('column names that are special in JavaScript round-trip in every output', () => {
  let t: TestApp;
  const expectedRow = (id: number) => [['id', id], ...NAMES.map((name, i) => [name, `${name}-${id}-${i}`])];

  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } })).status).toBe(201);
    const columns = [{ name: 'id', type: 'INTEGER' }, ...NAMES.map((name) => ({ name, type: 'VARCHAR' }))];
    const created = await t.callJson('POST', T, { body: { name: 'odd', columns, primary_key: ['id'] } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.columns.map((c: { name: string }) => c.name)).toEqual(['id', ...NAMES]);
  });
  afterAll(() => t.close());

  const csvRow = (id: number) => [id, ...NAMES.map((name, i) => `${name}-${id}-${i}`)].join(',');

  it('imports them from CSV and NDJSON and shows them in GET and POST previews', async () => {
    let response = await t.callJson('POST', `${T}/odd/import`, { raw: `id,${NAMES.join(',')}\n${csvRow(1)}\n` });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const ndjson = `${JSON.stringify(Object.fromEntries(expectedRow(2)))}\n`;
    // JSON.stringify of Object.fromEntries keeps an own __proto__ key.
    expect(ndjson).toContain('"__proto__":"__proto__-2-0"');
    response = await t.callJson('POST', `${T}/odd/import?format=ndjson&incremental=true`, { raw: ndjson });
    expect(response.status, JSON.stringify(response.body)).toBe(200);

    const get = await t.callJson('GET', `${T}/odd/preview`);
    expect(get.status).toBe(200);
    expect(get.body.rows.map(entries)).toEqual([expectedRow(1), expectedRow(2)]);
    // The parsed body's rows are plain objects whose prototype nobody replaced.
    expect(Object.getPrototypeOf(get.body.rows[0])).toBe(Object.prototype);

    const post = await t.callJson('POST', `${T}/odd/preview`, {
      body: { columns: ['__proto__', 'constructor', 'id'], filters: [{ column: '__proto__', operator: 'eq', values: ['__proto__-2-0'] }], order_by: [{ column: 'constructor' }] },
    });
    expect(post.status, JSON.stringify(post.body)).toBe(200);
    expect(post.body.rows.map(entries)).toEqual([[['__proto__', '__proto__-2-0'], ['constructor', 'constructor-2-1'], ['id', 2]]]);
    expect(post.body.columns.map((c: { name: string }) => c.name)).toEqual(['__proto__', 'constructor', 'id']);
  });

  it('exports them as NDJSON and CSV, filtered and not', async () => {
    const ndjson = await (await t.call('POST', `${T}/odd/export`, { body: { format: 'ndjson', filters: [{ column: 'id', operator: 'eq', values: [1] }] } })).text();
    expect(ndjson.trim().split('\n').map((line) => entries(JSON.parse(line)))).toEqual([expectedRow(1)]);
    const csv = await (await t.call('GET', `${T}/odd/export?format=csv`)).text();
    expect(csv.trim().split('\n')).toEqual([`id,${NAMES.join(',')}`, csvRow(1), csvRow(2)]);
  });

  it('reads them from Parquet, and JSON values keep such keys', async () => {
    const file = join(t.root, 'odd.parquet');
    await t.services.db.with((c) =>
      c.run(`COPY (SELECT 3 AS id, ${NAMES.map((name, i) => `'${name}-3-${i}' AS "${name}"`).join(', ')}) TO '${file}' (FORMAT parquet)`),
    );
    const bytes = await readFile(file);
    await rm(file);
    const response = await t.callJson('POST', `${T}/odd/import?format=parquet&incremental=true`, { raw: bytes });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const post = await t.callJson('POST', `${T}/odd/preview`, { body: { filters: [{ column: 'id', operator: 'ge', values: [3] }] } });
    expect(post.body.rows.map(entries)).toEqual([expectedRow(3)]);

    const columns = [{ name: 'id', type: 'INTEGER' }, { name: 's', type: 'JSON' }];
    expect((await t.callJson('POST', T, { body: { name: 'nested', columns } })).status).toBe(201);
    const imported = await t.callJson('POST', `${T}/nested/import?format=ndjson`, { raw: '{"id":1,"s":{"__proto__":{"x":1},"constructor":2}}\n' });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    const nested = await t.callJson('GET', `${T}/nested/preview`);
    expect(entries(nested.body.rows[0].s)).toEqual([['__proto__', { x: 1 }], ['constructor', 2]]);
  });

  it('keeps them in SQL answers: a query as JSON and NDJSON, and a workspace query', async () => {
    const sql = 'SELECT id, "__proto__", "constructor" FROM b1.odd WHERE id = 1';
    const expected = [['id', 1], ['__proto__', '__proto__-1-0'], ['constructor', 'constructor-1-1']];
    const json = await t.callJson('POST', '/projects/p1/query', { body: { sql } });
    expect(json.status, JSON.stringify(json.body)).toBe(200);
    expect(json.body.rows.map(entries)).toEqual([expected]);
    const ndjson = await (await t.call('POST', '/projects/p1/query', { body: { sql, format: 'ndjson' } })).text();
    expect(ndjson.trim().split('\n').map((line) => entries(JSON.parse(line)))).toEqual([expected]);
    const ws = await t.callJson('POST', '/projects/p1/workspaces', { body: {} });
    const W = `/projects/p1/workspaces/${ws.body.id}`;
    const run = await t.callJson('POST', `${W}/query`, { body: { sql } });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.results[0].rows.map(entries)).toEqual([expected]);
    expect((await t.callJson('DELETE', W)).status).toBe(204);
  });

  it('keeps column metadata of such columns in the table object, and through a snapshot and its restore', async () => {
    for (const name of ['__proto__', 'constructor']) {
      const put = await t.callJson('POST', `${T}/odd/columns/${name}/metadata`, { body: { metadata: [{ key: 'owner', value: `${name}-owner` }] } });
      expect(put.status, JSON.stringify(put.body)).toBe(200);
    }
    const metadataOf = (table: { columns: { name: string; metadata: { key: string; value: string }[] }[] }, name: string) =>
      table.columns.find((c) => c.name === name)!.metadata.map((m) => [m.key, m.value]);
    const table = (await t.callJson('GET', `${T}/odd`)).body;
    expect(metadataOf(table, '__proto__')).toEqual([['owner', '__proto__-owner']]);
    expect(metadataOf(table, 'constructor')).toEqual([['owner', 'constructor-owner']]);
    expect(metadataOf(table, 'toString')).toEqual([]);
    const snapshot = await t.callJson('POST', `${T}/odd/snapshots`, { body: {} });
    expect(snapshot.status, JSON.stringify(snapshot.body)).toBe(201);
    const restored = await t.callJson('POST', `/projects/p1/snapshots/${snapshot.body.id}/restore`, { body: { table: 'odd_copy' } });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(metadataOf(restored.body.table, '__proto__')).toEqual([['owner', '__proto__-owner']]);
    expect(metadataOf(restored.body.table, 'constructor')).toEqual([['owner', 'constructor-owner']]);
  });

  it('shows the key values of such key columns in duplicate_keys: a primary key set on a table, and an unload', async () => {
    const columns = [{ name: 'id', type: 'INTEGER' }, { name: '__proto__', type: 'VARCHAR' }];
    expect((await t.callJson('POST', T, { body: { name: 'dups', columns } })).status).toBe(201);
    expect((await t.callJson('POST', `${T}/dups/import`, { raw: 'id,__proto__\n1,same\n2,same\n' })).status).toBe(200);
    const set = await t.callJson('PUT', `${T}/dups/primary-key`, { body: { columns: ['__proto__'] } });
    expect(set.status).toBe(409);
    expect(set.body.detail.details.examples.map(entries)).toEqual([[['__proto__', 'same']]]);

    const ws = await t.callJson('POST', '/projects/p1/workspaces', { body: {} });
    const W = `/projects/p1/workspaces/${ws.body.id}`;
    expect((await t.callJson('POST', `${W}/query`, { body: { sql: `CREATE TABLE s AS SELECT * FROM (VALUES (1, 'twice'), (2, 'twice')) v(id, "__proto__")` } })).status).toBe(200);
    const unload = await t.callJson('POST', `${W}/unload`, { body: { source: 's', bucket: 'b1', table: 'unloaded', primary_key: ['__proto__'] } });
    expect(unload.status, JSON.stringify(unload.body)).toBe(409);
    expect(unload.body.detail.details.examples.map(entries)).toEqual([[['__proto__', 'twice']]]);
    expect((await t.callJson('GET', `${T}/unloaded`)).status).toBe(404);
    expect((await t.callJson('DELETE', W)).status).toBe(204);
  });
});
