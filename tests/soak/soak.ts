// Soak: mixed traffic at a fixed concurrency against the real server (node:http on a
// loopback port, a temporary data folder) — table creates, imports, previews, exports,
// row deletes, table deletes, shares, links and reads through links, across several
// projects — then the §9 invariants. Prints one JSON summary; `npm run soak` exits 1 when
// any response was unexpected.
//
// "Unexpected" is precise: every operation lists the statuses (and error codes) it may
// get given what other clients are doing at the same time — a 404 `table_not_found` for a
// preview that raced a delete, a 429 `too_many_requests` for an import past
// MAX_CONCURRENT_IMPORTS — and anything else (a 5xx, a network error, a truncated export,
// another code) counts.
//
// Clients also hang up: exports in every format (CSV, NDJSON by DuckDB's writer and by the
// streamed rows, Parquet, gzip) dropped after their first chunk, and queries dropped while
// they run or after their first chunk. Such an operation's outcome is `aborted` (it was
// dropped), `complete` (it ended before the client hung up) or an expected status; after
// the traffic the service must be healthy, with no query slot taken and no staging or
// query output file left.
//
//   SOAK_SECONDS (60) SOAK_CONCURRENCY (32) SOAK_SEED (random) SOAK_OPERATIONS (unbounded)
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { parseConfig } from '../../src/config.ts';
import { startServer } from '../../src/server.ts';
import { prng } from '../prng.ts';

export interface SoakOptions {
  /** Stop after this long (ms)… */
  durationMs?: number;
  /** …or after this many operations, whichever comes first. */
  operations?: number;
  concurrency: number;
  seed?: number;
  projects?: number;
}

type Expected = Record<number, string[] | null>; // status → allowed error codes (null: a success)

interface OpStats {
  count: number;
  statuses: Record<string, number>;
  unexpected: number;
  latencies: number[];
}

export interface SoakSummary {
  seed: number;
  concurrency: number;
  duration_s: number;
  requests: number;
  requests_per_s: number;
  statuses: Record<string, number>;
  unexpected: number;
  unexpected_samples: string[];
  latency_ms: { p50: number; p95: number; p99: number; max: number };
  operations: Record<string, { count: number; statuses: Record<string, number>; unexpected: number; p50_ms: number; p95_ms: number; p99_ms: number }>;
  invariants: { checked_tables: number; violations: string[] };
  server_error_logs: number;
}

const ADMIN = 'soak-admin-key-0123456789abcdef';
const TABLES = ['t0', 't1', 't2', 't3', 't4'];
const COLUMNS = [
  { name: 'id', type: 'BIGINT' },
  { name: 'name', type: 'VARCHAR' },
  { name: 'amount', type: 'DECIMAL(12,2)' },
  { name: 'ts', type: 'TIMESTAMP' },
];


/** A table every project has, large enough that an export or query of it is many chunks: clients hang up on it. */
const BIG = 'big';
const BIG_ROWS = 30_000;
/** A DOUBLE column: an NDJSON export of it streams rows (DuckDB's JSON writer prints floats differently). */
const BIG_COLUMNS = [...COLUMNS, { name: 'score', type: 'DOUBLE' }];

function bigCsv(rows: number): string {
  const lines = ['id,name,amount,ts,score'];
  for (let i = 0; i < rows; i++) lines.push(`${i},name ${i},${(i % 1000) + 0.25},2026-01-01 12:00:00,${i / 7}`);
  return `${lines.join('\n')}\n`;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, index)]! * 10) / 10;
}

function csv(random: () => number, rows: number): string {
  const lines = ['id,name,amount,ts'];
  for (let i = 0; i < rows; i++) {
    const id = Math.floor(random() * 200);
    lines.push(`${id},"row ${id}, ""quoted""",${(random() * 1000).toFixed(2)},2026-01-0${1 + (i % 9)} 12:00:00`);
  }
  return `${lines.join('\n')}\n`;
}

/** Runs the soak and returns its summary; starts and stops its own server. */
export async function runSoak(options: SoakOptions): Promise<SoakSummary> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const projectCount = options.projects ?? 4;
  const root = await mkdtemp(join(tmpdir(), 'dsa-soak-'));
  const dataDir = join(root, 'data');
  let serverErrors = 0;
  const logger = pino({ level: 'warn' }, {
    write(line: string) {
      if (/"level":(50|60)/.test(line)) serverErrors++;
    },
  });
  const config = parseConfig({ DATA_DIR: dataDir, ADMIN_API_KEY: ADMIN, HOST: '127.0.0.1', PORT: '0', DUCKDB_THREADS: '2', DUCKDB_MEMORY_LIMIT: '1GB', LOG_LEVEL: 'warn', DEBUG: 'true' });
  const running = await startServer(config, logger);
  const base = running.url;

  const stats = new Map<string, OpStats>();
  const statuses: Record<string, number> = {};
  const samples: string[] = [];
  let unexpected = 0;
  let requests = 0;

  const note = (op: string, status: number | string, ms: number, bad: string | undefined) => {
    const s = stats.get(op) ?? { count: 0, statuses: {}, unexpected: 0, latencies: [] };
    stats.set(op, s);
    s.count++;
    s.statuses[status] = (s.statuses[status] ?? 0) + 1;
    s.latencies.push(ms);
    statuses[status] = (statuses[status] ?? 0) + 1;
    requests++;
    if (bad) {
      s.unexpected++;
      unexpected++;
      if (samples.length < 20) samples.push(`${op}: ${bad}`);
    }
  };

  /** One request; its outcome is checked against `expected` and recorded under `op`. */
  async function call(op: string, key: string, method: string, path: string, expected: Expected, body?: { json?: unknown; raw?: string; type?: string }): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    let payload: string | undefined;
    if (body?.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body?.raw !== undefined) {
      headers['content-type'] = body.type ?? 'text/csv';
      payload = body.raw;
    }
    const started = performance.now();
    let status: number;
    let text: string;
    let isJson: boolean;
    try {
      const response = await fetch(base + path, { method, headers, body: payload });
      status = response.status;
      isJson = (response.headers.get('content-type') ?? '').startsWith('application/json');
      // The whole body, so a stream that breaks half-way is seen (an export in particular).
      text = await response.text();
    } catch (error) {
      note(op, 'network_error', performance.now() - started, `${method} ${path}: ${(error as Error).message}`);
      return { status: 0, body: undefined };
    }
    const ms = performance.now() - started;
    let parsed: any;
    try {
      parsed = isJson ? JSON.parse(text) : text;
    } catch {
      parsed = undefined;
    }
    let bad: string | undefined;
    if (!Object.hasOwn(expected, status)) bad = `${method} ${path} → ${status} ${text.slice(0, 300)}`;
    else {
      const codes = expected[status];
      if (codes && !codes.includes(parsed?.detail?.error)) bad = `${method} ${path} → ${status} ${text.slice(0, 300)}`;
      if (status >= 400 && !isJson) bad = `${method} ${path} → ${status} without a JSON error body`;
      if (status < 300 && isJson && parsed === undefined) bad = `${method} ${path} → unparsable body ${text.slice(0, 100)}`;
    }
    note(op, status, ms, bad);
    return { status, body: parsed };
  }

  /**
   * One request the client drops: after the response's first chunk (`first_chunk`), or
   * `afterMs` after sending it, whichever comes first. Its outcome: `aborted`, `complete`
   * (the body ended before), or the status when it is an error answered before the drop.
   */
  async function dropped(op: string, key: string, method: string, path: string, errors: Expected, when: { afterMs?: number }, json?: unknown): Promise<void> {
    const controller = new AbortController();
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (json !== undefined) headers['content-type'] = 'application/json';
    const started = performance.now();
    const timer = when.afterMs === undefined ? undefined : setTimeout(() => controller.abort(), when.afterMs);
    let outcome: number | string;
    let bad: string | undefined;
    try {
      const response = await fetch(base + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json), signal: controller.signal });
      outcome = response.status;
      if (response.status !== 200) {
        const text = await response.text();
        const codes = errors[response.status];
        if (!Object.hasOwn(errors, response.status) || (codes && !codes.includes(JSON.parse(text)?.detail?.error))) bad = `${method} ${path} → ${response.status} ${text.slice(0, 300)}`;
      } else {
        const reader = response.body!.getReader();
        const first = await reader.read();
        if (first.done) outcome = 'complete';
        else {
          controller.abort();
          outcome = 'aborted';
          await reader.cancel().catch(() => {});
        }
      }
    } catch (error) {
      if (controller.signal.aborted) outcome = 'aborted';
      else {
        outcome = 'network_error';
        bad = `${method} ${path}: ${(error as Error).message}`;
      }
    } finally {
      clearTimeout(timer);
    }
    note(op, outcome, performance.now() - started, bad);
  }

  // ---- setup (admin) -------------------------------------------------------------------
  const projects: { id: string; key: string }[] = [];
  const setupOk: Expected = { 200: null, 201: null };
  for (let i = 0; i < projectCount; i++) {
    const id = `soak${i}`;
    const created = await call('setup', ADMIN, 'POST', '/projects', setupOk, { json: { id } });
    projects.push({ id, key: created.body.api_key });
    await call('setup', ADMIN, 'POST', `/projects/${id}/buckets`, setupOk, { json: { name: 'data' } });
    await call('setup', ADMIN, 'POST', `/projects/${id}/buckets`, setupOk, { json: { name: 'pub' } });
    await call('setup', ADMIN, 'POST', `/projects/${id}/buckets/pub/tables`, setupOk, { json: { name: 'pt', columns: COLUMNS, primary_key: ['id'] } });
    await call('setup', ADMIN, 'POST', `/projects/${id}/buckets/pub/tables/pt/import`, setupOk, { raw: csv(random, 20) });
    await call('setup', ADMIN, 'POST', `/projects/${id}/buckets/data/tables`, setupOk, { json: { name: BIG, columns: BIG_COLUMNS } });
    await call('setup', ADMIN, 'POST', `/projects/${id}/buckets/data/tables/${BIG}/import`, setupOk, { raw: bigCsv(BIG_ROWS) });
  }
  if (unexpected > 0) throw new Error(`soak setup failed: ${samples.join('\n')}`);

  // ---- the operations ------------------------------------------------------------------
  const T = (p: string, table: string) => `/projects/${p}/buckets/data/tables/${table}`;
  const gone = { 404: ['table_not_found'] };
  type Op = { name: string; weight: number; run: () => Promise<unknown> };
  const ops: Op[] = [
    {
      name: 'create_table',
      weight: 6,
      run: () => {
        const p = pick(projects);
        return call('create_table', p.key, 'POST', `/projects/${p.id}/buckets/data/tables`, { 201: null, 409: ['table_exists'] }, { json: { name: pick(TABLES), columns: COLUMNS, primary_key: ['id'] } });
      },
    },
    {
      name: 'import',
      weight: 10,
      run: () => {
        const p = pick(projects);
        const incremental = random() < 0.5;
        return call('import', p.key, 'POST', `${T(p.id, pick(TABLES))}/import?incremental=${incremental}`, { 200: null, ...gone, 429: ['too_many_requests'] }, { raw: csv(random, 1 + Math.floor(random() * 50)) });
      },
    },
    {
      name: 'preview',
      weight: 10,
      run: () => {
        const p = pick(projects);
        return call('preview', p.key, 'GET', `${T(p.id, pick(TABLES))}/preview?limit=20`, { 200: null, ...gone });
      },
    },
    {
      name: 'filtered_preview',
      weight: 5,
      run: () => {
        const p = pick(projects);
        return call('filtered_preview', p.key, 'POST', `${T(p.id, pick(TABLES))}/preview`, { 200: null, ...gone }, {
          json: { limit: 10, filters: [{ column: 'amount', operator: 'gt', values: ['100.5'] }], order_by: [{ column: 'id', order: 'desc' }] },
        });
      },
    },
    {
      name: 'export',
      weight: 8,
      run: () => {
        const p = pick(projects);
        return call('export', p.key, 'GET', `${T(p.id, pick(TABLES))}/export?format=${pick(['csv', 'ndjson'])}`, { 200: null, ...gone });
      },
    },
    {
      // Every way an export is made: parts (CSV, NDJSON of plain types), one COPY in the
      // export instance (Parquet), one COPY in the main instance (a limit), streamed rows
      // (NDJSON of a DOUBLE column), each also gzipped.
      name: 'export_dropped',
      weight: 6,
      run: () => {
        const p = pick(projects);
        const big = random() < 0.7;
        const table = big ? BIG : pick(TABLES);
        const format = pick(['csv', 'ndjson', 'parquet']);
        const columns = big && format === 'ndjson' && random() < 0.5 ? '&columns=id,name,amount,ts' : '';
        const limit = random() < 0.25 ? `&limit=${1 + Math.floor(random() * BIG_ROWS)}` : '';
        const gzip = random() < 0.3 ? '&gzip=true' : '';
        return dropped('export_dropped', p.key, 'GET', `${T(p.id, table)}/export?format=${format}${columns}${limit}${gzip}`, gone, {});
      },
    },
    {
      // A query dropped while it runs (the answer is not sent yet), or a streamed one after its first chunk.
      name: 'query_dropped',
      weight: 4,
      run: () => {
        const p = pick(projects);
        const busy = { 429: ['too_many_requests'] };
        if (random() < 0.5) {
          return dropped('query_dropped', p.key, 'POST', `/projects/${p.id}/query`, busy, { afterMs: Math.floor(random() * 60) }, {
            sql: `SELECT count(*) FROM data.${BIG}, range(100000000)`,
            format: pick(['json', 'csv', 'ndjson', 'parquet']),
            timeout_seconds: 30,
          });
        }
        return dropped('query_dropped', p.key, 'POST', `/projects/${p.id}/query`, busy, { afterMs: 2000 }, {
          sql: `SELECT b.*, r.range FROM data.${BIG} b, range(3) r`,
          format: pick(['csv', 'ndjson', 'parquet']),
          limit: 100000,
        });
      },
    },
    {
      name: 'delete_rows',
      weight: 4,
      run: () => {
        const p = pick(projects);
        return call('delete_rows', p.key, 'POST', `${T(p.id, pick(TABLES))}/delete-rows`, { 200: null, ...gone }, {
          json: { filters: [{ column: 'id', operator: 'lt', values: [Math.floor(random() * 100)] }] },
        });
      },
    },
    {
      name: 'delete_table',
      weight: 4,
      run: () => {
        const p = pick(projects);
        return call('delete_table', p.key, 'DELETE', T(p.id, pick(TABLES)), { 204: null, ...gone });
      },
    },
    {
      name: 'list_tables',
      weight: 4,
      run: () => {
        const p = pick(projects);
        return call('list_tables', p.key, 'GET', `/projects/${p.id}/buckets/data/tables`, { 200: null });
      },
    },
    {
      name: 'import_shared',
      weight: 3,
      run: () => {
        const p = pick(projects);
        return call('import_shared', p.key, 'POST', `/projects/${p.id}/buckets/pub/tables/pt/import?incremental=true`, { 200: null, 429: ['too_many_requests'] }, { raw: csv(random, 10) });
      },
    },
    {
      name: 'share',
      weight: 3,
      run: () => {
        const [p, q] = pair();
        return call('share', p.key, 'POST', `/projects/${p.id}/buckets/pub/share`, { 200: null, 409: ['already_shared'] }, { json: { target_project_id: q.id } });
      },
    },
    {
      name: 'unshare',
      weight: 1,
      run: () => {
        const [p, q] = pair();
        return call('unshare', p.key, 'DELETE', `/projects/${p.id}/buckets/pub/share?target_project_id=${q.id}&force=true`, { 204: null, 404: ['share_not_found'] });
      },
    },
    {
      name: 'link',
      weight: 3,
      run: () => {
        const [p, q] = pair();
        return call('link', q.key, 'POST', `/projects/${q.id}/buckets/from_${p.id}/link`, { 201: null, 403: ['not_shared'], 409: ['bucket_exists', 'already_linked'] }, {
          json: { source_project_id: p.id, source_bucket_name: 'pub' },
        });
      },
    },
    {
      name: 'read_linked',
      weight: 5,
      run: () => {
        const [p, q] = pair();
        const path = `/projects/${q.id}/buckets/from_${p.id}/tables/pt`;
        return random() < 0.5
          ? call('read_linked', q.key, 'GET', `${path}/preview?limit=5`, { 200: null, 404: ['bucket_not_found'] })
          : call('read_linked', q.key, 'GET', `${path}/export?format=csv`, { 200: null, 404: ['bucket_not_found'] });
      },
    },
    {
      name: 'unlink',
      weight: 1,
      run: () => {
        const [p, q] = pair();
        return call('unlink', q.key, 'DELETE', `/projects/${q.id}/buckets/from_${p.id}/link`, { 204: null, 404: ['link_not_found'] });
      },
    },
  ];
  /** Two different projects. */
  function pair(): [(typeof projects)[number], (typeof projects)[number]] {
    const i = Math.floor(random() * projects.length);
    const j = (i + 1 + Math.floor(random() * (projects.length - 1))) % projects.length;
    return [projects[i]!, projects[j]!];
  }
  const totalWeight = ops.reduce((sum, op) => sum + op.weight, 0);
  const chooseOp = (): Op => {
    let r = random() * totalWeight;
    for (const op of ops) if ((r -= op.weight) < 0) return op;
    return ops[ops.length - 1]!;
  };

  const started = performance.now();
  const deadline = options.durationMs === undefined ? Infinity : Date.now() + options.durationMs;
  const budget = options.operations ?? Infinity;
  if (deadline === Infinity && budget === Infinity) throw new Error('a soak needs a duration or an operation count');
  let issued = 0;
  const worker = async () => {
    while (Date.now() < deadline && issued < budget) {
      issued++;
      await chooseOp().run();
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
    const elapsed = (performance.now() - started) / 1000;

    // ---- invariants once the traffic has stopped ------------------------------------------
    const violations: string[] = [];
    let checked = 0;
    const health = await fetch(`${base}/health`);
    if (health.status !== 200) violations.push(`health ${health.status}`);
    await health.body?.cancel();
    const adminGet = async (path: string) => {
      const response = await fetch(base + path, { headers: { authorization: `Bearer ${ADMIN}` } });
      return { status: response.status, body: await response.json() };
    };
    for (const p of projects) {
      for (const bucket of ['data', 'pub']) {
        const listed = await adminGet(`/projects/${p.id}/buckets/${bucket}/tables`);
        if (listed.status !== 200) {
          violations.push(`list ${p.id}/${bucket}: ${listed.status}`);
          continue;
        }
        const names = new Set<string>();
        for (const table of listed.body.tables as { name: string; row_count: number }[]) {
          names.add(table.name);
          checked++;
          // The catalog's row count is the file's.
          const preview = await adminGet(`/projects/${p.id}/buckets/${bucket}/tables/${table.name}/preview?limit=1`);
          if (preview.status !== 200 || preview.body.total_row_count !== table.row_count) {
            violations.push(`${p.id}/${bucket}/${table.name}: catalog row_count ${table.row_count}, file ${preview.body?.total_row_count} (${preview.status})`);
          }
          if (!existsSync(running.services.paths.tableFile(p.id, bucket, table.name))) violations.push(`${p.id}/${bucket}/${table.name}: no file`);
        }
        // Every table file has its catalog row.
        const dir = running.services.paths.bucketDir(p.id, bucket);
        for (const entry of existsSync(dir) ? await readdir(dir) : []) {
          const table = /^(.+)\.duckdb$/.exec(entry)?.[1];
          if (entry.endsWith('.wal')) continue;
          if (!table || !names.has(table)) violations.push(`${p.id}/${bucket}: stray file ${entry}`);
        }
      }
    }
    // A dropped request's clean-up runs on the server after the client has gone: give it a moment.
    const leftovers = async () => {
      const staged = await readdir(running.services.paths.filesDir);
      const outputs = (await readdir(running.services.sql.root)).filter((name) => name.startsWith('out-'));
      return { staged, outputs, queries: running.services.sql.activeQueries };
    };
    let left = await leftovers();
    for (let i = 0; i < 100 && (left.staged.length || left.outputs.length || left.queries); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = await leftovers();
    }
    if (left.staged.length) violations.push(`staging files left: ${left.staged.length}`);
    if (left.outputs.length) violations.push(`query output files left: ${left.outputs.length}`);
    if (left.queries) violations.push(`query slots still taken: ${left.queries}`);
    const healthAfter = await fetch(`${base}/health`);
    if (healthAfter.status !== 200) violations.push(`health after the checks ${healthAfter.status}`);
    await healthAfter.body?.cancel();

    const all = [...stats.entries()].filter(([op]) => op !== 'setup').flatMap(([, s]) => s.latencies).sort((a, b) => a - b);
    const operations: SoakSummary['operations'] = {};
    for (const [op, s] of [...stats.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const sorted = [...s.latencies].sort((a, b) => a - b);
      operations[op] = { count: s.count, statuses: s.statuses, unexpected: s.unexpected, p50_ms: percentile(sorted, 50), p95_ms: percentile(sorted, 95), p99_ms: percentile(sorted, 99) };
    }
    return {
      seed,
      concurrency: options.concurrency,
      duration_s: Math.round(elapsed * 10) / 10,
      requests,
      requests_per_s: Math.round(requests / elapsed),
      statuses,
      unexpected: unexpected + violations.length,
      unexpected_samples: samples,
      latency_ms: { p50: percentile(all, 50), p95: percentile(all, 95), p99: percentile(all, 99), max: percentile(all, 100) },
      operations,
      invariants: { checked_tables: checked, violations },
      server_error_logs: serverErrors,
    };
  } finally {
    await running.stop(5_000);
    await rm(root, { recursive: true, force: true });
  }
}

// `npm run soak`
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const seconds = Number(process.env.SOAK_SECONDS ?? 60);
  const concurrency = Number(process.env.SOAK_CONCURRENCY ?? 32);
  const operations = process.env.SOAK_OPERATIONS ? Number(process.env.SOAK_OPERATIONS) : undefined;
  const seed = process.env.SOAK_SEED ? Number(process.env.SOAK_SEED) : undefined;
  if (!(seconds > 0) || !(concurrency > 0)) {
    process.stderr.write('SOAK_SECONDS and SOAK_CONCURRENCY must be positive numbers\n');
    process.exit(2);
  }
  runSoak({ durationMs: seconds * 1000, operations, concurrency, seed }).then(
    (summary) => {
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      process.exit(summary.unexpected > 0 ? 1 : 0);
    },
    (error) => {
      process.stderr.write(`soak failed: ${(error as Error).stack ?? error}\n`);
      process.exit(1);
    },
  );
}
