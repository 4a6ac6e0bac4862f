import type { Command } from 'commander';
import type { Branch } from '../../client/index.ts';
import { group, leaf } from '../command.ts';
import type { CliIo } from '../context.ts';
import { renderObject, renderTable } from '../output.ts';

const BRANCH_FIELDS = ['id', 'name', 'description', 'is_default', 'created_at'];

/** §14 development branches. Any other command runs inside a branch with `--branch <id>` where it has one. */
export function registerBranches(program: Command, io: CliIo): void {
  const branches = group(program, 'branches', 'Development branches (§14): copy-on-write sandboxes, reset and merge of one table', 'branches create 123 --name "try the new model"');

  leaf<{ name?: string; description?: string }>(
    branches,
    io,
    'create <project_id>',
    {
      description: 'Create a branch (copies nothing)',
      examples: ['branches create 123 --name "try the new model" --description "Q4 rework"'],
      async action(ctx, [project], options) {
        const branch = await (await ctx.client()).branches.create(project!, { name: options.name!, description: options.description ?? null });
        if (ctx.json) ctx.printJson(branch);
        else ctx.out(renderObject(branch as Partial<Branch>, BRANCH_FIELDS));
      },
    },
    (c) => c.requiredOption('--name <name>', 'the branch name (unique without regard to case)').option('--description <text>', 'what the branch is for'),
  );

  leaf(branches, io, 'list <project_id>', {
    description: 'List branches, the default branch (Main) first',
    examples: ['branches list 123'],
    async action(ctx, [project]) {
      const list = await (await ctx.client()).branches.list(project!);
      if (ctx.json) return ctx.printJson(list);
      ctx.out(renderTable(['id', 'name', 'description', 'is_default', 'created_at'], list.branches));
      ctx.out(`${list.total} branch(es)`);
    },
  });

  leaf(branches, io, 'get <project_id> <branch_id>', {
    description: 'Show a branch',
    examples: ['branches get 123 b_1a2b3c4d5e6f'],
    async action(ctx, [project, id]) {
      const branch = await (await ctx.client()).branches.get(project!, id!);
      if (ctx.json) ctx.printJson(branch);
      else ctx.out(renderObject(branch as Partial<Branch>, BRANCH_FIELDS));
    },
  });

  leaf(branches, io, 'changes <project_id> <branch_id>', {
    description: 'What the branch holds apart from main: copied, created and deleted tables and buckets',
    examples: ['branches changes 123 b_1a2b3c4d5e6f'],
    async action(ctx, [project, id]) {
      const changes = await (await ctx.client()).branches.changes(project!, id!);
      if (ctx.json) return ctx.printJson(changes);
      ctx.out(renderTable(['bucket', 'table', 'state', 'main_changed'], changes.tables));
      if (changes.buckets.length) ctx.out(renderTable(['bucket', 'state'], changes.buckets));
    },
  });

  leaf(branches, io, 'reset <project_id> <branch_id> <bucket> <table>', {
    description: "Drop the branch's copy (or deletion) of a table: the branch sees main's table again",
    examples: ['branches reset 123 b_1a2b3c4d5e6f in_c_sales orders'],
    async action(ctx, [project, id, bucket, table]) {
      const reset = await (await ctx.client()).branches.reset(project!, id!, bucket!, table!);
      if (ctx.json) ctx.printJson(reset);
      else ctx.out(`Reset ${bucket}.${table} in branch ${id}: ${reset.row_count} row(s), as in main`);
    },
  });

  leaf<{ force?: boolean }>(
    branches,
    io,
    'merge <project_id> <branch_id> <bucket> <table>',
    {
      description: "Replace main's table by the branch's (after an auto snapshot of main's); 409 merge_conflict when main changed, unless --force",
      examples: ['branches merge 123 b_1a2b3c4d5e6f in_c_sales orders', 'branches merge 123 b_1a2b3c4d5e6f in_c_sales orders --force'],
      async action(ctx, [project, id, bucket, table], options) {
        const merged = await (await ctx.client()).branches.merge(project!, id!, bucket!, table!, { force: options.force ?? false });
        if (ctx.json) ctx.printJson(merged);
        else ctx.out(merged.table ? `Merged ${bucket}.${table} into main: ${merged.table.row_count} row(s); main's earlier table is snapshot ${merged.snapshot_id ?? '(none)'}` : `Dropped ${bucket}.${table} in main, as the branch did`);
      },
    },
    (c) => c.option('--force', 'merge even when main changed the table after the branch copied it'),
  );

  leaf(branches, io, 'delete <project_id> <branch_id>', {
    description: 'Delete a branch with everything it holds',
    examples: ['branches delete 123 b_1a2b3c4d5e6f'],
    async action(ctx, [project, id]) {
      await (await ctx.client()).branches.delete(project!, id!);
      if (!ctx.json) ctx.out(`Deleted branch ${id}`);
    },
  });
}
