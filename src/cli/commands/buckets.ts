import type { Command } from 'commander';
import type { Bucket } from '../../client/index.ts';
import { group, leaf } from '../command.ts';
import type { CliContext, CliIo } from '../context.ts';
import { UsageError } from '../errors.ts';
import { renderObject, renderTable } from '../output.ts';

const BUCKET_FIELDS = ['name', 'description', 'table_count', 'is_linked', 'source_project_id', 'source_bucket_name', 'shared_with', 'readonly_access', 'created_at'];

function printBucket(ctx: CliContext, bucket: Bucket): void {
  ctx.out(renderObject(bucket, BUCKET_FIELDS));
}

export function registerBuckets(program: Command, io: CliIo): void {
  const buckets = group(program, 'buckets', 'Buckets (§5) and sharing between projects (§6)', 'buckets list 123');

  leaf<{ description?: string }>(
    buckets,
    io,
    'create <project_id> <bucket>',
    {
      description: 'Create a bucket',
      examples: ['buckets create 123 in_c_sales --description "Sales data"'],
      async action(ctx, [project, name], options) {
        const bucket = await (await ctx.client()).buckets.create(project!, { name: name!, description: options.description ?? null });
        if (ctx.json) ctx.printJson(bucket);
        else printBucket(ctx, bucket);
      },
    },
    (c) => c.option('--description <text>', 'what the bucket holds'),
  );

  leaf(buckets, io, 'list <project_id>', {
    description: 'List buckets (linked ones included), by name',
    examples: ['buckets list 123'],
    async action(ctx, [project]) {
      const list = await (await ctx.client()).buckets.list(project!);
      if (ctx.json) return ctx.printJson(list);
      ctx.out(
        renderTable(
          ['name', 'table_count', 'linked_from', 'shared_with', 'readonly_access', 'description'],
          list.buckets.map((b) => ({ ...b, linked_from: b.is_linked ? `${b.source_project_id}.${b.source_bucket_name}` : '', shared_with: b.shared_with.join(', ') })),
        ),
      );
      ctx.out(`${list.total} bucket(s)`);
    },
  });

  leaf(buckets, io, 'get <project_id> <bucket>', {
    description: 'Show a bucket',
    examples: ['buckets get 123 in_c_sales'],
    async action(ctx, [project, name]) {
      const bucket = await (await ctx.client()).buckets.get(project!, name!);
      if (ctx.json) ctx.printJson(bucket);
      else printBucket(ctx, bucket);
    },
  });

  leaf<{ cascade?: boolean; force?: boolean }>(
    buckets,
    io,
    'delete <project_id> <bucket>',
    {
      description: 'Delete a bucket with its tables (or unlink a linked one)',
      examples: ['buckets delete 123 in_c_sales', 'buckets delete 123 in_c_sales --no-cascade', 'buckets delete 123 in_c_sales --force'],
      async action(ctx, [project, name], options) {
        await (await ctx.client()).buckets.delete(project!, name!, { cascade: options.cascade !== false, force: options.force === true });
        if (!ctx.json) ctx.out(`Deleted bucket ${name}`);
      },
    },
    (c) => c.option('--no-cascade', 'refuse (bucket_not_empty) when the bucket has tables').option('--force', "also remove other projects' links to it"),
  );

  leaf(buckets, io, 'share <project_id> <bucket> <target_project_id>', {
    description: 'Share a bucket with another project, which may then link it',
    examples: ['buckets share 123 in_c_sales 456'],
    async action(ctx, [project, name, target]) {
      const result = await (await ctx.client()).sharing.share(project!, name!, { target_project_id: target! });
      if (ctx.json) ctx.printJson(result);
      else ctx.out(`Bucket ${name} is shared with: ${result.shared_with.join(', ')}`);
    },
  });

  leaf<{ force?: boolean }>(
    buckets,
    io,
    'unshare <project_id> <bucket> <target_project_id>',
    {
      description: 'Stop sharing a bucket with a project',
      examples: ['buckets unshare 123 in_c_sales 456', 'buckets unshare 123 in_c_sales 456 --force'],
      async action(ctx, [project, name, target], options) {
        await (await ctx.client()).sharing.unshare(project!, name!, { target_project_id: target!, force: options.force === true });
        if (!ctx.json) ctx.out(`Bucket ${name} is no longer shared with ${target}`);
      },
    },
    (c) => c.option('--force', "also remove the target's link to it"),
  );

  leaf(buckets, io, 'link <project_id> <bucket> <source>', {
    description: 'Link a bucket another project shared with this one; <source> is PROJECT.BUCKET',
    examples: ['buckets link 456 shared_sales 123.in_c_sales'],
    async action(ctx, [project, name, source]) {
      const match = /^([^.]+)\.(.+)$/.exec(source!);
      if (!match) throw new UsageError(`<source> must be PROJECT.BUCKET, got ${JSON.stringify(source)}`);
      const bucket = await (await ctx.client()).sharing.link(project!, name!, { source_project_id: match[1]!, source_bucket_name: match[2]! });
      if (ctx.json) ctx.printJson(bucket);
      else printBucket(ctx, bucket);
    },
  });

  leaf(buckets, io, 'unlink <project_id> <bucket>', {
    description: 'Remove a linked bucket (the source is untouched)',
    examples: ['buckets unlink 456 shared_sales'],
    async action(ctx, [project, name]) {
      await (await ctx.client()).sharing.unlink(project!, name!);
      if (!ctx.json) ctx.out(`Unlinked bucket ${name}`);
    },
  });

  leaf(buckets, io, 'grant-readonly <project_id> <bucket>', {
    description: 'Grant read-only access to a bucket',
    examples: ['buckets grant-readonly 123 in_c_sales'],
    async action(ctx, [project, name]) {
      const result = await (await ctx.client()).sharing.grantReadonly(project!, name!);
      if (ctx.json) ctx.printJson(result);
      else ctx.out(result.message);
    },
  });

  leaf(buckets, io, 'revoke-readonly <project_id> <bucket>', {
    description: 'Revoke read-only access to a bucket',
    examples: ['buckets revoke-readonly 123 in_c_sales'],
    async action(ctx, [project, name]) {
      await (await ctx.client()).sharing.revokeReadonly(project!, name!);
      if (!ctx.json) ctx.out(`Read-only access revoked on bucket ${name}`);
    },
  });

  leaf(buckets, io, 'shared <project_id>', {
    description: 'Buckets other projects shared with this one, and how they are linked',
    examples: ['buckets shared 456'],
    async action(ctx, [project]) {
      const list = await (await ctx.client()).sharing.sharedWith(project!);
      if (ctx.json) return ctx.printJson(list);
      ctx.out(renderTable(['source_project_id', 'source_bucket_name', 'table_count', 'linked_as', 'description'], list.buckets));
      ctx.out(`${list.total} shared bucket(s)`);
    },
  });
}
