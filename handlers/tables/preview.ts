import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { tableFromPath } from '../../src/http/lookup.ts';
import { readQuery } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { queryInt } from '../../src/http/schemas.ts';
import { columnViews } from '../../src/http/views.ts';
import { readPreview } from '../../src/storage/read.ts';

export const PreviewQuerySchema = v.object({
  limit: v.optional(queryInt(1, 10_000), '1000'),
});

/** GET …/tables/{table}/preview — the first `limit` rows, values mapped as in §7. */
export const previewTable: Handler = async (request, ctx) => {
  const { table } = tableFromPath(ctx);
  const { limit } = readQuery(request, PreviewQuerySchema);
  const { paths, db, registry } = ctx.services;
  const alias = await ctx.storage.attach(paths.tableFileOf(table));
  const { rows, total } = await db.with((c) => readPreview(c, alias, limit, registry.statements));
  return json({ columns: columnViews(table), rows, total_row_count: total, preview_row_count: rows.length });
};
