/**
 * Export benchmark: a 1M-row table (integer key, text, decimal, timestamp) exported as CSV,
 * NDJSON and Parquet over HTTP by the real server (a child process), against DuckDB's own
 * `COPY … TO` a file of the same table in the same format, with the time to the first byte
 * and what each export adds to the server's resident memory. The timed export is read by
 * curl when it runs here (`curlTransfer`); a node:http client in this process reads it once
 * more each round, for the first byte of the body and its own time for comparison. Then a
 * 10M-row table's CSV export (EXPORT_BENCH_BIG_ROWS, 0 to skip), to show that this does not
 * grow with the table.
 *
 * Run alone: `node --import tsx tests/bench/export-bench.ts` prints one JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { ADMIN_KEY, api, runWhenMain, sqlString, hasCurl, curlTransfer, exitedChildrenCpuMs } from './common.ts';

const ROWS = 1_000_000;
const RUNS = Number(process.env.EXPORT_BENCH_RUNS ?? 5);
const THREADS = 4;
const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));


export async function startChild(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/main.ts')], {
    cwd: REPO,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: '0',
      ADMIN_API_KEY: ADMIN_KEY,
      DEBUG: 'false',
      LOG_LEVEL: 'info',
      DUCKDB_THREADS: String(THREADS),
      DUCKDB_MEMORY_LIMIT: '4GB',
      // As the Dockerfile and `npm start` run it (and the load section of bench.ts).
      UV_THREADPOOL_SIZE: '16',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // The startup log line (JSON on stdout) names the URL; later lines are drained and dropped.
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start listening')), 60_000);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { url?: string; event?: string };
        if (entry.event === 'startup' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        /* not a log line */
      }
    });
  }).catch((error) => {
    child.kill('SIGKILL');
    throw error;
  });
  return { child, url };
}

/** Stops a child server: SIGTERM, then SIGKILL if it has not exited within 10 s. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** CPU time (user + system, ms) a process has used so far, from /proc (10 ms ticks). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** CPU time (ms) this process has used since `since` (a process.cpuUsage() reading). */
const ownCpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

export async function rssKb(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** Opens a table file in a private DuckDB instance (retrying while another process still holds its lock). */
async function openFile(path: string): Promise<DuckDBInstance> {
  for (let i = 0; ; i++) {
    try {
      return await DuckDBInstance.create(path, { threads: String(THREADS), memory_limit: '4GB' });
    } catch (error) {
      if (i >= 100) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const FORMATS = ['csv', 'ndjson', 'parquet'] as const;
type Format = (typeof FORMATS)[number];
const BIG_ROWS = Number(process.env.EXPORT_BENCH_BIG_ROWS ?? 10_000_000);
const COPY_OPTIONS: Record<Format, string> = { csv: 'FORMAT csv, HEADER', ndjson: 'FORMAT json', parquet: 'FORMAT parquet' };

const prefixed = (prefix: string, record: Record<string, unknown>) => Object.fromEntries(Object.entries(record).map(([k, v]) => [prefix + k, v]));

/** Fills a table file the server has detached with `rows` generated rows. */
async function fill(tableFile: string, rows: number): Promise<void> {
  const instance = await openFile(tableFile);
  const c = await instance.connect();
  await c.run(
    `INSERT INTO data SELECT range::INTEGER, 'label ' || range || CASE WHEN range % 10 = 0 THEN ', with "quotes"' ELSE '' END,
       (range * 0.37)::DECIMAL(12,2), TIMESTAMP '2024-01-01 00:00:00' + to_seconds(range)
     FROM range(${rows})`,
  );
  await c.run('CHECKPOINT');
  c.closeSync();
  instance.closeSync();
}

/** Lines of a text export, sorted: exports without order_by promise no row order, only the rows. */
async function sortedLinesHash(data: Buffer): Promise<string> {
  const lines = data.toString('utf8').split('\n');
  return createHash('sha256').update(lines.sort().join('\n')).digest('hex');
}

/**
 * Interleaved runs of DuckDB's own `COPY (SELECT * FROM data) TO` a file (in this process,
 * on the file the server has detached by then) and of the server's export over HTTP, with
 * the server's resident memory sampled during each export.
 */
async function measureFormat(url: string, pid: number, tableFile: string, referenceFile: string, format: Format, runs: number, table = 't') {
  const referenceCpu: number[] = [];
  const reference = async (): Promise<number> => {
    // The server keeps a file attached for a moment after its last use; opening it here waits for that.
    const instance = await openFile(tableFile);
    const c = await instance.connect();
    try {
      // The same row-order setting the server's export runs with.
      await c.run('SET preserve_insertion_order = false');
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      await c.run(`COPY (SELECT * FROM data) TO ${sqlString(referenceFile)} (${COPY_OPTIONS[format]})`);
      const ms = performance.now() - t0;
      // This process does nothing else meanwhile: its CPU time is DuckDB's for the COPY.
      referenceCpu.push(ownCpuMs(cpu0));
      return ms;
    } finally {
      c.closeSync();
      instance.closeSync();
    }
  };
  const exportUrl = `${url}/projects/bench/buckets/b/tables/${table}/export?format=${format}`;
  const exportOnce = (keep = false): Promise<{ ms: number; firstByteMs: number; bytes: number; body?: Buffer }> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const request = httpGet(exportUrl, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }, (response) => {
        if (response.statusCode !== 200) {
          reject(new Error(`export: ${response.statusCode}`));
          response.resume();
          return;
        }
        let bytes = 0;
        let firstByteMs = -1;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => {
          if (firstByteMs < 0) firstByteMs = performance.now() - t0;
          bytes += chunk.length;
          if (keep) chunks.push(chunk);
        });
        response.on('end', () => resolve({ ms: performance.now() - t0, firstByteMs, bytes, body: keep ? Buffer.concat(chunks) : undefined }));
        response.on('error', reject);
      });
      request.on('error', reject);
    });
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, (await rssKb(pid)).rss);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const referenceTimes: number[] = [];
  const exportTimes: number[] = [];
  const nodeTimes: number[] = [];
  const curlCpu: number[] = [];
  const firstByteTimes: number[] = [];
  const addedKb: number[] = [];
  const serverCpu: number[] = [];
  const clientCpu: number[] = [];
  let peakKb = 0;
  try {
    // What one export adds to the server's memory: its peak over the memory just before it.
    const added = async <T>(work: () => Promise<T>): Promise<T> => {
      const before = (await rssKb(pid)).rss;
      peak = before;
      const result = await work();
      addedKb.push(peak - before);
      peakKb = Math.max(peakKb, peak);
      return result;
    };
    for (let i = 0; i < runs; i++) {
      referenceTimes.push(await reference());
      let curlBytes: number | undefined;
      if (hasCurl) {
        // The timed export: curl reads it (see `curlTransfer`), its start included.
        const server0 = await cpuMs(pid);
        const curl0 = exitedChildrenCpuMs();
        const run = await added(() => curlTransfer(exportUrl, { headers: { authorization: `Bearer ${ADMIN_KEY}` }, discard: true }));
        if (run.status !== 200) throw new Error(`export: ${run.status}`);
        curlCpu.push(exitedChildrenCpuMs() - curl0);
        serverCpu.push((await cpuMs(pid)) - server0);
        exportTimes.push(run.ms);
        curlBytes = run.bytes;
      }
      // The node:http client: the first byte of the body, and its own time for comparison.
      const server0 = await cpuMs(pid);
      const client0 = process.cpuUsage();
      const run = await added(() => exportOnce());
      // The client's share includes the memory sampler's reads of /proc (a few ms).
      clientCpu.push(ownCpuMs(client0));
      if (!hasCurl) serverCpu.push((await cpuMs(pid)) - server0);
      // A cut stream would look fast: curl must have read the whole export.
      if (curlBytes !== undefined && curlBytes !== run.bytes) throw new Error(`export: curl read ${curlBytes} bytes, node:http ${run.bytes}`);
      nodeTimes.push(run.ms);
      if (!hasCurl) exportTimes.push(run.ms);
      firstByteTimes.push(run.firstByteMs);
    }
  } finally {
    sampling = false;
    await sampler;
  }
  // One more, untimed, to check the rows are DuckDB's own.
  const check = format !== 'parquet' && table === 't';
  const last = await exportOnce(check);
  const referenceBytes = (await stat(referenceFile)).size;
  // NDJSON maps values by §7 (decimals and big integers as strings, ISO timestamps), DuckDB's
  // plain JSON does not: there the line count is compared.
  const lineCount = (data: Buffer) => data.toString('utf8').split('\n').length;
  const sameRows =
    !check ? undefined : format === 'ndjson' ? lineCount(last.body!) === lineCount(await readFile(referenceFile)) : (await sortedLinesHash(last.body!)) === (await sortedLinesHash(await readFile(referenceFile)));
  return { referenceTimes, exportTimes, nodeTimes, firstByteTimes, addedKb, peakKb, bytes: last.bytes, referenceBytes, sameRows, referenceCpu, serverCpu, clientCpu, curlCpu };
}

export async function exportBench(): Promise<Record<string, unknown>> {
  const root = await mkdtemp(join(tmpdir(), 'dsa-export-bench-'));
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

    // Fill the table file directly (the server has it detached).
    await fill(tableFile, ROWS);

    const median = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const round2 = (x: number) => Math.round(x * 100) / 100;
    const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;
    const pid = child.pid!;
    const out: Record<string, unknown> = { rows: ROWS, threads: THREADS, client: hasCurl ? 'curl' : 'node:http' };
    const peaks: number[] = [];
    for (const format of FORMATS) {
      const result = await measureFormat(url, pid, tableFile, join(root, `reference.${format}`), format, RUNS);
      Object.assign(out, prefixed(format === 'csv' ? '' : `${format}_`, {
        export_1m_ms: Math.round(median(result.exportTimes)),
        reference_ms: Math.round(median(result.referenceTimes)),
        ratio: round2(median(result.exportTimes) / median(result.referenceTimes)),
        // The same export read by a node:http client in this process, for comparison.
        node_client_ms: Math.round(median(result.nodeTimes)),
        node_client_ratio: round2(median(result.nodeTimes) / median(result.referenceTimes)),
        best_ratio: round2(Math.min(...result.exportTimes) / Math.min(...result.referenceTimes)),
        first_byte_ms: Math.round(median(result.firstByteTimes)),
        rss_added_mb: mb(Math.max(...result.addedKb)),
        export_runs_ms: result.exportTimes.map(Math.round),
        reference_runs_ms: result.referenceTimes.map(Math.round),
        export_bytes: result.bytes,
        reference_bytes: result.referenceBytes,
        same_rows_as_reference: result.sameRows,
        // CPU time (medians, ms) of the reference COPY, of the server for the export, and of
        // the bench client reading the response on the same two cores: what the service itself
        // costs against DuckDB, whatever else loads the machine.
        reference_cpu_ms: Math.round(median(result.referenceCpu)),
        server_cpu_ms: Math.round(median(result.serverCpu)),
        client_cpu_ms: Math.round(median(result.clientCpu)),
        ...(hasCurl ? { curl_cpu_ms: Math.round(median(result.curlCpu)) } : {}),
        server_cpu_ratio: round2(median(result.serverCpu) / median(result.referenceCpu)),
      }));
      peaks.push(result.peakKb);
    }
    out.peak_rss_mb = mb(Math.max(...peaks));
    const after = await rssKb(pid);
    out.vm_hwm_mb = mb(after.hwm);

    // The same export of a table ten times the size: what it adds to memory must not grow with it.
    if (BIG_ROWS > 0) {
      await api(url, 'POST', '/projects/bench/buckets/b/tables', {
        name: 'big',
        columns: [
          { name: 'id', type: 'INTEGER', nullable: false },
          { name: 'label', type: 'VARCHAR' },
          { name: 'amount', type: 'DECIMAL(12,2)' },
          { name: 'created_at', type: 'TIMESTAMP' },
        ],
      });
      await fill(join(dataDir, 'duckdb', 'project_bench', 'b', 'big.duckdb'), BIG_ROWS);
      const big = await measureFormat(url, pid, join(dataDir, 'duckdb', 'project_bench', 'b', 'big.duckdb'), join(root, 'reference-big.csv'), 'csv', 1, 'big');
      out.big_rows = BIG_ROWS;
      out.big_export_ms = Math.round(big.exportTimes[0]!);
      out.big_reference_ms = Math.round(big.referenceTimes[0]!);
      out.big_ratio = round2(big.exportTimes[0]! / big.referenceTimes[0]!);
      out.big_first_byte_ms = Math.round(big.firstByteTimes[0]!);
      out.big_rss_added_mb = mb(big.addedKb[0]!);
    }
    return out;
  } finally {
    await stopChild(child);
    await rm(root, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, 'export', exportBench);
