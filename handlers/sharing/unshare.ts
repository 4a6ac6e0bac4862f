import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { conflict, notFound } from '../../src/http/errors.ts';
import { bucketFromPath, requireMainBranch } from '../../src/http/lookup.ts';
import { readQuery } from '../../src/http/request.ts';
import { noContent } from '../../src/http/respond.ts';
import { ProjectIdSchema, QueryBoolSchema } from '../../src/http/schemas.ts';
import { findShare } from '../../src/storage/sharing.ts';

export const UnshareQuerySchema = v.object({
  target_project_id: ProjectIdSchema,
  force: v.optional(QueryBoolSchema, 'false'),
});

/**
 * DELETE /projects/{id}/buckets/{bucket}/share?target_project_id= — withdraws a share; the
 * target's link to the bucket blocks it (409 `bucket_in_use`) unless force=true removes it too.
 */
export const unshareBucket: Handler = async (request, ctx) => {
  const { project, bucket } = bucketFromPath(ctx);
  requireMainBranch(ctx);
  const query = readQuery(request, UnshareQuerySchema);
  const { catalog } = ctx.services;
  const details = { project_id: project.id, bucket_name: bucket.name, target_project_id: query.target_project_id };
  const currentShare = () => {
    const share = findShare(catalog, project.id, bucket.name, query.target_project_id);
    if (!share) throw notFound('share_not_found', `Bucket ${bucket.name} is not shared with project ${query.target_project_id}`, details);
    return share;
  };
  // The links are read under the catalog lock, so one made a moment ago is seen too.
  await catalog.unshare(currentShare(), (links) => {
    currentShare();
    if (links.length && !query.force) {
      throw conflict('bucket_in_use', `Project ${query.target_project_id} links bucket ${bucket.name}; use force=true`, {
        ...details,
        linked_as: links.map((l) => l.name),
      });
    }
  });
  return noContent();
};
