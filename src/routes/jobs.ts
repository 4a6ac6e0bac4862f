import type { RouteDef } from '../routes.ts';
import { cancelJob } from '../../handlers/jobs/cancel.ts';
import { ExportAsyncSchema, exportAsync } from '../../handlers/jobs/export-async.ts';
import { GetJobQuerySchema, getJob } from '../../handlers/jobs/get.ts';
import { ImportAsyncSchema, importAsync } from '../../handlers/jobs/import-async.ts';
import { ListJobsQuerySchema, listJobs } from '../../handlers/jobs/list.ts';

const P = '/projects/:id';
const T = `${P}/buckets/:bucket/tables/:table`;

/** §16: asynchronous jobs. */
export const jobRoutes: RouteDef[] = [
  { method: 'POST', path: `${T}/import-async`, auth: 'project', branch: 'twin', scope: 'write', handler: importAsync, body: ImportAsyncSchema, summary: 'Queue an import of a stored file', tag: 'jobs', responses: [202, 401, 403, 404, 413, 415, 422, 429] },
  { method: 'POST', path: `${T}/export-async`, auth: 'project', branch: 'twin', scope: 'read', handler: exportAsync, body: ExportAsyncSchema, summary: 'Queue an export into a new file', tag: 'jobs', responses: [202, 401, 403, 404, 413, 415, 422, 429] },
  { method: 'GET', path: `${P}/jobs`, auth: 'project', branch: 'twin', scope: 'read', handler: listJobs, query: ListJobsQuerySchema, summary: 'List jobs, newest first', tag: 'jobs', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: `${P}/jobs/:job_id`, auth: 'project', branch: 'twin', scope: 'read', handler: getJob, query: GetJobQuerySchema, summary: 'Get a job; ?wait= long-polls until it finishes', tag: 'jobs', responses: [200, 401, 403, 404, 422] },
  { method: 'DELETE', path: `${P}/jobs/:job_id`, auth: 'project', branch: 'twin', scope: 'write', handler: cancelJob, summary: 'Cancel a waiting or running job', tag: 'jobs', responses: [204, 401, 403, 404, 409, 422] },
];
