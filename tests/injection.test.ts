import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, walk, type TestApp } from './helpers.ts';

const TMP_EVIL = '/tmp/evil.duckdb';

describe('SQL injection through create-table and friends', () => {
  let t: TestApp;
  let evil: string;
  let evilCsv: string;
  let tmpEvilExisted: boolean;
  let rootBefore: string[];
  let catalogBefore: unknown;
  let victimSize: number;
  const victimPath = () => join(t.dataDir, 'duckdb', 'project_p1', 'b', 'victim.duckdb');

  const create = (body: unknown) => t.callJson('POST', '/projects/p1/buckets/b/tables', { body });

  async function attachedDatabases(): Promise<string[]> {
    return t.services.db.with(async (c) => (await c.runAndReadAll('SELECT database_name FROM duckdb_databases()')).getRowObjectsJS().map((r) => String(r.database_name)));
  }

  beforeAll(async () => {
    t = await makeApp();
    // Targets of the payloads: outside DATA_DIR but inside the walked root, and the literal /tmp one.
    evil = join(t.root, 'evil.duckdb');
    evilCsv = join(t.root, 'evil.csv');
    tmpEvilExisted = existsSync(TMP_EVIL);
    await t.createProject('p1');
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b' } });
    const victim = await create({ name: 'victim', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'x', type: 'VARCHAR' }], primary_key: ['id'] });
    expect(victim.status).toBe(201);
    const { registry, db } = t.services;
    await registry.withWriteLock(victimPath(), async () => {
      const alias = await registry.acquire(victimPath());
      try {
        await db.with((c) => c.run(`INSERT INTO "${alias}".main.data VALUES (1, 'one'), (2, 'two')`));
      } finally {
        registry.release(victimPath());
      }
    });
    for (let i = 0; i < 1000 && registry.openCount > 0; i++) await new Promise((r) => setTimeout(r, 5));
    victimSize = (await stat(victimPath())).size;
    rootBefore = await walk(t.root);
    catalogBefore = (await t.callJson('GET', '/projects/p1/buckets/b/tables')).body;
  });

  afterAll(async () => {
    // Nothing was executed: no file anywhere, no attached database, the catalog and the other table intact.
    expect(existsSync(evil)).toBe(false);
    expect(existsSync(evilCsv)).toBe(false);
    if (!tmpEvilExisted) expect(existsSync(TMP_EVIL)).toBe(false);
    const rootAfter = (await walk(t.root)).filter((p) => !p.startsWith('data/duckdb/project_p1/b/literal'));
    expect(rootAfter.filter((p) => !p.startsWith('data/metadata.duckdb'))).toEqual(rootBefore.filter((p) => !p.startsWith('data/metadata.duckdb')));
    const databases = await attachedDatabases();
    for (const name of ['e', 'y', 'x', 'evil']) expect(databases).not.toContain(name);
    const after = (await t.callJson('GET', '/projects/p1/buckets/b/tables')).body;
    expect({ ...after, tables: after.tables.filter((x: any) => !x.name.startsWith('literal')) }).toEqual({
      ...(catalogBefore as any),
      total: (catalogBefore as any).total + after.tables.filter((x: any) => x.name.startsWith('literal')).length,
    });
    const preview = await t.callJson('GET', '/projects/p1/buckets/b/tables/victim/preview');
    expect(preview.body.rows).toEqual([{ id: 1, x: 'one' }, { id: 2, x: 'two' }]);
    expect((await stat(victimPath())).size).toBe(victimSize);
    await t.close();
  });

  const columnNames = [
    'a"; DROP TABLE x; --',
    'id INTEGER); DROP TABLE data; --',
    'x" VARCHAR, "y',
    'a; ATTACH',
    "a'); DROP TABLE data; --",
  ];
  for (const name of columnNames) {
    it(`column name ${JSON.stringify(name)} → 422`, async () => {
      const res = await create({ name: 'inj', columns: [{ name, type: 'INTEGER' }] });
      expect(res.status).toBe(422);
      expect(res.body.detail.error).toBe('validation_error');
      expect(res.body.detail.details.issues[0].path).toBe('columns.0.name');
    });
  }

  const types = () => [
    'INTEGER, x VARCHAR',
    'INTEGER); DROP TABLE data; --',
    "VARCHAR(10)) ; ATTACH 'x' AS y; --",
    `INTEGER); ATTACH '${evil}' AS e; --`,
    `DECIMAL(10,2)); COPY (SELECT 1) TO '${evilCsv}'; --`,
    'INTEGER DEFAULT 1',
    'INTEGER NOT NULL',
    'INTEGER PRIMARY KEY',
    'INTEGER CHECK (1 = 1)',
    'INTEGER GENERATED ALWAYS AS (1)',
    'VARCHAR COLLATE nocase',
    "ENUM('a', 'b')",
    'INTEGER /* c */',
    'INTEGER--',
    '"INTEGER"',
    'INTE\nGER',
    'INTEGER;',
    'VARCHAR(10); DROP TABLE data',
  ];
  it('types that smuggle SQL → 422, each naming the type', async () => {
    for (const type of types()) {
      const res = await create({ name: 'inj', columns: [{ name: 'a', type }] });
      expect(res.status, type).toBe(422);
      expect(res.body.detail.details.issues[0].path, type).toBe('columns.0.type');
    }
  });

  const defaults = () => [
    `0); ATTACH '${evil}' AS e; --`,
    `0); ATTACH '${TMP_EVIL}' AS e; --`,
    `'); COPY (SELECT 1) TO '${evilCsv}'; --`,
    `0'); COPY victim TO '${evilCsv}'; --`,
    '1 + 1',
    '(SELECT 1)',
    'random()',
    "nextval('s')",
    'CURRENT_TIMESTAMP; DROP TABLE data',
    "now()); ATTACH 'x' AS y; --",
  ];
  it('defaults that smuggle SQL into a typed column → 422', async () => {
    for (const value of defaults()) {
      for (const type of ['INTEGER', 'DATE', 'BOOLEAN']) {
        const res = await create({ name: 'inj', columns: [{ name: 'a', type, default: value }] });
        expect(res.status, `${type} ${value}`).toBe(422);
        expect(res.body.detail.details.issues[0].path).toBe('columns.0.default');
      }
    }
  });

  it('the same payloads as a VARCHAR default are just text: stored verbatim, nothing executed', async () => {
    const payloads = defaults();
    const res = await create({ name: 'literal', columns: payloads.map((value, i) => ({ name: `c${i}`, type: 'VARCHAR', default: value })).concat([{ name: 'id', type: 'INTEGER' } as any]) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const path = join(t.dataDir, 'duckdb', 'project_p1', 'b', 'literal.duckdb');
    for (let i = 0; i < 1000 && t.services.registry.openCount > 0; i++) await new Promise((r) => setTimeout(r, 5));
    const instance = await DuckDBInstance.create(path);
    const c = await instance.connect();
    try {
      const tables = (await c.runAndReadAll(`SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()`)).getRowObjectsJS();
      expect(tables).toEqual([{ table_name: 'data' }]);
      await c.run('INSERT INTO main.data (id) VALUES (1)');
      const row = (await c.runAndReadAll('SELECT * EXCLUDE (id) FROM main.data')).getRowObjectsJS()[0]!;
      expect(Object.values(row)).toEqual(payloads);
    } finally {
      c.closeSync();
      instance.closeSync();
    }
  });

  it('a default holding a NUL character → 422 (it cannot be written as a literal), not 500', async () => {
    for (const value of ['a\u0000b', '\u0000', "x'\u0000); DROP TABLE data; --"]) {
      const res = await create({ name: 'inj', columns: [{ name: 'a', type: 'VARCHAR', default: value }] });
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.detail.details.issues[0].path).toBe('columns.0.default');
    }
  });

  it('a primary key naming a non-column (however hostile) → 400 invalid_primary_key', async () => {
    const res = await create({ name: 'inj', columns: [{ name: 'a', type: 'INTEGER' }], primary_key: ['a"); DROP TABLE data; --'] });
    expect(res.status).toBe(400);
    expect(res.body.detail.error).toBe('invalid_primary_key');
  });

  it('table and bucket names that smuggle SQL → 422 in body and path', async () => {
    const name = 'x"; DROP TABLE data; --';
    expect((await create({ name, columns: [{ name: 'a', type: 'INTEGER' }] })).status).toBe(422);
    expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name } })).status).toBe(422);
    expect((await t.callJson('GET', `/projects/p1/buckets/b/tables/${encodeURIComponent(name)}/preview`)).status).toBe(422);
    expect((await t.callJson('DELETE', `/projects/p1/buckets/${encodeURIComponent(name)}`)).status).toBe(422);
  });

  it('a preview limit that smuggles SQL → 422', async () => {
    for (const limit of ['1; DROP TABLE data', '1 OR 1=1', '1)', '(SELECT 1)']) {
      const res = await t.callJson('GET', `/projects/p1/buckets/b/tables/victim/preview?limit=${encodeURIComponent(limit)}`);
      expect(res.status, limit).toBe(422);
    }
  });

  it('a bucket description is data, never SQL', async () => {
    const description = `'); DROP TABLE buckets; ATTACH '${evil}' AS e; --`;
    const res = await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'described', description } });
    expect(res.status).toBe(201);
    expect((await t.callJson('GET', '/projects/p1/buckets/described')).body.description).toBe(description);
    expect((await t.call('DELETE', '/projects/p1/buckets/described')).status).toBe(204);
  });
});
