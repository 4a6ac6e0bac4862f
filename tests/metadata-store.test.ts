// The §12 metadata catalog module on its own: records survive a restart, bundles replace a
// table's metadata in one go, renames and drops of columns, tables, buckets and projects.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAIN_BRANCH, type MetadataTarget } from '../src/storage/catalog/metadata.ts';
import { makeApp, type TestApp } from './helpers.ts';

const at = (table: string | null, column: string | null = null, bucket = 'in_c_b'): MetadataTarget => ({ projectId: 'p1', branch: MAIN_BRANCH, bucket, table, column });

describe('MetadataStore', () => {
  let root: string;
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function open() {
    t = await makeApp({ root });
    return t.services.metadata;
  }

  /** The objects the records describe: a restart prunes metadata of objects that do not exist. */
  async function objects() {
    await t!.createProject('p1');
    for (const name of ['in_c_b', 'other']) expect((await t!.callJson('POST', '/projects/p1/buckets', { body: { name } })).status).toBe(201);
    const columns = [{ name: 'c1', type: 'INTEGER' }, { name: 'a', type: 'INTEGER' }];
    for (const name of ['t1', 't2']) expect((await t!.callJson('POST', '/projects/p1/buckets/in_c_b/tables', { body: { name, columns } })).status).toBe(201);
  }

  it('upserts by (provider, key), sorts, removes, and keeps everything across a restart', async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-meta-'));
    let m = await open();
    await objects();
    expect(await m.upsert(at(null), 'user', [{ key: 'b', value: '1' }, { key: 'a', value: '2' }, { key: 'b', value: '3' }], '2026-01-01T00:00:00.000Z')).toEqual([
      { provider: 'user', key: 'a', value: '2', updatedAt: '2026-01-01T00:00:00.000Z' },
      { provider: 'user', key: 'b', value: '3', updatedAt: '2026-01-01T00:00:00.000Z' },
    ]);
    await m.upsert(at(null), 'airflow', [{ key: 'z', value: 'x' }], '2026-01-02T00:00:00.000Z');
    await m.upsert(at('t1'), 'user', [{ key: 'k', value: 'table' }], 'now');
    await m.upsert(at('t1', 'c1'), 'user', [{ key: 'k', value: 'col' }], 'now');
    expect(m.list(at(null)).map((e) => `${e.provider}/${e.key}`)).toEqual(['airflow/z', 'user/a', 'user/b']);
    expect(await m.remove(at(null), 'user', 'a')).toBe(true);
    expect(await m.remove(at(null), 'user', 'a')).toBe(false);
    // Names are matched without regard to case.
    expect(m.list({ ...at('T1', 'C1'), bucket: 'IN_C_B' })).toHaveLength(1);
    await t!.close();
    t = undefined;
    m = await open();
    expect(m.list(at(null)).map((e) => `${e.provider}/${e.key}=${e.value}`)).toEqual(['airflow/z=x', 'user/b=3']);
    expect(m.tableBundle('p1', MAIN_BRANCH, 'in_c_b', 't1')).toEqual({
      table: [{ provider: 'user', key: 'k', value: 'table', updatedAt: 'now' }],
      columns: { c1: [{ provider: 'user', key: 'k', value: 'col', updatedAt: 'now' }] },
    });
  });

  it('a restart drops metadata of objects that no longer exist', async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-meta-'));
    let m = await open();
    await objects();
    await m.upsert(at('t1', 'c1'), 'user', [{ key: 'k', value: '1' }], 'x');
    await m.upsert(at('t1', 'nope'), 'user', [{ key: 'k', value: '1' }], 'x');
    await m.upsert(at('t9'), 'user', [{ key: 'k', value: '1' }], 'x');
    await m.upsert(at(null, null, 'in_c_none'), 'user', [{ key: 'k', value: '1' }], 'x');
    await m.upsert({ ...at(null), projectId: 'nobody' }, 'user', [{ key: 'k', value: '1' }], 'x');
    await m.upsert({ ...at(null), branch: 'dev' }, 'user', [{ key: 'k', value: '1' }], 'x');
    await t!.close();
    t = undefined;
    m = await open();
    expect(m.all().map((r) => [r.projectId, r.branch, r.bucket, r.table, r.column])).toEqual([
      ['p1', MAIN_BRANCH, 'in_c_b', 't1', 'c1'],
      ['p1', 'dev', 'in_c_b', null, null],
    ]);
  });

  it('replaces a bundle, renames and drops columns, drops tables, buckets and projects', async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-meta-'));
    let m = await open();
    await objects();
    await m.upsert(at('t1'), 'user', [{ key: 'old', value: '1' }], 'then');
    await m.upsert(at('t1', 'gone'), 'user', [{ key: 'old', value: '1' }], 'then');
    const bundle = { table: [{ provider: 'user', key: 'k', value: 'v', updatedAt: 'x' }], columns: { a: [{ provider: 'p', key: 'k', value: 'va', updatedAt: 'x' }] } };
    await m.replaceTableBundle('p1', MAIN_BRANCH, 'in_c_b', 't1', bundle);
    expect(m.tableBundle('p1', MAIN_BRANCH, 'in_c_b', 't1')).toEqual(bundle);
    await m.renameColumn('p1', MAIN_BRANCH, 'in_c_b', 't1', 'a', 'b');
    expect(m.tableBundle('p1', MAIN_BRANCH, 'in_c_b', 't1').columns).toEqual({ b: bundle.columns.a });
    await m.dropColumn('p1', MAIN_BRANCH, 'in_c_b', 't1', 'b');
    expect(m.tableBundle('p1', MAIN_BRANCH, 'in_c_b', 't1').columns).toEqual({});
    await m.upsert(at('t2'), 'user', [{ key: 'k', value: '1' }], 'x');
    await m.upsert(at(null), 'user', [{ key: 'k', value: '1' }], 'x');
    await m.upsert(at(null, null, 'other'), 'user', [{ key: 'k', value: '1' }], 'x');
    await m.dropTable('p1', MAIN_BRANCH, 'in_c_b', 't1');
    expect(m.list(at('t1'))).toEqual([]);
    expect(m.list(at('t2'))).toHaveLength(1);
    await m.dropBucket('p1', MAIN_BRANCH, 'in_c_b');
    expect(m.list(at('t2'))).toEqual([]);
    expect(m.list(at(null))).toEqual([]);
    expect(m.list(at(null, null, 'other'))).toHaveLength(1);
    await m.dropProject('P1');
    expect(m.all()).toEqual([]);
    await t!.close();
    t = undefined;
    m = await open();
    expect(m.all()).toEqual([]);
  });
});
