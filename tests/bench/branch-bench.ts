/**
 * Branch benchmark (§14), on the bench's shared server: creating a branch with 10 and with
 * 2,000 tables in the project (p50 over 30 creates each: a branch copies nothing, so the two
 * should be alike), and the first write to a 1,000,000-row table in a branch against `cp` of
 * that file on the same disk (median of 5 rounds of each, taking turns, each first write in a
 * fresh branch). The write is a delete-rows that matches no row, so what the first one costs
 * beyond the second (`clone_ms`) is the clone of the file and nothing else.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { expectStatus, percentile, round, sequential, throughput, type BenchContext, type SectionResult } from './bench.ts';
import { median } from './common.ts';

const BUCKET = 'in_c_branches';
const ROWS = 1_000_000;
const ROUNDS = 5;

async function tablesUpTo(ctx: BenchContext, from: number, to: number): Promise<void> {
  const P = `/projects/${ctx.projectId}`;
  await throughput(8, to - from, async (i) => {
    const res = await ctx.request('POST', `${P}/buckets/${BUCKET}/tables`, { name: `t_${from + i}`, columns: [{ name: 'id', type: 'BIGINT' }, { name: 'v', type: 'VARCHAR' }] });
    expectStatus(res, 201, 'create table');
  });
}

async function branchCreates(ctx: BenchContext, label: string): Promise<number> {
  const P = `/projects/${ctx.projectId}`;
  const samples = await sequential(30, async (i) => expectStatus(await ctx.request('POST', `${P}/branches`, { name: `${label}_${i}` }), 201, 'create branch'));
  return round(percentile(samples, 50));
}

export async function branchBench(ctx: BenchContext): Promise<SectionResult> {
  const P = `/projects/${ctx.projectId}`;
  expectStatus(await ctx.request('POST', `${P}/buckets`, { name: BUCKET }), 201, 'create bucket');
  await tablesUpTo(ctx, 0, 10);
  const create10 = await branchCreates(ctx, 'b10');
  await tablesUpTo(ctx, 10, 2000);
  const create2000 = await branchCreates(ctx, 'b2000');

  // A 1M-row keyed table, loaded from a Parquet file made by DuckDB here.
  const work = await mkdtemp(join(tmpdir(), 'dsa-branch-bench-'));
  try {
    const parquet = join(work, 'big.parquet');
    const instance = await DuckDBInstance.create(':memory:');
    const c = await instance.connect();
    await c.run(`COPY (SELECT i AS id, md5(i::VARCHAR) AS name, (i % 100000) / 100.0 AS amount, TIMESTAMP '2024-01-01' + to_seconds(i) AS ts FROM range(${ROWS}) r(i)) TO '${parquet}' (FORMAT parquet)`);
    c.closeSync();
    instance.closeSync();
    const columns = [{ name: 'id', type: 'BIGINT' }, { name: 'name', type: 'VARCHAR' }, { name: 'amount', type: 'DECIMAL(12,2)' }, { name: 'ts', type: 'TIMESTAMP' }];
    expectStatus(await ctx.request('POST', `${P}/buckets/${BUCKET}/tables`, { name: 'big', columns, primary_key: ['id'] }), 201, 'create big');
    const loaded = await ctx.fetch(`${P}/buckets/${BUCKET}/tables/big/import?format=parquet`, { method: 'POST', body: await readFile(parquet), headers: { 'content-type': 'application/vnd.apache.parquet' } });
    if (loaded.status !== 200) throw new Error(`import big: ${loaded.status} ${await loaded.text()}`);
    await loaded.body?.cancel();
    const file = join(ctx.dataDir, 'duckdb', `project_${ctx.projectId}`, BUCKET, 'big.duckdb');
    const bytes = (await stat(file)).size;

    // Each round a cp of the file, then the first and a second write in a fresh branch: the
    // two sides take turns, so both see what the disk is writing back at the time.
    const cp: number[] = [];
    const firstWrite: number[] = [];
    const laterWrite: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const target = join(work, `copy_${i}.duckdb`);
      const started = performance.now();
      execFileSync('cp', [file, target]);
      cp.push(performance.now() - started);
      await rm(target, { force: true });
      const branch = await ctx.request('POST', `${P}/branches`, { name: `write_${i}` });
      expectStatus(branch, 201, 'create branch');
      const rows = `${P}/branches/${branch.body.id}/buckets/${BUCKET}/tables/big/delete-rows`;
      for (const samples of [firstWrite, laterWrite]) {
        const started = performance.now();
        expectStatus(await ctx.request('POST', rows, { filters: [{ column: 'id', operator: 'eq', values: [-1] }] }), 200, 'delete-rows in a branch');
        samples.push(performance.now() - started);
      }
      expectStatus(await ctx.request('DELETE', `${P}/branches/${branch.body.id}`), 204, 'delete branch');
    }
    const cpMs = round(median(cp));
    const firstMs = round(median(firstWrite));
    const cloneMs = round(median(firstWrite.map((first, i) => first - laterWrite[i]!)));
    return {
      figures: {
        'branches.create_p50_ms_10_tables': create10,
        'branches.create_p50_ms_2000_tables': create2000,
        'branches.create_ratio_2000_vs_10': round(create2000 / create10),
        'branches.table_file_mb': round(bytes / 1e6, 1),
        'branches.cp_ms': cpMs,
        'branches.first_write_ms': firstMs,
        'branches.later_write_ms': round(median(laterWrite)),
        'branches.clone_ms': cloneMs,
        'branches.first_write_vs_cp': round(firstMs / cpMs),
        'branches.clone_vs_cp': round(cloneMs / cpMs),
      },
      targets: {
        'branches.create_p50_ms_10_tables': { max: 20 },
        'branches.create_p50_ms_2000_tables': { max: 20 },
        'branches.create_ratio_2000_vs_10': { max: 2 },
        'branches.clone_vs_cp': { max: 1.2 },
      },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
