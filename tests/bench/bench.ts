// `npm run bench`: the real server on a temporary data folder, measured over HTTP with a
// keep-alive client, printed as one JSON line. Sections are independent: each gets the
// running server and returns its figures and their targets; `main` runs them in order and
// merges the results. Add a section by exporting it and appending it to `sections`.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../spawn.ts';
import { ADMIN_KEY } from './common.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** A figure's goal: at most `max` (latencies) or at least `min` (throughput). */
export interface Target {
  max?: number;
  min?: number;
}

export interface SectionResult {
  figures: Record<string, number>;
  targets: Record<string, Target>;
  /** For a target figure, the figures it is measured against in the same run (DuckDB's own time, /health). */
  references?: Record<string, string[]>;
}

export interface BenchContext {
  url: string;
  /** The server's data folder (for sections that compare with plain file operations). */
  dataDir: string;
  projectId: string;
  projectKey: string;
  /** One JSON call with the project key; the body is read to the end (parsed when read). */
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** A raw call with the project key (streamed bodies, other content types); the caller reads the response. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

export interface Section {
  name: string;
  run(ctx: BenchContext): Promise<SectionResult>;
}

// ---- measuring ---------------------------------------------------------------------

/** Nearest-rank percentile of samples in milliseconds. */
export function percentile(samples: number[], p: number): number {
  if (!samples.length) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Runs `call(i)` `count` times one after the other; the latency of each in ms. */
export async function sequential(count: number, call: (i: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await call(i);
    samples.push(performance.now() - started);
  }
  return samples;
}

/** Runs `total` calls with `concurrency` workers; completed calls per second. */
export async function throughput(concurrency: number, total: number, call: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) await call(i);
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

/** Throws unless the response has the expected status (a benchmark of errors is no benchmark). */
export function expectStatus(response: { status: number; body: unknown }, status: number, what: string): void {
  if (response.status !== status) throw new Error(`${what}: expected ${status}, got ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`);
}

// ---- the control plane -------------------------------------------------------------

const COLUMN_TYPES = ['VARCHAR', 'DOUBLE', 'TIMESTAMP', 'BOOLEAN', 'DECIMAL(10,2)'];

/** 4–6 columns: an id key and a rotating mix of types. */
function benchColumns(i: number) {
  const count = 4 + (i % 3);
  const columns: { name: string; type: string; nullable?: boolean; default?: string }[] = [{ name: 'id', type: 'BIGINT', nullable: false }];
  for (let c = 1; c < count; c++) columns.push({ name: `col_${c}`, type: COLUMN_TYPES[(i + c) % COLUMN_TYPES.length]! });
  const defaults: Record<string, string> = { VARCHAR: 'n/a', DOUBLE: '0', TIMESTAMP: 'CURRENT_TIMESTAMP', BOOLEAN: 'false', 'DECIMAL(10,2)': '0.00' };
  if (i % 4 === 0) columns[1]!.default = defaults[columns[1]!.type];
  return columns;
}

/**
 * Tables and buckets over HTTP: create, list, get, preview, mixed concurrent reads and
 * concurrent create+delete, with GET /health from the same client as the floor.
 */
export const controlPlane: Section = {
  name: 'control-plane',
  async run(ctx) {
    const { projectId: id, request } = ctx;
    const P = `/projects/${id}`;
    for (const name of ['in_c_bench', 'in_c_data', 'in_c_churn', 'in_c_warm']) {
      expectStatus(await request('POST', `${P}/buckets`, { name }), 201, `create bucket ${name}`);
    }
    const B = `${P}/buckets/in_c_bench`;

    // Floor: the cheapest request the same client can make.
    await sequential(50, () => request('GET', '/health'));
    const health = await sequential(300, () => request('GET', '/health'));

    // Create 200 tables in one bucket (a few warm-up creates elsewhere first).
    await sequential(5, async (i) => expectStatus(await request('POST', `${P}/buckets/in_c_warm/tables`, { name: `warm_${i}`, columns: benchColumns(i), primary_key: ['id'] }), 201, 'warm-up create'));
    const create = await sequential(200, async (i) => {
      const response = await request('POST', `${B}/tables`, { name: `table_${String(i).padStart(3, '0')}`, columns: benchColumns(i), primary_key: i % 2 ? ['id'] : [] });
      expectStatus(response, 201, 'create table');
    });

    // List the 200 tables (the body is checked once, outside the timed calls).
    const listed = await request('GET', `${B}/tables`);
    if (listed.body?.total !== 200) throw new Error(`list tables: expected 200 tables, got ${JSON.stringify(listed.body).slice(0, 200)}`);
    await sequential(5, () => request('GET', `${B}/tables`));
    const list = await sequential(50, async () => expectStatus(await request('GET', `${B}/tables`), 200, 'list tables'));

    // Get one table.
    const tableName = (i: number) => `table_${String((i * 37) % 200).padStart(3, '0')}`;
    await sequential(20, (i) => request('GET', `${B}/tables/${tableName(i)}`));
    const get = await sequential(500, async (i) => expectStatus(await request('GET', `${B}/tables/${tableName(i)}`), 200, 'get table'));

    // Preview 100 rows of a table holding 2000, loaded through the import endpoint.
    const D = `${P}/buckets/in_c_data`;
    expectStatus(await request('POST', `${D}/tables`, { name: 'rows', columns: benchColumns(2), primary_key: ['id'] }), 201, 'create data table');
    const load = await ctx.fetch(`${D}/tables/rows/import`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: benchCsv(benchColumns(2), 2000) });
    if (load.status !== 200) throw new Error(`import: ${load.status} ${await load.text()}`);
    await load.arrayBuffer().catch(() => {});
    const previewPath = `${D}/tables/rows/preview?limit=100`;
    const first = await request('GET', previewPath);
    expectStatus(first, 200, 'preview');
    if (first.body.preview_row_count !== 100 || first.body.total_row_count !== 2000) throw new Error(`preview: unexpected counts ${first.body.preview_row_count}/${first.body.total_row_count}`);
    await sequential(20, () => request('GET', previewPath));
    const preview = await sequential(300, async () => expectStatus(await request('GET', previewPath), 200, 'preview'));

    // Mixed reads at concurrency 8.
    const reads = [
      (i: number) => `${B}/tables/${tableName(i)}`,
      () => `${B}/tables`,
      () => previewPath,
      () => B,
    ];
    const mixed = await throughput(8, 2000, async (i) => expectStatus(await request('GET', reads[i % reads.length]!(i)), 200, 'mixed read'));

    // Create+delete at concurrency 4: each worker creates a table and deletes it again.
    const C = `${P}/buckets/in_c_churn`;
    const churn = await throughput(4, 150, async (i) => {
      expectStatus(await request('POST', `${C}/tables`, { name: `churn_${i}`, columns: benchColumns(i), primary_key: ['id'] }), 201, 'churn create');
      expectStatus(await request('DELETE', `${C}/tables/churn_${i}`), 204, 'churn delete');
    });

    return {
      figures: {
        health_p50_ms: round(percentile(health, 50)),
        create_table_p50_ms: round(percentile(create, 50)),
        create_table_p95_ms: round(percentile(create, 95)),
        list_200_tables_p50_ms: round(percentile(list, 50)),
        list_200_tables_p95_ms: round(percentile(list, 95)),
        get_table_p50_ms: round(percentile(get, 50)),
        get_table_p95_ms: round(percentile(get, 95)),
        preview_100_rows_p50_ms: round(percentile(preview, 50)),
        preview_100_rows_p95_ms: round(percentile(preview, 95)),
        preview_vs_health_p50: round(percentile(preview, 50) / percentile(health, 50)),
        mixed_reads_c8_rps: round(mixed, 1),
        // Each create and each delete is one op.
        create_delete_c4_ops_per_s: round(churn * 2, 1),
      },
      targets: {
        get_table_p50_ms: { max: 5 },
        preview_100_rows_p50_ms: { max: 3 },
        preview_vs_health_p50: { max: 2.5 },
        list_200_tables_p50_ms: { max: 25 },
        create_table_p50_ms: { max: 25 },
        mixed_reads_c8_rps: { min: 400 },
        create_delete_c4_ops_per_s: { min: 80 },
      },
      references: {
        preview_100_rows_p50_ms: ['health_p50_ms'],
        preview_vs_health_p50: ['preview_100_rows_p50_ms', 'health_p50_ms'],
        get_table_p50_ms: ['health_p50_ms'],
      },
    };
  },
};

/** Runs `total` calls with `concurrency` workers; completed calls per second and each call's latency. */
async function loaded(concurrency: number, total: number, call: (i: number) => Promise<unknown>): Promise<{ rps: number; latencies: number[] }> {
  const latencies: number[] = [];
  const rps = await throughput(concurrency, total, async (i) => {
    const started = performance.now();
    await call(i);
    latencies.push(performance.now() - started);
  });
  return { rps, latencies };
}

/**
 * Behaviour under load: mixed reads at concurrency 8 and 32 once warmed up (throughput must
 * not fall as concurrency rises, p99 stays low), and previews of one table while a 1M-row import runs
 * into another, against the same previews with nothing else running.
 */
export const load: Section = {
  name: 'load',
  async run(ctx) {
    const { projectId: id, request } = ctx;
    const B = `/projects/${id}/buckets/in_c_load`;
    expectStatus(await request('POST', `/projects/${id}/buckets`, { name: 'in_c_load' }), 201, 'create bucket');
    const TABLES = 20;
    for (let i = 0; i < TABLES; i++) {
      expectStatus(await request('POST', `${B}/tables`, { name: `r${i}`, columns: benchColumns(2), primary_key: ['id'] }), 201, 'create table');
      const loaded = await ctx.fetch(`${B}/tables/r${i}/import`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: benchCsv(benchColumns(2), 2000) });
      if (loaded.status !== 200) throw new Error(`import: ${loaded.status} ${await loaded.text()}`);
      await loaded.arrayBuffer();
    }
    const reads = [
      (i: number) => `${B}/tables/r${i % TABLES}`,
      () => `${B}/tables`,
      (i: number) => `${B}/tables/r${(i * 7) % TABLES}/preview?limit=100`,
      () => B,
    ];
    const mixedRead = async (i: number) => expectStatus(await request('GET', reads[i % reads.length]!(i)), 200, 'mixed read');
    // Warm-up at both levels until the server runs steadily: on a 2-core machine a fresh
    // server (and this client) needed about 4,000 such requests before the latencies settled.
    // Measured so: the first c32 round's p99 was 54-86 ms, later rounds' 30-43 ms, and the
    // c8 throughput rose from about 1,200 to 2,000 req/s. The first c32 round is still
    // reported, as `mixed_reads_c32_p99_cold_ms`, without a target. Then three rounds of
    // each level, taking turns, so that neither is the warmer one: throughput is all the
    // rounds' requests over their time, p99 over all their latencies.
    await loaded(8, 400, mixedRead);
    const cold = await loaded(32, 2000, mixedRead);
    await loaded(8, 2000, mixedRead);
    const rounds: Record<8 | 32, { rps: number; latencies: number[] }[]> = { 8: [], 32: [] };
    for (let round_ = 0; round_ < 3; round_++) {
      for (const level of [8, 32] as const) rounds[level].push(await loaded(level, 2000, mixedRead));
    }
    const pooled = (list: { rps: number; latencies: number[] }[]) => ({
      // Each round has 2,000 requests, so its time is 2,000 / rps.
      rps: (2000 * list.length) / list.reduce((ms, r) => ms + 2000 / r.rps, 0),
      latencies: list.flatMap((r) => r.latencies),
    });
    const c8 = pooled(rounds[8]);
    const c32 = pooled(rounds[32]);

    // Previews of r0, idle and then while a 1M-row CSV streams into another table.
    const previewPath = `${B}/tables/r0/preview?limit=100`;
    const idle = await sequential(300, async () => expectStatus(await request('GET', previewPath), 200, 'preview'));
    const { mkdtemp, rm, stat } = await import('node:fs/promises');
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const { upload } = await import('./import-bench.ts');
    const dir = await mkdtemp(join(tmpdir(), 'dsa-load-bench-'));
    try {
      const csv = join(dir, 'big.csv');
      const generator = await DuckDBInstance.create(':memory:', { threads: '2' });
      const g = await generator.connect();
      await g.run(`COPY (SELECT i AS id, 'name ' || i AS name, i / 100.0 AS amount FROM range(1000000) r(i)) TO '${csv}' (FORMAT csv, HEADER)`);
      g.closeSync();
      generator.closeSync();
      expectStatus(await request('POST', `${B}/tables`, { name: 'big', columns: [{ name: 'id', type: 'BIGINT', nullable: false }, { name: 'name', type: 'VARCHAR' }, { name: 'amount', type: 'DECIMAL(12,2)' }], primary_key: ['id'] }), 201, 'create big');
      let importing = true;
      const size = (await stat(csv)).size;
      const imported = upload(`${ctx.url}${B}/tables/big/import`, csv, size, { authorization: `Bearer ${ctx.projectKey}`, 'content-type': 'text/csv' }).finally(() => (importing = false));
      const during: number[] = [];
      while (importing) {
        const started = performance.now();
        expectStatus(await request('GET', previewPath), 200, 'preview during import');
        during.push(performance.now() - started);
      }
      const done = await imported;
      if (done.status !== 200 || done.body.row_count !== 1_000_000) throw new Error(`big import: ${done.status} ${JSON.stringify(done.body).slice(0, 200)}`);
      const idleP50 = percentile(idle, 50);
      const duringP50 = percentile(during, 50);
      return {
        figures: {
          mixed_reads_c8_rps_load: round(c8.rps, 1),
          mixed_reads_c32_rps: round(c32.rps, 1),
          mixed_reads_c32_vs_c8: round(c32.rps / c8.rps),
          mixed_reads_c8_p99_ms: round(percentile(c8.latencies, 99)),
          mixed_reads_c32_p99_ms: round(percentile(c32.latencies, 99)),
          mixed_reads_c32_p99_cold_ms: round(percentile(cold.latencies, 99)),
          preview_idle_p50_ms: round(idleP50),
          preview_during_import_p50_ms: round(duringP50),
          preview_during_import_samples: during.length,
          preview_during_import_ratio: round(duringP50 / idleP50),
        },
        targets: {
          mixed_reads_c32_vs_c8: { min: 1 },
          mixed_reads_c32_p99_ms: { max: 50 },
          preview_during_import_ratio: { max: 2 },
        },
        references: {
          mixed_reads_c32_vs_c8: ['mixed_reads_c32_rps', 'mixed_reads_c8_rps_load'],
          mixed_reads_c32_p99_ms: ['mixed_reads_c8_p99_ms'],
          preview_during_import_ratio: ['preview_during_import_p50_ms', 'preview_idle_p50_ms'],
        },
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

/** A CSV of `rows` generated rows for the given columns. */
export function benchCsv(columns: { name: string; type: string }[], rows: number): string {
  const value = (type: string, i: number) =>
    type === 'VARCHAR' ? `value ${i}` : type === 'BOOLEAN' ? String(i % 2 === 0) : type === 'TIMESTAMP' ? new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString() : (i / 7).toFixed(2);
  const lines = [columns.map((c) => c.name).join(',')];
  for (let i = 0; i < rows; i++) lines.push(columns.map((c) => (c.name === 'id' ? String(i) : value(c.type, i))).join(','));
  return `${lines.join('\n')}\n`;
}

/** Keeps the numeric figures of a section that reports a flat record, prefixed by `prefix`. */
function numbers(record: Record<string, unknown>, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(record)) if (typeof value === 'number') out[`${prefix}${key}`] = value;
  return out;
}

/**
 * The data plane, against DuckDB's own statements on the same generated files, measured in
 * the same run: import of 1M CSV rows into a keyed table vs INSERT … SELECT FROM read_csv,
 * a 100k-row upsert vs INSERT … ON CONFLICT, CSV export of 1M rows vs COPY … TO, and the
 * server's peak resident memory during the export. These sections start servers of their own.
 */
export const dataImport: Section = {
  name: 'import',
  async run() {
    const { importBench } = await import('./import-bench.ts');
    const figures = numbers(await importBench(), 'import.');
    return {
      figures,
      targets: { 'import.ratio': { max: 1.2 }, 'import.upsert_ratio': { max: 1.3 } },
      references: { 'import.ratio': ['import.import_1m_ms', 'import.reference_ms'], 'import.upsert_ratio': ['import.upsert_100k_ms', 'import.upsert_reference_ms'] },
    };
  },
};

export const dataExport: Section = {
  name: 'export',
  async run() {
    const { exportBench } = await import('./export-bench.ts');
    const figures = numbers(await exportBench(), 'export.');
    const targets: Record<string, Target> = {};
    for (const prefix of ['', 'ndjson_', 'parquet_']) {
      targets[`export.${prefix}ratio`] = { max: 1.3 };
      targets[`export.${prefix}first_byte_ms`] = { max: 100 };
      targets[`export.${prefix}rss_added_mb`] = { max: 64 };
    }
    targets['export.big_rss_added_mb'] = { max: 64 };
    targets['export.big_first_byte_ms'] = { max: 100 };
    const references: Record<string, string[]> = {};
    for (const prefix of ['', 'ndjson_', 'parquet_']) references[`export.${prefix}ratio`] = [`export.${prefix}export_1m_ms`, `export.${prefix}reference_ms`];
    references['export.big_rss_added_mb'] = ['export.big_export_ms', 'export.big_reference_ms'];
    return { figures, targets, references };
  },
};

/** The server's resident memory at start, after three 1M-row imports and 10 s idle. Starts its own server. */
export const memory: Section = {
  name: 'memory',
  async run() {
    const { memoryBench } = await import('./memory-bench.ts');
    const figures = numbers(await memoryBench(), 'memory.');
    // At most 1.5× the start plus 100 MB: expressed as idle / that limit.
    return {
      figures,
      targets: { 'memory.rss_idle_ratio': { max: 1 } },
      references: { 'memory.rss_idle_ratio': ['memory.rss_idle_mb', 'memory.rss_start_mb', 'memory.rss_idle_limit_mb', 'memory.rss_peak_mb'] },
    };
  },
};

/**
 * §12 schema changes on a 1M-row table against DuckDB's own statements on a copy of the
 * file, and the profile against SUMMARIZE; printed side by side (`schema.*_ms` and
 * `schema.*_reference_ms`).
 */
export const schemaChanges: Section = {
  name: 'schema',
  async run() {
    const { schemaBench } = await import('./schema-bench.ts');
    const figures = numbers(await schemaBench(), 'schema.');
    const targets: Record<string, Target> = {};
    for (const name of ['add_column', 'type_change', 'set_primary_key', 'profile']) targets[`schema.${name}_ratio`] = { max: 1.3 };
    return { figures, targets };
  },
};

/**
 * Snapshots (§13): a snapshot of the 1M-row table against `cp` of its file, and a restore
 * over the table against `cp` of the snapshot's file, in the same run. Starts its own server.
 */
export const snapshots: Section = {
  name: 'snapshots',
  async run() {
    const { snapshotBench } = await import('./snapshot-bench.ts');
    const figures = numbers(await snapshotBench(), 'snapshots.');
    return { figures, targets: { 'snapshots.snapshot_ratio': { max: 1.2 }, 'snapshots.restore_ratio': { max: 1.2 } } };
  },
};

/**
 * Files and jobs (§15, §16): upload of the 50 MB CSV vs `cp`, import-async end to end vs
 * the synchronous import, 20 jobs queued on 4 tables, and the server's memory during a
 * 1 GB upload. Starts a server of its own.
 */
export const filesAndJobs: Section = {
  name: 'jobs',
  async run() {
    const { jobsBench } = await import('./jobs-bench.ts');
    const figures = numbers(await jobsBench(), 'jobs.');
    return {
      figures,
      targets: { 'jobs.upload_ratio': { max: 1.3 }, 'jobs.import_async_ratio': { max: 1.1 }, 'jobs.queued_errors': { max: 0 }, 'jobs.big_upload_rss_growth_mb': { max: 64 } },
    };
  },
};

/** §14: branch creation against the project's table count, and a branch's first write against `cp`. */
export const branchSection: Section = {
  name: 'branches',
  async run(ctx) {
    const { branchBench } = await import('./branch-bench.ts');
    return branchBench(ctx);
  },
};

/**
 * SQL (§17): a group-by aggregate and a join over the 1M-row table through `POST P/query`
 * against the same SQL in DuckDB on the same files, and `GET T` / preview p50 while 4 heavy
 * queries run against their idle values. Starts its own server.
 */
export const sqlQueries: Section = {
  name: 'query',
  async run() {
    const { queryBench } = await import('./query-bench.ts');
    const figures = numbers(await queryBench(), 'query.');
    return {
      figures,
      targets: {
        'query.aggregate_ratio': { max: 1.3 },
        'query.join_ratio': { max: 1.3 },
        'query.get_table_during_queries_ratio': { max: 2 },
        'query.preview_during_queries_ratio': { max: 2 },
      },
      references: {
        'query.aggregate_ratio': ['query.aggregate_ms', 'query.aggregate_reference_ms'],
        'query.join_ratio': ['query.join_ms', 'query.join_reference_ms'],
        'query.get_table_during_queries_ratio': ['query.get_table_during_queries_p50_ms', 'query.get_table_idle_p50_ms'],
        'query.preview_during_queries_ratio': ['query.preview_during_queries_p50_ms', 'query.preview_idle_p50_ms'],
      },
    };
  },
};

/** The sections `npm run bench` runs, in order. */
export const sections: Section[] = [controlPlane, load, dataImport, dataExport, memory, schemaChanges, snapshots, filesAndJobs, branchSection, sqlQueries];

// ---- running -----------------------------------------------------------------------

/** Starts the server on a fresh data folder with one project; `stop` removes everything. */
export async function startBench(): Promise<{ ctx: BenchContext; stop(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'dsa-bench-'));
  // The server runs as the container runs it: the esbuild bundle in a process of its own,
  // so the client's work here does not land on the server's event loop.
  execFileSync(process.execPath, ['esbuild.config.mjs'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--enable-source-maps', join(REPO, 'dist/main.mjs')], {
    cwd: root,
    env: { ...process.env, DATA_DIR: join(root, 'data'), PORT: String(port), HOST: '127.0.0.1', ADMIN_API_KEY: ADMIN_KEY, DEBUG: 'false', LOG_LEVEL: 'warn', UV_THREADPOOL_SIZE: '16' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
    await rm(root, { recursive: true, force: true });
  };
  try {
    for (let attempt = 0; ; attempt++) {
      const up = await fetch(`${url}/health`).then((r) => r.ok, () => false);
      if (up) break;
      if (attempt > 300 || child.exitCode !== null) throw new Error('the server did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const call = async (key: string, method: string, path: string, body?: unknown) => {
      const headers: Record<string, string> = { authorization: `Bearer ${key}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await response.text();
      // Parsed on demand: most calls only need the status.
      let parsed: unknown;
      return {
        status: response.status,
        get body() {
          return (parsed ??= text ? JSON.parse(text) : undefined);
        },
      };
    };
    const projectId = 'bench';
    const created = await call(ADMIN_KEY, 'POST', '/projects', { id: projectId });
    expectStatus(created, 201, 'create project');
    const projectKey = created.body.api_key as string;
    const ctx: BenchContext = {
      url,
      dataDir: join(root, 'data'),
      projectId,
      projectKey,
      request: (method, path, body) => call(projectKey, method, path, body),
      fetch: (path, init = {}) => {
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${projectKey}`);
        return fetch(url + path, { ...init, headers });
      },
    };
    return { ctx, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Runs the sections against one server and merges their figures, targets and verdicts. */
export async function runBench(list: Section[] = sections): Promise<Record<string, unknown>> {
  // Figures are wall-clock times: the machine's load says how far to trust them.
  const loadBefore = loadavg()[0]!;
  const { ctx, stop } = await startBench();
  const figures: Record<string, number> = {};
  const targets: Record<string, Target> = {};
  const references: Record<string, string[]> = {};
  const started = performance.now();
  try {
    for (const section of list) {
      const result = await section.run(ctx);
      Object.assign(figures, result.figures);
      Object.assign(targets, result.targets);
      Object.assign(references, result.references ?? {});
    }
  } finally {
    await stop();
  }
  const meets: Record<string, boolean> = {};
  for (const [name, target] of Object.entries(targets)) {
    const value = figures[name];
    meets[name] = value !== undefined && (target.max === undefined || value <= target.max) && (target.min === undefined || value >= target.min);
  }
  // One line per target: the figure, what it is measured against in this run, the target.
  const lines = Object.entries(targets).map(([name, target]) => ({
    figure: name,
    value: figures[name] ?? null,
    reference: Object.fromEntries((references[name] ?? []).map((ref) => [ref, figures[ref] ?? null])),
    target,
    meets: meets[name],
  }));
  return {
    lines,
    bench: 'duckdb-storage-api',
    sections: list.map((s) => s.name),
    node: process.version,
    cpus: availableParallelism(),
    load_avg_1m: [round(loadBefore, 1), round(loadavg()[0]!, 1)],
    duration_s: round((performance.now() - started) / 1000, 1),
    ...figures,
    targets,
    meets,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // `npm run bench -- control-plane` runs only the named sections.
  const wanted = process.argv.slice(2);
  const chosen = wanted.length ? sections.filter((s) => wanted.includes(s.name)) : sections;
  if (chosen.length !== (wanted.length || sections.length)) {
    process.stderr.write(`unknown section; known: ${sections.map((s) => s.name).join(', ')}\n`);
    process.exit(2);
  }
  runBench(chosen).then(
    ({ lines, ...result }) => {
      for (const line of lines as unknown[]) process.stdout.write(`${JSON.stringify(line)}\n`);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    },
    (error) => {
      process.stderr.write(`bench failed: ${(error as Error).stack ?? error}\n`);
      process.exitCode = 1;
    },
  );
}
