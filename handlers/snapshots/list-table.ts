import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { tableFromPath } from '../../src/http/lookup.ts';
import { readQuery } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { queryInt } from '../../src/http/schemas.ts';
import { snapshotView } from '../../src/http/snapshot-view.ts';
import { DEFAULT_BRANCH } from '../../src/storage/snapshots.ts';

export const ListTableSnapshotsQuerySchema = v.object({
  limit: v.optional(queryInt(1, 1000), '100'),
  offset: v.optional(queryInt(0, Number.MAX_SAFE_INTEGER), '0'),
});

/**
 * GET …/tables/{table}/snapshots — newest first, those taken of this bucket and table name
 * (earlier tables of the name included). A linked bucket has none of its own.
 */
export const listTableSnapshots: Handler = async (request, ctx) => {
  const { project, bucket, table } = tableFromPath(ctx);
  const query = readQuery(request, ListTableSnapshotsQuerySchema);
  const matching = bucket.source ? [] : ctx.services.snapshots.list(project.id, { bucket: bucket.name, table: table.name, branch: ctx.branch ?? DEFAULT_BRANCH });
  return json({ snapshots: matching.slice(query.offset, query.offset + query.limit).map(snapshotView), total: matching.length });
};
