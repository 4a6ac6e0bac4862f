import { FINISHED, type JobCatalog } from '../catalog/jobs.ts';

/** How long a finished job is kept (§16). */
export const JOB_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** The sweeper's task for jobs: removes those finished more than 7 days ago. */
export function jobRetentionTask(jobs: JobCatalog) {
  return {
    name: 'jobs',
    async sweep(now: Date): Promise<number> {
      const due = jobs
        .all()
        .filter((job) => FINISHED.has(job.status) && job.finishedAt && new Date(job.finishedAt).getTime() + JOB_RETENTION_MS <= now.getTime())
        .map((job) => job.id);
      await jobs.remove(due);
      return due.length;
    },
  };
}
