import type { Command } from 'commander';
import type { ApiKey } from '../../client/index.ts';
import { group, leaf } from '../command.ts';
import type { CliContext, CliIo } from '../context.ts';
import { UsageError } from '../errors.ts';
import { renderObject, renderTable } from '../output.ts';
import { commaList, wholeNumber } from '../parse.ts';
import { printWithSecret } from './projects.ts';

const KEY_FIELDS = ['id', 'description', 'scope', 'buckets', 'branch', 'key_prefix', 'created_at', 'expires_at', 'last_used_at', 'rotated_at'];

function printKey(ctx: CliContext, key: Partial<ApiKey>): void {
  ctx.out(renderObject(key, KEY_FIELDS));
}

export function registerKeys(program: Command, io: CliIo): void {
  const keys = group(program, 'keys', "API keys (§11): scopes, bucket and branch restrictions, rotation; secrets are shown once", 'keys create 123 --scope read --description "BI dashboard"');

  leaf<{ scope?: string; description?: string; buckets?: string[]; branch?: string; expiresIn?: number; saveProfile?: string }>(
    keys,
    io,
    'create <project_id>',
    {
      description: 'Create a key; prints its secret once (or stores it with --save-profile)',
      examples: ['keys create 123 --scope read --description "BI dashboard"', 'keys create 123 --scope write --buckets in_c_sales --expires-in 86400 --save-profile loader'],
      async action(ctx, [project], options) {
        const scope = options.scope;
        if (scope !== 'admin' && scope !== 'write' && scope !== 'read') throw new UsageError('--scope must be admin, write or read');
        const created = await (await ctx.client()).keys.create(project!, {
          scope,
          description: options.description ?? null,
          buckets: options.buckets ?? null,
          branch: options.branch ?? null,
          expires_in_seconds: options.expiresIn ?? null,
        });
        await printWithSecret(ctx, created, options.saveProfile, (key) => printKey(ctx, key));
      },
    },
    (c) =>
      c
        .requiredOption('--scope <scope>', 'admin, write or read')
        .option('--description <text>', 'what the key is for')
        .option('--buckets <a,b>', 'reach only these buckets', commaList)
        .option('--branch <branch_id>', 'reach only this development branch')
        .option('--expires-in <seconds>', 'stop working after this many seconds (60-315360000)', wholeNumber('--expires-in'))
        .option('--save-profile <profile>', 'store the new key in this profile instead of printing it'),
  );

  leaf(keys, io, 'list <project_id>', {
    description: "List the project's keys, oldest first (never their secrets)",
    examples: ['keys list 123'],
    async action(ctx, [project]) {
      const list = await (await ctx.client()).keys.list(project!);
      if (ctx.json) return ctx.printJson(list);
      ctx.out(
        renderTable(
          ['id', 'scope', 'key_prefix', 'description', 'buckets', 'branch', 'expires_at', 'last_used_at'],
          list.api_keys.map((k) => ({ ...k, buckets: k.buckets?.join(', ') ?? '' })),
        ),
      );
      ctx.out(`${list.total} key(s)`);
    },
  });

  leaf(keys, io, 'current <project_id>', {
    description: 'The key this CLI is using (works with every scope)',
    examples: ['keys current 123'],
    async action(ctx, [project]) {
      const key = await (await ctx.client()).keys.current(project!);
      if (ctx.json) ctx.printJson(key);
      else if (key.id === null) ctx.out('The service admin key (every project, every route)');
      else printKey(ctx, key);
    },
  });

  leaf(keys, io, 'get <project_id> <key_id>', {
    description: 'Show a key',
    examples: ['keys get 123 k_5f0c2a9e41d7'],
    async action(ctx, [project, id]) {
      const key = await (await ctx.client()).keys.get(project!, id!);
      if (ctx.json) ctx.printJson(key);
      else printKey(ctx, key);
    },
  });

  leaf(keys, io, 'delete <project_id> <key_id>', {
    description: 'Revoke a key; it stops working at once',
    examples: ['keys delete 123 k_5f0c2a9e41d7'],
    async action(ctx, [project, id]) {
      await (await ctx.client()).keys.delete(project!, id!);
      if (!ctx.json) ctx.out(`Revoked key ${id}`);
    },
  });

  leaf<{ saveProfile?: string }>(
    keys,
    io,
    'rotate <project_id> <key_id>',
    {
      description: 'Give a key a new secret; the old one stops working at once',
      examples: ['keys rotate 123 k_5f0c2a9e41d7', 'keys rotate 123 k_5f0c2a9e41d7 --save-profile loader'],
      async action(ctx, [project, id], options) {
        const rotated = await (await ctx.client()).keys.rotate(project!, id!);
        await printWithSecret(ctx, rotated, options.saveProfile, (key) => printKey(ctx, key));
      },
    },
    (c) => c.option('--save-profile <profile>', 'store the new secret in this profile instead of printing it'),
  );
}
