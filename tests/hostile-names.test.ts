import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HandlerContext } from '../src/context.ts';
import { HttpError } from '../src/http/errors.ts';
import { bucketFromPath, scopedProject, tableFromPath } from '../src/http/lookup.ts';
import { StorageSession } from '../src/storage/session.ts';
import { makeApp, walk, type TestApp } from './helpers.ts';

/** A marker in every escaping name, so that a file created outside the root can be found. */
const MARK = `h3esc${randomBytes(4).toString('hex')}`;

/** Bucket and table names the contract refuses (1–96 of [A-Za-z0-9_-], first a letter or digit). */
const HOSTILE_NAMES: [string, string][] = [
  ['dot-dot', '..'],
  ['dot', '.'],
  ['slash', '/'],
  ['backslash', '\\'],
  ['escape up', `../${MARK}`],
  ['escape up twice', `../../${MARK}`],
  ['backslash escape', `..\\${MARK}`],
  ['absolute', `/tmp/${MARK}`],
  ['encoded slash', '%2F'],
  ['encoded slash inside', `a%2F${MARK}`],
  ['encoded dot-dot', '%2e%2e'],
  ['encoded NUL', '%00'],
  ['NUL', 'a\u0000b'],
  ['NUL only', '\u0000'],
  ['space inside', 'in c sales'],
  ['leading space', ' sales'],
  ['trailing space', 'sales '],
  ['newline', 'sales\n'],
  ['Cyrillic a', 's\u0430les'],
  ['fullwidth s', '\uff53ales'],
  ['accented', 'caf\u00e9'],
  ['97 characters', 'a'.repeat(97)],
  ['leading dash', '-sales'],
  ['leading underscore', '_sales'],
  ['empty', ''],
  ['dot inside', 'a.b'],
  ['trailing dot', 'sales.'],
  ['colon', 'c:sales'],
  ['asterisk', 'sal*s'],
  ['quote', 'sal"es'],
  ['semicolon', 'a;b'],
];

/** Column names the contract refuses (1–64 of [A-Za-z0-9_], first a letter or _). */
const HOSTILE_COLUMNS: [string, string][] = [
  ['empty', ''],
  ['space', 'a b'],
  ['dash', 'a-b'],
  ['leading digit', '1a'],
  ['dot', 'a.b'],
  ['double quote', 'a"b'],
  ['single quote', "a'b"],
  ['NUL', 'a\u0000'],
  ['Cyrillic', '\u0430'],
  ['fullwidth', '\uff41'],
  ['65 characters', 'c'.repeat(65)],
  ['path', `../${MARK}`],
  ['slash', 'a/b'],
  ['backslash', 'a\\b'],
  ['semicolon', 'a;b'],
  ['newline', 'a\nb'],
];

/** Project ids the contract refuses (1–64 of [A-Za-z0-9_-]). */
const HOSTILE_PROJECTS: [string, string][] = [
  ['dot-dot', '..'],
  ['dot', '.'],
  ['escape', `../${MARK}`],
  ['slash', 'a/b'],
  ['backslash', 'a\\b'],
  ['dot inside', 'a.b'],
  ['space', 'a b'],
  ['NUL', 'a\u0000b'],
  ['encoded slash', '%2F'],
  ['Cyrillic', 'p\u0430'],
  ['fullwidth', '\uff501'],
  ['65 characters', 'p'.repeat(65)],
  ['empty', ''],
];

function expectValidation(res: { status: number; body: any }, label: string) {
  expect(res.status, `${label}: ${JSON.stringify(res.body)}`).toBe(422);
  expect(res.body.detail.error, label).toBe('validation_error');
}

/** A path segment as a client would send it; dot segments cannot be sent as such (see below). */
const seg = (name: string) => encodeURIComponent(name);

/** Everything outside DATA_DIR (the root holds only `data/`), plus a shallow look at the root's parent. */
async function outsideSnapshot(t: TestApp): Promise<{ root: string[]; parentMarked: string[] }> {
  const root = (await walk(t.root)).filter((p) => p !== 'data' && !p.startsWith('data/'));
  const parentMarked = (await readdir(dirname(t.root))).filter((name) => name.includes(MARK));
  return { root, parentMarked };
}

describe('hostile bucket and table names', () => {
  let t: TestApp;
  let before: { root: string[]; parentMarked: string[] };
  let duckdbBefore: string[];
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    expect((await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b' } })).status).toBe(201);
    expect((await t.callJson('POST', '/projects/p1/buckets/b/tables', { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }] } })).status).toBe(201);
    before = await outsideSnapshot(t);
    duckdbBefore = await walk(join(t.dataDir, 'duckdb'));
  });
  afterAll(async () => {
    // Nothing appeared outside DATA_DIR, and nothing changed in the table layout.
    expect(await outsideSnapshot(t)).toEqual(before);
    expect(await walk(join(t.dataDir, 'duckdb'))).toEqual(duckdbBefore);
    expect(t.services.registry.openCount).toBe(0);
    await t.close();
  });

  for (const [label, name] of HOSTILE_NAMES) {
    it(`bucket name in the body: ${label}`, async () => {
      expectValidation(await t.callJson('POST', '/projects/p1/buckets', { body: { name } }), label);
    });

    it(`table name in the body: ${label}`, async () => {
      expectValidation(await t.callJson('POST', '/projects/p1/buckets/b/tables', { body: { name, columns: [{ name: 'id', type: 'INTEGER' }] } }), label);
    });

    // `.` and `..` are dot segments: the URL parser resolves them before any routing, so
    // they can never arrive as a name (checked at the handler level below).
    if (name === '.' || name === '..' || name === '') continue;

    it(`bucket name in the URL path: ${label}`, async () => {
      const b = seg(name);
      expectValidation(await t.callJson('GET', `/projects/p1/buckets/${b}`), `GET ${label}`);
      expectValidation(await t.callJson('DELETE', `/projects/p1/buckets/${b}`), `DELETE ${label}`);
      expectValidation(await t.callJson('GET', `/projects/p1/buckets/${b}/tables`), `GET tables ${label}`);
      expectValidation(
        await t.callJson('POST', `/projects/p1/buckets/${b}/tables`, { body: { name: 'ok', columns: [{ name: 'id', type: 'INTEGER' }] } }),
        `POST table ${label}`,
      );
      expectValidation(await t.callJson('GET', `/projects/p1/buckets/${b}/tables/t/preview`), `preview ${label}`);
    });

    it(`table name in the URL path: ${label}`, async () => {
      const n = seg(name);
      expectValidation(await t.callJson('GET', `/projects/p1/buckets/b/tables/${n}`), `GET ${label}`);
      expectValidation(await t.callJson('DELETE', `/projects/p1/buckets/b/tables/${n}`), `DELETE ${label}`);
      expectValidation(await t.callJson('GET', `/projects/p1/buckets/b/tables/${n}/preview`), `preview ${label}`);
    });
  }

  it('raw (unencoded) hostile segments in the URL: 422, or 404 not_found once the URL parser resolved dot segments', async () => {
    const raw = ['%2e%2e', '%2E%2e', '.%2e', '..', '.', '%2F', 'a%2Fb', '%00', 'a%00b', 'a%5Cb', '%5C', 'a%20b', 's%D0%B0les', '%EF%BD%93ales'];
    for (const r of raw) {
      for (const [method, path] of [
        ['GET', `/projects/p1/buckets/${r}/tables`],
        ['GET', `/projects/p1/buckets/${r}/tables/t`],
        ['GET', `/projects/p1/buckets/b/tables/${r}/preview`],
        ['POST', `/projects/p1/buckets/${r}/tables`],
      ] as const) {
        const res = await t.callJson(method, path, method === 'POST' ? { body: { name: 'zz', columns: [{ name: 'id', type: 'INTEGER' }] } } : {});
        const label = `${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`;
        expect([404, 405, 422], label).toContain(res.status);
        if (res.status !== 422) expect(['not_found', 'method_not_allowed', 'bucket_not_found', 'table_not_found'], label).toContain(res.body.detail.error);
      }
    }
  });

  it('exactly 96 characters, a leading digit, inner - and _ are accepted (the boundary)', async () => {
    // Created and removed again, so the layout snapshot still matches at the end.
    for (const name of ['b'.repeat(96), '9lives', 'in-c_sales']) {
      const created = await t.callJson('POST', '/projects/p1/buckets', { body: { name } });
      expect(created.status, name).toBe(201);
      const table = await t.callJson('POST', `/projects/p1/buckets/${name}/tables`, { body: { name, columns: [{ name: 'id', type: 'INTEGER' }] } });
      expect(table.status, name).toBe(201);
      expect((await t.callJson('GET', `/projects/p1/buckets/${name}/tables/${name}`)).status).toBe(200);
      expect((await t.call('DELETE', `/projects/p1/buckets/${name}`)).status).toBe(204);
    }
  });

  it('no hostile name reached the catalog', async () => {
    const buckets = (await t.callJson('GET', '/projects/p1/buckets')).body.buckets.map((x: any) => x.name);
    expect(buckets).toEqual(['b']);
    const tables = (await t.callJson('GET', '/projects/p1/buckets/b/tables')).body.tables.map((x: any) => x.name);
    expect(tables).toEqual(['t']);
  });
});

describe('hostile path parameters reach the lookups as raw strings', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b' } });
  });
  afterAll(() => t.close());

  // The URL parser removes `.`/`..` segments before routing; a handler embedded in another
  // server may still be handed them, so the lookups must refuse them on their own.
  function ctxWith(params: Record<string, string>): HandlerContext {
    return { services: t.services, requestId: 'raw', params, storage: new StorageSession(t.services.registry), log: t.services.logger, logFields: {} };
  }

  function expect422(work: () => unknown, label: string) {
    try {
      work();
    } catch (error) {
      expect(error, label).toBeInstanceOf(HttpError);
      expect((error as HttpError).status, label).toBe(422);
      expect((error as HttpError).code, label).toBe('validation_error');
      return;
    }
    throw new Error(`${label}: accepted`);
  }

  it('bucket and table names', () => {
    for (const [label, name] of HOSTILE_NAMES) {
      expect422(() => bucketFromPath(ctxWith({ id: 'p1', bucket: name })), `bucket ${label}`);
      expect422(() => tableFromPath(ctxWith({ id: 'p1', bucket: 'b', table: name })), `table ${label}`);
    }
  });

  it('project ids', () => {
    for (const [label, id] of HOSTILE_PROJECTS) expect422(() => scopedProject(ctxWith({ id })), `project ${label}`);
  });
});

describe('hostile column names', () => {
  let t: TestApp;
  let before: { root: string[]; parentMarked: string[] };
  let duckdbBefore: string[];
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    await t.callJson('POST', '/projects/p1/buckets', { body: { name: 'b' } });
    before = await outsideSnapshot(t);
    duckdbBefore = await walk(join(t.dataDir, 'duckdb'));
  });
  afterAll(async () => {
    expect(await outsideSnapshot(t)).toEqual(before);
    expect(await walk(join(t.dataDir, 'duckdb'))).toEqual(duckdbBefore);
    await t.close();
  });

  for (const [label, name] of HOSTILE_COLUMNS) {
    it(`column name: ${label}`, async () => {
      const res = await t.callJson('POST', '/projects/p1/buckets/b/tables', {
        body: { name: 'cols', columns: [{ name: 'ok', type: 'INTEGER' }, { name, type: 'INTEGER' }] },
      });
      expectValidation(res, label);
      expect(res.body.detail.details.issues[0].path).toBe('columns.1.name');
    });
  }

  it('a hostile primary-key entry is not a column: 400 invalid_primary_key', async () => {
    const res = await t.callJson('POST', '/projects/p1/buckets/b/tables', {
      body: { name: 'cols', columns: [{ name: 'a', type: 'INTEGER' }], primary_key: [`../${MARK}`] },
    });
    expect(res.status).toBe(400);
    expect(res.body.detail.error).toBe('invalid_primary_key');
  });

  it('a leading underscore and 64 characters are fine (the boundary)', async () => {
    const res = await t.callJson('POST', '/projects/p1/buckets/b/tables', {
      body: { name: 'edge', columns: [{ name: '_a', type: 'INTEGER' }, { name: 'C'.repeat(64), type: 'INTEGER' }] },
    });
    expect(res.status).toBe(201);
    expect(res.body.columns.map((c: any) => c.name)).toEqual(['_a', 'C'.repeat(64)]);
    expect((await t.call('DELETE', '/projects/p1/buckets/b/tables/edge')).status).toBe(204);
  });
});

describe('hostile project ids', () => {
  let t: TestApp;
  let before: { root: string[]; parentMarked: string[] };
  beforeAll(async () => {
    t = await makeApp();
    await t.createProject('p1');
    before = await outsideSnapshot(t);
  });
  afterAll(async () => {
    expect(await outsideSnapshot(t)).toEqual(before);
    expect((await walk(join(t.dataDir, 'duckdb'))).filter((p) => !p.startsWith('project_p1') && !p.startsWith('project_-p') && !p.startsWith('project__p'))).toEqual([]);
    await t.close();
  });

  for (const [label, id] of HOSTILE_PROJECTS) {
    it(`project id in the body: ${label}`, async () => {
      expectValidation(await t.callJson('POST', '/projects', { body: { id } }), label);
    });

    if (id === '.' || id === '..' || id === '') continue;
    it(`project id in the URL path: ${label}`, async () => {
      const p = seg(id);
      expectValidation(await t.callJson('GET', `/projects/${p}/buckets`), `list ${label}`);
      expectValidation(await t.callJson('POST', `/projects/${p}/buckets`, { body: { name: 'b' } }), `create ${label}`);
      expectValidation(await t.callJson('GET', `/projects/${p}/buckets/b/tables/t`), `table ${label}`);
    });
  }

  it('ids may start with - or _ and stay inside the DuckDB folder', async () => {
    for (const id of ['-p', '_p']) {
      await t.createProject(id);
      expect((await t.callJson('POST', `/projects/${id}/buckets`, { body: { name: 'b' } })).status).toBe(201);
      const dirs = await walk(join(t.dataDir, 'duckdb'));
      expect(dirs).toContain(`project_${id}/b`);
    }
  });
});
