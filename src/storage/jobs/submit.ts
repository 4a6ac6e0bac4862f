import type { Services } from '../../services.ts';
import type { TableRecord } from '../catalog.ts';
import type { JobOperation, JobRecord } from '../catalog/jobs.ts';
import { projectStillActive } from '../files.ts';
import { isDevBranch } from '../locator.ts';
import { newJobId } from './runner.ts';

export interface JobSubmission {
  projectId: string;
  /** The bucket and table as the caller addressed them (a linked bucket's own name). */
  bucket: string;
  /** The table the job is bound to (its identity is checked again when the job runs). */
  table: TableRecord;
  operation: JobOperation;
  params: Record<string, unknown>;
  /** The submitting key's id (null for the service admin key). */
  createdBy: string | null;
}

/**
 * Queues a job (§16) for the default branch and returns its record, `waiting` (or already
 * `processing` when a slot was free). Never waits for another job; 429 when the queue is full.
 */
export function submitJob(services: Services, submission: JobSubmission): Promise<JobRecord> {
  let id = newJobId();
  while (services.jobs.byIdAnyProject(id)) id = newJobId();
  const job: JobRecord = {
    id,
    projectId: submission.projectId,
    // §14: a job belongs to the branch its table was addressed in.
    branch: isDevBranch(submission.table.branch) ? submission.table.branch : 'default',
    operation: submission.operation,
    status: 'waiting',
    bucket: submission.bucket,
    table: submission.table.name,
    seq: services.jobs.nextSeq(),
    params: submission.params,
    internal: { table_created_at: submission.table.createdAt },
    result: null,
    error: null,
    createdAt: services.clock.now().toISOString(),
    startedAt: null,
    finishedAt: null,
    createdBy: submission.createdBy,
    progress: { rows: 0, bytes: 0 },
  };
  return services.jobRunner.submit(job, projectStillActive(services.catalog, submission.projectId));
}
