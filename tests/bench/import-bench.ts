/**
 * Import benchmark: a 1M-row CSV (integer key, text, decimal, timestamp; ~50 MB) streamed
 * over HTTP (by curl when it runs here) into a keyed table by the real server (a process of
 * its own), against DuckDB's own `INSERT INTO t SELECT * FROM read_csv(file)` into an
 * identical table in a fresh file;
 * then an incremental upsert of 100k rows (half new keys, half existing) against DuckDB's
 * own `INSERT … ON CONFLICT DO UPDATE`. Same threads and memory limit on both sides; each
 * figure is the median of a few rounds, each round on fresh tables.
 *
 * Run alone: `node --import tsx tests/bench/import-bench.ts` prints one JSON line.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ADMIN_KEY, api, runWhenMain, sqlString, median, round, postStream, hasCurl, curlTransfer, exitedChildrenCpuMs, settled as settledServer } from './common.ts';
import { startChild } from './export-bench.ts';

const ROWS = 1_000_000;
const UPSERT_ROWS = 100_000;
const RUNS = Number(process.env.RUNS ?? 5);
const THREADS = 4;
const MEMORY_LIMIT = '4GB';


const COLUMNS = [
  { name: 'id', type: 'BIGINT', nullable: false },
  { name: 'name', type: 'VARCHAR' },
  { name: 'amount', type: 'DECIMAL(12,2)' },
  { name: 'ts', type: 'TIMESTAMP' },
];
const REFERENCE_DDL = 'id BIGINT NOT NULL, name VARCHAR, amount DECIMAL(12,2), ts TIMESTAMP, PRIMARY KEY (id)';

/** Rows `from`..`to` (inclusive) as CSV with a header, written by DuckDB. */
export async function writeCsv(c: DuckDBConnection, path: string, from: number, to: number, salt: string): Promise<void> {
  await c.run(
    `COPY (SELECT i AS id, ${sqlString(salt)} || ' ' || md5(i::VARCHAR)[1:10] AS name, ((i * 37) % 1000000) / 100.0 AS amount,
       TIMESTAMP '2024-01-01' + to_seconds(i * 13) AS ts FROM range(${from}, ${to + 1}) r(i))
     TO ${sqlString(path)} (FORMAT csv, HEADER)`,
  );
}

/**
 * Streams a file as the body of a POST: by curl when it runs here (see `curlTransfer`),
 * otherwise piped in 1 MiB chunks by node:http.
 */
export async function upload(url: string, file: string, size: number, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  if (!hasCurl) return postStream(url, createReadStream(file, { highWaterMark: 1 << 20 }), { ...headers, 'content-length': String(size) });
  const answer = await curlTransfer(url, { method: 'POST', headers, upload: file });
  return { status: answer.status, body: answer.text ? JSON.parse(answer.text) : undefined };
}

/** CPU time (user + system, all threads) a process has used so far, in ms (Linux /proc; 0 elsewhere). */
async function processCpuMs(pid: number): Promise<number> {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    // utime and stime (fields 14 and 15) in clock ticks, 100 per second on Linux.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/**
 * Wall time of `work` in ms. When `cpu` is given, the CPU time (all threads) used meanwhile
 * by this process, by the curl it ran and, for the server's calls, by the server's process
 * is added to it.
 */
async function timed<T>(work: () => Promise<T>, cpu?: number[], serverPid?: number): Promise<[number, T]> {
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const curlStart = exitedChildrenCpuMs();
  const serverStart = serverPid ? await processCpuMs(serverPid) : 0;
  const result = await work();
  const used = process.cpuUsage(cpuStart);
  const server = serverPid ? (await processCpuMs(serverPid)) - serverStart : 0;
  cpu?.push((used.user + used.system) / 1000 + exitedChildrenCpuMs() - curlStart + server);
  return [performance.now() - started, result];
}

export async function importBench(): Promise<Record<string, unknown>> {
  const root = await mkdtemp(join(tmpdir(), 'dsa-import-bench-'));
  const fullCsv = join(root, 'full.csv');
  const upsertCsv = join(root, 'upsert.csv');
  const settings = { threads: String(THREADS), memory_limit: MEMORY_LIMIT };
  let stopServer: (() => Promise<void>) | undefined;
  let child: ChildProcess | undefined;
  let reference: DuckDBInstance | undefined;
  try {
    // The files, written by DuckDB: 1M rows, then 100k rows whose first half updates keys
    // already loaded and whose second half adds new ones.
    {
      const generator = await DuckDBInstance.create(':memory:', settings);
      const c = await generator.connect();
      await writeCsv(c, fullCsv, 1, ROWS, 'customer');
      await writeCsv(c, upsertCsv, ROWS - UPSERT_ROWS / 2 + 1, ROWS + UPSERT_ROWS / 2, 'updated');
      c.closeSync();
      generator.closeSync();
    }
    const fullSize = (await stat(fullCsv)).size;
    const upsertSize = (await stat(upsertCsv)).size;

    // The server in a process of its own, as it runs in production (and as `npm run bench`
    // runs it): the client streaming the file does not share the server's event loop.
    const started = await startChild(join(root, 'data'));
    child = started.child;
    const server = { url: started.url };
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    // The server detaches a table file once the last request using it is done (after a
    // write's checkpoint); the next request then opens it again. Stopping waits for that too.
    const settled = () => settledServer(server.url);
    stopServer = async () => {
      await settled();
      child!.kill('SIGTERM');
      await exited;
    };
    await api(server.url, 'POST', '/projects', { id: 'bench' });
    await api(server.url, 'POST', '/projects/bench/buckets', { name: 'in_c_import' });
    const tables = `${server.url}/projects/bench/buckets/in_c_import/tables`;
    const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' };

    reference = await DuckDBInstance.create(join(root, 'reference.duckdb'), settings);
    // CPU time per measured call: this process (client, reference DuckDB) plus the server's.
    const cpu = { import: [] as number[], reference: [] as number[], upsert: [] as number[], upsertReference: [] as number[] };
    const rc = await reference.connect();

    const serverRun = async (round: number) => {
      const name = `t${round}`;
      await api(server.url, 'POST', '/projects/bench/buckets/in_c_import/tables', { name, columns: COLUMNS, primary_key: ['id'] });
      const [fullMs, full] = await timed(() => upload(`${tables}/${name}/import`, fullCsv, fullSize, headers), cpu.import, child?.pid);
      if (full.status !== 200 || full.body.row_count !== ROWS) throw new Error(`full import: ${full.status} ${JSON.stringify(full.body).slice(0, 300)}`);
      await settled();
      const [upsertMs, upsert] = await timed(() => upload(`${tables}/${name}/import?incremental=true`, upsertCsv, upsertSize, headers), cpu.upsert, child?.pid);
      if (upsert.status !== 200 || upsert.body.row_count !== ROWS + UPSERT_ROWS / 2) {
        throw new Error(`upsert: ${upsert.status} ${JSON.stringify(upsert.body).slice(0, 300)}`);
      }
      await settled();
      return { fullMs, upsertMs };
    };
    const referenceUpsert = (alias: string, cpuSamples?: number[]) =>
      timed(
        () =>
          rc.run(
            `INSERT INTO ${alias}.main.data SELECT * FROM read_csv(${sqlString(upsertCsv)})
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, amount = EXCLUDED.amount, ts = EXCLUDED.ts`,
          ),
        cpuSamples,
      );
    const referenceRun = async (round: number) => {
      const alias = `ref${round}`;
      const file = sqlString(join(root, `${alias}.duckdb`));
      await rc.run(`ATTACH ${file} AS ${alias}`);
      await rc.run(`CREATE TABLE ${alias}.main.data (${REFERENCE_DDL})`);
      const [fullMs] = await timed(() => rc.run(`INSERT INTO ${alias}.main.data SELECT * FROM read_csv(${sqlString(fullCsv)})`), cpu.reference);
      // The upsert starts from the state the server's starts from: the file checkpointed
      // and closed, opened again for the statement.
      await rc.run(`DETACH ${alias}`);
      await rc.run(`ATTACH ${file} AS ${alias}`);
      const [upsertMs] = await referenceUpsert(alias, cpu.upsertReference);
      const count = Number((await rc.runAndReadAll(`SELECT count(*) FROM ${alias}.main.data`)).getRows()[0]![0]);
      if (count !== ROWS + UPSERT_ROWS / 2) throw new Error(`reference: ${count} rows`);
      await rc.run(`DETACH ${alias}`);
      // For comparison: the same upsert on a table still open (index already in memory).
      const warm = `${alias}w`;
      await rc.run(`ATTACH ${sqlString(join(root, `${warm}.duckdb`))} AS ${warm}`);
      await rc.run(`CREATE TABLE ${warm}.main.data (${REFERENCE_DDL})`);
      await rc.run(`INSERT INTO ${warm}.main.data SELECT * FROM read_csv(${sqlString(fullCsv)})`);
      const [warmMs] = await referenceUpsert(warm);
      await rc.run(`DETACH ${warm}`);
      return { fullMs, upsertMs, warmMs };
    };

    // A warm-up round of each (page cache, code paths), then measured rounds in alternating order.
    await serverRun(0);
    await referenceRun(0);
    for (const samples of Object.values(cpu)) samples.length = 0;
    const ours: { fullMs: number; upsertMs: number }[] = [];
    const theirs: { fullMs: number; upsertMs: number; warmMs: number }[] = [];
    for (let round = 1; round <= RUNS; round++) {
      if (round % 2) {
        ours.push(await serverRun(round));
        theirs.push(await referenceRun(round));
      } else {
        theirs.push(await referenceRun(round));
        ours.push(await serverRun(round));
      }
    }
    rc.closeSync();

    const importMs = median(ours.map((r) => r.fullMs));
    const referenceMs = median(theirs.map((r) => r.fullMs));
    const upsertMs = median(ours.map((r) => r.upsertMs));
    const upsertReferenceMs = median(theirs.map((r) => r.upsertMs));
    return {
      bench: 'import',
      rows: ROWS,
      csv_mb: round(fullSize / 1e6, 1),
      upsert_rows: UPSERT_ROWS,
      runs: RUNS,
      threads: THREADS,
      client: hasCurl ? 'curl' : 'node:http',
      import_1m_ms: round(importMs, 0),
      reference_ms: round(referenceMs, 0),
      ratio: round(importMs / referenceMs),
      upsert_100k_ms: round(upsertMs, 0),
      upsert_reference_ms: round(upsertReferenceMs, 0),
      upsert_ratio: round(upsertMs / upsertReferenceMs),
      upsert_reference_open_ms: round(median(theirs.map((r) => r.warmMs)), 0),
      cpu_ms: {
        import_1m: round(median(cpu.import), 0),
        reference: round(median(cpu.reference), 0),
        upsert_100k: round(median(cpu.upsert), 0),
        upsert_reference: round(median(cpu.upsertReference), 0),
      },
      samples: { import_ms: ours.map((r) => round(r.fullMs, 0)), reference_ms: theirs.map((r) => round(r.fullMs, 0)), upsert_ms: ours.map((r) => round(r.upsertMs, 0)), upsert_reference_ms: theirs.map((r) => round(r.upsertMs, 0)), upsert_reference_open_ms: theirs.map((r) => round(r.warmMs, 0)) },
    };
  } finally {
    try {
      reference?.closeSync();
    } catch {
      /* already closed */
    }
    await stopServer?.().catch(() => {});
    await rm(root, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, 'import', importBench);
