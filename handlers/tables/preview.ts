import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { tableFromPath } from '../../src/http/lookup.ts';
import { readQuery } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { queryInt } from '../../src/http/schemas.ts';
import { columnViews } from '../../src/http/views.ts';
import { readRowsWithTotal, TOTAL } from '../../src/storage/read.ts';
import { integerLiteral, quoteIdent } from '../../src/storage/sql.ts';

export const PreviewQuerySchema = v.object({
  limit: v.optional(queryInt(1, 10_000), '1000'),
});

/** GET …/tables/{table}/preview — the first `limit` rows, values mapped as in §7. */
export const previewTable: Handler = async (request, ctx) => {
  const { table } = tableFromPath(ctx);
  const { limit } = readQuery(request, PreviewQuerySchema);
  const { paths, db } = ctx.services;
  const alias = await ctx.storage.attach(paths.tableFile(table.projectId, table.bucket, table.name));
  const data = `${quoteIdent(alias)}.main.data`;
  // One statement: the rows and the table's count come from the same snapshot.
  // `limit` is a validated integer, written as a numeric literal: binding it would make
  // DuckDB prepare the statement first, which costs more than the query itself here.
  const sql = `SELECT *, (SELECT count(*) FROM ${data}) AS ${TOTAL} FROM ${data} LIMIT ${integerLiteral(limit)}`;
  const { rows, total } = await db.with((c) => readRowsWithTotal(c, sql, []));
  return json({ columns: columnViews(table), rows, total_row_count: total, preview_row_count: rows.length });
};
