// A short soak in the suite: the same mixed traffic and the same checks as `npm run soak`
// (tests/soak/soak.ts), bounded by an operation count instead of a duration, so the
// assertions are about counts, never timings.
import { describe, expect, it } from 'vitest';
import { makeApp } from './helpers.ts';
import { runSoak } from './soak/soak.ts';

describe('soak: mixed traffic on the real server', () => {
  it('400 operations at concurrency 16: no unexpected status, invariants hold', { timeout: 240_000 }, async () => {
    const summary = await runSoak({ operations: 400, concurrency: 16, seed: 7 });
    expect(summary.unexpected_samples).toEqual([]);
    expect(summary.invariants.violations).toEqual([]);
    expect(summary.unexpected).toBe(0);
    expect(summary.statuses['500'] ?? 0).toBe(0);
    expect(summary.server_error_logs).toBe(0);
    // Every operation ran (setup requests come on top of the 400).
    const ran = Object.entries(summary.operations).filter(([op]) => op !== 'setup');
    expect(ran.reduce((sum, [, s]) => sum + s.count, 0)).toBe(400);
    for (const op of ['create_table', 'import', 'preview', 'filtered_preview', 'export', 'export_dropped', 'query_dropped', 'delete_rows', 'delete_table', 'share', 'link', 'read_linked']) {
      expect(summary.operations[op]?.count ?? 0, op).toBeGreaterThan(0);
    }
    // The traffic did real work, not only refusals.
    expect(summary.operations.create_table!.statuses['201'] ?? 0).toBeGreaterThan(0);
    expect(summary.operations.import!.statuses['200'] ?? 0).toBeGreaterThan(0);
    expect(summary.operations.export!.statuses['200'] ?? 0).toBeGreaterThan(0);
    expect(summary.invariants.checked_tables).toBeGreaterThan(0);
  });
});

describe('a long import does not get in the way of other tables', () => {
  // Regression: the full load of a keyed table read its DDL through duckdb_tables() inside
  // its transaction, which pulls every attached file into it. Until it committed, a table
  // file detached by another request could not be attached again (500 "Unique file handle
  // conflict") and a new table's CHECKPOINT failed (500 on create).
  it('reads and creates of other tables during a full load all succeed', { timeout: 120_000 }, async () => {
    const t = await makeApp();
    try {
      const columns = [
        { name: 'id', type: 'BIGINT' },
        { name: 'v', type: 'VARCHAR' },
      ];
      await t.createProject('p');
      expect((await t.callJson('POST', '/projects/p/buckets', { body: { name: 'b' } })).status).toBe(201);
      const others = ['o1', 'o2', 'o3'];
      for (const name of ['big', ...others]) {
        expect((await t.callJson('POST', '/projects/p/buckets/b/tables', { body: { name, columns, primary_key: ['id'] } })).status).toBe(201);
      }
      for (const name of others) {
        expect((await t.callJson('POST', `/projects/p/buckets/b/tables/${name}/import`, { raw: 'id,v\n1,a\n', headers: { 'content-type': 'text/csv' } })).status).toBe(200);
      }
      const lines = ['id,v'];
      for (let i = 0; i < 300_000; i++) lines.push(`${i},value ${i}`);
      const body = `${lines.join('\n')}\n`;
      let importDone = false;
      const load = t.callJson('POST', '/projects/p/buckets/b/tables/big/import', { raw: body, headers: { 'content-type': 'text/csv' } }).finally(() => (importDone = true));
      const failures: string[] = [];
      let rounds = 0;
      // Readers attach and detach the other tables over and over, a writer creates tables;
      // bounded: they stop with the import (or after 1,000 rounds each).
      const reader = async (name: string) => {
        for (let i = 0; !importDone && i < 1_000; i++, rounds++) {
          const read = await t.callJson('GET', `/projects/p/buckets/b/tables/${name}/preview`);
          if (read.status !== 200) failures.push(`preview ${read.status} ${JSON.stringify(read.body)}`);
        }
      };
      const creator = async () => {
        for (let i = 0; !importDone && i < 1_000; i++) {
          const created = await t.callJson('POST', '/projects/p/buckets/b/tables', { body: { name: `c${i}`, columns } });
          if (created.status !== 201) failures.push(`create ${created.status} ${JSON.stringify(created.body)}`);
        }
      };
      await Promise.all([...others.map(reader), creator()]);
      const loaded = await load;
      expect(loaded.status, JSON.stringify(loaded.body)).toBe(200);
      expect(loaded.body.row_count).toBe(300_000);
      expect(failures).toEqual([]);
      expect(rounds).toBeGreaterThan(1);
      // A second full load over the rows (the path that empties the keyed table first).
      const again = await t.callJson('POST', '/projects/p/buckets/b/tables/big/import', { raw: 'id,v\n7,x\n', headers: { 'content-type': 'text/csv' } });
      expect(again.body.row_count).toBe(1);
      expect((await t.callJson('GET', '/projects/p/buckets/b/tables/big')).body.primary_key).toEqual(['id']);
    } finally {
      await t.close();
    }
  });
});
