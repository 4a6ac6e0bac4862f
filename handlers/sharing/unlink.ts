import type { Handler } from '../../src/context.ts';
import { notFound } from '../../src/http/errors.ts';
import { requireMainBranch, scopedProject } from '../../src/http/lookup.ts';
import { validate } from '../../src/http/request.ts';
import { noContent } from '../../src/http/respond.ts';
import { BucketNameSchema } from '../../src/http/schemas.ts';

/** DELETE /projects/{id}/buckets/{bucket}/link — removes a linked bucket; the source is untouched. */
export const unlinkBucket: Handler = async (_request, ctx) => {
  const project = scopedProject(ctx);
  const name = validate(BucketNameSchema, ctx.params.bucket, 'path.bucket');
  const bucket = ctx.services.catalog.getBucket(project.id, name);
  if (!bucket?.source) {
    throw notFound('link_not_found', `Bucket ${name} of project ${project.id} is not a linked bucket`, { project_id: project.id, bucket_name: name });
  }
  requireMainBranch(ctx);
  await ctx.services.catalog.deleteBucket(project.id, bucket.name, false);
  return noContent();
};
