/**
 * SQL benchmark (§17): a group-by aggregate and a join over a 1,000,000-row table through
 * `POST P/query` (the real server, a child process), against the same SQL run directly in
 * DuckDB on the same table files in the same run, interleaved so both sides see the same
 * load; then the p50 of `GET T` and of a 100-row preview while 4 heavy queries run, against
 * the same requests with nothing else running.
 *
 * The reference is an instance with the server's thread count and memory limit, on which
 * the table files are attached READ_ONLY before its clock starts: its time is DuckDB's for
 * the SQL alone, the whole result read (the server's time includes opening its sandbox,
 * the statement check and the JSON answer).
 *
 * Run alone: `node --import tsx tests/bench/query-bench.ts` prints one JSON line.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ADMIN_KEY, api, runWhenMain } from './common.ts';
import { startChild } from './export-bench.ts';
import { upload } from './import-bench.ts';

const ROWS = 1_000_000;
const CUSTOMERS = 1000;
const RUNS = Number(process.env.QUERY_BENCH_RUNS ?? 7);
/** As the child server is started (export-bench's startChild). */
const THREADS = 4;
const HEAVY = 4;

const sqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The two queries, written once against the bucket names; the reference swaps in its aliases. */
const QUERIES = {
  aggregate: 'SELECT customer, count(*) AS n, sum(amount) AS total, max(created_at) AS last FROM in_c_q.orders GROUP BY customer ORDER BY customer',
  join: 'SELECT c.region, count(*) AS n, sum(o.amount) AS total FROM in_c_q.orders o JOIN in_c_q.customers c ON c.name = o.customer GROUP BY c.region ORDER BY c.region',
};
/** A query that keeps DuckDB busy for a few seconds: the load for the latency figures. */
const HEAVY_SQL = 'SELECT count(*) AS n FROM in_c_q.orders o JOIN in_c_q.customers c ON c.name = o.customer, range(8) r WHERE o.amount > r.range * 100';

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await work();
  return { ms: performance.now() - t0, value };
}

export async function queryBench(): Promise<Record<string, unknown>> {
  const root = await mkdtemp(join(tmpdir(), 'dsa-query-bench-'));
  const dataDir = join(root, 'data');
  let child: ChildProcess | undefined;
  let reference: DuckDBInstance | undefined;
  try {
    // As the start script and the image run the server: a libuv pool above MAX_CONCURRENT_QUERIES.
    const pool = process.env.UV_THREADPOOL_SIZE;
    process.env.UV_THREADPOOL_SIZE = '16';
    const started = await startChild(dataDir).finally(() => {
      if (pool === undefined) delete process.env.UV_THREADPOOL_SIZE;
      else process.env.UV_THREADPOOL_SIZE = pool;
    });
    child = started.child;
    const { url } = started;
    await api(url, 'POST', '/projects', { id: 'bench' });
    await api(url, 'POST', '/projects/bench/buckets', { name: 'in_c_q' });
    const B = '/projects/bench/buckets/in_c_q';
    await api(url, 'POST', `${B}/tables`, {
      name: 'orders',
      columns: [
        { name: 'id', type: 'BIGINT', nullable: false },
        { name: 'customer', type: 'VARCHAR' },
        { name: 'amount', type: 'DECIMAL(12,2)' },
        { name: 'created_at', type: 'TIMESTAMP' },
      ],
      primary_key: ['id'],
    });
    await api(url, 'POST', `${B}/tables`, { name: 'customers', columns: [{ name: 'name', type: 'VARCHAR', nullable: false }, { name: 'region', type: 'VARCHAR' }], primary_key: ['name'] });
    {
      const generator = await DuckDBInstance.create(':memory:', { threads: '2' });
      const g = await generator.connect();
      await g.run(
        `COPY (SELECT i AS id, 'customer ' || (i % ${CUSTOMERS}) AS customer, ((i * 37) % 100000) / 100.0 AS amount,
           TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND AS created_at FROM range(${ROWS}) r(i)) TO ${sqlString(join(root, 'orders.csv'))} (FORMAT csv, HEADER)`,
      );
      await g.run(`COPY (SELECT 'customer ' || i AS name, 'region ' || (i % 12) AS region FROM range(${CUSTOMERS}) r(i)) TO ${sqlString(join(root, 'customers.csv'))} (FORMAT csv, HEADER)`);
      g.closeSync();
      generator.closeSync();
    }
    const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' };
    for (const table of ['orders', 'customers']) {
      const file = join(root, `${table}.csv`);
      const loaded = await upload(`${url}${B}/tables/${table}/import`, file, (await stat(file)).size, headers);
      if (loaded.status !== 200) throw new Error(`import ${table}: ${loaded.status} ${JSON.stringify(loaded.body).slice(0, 200)}`);
    }
    const tableFile = (name: string) => join(dataDir, 'duckdb', 'project_bench', 'in_c_q', `${name}.duckdb`);

    // The server's answer to a query, read whole (JSON parsed, as a client would).
    const viaApi = async (sql: string) => {
      const body = await api(url, 'POST', '/projects/bench/query', { sql, limit: 100000, timeout_seconds: 300 });
      return body.row_count as number;
    };
    reference = await DuckDBInstance.create(':memory:', { threads: String(THREADS), memory_limit: '4GB' });
    const rc = await reference.connect();
    let round_ = 0;
    const attach = async (file: string, alias: string) => {
      // The server keeps a file attached read-write for a moment after its last write; wait for that.
      for (let attempt = 0; ; attempt++) {
        try {
          await rc.run(`ATTACH ${sqlString(file)} AS ${alias} (READ_ONLY)`);
          return;
        } catch (error) {
          if (attempt > 500 || !/lock/i.test((error as Error).message)) throw error;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    const direct = async (sql: string) => {
      const n = round_++;
      // The files are attached outside the reference's time: it is DuckDB's time for the SQL alone.
      await attach(tableFile('orders'), `o${n}`);
      await attach(tableFile('customers'), `c${n}`);
      const t0 = performance.now();
      const reader = await rc.runAndReadAll(sql.replaceAll('in_c_q.orders', `o${n}.main.data`).replaceAll('in_c_q.customers', `c${n}.main.data`));
      const ms = performance.now() - t0;
      const rows = reader.getRows().length;
      await rc.run(`DETACH o${n}`);
      await rc.run(`DETACH c${n}`);
      return { ms, rows };
    };

    const figures: Record<string, number> = {};
    const samples: Record<string, { api: number[]; reference: number[] }> = {};
    for (const [name, sql] of Object.entries(QUERIES)) {
      // Warm-up of both sides (the server builds its view catalog on the first query).
      const expected = await viaApi(sql);
      const ref = await direct(sql);
      if (ref.rows !== expected) throw new Error(`${name}: the server returned ${expected} rows, DuckDB ${ref.rows}`);
      const apiMs: number[] = [];
      const refMs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        apiMs.push((await timed(() => viaApi(sql))).ms);
        refMs.push((await direct(sql)).ms);
      }
      samples[name] = { api: apiMs.map((x) => round(x, 1)), reference: refMs.map((x) => round(x, 1)) };
      figures[`${name}_ms`] = round(median(apiMs), 1);
      figures[`${name}_reference_ms`] = round(median(refMs), 1);
      figures[`${name}_ratio`] = round(median(apiMs) / median(refMs));
    }
    rc.closeSync();

    // GET T and a 100-row preview: idle, then while HEAVY queries run.
    const T = `${B}/tables/customers`;
    const callMs = async (path: string) => {
      const t0 = performance.now();
      const response = await fetch(url + path, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
      return performance.now() - t0;
    };
    const measure = async (count: number) => {
      const get: number[] = [];
      const preview: number[] = [];
      for (let i = 0; i < count; i++) {
        get.push(await callMs(T));
        preview.push(await callMs(`${T}/preview?limit=100`));
      }
      return { get, preview };
    };
    await measure(20);
    const idle = await measure(150);
    let running = true;
    let heavyDone = 0;
    const heavy = Array.from({ length: HEAVY }, async () => {
      while (running) {
        await viaApi(HEAVY_SQL);
        heavyDone++;
      }
    });
    // Until all of them run (a fifth query would be answered 429).
    const during = { get: [] as number[], preview: [] as number[] };
    const loadStarted = performance.now();
    while (during.get.length < 150) {
      const sample = await measure(1);
      during.get.push(...sample.get);
      during.preview.push(...sample.preview);
    }
    const loadMs = performance.now() - loadStarted;
    running = false;
    await Promise.all(heavy);
    figures.get_table_idle_p50_ms = round(median(idle.get));
    figures.get_table_during_queries_p50_ms = round(median(during.get));
    figures.get_table_during_queries_ratio = round(median(during.get) / median(idle.get));
    figures.preview_idle_p50_ms = round(median(idle.preview));
    figures.preview_during_queries_p50_ms = round(median(during.preview));
    figures.preview_during_queries_ratio = round(median(during.preview) / median(idle.preview));
    figures.heavy_queries_completed = heavyDone;
    figures.heavy_window_ms = round(loadMs, 0);
    return { bench: 'query', rows: ROWS, runs: RUNS, threads: THREADS, ...figures, samples };
  } finally {
    try {
      reference?.closeSync();
    } catch {
      /* closed already */
    }
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(root, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, 'query', queryBench);
