// Stress: asynchronous jobs cancelled at every moment of their run — imports (full and
// incremental, CSV) and exports (every format, gzip or not) — with synchronous exports and
// previews of the same table in between. After each round: no job left running, the table
// holds one of the row counts its imports can leave, no staging file is left. A statement
// that never ends is reported (HANG, with the pid for gdb).
//   node --import tsx tests/stress/jobs-stress.ts   (STRESS_MS, default 60000)
import { readdir } from 'node:fs/promises';
import { makeApp } from '../helpers.ts';

const t = await makeApp({ env: { MAX_CONCURRENT_JOBS: '4' } });
const P = '/projects/p';
const T = `${P}/buckets/in_c_b/tables/t`;
await t.createProject('p');
await t.callJson('POST', `${P}/buckets`, { body: { name: 'in_c_b' } });
await t.callJson('POST', `${P}/buckets/in_c_b/tables`, { body: { name: 't', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'v', type: 'VARCHAR' }, { name: 'at', type: 'TIMESTAMP' }] } });
const ROWS = 100_000;
const lines = ['id,v,at'];
for (let i = 0; i < ROWS; i++) lines.push(`${i},value number ${i},2024-01-01 00:00:${String(i % 60).padStart(2, '0')}`);
const csv = `${lines.join('\n')}\n`;
const uploaded = await t.callJson('POST', `${P}/files?name=data.csv`, { raw: csv, headers: { 'content-type': 'text/csv' } });
if (uploaded.status !== 201) throw new Error(`upload ${uploaded.status}`);
const file = uploaded.body.id as string;
if ((await t.callJson('POST', `${T}/import`, { raw: csv, headers: { 'content-type': 'text/csv' } })).status !== 200) throw new Error('import');

const seen: Record<string, number> = {};
const note = (key: string) => (seen[key] = (seen[key] ?? 0) + 1);
const formats = [
  { format: 'csv', gzip: false },
  { format: 'ndjson', gzip: false },
  { format: 'parquet', gzip: false },
  { format: 'csv', gzip: true },
];

async function finished(id: string): Promise<string> {
  for (;;) {
    const r = await t.callJson('GET', `${P}/jobs/${id}?wait=30`);
    if (['success', 'error', 'cancelled'].includes(r.body.status)) return r.body.status;
  }
}

async function cancelAfter(kind: string, submitted: Promise<{ status: number; body: any }>, ms: number): Promise<void> {
  const job = await submitted;
  if (job.status !== 202) {
    note(`${kind}:submit:${job.status}`);
    return;
  }
  await new Promise((resolve) => setTimeout(resolve, ms));
  const cancel = await t.call('DELETE', `${P}/jobs/${job.body.id}`);
  if (cancel.status >= 500) throw new Error(`cancel ${cancel.status}`);
  note(`${kind}:${cancel.status}:${await finished(job.body.id)}`);
}

const deadline = Date.now() + Number(process.env.STRESS_MS ?? 60000);
let rounds = 0;
while (Date.now() < deadline) {
  rounds++;
  const timer = setTimeout(() => {
    const jobs = t.services.jobs.list('p').filter((job) => !['success', 'error', 'cancelled'].includes(job.status));
    console.log('HANG', rounds, process.pid, JSON.stringify({ running: t.services.jobRunner.runningCount, open: t.services.registry.openCount, waitingWrites: t.services.registry.waitingWrites, jobs: jobs.map((job) => [job.id, job.operation, job.status]) }));
  }, 20000);
  const ms = (k: number) => (rounds * k) % 120;
  const exportJob = formats[rounds % formats.length]!;
  await Promise.all([
    cancelAfter('import', t.callJson('POST', `${T}/import-async`, { body: { file_id: file, incremental: rounds % 2 === 0 } }), ms(7)),
    cancelAfter(`export-${exportJob.format}${exportJob.gzip ? '.gz' : ''}`, t.callJson('POST', `${T}/export-async`, { body: exportJob }), ms(11)),
    cancelAfter('export-ndjson', t.callJson('POST', `${T}/export-async`, { body: { format: 'ndjson', order_by: [{ column: 'id', order: 'desc' }] } }), ms(3)),
    (async () => {
      const r = await t.call('GET', `${T}/export?format=${formats[(rounds + 1) % formats.length]!.format}`);
      const reader = r.body!.getReader();
      await reader.read();
      await reader.cancel();
      note(`sync-export:${r.status}`);
    })(),
  ]);
  // A job's record is final a moment before the runner lets go of it.
  for (let i = 0; i < 500 && t.services.jobRunner.runningCount !== 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (t.services.jobRunner.runningCount !== 0) throw new Error('a job is still running');
  const preview = await t.callJson('GET', `${T}/preview?limit=1`);
  if (preview.status !== 200) throw new Error(`preview ${preview.status}`);
  const total = preview.body.total_row_count as number;
  if (total % ROWS !== 0) throw new Error(`row count ${total}`);
  note(`rows:${total / ROWS}x`);
  // A long table makes later rounds slow: back to one copy of the rows now and then.
  if (total > 3 * ROWS && (await t.callJson('POST', `${T}/import`, { raw: csv, headers: { 'content-type': 'text/csv' } })).status !== 200) throw new Error('reset');
  clearTimeout(timer);
}
await new Promise((resolve) => setTimeout(resolve, 200));
const staging = (await readdir(t.services.paths.filesDir)).filter((name) => !name.startsWith("project_") && !name.startsWith("."));
console.log(JSON.stringify({ rounds, seen, staging }));
if (staging.length) throw new Error(`staging files left: ${staging.join(', ')}`);
await t.close();
