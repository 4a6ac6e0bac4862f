import { HttpError } from './errors.ts';
import type { ImportFormat } from '../storage/import.ts';
import { FORMAT_BY_TYPE } from './import-options.ts';

/** A stored file may also be gzip-compressed CSV (gzip is undone first), as §8 says of an absent type. */
const GZIP_TYPES = new Set(['application/gzip', 'application/x-gzip']);

/**
 * The format of an import job whose options name none: from the file's stored content type
 * by §8's rule; 415 `unsupported_media_type` when the type names no format we read.
 */
export function formatForFile(contentType: string): ImportFormat {
  const mime = contentType.split(';', 1)[0]!.trim().toLowerCase();
  const format = FORMAT_BY_TYPE[mime] ?? (GZIP_TYPES.has(mime) ? 'csv' : undefined);
  if (!format) {
    throw new HttpError(415, 'unsupported_media_type', `The file's content type ${mime.slice(0, 100)} names no import format; give format`, { content_type: mime.slice(0, 100) });
  }
  return format;
}

/** `…/buckets/{b}/tables/{t}/import-async` → `…/jobs/{id}`, so the Location keeps any mount point. */
export const jobLocation = (request: Request, projectId: string, jobId: string) => {
  const path = new URL(request.url).pathname;
  const at = path.indexOf(`/projects/${projectId}/`);
  const base = at >= 0 ? path.slice(0, at) : '';
  return `${base}/projects/${projectId}/jobs/${jobId}`;
};
