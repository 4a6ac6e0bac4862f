import type { Command } from 'commander';
import { group, leaf } from '../command.ts';
import type { CliIo } from '../context.ts';
import { UsageError } from '../errors.ts';
import { renderTable } from '../output.ts';
import { wholeNumber } from '../parse.ts';
import { downloadTo } from './download.ts';

const STREAMED = ['csv', 'ndjson', 'parquet'] as const;

export function registerSql(program: Command, io: CliIo): void {
  const sql = group(program, 'sql', "Read-only SQL over the project's tables (§17); tables are bucket.table", 'sql query 123 "SELECT status, count(*) FROM in_c_sales.orders GROUP BY 1"');

  leaf<{ limit?: number; timeout?: number; format?: string; output?: string }>(
    sql,
    io,
    'query <project_id> <sql>',
    {
      description: 'Run one read-only statement; an aligned table, or csv/ndjson/parquet streamed with --format',
      examples: ['sql query 123 "SELECT status, count(*) AS n FROM in_c_sales.orders GROUP BY 1"', 'sql query 123 "SELECT * FROM in_c_sales.orders" --format parquet -o orders.parquet'],
      async action(ctx, [project, text], options) {
        const client = await ctx.client();
        const body = { sql: text!, limit: options.limit, timeout_seconds: options.timeout };
        if (options.format && options.format !== 'json') {
          if (!(STREAMED as readonly string[]).includes(options.format)) throw new UsageError('--format must be json, csv, ndjson or parquet');
          const download = await client.sql.queryStream(project!, { ...body, format: options.format as (typeof STREAMED)[number] });
          return downloadTo(ctx, download, options.output);
        }
        const result = await client.sql.query(project!, body);
        if (ctx.json) return ctx.printJson(result);
        ctx.out(renderTable(result.columns.map((c) => c.name), result.rows));
        ctx.out(`${result.row_count} row(s)${result.truncated ? ' (truncated by the limit)' : ''} in ${result.elapsed_ms} ms`);
      },
    },
    (c) =>
      c
        .option('--limit <n>', 'at most this many rows (1-100000, default 10000)', wholeNumber('--limit'))
        .option('--timeout <seconds>', 'stop it after this long (1-300, default 30)', wholeNumber('--timeout'))
        .option('--format <format>', 'json (default), csv, ndjson or parquet')
        .option('-o, --output <file>', 'with a streamed format: write into this file'),
  );

  const workspaces = group(program, 'workspaces', 'Private, writable SQL databases for transformations (§17)', 'workspaces create 123 --name nightly');

  leaf<{ name?: string; ttlHours?: number }>(
    workspaces,
    io,
    'create <project_id>',
    {
      description: 'Create a workspace',
      examples: ['workspaces create 123 --name nightly --ttl-hours 4'],
      async action(ctx, [project], options) {
        const ws = await (await ctx.client()).workspaces.create(project!, { name: options.name, ttl_hours: options.ttlHours });
        if (ctx.json) ctx.printJson(ws);
        else ctx.out(`Created workspace ${ws.id}${ws.name ? ` (${ws.name})` : ''}, expires ${ws.expires_at}`);
      },
    },
    (c) => c.option('--name <name>', 'a label').option('--ttl-hours <n>', 'deleted this many hours after its last use (1-720, default 24)', wholeNumber('--ttl-hours')),
  );

  leaf(workspaces, io, 'list <project_id>', {
    description: 'List workspaces',
    examples: ['workspaces list 123'],
    async action(ctx, [project]) {
      const list = await (await ctx.client()).workspaces.list(project!);
      if (ctx.json) return ctx.printJson(list);
      ctx.out(renderTable(['id', 'name', 'tables', 'size_bytes', 'expires_at'], list.workspaces.map((w) => ({ ...w, tables: w.tables.map((t) => t.name).join(', ') }))));
    },
  });

  leaf(workspaces, io, 'get <project_id> <workspace_id>', {
    description: 'Show a workspace and its tables',
    examples: ['workspaces get 123 w_1a2b3c'],
    async action(ctx, [project, id]) {
      const ws = await (await ctx.client()).workspaces.get(project!, id!);
      if (ctx.json) return ctx.printJson(ws);
      ctx.out(renderTable(['name', 'row_count', 'columns'], ws.tables.map((t) => ({ ...t, columns: t.columns.map((c) => `${c.name} ${c.type}`).join(', ') }))));
    },
  });

  leaf(workspaces, io, 'delete <project_id> <workspace_id>', {
    description: 'Delete a workspace',
    examples: ['workspaces delete 123 w_1a2b3c'],
    async action(ctx, [project, id]) {
      await (await ctx.client()).workspaces.delete(project!, id!);
      if (!ctx.json) ctx.out(`Deleted workspace ${id}`);
    },
  });

  leaf<{ preserve?: boolean }>(
    workspaces,
    io,
    'load <project_id> <workspace_id> <tables...>',
    {
      description: 'Copy storage tables in: each BUCKET.TABLE[=DESTINATION]; the other workspace tables are dropped unless --preserve',
      examples: ['workspaces load 123 w_1a2b3c in_c_sales.orders in_c_sales.customers=clients'],
      async action(ctx, [project, id, ...rest], options) {
        const specs = (rest.flat() as string[]).map((spec) => {
          const match = /^([^.=]+)\.([^.=]+)(?:=(.+))?$/.exec(spec);
          if (!match) throw new UsageError(`Each table is BUCKET.TABLE[=DESTINATION], got ${JSON.stringify(spec)}`);
          return { source: `${match[1]}.${match[2]}`, destination: match[3] ?? match[2]! };
        });
        const ws = await (await ctx.client()).workspaces.load(project!, id!, { tables: specs, preserve: options.preserve === true });
        if (ctx.json) return ctx.printJson(ws);
        ctx.out(renderTable(['name', 'row_count'], ws.tables));
      },
    },
    (c) => c.option('--preserve', "keep the workspace's other tables"),
  );

  leaf<{ timeout?: number }>(
    workspaces,
    io,
    'query <project_id> <workspace_id> <sql>',
    {
      description: 'Run `;`-separated statements in the workspace, in order',
      examples: ['workspaces query 123 w_1a2b3c "CREATE TABLE totals AS SELECT status, sum(amount) AS total FROM orders GROUP BY 1; SELECT * FROM totals"'],
      async action(ctx, [project, id, text], options) {
        const result = await (await ctx.client()).workspaces.query(project!, id!, { sql: text!, timeout_seconds: options.timeout });
        if (ctx.json) return ctx.printJson(result);
        for (const r of result.results) {
          ctx.out(`statement ${r.statement}: ${r.row_count} row(s)${r.changed_rows === null ? '' : `, ${r.changed_rows} changed`}`);
          if (r.columns.length) ctx.out(renderTable(r.columns.map((c) => c.name), r.rows));
        }
      },
    },
    (c) => c.option('--timeout <seconds>', 'stop after this long (1-3600, default 300)', wholeNumber('--timeout')),
  );

  leaf<{ incremental?: boolean; primaryKey?: string[] }>(
    workspaces,
    io,
    'unload <project_id> <workspace_id> <source> <bucket> <table>',
    {
      description: 'A workspace table into a storage table (created when missing, else a full or --incremental load)',
      examples: ['workspaces unload 123 w_1a2b3c totals out_c_reports totals --primary-key status'],
      async action(ctx, [project, id, source, bucket, table], options) {
        const result = await (await ctx.client()).workspaces.unload(project!, id!, { source: source!, bucket: bucket!, table: table!, incremental: options.incremental === true, primary_key: options.primaryKey });
        if (ctx.json) return ctx.printJson(result);
        ctx.out(`Unloaded ${result.imported_rows} row(s) into ${result.table.bucket}.${result.table.name}`);
      },
    },
    (c) => c.option('--incremental', 'add rows instead of replacing them').option('--primary-key <a,b>', 'key of a table created here', (t: string) => t.split(',')),
  );
}
