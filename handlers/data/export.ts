import * as v from 'valibot';
import type { Handler, HandlerContext } from '../../src/context.ts';
import { tableFromPath } from '../../src/http/lookup.ts';
import { readJson, readQuery } from '../../src/http/request.ts';
import { QueryBoolSchema, queryInt } from '../../src/http/schemas.ts';
import type { TableRecord } from '../../src/storage/catalog.ts';
import { ExportBodySchema, ExportFormatSchema, MAX_EXPORT_LIMIT } from '../../src/http/export-body.ts';
import { exportHeaders, openExport, type ExportFormat } from '../../src/storage/export.ts';
import { checkConversions, planRead, type ReadSpec, type SpecPaths } from '../../src/storage/filters.ts';
import { quoteIdent } from '../../src/storage/sql.ts';

const FormatSchema = ExportFormatSchema;
const MAX_LIMIT = MAX_EXPORT_LIMIT;

export const ExportQuerySchema = v.object({
  format: v.optional(FormatSchema, 'csv'),
  /** Comma-separated column names. */
  columns: v.optional(v.pipe(v.string(), v.minLength(1, 'columns must name at least one column'), v.maxLength(65_536))),
  limit: v.optional(queryInt(1, MAX_LIMIT)),
  gzip: v.optional(QueryBoolSchema, 'false'),
});

export { ExportBodySchema };

/** Validates the read, then answers with the streamed rows; the table is held until the stream ends. */
async function sendExport(
  request: Request,
  ctx: HandlerContext,
  table: TableRecord,
  spec: ReadSpec & { format: ExportFormat; limit?: number; gzip: boolean },
  paths?: SpecPaths,
): Promise<Response> {
  const plan = planRead(table, spec, paths);
  const { db } = ctx.services;
  const path = ctx.services.paths.tableFileOf(table);
  const alias = await ctx.storage.attach(path);
  await db.with((c) => checkConversions(c, plan));
  ctx.logFields.format = spec.format;
  const release = ctx.storage.hold();
  const body = await openExport(
    ctx.services,
    { data: `${quoteIdent(alias)}.main.data`, plan, limit: spec.limit, format: spec.format, gzip: spec.gzip, table: { file: path, readLock: () => ctx.services.registry.tryReadLock(path) } },
    {
      release,
      signal: request.signal,
      onError: (error) => ctx.log.error({ err: (error as Error).message, table: table.name }, 'export failed after the response started'),
      onRows: (count) => ctx.services.metrics.exportedRows.inc(count),
      onMethod: (method) => (ctx.logFields.export_method = method),
    },
  );
  return new Response(body, { status: 200, headers: exportHeaders(table.name, spec.format, spec.gzip) });
}

/** GET …/tables/{table}/export?format=&columns=a,b&limit=&gzip= */
export const exportTableGet: Handler = async (request, ctx) => {
  const { table } = tableFromPath(ctx);
  const query = readQuery(request, ExportQuerySchema);
  const columns = query.columns?.split(',').map((name) => name.trim());
  const paths: SpecPaths = { columns: 'query.columns', filters: 'query.filters', orderBy: 'query.order_by' };
  return sendExport(request, ctx, table, { format: query.format, columns, limit: query.limit, gzip: query.gzip }, paths);
};

/** POST …/tables/{table}/export with filters, sort keys, columns, limit and gzip in the body. */
export const exportTablePost: Handler = async (request, ctx) => {
  const { table } = tableFromPath(ctx);
  const body = await readJson(request, ExportBodySchema);
  return sendExport(request, ctx, table, { format: body.format, columns: body.columns, filters: body.filters, orderBy: body.order_by, limit: body.limit, gzip: body.gzip });
};
