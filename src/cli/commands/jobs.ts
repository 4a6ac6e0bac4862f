import type { Command } from 'commander';
import type { Job } from '../../client/index.ts';
import { group, leaf } from '../command.ts';
import type { CliContext, CliIo } from '../context.ts';
import { UsageError } from '../errors.ts';
import { formatBytes, renderObject, renderTable } from '../output.ts';
import { wholeNumber } from '../parse.ts';
import { jobLine } from '../progress.ts';

const JOB_FIELDS = ['id', 'operation', 'status', 'branch', 'table', 'progress', 'params', 'result', 'error', 'created_at', 'started_at', 'finished_at'];

export function printJob(ctx: CliContext, job: Job): void {
  ctx.out(renderObject({ ...job, table: `${job.table.bucket}.${job.table.name}` }, JOB_FIELDS));
}

/** Waits for a job with a live status line on a terminal; a failed job is thrown as its error. */
export async function waitWithStatus(ctx: CliContext, projectId: string, job: Job): Promise<Job> {
  const line = jobLine(ctx);
  line.update(job);
  try {
    return await (await ctx.client()).waitForJob(projectId, job.id, { onJob: (j) => line.update(j) });
  } finally {
    line.stop();
  }
}

const STATUSES = ['waiting', 'processing', 'success', 'error', 'cancelled'] as const;

export function registerJobs(program: Command, io: CliIo): void {
  const jobs = group(program, 'jobs', 'Asynchronous jobs (§16): imports of stored files and exports into files', 'jobs list 123 --status processing');

  leaf<{ status?: string; operation?: string; branch?: string; limit?: number; offset?: number }>(
    jobs,
    io,
    'list <project_id>',
    {
      description: 'List jobs, newest first',
      examples: ['jobs list 123', 'jobs list 123 --status error --operation import'],
      async action(ctx, [project], options) {
        if (options.status && !(STATUSES as readonly string[]).includes(options.status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
        if (options.operation && options.operation !== 'import' && options.operation !== 'export') throw new UsageError('--operation must be import or export');
        const list = await (await ctx.client()).jobs.list(project!, {
          status: options.status as (typeof STATUSES)[number] | undefined,
          operation: options.operation as 'import' | 'export' | undefined,
          branch: options.branch,
          limit: options.limit,
          offset: options.offset,
        });
        if (ctx.json) return ctx.printJson(list);
        ctx.out(
          renderTable(
            ['id', 'operation', 'status', 'table', 'rows', 'bytes', 'created_at', 'finished_at'],
            list.jobs.map((j) => ({ ...j, table: `${j.table.bucket}.${j.table.name}`, rows: j.progress.rows, bytes: formatBytes(j.progress.bytes) })),
          ),
        );
        ctx.out(`${list.jobs.length} of ${list.total} job(s)`);
      },
    },
    (c) =>
      c
        .option('--status <status>', STATUSES.join(', '))
        .option('--operation <operation>', 'import or export')
        .option('--branch <branch_id>', "only this branch's jobs")
        .option('--limit <n>', 'page size (1-1000, default 100)', wholeNumber('--limit'))
        .option('--offset <n>', 'skip this many', wholeNumber('--offset')),
  );

  leaf<{ wait?: number }>(
    jobs,
    io,
    'get <project_id> <job_id>',
    {
      description: 'Show a job (--wait N: answer as soon as it finishes, at most N seconds)',
      examples: ['jobs get 123 j_4e1f0a9b2c3d', 'jobs get 123 j_4e1f0a9b2c3d --wait 30'],
      async action(ctx, [project, id], options) {
        const job = await (await ctx.client()).jobs.get(project!, id!, { wait: options.wait });
        if (ctx.json) ctx.printJson(job);
        else printJob(ctx, job);
      },
    },
    (c) => c.option('--wait <seconds>', 'long-poll up to this many seconds (0-60)', wholeNumber('--wait')),
  );

  leaf(jobs, io, 'wait <project_id> <job_id>', {
    description: 'Wait for a job to finish, with a live status line; exit 1 when it fails',
    examples: ['jobs wait 123 j_4e1f0a9b2c3d'],
    async action(ctx, [project, id]) {
      const client = await ctx.client();
      const done = await waitWithStatus(ctx, project!, await client.jobs.get(project!, id!));
      if (ctx.json) ctx.printJson(done);
      else printJob(ctx, done);
    },
  });

  leaf(jobs, io, 'cancel <project_id> <job_id>', {
    description: 'Cancel a waiting job or stop a running one (its table stays as it was)',
    examples: ['jobs cancel 123 j_4e1f0a9b2c3d'],
    async action(ctx, [project, id]) {
      await (await ctx.client()).jobs.cancel(project!, id!);
      if (!ctx.json) ctx.out(`Cancelled job ${id}`);
    },
  });
}
