/**
 * Memory benchmark: the real server in a process of its own, its resident memory at start,
 * at its peak during three imports of a 1M-row CSV (~50 MB each) into keyed tables, and
 * after 10 s idle. DuckDB's memory should go back once the files are idle (detached) —
 * target: at most 1.5× the start plus 100 MB.
 *
 * Run alone: `node --import tsx tests/bench/memory-bench.ts` prints one JSON line.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ADMIN_KEY, api, runWhenMain } from './common.ts';
import { rssKb, startChild, stopChild } from './export-bench.ts';
import { upload } from './import-bench.ts';

const ROWS = 1_000_000;
const IMPORTS = 3;
const IDLE_MS = Number(process.env.MEMORY_BENCH_IDLE_MS ?? 10_000);

export async function memoryBench(): Promise<Record<string, unknown>> {
  const root = await mkdtemp(join(tmpdir(), 'dsa-memory-bench-'));
  const csv = join(root, 'rows.csv');
  let child: ChildProcess | undefined;
  try {
    {
      const generator = await DuckDBInstance.create(':memory:', { threads: '2' });
      const c = await generator.connect();
      await c.run(
        `COPY (SELECT i AS id, 'customer ' || md5(i::VARCHAR)[1:10] AS name, ((i * 37) % 1000000) / 100.0 AS amount,
           TIMESTAMP '2024-01-01' + to_seconds(i * 13) AS ts FROM range(1, ${ROWS + 1}) r(i)) TO '${csv}' (FORMAT csv, HEADER)`,
      );
      c.closeSync();
      generator.closeSync();
    }
    const size = (await stat(csv)).size;
    const started = await startChild(join(root, 'data'));
    child = started.child;
    const { url } = started;
    const pid = child.pid!;
    await api(url, 'POST', '/projects', { id: 'bench' });
    await api(url, 'POST', '/projects/bench/buckets', { name: 'm' });
    await new Promise((r) => setTimeout(r, 1000));
    const start = (await rssKb(pid)).rss;
    let peak = start;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, (await rssKb(pid)).rss);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const columns = [
      { name: 'id', type: 'BIGINT', nullable: false },
      { name: 'name', type: 'VARCHAR' },
      { name: 'amount', type: 'DECIMAL(12,2)' },
      { name: 'ts', type: 'TIMESTAMP' },
    ];
    for (let i = 0; i < IMPORTS; i++) {
      await api(url, 'POST', '/projects/bench/buckets/m/tables', { name: `t${i}`, columns, primary_key: ['id'] });
      const done = await upload(`${url}/projects/bench/buckets/m/tables/t${i}/import`, csv, size, { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' });
      if (done.status !== 200 || done.body.row_count !== ROWS) throw new Error(`import: ${done.status} ${JSON.stringify(done.body).slice(0, 200)}`);
    }
    const afterImports = (await rssKb(pid)).rss;
    await new Promise((r) => setTimeout(r, IDLE_MS));
    sampling = false;
    await sampler;
    const idle = (await rssKb(pid)).rss;
    const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;
    return {
      imports: IMPORTS,
      rows_each: ROWS,
      rss_start_mb: mb(start),
      rss_peak_mb: mb(peak),
      rss_after_imports_mb: mb(afterImports),
      idle_s: IDLE_MS / 1000,
      rss_idle_mb: mb(idle),
      rss_idle_limit_mb: mb(start * 1.5 + 100 * 1024),
      rss_idle_ratio: Math.round((idle / (start * 1.5 + 100 * 1024)) * 100) / 100,
    };
  } finally {
    await stopChild(child);
    await rm(root, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, 'memory', memoryBench);
