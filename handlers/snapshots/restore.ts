import * as v from 'valibot';
import { mayReachBucket } from '../../src/auth/guards.ts';
import type { Handler } from '../../src/context.ts';
import { errors } from '../../src/http/errors.ts';
import { snapshotFromPath } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { BucketNameSchema, TableNameSchema } from '../../src/http/schemas.ts';
import { tableView } from '../../src/http/views.ts';
import { restoreInBranch } from '../../src/storage/branch-restore.ts';
import { isDevBranch } from '../../src/storage/locator.ts';
import { restoreSnapshot } from '../../src/storage/restore.ts';

export const RestoreSnapshotSchema = v.object({
  bucket: v.optional(BucketNameSchema),
  table: v.optional(TableNameSchema),
  overwrite: v.optional(v.boolean(), false),
});

/**
 * POST /projects/{id}/snapshots/{snapshot_id}/restore — by default where it was taken (the
 * bucket is created again if it was deleted); `overwrite` replaces an existing table after
 * an auto snapshot of it.
 */
export const restoreTableSnapshot: Handler = async (request, ctx) => {
  const { project, snapshot } = snapshotFromPath(ctx);
  const body = await readJson(request, RestoreSnapshotSchema);
  // A bucket-restricted key restores only into its buckets.
  if (body.bucket !== undefined && !mayReachBucket(ctx.principal, body.bucket)) {
    throw errors.forbidden('This key has no access to the bucket', { bucket_name: body.bucket });
  }
  // §13: a snapshot restores into the branch it was taken in.
  const { table, autoSnapshotId } = isDevBranch(snapshot.branch)
    ? await restoreInBranch(ctx.services, project, snapshot, body)
    : await restoreSnapshot(ctx.services, project, snapshot, body);
  return json({ table: await tableView(ctx.services, table), snapshot_id: snapshot.id, auto_snapshot_id: autoSnapshotId });
};
