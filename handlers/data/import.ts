import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { HttpError, validationError } from '../../src/http/errors.ts';
import { csvOptionClashes, formatFromContentType, isGzip } from '../../src/http/import-options.ts';
import { writableTableFromPath } from '../../src/http/lookup.ts';
import { payloadTooLarge, readQuery } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { ColumnNameSchema, QueryBoolSchema } from '../../src/http/schemas.ts';
import { tableView } from '../../src/http/views.ts';
import { importFile, withStagedBody } from '../../src/storage/import.ts';
import { takeAutoSnapshot } from '../../src/storage/snapshots.ts';

/** One character that is not a line break; `\t` (backslash, t) also means a tab. */
const CharSchema = (what: string) =>
  v.pipe(
    v.string(),
    v.transform((s) => (s === '\\t' ? '\t' : s)),
    v.length(1, `${what} must be a single character`),
    v.regex(/^[^\r\n\0]$/, `${what} must not be a line break`),
  );

export const ImportQuerySchema = v.object({
  format: v.optional(v.picklist(['csv', 'ndjson', 'parquet'], 'Expected csv, ndjson or parquet')),
  incremental: v.optional(QueryBoolSchema, 'false'),
  delimiter: v.optional(CharSchema('delimiter'), ','),
  quote: v.optional(CharSchema('quote'), '"'),
  escape: v.optional(CharSchema('escape')),
  header: v.optional(QueryBoolSchema, 'true'),
  columns: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.split(',').map((name) => name.trim())),
      v.array(ColumnNameSchema),
      v.minLength(1),
      v.maxLength(1000, 'At most 1000 columns'),
    ),
  ),
  null_string: v.optional(v.pipe(v.string(), v.maxLength(100), v.regex(/^[^\r\n\0]*$/, 'null_string must not contain line breaks'))),
});

/** POST …/tables/{table}/import — loads the streamed body (CSV, NDJSON or Parquet) into the table. */
export const importTable: Handler = async (request, ctx) => {
  const { bucket, table } = writableTableFromPath(ctx);
  const query = readQuery(request, ImportQuerySchema);
  const format = query.format ?? formatFromContentType(request);
  if (format === 'csv' && !query.header && !query.columns) {
    throw validationError([{ path: 'query.columns', message: 'columns is required when header=false' }]);
  }
  if (format === 'csv') csvOptionClashes(query.delimiter, query.quote, query.escape ?? query.quote, query.null_string);
  const gzip = isGzip(request);
  const { config, activeImports, paths } = ctx.services;
  const declared = Number(request.headers.get('content-length') ?? '');
  if (Number.isFinite(declared) && declared > config.maxImportBytes) throw payloadTooLarge(config.maxImportBytes);
  // Refused before a byte of the body is read.
  if (activeImports.count >= config.maxConcurrentImports) {
    throw new HttpError(429, 'too_many_requests', `Too many imports at once (at most ${config.maxConcurrentImports}); retry later`, { limit: config.maxConcurrentImports }, { 'retry-after': '5' });
  }
  activeImports.count++;
  ctx.logFields.import_format = format;
  try {
    return await withStagedBody(paths, paths.stagingName('import', format), request.body, { limit: config.maxImportBytes, gzip }, async (staged, size) => {
      ctx.services.metrics.importedBytes.inc(size);
      const { importedRows, table: loaded } = await importFile(ctx.services, (path) => ctx.storage.attach(path), table, staged, {
        format,
        incremental: query.incremental,
        csv: {
          delimiter: query.delimiter,
          quote: query.quote,
          escape: query.escape ?? query.quote,
          header: query.header,
          columns: query.columns,
          nullString: query.null_string,
        },
      }, { beforeFullLoad: (current) => takeAutoSnapshot(ctx.services, current, 'full_import') });
      ctx.logFields.imported_rows = importedRows;
      ctx.services.metrics.importedRows.inc(importedRows);
      return json({ imported_rows: importedRows, row_count: loaded.rowCount, table: await tableView(ctx.services, loaded, bucket.name) });
    });
  } finally {
    activeImports.count--;
  }
};
