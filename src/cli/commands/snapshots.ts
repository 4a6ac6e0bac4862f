import type { Command } from 'commander';
import type { Snapshot, SnapshotSettingsInput } from '../../client/index.ts';
import { group, leaf } from '../command.ts';
import type { CliContext, CliIo } from '../context.ts';
import { UsageError } from '../errors.ts';
import { formatBytes, renderObject, renderTable } from '../output.ts';
import { collect, wholeNumber } from '../parse.ts';

const SNAPSHOT_FIELDS = ['id', 'bucket', 'table', 'branch', 'kind', 'reason', 'description', 'row_count', 'size_bytes', 'primary_key', 'created_at', 'expires_at'];

function printSnapshot(ctx: CliContext, snapshot: Snapshot): void {
  ctx.out(renderObject(snapshot, SNAPSHOT_FIELDS));
}

const AUTO = ['drop_table', 'truncate', 'drop_column', 'full_import'] as const;

function autoSetting(text: string): [string, boolean] {
  const match = /^([a-z_]+)=(true|false|on|off)$/.exec(text);
  if (!match || !(AUTO as readonly string[]).includes(match[1]!)) throw new UsageError(`--auto takes NAME=true|false with NAME one of ${AUTO.join(', ')}`);
  return [match[1]!, match[2] === 'true' || match[2] === 'on'];
}

export function registerSnapshots(program: Command, io: CliIo): void {
  const snapshots = group(program, 'snapshots', 'Point-in-time copies of tables (§13), restore, retention settings', 'snapshots create 123 in_c_sales orders --description "before the migration"');

  leaf<{ description?: string; retentionDays?: number; keep?: boolean }>(
    snapshots,
    io,
    'create <project_id> <bucket> <table>',
    {
      description: 'Take a snapshot of a table',
      examples: ['snapshots create 123 in_c_sales orders --description "before the migration"', 'snapshots create 123 in_c_sales orders --retention-days 30'],
      async action(ctx, [project, bucket, table], options) {
        if (options.retentionDays !== undefined && options.keep) throw new UsageError('Give --retention-days or --keep, not both');
        const body = { description: options.description ?? null, ...(options.keep ? { retention_days: null } : options.retentionDays !== undefined ? { retention_days: options.retentionDays } : {}) };
        const snapshot = await (await ctx.client()).snapshots.create(project!, bucket!, table!, body);
        if (ctx.json) ctx.printJson(snapshot);
        else printSnapshot(ctx, snapshot);
      },
    },
    (c) =>
      c
        .option('--description <text>', 'why it was taken')
        .option('--retention-days <n>', 'delete it after this many days (default: the project setting)', wholeNumber('--retention-days'))
        .option('--keep', 'keep it until deleted'),
  );

  leaf<{ kind?: 'manual' | 'auto'; branch?: string; limit?: number; offset?: number }>(
    snapshots,
    io,
    'list <project_id> [bucket] [table]',
    {
      description: "List snapshots, newest first: the project's, or with BUCKET TABLE that table's",
      examples: ['snapshots list 123', 'snapshots list 123 in_c_sales orders', 'snapshots list 123 --kind auto'],
      async action(ctx, [project, bucket, table], options) {
        if ((bucket === undefined) !== (table === undefined)) throw new UsageError('Give both BUCKET and TABLE, or neither');
        if (options.kind && options.kind !== 'manual' && options.kind !== 'auto') throw new UsageError('--kind must be manual or auto');
        const client = await ctx.client();
        const list = bucket
          ? await client.snapshots.listForTable(project!, bucket, table!, { limit: options.limit, offset: options.offset })
          : await client.snapshots.list(project!, { kind: options.kind, branch: options.branch, limit: options.limit, offset: options.offset });
        if (ctx.json) return ctx.printJson(list);
        ctx.out(renderTable(['id', 'bucket', 'table', 'kind', 'reason', 'row_count', 'size', 'created_at', 'expires_at'], list.snapshots.map((s) => ({ ...s, size: formatBytes(s.size_bytes) }))));
        ctx.out(`${list.snapshots.length} of ${list.total} snapshot(s)`);
      },
    },
    (c) =>
      c
        .option('--kind <kind>', 'manual or auto')
        .option('--branch <branch_id>', "only this branch's")
        .option('--limit <n>', 'page size (1-1000, default 100)', wholeNumber('--limit'))
        .option('--offset <n>', 'skip this many', wholeNumber('--offset')),
  );

  leaf(snapshots, io, 'get <project_id> <snapshot_id>', {
    description: 'Show a snapshot',
    examples: ['snapshots get 123 s_8c41d0b2e7aa'],
    async action(ctx, [project, id]) {
      const snapshot = await (await ctx.client()).snapshots.get(project!, id!);
      if (ctx.json) ctx.printJson(snapshot);
      else printSnapshot(ctx, snapshot);
    },
  });

  leaf(snapshots, io, 'delete <project_id> <snapshot_id>', {
    description: 'Delete a snapshot',
    examples: ['snapshots delete 123 s_8c41d0b2e7aa'],
    async action(ctx, [project, id]) {
      await (await ctx.client()).snapshots.delete(project!, id!);
      if (!ctx.json) ctx.out(`Deleted snapshot ${id}`);
    },
  });

  leaf<{ bucket?: string; table?: string; overwrite?: boolean }>(
    snapshots,
    io,
    'restore <project_id> <snapshot_id>',
    {
      description: 'Restore a snapshot: where it was taken, or into --bucket/--table; --overwrite replaces an existing table',
      examples: ['snapshots restore 123 s_8c41d0b2e7aa', 'snapshots restore 123 s_8c41d0b2e7aa --table orders_restored', 'snapshots restore 123 s_8c41d0b2e7aa --overwrite'],
      async action(ctx, [project, id], options) {
        const result = await (await ctx.client()).snapshots.restore(project!, id!, { bucket: options.bucket, table: options.table, overwrite: options.overwrite === true });
        if (ctx.json) return ctx.printJson(result);
        ctx.out(`Restored ${result.snapshot_id} into ${result.table.bucket}.${result.table.name} (${result.table.row_count} rows)${result.auto_snapshot_id ? `; the replaced table is in ${result.auto_snapshot_id}` : ''}`);
      },
    },
    (c) => c.option('--bucket <bucket>', 'target bucket').option('--table <table>', 'target table name').option('--overwrite', 'replace the target if it exists (an auto snapshot of it is taken first)'),
  );

  leaf<{ auto?: [string, boolean][]; manualRetentionDays?: number; autoRetentionDays?: number }>(
    snapshots,
    io,
    'settings <project_id>',
    {
      description: "Show the project's snapshot settings, or change them with the options",
      examples: ['snapshots settings 123', 'snapshots settings 123 --auto full_import=true --auto-retention-days 14'],
      async action(ctx, [project], options) {
        const client = await ctx.client();
        const change: SnapshotSettingsInput = {};
        if (options.auto?.length) change.auto = Object.fromEntries(options.auto);
        if (options.manualRetentionDays !== undefined) change.manual_retention_days = options.manualRetentionDays;
        if (options.autoRetentionDays !== undefined) change.auto_retention_days = options.autoRetentionDays;
        const settings = Object.keys(change).length ? await client.snapshots.updateSettings(project!, change) : await client.snapshots.settings(project!);
        if (ctx.json) return ctx.printJson(settings);
        ctx.out(renderObject({ ...Object.fromEntries(Object.entries(settings.auto).map(([k, v]) => [`auto.${k}`, v])), manual_retention_days: settings.manual_retention_days, auto_retention_days: settings.auto_retention_days }));
      },
    },
    (c) =>
      c
        .option('--auto <name=bool>', `auto snapshot before ${AUTO.join(', ')} (repeatable)`, collect(autoSetting))
        .option('--manual-retention-days <n>', 'default lifetime of manual snapshots', wholeNumber('--manual-retention-days'))
        .option('--auto-retention-days <n>', 'lifetime of auto snapshots', wholeNumber('--auto-retention-days')),
  );
}
