import * as v from 'valibot';
import { EXPORT_FORMATS } from '../storage/export.ts';
import { ColumnListSchema, FiltersSchema, OrderByListSchema } from '../storage/filters.ts';

export const ExportFormatSchema = v.picklist(EXPORT_FORMATS, `format must be one of ${EXPORT_FORMATS.join(', ')}`);
export const MAX_EXPORT_LIMIT = Number.MAX_SAFE_INTEGER;

/** The §8 `POST …/export` body; `POST …/export-async` (§16) takes the same. */
export const ExportBodySchema = v.object({
  format: v.optional(ExportFormatSchema, 'csv'),
  columns: v.optional(ColumnListSchema),
  filters: v.optional(FiltersSchema, []),
  order_by: v.optional(OrderByListSchema, []),
  limit: v.optional(v.pipe(v.number(), v.integer('limit must be a whole number'), v.minValue(1, 'limit must be at least 1'), v.maxValue(MAX_EXPORT_LIMIT))),
  gzip: v.optional(v.boolean(), false),
});
