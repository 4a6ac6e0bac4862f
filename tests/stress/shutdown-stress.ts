// Stress: the services closed while work runs — streamed exports read slowly, a streamed
// query, an export job, a workspace statement and an import — at a different moment each
// round; the bodies are then read to their end or cancelled. A crash ends the process; a
// round that stalls is reported (HANG, with the pid for gdb).
//   node --import tsx tests/stress/shutdown-stress.ts   (STRESS_MS, default 60000)
import { makeApp } from '../helpers.ts';

const deadline = Date.now() + Number(process.env.STRESS_MS ?? 60000);
const seen: Record<string, number> = {};
const note = (key: string) => (seen[key] = (seen[key] ?? 0) + 1);
const rows = ['id,v'];
for (let i = 0; i < 20000; i++) rows.push(`${i},value ${i}`);
const csv = `${rows.join('\n')}\n`;
let rounds = 0;

const drain = async (response: Promise<Response>, label: string) => {
  try {
    const r = await response;
    note(`${label}:${r.status}`);
    if (!r.body) return;
    const reader = r.body.getReader();
    for (let i = 0; i < 3; i++) {
      const { done } = await reader.read();
      if (done) return;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await reader.cancel();
  } catch (error) {
    note(`${label}:error`);
  }
};

while (Date.now() < deadline) {
  rounds++;
  const t = await makeApp();
  const timer = setTimeout(() => console.log('HANG', rounds, process.pid), 20000);
  const P = '/projects/p';
  const T = `${P}/buckets/in_c_b/tables/t`;
  await t.createProject('p');
  await t.callJson('POST', `${P}/buckets`, { body: { name: 'in_c_b' } });
  await t.callJson('POST', `${P}/buckets/in_c_b/tables`, { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }] } });
  await t.callJson('POST', `${T}/import`, { raw: csv, headers: { 'content-type': 'text/csv' } });
  const ws = (await t.callJson('POST', `${P}/workspaces`, { body: {} })).body.id;
  const file = (await t.callJson('POST', `${P}/files?name=d.csv`, { raw: csv, headers: { 'content-type': 'text/csv' } })).body.id;
  const work = [
    drain(t.call('GET', `${T}/export?format=parquet`), 'export-parquet'),
    drain(t.call('GET', `${T}/export?format=csv`), 'export-csv'),
    drain(t.call('GET', `${T}/export?format=ndjson&limit=15000`), 'export-ndjson'),
    drain(t.call('POST', `${P}/query`, { body: { sql: 'SELECT t.*, r.range FROM in_c_b.t t, range(5) r', format: 'ndjson', limit: 100000 } }), 'query-ndjson'),
    drain(t.call('POST', `${P}/query`, { body: { sql: 'SELECT count(*) FROM in_c_b.t, range(100000000)', timeout_seconds: 2 } }), 'query-long'),
    drain(t.call('POST', `${P}/workspaces/${ws}/query`, { body: { sql: 'CREATE TABLE a AS SELECT t.*, r.range FROM in_c_b.t t, range(50) r', timeout_seconds: 2 } }), 'workspace'),
    drain(t.call('POST', `${T}/export-async`, { body: { format: 'csv' } }), 'export-job'),
    drain(t.call('POST', `${T}/import-async`, { body: { file_id: file, incremental: true } }), 'import-job'),
    drain(t.call('POST', `${T}/import?incremental=true`, { raw: csv, headers: { 'content-type': 'text/csv' } }), 'import'),
  ];
  await new Promise((resolve) => setTimeout(resolve, (rounds * 17) % 150));
  await t.services.close();
  await Promise.all(work);
  await t.close();
  clearTimeout(timer);
}
console.log(JSON.stringify({ rounds, seen }));
