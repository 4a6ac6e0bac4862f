import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { jobView } from '../../src/http/file-views.ts';
import { jobFromPath } from '../../src/http/lookup.ts';
import { readQuery } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { queryInt } from '../../src/http/schemas.ts';

export const GetJobQuerySchema = v.object({
  /** Seconds to wait for the job to finish before answering. */
  wait: v.optional(queryInt(0, 60), '0'),
});

/** GET /projects/{id}/jobs/{job_id}?wait= — answers once the job has finished, or when the wait is over. */
export const getJob: Handler = async (request, ctx) => {
  const { project, job } = jobFromPath(ctx);
  const { wait } = readQuery(request, GetJobQuerySchema);
  await ctx.services.jobRunner.waitFinished(job.id, wait * 1000, request.signal);
  return json(jobView(ctx.services.jobs.get(project.id, job.id) ?? job));
};
