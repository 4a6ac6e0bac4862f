import { HttpError, validationError, type ValidationIssue } from './errors.ts';
import type { ImportFormat } from '../storage/import.ts';

/**
 * The import's format when the query names none, from the body's Content-Type (§8): CSV
 * without a type, for `text/plain` and `application/octet-stream` (what clients send for
 * "some bytes"); 415 `unsupported_media_type` for any other type, such as
 * `application/json`, which would otherwise be read as CSV. Called before the body is read.
 */
export function formatFromContentType(request: Request): ImportFormat {
  const header = request.headers.get('content-type') ?? '';
  const mime = header.split(';', 1)[0]!.trim().toLowerCase();
  const format = FORMAT_BY_TYPE[mime];
  if (format) return format;
  throw new HttpError(
    415,
    'unsupported_media_type',
    `Content-Type ${JSON.stringify(mime.slice(0, 100))} is not an import format: send text/csv, application/x-ndjson or application/vnd.apache.parquet, or name the format with ?format=csv|ndjson|parquet`,
    { content_type: mime.slice(0, 100) },
  );
}

/** The import format each media type names (§8); types that say nothing about the format are CSV. */
export const FORMAT_BY_TYPE: Readonly<Record<string, ImportFormat>> = {
  '': 'csv',
  'text/plain': 'csv',
  'application/octet-stream': 'csv',
  'text/csv': 'csv',
  'application/csv': 'csv',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/jsonl': 'ndjson',
  'application/vnd.apache.parquet': 'parquet',
};

/** Whether the body is gzip-compressed; 415 for an encoding we cannot read. */
export function isGzip(request: Request): boolean {
  const encoding = (request.headers.get('content-encoding') ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return false;
  if (encoding === 'gzip' || encoding === 'x-gzip') return true;
  throw new HttpError(415, 'unsupported_media_type', 'Content-Encoding must be gzip or identity', { content_encoding: encoding.slice(0, 100) });
}

/**
 * DuckDB refuses these at bind time: the delimiter, quote and escape characters must not
 * clash. `prefix` is where the options came from (`query.` for §8's query string, empty for
 * the JSON body of an import job).
 */
export function csvOptionClashes(delimiter: string, quote: string, escape: string, nullString: string | undefined, prefix = 'query.'): void {
  const issues: ValidationIssue[] = [];
  if (quote === delimiter) issues.push({ path: `${prefix}quote`, message: 'quote must differ from delimiter' });
  if (escape === delimiter) issues.push({ path: `${prefix}escape`, message: 'escape must differ from delimiter' });
  for (const [name, ch] of [['delimiter', delimiter], ['quote', quote], ['escape', escape]] as const) {
    if (nullString?.includes(ch)) issues.push({ path: `${prefix}null_string`, message: `null_string must not contain the ${name} character` });
  }
  if (issues.length) throw validationError(issues);
}
