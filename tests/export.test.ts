import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkPool, recyclerOf, recycling } from '../src/http/recycle.ts';
import { startServer, writeRecycling, type RunningServer } from '../src/server.ts';
import { quoteLiteral } from '../src/storage/sql.ts';
import { ADMIN_KEY, captureLogger, makeApp, testConfig, watchConnections, type TestApp } from './helpers.ts';

const T = '/projects/p1/buckets/b1/tables';

/** Creates a table through the API, then fills it straight through DuckDB with `insert` (SQL over `data`). */
async function seed(t: Pick<TestApp, 'callJson' | 'services'>, table: string, columns: unknown[], insert: string, primaryKey: string[] = []) {
  const created = await t.callJson('POST', `${T}`, { body: { name: table, columns, primary_key: primaryKey } });
  expect(created.status).toBe(201);
  const { registry, db, paths, catalog } = t.services;
  const path = paths.tableFile('p1', 'b1', table);
  const alias = await registry.acquire(path);
  try {
    await db.with((c) => c.run(insert.replaceAll('data', `"${alias}".main.data`)));
    // As a write through the API leaves it: checkpointed, no WAL.
    await db.with((c) => c.run(`CHECKPOINT "${alias}"`));
    const n = await db.with(async (c) => Number((await c.runAndReadAll(`SELECT count(*) FROM "${alias}".main.data`)).getRows()[0]![0]));
    await catalog.setRowCount(catalog.getTable('p1', 'b1', table)!, n);
  } finally {
    registry.release(path);
  }
}

/** RFC 4180 parser that tells a quoted empty field ("") from an unquoted one (returned as null). */
function parseCsv(text: string): (string | null)[][] {
  const rows: (string | null)[][] = [];
  let row: (string | null)[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endField = () => {
    row.push(quoted || field !== '' ? field : null);
    field = '';
    quoted = false;
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"' && field === '' && !quoted) {
      quoted = true;
      i++;
      for (;;) {
        const next = text[i]!;
        if (next === '"' && text[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (next === '"') {
          i++;
          break;
        } else {
          field += next;
          i++;
        }
      }
    } else if (ch === ',') {
      endField();
      i++;
    } else if (ch === '\n' || ch === '\r') {
      endField();
      rows.push(row);
      row = [];
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += ch;
      i++;
    }
  }
  if (field !== '' || quoted || row.length) {
    endField();
    rows.push(row);
  }
  return rows;
}

const until = async (check: () => boolean | Promise<boolean>, what: string) => {
  for (let i = 0; i < 1000; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
};

const COLUMNS = [
  { name: 'id', type: 'INTEGER' },
  { name: 'name', type: 'VARCHAR' },
  { name: 'price', type: 'DECIMAL(10,2)' },
  { name: 'ts', type: 'TIMESTAMP' },
  { name: 'big', type: 'BIGINT' },
  { name: 'doc', type: 'JSON' },
  { name: 'flag', type: 'BOOLEAN' },
];
const ROWS = `INSERT INTO data VALUES
  (1, 'plain', 1.50, '2024-01-01 10:00:00', 9007199254740993, '{"a":[1,2]}', true),
  (2, '', NULL, NULL, 1, NULL, false),
  (3, NULL, 2.00, '2024-01-01 10:00:00.25', NULL, '"s"', NULL),
  (4, 'a,b "quoted"', 10.25, NULL, -7, '3', true),
  (5, 'two
lines', 7.00, '2024-02-01 00:00:00', 42, 'null', false)`;

describe('export', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } })).status).toBe(201);
    await seed(t, 'items', COLUMNS, ROWS, ['id']);
  });
  afterAll(() => t.close());

  const stagingFiles = async () => (await readdir(t.services.paths.filesDir)).filter((name) => name.startsWith('export-'));
  /** How the last export was produced, from its request log line. */
  const lastMethod = () =>
    t.logLines
      .map((line) => JSON.parse(line) as { msg?: string; export_method?: string })
      .filter((entry) => entry.msg === 'request' && entry.export_method)
      .at(-1)?.export_method;

  it('GET exports CSV with a header, RFC 4180 quoting, NULL as an empty field and "" for an empty string', async () => {
    const response = await t.call('GET', `${T}/items/export?format=csv`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="items.csv"');
    expect(response.headers.get('content-encoding')).toBeNull();
    const text = await response.text();
    const rows = parseCsv(text);
    expect(rows[0]).toEqual(['id', 'name', 'price', 'ts', 'big', 'doc', 'flag']);
    expect(rows.slice(1)).toEqual([
      ['1', 'plain', '1.50', '2024-01-01 10:00:00', '9007199254740993', '{"a":[1,2]}', 'true'],
      ['2', '', null, null, '1', null, 'false'],
      ['3', null, '2.00', '2024-01-01 10:00:00.25', null, '"s"', null],
      ['4', 'a,b "quoted"', '10.25', null, '-7', '3', 'true'],
      ['5', 'two\nlines', '7.00', '2024-02-01 00:00:00', '42', 'null', 'false'],
    ]);
    // The raw text: an empty string is "" and NULL is nothing at all.
    expect(text).toContain('\n2,"",,,1,,false\n');
    expect(text).toContain('"a,b ""quoted"""');
    await until(async () => t.services.registry.openCount === 0 && (await stagingFiles()).length === 0, 'release after a CSV export');
  });

  it('defaults to CSV and honours columns and limit in the query', async () => {
    const response = await t.call('GET', `${T}/items/export?columns=PRICE,id&limit=2`);
    expect(response.status).toBe(200);
    expect(parseCsv(await response.text())).toEqual([
      ['price', 'id'],
      ['1.50', '1'],
      [null, '2'],
    ]);
  });

  it("NDJSON of plain column types comes from DuckDB's JSON writer and matches the §7 mapping of the streamed path", async () => {
    const columns = [
      { name: 'id', type: 'BIGINT' },
      { name: 'n', type: 'INTEGER' },
      { name: 'txt', type: 'VARCHAR' },
      { name: 'amount', type: 'DECIMAL(12,2)' },
      { name: 'day', type: 'DATE' },
      { name: 'at', type: 'TIMESTAMP' },
      { name: 'ok', type: 'BOOLEAN' },
    ];
    await seed(
      t,
      'plain_types',
      [...columns, { name: 'ratio', type: 'DOUBLE' }],
      `INSERT INTO data VALUES
        (1, -5, 'a/b "q" \u2028 é' || chr(1) || chr(10), -0.05, DATE '2024-02-29', TIMESTAMP '0900-01-01 00:00:00.000120', true, 0.5),
        (9007199254740993, NULL, '', 12345678.90, NULL, TIMESTAMP '2024-01-01 10:00:00', NULL, NULL),
        (-9007199254740991, 2147483647, NULL, NULL, DATE '0001-01-01', NULL, false, 1.25)`,
    );
    const names = columns.map((c) => c.name).join(',');
    // Every column plain: DuckDB writes the file.
    const copied = await (await t.call('GET', `${T}/plain_types/export?format=ndjson&columns=${names}`)).text();
    // A DOUBLE column among them: the streamed, JS-mapped path.
    const streamed = await (await t.call('GET', `${T}/plain_types/export?format=ndjson&columns=${names},ratio`)).text();
    const parse = (text: string) => text.trimEnd().split('\n').map((line) => JSON.parse(line));
    const withoutRatio = parse(streamed).map(({ ratio: _ratio, ...rest }) => rest);
    expect(parse(copied)).toEqual(withoutRatio);
    // Same keys in the same order, and the same text for each line.
    expect(parse(copied).map((row) => Object.keys(row))).toEqual(withoutRatio.map((row) => Object.keys(row)));
    expect(copied.split('\n')[1]).toBe('{"id":"9007199254740993","n":null,"txt":"","amount":"12345678.90","day":null,"at":"2024-01-01T10:00:00","ok":null}');
    expect(parse(copied)[0]).toMatchObject({ id: 1, n: -5, amount: '-0.05', day: '2024-02-29', at: '0900-01-01T00:00:00.00012', ok: true });
    expect(parse(copied)[2]).toMatchObject({ id: -9007199254740991, n: 2147483647, txt: null, day: '0001-01-01' });
    // Sorted by the stored values (a number sort, not one of the mapped text).
    const sorted = await t.call('POST', `${T}/plain_types/export`, { body: { format: 'ndjson', columns: ['id'], order_by: [{ column: 'id', order: 'desc' }] } });
    expect(await sorted.text()).toBe('{"id":"9007199254740993"}\n{"id":1}\n{"id":-9007199254740991}\n');
  });

  it("NDJSON timestamps from DuckDB's JSON writer are the streamed path's ISO text, at the ends of the range and beyond", async () => {
    await seed(
      t,
      'stamps',
      [{ name: 'id', type: 'INTEGER' }, { name: 'at', type: 'TIMESTAMP' }, { name: 'ratio', type: 'DOUBLE' }],
      `INSERT INTO data VALUES
        (1, TIMESTAMP '0001-01-01 00:00:00', 0), (2, TIMESTAMP '9999-12-31 23:59:59.999999', 0),
        (3, TIMESTAMP '1969-12-31 23:59:59.5', 0), (4, TIMESTAMP '2024-02-29 12:00:00.000001', 0),
        (5, TIMESTAMP '2024-02-29 00:00:00', 0), (6, TIMESTAMP 'infinity', 0), (7, TIMESTAMP '-infinity', 0), (8, NULL, 0),
        (9, TIMESTAMP '1999-12-31 23:59:59.999999' + INTERVAL 1 MICROSECOND, 0), (10, TIMESTAMP '12000-06-01 08:30:00', 0)`,
    );
    const copied = await (await t.call('GET', `${T}/stamps/export?format=ndjson&columns=id,at`)).text();
    expect(lastMethod()).toBe('parts');
    const streamed = await (await t.call('GET', `${T}/stamps/export?format=ndjson&columns=id,at,ratio`)).text();
    expect(lastMethod()).toBe('rows');
    const lines = (text: string) => text.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines(copied)).toEqual(lines(streamed).map(({ ratio: _ratio, ...rest }) => rest));
    expect(lines(copied).map((row) => row.at)).toEqual([
      '0001-01-01T00:00:00',
      '9999-12-31T23:59:59.999999',
      '1969-12-31T23:59:59.5',
      '2024-02-29T12:00:00.000001',
      '2024-02-29T00:00:00',
      'infinity',
      '-infinity',
      null,
      '2000-01-01T00:00:00',
      '12000-06-01T08:30:00',
    ]);
  });

  it('exports NDJSON with the §7 value mapping', async () => {
    const response = await t.call('GET', `${T}/items/export?format=ndjson`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="items.ndjson"');
    const text = await response.text();
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines).toEqual([
      { id: 1, name: 'plain', price: '1.50', ts: '2024-01-01T10:00:00', big: '9007199254740993', doc: { a: [1, 2] }, flag: true },
      { id: 2, name: '', price: null, ts: null, big: 1, doc: null, flag: false },
      { id: 3, name: null, price: '2.00', ts: '2024-01-01T10:00:00.25', big: null, doc: 's', flag: null },
      { id: 4, name: 'a,b "quoted"', price: '10.25', ts: null, big: -7, doc: 3, flag: true },
      { id: 5, name: 'two\nlines', price: '7.00', ts: '2024-02-01T00:00:00', big: 42, doc: null, flag: false },
    ]);
    expect(Object.keys(lines[0])).toEqual(['id', 'name', 'price', 'ts', 'big', 'doc', 'flag']);
  });

  it('exports Parquet that DuckDB reads back', async () => {
    const response = await t.call('GET', `${T}/items/export?format=parquet&columns=id,name,price,ts`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/vnd.apache.parquet');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="items.parquet"');
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.subarray(0, 4).toString()).toBe('PAR1');
    const file = join(t.root, 'read-back.parquet');
    await writeFile(file, bytes);
    const rows = await t.services.db.with(async (c) =>
      (await c.runAndReadAll(`SELECT id, name, CAST(price AS VARCHAR) AS price, typeof(price) AS type, CAST(ts AS VARCHAR) AS ts FROM read_parquet(${quoteLiteral(file)}) ORDER BY id`)).getRowObjectsJS(),
    );
    expect(rows).toEqual([
      { id: 1, name: 'plain', price: '1.50', type: 'DECIMAL(10,2)', ts: '2024-01-01 10:00:00' },
      { id: 2, name: '', price: null, type: 'DECIMAL(10,2)', ts: null },
      { id: 3, name: null, price: '2.00', type: 'DECIMAL(10,2)', ts: '2024-01-01 10:00:00.25' },
      { id: 4, name: 'a,b "quoted"', price: '10.25', type: 'DECIMAL(10,2)', ts: null },
      { id: 5, name: 'two\nlines', price: '7.00', type: 'DECIMAL(10,2)', ts: '2024-02-01 00:00:00' },
    ]);
  });

  it.each(['csv', 'ndjson', 'parquet'] as const)('gzip=true gives the same %s as a .gz file', async (format) => {
    const plain = Buffer.from(await (await t.call('POST', `${T}/items/export`, { body: { format } })).arrayBuffer());
    const response = await t.call('POST', `${T}/items/export`, { body: { format, gzip: true } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="items.${format}.gz"`);
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(response.headers.get('content-type')).toBe('application/gzip');
    const gz = Buffer.from(await response.arrayBuffer());
    expect(gz.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const unzipped = gunzipSync(gz);
    if (format === 'parquet') expect(unzipped.subarray(0, 4).toString()).toBe('PAR1');
    else expect(unzipped.toString()).toBe(plain.toString());
  });

  it('GET takes gzip=true too', async () => {
    const response = await t.call('GET', `${T}/items/export?format=ndjson&gzip=true&columns=id`);
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="items.ndjson.gz"');
    expect(gunzipSync(Buffer.from(await response.arrayBuffer())).toString()).toBe('{"id":1}\n{"id":2}\n{"id":3}\n{"id":4}\n{"id":5}\n');
  });

  it('POST applies filters, order_by, columns and limit in every format', async () => {
    const body = {
      columns: ['name', 'id'],
      filters: [{ column: 'id', operator: 'not_in', values: [2] }],
      order_by: [{ column: 'price', order: 'desc' }],
      limit: 3,
    };
    const csv = await t.call('POST', `${T}/items/export`, { body: { ...body, format: 'csv' } });
    expect(parseCsv(await csv.text())).toEqual([
      ['name', 'id'],
      ['a,b "quoted"', '4'],
      ['two\nlines', '5'],
      [null, '3'],
    ]);
    const ndjson = await t.call('POST', `${T}/items/export`, { body: { ...body, format: 'ndjson' } });
    expect(await ndjson.text()).toBe('{"name":"a,b \\"quoted\\"","id":4}\n{"name":"two\\nlines","id":5}\n{"name":null,"id":3}\n');
    const parquet = await t.call('POST', `${T}/items/export`, { body: { ...body, format: 'parquet' } });
    const file = join(t.root, 'filtered.parquet');
    await writeFile(file, Buffer.from(await parquet.arrayBuffer()));
    const ids = await t.services.db.with(async (c) => (await c.runAndReadAll(`SELECT id FROM read_parquet(${quoteLiteral(file)})`)).getRowObjectsJS());
    expect(ids).toEqual([{ id: 4 }, { id: 5 }, { id: 3 }]);
  });

  it('an export of no rows is a header only (CSV) or empty (NDJSON)', async () => {
    const filters = [{ column: 'id', operator: 'gt', values: [100] }];
    expect(await (await t.call('POST', `${T}/items/export`, { body: { filters, columns: ['id', 'name'] } })).text()).toBe('id,name\n');
    expect(await (await t.call('POST', `${T}/items/export`, { body: { filters, format: 'ndjson' } })).text()).toBe('');
  });

  it('validates before the response starts', async () => {
    const cases: [string, string, unknown, string][] = [
      ['GET', `${T}/items/export?format=xml`, undefined, 'query.format'],
      ['GET', `${T}/items/export?columns=id,nope`, undefined, 'query.columns.1'],
      ['GET', `${T}/items/export?limit=0`, undefined, 'query.limit'],
      ['GET', `${T}/items/export?gzip=yes`, undefined, 'query.gzip'],
      ['POST', `${T}/items/export`, { format: 'xlsx' }, 'format'],
      ['POST', `${T}/items/export`, { filters: [{ column: 'id', operator: 'eq', values: ['x'] }] }, 'filters.0.values.0'],
      ['POST', `${T}/items/export`, { filters: [{ column: 'id', operator: 'eq', values: [] }] }, 'filters.0.values'],
      ['POST', `${T}/items/export`, { order_by: [{ column: 'nope' }] }, 'order_by.0.column'],
      ['POST', `${T}/items/export`, { gzip: 'yes' }, 'gzip'],
      ['POST', `${T}/items/export`, { limit: 0 }, 'limit'],
    ];
    for (const [method, path, body, issuePath] of cases) {
      const { status, body: error } = await t.callJson(method, path, { body });
      expect(status, `${method} ${path} ${JSON.stringify(body)}`).toBe(422);
      expect(error.detail.error).toBe('validation_error');
      expect(error.detail.details.issues[0].path).toBe(issuePath);
    }
    expect((await t.callJson('GET', `${T}/missing/export`)).body.detail.error).toBe('table_not_found');
    await until(() => t.services.registry.openCount === 0, 'release after refused exports');
    expect(await stagingFiles()).toEqual([]);
  });

  it('a failure before the first byte is an ordinary error response and releases the table', async () => {
    const { filesDir } = t.services.paths;
    await rm(filesDir, { recursive: true, force: true });
    try {
      const { status, body, response } = await t.callJson('GET', `${T}/items/export?format=csv`);
      expect(status).toBe(500);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(body.detail.error).toBe('internal_server_error');
      expect(JSON.stringify(body)).not.toContain(t.root);
    } finally {
      await mkdir(filesDir, { recursive: true });
    }
    await until(() => t.services.registry.openCount === 0, 'release after a failed export');
    expect((await t.call('GET', `${T}/items/export?format=csv`)).status).toBe(200);
  });

  it('a client gone before the export starts gets an answer at once, and the table is released', async () => {
    // The body was closed before its first pull, so the first chunk the answer waits for
    // never came: the request (and a job export, with its cancel) waited for good.
    for (const format of ['csv', 'ndjson', 'parquet']) {
      const abort = new AbortController();
      abort.abort();
      let answered = false;
      const response = t.app
        .fetch(new Request(`http://local.test${T}/items/export?format=${format}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` }, signal: abort.signal }))
        .then((r) => {
          answered = true;
          return r;
        });
      await until(() => answered, `the ${format} export to answer`);
      await (await response).body?.cancel();
      await until(() => t.services.registry.openCount === 0, 'the table to be released');
    }
    expect(await stagingFiles()).toEqual([]);
    expect((await t.call('GET', `${T}/items/export?format=csv`)).status).toBe(200);
  });

  it('an export without order_by keeps the stored row order (as imported), in every format', async () => {
    await seed(t, 'ordered', [{ name: 'id', type: 'BIGINT' }, { name: 's', type: 'VARCHAR' }], `INSERT INTO data SELECT (range * 7919) % 200003, md5(range::VARCHAR) FROM range(200000)`);
    const csv = await (await t.call('GET', `${T}/ordered/export?format=csv`)).text();
    const ids = csv.trim().split('\n').slice(1).map((line) => Number(line.split(',')[0]));
    expect(ids).toHaveLength(200000);
    expect(ids.slice(0, 5)).toEqual([0, 7919, 15838, 23757, 31676]);
    expect(ids.every((id, i) => id === (i * 7919) % 200003)).toBe(true);
    // Written in parts (two row groups, the first one split), sent in order.
    expect(lastMethod()).toBe('parts');
    const ndjson = (await (await t.call('GET', `${T}/ordered/export?format=ndjson`)).text()).trim().split('\n');
    expect(ndjson.every((line, i) => JSON.parse(line).id === (i * 7919) % 200003)).toBe(true);
    expect(lastMethod()).toBe('parts');
    // Parquet: one COPY in the export instance, in stored order although that instance runs without it.
    const parquet = Buffer.from(await (await t.call('GET', `${T}/ordered/export?format=parquet`)).arrayBuffer());
    expect(lastMethod()).toBe('attached');
    const file = join(t.root, 'ordered.parquet');
    await writeFile(file, parquet);
    const read = await t.services.db.with(async (c) => (await c.runAndReadAll(`SELECT id FROM read_parquet(${quoteLiteral(file)})`)).getRows().map((row) => Number(row[0])));
    expect(read).toHaveLength(200000);
    expect(read.every((id, i) => id === (i * 7919) % 200003)).toBe(true);
    // The connection that wrote it is back to the export instance's own setting (the parts
    // after it would otherwise hold finished batches back, and memory with them).
    const exporter = await t.services.db.exporter('whole');
    const setting = await exporter.with(async (c) => (await c.runAndReadAll(`SELECT current_setting('preserve_insertion_order')`)).getRows()[0]![0]);
    expect(setting).toBe(false);
    // With a sort: one COPY.
    await (await t.call('POST', `${T}/ordered/export`, { body: { order_by: [{ column: 'id' }] } })).text();
    expect(lastMethod()).toBe('copy');
  });

  it('a wide table is exported in parts with its memory asked for, and the export instance goes back to its own limit', async () => {
    const columns = Array.from({ length: 60 }, (_, i) => ({ name: `w${i}`, type: 'VARCHAR' }));
    await seed(t, 'wide_parts', columns, `INSERT INTO data SELECT ${columns.map((_, i) => `md5((range * 61 + ${i})::VARCHAR)`).join(', ')} FROM range(40000)`);
    const csv = await (await t.call('GET', `${T}/wide_parts/export`)).text();
    expect(lastMethod()).toBe('parts');
    const lines = csv.trimEnd().split('\n');
    expect(lines).toHaveLength(40001);
    expect(lines[0]!.split(',')).toHaveLength(60);
    const parts = await t.services.db.exporter('parts');
    const limit = async () => parts.with(async (c) => (await c.runAndReadAll(`SELECT current_setting('memory_limit')`)).getRows()[0]![0]);
    await until(async () => (await limit()) === '30.5 MiB', 'the limit to go back');
    // Two at once (each with its own share), and one cancelled after its first chunk: all given back.
    const both = await Promise.all([0, 1].map(async () => (await t.call('GET', `${T}/wide_parts/export`)).text()));
    expect(both.map((text) => text.length)).toEqual([csv.length, csv.length]);
    const reader = (await t.call('GET', `${T}/wide_parts/export`)).body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    await until(async () => t.services.registry.openCount === 0 && (await limit()) === '30.5 MiB', 'the limit to go back after a cancel');
  });

  it('a cancel while the export instance detaches the file closes no connection under a statement still running on it', async () => {
    // Found by a stress run of cancelled Parquet exports: the COPY's own clean-up gave its
    // connection back (closed, as a cancelled one) while the cancel still ran a statement on
    // it, which hung that statement or corrupted the heap. Both moments are held here.
    await seed(t, 'race', [{ name: 'id', type: 'BIGINT' }], `INSERT INTO data SELECT range FROM range(1000)`);
    const exporter = await t.services.db.exporter('whole');
    const gate = () => {
      let open!: () => void;
      let reach!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      const reached = new Promise<void>((resolve) => (reach = resolve));
      return { open, reach, opened, reached };
    };
    const detach = gate();
    const detached = gate();
    const probe = gate();
    const watched = watchConnections(exporter, async (sql, run) => {
      if (sql.startsWith('DETACH')) {
        detach.reach();
        await detach.opened;
      }
      if (sql === 'SELECT 1') {
        probe.reach();
        await probe.opened;
      }
      const result = await run();
      if (sql.startsWith('DETACH')) detached.open();
      return result;
    });
    try {
      const response = await t.call('GET', `${T}/race/export?format=parquet`);
      expect(response.status).toBe(200);
      expect(lastMethod()).toBe('attached');
      // COPY has written the file; the export instance is detaching it.
      await detach.reached;
      const cancelled = response.body!.cancel();
      // The cancel ends the COPY connection's transaction with a statement of its own.
      await probe.reached;
      // Meanwhile the DETACH ends, and the COPY's clean-up has its turn.
      detach.open();
      await detached.opened;
      await new Promise((resolve) => setImmediate(resolve));
      probe.open();
      await cancelled;
    } finally {
      watched.restore();
      detach.open();
      probe.open();
    }
    expect(watched.closedUnder).toEqual([]);
    await until(async () => t.services.registry.openCount === 0, 'the table to be released');
    const preview = await t.callJson('GET', `${T}/race/preview?limit=1`);
    expect(preview.status).toBe(200);
    expect((await (await t.call('GET', `${T}/race/export?format=parquet`)).arrayBuffer()).byteLength).toBeGreaterThan(0);
  });

  it('a Parquet export of more than 64 columns is one COPY in the main instance, and reads back', async () => {
    const columns = Array.from({ length: 65 }, (_, i) => ({ name: `c${i}`, type: 'INTEGER' }));
    await seed(t, 'wide_parquet', columns, `INSERT INTO data SELECT ${columns.map((_, i) => `range + ${i}`).join(', ')} FROM range(1000)`);
    const bytes = Buffer.from(await (await t.call('GET', `${T}/wide_parquet/export?format=parquet`)).arrayBuffer());
    expect(lastMethod()).toBe('copy');
    const file = join(t.root, 'wide.parquet');
    await writeFile(file, bytes);
    const sums = await t.services.db.with(async (c) => (await c.runAndReadAll(`SELECT count(*), sum(c0), sum(c64) FROM read_parquet(${quoteLiteral(file)})`)).getRows()[0]!.map(Number));
    expect(sums).toEqual([1000, 499500, 499500 + 64000]);
    // Fewer columns of it: the export instance.
    await (await t.call('GET', `${T}/wide_parquet/export?format=parquet&columns=c0,c1`)).arrayBuffer();
    expect(lastMethod()).toBe('attached');
  });

  it('an export while a write holds the table does not wait for it: one COPY of the committed rows', async () => {
    await seed(t, 'held', [{ name: 'id', type: 'BIGINT' }], `INSERT INTO data SELECT range FROM range(150000)`);
    const { registry, paths } = t.services;
    let finish!: () => void;
    const writing = registry.withWriteLock(paths.tableFile('p1', 'b1', 'held'), () => new Promise<void>((resolve) => (finish = resolve)));
    try {
      const csv = (await (await t.call('GET', `${T}/held/export`)).text()).trim().split('\n');
      expect(lastMethod()).toBe('copy');
      expect(csv).toHaveLength(150001);
      expect(csv.slice(1).every((line, i) => Number(line) === i)).toBe(true);
    } finally {
      finish();
      await writing;
    }
    await (await t.call('GET', `${T}/held/export`)).text();
    expect(lastMethod()).toBe('parts');
  });

  it('a table file with changes still in its WAL is exported by one COPY, changes included', async () => {
    await seed(t, 'walled', [{ name: 'id', type: 'BIGINT' }], `INSERT INTO data SELECT range FROM range(130000)`);
    const { registry, db, paths } = t.services;
    const path = paths.tableFile('p1', 'b1', 'walled');
    const alias = await registry.acquire(path);
    try {
      await db.with((c) => c.run(`INSERT INTO "${alias}".main.data SELECT range FROM range(130000, 130005)`));
      expect(existsSync(`${path}.wal`)).toBe(true);
      const csv = (await (await t.call('GET', `${T}/walled/export`)).text()).trim().split('\n');
      expect(lastMethod()).toBe('copy');
      expect(csv).toHaveLength(130006);
      expect(csv.slice(1).every((line, i) => Number(line) === i)).toBe(true);
    } finally {
      registry.release(path);
    }
  });

  it.each([
    ['replaced', 'false'],
    ['appended to', 'true'],
  ])('an export running while the table is %s shows the rows of one moment, never a mix', async (_, incremental) => {
    const table = `moment_${incremental}`;
    await seed(t, table, [{ name: 'id', type: 'BIGINT' }], `INSERT INTO data SELECT range FROM range(250000)`);
    const csv = ['id', ...Array.from({ length: 250000 }, (_, i) => String(-1 - i))].join('\n') + '\n';
    const exporting = t.call('GET', `${T}/${table}/export`).then((response) => response.text());
    const importing = t.callJson('POST', `${T}/${table}/import?incremental=${incremental}`, { raw: csv, headers: { 'content-type': 'text/csv' } });
    const [exported, imported] = await Promise.all([exporting, importing]);
    expect(imported.status).toBe(200);
    const ids = exported.trim().split('\n').slice(1).map(Number);
    const old = Array.from({ length: 250000 }, (_, i) => i);
    const fresh = Array.from({ length: 250000 }, (_, i) => -1 - i);
    const moments = incremental === 'true' ? [old, [...old, ...fresh]] : [old, fresh];
    expect(moments.some((rows) => rows.length === ids.length && rows.every((id, i) => ids[i] === id))).toBe(true);
  });

  it('streams a larger CSV byte for byte as DuckDB writes it', async () => {
    await seed(t, 'larger', [{ name: 'id', type: 'BIGINT' }, { name: 's', type: 'VARCHAR' }], `INSERT INTO data SELECT range, md5(range::VARCHAR) || ',"' FROM range(100000)`);
    const exported = Buffer.from(await (await t.call('POST', `${T}/larger/export`, { body: { order_by: [{ column: 's', order: 'desc' }] } })).arrayBuffer());
    const { registry, db, paths } = t.services;
    const path = paths.tableFile('p1', 'b1', 'larger');
    const file = join(t.root, 'larger.csv');
    const alias = await registry.acquire(path);
    try {
      await db.with((c) => c.run(`COPY (SELECT * FROM "${alias}".main.data ORDER BY s DESC) TO ${quoteLiteral(file)} (FORMAT csv, HEADER)`));
    } finally {
      registry.release(path);
    }
    const reference = await readFile(file);
    expect(exported.length).toBe(reference.length);
    expect(exported.equals(reference)).toBe(true);
  });

  it.each(['csv', 'ndjson'] as const)('a %s stream cancelled by its reader releases the table and leaves no staging file', async (format) => {
    await seed(t, `big_${format}`, [{ name: 'id', type: 'BIGINT' }, { name: 's', type: 'VARCHAR' }], `INSERT INTO data SELECT range, repeat('x', 40) FROM range(100000)`);
    const response = await t.call('GET', `${T}/big_${format}/export?format=${format}`);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    await reader.cancel();
    await until(async () => t.services.registry.openCount === 0 && (await stagingFiles()).length === 0, 'release after cancel');
    // The table is free: deleting it does not wait.
    expect((await t.call('DELETE', `${T}/big_${format}`)).status).toBe(204);
  });
  it.each([
    ['one COPY (sorted)', 'sorted', { order_by: [{ column: 's', order: 'desc' }] }],
    ['parts', 'unsorted', {}],
    ['one COPY in the export instance (Parquet)', 'unsorted_parquet', { format: 'parquet' }],
  ])('a request aborted while DuckDB writes the file stops the query and releases the table: %s', async (_, table, body) => {
    await seed(t, table, [{ name: 'id', type: 'BIGINT' }, { name: 's', type: 'VARCHAR' }], `INSERT INTO data SELECT range, md5(range::VARCHAR) FROM range(200000)`);
    const controller = new AbortController();
    const request = new Request(`http://local.test${T}/${table}/export`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    const responding = t.app.fetch(request);
    // COPY creates its file when it starts: abort while it runs.
    await until(async () => (await stagingFiles()).length > 0, 'COPY to start');
    controller.abort();
    const response = await responding;
    await until(async () => t.services.registry.openCount === 0 && (await stagingFiles()).length === 0, 'release after abort');
    // The body ends (the caller aborted it, so it does not wait for the rest).
    await response.arrayBuffer();
    expect((await t.call('DELETE', `${T}/${table}`)).status).toBe(204);
  });
});

describe('export over a real socket', () => {
  let root: string;
  let running: RunningServer;

  const callJson = async (method: string, path: string, options: { body?: unknown } = {}) => {
    const response = await fetch(running.url + path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, response };
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-export-'));
    const { logger } = captureLogger();
    running = await startServer(testConfig(join(root, 'data'), { HOST: '127.0.0.1', PORT: '0' }), logger);
    expect((await callJson('POST', '/projects', { body: { id: 'p1' } })).status).toBe(201);
    expect((await callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } })).status).toBe(201);
    for (const name of ['wide_ndjson', 'wide_csv']) {
      await seed(
        { callJson, services: running.services },
        name,
        [{ name: 'id', type: 'BIGINT' }, { name: 's', type: 'VARCHAR' }],
        `INSERT INTO data SELECT range, repeat('y', 60) FROM range(100000)`,
      );
    }
  });
  afterAll(async () => {
    await running.stop(1000);
    await rm(root, { recursive: true, force: true });
  });

  /** Starts an export, reads `bytes` of it and then drops the connection. */
  const readAndHangUp = (path: string, bytes: number) =>
    new Promise<number>((resolve, reject) => {
      const request = httpRequest(running.url + path, { headers: { authorization: `Bearer ${ADMIN_KEY}` }, agent: false }, (response) => {
        if (response.statusCode !== 200) reject(new Error(`status ${response.statusCode}`));
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received >= bytes) {
            request.destroy();
            resolve(received);
          }
        });
        response.on('end', () => reject(new Error('export ended before the hang-up')));
      });
      request.on('error', () => {});
      request.end();
    });

  it('a CSV export in parts arrives over the socket byte for byte as one ordered COPY writes it (read buffers reused)', async () => {
    await seed(
      { callJson, services: running.services },
      'socket_csv',
      [{ name: 'id', type: 'BIGINT' }, { name: 's', type: 'VARCHAR' }],
      `INSERT INTO data SELECT range, md5(range::VARCHAR) || repeat('z', range % 50) FROM range(300000)`,
    );
    const response = await fetch(`${running.url}${T}/socket_csv/export`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(response.status).toBe(200);
    const exported = Buffer.from(await response.arrayBuffer());
    const { registry, db, paths } = running.services;
    const path = paths.tableFile('p1', 'b1', 'socket_csv');
    const file = join(root, 'socket_csv.csv');
    const alias = await registry.acquire(path);
    try {
      await db.with((c) => c.run(`COPY (SELECT * FROM "${alias}".main.data) TO ${quoteLiteral(file)} (FORMAT csv, HEADER)`));
    } finally {
      registry.release(path);
    }
    const reference = await readFile(file);
    // Several part files and many 1 MB chunks.
    expect(reference.length).toBeGreaterThan(10 * 1024 * 1024);
    expect(exported.length).toBe(reference.length);
    expect(exported.equals(reference)).toBe(true);
  });

  it.each([
    ['ndjson', 'wide_ndjson'],
    ['csv', 'wide_csv'],
  ])('a client that hangs up mid-%s stops the export and frees the table for DELETE', async (format, table) => {
    const received = await readAndHangUp(`${T}/${table}/export?format=${format}`, 8 * 1024);
    expect(received).toBeGreaterThanOrEqual(8 * 1024);
    const { registry, paths } = running.services;
    await until(async () => registry.openCount === 0 && !(await readdir(paths.filesDir)).some((f) => f.startsWith('export-')), 'the export to let go');
    const deleted = await fetch(`${running.url}${T}/${table}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(deleted.status).toBe(204);
  });
});

describe('export bodies written by the server (read buffers handed back)', () => {
  it('a pool hands a buffer out again only after it came back, once, and ignores chunks it did not give', () => {
    const pool = new ChunkPool(16, 2);
    const a = pool.take();
    const b = pool.take();
    expect(a.buffer).not.toBe(b.buffer);
    // A view of a buffer brings the whole buffer back; a second give of it changes nothing.
    pool.give(a.subarray(0, 5));
    pool.give(a);
    pool.give(Buffer.alloc(16));
    const c = pool.take();
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(16);
    // Nothing else came back: the next one is new, not `a` a second time or `b` still out.
    const d = pool.take();
    expect([a.buffer, b.buffer]).not.toContain(d.buffer);
    // At most `keep` wait for reuse.
    pool.give(b);
    pool.give(c);
    pool.give(d);
    const again = [pool.take(), pool.take(), pool.take()].map((x) => x.buffer);
    expect(again.filter((x) => [b.buffer, c.buffer, d.buffer].includes(x))).toHaveLength(2);
  });

  /** A server whose only response is `body()` written by writeRecycling. */
  async function serve(body: () => { stream: ReadableStream<Uint8Array>; recycled: Uint8Array[] }) {
    const bodies: { stream: ReadableStream<Uint8Array>; recycled: Uint8Array[] }[] = [];
    const server: Server = createServer((req, res) => {
      const made = body();
      bodies.push(made);
      void writeRecycling(new Response(made.stream, { status: 200, headers: { 'content-type': 'text/plain' } }), req, res, recyclerOf(made.stream)!);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return { url, bodies, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it('sends every chunk as it was when handed over, and hands each back only once the socket has it', async () => {
    const pool = new ChunkPool(256 * 1024);
    const total = 40;
    const buffers = new Set<ArrayBufferLike>();
    const { url, bodies, close } = await serve(() => {
      const recycled: Uint8Array[] = [];
      let i = 0;
      const stream = recycling(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (i === total) return controller.close();
            // Each chunk filled with its own number: a buffer reused before its bytes left shows as wrong bytes.
            const buffer = pool.take().fill(i % 251);
            buffers.add(buffer.buffer);
            controller.enqueue(i % 3 === 2 ? buffer.subarray(0, 100_000) : buffer);
            i++;
          },
        }),
        (chunk) => {
          recycled.push(chunk);
          pool.give(chunk);
        },
      );
      return { stream, recycled };
    });
    try {
      const received = await new Promise<Buffer>((resolve, reject) => {
        httpRequest(url, (response) => {
          const chunks: Buffer[] = [];
          // A slow reader, so that writes queue up behind the socket.
          response.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            response.pause();
            setImmediate(() => response.resume());
          });
          response.on('end', () => resolve(Buffer.concat(chunks)));
          response.on('error', reject);
        })
          .on('error', reject)
          .end();
      });
      const expected = Buffer.concat(Array.from({ length: total }, (_, i) => Buffer.alloc(i % 3 === 2 ? 100_000 : 256 * 1024, i % 251)));
      expect(received.length).toBe(expected.length);
      expect(received.equals(expected)).toBe(true);
      // Every chunk came back, and buffers were reused (far fewer than one per chunk).
      expect(bodies[0]!.recycled).toHaveLength(total);
      expect(buffers.size).toBeLessThan(total / 4);
    } finally {
      await close();
    }
  });

  it('a body that fails after the headers destroys the socket (the client sees a cut transfer), and a client that hangs up cancels the body', async () => {
    let cancelled = false;
    let fail = true;
    const { url, close } = await serve(() => {
      let sent = 0;
      const stream = recycling(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent++ < 3) return controller.enqueue(Buffer.alloc(64 * 1024, 120));
            if (fail) return controller.error(new Error('disk went away'));
            // Slow and endless: only a cancel ends it.
            return new Promise((resolve) => setTimeout(() => resolve(controller.enqueue(Buffer.alloc(1024, 121))), 5));
          },
          cancel() {
            cancelled = true;
          },
        }),
        () => {},
      );
      return { stream, recycled: [] };
    });
    try {
      const outcome = await new Promise<string>((resolve) => {
        httpRequest(url, (response) => {
          response.on('data', () => {});
          response.on('end', () => resolve('ended'));
          response.on('error', () => resolve('broken'));
          response.on('aborted', () => resolve('broken'));
        })
          .on('error', () => resolve('broken'))
          .end();
      });
      expect(outcome).toBe('broken');
      fail = false;
      await new Promise<void>((resolve) => {
        const request = httpRequest(url, { agent: false }, (response) => {
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > 3 * 64 * 1024) {
              request.destroy();
              resolve();
            }
          });
        });
        request.on('error', () => {});
        request.end();
      });
      await until(() => cancelled, 'the body to be cancelled');
    } finally {
      await close();
    }
  });
});

describe('an export while the service closes', () => {
  it('closing the services under a running COPY closes its connection only once the COPY has ended, and the export still completes', async () => {
    // Found by reading: Database.close() closed every connection it had handed out, also
    // one whose statement still ran in the thread pool (an export whose client went away
    // during shutdown, or a job export stopped by it): DuckDB then used a freed connection.
    const app = await makeApp();
    const copy = { reach: () => {}, open: () => {} };
    const reached = new Promise<void>((resolve) => (copy.reach = resolve));
    const opened = new Promise<void>((resolve) => (copy.open = resolve));
    try {
      await app.createProject('p1');
      expect((await app.callJson('POST', '/projects/p1/buckets', { body: { name: 'b1' } })).status).toBe(201);
      await seed(app, 'closing', [{ name: 'id', type: 'BIGINT' }], 'INSERT INTO data SELECT range FROM range(1000)');
      const watched = watchConnections(app.services.db, async (sql, run) => {
        if (sql.startsWith('COPY')) {
          copy.reach();
          await opened;
        }
        return run();
      });
      // A limit makes it one COPY in the main instance.
      const response = app.call('GET', `${T}/closing/export?format=csv&limit=500`);
      await reached;
      await app.services.close();
      copy.open();
      const answered = await response;
      expect(answered.status).toBe(200);
      expect((await answered.text()).trimEnd().split('\n')).toHaveLength(501);
      expect(watched.closedUnder).toEqual([]);
    } finally {
      copy.open();
      await app.close();
    }
  });
});
