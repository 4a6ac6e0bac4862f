import type { Transport } from '../transport.ts';
import type { ExportInput, GetJobQuery, ImportAsyncInput, Job, JobList, ListJobsQuery } from '../types.ts';

const P = '/projects/:id';
const T = `${P}/buckets/:bucket/tables/:table`;

/** §16 asynchronous jobs. `StorageClient.waitForJob` and `importFile` build on these. */
export const jobsApi = (t: Transport) => ({
  /** Queues an import of a stored file (§15): 202 with the job. */
  importAsync: (projectId: string, bucket: string, table: string, body: ImportAsyncInput) => t.json<Job>('POST', `${T}/import-async`, [projectId, bucket, table], { json: body }),
  /** Queues an export into a new file. */
  exportAsync: (projectId: string, bucket: string, table: string, body: ExportInput = {}) => t.json<Job>('POST', `${T}/export-async`, [projectId, bucket, table], { json: body }),
  list: (projectId: string, query: ListJobsQuery = {}) => t.json<JobList>('GET', `${P}/jobs`, [projectId], { query }),
  /** `wait` (0-60 s): answers as soon as the job has finished, or when the wait is over. */
  get: (projectId: string, jobId: string, query: GetJobQuery = {}, signal?: AbortSignal) => t.json<Job>('GET', `${P}/jobs/:job_id`, [projectId, jobId], { query, signal }),
  /** Cancels a waiting job, stops a running one (its table left as before). */
  cancel: (projectId: string, jobId: string) => t.empty('DELETE', `${P}/jobs/:job_id`, [projectId, jobId]),
});
