/**
 * Schema-change benchmark (§12) on a 1,000,000-row table (BIGINT id, INTEGER qty, VARCHAR
 * name, DECIMAL(12,2) amount), the server (a process of its own) over HTTP against DuckDB's
 * own statements on a byte copy of the same table file, in the same run, same threads and
 * memory limit:
 *
 * - add a column with a default: `ALTER TABLE … ADD COLUMN flag INTEGER DEFAULT 0`
 * - a type change INTEGER → BIGINT: `ALTER TABLE … ALTER qty SET DATA TYPE BIGINT`
 * - set the primary key: `ALTER TABLE … ADD PRIMARY KEY (id)`
 * - the profile against `SUMMARIZE` of the same table
 * - (for information) a key column's type change, which DuckDB refuses in place: the
 *   server's rebuild against DuckDB's own rebuild (CREATE TABLE with the new columns in a
 *   new file, INSERT … SELECT, ADD PRIMARY KEY).
 *
 * The reference side opens the copy the way the server opens the table (ATTACH) inside its
 * timing. Each figure is the median of a few rounds, each round on a fresh table.
 * Run alone: `node --import tsx tests/bench/schema-bench.ts` prints one JSON line.
 */
import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ADMIN_KEY, api, runWhenMain, sqlString, median, round, settled } from './common.ts';
import { startChild, stopChild } from './export-bench.ts';
import { upload } from './import-bench.ts';

const ROWS = 1_000_000;
const RUNS = Number(process.env.RUNS ?? 3);
const THREADS = 4;
const MEMORY_LIMIT = '4GB';


const COLUMNS = [
  { name: 'id', type: 'BIGINT', nullable: false },
  { name: 'qty', type: 'INTEGER' },
  { name: 'name', type: 'VARCHAR' },
  { name: 'amount', type: 'DECIMAL(12,2)' },
];

async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const result = await work();
  return [performance.now() - started, result];
}

export async function schemaBench(): Promise<Record<string, unknown>> {
  const root = await mkdtemp(join(tmpdir(), 'dsa-schema-bench-'));
  const csv = join(root, 'rows.csv');
  const settings = { threads: String(THREADS), memory_limit: MEMORY_LIMIT };
  let stopServer: (() => Promise<void>) | undefined;
  let reference: DuckDBInstance | undefined;
  try {
    {
      const generator = await DuckDBInstance.create(':memory:', settings);
      const c = await generator.connect();
      await c.run(
        `COPY (SELECT i AS id, (i * 7) % 100000 AS qty, 'customer ' || md5(i::VARCHAR)[1:10] AS name, ((i * 37) % 1000000) / 100.0 AS amount
         FROM range(1, ${ROWS + 1}) r(i)) TO ${sqlString(csv)} (FORMAT csv, HEADER)`,
      );
      c.closeSync();
      generator.closeSync();
    }
    // The server in a process of its own, as it runs in production (and as the other
    // sections run it): the bench's client and the reference's DuckDB do not share its event
    // loop, its heap or its garbage collector.
    const dataDir = join(root, 'data');
    const started = await startChild(dataDir);
    const server = { url: started.url };
    stopServer = async () => {
      await settled(server.url);
      await stopChild(started.child);
    };
    await api(server.url, 'POST', '/projects', { id: 'bench' });
    await api(server.url, 'POST', '/projects/bench/buckets', { name: 'in_c_schema' });
    const B = '/projects/bench/buckets/in_c_schema';
    reference = await DuckDBInstance.create(join(root, 'reference.duckdb'), settings);
    const rc: DuckDBConnection = await reference.connect();

    const round1 = async (n: number) => {
      const name = `t${n}`;
      const T = `${B}/tables/${name}`;
      await api(server.url, 'POST', `${B}/tables`, { name, columns: COLUMNS });
      const imported = await upload(`${server.url}${T}/import`, csv, (await stat(csv)).size, { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' });
      if (imported.status !== 200) throw new Error(`import: ${imported.status} ${JSON.stringify(imported.body)}`);
      await settled(server.url);
      // The reference works on a byte copy of the file as the server has it now.
      const file = join(dataDir, 'duckdb', 'project_bench', 'in_c_schema', `${name}.duckdb`);
      const copy = join(root, `ref${n}.duckdb`);
      await copyFile(file, copy);
      const alias = `ref${n}`;
      // Opening the file is inside the reference's time (the server opens it per request
      // too); closing it is not (the server detaches after answering).
      const reopen = async (work: () => Promise<unknown>): Promise<number> => {
        const started = performance.now();
        await rc.run(`ATTACH ${sqlString(copy)} AS ${alias}`);
        try {
          await work();
          return performance.now() - started;
        } finally {
          await rc.run(`DETACH ${alias}`);
        }
      };
      const out: Record<string, number> = {};
      const step = async (label: string, ours: () => Promise<unknown>, theirs: string) => {
        [out[label]] = await timed(ours);
        await settled(server.url);
        out[`${label}_reference`] = await reopen(() => rc.run(theirs));
      };
      await step('add_column', () => api(server.url, 'POST', `${T}/columns`, { name: 'flag', type: 'INTEGER', default: 0 }), `ALTER TABLE ${alias}.main.data ADD COLUMN flag INTEGER DEFAULT 0`);
      await step('type_change', () => api(server.url, 'PATCH', `${T}/columns/qty`, { type: 'BIGINT' }), `ALTER TABLE ${alias}.main.data ALTER qty SET DATA TYPE BIGINT`);
      await step('set_primary_key', () => api(server.url, 'PUT', `${T}/primary-key`, { columns: ['id'] }), `ALTER TABLE ${alias}.main.data ADD PRIMARY KEY (id)`);
      // The profile against SUMMARIZE of the same rows.
      [out.profile] = await timed(() => api(server.url, 'GET', `${T}/profile`));
      await settled(server.url);
      out.profile_reference = await reopen(() => rc.runAndReadAll(`SUMMARIZE ${alias}.main.data`));
      // A key column's type change: the server's rebuild against DuckDB's own rebuild.
      [out.key_type_change] = await timed(() => api(server.url, 'PATCH', `${T}/columns/id`, { type: 'HUGEINT' }));
      await settled(server.url);
      const rebuilt = join(root, `rebuilt${n}.duckdb`);
      out.key_type_change_reference = await reopen(async () => {
        await rc.run(`ATTACH ${sqlString(rebuilt)} AS nb${n}`);
        // DuckDB's fastest rebuild we know: rows first, then the key (as the server does).
        await rc.run(`CREATE TABLE nb${n}.main.data (id HUGEINT NOT NULL, qty BIGINT, name VARCHAR, amount DECIMAL(12,2), flag INTEGER DEFAULT 0)`);
        await rc.run(`INSERT INTO nb${n}.main.data SELECT id::HUGEINT, qty, name, amount, flag FROM ${alias}.main.data`);
        await rc.run(`ALTER TABLE nb${n}.main.data ADD PRIMARY KEY (id)`);
        await rc.run(`DETACH nb${n}`);
      });
      await api(server.url, 'DELETE', T);
      await rm(copy, { force: true });
      await rm(rebuilt, { force: true });
      return out;
    };

    await round1(0); // warm-up
    const rounds: Record<string, number>[] = [];
    for (let n = 1; n <= RUNS; n++) rounds.push(await round1(n));
    rc.closeSync();
    const m = (key: string) => median(rounds.map((r) => r[key]!));
    const figure = (label: string) => ({ [`${label}_ms`]: round(m(label), 0), [`${label}_reference_ms`]: round(m(`${label}_reference`), 0), [`${label}_ratio`]: round(m(label) / m(`${label}_reference`)) });
    return {
      bench: 'schema',
      rows: ROWS,
      runs: RUNS,
      threads: THREADS,
      ...figure('add_column'),
      ...figure('type_change'),
      ...figure('set_primary_key'),
      ...figure('profile'),
      ...figure('key_type_change'),
      samples: rounds,
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

runWhenMain(import.meta.url, 'schema', schemaBench);
