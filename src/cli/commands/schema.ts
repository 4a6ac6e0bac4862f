import type { Command } from 'commander';
import type { AlterColumnInput, Table } from '../../client/index.ts';
import { group, leaf } from '../command.ts';
import type { CliContext, CliIo } from '../context.ts';
import { UsageError } from '../errors.ts';
import { renderObject, renderTable } from '../output.ts';
import { collect, commaList } from '../parse.ts';

function printColumns(ctx: CliContext, table: Table): void {
  ctx.out(renderObject(table, ['name', 'bucket', 'row_count', 'primary_key']));
  ctx.out(renderTable(['ordinal_position', 'name', 'type', 'nullable', 'default'], table.columns, ['#', 'column', 'type', 'nullable', 'default']));
}

/** `--default` text: JSON literals (`42`, `true`, `"x"`) as such, anything else as a string. */
function defaultValue(text: string): string | number | boolean {
  if (text === 'true' || text === 'false') return text === 'true';
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}

function entry(text: string): { key: string; value: string } {
  const at = text.indexOf('=');
  if (at < 1) throw new UsageError(`--entry takes KEY=VALUE, got ${JSON.stringify(text)}`);
  return { key: text.slice(0, at), value: text.slice(at + 1) };
}

export function registerSchema(program: Command, io: CliIo): void {
  const columns = group(program, 'columns', 'Schema changes (§12): add, alter and drop columns', 'columns add 123 in_c_sales orders note VARCHAR');

  leaf<{ notNull?: boolean; default?: string }>(
    columns,
    io,
    'add <project_id> <bucket> <table> <column> <type>',
    {
      description: 'Add a column at the end',
      examples: ['columns add 123 in_c_sales orders note VARCHAR', 'columns add 123 in_c_sales orders qty INTEGER --not-null --default 0'],
      async action(ctx, [project, bucket, table, name, type], options) {
        const body = { name: name!, type: type!, nullable: options.notNull !== true, ...(options.default !== undefined ? { default: defaultValue(options.default) } : {}) };
        const result = await (await ctx.client()).schema.addColumn(project!, bucket!, table!, body);
        if (ctx.json) ctx.printJson(result);
        else printColumns(ctx, result);
      },
    },
    (c) => c.option('--not-null', 'NOT NULL (needs --default on a table with rows)').option('--default <value>', 'default value (a literal, CURRENT_TIMESTAMP, CURRENT_DATE or now())'),
  );

  leaf<{ rename?: string; type?: string; nullable?: boolean; notNull?: boolean; default?: string; dropDefault?: boolean }>(
    columns,
    io,
    'alter <project_id> <bucket> <table> <column>',
    {
      description: 'Rename a column, change its type, nullability or default; stored values convert exactly or the change is refused',
      examples: ['columns alter 123 in_c_sales orders amount --type "DECIMAL(12,2)"', 'columns alter 123 in_c_sales orders note --rename comment --nullable'],
      async action(ctx, [project, bucket, table, column], options) {
        if (options.nullable && options.notNull) throw new UsageError('Give --nullable or --not-null, not both');
        if (options.default !== undefined && options.dropDefault) throw new UsageError('Give --default or --drop-default, not both');
        const body: AlterColumnInput = {};
        if (options.rename !== undefined) body.name = options.rename;
        if (options.type !== undefined) body.type = options.type;
        if (options.nullable) body.nullable = true;
        if (options.notNull) body.nullable = false;
        if (options.default !== undefined) body.default = defaultValue(options.default);
        if (options.dropDefault) body.default = null;
        if (!Object.keys(body).length) throw new UsageError('Nothing to change: give --rename, --type, --nullable, --not-null, --default or --drop-default');
        const result = await (await ctx.client()).schema.alterColumn(project!, bucket!, table!, column!, body);
        if (ctx.json) ctx.printJson(result);
        else printColumns(ctx, result);
      },
    },
    (c) =>
      c
        .option('--rename <name>', 'new column name')
        .option('--type <type>', 'new type')
        .option('--nullable', 'allow NULL')
        .option('--not-null', 'refuse NULL')
        .option('--default <value>', 'new default')
        .option('--drop-default', 'remove the default'),
  );

  leaf(columns, io, 'drop <project_id> <bucket> <table> <column>', {
    description: 'Drop a column (and its metadata)',
    examples: ['columns drop 123 in_c_sales orders note'],
    async action(ctx, [project, bucket, table, column]) {
      const result = await (await ctx.client()).schema.dropColumn(project!, bucket!, table!, column!);
      if (ctx.json) ctx.printJson(result);
      else printColumns(ctx, result);
    },
  });

  const tables = program.commands.find((c) => c.name() === 'tables')!;
  leaf(tables, io, 'set-primary-key <project_id> <bucket> <table> <columns>', {
    description: 'Set or replace the primary key (COLUMNS: a,b); stored rows must not repeat it',
    examples: ['tables set-primary-key 123 in_c_sales orders id', 'tables set-primary-key 123 in_c_sales lines order_id,line'],
    async action(ctx, [project, bucket, table, list]) {
      const result = await (await ctx.client()).schema.setPrimaryKey(project!, bucket!, table!, { columns: commaList(list!) });
      if (ctx.json) ctx.printJson(result);
      else printColumns(ctx, result);
    },
  });

  leaf(tables, io, 'drop-primary-key <project_id> <bucket> <table>', {
    description: 'Drop the primary key',
    examples: ['tables drop-primary-key 123 in_c_sales orders'],
    async action(ctx, [project, bucket, table]) {
      const result = await (await ctx.client()).schema.dropPrimaryKey(project!, bucket!, table!);
      if (ctx.json) ctx.printJson(result);
      else printColumns(ctx, result);
    },
  });

  leaf(tables, io, 'profile <project_id> <bucket> <table>', {
    description: 'Column statistics: nulls, distinct values, min, max, mean, deviation, quartiles',
    examples: ['tables profile 123 in_c_sales orders'],
    async action(ctx, [project, bucket, table]) {
      const profile = await (await ctx.client()).schema.profile(project!, bucket!, table!);
      if (ctx.json) return ctx.printJson(profile);
      ctx.out(renderTable(['name', 'type', 'null_count', 'distinct_count', 'min', 'max', 'avg', 'std', 'q25', 'q50', 'q75'], profile.columns));
      ctx.out(`${profile.row_count} row(s), profiled at ${profile.profiled_at}`);
    },
  });

  const metadata = group(program, 'metadata', 'Key/value notes on buckets, tables and columns (§12)', 'metadata set 123 in_c_sales orders --entry owner=bi');
  const target = async (ctx: CliContext, [project, bucket, table, column]: string[]) => ({ client: await ctx.client(), project: project!, bucket: bucket!, table, column });

  leaf(metadata, io, 'list <project_id> <bucket> [table] [column]', {
    description: 'List the metadata of a bucket, a table or a column',
    examples: ['metadata list 123 in_c_sales', 'metadata list 123 in_c_sales orders amount'],
    async action(ctx, args) {
      const { client, project, bucket, table, column } = await target(ctx, args);
      const list = column
        ? await client.metadata.listColumn(project, bucket, table!, column)
        : table
          ? await client.metadata.listTable(project, bucket, table)
          : await client.metadata.listBucket(project, bucket);
      if (ctx.json) return ctx.printJson(list);
      ctx.out(renderTable(['provider', 'key', 'value', 'updated_at'], list.metadata));
    },
  });

  leaf<{ entry?: { key: string; value: string }[]; provider?: string }>(
    metadata,
    io,
    'set <project_id> <bucket> [table] [column]',
    {
      description: 'Upsert entries (by provider and key) on a bucket, a table or a column',
      examples: ['metadata set 123 in_c_sales --entry owner=sales-team', 'metadata set 123 in_c_sales orders email --entry pii=true --provider governance'],
      async action(ctx, args, options) {
        if (!options.entry?.length) throw new UsageError('Give at least one --entry KEY=VALUE');
        const { client, project, bucket, table, column } = await target(ctx, args);
        const body = { provider: options.provider, metadata: options.entry };
        const list = column
          ? await client.metadata.upsertColumn(project, bucket, table!, column, body)
          : table
            ? await client.metadata.upsertTable(project, bucket, table, body)
            : await client.metadata.upsertBucket(project, bucket, body);
        if (ctx.json) return ctx.printJson(list);
        ctx.out(renderTable(['provider', 'key', 'value', 'updated_at'], list.metadata));
      },
    },
    (c) => c.option('--entry <key=value>', 'an entry (repeatable)', collect(entry)).option('--provider <provider>', 'provider (default user)'),
  );

  leaf<{ key?: string; provider?: string }>(
    metadata,
    io,
    'delete <project_id> <bucket> [table] [column]',
    {
      description: 'Delete one entry of a bucket, a table or a column',
      examples: ['metadata delete 123 in_c_sales orders --key owner', 'metadata delete 123 in_c_sales orders email --key pii --provider governance'],
      async action(ctx, args, options) {
        if (!options.key) throw new UsageError('Give --key');
        const { client, project, bucket, table, column } = await target(ctx, args);
        const query = { provider: options.provider };
        if (column) await client.metadata.deleteColumn(project, bucket, table!, column, options.key, query);
        else if (table) await client.metadata.deleteTable(project, bucket, table, options.key, query);
        else await client.metadata.deleteBucket(project, bucket, options.key, query);
        if (!ctx.json) ctx.out(`Deleted ${options.key}`);
      },
    },
    (c) => c.requiredOption('--key <key>', 'the entry to delete').option('--provider <provider>', 'provider (default user)'),
  );
}
