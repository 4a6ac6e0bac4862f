import { DuckDBInstance } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
const mode = process.argv[2]; // plain | nice
const main = await DuckDBInstance.create(':memory:', { threads: '4' });
const mc = await main.connect();
await mc.run('CREATE TABLE small AS SELECT range a, range::VARCHAR b FROM range(2000)');
await mc.run('CREATE TABLE big AS SELECT range a, range % 1000 g FROM range(5000000)');
await mc.run("COPY big TO '/tmp/p16big.parquet'");
const tasks = () => new Set(readdirSync('/proc/self/task'));
const med = (x) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)].toFixed(2);
const small = async (n) => { const xs = []; for (let i = 0; i < n; i++) { const t = performance.now(); await mc.runAndReadAll('SELECT * FROM small LIMIT 100'); xs.push(performance.now() - t); } return xs; };
await small(50);
console.log('idle p50', med(await small(200)));
const heavies = [];
let running = true; let done = 0;
for (let k = 0; k < 4; k++) {
  const before = tasks();
  const inst = await DuckDBInstance.create(':memory:', mode === 'nice' ? { threads: '2', external_threads: '0' } : { threads: '2' });
  if (mode === 'nice') for (const t of tasks()) if (!before.has(t)) setPriority(Number(t), 19);
  const c = await inst.connect();
  await c.run("CREATE VIEW big AS SELECT * FROM '/tmp/p16big.parquet'");
  heavies.push((async () => {
    while (running) {
      const sql = 'SELECT g, sum(a), count(DISTINCT a % 100000) FROM big GROUP BY g';
      if (mode === 'nice') {
        const p = await c.start(sql);
        const raw = p.pending_result;
        for (;;) { const st = duckdb.pending_execute_check_state(raw); if (st !== duckdb.PendingState.RESULT_NOT_READY) break; await new Promise((r) => setTimeout(r, 2)); }
        await p.getResult();
      } else await c.runAndReadAll(sql);
      done++;
    }
  })());
}
const during = await small(200);
running = false; await Promise.all(heavies);
console.log(mode, 'during p50', med(during), 'heavy done', done);
