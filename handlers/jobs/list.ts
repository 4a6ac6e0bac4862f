import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { jobView } from '../../src/http/file-views.ts';
import { maySee, scopedProject } from '../../src/http/lookup.ts';
import { readQuery } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { BranchIdSchema, PagingEntries } from '../../src/http/schemas.ts';
import { isDevBranch } from '../../src/storage/locator.ts';

export const ListJobsQuerySchema = v.object({
  status: v.optional(v.picklist(['waiting', 'processing', 'success', 'error', 'cancelled'], 'status must be waiting, processing, success, error or cancelled')),
  operation: v.optional(v.picklist(['import', 'export'], 'operation must be import or export')),
  branch: v.optional(v.pipe(BranchIdSchema, v.transform((id) => id.toLowerCase()))),
  ...PagingEntries,
});

/** GET /projects/{id}/jobs — every branch's jobs, newest first. */
export const listJobs: Handler = async (request, ctx) => {
  const project = scopedProject(ctx);
  const query = readQuery(request, ListJobsQuerySchema);
  // §14: under P/branches/{branch}/…, that branch's jobs; P/jobs lists every branch's.
  const branch = isDevBranch(ctx.branch) ? ctx.branch : query.branch;
  const jobs = ctx.services.jobs.list(project.id, { status: query.status, operation: query.operation, branch }).filter((job) => maySee(ctx, job));
  return json({ jobs: jobs.slice(query.offset, query.offset + query.limit).map(jobView), total: jobs.length });
};
