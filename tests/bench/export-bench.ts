/**
 * Export benchmark: a 1M-row table (integer key, text, decimal, timestamp) exported as CSV
 * over HTTP by the real server (a child process), against DuckDB's own `COPY … TO` of the
 * same table file, with the server's resident memory sampled during the export.
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
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { ADMIN_KEY, api } from './common.ts';

const ROWS = 1_000_000;
const RUNS = Number(process.env.EXPORT_BENCH_RUNS ?? 5);
const THREADS = 4;
const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

const sqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;

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
    {
      const instance = await openFile(tableFile);
      const c = await instance.connect();
      await c.run(
        `INSERT INTO data SELECT range::INTEGER, 'label ' || range || CASE WHEN range % 10 = 0 THEN ', with "quotes"' ELSE '' END,
           (range * 0.37)::DECIMAL(12,2), TIMESTAMP '2024-01-01 00:00:00' + to_seconds(range)
         FROM range(${ROWS})`,
      );
      await c.run('CHECKPOINT');
      c.closeSync();
      instance.closeSync();
    }

    /** DuckDB's own COPY of the same file, in this process (the server has the file detached between exports). */
    const referenceCsv = join(root, 'reference.csv');
    const reference = async (): Promise<number> => {
      const instance = await openFile(tableFile);
      const c = await instance.connect();
      try {
        const t0 = performance.now();
        await c.run(`COPY (SELECT * FROM data) TO ${sqlString(referenceCsv)} (FORMAT csv, HEADER)`);
        return performance.now() - t0;
      } finally {
        c.closeSync();
        instance.closeSync();
      }
    };
    /** GET export over HTTP (node:http, the leanest client), the body consumed to the end. */
    const exportOnce = (digest = false): Promise<{ ms: number; bytes: number; sha256: string }> =>
      new Promise((resolve, reject) => {
        const t0 = performance.now();
        const request = httpGet(`${url}/projects/bench/buckets/b/tables/t/export?format=csv`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }, (response) => {
          if (response.statusCode !== 200) {
            reject(new Error(`export: ${response.statusCode}`));
            response.resume();
            return;
          }
          let bytes = 0;
          const hash = createHash('sha256');
          response.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (digest) hash.update(chunk);
          });
          response.on('end', () => resolve({ ms: performance.now() - t0, bytes, sha256: digest ? hash.digest('hex') : '' }));
          response.on('error', reject);
        });
        request.on('error', reject);
      });

    const pid = child.pid!;
    const before = await rssKb(pid);
    let peakRss = before.rss;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakRss = Math.max(peakRss, (await rssKb(pid)).rss);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    // Runs alternate so that both sides see the same load on a shared machine.
    const referenceTimes: number[] = [];
    const exportTimes: number[] = [];
    const runPeaks: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      referenceTimes.push(await reference());
      peakRss = 0;
      exportTimes.push((await exportOnce()).ms);
      runPeaks.push(peakRss);
    }
    peakRss = Math.max(...runPeaks);
    // One more, untimed, to check the bytes are DuckDB's own.
    const last = await exportOnce(true);
    sampling = false;
    await sampler;
    const after = await rssKb(pid);
    const referenceBytes = (await stat(referenceCsv)).size;
    const referenceHash = createHash('sha256').update(await readFile(referenceCsv)).digest('hex');

    // Medians of interleaved runs: robust against the load of a shared machine.
    const median = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const exportMs = median(exportTimes);
    const referenceMs = median(referenceTimes);
    const round2 = (x: number) => Math.round(x * 100) / 100;
    return {
      rows: ROWS,
      export_1m_ms: Math.round(exportMs),
      reference_ms: Math.round(referenceMs),
      ratio: round2(exportMs / referenceMs),
      best_ratio: round2(Math.min(...exportTimes) / Math.min(...referenceTimes)),
      peak_rss_mb: Math.round((peakRss / 1024) * 10) / 10,
      peak_rss_per_run_mb: runPeaks.map((kb) => Math.round(kb / 1024)),
      rss_before_mb: Math.round((before.rss / 1024) * 10) / 10,
      vm_hwm_mb: Math.round((after.hwm / 1024) * 10) / 10,
      export_runs_ms: exportTimes.map(Math.round),
      reference_runs_ms: referenceTimes.map(Math.round),
      export_bytes: last.bytes,
      reference_bytes: referenceBytes,
      same_bytes_as_reference: last.sha256 === referenceHash,
      threads: THREADS,
    };
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  exportBench().then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error) => {
      process.stderr.write(`${(error as Error).stack ?? error}\n`);
      process.exit(1);
    },
  );
}
