/**
 * Files and jobs benchmark (§15, §16), against the real server in a child process:
 *
 * - upload of the 1M-row CSV (~50 MB) to `POST P/files` (by curl when it runs here, as the
 *   import bench sends its files), against `cp` of the same file in the same run (both
 *   write the bytes once to the same file system);
 * - import-async of that file end to end (submit → GET ?wait until success), against the
 *   synchronous import of the same file (its body streamed), into fresh keyed tables;
 * - 20 import jobs queued at once on 4 tables, all of which must succeed;
 * - a 1 GB upload generated on the fly, with the server's resident memory sampled: it must
 *   stay flat (the upload is streamed to disk, never held).
 *
 * Run alone: `node --import tsx tests/bench/jobs-bench.ts` prints one JSON line.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { ADMIN_KEY, api, runWhenMain, median, round, postStream, hasCurl } from './common.ts';
import { rssKb, startChild } from './export-bench.ts';
import { upload, writeCsv } from './import-bench.ts';

const ROWS = 1_000_000;
const RUNS = Number(process.env.JOBS_BENCH_RUNS ?? 3);
const BIG_UPLOAD_BYTES = Number(process.env.JOBS_BENCH_BIG_BYTES ?? 1e9);

const COLUMNS = [
  { name: 'id', type: 'BIGINT', nullable: false },
  { name: 'name', type: 'VARCHAR' },
  { name: 'amount', type: 'DECIMAL(12,2)' },
  { name: 'ts', type: 'TIMESTAMP' },
];

/** POSTs a stream with the admin key. */
const post = (url: string, body: Readable, headers: Record<string, string>) => postStream(url, body, { authorization: `Bearer ${ADMIN_KEY}`, ...headers });

/** `size` bytes of CSV-looking text, produced as they are read (nothing on disk, nothing held). */
function generated(size: number): Readable {
  const line = Buffer.from('123456,some text of a row,12345.67,2026-01-01 00:00:00\n');
  const block = Buffer.concat(Array.from({ length: Math.ceil((1 << 20) / line.length) }, () => line)).subarray(0, 1 << 20);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(block.length, size - sent);
      sent += n;
      this.push(n === block.length ? block : block.subarray(0, n));
    },
  });
}

async function finished(url: string, jobId: string): Promise<any> {
  for (;;) {
    const job = await api(url, 'GET', `/projects/bench/jobs/${jobId}?wait=60`);
    if (['success', 'error', 'cancelled'].includes(job.status)) return job;
  }
}

export async function jobsBench(): Promise<Record<string, unknown>> {
  const root = await mkdtemp(join(tmpdir(), 'dsa-jobs-bench-'));
  const csv = join(root, 'full.csv');
  let child: ChildProcess | undefined;
  try {
    {
      const generator = await DuckDBInstance.create(':memory:', { threads: '4' });
      const c = await generator.connect();
      await writeCsv(c, csv, 1, ROWS, 'customer');
      c.closeSync();
      generator.closeSync();
    }
    const size = (await stat(csv)).size;
    const started = await startChild(join(root, 'data'));
    child = started.child;
    const { url } = started;
    await api(url, 'POST', '/projects', { id: 'bench' });
    await api(url, 'POST', '/projects/bench/buckets', { name: 'b' });
    const P = `${url}/projects/bench`;

    // Upload vs cp.
    const uploads: number[] = [];
    const copies: number[] = [];
    let fileId = '';
    for (let round = 0; round <= RUNS; round++) {
      const t0 = performance.now();
      const up = await upload(`${P}/files?name=full${round}.csv`, csv, size, { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' });
      const uploadMs = performance.now() - t0;
      if (up.status !== 201 || up.body.size_bytes !== size) throw new Error(`upload: ${up.status} ${JSON.stringify(up.body)}`);
      fileId = up.body.id;
      const t1 = performance.now();
      await promisify(execFile)('cp', [csv, join(root, `copy${round}.csv`)]);
      const cpMs = performance.now() - t1;
      await rm(join(root, `copy${round}.csv`));
      if (round > 0) {
        uploads.push(uploadMs);
        copies.push(cpMs);
      }
    }

    // import-async end to end vs the synchronous import of the same file.
    const asyncMs: number[] = [];
    const syncMs: number[] = [];
    for (let round = 0; round <= RUNS; round++) {
      await api(url, 'POST', '/projects/bench/buckets/b/tables', { name: `a${round}`, columns: COLUMNS, primary_key: ['id'] });
      await api(url, 'POST', '/projects/bench/buckets/b/tables', { name: `s${round}`, columns: COLUMNS, primary_key: ['id'] });
      const t0 = performance.now();
      const job = await api(url, 'POST', `/projects/bench/buckets/b/tables/a${round}/import-async`, { file_id: fileId });
      const done = await finished(url, job.id);
      const aMs = performance.now() - t0;
      if (done.status !== 'success' || done.result.row_count !== ROWS) throw new Error(`import-async: ${JSON.stringify(done)}`);
      const t1 = performance.now();
      const sync = await upload(`${P}/buckets/b/tables/s${round}/import`, csv, size, { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' });
      const sMs = performance.now() - t1;
      if (sync.status !== 200 || sync.body.row_count !== ROWS) throw new Error(`import: ${sync.status}`);
      if (round > 0) {
        asyncMs.push(aMs);
        syncMs.push(sMs);
      }
    }

    // 20 jobs on 4 tables, all queued at once.
    const small = await post(`${P}/files?name=small.csv`, Readable.from([`id,name\n${Array.from({ length: 10_000 }, (_, i) => `${i},n${i}`).join('\n')}\n`]), { 'content-type': 'text/csv' });
    for (let i = 0; i < 4; i++) await api(url, 'POST', '/projects/bench/buckets/b/tables', { name: `q${i}`, columns: COLUMNS.slice(0, 2) });
    const t2 = performance.now();
    const queued = await Promise.all(Array.from({ length: 20 }, (_, i) => api(url, 'POST', `/projects/bench/buckets/b/tables/q${i % 4}/import-async`, { file_id: small.body.id, incremental: true })));
    const outcomes = await Promise.all(queued.map((job) => finished(url, job.id)));
    const queuedMs = performance.now() - t2;
    const queuedErrors = outcomes.filter((job) => job.status !== 'success').length;
    for (let i = 0; i < 4; i++) {
      const table = await api(url, 'GET', `/projects/bench/buckets/b/tables/q${i}`);
      if (table.row_count !== 50_000) throw new Error(`q${i}: ${table.row_count} rows`);
    }

    // A 1 GB upload: the server's memory must not grow with it.
    const pid = child.pid!;
    const before = (await rssKb(pid)).rss;
    let peak = before;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, (await rssKb(pid)).rss);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const t3 = performance.now();
    const big = await post(`${P}/files?name=big.bin`, generated(BIG_UPLOAD_BYTES), { 'content-type': 'application/octet-stream' });
    const bigMs = performance.now() - t3;
    sampling = false;
    await sampler;
    if (big.status !== 201 || big.body.size_bytes !== BIG_UPLOAD_BYTES) throw new Error(`big upload: ${big.status} ${JSON.stringify(big.body)}`);

    return {
      bench: 'jobs',
      client: hasCurl ? 'curl' : 'node:http',
      csv_mb: round(size / 1e6, 1),
      runs: RUNS,
      upload_ms: round(median(uploads), 0),
      cp_ms: round(median(copies), 0),
      upload_ratio: round(median(uploads) / median(copies)),
      import_async_ms: round(median(asyncMs), 0),
      import_sync_ms: round(median(syncMs), 0),
      import_async_ratio: round(median(asyncMs) / median(syncMs)),
      queued_jobs: 20,
      queued_ms: round(queuedMs, 0),
      queued_errors: queuedErrors,
      big_upload_mb: round(BIG_UPLOAD_BYTES / 1e6, 0),
      big_upload_ms: round(bigMs, 0),
      big_upload_rss_before_mb: round(before / 1024, 1),
      big_upload_rss_growth_mb: round((peak - before) / 1024, 1),
      samples: { upload_ms: uploads.map((n) => round(n, 0)), cp_ms: copies.map((n) => round(n, 0)), import_async_ms: asyncMs.map((n) => round(n, 0)), import_sync_ms: syncMs.map((n) => round(n, 0)) },
    };
  } finally {
    child?.kill('SIGTERM');
    if (child && child.exitCode === null) await new Promise((resolve) => child!.once('exit', resolve));
    await rm(root, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, 'jobs', jobsBench);
