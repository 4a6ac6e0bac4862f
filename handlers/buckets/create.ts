import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { conflict, errors } from '../../src/http/errors.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { NewBucketNameSchema } from '../../src/http/schemas.ts';
import { bucketView } from '../../src/http/views.ts';
import { createBucket as storeBucket } from '../../src/storage/buckets.ts';
import { createBranchBucket } from '../../src/storage/branches.ts';
import { bucketIn, isDevBranch } from '../../src/storage/locator.ts';

export const CreateBucketSchema = v.object({
  name: NewBucketNameSchema,
  description: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(4096))), null),
});

/** POST /projects/{id}/buckets */
export const createBucket: Handler = async (request, ctx) => {
  const project = scopedProject(ctx);
  const body = await readJson(request, CreateBucketSchema);
  const { catalog } = ctx.services;
  // Also run under the catalog lock: a project deleted meanwhile gets no bucket row.
  const refuseExisting = () => {
    if (!catalog.getActiveProject(project.id)) throw errors.projectNotFound(project.id);
    const existing = bucketIn(ctx.services, project.id, ctx.branch, body.name);
    if (existing) throw conflict('bucket_exists', `Bucket ${existing.name} already exists in project ${project.id}`, { project_id: project.id, bucket_name: existing.name });
  };
  refuseExisting();
  const bucket = { projectId: project.id, name: body.name, description: body.description, createdAt: ctx.services.clock.now().toISOString(), readonlyAccess: false, source: null };
  if (isDevBranch(ctx.branch)) {
    // §14: a bucket created in a development branch exists only there.
    return json(bucketView(ctx.services, await createBranchBucket(ctx.services, { ...bucket, branch: ctx.branch }, refuseExisting)), 201);
  }
  await storeBucket(ctx.services, bucket, refuseExisting);
  return json(bucketView(ctx.services, bucket), 201);
};
