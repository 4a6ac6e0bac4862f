import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { conflict, notFound } from '../../src/http/errors.ts';
import { bucketFromPath } from '../../src/http/lookup.ts';
import { readQuery } from '../../src/http/request.ts';
import { noContent } from '../../src/http/respond.ts';
import { QueryBoolSchema } from '../../src/http/schemas.ts';
import { deleteOwnBucket } from '../../src/storage/buckets.ts';
import { deleteBranchBucket } from '../../src/storage/branches.ts';
import { isDevBranch } from '../../src/storage/locator.ts';

export const DeleteBucketQuerySchema = v.object({
  cascade: v.optional(QueryBoolSchema, 'true'),
  force: v.optional(QueryBoolSchema, 'false'),
});

/**
 * DELETE /projects/{id}/buckets/{bucket} — a linked bucket is unlinked; an own bucket goes
 * with its tables (cascade) and, with force, the links other projects made to it.
 */
export const deleteBucket: Handler = async (request, ctx) => {
  const { project, bucket } = bucketFromPath(ctx);
  const query = readQuery(request, DeleteBucketQuerySchema);
  const { catalog } = ctx.services;
  const details = { project_id: project.id, bucket_name: bucket.name };
  if (isDevBranch(bucket.branch)) {
    // §14: in a development branch, links and `force` do not matter; main keeps its bucket.
    await deleteBranchBucket(ctx.services, bucket, (tables) => {
      if (tables.length && !query.cascade) {
        throw conflict('bucket_not_empty', `Bucket ${bucket.name} has ${tables.length} table(s); use cascade=true`, { ...details, table_count: tables.length });
      }
    });
    return noContent();
  }
  if (bucket.source) {
    await catalog.deleteBucket(project.id, bucket.name, false);
    return noContent();
  }
  // Checked now and again under the bucket lock: a request that waited there (another
  // delete, a table create) may have changed the answer.
  const check = () => {
    if (!catalog.getBucket(project.id, bucket.name)) throw notFound('bucket_not_found', `Bucket ${bucket.name} not found in project ${project.id}`, details);
    const tables = catalog.listTables(project.id, bucket.name);
    if (tables.length && !query.cascade) {
      throw conflict('bucket_not_empty', `Bucket ${bucket.name} has ${tables.length} table(s); use cascade=true`, { ...details, table_count: tables.length });
    }
    const links = catalog.linksTo(project.id, bucket.name);
    if (links.length && !query.force) {
      throw conflict('bucket_in_use', `Bucket ${bucket.name} is linked by other projects; use force=true`, {
        ...details,
        linked_by: links.map((l) => ({ project_id: l.projectId, bucket_name: l.name })),
      });
    }
  };
  check();
  await deleteOwnBucket(ctx.services, bucket, query.force, check);
  return noContent();
};
