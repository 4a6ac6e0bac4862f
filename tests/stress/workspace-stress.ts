// Stress: workspace SQL stopped at every moment — client aborts at random points of a
// multi-statement run, short timeouts, the workspace deleted or expired (the sweeper's
// task) while its SQL runs, and imports into the table the statements read. After each
// round: no query slot or statement left counted, the table reads, a fresh workspace runs
// SQL. A statement that never ends is reported (HANG, with the pid for gdb).
//   node --import tsx tests/stress/workspace-stress.ts   (STRESS_MS, default 60000)
import { workspaceSweepTask } from '../../src/storage/sql/workspaces.ts';
import { ADMIN_KEY, makeApp } from '../helpers.ts';

const t = await makeApp({ env: { MAX_CONCURRENT_QUERIES: '8' } });
const P = '/projects/p';
const T = `${P}/buckets/in_c_b/tables/t`;
await t.createProject('p');
await t.callJson('POST', `${P}/buckets`, { body: { name: 'in_c_b' } });
await t.callJson('POST', `${P}/buckets/in_c_b/tables`, { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }] } });
const rows = ['id,v'];
for (let i = 0; i < 20000; i++) rows.push(`${i},value ${i}`);
if ((await t.callJson('POST', `${T}/import`, { raw: `${rows.join('\n')}\n`, headers: { 'content-type': 'text/csv' } })).status !== 200) throw new Error('import');

const SQL = [
  'CREATE TABLE a AS SELECT t.id, t.v, r.range FROM in_c_b.t t, range(30) r',
  'CREATE TABLE b AS SELECT id % 100 AS k, count(*) AS n FROM a GROUP BY 1',
  'INSERT INTO b SELECT k + 1000, n FROM b',
  'SELECT count(*) FROM in_c_b.t, range(1000000000000)',
].join('; ');
const seen: Record<string, number> = {};
const note = (key: string) => (seen[key] = (seen[key] ?? 0) + 1);
const sweep = workspaceSweepTask(t.services);

async function workspace(): Promise<string> {
  const r = await t.callJson('POST', `${P}/workspaces`, { body: {} });
  if (r.status !== 201) throw new Error(`create ${r.status}`);
  return r.body.id;
}

async function query(ws: string, timeout: number, abortAfterMs?: number): Promise<void> {
  const abort = new AbortController();
  if (abortAfterMs !== undefined) setTimeout(() => abort.abort(), abortAfterMs);
  const response = await t.app.fetch(
    new Request(`http://local.test${P}/workspaces/${ws}/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sql: SQL, timeout_seconds: timeout }),
      signal: abort.signal,
    }),
  );
  const body = await response.text();
  const code = response.status === 200 ? '' : (JSON.parse(body).detail?.error ?? '');
  note(`query:${response.status}:${code}`);
  if (response.status >= 500) throw new Error(`query ${response.status}: ${body}`);
}

const deadline = Date.now() + Number(process.env.STRESS_MS ?? 60000);
let rounds = 0;
while (Date.now() < deadline) {
  rounds++;
  const timer = setTimeout(() => console.log('HANG', rounds, process.pid), 15000);
  const [w1, w2, w3, w4] = await Promise.all([workspace(), workspace(), workspace(), workspace()]);
  const delay = (rounds * 7) % 60;
  const deleted = (async () => {
    await new Promise((resolve) => setTimeout(resolve, delay));
    const r = await t.call('DELETE', `${P}/workspaces/${w3}`);
    note(`delete:${r.status}`);
  })();
  const expired = (async () => {
    await new Promise((resolve) => setTimeout(resolve, delay));
    // Every workspace is due at a date far ahead: the sweep takes the ones whose SQL it waits for.
    note(`swept:${await sweep.sweep(new Date(Date.now() + 1000 * 3600 * 24 * 365))}`);
  })();
  const importing = rounds % 3 === 0 ? t.callJson('POST', `${T}/import?incremental=true`, { raw: 'id,v\n-1,x\n', headers: { 'content-type': 'text/csv' } }).then((r) => note(`import:${r.status}`)) : Promise.resolve();
  await Promise.all([
    query(w1, 30, (rounds * 13) % 80),
    rounds % 5 === 0 ? query(w2, 1) : query(w2, 30, (rounds * 5) % 40),
    query(w3, 30, 200),
    query(w4, 30, 100 + ((rounds * 3) % 50)),
    deleted,
    expired,
    importing,
  ]);
  for (const ws of [w1, w2, w4]) await t.call('DELETE', `${P}/workspaces/${ws}`);
  const { sql } = t.services;
  if (sql.activeQueries !== 0 || sql.activeStatements !== 0) throw new Error(`left counted: ${sql.activeQueries} queries, ${sql.activeStatements} statements`);
  if ((await t.callJson('GET', `${T}/preview?limit=1`)).status !== 200) throw new Error('preview');
  const fresh = await workspace();
  const ok = await t.callJson('POST', `${P}/workspaces/${fresh}/query`, { body: { sql: 'CREATE TABLE c AS SELECT count(*) AS n FROM in_c_b.t; SELECT n FROM c' } });
  if (ok.status !== 200) throw new Error(`fresh ${ok.status} ${JSON.stringify(ok.body)}`);
  await t.call('DELETE', `${P}/workspaces/${fresh}`);
  clearTimeout(timer);
}
console.log(JSON.stringify({ rounds, seen }));
await t.close();
