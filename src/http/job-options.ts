import { HttpError } from './errors.ts';
import type { ImportFormat } from '../storage/import.ts';

const FORMAT_BY_TYPE: Record<string, ImportFormat> = {
  'text/csv': 'csv',
  'application/csv': 'csv',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/jsonl': 'ndjson',
  'application/vnd.apache.parquet': 'parquet',
};

/** Types that say nothing about the format: CSV, as §8 says of an absent type (gzip is undone first). */
const CSV_BY_DEFAULT = new Set(['', 'text/plain', 'application/octet-stream', 'application/gzip', 'application/x-gzip']);

/**
 * The format of an import job whose options name none: from the file's stored content type
 * by §8's rule; 415 `unsupported_media_type` when the type names no format we read.
 */
export function formatForFile(contentType: string): ImportFormat {
  const mime = contentType.split(';', 1)[0]!.trim().toLowerCase();
  const format = FORMAT_BY_TYPE[mime] ?? (CSV_BY_DEFAULT.has(mime) ? 'csv' : undefined);
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
