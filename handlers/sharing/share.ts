import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { conflict, HttpError, errors } from '../../src/http/errors.ts';
import { bucketFromPath, requireMainBranch } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { ProjectIdSchema } from '../../src/http/schemas.ts';
import { findShare } from '../../src/storage/sharing.ts';

export const ShareBucketSchema = v.object({
  target_project_id: ProjectIdSchema,
});

/** POST /projects/{id}/buckets/{bucket}/share — lets another project link the bucket. */
export const shareBucket: Handler = async (request, ctx) => {
  const { project, bucket } = bucketFromPath(ctx);
  requireMainBranch(ctx);
  const body = await readJson(request, ShareBucketSchema);
  const { catalog } = ctx.services;
  const details = { project_id: project.id, bucket_name: bucket.name, target_project_id: body.target_project_id };
  if (bucket.source) {
    throw conflict('bucket_is_linked', `Bucket ${bucket.name} is linked from ${bucket.source.projectId}.${bucket.source.bucket} and cannot be shared`, details);
  }
  if (body.target_project_id.toLowerCase() === project.id.toLowerCase()) {
    throw new HttpError(400, 'invalid_target', 'A bucket cannot be shared with its own project', details);
  }
  // Run again under the catalog lock: the bucket or the target may go away meanwhile.
  const check = () => {
    if (!catalog.getBucket(project.id, bucket.name)) throw errors.bucketNotFound(project.id, bucket.name);
    const target = catalog.getActiveProject(body.target_project_id);
    if (!target) throw errors.projectNotFound(body.target_project_id);
    if (findShare(catalog, project.id, bucket.name, target.id)) throw conflict('already_shared', `Bucket ${bucket.name} is already shared with project ${target.id}`, details);
    return target;
  };
  const target = check();
  await catalog.addShare({ projectId: project.id, bucket: bucket.name, targetProjectId: target.id, createdAt: ctx.services.clock.now().toISOString() }, check);
  return json({
    shared_with: catalog.sharesOf(project.id, bucket.name).map((s) => s.targetProjectId).sort(),
    is_linked: false,
    source_project_id: null,
    source_bucket_name: null,
  });
};
