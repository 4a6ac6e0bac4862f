import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { startServer, type RunningServer } from '../src/server.ts';
import { CsvHeaderParser, type CsvDialect } from '../src/storage/csv-header.ts';
import { ADMIN_KEY, captureLogger, makeApp, testConfig, watchConnections, type TestApp } from './helpers.ts';

const B = '/projects/p1/buckets/b1';
const T = `${B}/tables`;

type Column = { name: string; type: string; nullable?: boolean; default?: string | number | boolean };

/** (Re)creates a table through the API. */
async function createTable(t: TestApp, name: string, columns: Column[], primaryKey: string[] = []) {
  if (t.services.catalog.getTable('p1', 'b1', name)) expect((await t.call('DELETE', `${T}/${name}`)).status).toBe(204);
  const created = await t.callJson('POST', T, { body: { name, columns, primary_key: primaryKey } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}

const PEOPLE: Column[] = [
  { name: 'id', type: 'INTEGER', nullable: false },
  { name: 'name', type: 'VARCHAR' },
  { name: 'score', type: 'DECIMAL(8,2)' },
  { name: 'born', type: 'DATE' },
];

/** Every row of a table ordered by its first column, straight from the file. */
async function fileRows(t: TestApp, table: string): Promise<Record<string, unknown>[]> {
  const { registry, db, paths } = t.services;
  const path = paths.tableFile('p1', 'b1', table);
  const alias = await registry.acquire(path);
  try {
    return await db.with(async (c) => {
      const reader = await c.runAndReadAll(`SELECT * FROM "${alias}".main.data ORDER BY 1, 2`);
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    });
  } finally {
    registry.release(path);
  }
}

describe('import', () => {
  let t: TestApp;

  const importRaw = (table: string, body: BodyInit | null, query = '', headers: Record<string, string> = {}, app: TestApp = t) =>
    app.callJson('POST', `${T}/${table}/import${query ? `?${query}` : ''}`, { raw: body ?? undefined, headers });
  const catalogRowCount = async (table: string) => (await t.callJson('GET', `${T}/${table}`)).body.row_count as number;

  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    await t.createProject('p2');
    expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } })).status).toBe(201);
  });
  afterAll(() => t.close());
  afterEach(async () => {
    // Whatever happened, no staging file is left behind.
    expect(await readdir(t.services.paths.filesDir)).toEqual([]);
    expect(t.services.activeImports.count).toBe(0);
  });

  describe('formats', () => {
    it('imports a CSV body and answers with the counts and the table', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const csv = 'id,name,score,born\n1,Ann,10.5,2001-02-03\n2,"Bob, Jr.",,2002-03-04\n3,"say ""hi""",3,\n';
      const { status, body } = await importRaw('people', csv, '', { 'content-type': 'text/csv' });
      expect(status, JSON.stringify(body)).toBe(200);
      expect(body.imported_rows).toBe(3);
      expect(body.row_count).toBe(3);
      expect(body.table).toMatchObject({ name: 'people', bucket: 'b1', row_count: 3, primary_key: ['id'] });
      expect(body.table.size_bytes).toBeGreaterThan(0);
      expect(await fileRows(t, 'people')).toEqual([
        { id: 1, name: 'Ann', score: '10.50', born: '2001-02-03' },
        { id: 2, name: 'Bob, Jr.', score: null, born: '2002-03-04' },
        { id: 3, name: 'say "hi"', score: '3.00', born: null },
      ]);
      expect(await catalogRowCount('people')).toBe(3);
    });

    it('imports NDJSON, chosen by the query or by Content-Type, keys in any order', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const ndjson = '{"name":"Ann","id":1,"score":1.25}\n\n{"id":2,"born":"2020-01-01","name":null}\n';
      let response = await importRaw('people', ndjson, 'format=ndjson');
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body.imported_rows).toBe(2);
      expect(await fileRows(t, 'people')).toEqual([
        { id: 1, name: 'Ann', score: '1.25', born: null },
        { id: 2, name: null, score: null, born: '2020-01-01' },
      ]);
      response = await importRaw('people', '{"id":7,"name":"Zed"}\n', '', { 'content-type': 'application/x-ndjson' });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(await fileRows(t, 'people')).toEqual([{ id: 7, name: 'Zed', score: null, born: null }]);
    });

    it('imports Parquet written by DuckDB, columns matched by name', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const file = join(t.root, 'people.parquet');
      await t.services.db.with((c) =>
        c.run(`COPY (SELECT DATE '2000-01-01' + i::INTEGER AS born, i AS id, 'p' || i AS name FROM range(1, 6) r(i)) TO '${file}' (FORMAT parquet)`),
      );
      const bytes = await readFile(file);
      await rm(file);
      let response = await importRaw('people', bytes, 'format=parquet');
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body).toMatchObject({ imported_rows: 5, row_count: 5 });
      const rows = await fileRows(t, 'people');
      expect(rows[0]).toEqual({ id: 1, name: 'p1', score: null, born: '2000-01-02' });
      response = await importRaw('people', bytes, '', { 'content-type': 'application/vnd.apache.parquet' });
      expect(response.status).toBe(200);
      expect(response.body.row_count).toBe(5);
    });

    it('keeps nothing of a staged body once it is read: the next body staged under the same descriptor path is read afresh', async () => {
      // Bodies are read through /proc/self/fd/N, and N comes round again for the next body.
      // DuckDB's file cache keyed by that path once served a later import bytes of an
      // earlier one ("Snappy decompression failure"); the storage instance runs without it.
      await createTable(t, 'people', PEOPLE, ['id']);
      const parquet = async (rows: number) => {
        const file = join(t.root, `people-${rows}.parquet`);
        await t.services.db.with((c) => c.run(`COPY (SELECT i AS id, 'p' || i AS name FROM range(1, ${rows + 1}) r(i)) TO '${file}' (FORMAT parquet)`));
        const bytes = await readFile(file);
        await rm(file);
        return bytes;
      };
      for (const rows of [2, 3, 40, 2]) {
        const response = await importRaw('people', await parquet(rows), 'format=parquet');
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        expect(response.body.row_count).toBe(rows);
        expect((await fileRows(t, 'people')).map((r) => r.name).at(-1)).toBe(`p${rows}`);
      }
      expect((await importRaw('people', 'id,name\n1,a\n2,b\n', '')).status).toBe(200);
      const cached = await t.services.db.with(async (c) => (await c.runAndReadAll('SELECT path FROM duckdb_external_file_cache()')).getRows());
      expect(cached).toEqual([]);
    });

    it('fails a Parquet file whose values do not convert to the column types, changing nothing', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      await importRaw('people', 'id\n1\n');
      const file = join(t.root, 'bad.parquet');
      await t.services.db.with((c) => c.run(`COPY (SELECT * FROM (VALUES ('2'), ('two')) v(id)) TO '${file}' (FORMAT parquet)`));
      const bytes = await readFile(file);
      await rm(file);
      const { status, body } = await importRaw('people', bytes, 'format=parquet');
      expect(status).toBe(400);
      expect(body.detail.error).toBe('import_failed');
      expect(body.detail.message).toMatch(/two/);
      expect((await fileRows(t, 'people')).map((r) => r.id)).toEqual([1]);
    });

    it('refuses a body that is not Parquet with 400 import_failed', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const { status, body } = await importRaw('people', 'id,name\n1,a\n', 'format=parquet');
      expect(status).toBe(400);
      expect(body.detail.error).toBe('import_failed');
      expect(JSON.stringify(body)).not.toContain(t.dataDir);
    });

    it('accepts a gzip body (the limit counts the decompressed bytes as well)', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const lines = ['id,name'];
      for (let i = 1; i <= 2000; i++) lines.push(`${i},name number ${i} padded to compress well`);
      const plain = `${lines.join('\n')}\n`;
      const compressed = gzipSync(plain);
      const small = await makeApp({ env: { MAX_IMPORT_BYTES: String(Buffer.byteLength(plain) + 10) } });
      try {
        await small.createProject('p1');
        await small.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } });
        await createTable(small, 'people', PEOPLE, ['id']);
        const { status, body } = await importRaw('people', compressed, '', { 'content-encoding': 'gzip', 'content-type': 'text/csv' }, small);
        expect(status, JSON.stringify(body)).toBe(200);
        expect(body.imported_rows).toBe(2000);
        expect(await readdir(small.services.paths.filesDir)).toEqual([]);
      } finally {
        await small.close();
      }
    });

    it('answers 415 for a Content-Type that is no import format, before reading the body', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      expect((await importRaw('people', 'id\n1\n')).status).toBe(200);
      for (const type of ['application/json', 'application/xml', 'text/html; charset=utf-8', 'application/x-www-form-urlencoded', 'image/png']) {
        let pulls = 0;
        const body = new ReadableStream<Uint8Array>(
          {
            pull(controller) {
              pulls++;
              controller.enqueue(new TextEncoder().encode('id\n9\n'));
              controller.close();
            },
          },
          { highWaterMark: 0 },
        );
        const { status, body: answer } = await importRaw('people', body, '', { 'content-type': type });
        expect(status, type).toBe(415);
        expect(answer.detail.error).toBe('unsupported_media_type');
        expect(answer.detail.message).toMatch(/format=/);
        expect(pulls).toBe(0);
      }
      // The JSON that a 415 saves a client from: it would otherwise be parsed as CSV.
      const json = await importRaw('people', '{"id": 2}', '', { 'content-type': 'application/json' });
      expect(json.status).toBe(415);
      // The types §8 names, text/plain and application/octet-stream, and any type with ?format=.
      for (const [type, body, query] of [
        ['text/plain', 'id\n2\n', ''],
        ['application/octet-stream', 'id\n3\n', ''],
        ['TEXT/CSV; charset=utf-8', 'id\n4\n', ''],
        ['application/json', '{"id": 5}\n', 'format=ndjson'],
        ['application/xml', 'id\n6\n', 'format=csv'],
      ]) {
        const { status, body: answer } = await importRaw('people', body!, query, { 'content-type': type! });
        expect(status, `${type} ${JSON.stringify(answer)}`).toBe(200);
      }
      expect((await fileRows(t, 'people')).map((r) => r.id)).toEqual([6]);
    });

    it('answers 400 for a gzip body that is not gzip, and 415 for another encoding', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      let response = await importRaw('people', 'id\n1\n', '', { 'content-encoding': 'gzip' });
      expect(response.status).toBe(400);
      expect(response.body.detail.error).toBe('import_failed');
      response = await importRaw('people', 'id\n1\n', '', { 'content-encoding': 'br' });
      expect(response.status).toBe(415);
      expect(response.body.detail.error).toBe('unsupported_media_type');
      expect(await catalogRowCount('people')).toBe(0);
    });
  });

  describe('full and incremental loads', () => {
    it('full load replaces every row; incremental appends (no primary key)', async () => {
      await createTable(t, 'log', [{ name: 'k', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }]);
      expect((await importRaw('log', 'k,v\n1,a\n2,b\n')).body.row_count).toBe(2);
      let { body } = await importRaw('log', 'k,v\n1,c\n3,d\n', 'incremental=true');
      expect(body).toMatchObject({ imported_rows: 2, row_count: 4 });
      expect((await fileRows(t, 'log')).map((r) => `${r.k}${r.v}`)).toEqual(['1a', '1c', '2b', '3d']);
      ({ body } = await importRaw('log', 'k,v\n9,z\n', 'incremental=false'));
      expect(body).toMatchObject({ imported_rows: 1, row_count: 1 });
      expect(await fileRows(t, 'log')).toEqual([{ k: 9, v: 'z' }]);
      expect(await catalogRowCount('log')).toBe(1);
    });

    it('full load into a keyed table replaces the rows, also when keys repeat the old ones', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      await importRaw('people', 'id,name\n1,a\n2,b\n3,c\n');
      const { status, body } = await importRaw('people', 'id,name\n2,B\n3,C\n4,D\n');
      expect(status).toBe(200);
      expect(body).toMatchObject({ imported_rows: 3, row_count: 3 });
      expect((await fileRows(t, 'people')).map((r) => `${r.id}${r.name}`)).toEqual(['2B', '3C', '4D']);
      // The table keeps its key and constraints after the reload.
      const again = await importRaw('people', 'id,name\n5,x\n', 'incremental=true');
      expect(again.body.row_count).toBe(4);
      const nullKey = await importRaw('people', 'id,name\n,x\n', 'incremental=true');
      expect(nullKey.status).toBe(400);
      const table = (await t.callJson('GET', `${T}/people`)).body;
      expect(table.primary_key).toEqual(['id']);
      expect(table.row_count).toBe(4);
    });

    it('incremental load upserts by key; columns absent from the file keep their values', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      await importRaw('people', 'id,name,score\n1,a,1\n2,b,2\n');
      const { status, body } = await importRaw('people', 'name,id\nB,2\nC,3\n', 'incremental=true');
      expect(status).toBe(200);
      expect(body).toMatchObject({ imported_rows: 2, row_count: 3 });
      expect(await fileRows(t, 'people')).toEqual([
        { id: 1, name: 'a', score: '1.00', born: null },
        { id: 2, name: 'B', score: '2.00', born: null },
        { id: 3, name: 'C', score: null, born: null },
      ]);
      // A file of key columns only adds the missing keys.
      const keys = await importRaw('people', 'id\n3\n4\n', 'incremental=true');
      expect(keys.body).toMatchObject({ imported_rows: 2, row_count: 4 });
      expect(await catalogRowCount('people')).toBe(4);
    });

    it('the last occurrence of a repeated key wins (full and incremental)', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      let { status, body } = await importRaw('people', 'id,name\n1,first\n2,x\n1,second\n1,third\n');
      expect(status).toBe(200);
      expect(body).toMatchObject({ imported_rows: 4, row_count: 2 });
      expect((await fileRows(t, 'people')).map((r) => `${r.id}${r.name}`)).toEqual(['1third', '2x']);
      ({ status, body } = await importRaw('people', 'id,name\n2,y1\n5,n1\n2,y2\n5,n2\n', 'incremental=true'));
      expect(status).toBe(200);
      expect(body).toMatchObject({ imported_rows: 4, row_count: 3 });
      expect((await fileRows(t, 'people')).map((r) => `${r.id}${r.name}`)).toEqual(['1third', '2y2', '5n2']);
      expect(await catalogRowCount('people')).toBe(3);
    });

    it('keeps the file order for repeated keys spread over a larger file', async () => {
      await createTable(t, 'kv', [{ name: 'k', type: 'INTEGER' }, { name: 'v', type: 'INTEGER' }], ['k']);
      const lines = ['k,v'];
      for (let i = 0; i < 30_000; i++) lines.push(`${i % 100},${i}`);
      const csv = `${lines.join('\n')}\n`;
      for (const query of ['', 'incremental=true']) {
        const { status, body } = await importRaw('kv', csv, query);
        expect(status).toBe(200);
        expect(body).toMatchObject({ imported_rows: 30_000, row_count: 100 });
        const rows = await fileRows(t, 'kv');
        expect(rows.every((r) => r.v === (r.k as number) + 29_900)).toBe(true);
      }
    });

    it('gives table columns absent from the file their default or NULL', async () => {
      await createTable(t, 'defaults', [
        { name: 'id', type: 'INTEGER' },
        { name: 'status', type: 'VARCHAR', default: 'new' },
        { name: 'qty', type: 'INTEGER', default: 7 },
        { name: 'note', type: 'VARCHAR' },
      ]);
      const { status } = await importRaw('defaults', 'qty,id\n1,1\n,2\n');
      expect(status).toBe(200);
      expect(await fileRows(t, 'defaults')).toEqual([
        { id: 1, status: 'new', qty: 1, note: null },
        { id: 2, status: 'new', qty: null, note: null },
      ]);
    });

    it('an empty body empties the table on a full load and adds nothing incrementally', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      await importRaw('people', 'id\n1\n2\n');
      expect((await importRaw('people', '', 'incremental=true')).body).toMatchObject({ imported_rows: 0, row_count: 2 });
      expect((await importRaw('people', 'id,name\n')).body).toMatchObject({ imported_rows: 0, row_count: 0 });
      expect(await catalogRowCount('people')).toBe(0);
    });

    it('a full load into a keyed table leaves the table file defined as a new table is, key and index included', async () => {
      const definition = async (table: string) => {
        const { registry, db, paths } = t.services;
        const path = paths.tableFile('p1', 'b1', table);
        const alias = await registry.acquire(path);
        try {
          return await db.with(async (c) => ({
            columns: (await c.runAndReadAll(`SELECT * FROM pragma_table_info('${alias}.main.data')`)).getRowObjectsJson(),
            constraints: (await c.runAndReadAll(`SELECT constraint_type, constraint_text, constraint_column_names FROM duckdb_constraints() WHERE database_name = '${alias}' ORDER BY ALL`)).getRowObjectsJson(),
          }));
        } finally {
          registry.release(path);
        }
      };
      const columns: Column[] = [...PEOPLE, { name: 'tag', type: 'VARCHAR', nullable: false, default: 'none' }];
      for (const key of [['id'], ['id', 'tag']]) {
        await createTable(t, 'keyed', columns, key);
        const created = await definition('keyed');
        expect(created.constraints.filter((row) => row.constraint_type === 'PRIMARY KEY')).toHaveLength(1);
        expect((await importRaw('keyed', 'id,name,tag\n1,a,x\n2,b,x\n')).body).toMatchObject({ imported_rows: 2, row_count: 2 });
        expect(await definition('keyed')).toEqual(created);
        // The key is enforced and its index used: an upsert updates, a NULL key is refused.
        expect((await importRaw('keyed', 'id,name,tag\n2,B,x\n3,c,x\n', 'incremental=true')).body).toMatchObject({ imported_rows: 2, row_count: 3 });
        expect((await importRaw('keyed', 'id,name,tag\n,x,x\n', 'incremental=true')).status).toBe(400);
        expect((await fileRows(t, 'keyed')).map((r) => `${r.id}${r.name}${r.tag}`)).toEqual(['1ax', '2Bx', '3cx']);
      }
    });

    it('a full load with a NULL key fails with import_failed and keeps the old rows and their key', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      await importRaw('people', 'id,name\n1,a\n2,b\n');
      const { status, body } = await importRaw('people', 'id,name\n3,c\n,d\n');
      expect(status).toBe(400);
      expect(body.detail.error).toBe('import_failed');
      expect(body.detail.details.reason).toMatch(/NOT NULL/);
      expect((await fileRows(t, 'people')).map((r) => `${r.id}${r.name}`)).toEqual(['1a', '2b']);
      expect(await catalogRowCount('people')).toBe(2);
      expect((await importRaw('people', 'id,name\n1,x\n', 'incremental=true')).body).toMatchObject({ imported_rows: 1, row_count: 2 });
    });

    it('an upsert gives new rows the defaults of columns absent from the file and keeps them on updated rows', async () => {
      await createTable(t, 'stock', [
        { name: 'shop', type: 'VARCHAR' },
        { name: 'item', type: 'INTEGER' },
        { name: 'qty', type: 'INTEGER', default: 7 },
        { name: 'note', type: 'VARCHAR', nullable: false, default: 'n/a' },
      ], ['shop', 'item']);
      expect((await importRaw('stock', 'shop,item,qty,note\na,1,10,first\na,2,20,second\nb,1,30,third\n')).status).toBe(200);
      const { status, body } = await importRaw('stock', 'item,shop,qty\n1,b,31\n2,b,32\n1,a,11\n', 'incremental=true');
      expect(status).toBe(200);
      expect(body).toMatchObject({ imported_rows: 3, row_count: 4 });
      expect((await fileRows(t, 'stock')).map((r) => `${r.shop}${r.item}:${r.qty}:${r.note}`)).toEqual(['a1:11:first', 'a2:20:second', 'b1:31:third', 'b2:32:n/a']);
      expect(await catalogRowCount('stock')).toBe(4);
    });

    it('an upsert into columns named like the names its statement gives the table and the rows', async () => {
      await createTable(t, 'aliases', [
        { name: 'import_rows', type: 'INTEGER' },
        { name: 'import_target', type: 'VARCHAR' },
        { name: 'x', type: 'INTEGER' },
      ], ['import_rows']);
      expect((await importRaw('aliases', 'import_rows,import_target,x\n1,a,10\n2,b,20\n')).status).toBe(200);
      const { status, body } = await importRaw('aliases', 'import_target,import_rows\nB,2\nC,3\n', 'incremental=true');
      expect(status).toBe(200);
      expect(body).toMatchObject({ imported_rows: 2, row_count: 3 });
      expect((await fileRows(t, 'aliases')).map((r) => `${r.import_rows}${r.import_target}${r.x}`)).toEqual(['1a10', '2B20', '3Cnull']);
    });

    it('an upsert that sets a NOT NULL column to NULL, or repeats a key next to a bad value, fails and changes nothing', async () => {
      await createTable(t, 'stock', [
        { name: 'item', type: 'INTEGER' },
        { name: 'note', type: 'VARCHAR', nullable: false },
        { name: 'qty', type: 'INTEGER' },
      ], ['item']);
      expect((await importRaw('stock', 'item,note,qty\n1,a,1\n2,b,2\n')).status).toBe(200);
      for (const csv of ['item,note\n3,c\n1,\n', 'item,note,qty\n3,c,1\n3,d,2\n4,e,1.5\n']) {
        const { status, body } = await importRaw('stock', csv, 'incremental=true');
        expect(status).toBe(400);
        expect(body.detail.error).toBe('import_failed');
        expect((await fileRows(t, 'stock')).map((r) => `${r.item}${r.note}${r.qty}`)).toEqual(['1a1', '2b2']);
        expect(await catalogRowCount('stock')).toBe(2);
      }
    });
  });

  describe('columns', () => {
    it('refuses columns the table does not have with 400 unknown_columns, listing them', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      await importRaw('people', 'id\n1\n');
      const { status, body } = await importRaw('people', 'id,name,colour,size\n2,a,red,3\n');
      expect(status).toBe(400);
      expect(body.detail.error).toBe('unknown_columns');
      expect(body.detail.details.columns).toEqual(['colour', 'size']);
      const json = await importRaw('people', '{"id":1,"extra":true}\n', 'format=ndjson');
      expect(json.status).toBe(400);
      expect(json.body.detail.details.columns).toEqual(['extra']);
      expect(await fileRows(t, 'people')).toEqual([{ id: 1, name: null, score: null, born: null }]);
    });

    it('refuses an NDJSON body with a million distinct keys with a bounded list, without collecting the keys', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      expect((await importRaw('people', 'id\n1\n')).status).toBe(200);
      const lines: string[] = [];
      for (let i = 0; i < 1_000_000; i++) lines.push(`{"id":${i},"k${i}":1}`);
      const body = Buffer.from(`${lines.join('\n')}\n`);
      lines.length = 0;
      // V8 grows its heap for what a request allocates and gives it back only after a while:
      // collecting a million key names in JS would grow it by hundreds of MB.
      const baseline = getHeapStatistics().total_heap_size;
      const { status, body: answer } = await importRaw('people', body, 'format=ndjson');
      const after = getHeapStatistics().total_heap_size;
      expect(status).toBe(400);
      expect(answer.detail.error).toBe('unknown_columns');
      expect(answer.detail.details.columns.length).toBeGreaterThan(0);
      expect(answer.detail.details.columns.length).toBeLessThanOrEqual(100);
      expect(answer.detail.details.columns.every((name: string) => /^k\d+$/.test(name))).toBe(true);
      expect(after - baseline).toBeLessThan(50 << 20);
      expect(await fileRows(t, 'people')).toEqual([{ id: 1, name: null, score: null, born: null }]);
    });

    it('names NDJSON keys that are no columns, also when other keys differ only in case', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      let response = await importRaw('people', '{"id":1,"color":"red"}\n{"id":2,"size":3,"color":"blue"}\n', 'format=ndjson');
      expect(response.status).toBe(400);
      expect(response.body.detail.error).toBe('unknown_columns');
      expect([...response.body.detail.details.columns].sort()).toEqual(['color', 'size']);
      response = await importRaw('people', '{"id":1,"NAME":"a"}\n{"id":2,"name":"b"}\n', 'format=ndjson');
      expect(response.status).toBe(400);
      expect(response.body.detail.error).toBe('duplicate_columns');
    });

    it('refuses a file naming a column twice with 400', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const { status, body } = await importRaw('people', 'id,name,NAME\n1,a,b\n');
      expect(status).toBe(400);
      expect(body.detail.error).toBe('duplicate_columns');
      expect(body.detail.details.columns).toEqual(['NAME']);
    });

    it('matches header names without regard to case', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const { status } = await importRaw('people', 'ID,Name\n1,a\n');
      expect(status).toBe(200);
      expect(await fileRows(t, 'people')).toEqual([{ id: 1, name: 'a', score: null, born: null }]);
    });

    it('matches NDJSON keys without regard to case, strips a BOM, and lets columns= rename a header', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      let response = await importRaw('people', '{"ID":1,"Name":"x"}\n', 'format=ndjson');
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(await fileRows(t, 'people')).toEqual([{ id: 1, name: 'x', score: null, born: null }]);
      response = await importRaw('people', '\uFEFFid,name\n2,y\n');
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(await fileRows(t, 'people')).toEqual([{ id: 2, name: 'y', score: null, born: null }]);
      // With header=true, columns= names the file's columns and the header row is skipped.
      response = await importRaw('people', 'a,b\nz,3\n', 'columns=name,id');
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(await fileRows(t, 'people')).toEqual([{ id: 3, name: 'z', score: null, born: null }]);
    });

    it('reads a file without a header row using the columns parameter', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const { status, body } = await importRaw('people', 'x,1\ny,2\n', 'header=false&columns=name,id');
      expect(status, JSON.stringify(body)).toBe(200);
      expect(body.imported_rows).toBe(2);
      expect((await fileRows(t, 'people')).map((r) => `${r.id}${r.name}`)).toEqual(['1x', '2y']);
    });

    it('answers 422 for header=false without columns, and for bad parameters', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      let response = await importRaw('people', '1,a\n', 'header=false');
      expect(response.status).toBe(422);
      expect(response.body.detail.error).toBe('validation_error');
      expect(response.body.detail.details.issues[0].path).toBe('query.columns');
      for (const query of ['format=xml', 'delimiter=ab', 'incremental=yes', 'columns=a.b', 'header=maybe']) {
        response = await importRaw('people', 'id\n1\n', query);
        expect(response.status, query).toBe(422);
      }
      expect(await catalogRowCount('people')).toBe(0);
    });

    it('honours delimiter, quote, escape and null_string', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const csv = "id;name;score\n1;'a;b';NULL\n2;'it\\'s';2.5\n3;'';1\n4;'NULL';1\n";
      const { status, body } = await importRaw('people', csv, `delimiter=%3B&quote=%27&escape=%5C&null_string=NULL`);
      expect(status, JSON.stringify(body)).toBe(200);
      expect(await fileRows(t, 'people')).toEqual([
        { id: 1, name: 'a;b', score: null, born: null },
        { id: 2, name: "it's", score: '2.50', born: null },
        { id: 3, name: '', score: '1.00', born: null },
        { id: 4, name: 'NULL', score: '1.00', born: null },
      ]);
      const tabs = await importRaw('people', 'id\tname\n5\tx\n', 'delimiter=%5Ct&incremental=true');
      expect(tabs.status).toBe(200);
      expect(tabs.body.row_count).toBe(5);
    });

    it('by default an empty unquoted field is NULL and "" is an empty string', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      await importRaw('people', 'id,name\n1,\n2,""\n');
      expect((await fileRows(t, 'people')).map((r) => r.name)).toEqual([null, '']);
    });
  });

  describe('failures leave the table as it was', () => {
    const GOOD = 'id,name,score\n1,a,1\n2,b,2\n';
    const rowsOf = (n: number, bad: number, badLine: string) => {
      const lines = ['id,name,score'];
      for (let i = 1; i <= n; i++) lines.push(i === bad ? badLine : `${i + 100},n${i},${i}`);
      return `${lines.join('\n')}\n`;
    };

    for (const [where, position] of [['first', 1], ['middle', 1500], ['last', 3000]] as const) {
      for (const incremental of [false, true]) {
        it(`a bad number on the ${where} row fails the ${incremental ? 'incremental' : 'full'} import with its line`, async () => {
          await createTable(t, 'people', PEOPLE, ['id']);
          expect((await importRaw('people', GOOD)).status).toBe(200);
          const { status, body } = await importRaw('people', rowsOf(3000, position, `${position + 100},x,not-a-number`), `incremental=${incremental}`);
          expect(status).toBe(400);
          expect(body.detail.error).toBe('import_failed');
          expect(body.detail.details.line).toBe(position + 1);
          expect(body.detail.details.column).toBe('score');
          expect(body.detail.message).toMatch(/not-a-number/);
          expect(JSON.stringify(body)).not.toContain(t.dataDir);
          expect((await fileRows(t, 'people')).map((r) => r.id)).toEqual([1, 2]);
          expect(await catalogRowCount('people')).toBe(2);
        });
      }
    }

    it('a NULL in a NOT NULL column fails the import', async () => {
      await createTable(t, 'people', [...PEOPLE.slice(0, 3), { name: 'born', type: 'DATE', nullable: false }], ['id']);
      expect((await importRaw('people', 'id,born\n1,2000-01-01\n')).status).toBe(200);
      for (const query of ['', 'incremental=true']) {
        const { status, body } = await importRaw('people', 'id,born\n5,2000-01-01\n6,\n', query);
        expect(status).toBe(400);
        expect(body.detail.error).toBe('import_failed');
        expect(body.detail.message).toMatch(/NOT NULL/);
      }
      // Leaving out a NOT NULL column without a default fails the same way.
      expect((await importRaw('people', 'id\n7\n', 'incremental=true')).status).toBe(400);
      expect((await fileRows(t, 'people')).map((r) => r.id)).toEqual([1]);
      expect(await catalogRowCount('people')).toBe(1);
    });

    it('a date or a time of day with text after it fails the import (DuckDB\'s reader keeps the date and drops the rest)', async () => {
      await createTable(t, 'events', [{ name: 'id', type: 'INTEGER', nullable: false }, { name: 'day', type: 'DATE' }, { name: 'at', type: 'TIME' }], ['id']);
      expect((await importRaw('events', 'id,day,at\n1, 2026-01-01 ,12:30\n2,2026/2/3 10:00:00,24:00:00\n')).status).toBe(200);
      const before = await fileRows(t, 'events');
      expect(before.map((r) => [r.id, String(r.day), String(r.at)])).toEqual([[1, '2026-01-01', '12:30:00'], [2, '2026-02-03', '24:00:00']]);
      for (const [body, query, column] of [
        ['id,day\n3,2026-01-01abc\n', '', 'day'],
        ['id,at\n3,12:30:00 junk\n', 'incremental=true', 'at'],
        ['{"id":3,"day":"2026-01-01Z"}\n', 'format=ndjson&incremental=true', 'day'],
        ['{"id":3,"at":"12:30:00abc"}\n', 'format=ndjson', 'at'],
      ] as const) {
        const { status, body: answer } = await importRaw('events', body, query);
        expect(status, body).toBe(400);
        expect(answer.detail.error).toBe('import_failed');
        expect(answer.detail.message, body).toMatch(column === 'day' ? /not a date/ : /not a time of day/);
        expect(await fileRows(t, 'events')).toEqual(before);
        expect(await catalogRowCount('events')).toBe(2);
      }
    });

    it('a bad date, a short row and bad NDJSON fail too', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      await importRaw('people', GOOD);
      let response = await importRaw('people', 'id,born\n3,2001-02-30\n');
      expect(response.status).toBe(400);
      expect(response.body.detail.details.line).toBe(2);
      response = await importRaw('people', 'id,name\n3,a\n4,b,c\n');
      expect(response.status).toBe(400);
      expect(response.body.detail.details.line).toBe(3);
      response = await importRaw('people', '{"id":3}\n{"id":"four"}\n', 'format=ndjson');
      expect(response.status).toBe(400);
      expect(response.body.detail.details.line).toBe(2);
      response = await importRaw('people', '{"id":3}\n{"id":\n', 'format=ndjson&incremental=true');
      expect(response.status).toBe(400);
      expect(response.body.detail.error).toBe('import_failed');
      expect((await fileRows(t, 'people')).map((r) => r.id)).toEqual([1, 2]);
    });

    it('a table file COMMIT that fails after the catalog recorded the new row count writes the old count back; the new count shows only after the file committed', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      expect((await importRaw('people', GOOD)).status).toBe(200);
      let armed = true;
      let shownAtCommit: number | undefined;
      const watched = watchConnections(t.services.db, async (sql, run) => {
        if (armed && sql === 'COMMIT') {
          armed = false;
          shownAtCommit = (await t.callJson('GET', `${T}/people`)).body.row_count;
          throw new Error('injected: the disk is full at COMMIT');
        }
        return run();
      });
      try {
        for (const query of ['incremental=true', '']) {
          armed = true;
          const failed = await importRaw('people', 'id,name,score\n3,c,3\n4,d,4\n', query);
          expect(failed.status, query).toBe(500);
          expect(armed).toBe(false);
          expect(shownAtCommit).toBe(2);
          expect(await catalogRowCount('people')).toBe(2);
          const stored = await t.services.catalog.store.db.with(async (c) =>
            (await c.runAndReadAll("SELECT row_count FROM tables_catalog WHERE project_id = 'p1' AND bucket_name = 'b1' AND name = 'people'")).getRows(),
          );
          expect(stored.map((row) => Number(row[0]))).toEqual([2]);
          expect((await fileRows(t, 'people')).map((r) => r.id)).toEqual([1, 2]);
        }
      } finally {
        watched.restore();
        armed = false;
      }
      const ok = await importRaw('people', 'id,name,score\n3,c,3\n', 'incremental=true');
      expect(ok.status).toBe(200);
      expect(ok.body.table.row_count).toBe(3);
      expect(await catalogRowCount('people')).toBe(3);
    });

    it('an incremental load into a keyed table needs the key columns', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const { status, body } = await importRaw('people', 'name\nx\n', 'incremental=true');
      expect(status).toBe(400);
      expect(body.detail.error).toBe('import_failed');
      expect(body.detail.details.missing_columns).toEqual(['id']);
    });
  });

  describe('numbers are never rounded or wrapped (§8)', () => {
    /** The body of a one-column file in `format` holding `values` (text as written in the file). */
    const body = async (format: 'csv' | 'ndjson' | 'parquet-double' | 'parquet-decimal', column: string, values: string[]) => {
      if (format === 'csv') return `${column}\n${values.join('\n')}\n`;
      if (format === 'ndjson') return values.map((v) => `{"${column}":${v}}`).join('\n');
      const file = join(t.root, `numbers-${Date.now()}-${Math.random().toString(16).slice(2)}.parquet`);
      const type = format === 'parquet-double' ? 'DOUBLE' : 'DECIMAL(20,3)';
      const rows = values.map((v) => `(CAST('${v}' AS ${type}))`).join(', ');
      await t.services.db.with((c) => c.run(`COPY (SELECT * FROM (VALUES ${rows}) v(${column})) TO '${file}' (FORMAT parquet)`));
      const bytes = await readFile(file);
      await rm(file);
      return bytes;
    };
    const query = (format: string, incremental: boolean) => `format=${format.startsWith('parquet') ? 'parquet' : format}&incremental=${incremental}`;
    const TYPES = ['INTEGER', 'BIGINT', 'SMALLINT', 'TINYINT', 'HUGEINT', 'UINTEGER'];

    for (const format of ['csv', 'ndjson', 'parquet-double', 'parquet-decimal'] as const) {
      const bad = format === 'parquet-double' ? ['1.5', '-2.5', 'inf'] : format === 'parquet-decimal' ? ['1.5', '-2.5'] : ['1.5', '-2.5', '1e400'];
      for (const keyed of [false, true]) {
        it(`${format}: ${bad.join(', ')} into integer columns${keyed ? ' (primary key)' : ''} fail the import, full and incremental`, async () => {
          for (const type of TYPES) {
            await createTable(t, 'nums', [{ name: 'n', type, nullable: !keyed }, { name: 'tag', type: 'VARCHAR' }], keyed ? ['n'] : []);
            expect((await importRaw('nums', 'n,tag\n7,seven\n')).status).toBe(200);
            for (const value of bad) {
              // A good row before the bad one: nothing of the file may land.
              const file = await body(format, 'n', ['3', value]);
              for (const incremental of [false, true]) {
                const { status, body: answer } = await importRaw('nums', file, query(format, incremental));
                expect(status, `${type} ${value} ${JSON.stringify(answer)}`).toBe(400);
                expect(answer.detail.error).toBe('import_failed');
                expect(answer.detail.message).toMatch(/not a whole number|out of range|Could not convert|Failed to cast/i);
                expect(answer.detail.details.column).toBe('n');
              }
            }
            expect((await fileRows(t, 'nums')).map((r) => [Number(r.n), r.tag])).toEqual([[7, 'seven']]);
            expect(await catalogRowCount('nums')).toBe(1);
          }
        });
      }

      it(`${format}: whole numbers written with a fraction or exponent convert, and keys never collapse`, async () => {
        await createTable(t, 'nums', [{ name: 'n', type: 'BIGINT', nullable: false }, { name: 'tag', type: 'VARCHAR' }], ['n']);
        const whole = format === 'parquet-decimal' ? ['1.000', '-2.000', '300'] : ['1.0', '-2.0', '3e2'];
        let response = await importRaw('nums', await body(format, 'n', whole), query(format, false));
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        expect((await fileRows(t, 'nums')).map((r) => Number(r.n))).toEqual([-2, 1, 300]);
        // 1.4 and 0.6 would both round onto key 1.
        response = await importRaw('nums', await body(format, 'n', ['1.4', '0.6']), query(format, true));
        expect(response.status).toBe(400);
        expect(response.body.detail.error).toBe('import_failed');
        expect((await fileRows(t, 'nums')).map((r) => Number(r.n))).toEqual([-2, 1, 300]);
      });

      it(`${format}: out-of-range values fail, also into DOUBLE and DECIMAL`, async () => {
        await createTable(t, 'nums', [{ name: 's', type: 'SMALLINT' }, { name: 'd', type: 'DOUBLE' }, { name: 'm', type: 'DECIMAL(4,2)' }]);
        expect((await importRaw('nums', 's\n1\n')).status).toBe(200);
        const cases: [string, string][] = [['s', '40000'], ['m', '100.5']];
        if (format === 'csv' || format === 'ndjson') cases.push(['d', '1e400'], ['d', '-1e400']);
        for (const [column, value] of cases) {
          const { status, body: answer } = await importRaw('nums', await body(format, column, [value]), query(format, false));
          expect(status, `${column} ${value} ${JSON.stringify(answer)}`).toBe(400);
          expect(answer.detail.error).toBe('import_failed');
        }
        expect(await fileRows(t, 'nums')).toEqual([{ s: 1, d: null, m: null }]);
      });

      it(`${format}: DECIMAL rounds half away from zero to its scale`, async () => {
        await createTable(t, 'money', [{ name: 'k', type: 'INTEGER' }, { name: 'm', type: 'DECIMAL(10,2)' }]);
        const values = ['1.235', '-1.235', '1.005', '2.675', '-0.004'];
        const file =
          format === 'csv'
            ? `k,m\n${values.map((v, i) => `${i},${v}`).join('\n')}\n`
            : format === 'ndjson'
              ? values.map((v, i) => `{"k":${i},"m":${v}}`).join('\n')
              : await (async () => {
                  const path = join(t.root, `money-${format}.parquet`);
                  const type = format === 'parquet-double' ? 'DOUBLE' : 'DECIMAL(20,3)';
                  const rows = values.map((v, i) => `(${i}, CAST('${v}' AS ${type}))`).join(', ');
                  await t.services.db.with((c) => c.run(`COPY (SELECT * FROM (VALUES ${rows}) v(k, m)) TO '${path}' (FORMAT parquet)`));
                  const bytes = await readFile(path);
                  await rm(path);
                  return bytes;
                })();
        const { status, body: answer } = await importRaw('money', file, query(format, false));
        expect(status, JSON.stringify(answer)).toBe(200);
        expect((await fileRows(t, 'money')).map((r) => r.m)).toEqual(['1.24', '-1.24', '1.01', '2.68', '0.00']);
      });
    }

    it('names the value, and keeps the line where DuckDB reports one', async () => {
      await createTable(t, 'nums', [{ name: 'n', type: 'INTEGER' }, { name: 'tag', type: 'VARCHAR' }]);
      let response = await importRaw('nums', 'n\n1\n2\n1.5\n');
      expect(response.status).toBe(400);
      expect(response.body.detail.message).toBe('Import failed: Cannot convert value "1.5" of column n to INTEGER: not a whole number');
      response = await importRaw('nums', 'n\n1\nlots\n');
      expect(response.status).toBe(400);
      expect(response.body.detail.details.line).toBe(3);
      expect(response.body.detail.message).toMatch(/lots/);
      response = await importRaw('nums', '{"n":1}\n{"n":"four"}\n', 'format=ndjson');
      expect(response.body.detail.details.line).toBe(2);
    });
  });

  describe('the header row is read incrementally and bounded', () => {
    it('answers 400 import_failed for a 4 MiB header without a line break, reading only its first MiB', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      expect((await importRaw('people', 'id,name\n1,a\n')).status).toBe(200);
      const wide = Array.from({ length: 1 << 19 }, (_, i) => `c${i}`).join(',').slice(0, 4 << 20);
      for (const header of ['x'.repeat(4 << 20), `"${'q'.repeat(4 << 20)}`, wide]) {
        const { status, body } = await importRaw('people', header, '', { 'content-type': 'text/csv' });
        expect(status).toBe(400);
        expect(body.detail.error).toBe('import_failed');
        expect(body.detail.message).toMatch(/header row (is longer than 1048576 bytes|names more than 1000 columns)/);
      }
      expect(await fileRows(t, 'people')).toEqual([{ id: 1, name: 'a', score: null, born: null }]);
      expect(await catalogRowCount('people')).toBe(1);
    });

    it('answers 400 import_failed for a header naming more than 1000 columns', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const header = Array.from({ length: 1001 }, (_, i) => `c${i}`).join(',');
      const { status, body } = await importRaw('people', `${header}\n`, '', { 'content-type': 'text/csv' });
      expect(status).toBe(400);
      expect(body.detail.error).toBe('import_failed');
      expect(body.detail.message).toBe('The header row names more than 1000 columns');
      // 1000 columns are not refused for their number (here: columns the table lacks).
      const thousand = Array.from({ length: 1000 }, (_, i) => `c${i}`).join(',');
      expect((await importRaw('people', `${thousand}\n`)).body.detail.error).toBe('unknown_columns');
    });

    it('parses a header split anywhere exactly as in one piece', () => {
      const comma: CsvDialect = { delimiter: ',', quote: '"', escape: '"' };
      const cases: [string, CsvDialect, string[]][] = [
        ['\ufeffid,"na,me","say ""hi""",x\r\n1,2', comma, ['id', 'na,me', 'say "hi"', 'x']],
        ["a;'b;\\'c\\\\';\"d\"\nrest", { delimiter: ';', quote: "'", escape: '\\' }, ['a', "b;'c\\", '"d"']],
        ["'x\\y'", { delimiter: ';', quote: "'", escape: '\\' }, ['x\\y']],
        ["'x\\", { delimiter: ';', quote: "'", escape: '\\' }, ['x\\']],
        ['"multi\nline",b\n', comma, ['multi\nline', 'b']],
        ['"ends quoted"', comma, ['ends quoted']],
        ['"a""', comma, ['a"']],
        ['a\tb', { delimiter: '\t', quote: '"', escape: '"' }, ['a', 'b']],
        ['\n', comma, ['']],
        ['', comma, []],
      ];
      for (const [text, dialect, expected] of cases) {
        for (let cut = 0; cut <= text.length; cut++) {
          for (const step of [1, 2, 3, Math.max(text.length, 1)]) {
            const parser = new CsvHeaderParser(dialect);
            const pieces = [text.slice(0, cut)];
            for (let i = cut; i < text.length; i += step) pieces.push(text.slice(i, i + step));
            let fields: string[] | undefined;
            for (const piece of pieces) fields ??= parser.push(piece);
            fields ??= parser.end();
            expect(fields, `${JSON.stringify(text)} cut at ${cut}, step ${step}`).toEqual(expected);
          }
        }
      }
    });
  });

  describe('emptying a table builds SQL from the catalog, not from the file', () => {
    /** Columns, defaults and key of a table file as DuckDB reports them. */
    const ddl = (app: TestApp, table: string) =>
      app.services.db.with(async (c) => {
        const path = app.services.paths.tableFile('p1', 'b1', table);
        const alias = await app.services.registry.acquire(path);
        try {
          const columns = await c.runAndReadAll(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info('"${alias}".main.data')`);
          return columns.getRowsJson();
        } finally {
          app.services.registry.release(path);
        }
      });
    /**
     * Runs `work` while the table file stays attached (object ids are given at ATTACH), and
     * tells whether the table in it was dropped and re-created meanwhile.
     */
    const recreatedBy = async (app: TestApp, table: string, work: () => Promise<void>) => {
      const path = app.services.paths.tableFile('p1', 'b1', table);
      const alias = await app.services.registry.acquire(path);
      const oid = () =>
        app.services.db.with(async (c) => (await c.runAndReadAll(`SELECT table_oid FROM duckdb_tables() WHERE database_name = '${alias}' AND table_name = 'data'`)).getRowsJson()[0]![0]);
      try {
        const before = await oid();
        await work();
        return (await oid()) !== before;
      } finally {
        app.services.registry.release(path);
      }
    };

    it('a full load keeps the columns, NOT NULL, defaults and key of a table made through the API', async () => {
      await createTable(
        t,
        'kept',
        [
          { name: 'id', type: 'BIGINT', nullable: false },
          { name: 'qty', type: 'INTEGER', default: 7 },
          { name: 'note', type: 'VARCHAR', nullable: false, default: "it's" },
          { name: 'at', type: 'TIMESTAMPTZ', default: 'now()' },
          { name: 'm', type: 'DECIMAL(10,2)', default: '1.5' },
        ],
        ['id'],
      );
      const before = await ddl(t, 'kept');
      for (const body of ['id\n1\n2\n', 'id,qty\n3,4\n', '']) {
        // Emptied by re-creating it (cheap for a keyed table), not by deleting row by row.
        const recreated = await recreatedBy(t, 'kept', async () => {
          expect((await importRaw('kept', body)).status).toBe(200);
        });
        expect(recreated).toBe(true);
        // Read back from the file, as `before` was: a table re-created in a still-attached
        // file prints its default from the parsed statement (`DECIMAL(10, 2)`), the same
        // expression read from disk prints `DECIMAL(10,2)`.
        await t.services.registry.settle();
        expect(await ddl(t, 'kept')).toEqual(before);
      }
      expect((await importRaw('kept', 'id\n5\n')).status).toBe(200);
      expect(await fileRows(t, 'kept')).toEqual([{ id: '5', qty: 7, note: "it's", at: expect.any(String), m: '1.50' }]);
    });

    it('an adopted file with defaults and types the catalog cannot state is emptied without re-creating it', async () => {
      const root = await mkdtemp(join(tmpdir(), 'dsa-adopt-'));
      try {
        let app = await makeApp({ root });
        await app.createProject('p1');
        expect((await app.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } })).status).toBe(201);
        const file = app.services.paths.tableFile('p1', 'b1', 'adopted');
        await app.close();
        const instance = await DuckDBInstance.create(file);
        const c = await instance.connect();
        // A default naming a sequence of the file: pasted back as SQL text, it would bind in the service's own catalog.
        await c.run('CREATE SEQUENCE seq START 1000');
        await c.run(`CREATE TABLE data (id INTEGER PRIMARY KEY, n INTEGER DEFAULT (40 + 2), s VARCHAR DEFAULT 'x', l INTEGER[] DEFAULT [1, 2], q BIGINT DEFAULT nextval('seq'))`);
        await c.run('INSERT INTO data (id) VALUES (100)');
        c.closeSync();
        instance.closeSync();
        app = await makeApp({ root });
        try {
          const adopted = app.services.catalog.getTable('p1', 'b1', 'adopted')!;
          expect(adopted.columns.map((column) => [column.name, column.default])).toEqual([['id', undefined], ['n', undefined], ['s', 'x'], ['l', undefined], ['q', undefined]]);
          const before = await ddl(app, 'adopted');
          const recreated = await recreatedBy(app, 'adopted', async () => {
            const { status, body } = await importRaw('adopted', 'id\n1\n2\n', '', {}, app);
            expect(status, JSON.stringify(body)).toBe(200);
            expect(body.row_count).toBe(2);
          });
          expect(recreated).toBe(false);
          expect(await ddl(app, 'adopted')).toEqual(before);
          const rows = await app.services.db.with(async (conn) => {
            const path = app.services.paths.tableFile('p1', 'b1', 'adopted');
            const alias = await app.services.registry.acquire(path);
            try {
              return (await conn.runAndReadAll(`SELECT * FROM "${alias}".main.data ORDER BY id`)).getRowsJson();
            } finally {
              app.services.registry.release(path);
            }
          });
          expect(rows).toEqual([[1, 42, 'x', [1, 2], '1001'], [2, 42, 'x', [1, 2], '1002']]);
          expect((await app.callJson('POST', `${T}/adopted/truncate`)).body).toEqual({ deleted_rows: 2, row_count: 0 });
          expect(await ddl(app, 'adopted')).toEqual(before);
        } finally {
          await app.close();
        }
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });
  });

  describe('limits and access', () => {
    it('the staging file has no name once the body is staged: none is there while the import waits for the write lock, and the rows load', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      const { registry, paths } = t.services;
      let release!: () => void;
      let holding!: () => void;
      const holds = new Promise<void>((resolve) => (holding = resolve));
      const held = registry.withWriteLock(paths.tableFile('p1', 'b1', 'people'), () => {
        holding();
        return new Promise<void>((resolve) => (release = resolve));
      });
      await holds;
      // Held or waited for: the holder above, then the import once its body is staged.
      expect(registry.waitingWrites).toBe(1);
      const importing = importRaw('people', 'id,name\n1,a\n2,b\n');
      try {
        // Staging goes through the thread pool, which a loaded machine can keep busy for a while.
        for (let i = 0; i < 2000 && registry.waitingWrites === 1; i++) await new Promise((resolve) => setTimeout(resolve, 5));
        expect(registry.waitingWrites).toBe(2);
        expect(await readdir(paths.filesDir)).toEqual([]);
      } finally {
        // Also when a check failed: the held lock must not keep the tests after this one waiting.
        release();
        await held;
      }
      const { status, body } = await importing;
      expect(status).toBe(200);
      expect(body).toMatchObject({ imported_rows: 2, row_count: 2 });
      // A failing import reads its unnamed file again (for the line of a bad value) just as well.
      const failed = await importRaw('people', 'id,name\n3,c\nx,d\n');
      expect(failed.status).toBe(400);
      expect(failed.body.detail.details.line).toBe(3);
      expect(failed.body.detail.details.reason).not.toMatch(/proc|fd/);
      expect((await fileRows(t, 'people')).map((r) => `${r.id}${r.name}`)).toEqual(['1a', '2b']);
    });

    it('answers 413 for a body over MAX_IMPORT_BYTES and leaves no staging file', async () => {
      const small = await makeApp({ env: { MAX_IMPORT_BYTES: '1000' } });
      try {
        await small.createProject('p1');
        await small.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } });
        await createTable(small, 'people', PEOPLE, ['id']);
        const lines = ['id,name'];
        for (let i = 0; i < 500; i++) lines.push(`${i},row ${i}`);
        // A stream that would go on for ever: refused once 1000 bytes have arrived.
        let pulls = 0;
        const endless = new ReadableStream<Uint8Array>({
          pull(controller) {
            pulls++;
            controller.enqueue(new TextEncoder().encode(`${lines.join('\n')}\n`));
          },
        });
        let response = await importRaw('people', endless, '', {}, small);
        expect(response.status).toBe(413);
        expect(response.body.detail.error).toBe('payload_too_large');
        expect(pulls).toBeLessThan(5);
        // A declared length over the limit is refused without reading the body.
        let read = 0;
        const declared = new ReadableStream<Uint8Array>({ pull: () => void read++ }, { highWaterMark: 0 });
        response = await importRaw('people', declared, '', { 'content-length': '5000' }, small);
        expect(response.status).toBe(413);
        expect(read).toBe(0);
        // At the limit it is accepted.
        response = await importRaw('people', 'id,name\n1,a\n', '', {}, small);
        expect(response.status).toBe(200);
        expect(await readdir(small.services.paths.filesDir)).toEqual([]);
        expect((await small.callJson('GET', `${T}/people`)).body.row_count).toBe(1);
      } finally {
        await small.close();
      }
    });

    it('answers 413 for a gzip bomb: the decompressed bytes count against MAX_IMPORT_BYTES', async () => {
      // 64 MiB of line breaks compress to about 64 KiB: well under the limit as received.
      const bomb = gzipSync(Buffer.alloc(64 << 20, 0x0a));
      const limit = 4 << 20;
      expect(bomb.length).toBeLessThan(limit / 10);
      const small = await makeApp({ env: { MAX_IMPORT_BYTES: String(limit) } });
      try {
        await small.createProject('p1');
        await small.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } });
        await createTable(small, 'people', PEOPLE, ['id']);
        expect((await importRaw('people', 'id,name\n1,a\n', '', {}, small)).status).toBe(200);
        for (const incremental of [false, true]) {
          const { status, body } = await importRaw('people', bomb, `incremental=${incremental}`, { 'content-encoding': 'gzip', 'content-type': 'text/csv' }, small);
          expect(status).toBe(413);
          expect(body.detail.error).toBe('payload_too_large');
          expect(await readdir(small.services.paths.filesDir)).toEqual([]);
        }
        expect((await small.callJson('GET', `${T}/people`)).body.row_count).toBe(1);
        expect(small.services.activeImports.count).toBe(0);
      } finally {
        await small.close();
      }
    });

    it('answers 429 with Retry-After beyond MAX_CONCURRENT_IMPORTS, reading nothing of the refused body', async () => {
      const one = await makeApp({ env: { MAX_CONCURRENT_IMPORTS: '1' } });
      try {
        await one.createProject('p1');
        await one.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } });
        await createTable(one, 'people', PEOPLE, ['id']);
        let open!: ReadableStreamDefaultController<Uint8Array>;
        const held = new ReadableStream<Uint8Array>({
          start(controller) {
            open = controller;
            controller.enqueue(new TextEncoder().encode('id,name\n1,a\n'));
          },
        });
        const first = importRaw('people', held, '', {}, one);
        for (let i = 0; i < 500 && one.services.activeImports.count === 0; i++) await new Promise((r) => setTimeout(r, 5));
        expect(one.services.activeImports.count).toBe(1);
        let pulls = 0;
        const refusedBody = new ReadableStream<Uint8Array>({ pull: () => void pulls++ }, { highWaterMark: 0 });
        const refused = await importRaw('people', refusedBody, '', {}, one);
        expect(refused.status).toBe(429);
        expect(refused.body.detail.error).toBe('too_many_requests');
        expect(Number(refused.response.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(pulls).toBe(0);
        open.enqueue(new TextEncoder().encode('2,b\n'));
        open.close();
        const done = await first;
        expect(done.status).toBe(200);
        expect(done.body.imported_rows).toBe(2);
        expect(one.services.activeImports.count).toBe(0);
        // The slot is free again.
        expect((await importRaw('people', 'id\n3\n', 'incremental=true', {}, one)).status).toBe(200);
        expect(await readdir(one.services.paths.filesDir)).toEqual([]);
      } finally {
        await one.close();
      }
    });

    it('refuses an import into a linked bucket with 403 bucket_readonly and changes nothing', async () => {
      await createTable(t, 'people', PEOPLE, ['id']);
      await importRaw('people', 'id\n1\n');
      expect((await t.callJson('POST', `${B}/share`, { body: { target_project_id: 'p2' } })).status).toBe(200);
      const link = await t.callJson('POST', '/projects/p2/buckets/linked/link', { body: { source_project_id: 'p1', source_bucket_name: 'b1' } });
      expect(link.status).toBe(201);
      let pulls = 0;
      const body = new ReadableStream<Uint8Array>({ pull: () => void pulls++ }, { highWaterMark: 0 });
      const { status, body: answer } = await t.callJson('POST', '/projects/p2/buckets/linked/tables/people/import', { raw: body });
      expect(status).toBe(403);
      expect(answer.detail.error).toBe('bucket_readonly');
      expect(pulls).toBe(0);
      expect(await fileRows(t, 'people')).toEqual([{ id: 1, name: null, score: null, born: null }]);
    });

    it('answers 404 for a missing table and 401/403 for bad keys', async () => {
      expect((await importRaw('nope', 'id\n1\n')).body.detail.error).toBe('table_not_found');
      await createTable(t, 'people', PEOPLE, ['id']);
      expect((await t.callJson('POST', `${T}/people/import`, { raw: 'id\n1\n', key: null })).status).toBe(401);
      const otherKey = (await t.callJson('POST', '/projects', { body: { id: 'p3' } })).body.api_key;
      expect((await t.callJson('POST', `${T}/people/import`, { raw: 'id\n1\n', key: otherKey })).status).toBe(403);
      expect(await catalogRowCount('people')).toBe(0);
    });
  });
});

/** POSTs `chunks` one by one as a chunked body over a real socket; resolves with the answer. */
function postChunks(url: string, chunks: Buffer[], headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString('utf8')) }));
      res.on('error', reject);
    });
    // The server may answer (413) and close before the whole body went out.
    req.on('error', () => {});
    let next = 0;
    const pump = () => {
      while (next < chunks.length) {
        if (!req.write(chunks[next++]!)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('import over a real socket', () => {
  let root: string;
  let running: RunningServer;
  const T1 = () => `${running.url}/projects/p1/buckets/b1/tables/people`;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-import-server-'));
    running = await startServer(testConfig(join(root, 'data'), { PORT: '0', HOST: '127.0.0.1', MAX_IMPORT_BYTES: '200000' }), captureLogger().logger);
    const json = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    const post = (path: string, body: unknown) => fetch(running.url + path, { method: 'POST', headers: json, body: JSON.stringify(body) });
    expect((await post('/projects', { id: 'p1' })).status).toBe(201);
    expect((await post('/projects/p1/buckets', { name: 'b1' })).status).toBe(201);
    expect((await post('/projects/p1/buckets/b1/tables', { name: 'people', columns: PEOPLE, primary_key: ['id'] })).status).toBe(201);
  });
  afterAll(async () => {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  });
  afterEach(async () => {
    expect(await readdir(running.services.paths.filesDir)).toEqual([]);
  });

  it('streams a chunked gzip body into the table', async () => {
    const lines = ['id,name,score'];
    for (let i = 1; i <= 5000; i++) lines.push(`${i},person ${i},${i % 100}.5`);
    const gz = gzipSync(`${lines.join('\n')}\n`);
    const chunks = [];
    for (let at = 0; at < gz.length; at += 4096) chunks.push(gz.subarray(at, at + 4096));
    const { status, body } = await postChunks(`${T1()}/import`, chunks, { 'content-type': 'text/csv', 'content-encoding': 'gzip' });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ imported_rows: 5000, row_count: 5000 });
    const preview = await (await fetch(`${T1()}/preview?limit=1`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json();
    expect(preview.total_row_count).toBe(5000);
  });

  it('answers 413 while the body is still arriving and keeps the rows', async () => {
    const chunk = Buffer.from(`${'9,'.padEnd(1000, 'x')}\n`);
    const { status, body } = await postChunks(`${T1()}/import?header=false&columns=id,name`, Array.from({ length: 1000 }, () => chunk));
    expect(status).toBe(413);
    expect(body.detail.error).toBe('payload_too_large');
    const table = await (await fetch(T1(), { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json();
    expect(table.row_count).toBe(5000);
    expect(running.services.activeImports.count).toBe(0);
  });
});
