import type { Command } from 'commander';
import type { CreatedProject, Project } from '../../client/index.ts';
import { group, leaf } from '../command.ts';
import type { CliContext, CliIo } from '../context.ts';
import { UsageError } from '../errors.ts';
import { formatBytes, renderObject, renderTable } from '../output.ts';
import { jsonValue, wholeNumber } from '../parse.ts';

const PROJECT_FIELDS = ['id', 'name', 'status', 'bucket_count', 'table_count', 'size_bytes', 'db_path', 'created_at', 'updated_at', 'settings'];

function printProject(ctx: CliContext, project: Project): void {
  ctx.out(renderObject(project, PROJECT_FIELDS));
}

/**
 * Prints an answer that carries a new secret (`projects create`, `keys create/rotate`):
 * shown once, or — with --save-profile — stored in a profile and not shown at all.
 */
export async function printWithSecret<T extends { api_key: string }>(ctx: CliContext, answer: T, saveProfile: string | undefined, print: (value: Omit<T, 'api_key'>) => void): Promise<void> {
  const { api_key: secret, ...rest } = answer;
  if (saveProfile) await ctx.saveKey(saveProfile, secret);
  if (ctx.json) {
    ctx.printJson(saveProfile ? rest : answer);
    return;
  }
  print(rest);
  if (saveProfile) ctx.out(`\nThe key was saved to profile ${saveProfile} (use it with --profile ${saveProfile}); it is not shown.`);
  else ctx.out(`\napi_key  ${secret}\nThis key is shown once: store it now (or pass --save-profile NAME next time).`);
}

export function registerProjects(program: Command, io: CliIo): void {
  const projects = group(program, 'projects', 'Projects (§4): create and list need the service admin key', 'projects list');

  leaf<{ name?: string; settings?: Record<string, unknown>; saveProfile?: string }>(
    projects,
    io,
    'create <project_id>',
    {
      description: 'Create a project; prints its first admin key once',
      examples: ['projects create 123 --name "My project"', 'projects create 123 --save-profile p123'],
      async action(ctx, [id], options) {
        const client = await ctx.client();
        const created: CreatedProject = await client.projects.create({ id: id!, name: options.name ?? null, settings: options.settings ?? null });
        await printWithSecret(ctx, created, options.saveProfile, (project) => printProject(ctx, project as Project));
      },
    },
    (c) =>
      c
        .option('--name <name>', 'display name')
        .option('--settings <json>', 'settings object (JSON)', jsonValue('--settings') as (t: string) => Record<string, unknown>)
        .option('--save-profile <profile>', 'store the new key in this profile (with the current URL) instead of printing it'),
  );

  leaf<{ status?: 'active' | 'deleted'; limit?: number; offset?: number }>(
    projects,
    io,
    'list',
    {
      description: 'List projects, newest first',
      examples: ['projects list', 'projects list --status deleted --limit 10'],
      async action(ctx, _args, options) {
        if (options.status && options.status !== 'active' && options.status !== 'deleted') throw new UsageError('--status must be active or deleted');
        const list = await (await ctx.client()).projects.list({ status: options.status, limit: options.limit, offset: options.offset });
        if (ctx.json) return ctx.printJson(list);
        ctx.out(renderTable(['id', 'name', 'status', 'bucket_count', 'table_count', 'size', 'created_at'], list.projects.map((p) => ({ ...p, size: formatBytes(p.size_bytes) }))));
        ctx.out(`${list.projects.length} of ${list.total} project(s)`);
      },
    },
    (c) =>
      c
        .option('--status <status>', 'active or deleted')
        .option('--limit <n>', 'page size (1-1000, default 100)', wholeNumber('--limit'))
        .option('--offset <n>', 'skip this many', wholeNumber('--offset')),
  );

  leaf(projects, io, 'get <project_id>', {
    description: 'Show a project',
    examples: ['projects get 123'],
    async action(ctx, [id]) {
      const project = await (await ctx.client()).projects.get(id!);
      if (ctx.json) ctx.printJson(project);
      else printProject(ctx, project);
    },
  });

  leaf<{ name?: string; clearName?: boolean; settings?: Record<string, unknown>; clearSettings?: boolean }>(
    projects,
    io,
    'update <project_id>',
    {
      description: 'Change the name or settings (absent options stay as they are)',
      examples: ['projects update 123 --name "Sales"', 'projects update 123 --settings \'{"owner":"bi"}\'', 'projects update 123 --clear-name'],
      async action(ctx, [id], options) {
        if (options.name !== undefined && options.clearName) throw new UsageError('Give --name or --clear-name, not both');
        if (options.settings !== undefined && options.clearSettings) throw new UsageError('Give --settings or --clear-settings, not both');
        const body: { name?: string | null; settings?: Record<string, unknown> | null } = {};
        if (options.name !== undefined) body.name = options.name;
        if (options.clearName) body.name = null;
        if (options.settings !== undefined) body.settings = options.settings;
        if (options.clearSettings) body.settings = null;
        if (!Object.keys(body).length) throw new UsageError('Nothing to change: give --name, --clear-name, --settings or --clear-settings');
        const project = await (await ctx.client()).projects.update(id!, body);
        if (ctx.json) ctx.printJson(project);
        else printProject(ctx, project);
      },
    },
    (c) =>
      c
        .option('--name <name>', 'new display name')
        .option('--clear-name', 'remove the name')
        .option('--settings <json>', 'new settings object (JSON)', jsonValue('--settings') as (t: string) => Record<string, unknown>)
        .option('--clear-settings', 'remove the settings'),
  );

  leaf(projects, io, 'delete <project_id>', {
    description: 'Delete a project with everything in it; its keys stop working at once',
    examples: ['projects delete 123'],
    async action(ctx, [id]) {
      await (await ctx.client()).projects.delete(id!);
      if (!ctx.json) ctx.out(`Deleted project ${id}`);
    },
  });

  leaf(projects, io, 'stats <project_id>', {
    description: 'Live size and counts of a project',
    examples: ['projects stats 123'],
    async action(ctx, [id]) {
      const stats = await (await ctx.client()).projects.stats(id!);
      if (ctx.json) ctx.printJson(stats);
      else ctx.out(renderObject({ ...stats, size: formatBytes(stats.size_bytes) }, ['id', 'bucket_count', 'table_count', 'size_bytes', 'size']));
    },
  });
}
