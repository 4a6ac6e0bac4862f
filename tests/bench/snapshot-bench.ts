/**
 * Snapshot benchmark (§13): a snapshot of a 1M-row table over HTTP against copying its file
 * with `cp`, and a restore of that snapshot over the table against `cp` of the snapshot's
 * file, in the same run, interleaved so both sides see the same load.
 *
 * Run alone: `node --import tsx tests/bench/snapshot-bench.ts` prints one JSON line.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import { DuckDBInstance } from '@duckdb/node-api';
import { ADMIN_KEY, api, runWhenMain } from './common.ts';
import { startChild, stopChild } from './export-bench.ts';

const ROWS = 1_000_000;
const RUNS = Number(process.env.SNAPSHOT_BENCH_RUNS ?? 5);
const run = promisify(execFile);

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round2 = (x: number) => Math.round(x * 100) / 100;

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await work();
  return { ms: performance.now() - t0, value };
}

export async function snapshotBench(): Promise<Record<string, unknown>> {
  const root = await mkdtemp(join(tmpdir(), 'dsa-snapshot-bench-'));
  const dataDir = join(root, 'data');
  let child: ChildProcess | undefined;
  try {
    const started = await startChild(dataDir);
    child = started.child;
    const { url } = started;
    await api(url, 'POST', '/projects', { id: 'bench' });
    await api(url, 'POST', '/projects/bench/buckets', { name: 'b' });
    await api(url, 'POST', '/projects/bench/buckets/b/tables', {
      name: 't',
      columns: [
        { name: 'id', type: 'INTEGER', nullable: false },
        { name: 'label', type: 'VARCHAR' },
        { name: 'amount', type: 'DECIMAL(12,2)' },
        { name: 'created_at', type: 'TIMESTAMP' },
      ],
      primary_key: ['id'],
    });
    const tableFile = join(dataDir, 'duckdb', 'project_bench', 'b', 't.duckdb');
    const T = '/projects/bench/buckets/b/tables/t';
    // The rows go in through the import endpoint, so the catalog knows them (a CSV made by DuckDB).
    {
      const csv = join(root, 'rows.csv');
      const instance = await DuckDBInstance.create(':memory:');
      const c = await instance.connect();
      await c.run(
        `COPY (SELECT range::INTEGER AS id, 'label ' || range AS label, (range * 0.37)::DECIMAL(12,2) AS amount, TIMESTAMP '2024-01-01 00:00:00' + to_seconds(range) AS created_at FROM range(${ROWS})) TO '${csv}' (FORMAT csv, HEADER)`,
      );
      c.closeSync();
      instance.closeSync();
      const response = await fetch(`${url}${T}/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' },
        body: Readable.toWeb(createReadStream(csv)) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      if (response.status !== 200) throw new Error(`import: ${response.status} ${await response.text()}`);
      await response.text();
      await rm(csv);
    }
    const copyTarget = join(root, 'copy.duckdb');
    const cp = async (from: string) => {
      await rm(copyTarget, { force: true });
      return (await timed(() => run('cp', [from, copyTarget]))).ms;
    };

    const snapshotTimes: number[] = [];
    const snapshotReference: number[] = [];
    const restoreTimes: number[] = [];
    const restoreReference: number[] = [];
    let snapshotBytes = 0;
    for (let i = 0; i < RUNS; i++) {
      snapshotReference.push(await cp(tableFile));
      const snap = await timed(() => api(url, 'POST', `${T}/snapshots`, { retention_days: null }));
      snapshotTimes.push(snap.ms);
      snapshotBytes = snap.value.size_bytes;
      if (snap.value.row_count !== ROWS) throw new Error(`snapshot holds ${snap.value.row_count} rows`);
      const snapshotFile = join(dataDir, 'snapshots', 'project_bench', `${snap.value.id}.duckdb`);
      restoreReference.push(await cp(snapshotFile));
      const restored = await timed(() => api(url, 'POST', `/projects/bench/snapshots/${snap.value.id}/restore`, { overwrite: true }));
      restoreTimes.push(restored.ms);
      if (restored.value.table.row_count !== ROWS) throw new Error(`restore gave ${restored.value.table.row_count} rows`);
      // Untimed: drop both snapshots so every run starts alike.
      await api(url, 'DELETE', `/projects/bench/snapshots/${snap.value.id}`);
      await api(url, 'DELETE', `/projects/bench/snapshots/${restored.value.auto_snapshot_id}`);
    }
    const preview = await api(url, 'GET', `${T}/preview?limit=1`);
    return {
      rows: ROWS,
      file_bytes: (await stat(tableFile)).size,
      snapshot_bytes: snapshotBytes,
      snapshot_ms: Math.round(median(snapshotTimes)),
      snapshot_cp_ms: Math.round(median(snapshotReference)),
      snapshot_ratio: round2(median(snapshotTimes) / median(snapshotReference)),
      restore_ms: Math.round(median(restoreTimes)),
      restore_cp_ms: Math.round(median(restoreReference)),
      restore_ratio: round2(median(restoreTimes) / median(restoreReference)),
      snapshot_runs_ms: snapshotTimes.map(Math.round),
      snapshot_cp_runs_ms: snapshotReference.map(Math.round),
      restore_runs_ms: restoreTimes.map(Math.round),
      restore_cp_runs_ms: restoreReference.map(Math.round),
      rows_after: preview.total_row_count,
    };
  } finally {
    await stopChild(child);
    await rm(root, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, 'snapshot', snapshotBench);
