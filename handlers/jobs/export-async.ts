import type { Handler } from '../../src/context.ts';
import { ExportBodySchema } from '../../src/http/export-body.ts';
import { jobView } from '../../src/http/file-views.ts';
import { jobLocation } from '../../src/http/job-options.ts';
import { callerKeyId, tableFromPath } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { checkConversions, planRead } from '../../src/storage/filters.ts';
import type { ExportJobParams } from '../../src/storage/jobs/operations.ts';
import { submitJob } from '../../src/storage/jobs/submit.ts';

export { ExportBodySchema as ExportAsyncSchema };

/** POST …/tables/{table}/export-async — queues an export into a new file; 202 with the job. */
export const exportAsync: Handler = async (request, ctx) => {
  const { project, bucket, table } = tableFromPath(ctx);
  const body = await readJson(request, ExportBodySchema);
  // Columns, filters and sort keys are checked now (422), not when the job runs.
  const plan = planRead(table, { columns: body.columns, filters: body.filters, orderBy: body.order_by });
  await ctx.services.db.with((c) => checkConversions(c, plan));
  const params: ExportJobParams = {
    format: body.format,
    columns: body.columns ?? null,
    filters: body.filters,
    order_by: body.order_by,
    limit: body.limit ?? null,
    gzip: body.gzip,
  };
  const job = await submitJob(ctx.services, { projectId: project.id, bucket: bucket.name, table, operation: 'export', params: { ...params }, createdBy: callerKeyId(ctx) });
  ctx.logFields.job_id = job.id;
  return json(jobView(job), 202, { location: jobLocation(request, project.id, job.id) });
};
