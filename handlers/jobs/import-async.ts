import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { validationError } from '../../src/http/errors.ts';
import { jobView } from '../../src/http/file-views.ts';
import { csvOptionClashes } from '../../src/http/import-options.ts';
import { formatForFile, jobLocation } from '../../src/http/job-options.ts';
import { callerKeyId, requireWritable, tableFromPath, visibleFile } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { ColumnNameSchema, FileIdSchema } from '../../src/http/schemas.ts';
import type { ImportJobParams } from '../../src/storage/jobs/operations.ts';
import { submitJob } from '../../src/storage/jobs/submit.ts';

/** One character that is not a line break. */
const CharSchema = (what: string) => v.pipe(v.string(), v.length(1, `${what} must be a single character`), v.regex(/^[^\r\n\0]$/, `${what} must not be a line break`));

/** The §8 import options as JSON, and the file to import. */
export const ImportAsyncSchema = v.object({
  file_id: FileIdSchema,
  format: v.optional(v.picklist(['csv', 'ndjson', 'parquet'], 'Expected csv, ndjson or parquet')),
  incremental: v.optional(v.boolean(), false),
  delimiter: v.optional(CharSchema('delimiter'), ','),
  quote: v.optional(CharSchema('quote'), '"'),
  escape: v.optional(CharSchema('escape')),
  header: v.optional(v.boolean(), true),
  columns: v.optional(v.pipe(v.array(ColumnNameSchema), v.minLength(1), v.maxLength(1000, 'At most 1000 columns'))),
  null_string: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(100), v.regex(/^[^\r\n\0]*$/, 'null_string must not contain line breaks')))),
});

/** POST …/tables/{table}/import-async — queues an import of a stored file; 202 with the job. */
export const importAsync: Handler = async (request, ctx) => {
  // Part II order: the table's 404, then 403 bucket_readonly for a linked bucket.
  const { project, bucket, table } = tableFromPath(ctx);
  requireWritable(bucket);
  const body = await readJson(request, ImportAsyncSchema);
  const escape = body.escape ?? body.quote;
  const checkCsvOptions = () => {
    if (!body.header && !body.columns) throw validationError([{ path: 'columns', message: 'columns is required when header=false' }]);
    csvOptionClashes(body.delimiter, body.quote, escape, body.null_string ?? undefined, '');
  };
  // The options are the body (422) and come before the file (404) when they name their
  // format; without one, the format is the file's, so the file is looked up first.
  if (body.format === 'csv') checkCsvOptions();
  const file = visibleFile(ctx, project.id, body.file_id);
  const format = body.format ?? formatForFile(file.contentType);
  if (format === 'csv' && body.format === undefined) checkCsvOptions();
  const params: ImportJobParams = {
    file_id: file.id,
    format,
    incremental: body.incremental,
    delimiter: body.delimiter,
    quote: body.quote,
    escape,
    header: body.header,
    columns: body.columns ?? null,
    null_string: body.null_string ?? null,
  };
  const job = await submitJob(ctx.services, { projectId: project.id, bucket: bucket.name, table, operation: 'import', params: { ...params }, createdBy: callerKeyId(ctx) });
  ctx.logFields.job_id = job.id;
  return json(jobView(job), 202, { location: jobLocation(request, project.id, job.id) });
};
