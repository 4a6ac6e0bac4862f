import * as v from 'valibot';
import { mayReachBucket } from '../../src/auth/guards.ts';
import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { readQuery } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { BucketNameSchema, queryInt, TableNameSchema } from '../../src/http/schemas.ts';
import { snapshotView } from '../../src/http/snapshot-view.ts';
import { isDevBranch } from '../../src/storage/locator.ts';

export const ListSnapshotsQuerySchema = v.object({
  bucket: v.optional(BucketNameSchema),
  table: v.optional(TableNameSchema),
  kind: v.optional(v.picklist(['manual', 'auto'], 'kind must be manual or auto')),
  branch: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9_]{1,40}$/, 'Branch id must be 1-40 characters of a-z, 0-9 or _'))),
  limit: v.optional(queryInt(1, 1000), '100'),
  offset: v.optional(queryInt(0, Number.MAX_SAFE_INTEGER), '0'),
});

/** GET /projects/{id}/snapshots — every snapshot of the project, newest first, also of tables deleted since. */
export const listSnapshots: Handler = async (request, ctx) => {
  const project = scopedProject(ctx);
  const query = readQuery(request, ListSnapshotsQuerySchema);
  // A bucket-restricted key sees only the snapshots of its buckets.
  const matching = ctx.services.snapshots
    // Under P/branches/{branch}/…, that branch's snapshots only (§13).
    .list(project.id, { bucket: query.bucket, table: query.table, kind: query.kind, branch: isDevBranch(ctx.branch) ? ctx.branch : query.branch })
    .filter((snapshot) => mayReachBucket(ctx.principal, snapshot.bucket));
  return json({ snapshots: matching.slice(query.offset, query.offset + query.limit).map(snapshotView), total: matching.length });
};
