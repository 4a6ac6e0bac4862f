import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { bucketFromPath, devBranchFromPath, requireWritable, tableFromPath } from '../../src/http/lookup.ts';
import { readJson, validate } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { TableNameSchema } from '../../src/http/schemas.ts';
import { tableView } from '../../src/http/views.ts';
import { mergeTable as storeMerge } from '../../src/storage/merge.ts';

export const MergeTableSchema = v.object({
  force: v.optional(v.boolean(), false),
});

/** POST /projects/{id}/branches/{branch}/buckets/{bucket}/tables/{table}/merge — main gets the branch's table. */
export const mergeTable: Handler = async (request, ctx) => {
  devBranchFromPath(ctx, 'Merge works from a development branch, not from the default branch');
  const { bucket } = bucketFromPath(ctx);
  const name = validate(TableNameSchema, ctx.params.table, 'path.table');
  // Part II order: a linked bucket's missing table is 404 before 403 bucket_readonly (in
  // another bucket a table the branch deleted is still there to merge: storeMerge looks).
  if (bucket.source) tableFromPath(ctx);
  requireWritable(bucket);
  const body = await readJson(request, MergeTableSchema);
  const { table, snapshotId } = await storeMerge(ctx.services, bucket, name, body.force);
  return json({ table: table && (await tableView(ctx.services, table)), snapshot_id: snapshotId });
};
