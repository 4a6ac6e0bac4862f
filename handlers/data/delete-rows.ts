import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { writableTableFromPath } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { checkConversions, deleteRows, FiltersSchema, planRead } from '../../src/storage/filters.ts';

export const DeleteRowsSchema = v.object({
  filters: v.pipe(FiltersSchema, v.minLength(1, 'filters must hold at least one filter (use truncate to delete every row)')),
});

/** POST …/tables/{table}/delete-rows — deletes the rows matching every filter. */
export const deleteTableRows: Handler = async (request, ctx) => {
  const { bucket, table } = writableTableFromPath(ctx);
  const body = await readJson(request, DeleteRowsSchema);
  const plan = planRead(table, { filters: body.filters });
  await ctx.services.db.with((c) => checkConversions(c, plan));
  const { deleted, remaining } = await deleteRows(ctx.services, (path) => ctx.storage.attach(path), table, plan);
  return json({ deleted_rows: deleted, row_count: remaining });
};
