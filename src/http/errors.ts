/** The one error type handlers throw; `app` turns it into the contract's error body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (code: string, message: string, details?: Record<string, unknown>) =>
  new HttpError(404, code, message, details);

export const conflict = (code: string, message: string, details?: Record<string, unknown>) =>
  new HttpError(409, code, message, details);

export interface ValidationIssue {
  path: string;
  message: string;
}

export const validationError = (issues: ValidationIssue[], message = 'Request validation failed') =>
  new HttpError(422, 'validation_error', message, { issues });

export function errorBody(code: string, message: string, details?: Record<string, unknown>) {
  return { detail: details ? { error: code, message, details } : { error: code, message } };
}

/**
 * One constructor per contract error code that many places raise, so the message and the
 * details of a code are the same wherever it comes from. Add codes here rather than
 * building them by hand in handlers.
 */
export const errors = {
  /** §4 (the project routes themselves): a missing or deleted project. */
  notFound: (projectId: string) => notFound('not_found', `Project ${projectId} not found`, { project_id: projectId }),
  projectNotFound: (projectId: string) => notFound('project_not_found', `Project ${projectId} not found`, { project_id: projectId }),
  bucketNotFound: (projectId: string, bucket: string) =>
    notFound('bucket_not_found', `Bucket ${bucket} not found in project ${projectId}`, { project_id: projectId, bucket_name: bucket }),
  tableNotFound: (projectId: string, bucket: string, table: string) =>
    notFound('table_not_found', `Table ${table} not found in bucket ${bucket}`, { project_id: projectId, bucket_name: bucket, table_name: table }),
  branchNotFound: (projectId: string, branch: string) =>
    notFound('branch_not_found', `Branch ${branch} not found in project ${projectId}`, { project_id: projectId, branch_id: branch.slice(0, 64) }),
  mainBranchOnly: (branch: string) =>
    new HttpError(400, 'main_branch_only', `This route works only in the default branch, not in branch ${branch}`, { branch_id: branch }),
  invalidBranch: (message: string, branch: string) => new HttpError(400, 'invalid_branch', message, { branch_id: branch }),
  tableExists: (projectId: string, bucket: string, table: string) =>
    conflict('table_exists', `Table ${table} already exists in bucket ${bucket}`, { project_id: projectId, bucket_name: bucket, table_name: table }),
  bucketReadonly: (bucket: { projectId: string; name: string; source: { projectId: string; bucket: string } | null }) =>
    new HttpError(403, 'bucket_readonly', `Bucket ${bucket.name} is linked from ${bucket.source?.projectId}.${bucket.source?.bucket} and is read-only`, {
      project_id: bucket.projectId,
      bucket_name: bucket.name,
    }),
  snapshotNotFound: (projectId: string, snapshotId: string) =>
    notFound('snapshot_not_found', `Snapshot ${snapshotId} not found in project ${projectId}`, { project_id: projectId, snapshot_id: snapshotId }),
  forbidden: (message: string, details?: Record<string, unknown>) => new HttpError(403, 'forbidden', message, details),
  invalidQuery: (message: string, details?: Record<string, unknown>) => new HttpError(400, 'invalid_query', message, details),
  queryFailed: (message: string, details?: Record<string, unknown>) => new HttpError(400, 'query_failed', message, details),
  queryTimeout: (seconds: number, details?: Record<string, unknown>) =>
    new HttpError(400, 'query_timeout', `The query ran longer than its timeout of ${seconds} s and was stopped`, { timeout_seconds: seconds, ...details }),
  tooManyQueries: (limit: number) =>
    new HttpError(429, 'too_many_requests', `Too many SQL queries at once (at most ${limit}); retry later`, { limit }, { 'retry-after': '1' }),
  workspaceNotFound: (projectId: string, workspaceId: string) =>
    notFound('workspace_not_found', `Workspace ${workspaceId} not found in project ${projectId}`, { project_id: projectId, workspace_id: workspaceId }),
  insufficientScope: (required: string, scope: string) =>
    new HttpError(403, 'insufficient_scope', `This route needs a key of scope ${required}; this key has scope ${scope}`, { required, scope }),
  // §15 files and §16 jobs
  fileNotFound: (projectId: string, fileId: string) => notFound('file_not_found', `File ${fileId} not found in project ${projectId}`, { project_id: projectId, file_id: fileId }),
  jobNotFound: (projectId: string, jobId: string) => notFound('job_not_found', `Job ${jobId} not found in project ${projectId}`, { project_id: projectId, job_id: jobId }),
  jobFinished: (jobId: string, status: string) => conflict('job_finished', `Job ${jobId} has already finished (${status})`, { job_id: jobId, status }),
  rangeNotSatisfiable: (size: number) =>
    new HttpError(416, 'range_not_satisfiable', `The requested range is outside the file's ${size} bytes`, { size_bytes: size }, { 'content-range': `bytes */${size}` }),
  tooManyJobs: (limit: number) =>
    new HttpError(429, 'too_many_requests', `Too many jobs waiting (at most ${limit}); retry later`, { limit }, { 'retry-after': '5' }),
};
