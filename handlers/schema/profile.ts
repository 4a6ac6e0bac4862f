import type { Handler } from '../../src/context.ts';
import { schemaTargetFromPath } from '../../src/http/columns.ts';
import { json } from '../../src/http/respond.ts';
import { profileTable } from '../../src/storage/profile.ts';

/** GET …/tables/{table}/profile — column statistics in one pass (own and linked tables). */
export const getTableProfile: Handler = async (_request, ctx) => {
  const { table } = schemaTargetFromPath(ctx, 'read');
  const { paths, db, clock } = ctx.services;
  const alias = await ctx.storage.attach(paths.tableFileOf(table));
  const profile = await db.with((c) => profileTable(c, alias, table));
  return json({ row_count: profile.rowCount, profiled_at: clock.now().toISOString(), columns: profile.columns });
};
