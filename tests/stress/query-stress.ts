// Stress: POST P/query stopped at every moment — client aborts (before the answer, and
// mid-body for the streamed formats), a streamed body cancelled after its first chunk, and
// short timeouts — with plain queries and previews in between. A statement that never ends
// is reported (HANG, with the pid for gdb); a crash ends the process.
//   node --import tsx tests/stress/query-stress.ts   (STRESS_MS, default 60000)
import { makeApp } from '../helpers.ts';

const t = await makeApp({ env: { MAX_CONCURRENT_QUERIES: '8' } });
await t.createProject('p');
await t.callJson('POST', '/projects/p/buckets', { body: { name: 'in_c_b' } });
await t.callJson('POST', '/projects/p/buckets/in_c_b/tables', { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }] } });
const rows = ['id,v'];
for (let i = 0; i < 20000; i++) rows.push(`${i},value ${i}`);
const imported = await t.callJson('POST', '/projects/p/buckets/in_c_b/tables/t/import', { raw: `${rows.join('\n')}\n`, headers: { 'content-type': 'text/csv' } });
if (imported.status !== 200) throw new Error(`import ${imported.status}`);

const LONG = 'SELECT count(*) FROM in_c_b.t, range(1000000000000)';
const WIDE = 'SELECT a.id, a.v, r.range FROM in_c_b.t a, range(20) r';
const formats = ['json', 'csv', 'ndjson', 'parquet'] as const;
/** STRESS_FORMATS=ndjson STRESS_MODES=2,3 narrow the mix. */
const only = {
  formats: process.env.STRESS_FORMATS?.split(',') as (typeof formats)[number][] | undefined,
  modes: process.env.STRESS_MODES?.split(',').map(Number),
};
const seen: Record<string, number> = {};
const note = (key: string) => (seen[key] = (seen[key] ?? 0) + 1);
const deadline = Date.now() + Number(process.env.STRESS_MS ?? 60000);
let rounds = 0;

async function one(round: number, lane: number): Promise<void> {
  const format = only.formats?.[(round + lane) % only.formats.length] ?? formats[(round + lane) % formats.length]!;
  const mode = only.modes?.[(round * 7 + lane) % only.modes.length] ?? (round * 7 + lane) % 5;
  const abort = new AbortController();
  const sql = mode === 0 || mode === 1 ? LONG : WIDE;
  const body = { sql, format, limit: 100000, timeout_seconds: mode === 1 ? 1 : 30 };
  if (mode === 0) setTimeout(() => abort.abort(), (round % 13) * 3);
  try {
    const response = await t.app.fetch(
      new Request('http://local.test/projects/p/query', {
        method: 'POST',
        headers: { authorization: 'Bearer test-admin-key-0123456789abcdef', 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: abort.signal,
      }),
    );
    note(`${mode}:${format}:${response.status}`);
    if (response.status >= 500) throw new Error(`status ${response.status}: ${await response.text()}`);
    if (!response.body) return;
    if (mode === 2) {
      // Cancelled after the first chunk (the next pull is under way).
      const reader = response.body.getReader();
      await reader.read();
      await reader.cancel();
    } else if (mode === 3) {
      // The client goes away mid-body.
      const reader = response.body.getReader();
      await reader.read();
      abort.abort();
      await reader.read().catch(() => {});
      await reader.cancel().catch(() => {});
    } else await response.body.cancel();
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
    note(`${mode}:${format}:aborted`);
  }
}

while (Date.now() < deadline) {
  rounds++;
  const timer = setTimeout(() => console.log('HANG', rounds, process.pid), 10000);
  await Promise.all([0, 1, 2, 3].map((lane) => one(rounds, lane)));
  const preview = await t.callJson('GET', '/projects/p/buckets/in_c_b/tables/t/preview?limit=1');
  if (preview.status !== 200) throw new Error(`preview ${preview.status}`);
  const check = await t.callJson('POST', '/projects/p/query', { body: { sql: 'SELECT count(*) AS n FROM in_c_b.t' } });
  if (check.status !== 200 || Number(check.body.rows[0].n) !== 20000) throw new Error(`check ${check.status} ${JSON.stringify(check.body)}`);
  clearTimeout(timer);
}
const active = t.services.sql.activeQueries;
console.log(JSON.stringify({ rounds, active, idle: t.services.sql.idleSandboxes, seen }));
if (active !== 0) throw new Error(`${active} query slots still taken`);
await t.close();
