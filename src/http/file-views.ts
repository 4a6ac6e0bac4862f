import type { FileRecord } from '../storage/catalog/files.ts';
import type { JobRecord } from '../storage/catalog/jobs.ts';

/** The §15 file object. */
export function fileView(file: FileRecord) {
  return {
    id: file.id,
    name: file.name,
    size_bytes: file.sizeBytes,
    content_type: file.contentType,
    content_encoding: file.contentEncoding,
    sha256: file.sha256,
    tags: file.tags,
    is_permanent: file.isPermanent,
    created_at: file.createdAt,
    expires_at: file.expiresAt,
  };
}

/** The §16 job object. */
export function jobView(job: JobRecord) {
  return {
    id: job.id,
    operation: job.operation,
    status: job.status,
    branch: job.branch,
    table: { bucket: job.bucket, name: job.table },
    params: job.params,
    progress: { rows: job.progress.rows, bytes: job.progress.bytes },
    result: job.result,
    error: job.error,
    created_at: job.createdAt,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
  };
}
