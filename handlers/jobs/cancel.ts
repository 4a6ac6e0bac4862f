import type { Handler } from '../../src/context.ts';
import { jobFromPath } from '../../src/http/lookup.ts';
import { noContent } from '../../src/http/respond.ts';

/** DELETE /projects/{id}/jobs/{job_id} — cancels a waiting job, stops a running one; 409 once finished. */
export const cancelJob: Handler = async (_request, ctx) => {
  const { job } = jobFromPath(ctx);
  await ctx.services.jobRunner.cancel(job);
  return noContent();
};
