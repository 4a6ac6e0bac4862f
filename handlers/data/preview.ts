import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { tableFromPath } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { columnViews } from '../../src/http/views.ts';
import { checkConversions, ColumnListSchema, countSql, FiltersSchema, OrderByListSchema, planRead, selectSql } from '../../src/storage/filters.ts';
import { readRowsAndCount } from '../../src/storage/read.ts';
import { quoteIdent } from '../../src/storage/sql.ts';

export const FilteredPreviewSchema = v.object({
  limit: v.optional(v.pipe(v.number(), v.integer('limit must be a whole number'), v.minValue(1, 'limit must be at least 1'), v.maxValue(10_000, 'limit must be at most 10000')), 1000),
  columns: v.optional(ColumnListSchema),
  filters: v.optional(FiltersSchema, []),
  order_by: v.optional(OrderByListSchema, []),
});

/**
 * POST …/tables/{table}/preview — rows picked by columns, filters and sort keys; the
 * total counts every matching row. Column names match the table's without regard to case.
 */
export const previewFiltered: Handler = async (request, ctx) => {
  const { table } = tableFromPath(ctx);
  const body = await readJson(request, FilteredPreviewSchema);
  const plan = planRead(table, { columns: body.columns, filters: body.filters, orderBy: body.order_by });
  const { paths, db } = ctx.services;
  const alias = await ctx.storage.attach(paths.tableFileOf(table));
  const data = `${quoteIdent(alias)}.main.data`;
  const { rows, total } = await db.with(async (c) => {
    await checkConversions(c, plan);
    return readRowsAndCount(c, selectSql(data, plan, body.limit), countSql(data, plan), body.limit);
  });
  return json({
    columns: columnViews(table, plan.columns.map((column) => column.name)),
    rows,
    total_row_count: total,
    preview_row_count: rows.length,
  });
};
