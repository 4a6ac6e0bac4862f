import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { conflict, HttpError, errors } from '../../src/http/errors.ts';
import { requireMainBranch, scopedProject } from '../../src/http/lookup.ts';
import { readJson, validate } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { BucketNameSchema, NewBucketNameSchema, ProjectIdSchema } from '../../src/http/schemas.ts';
import { bucketView } from '../../src/http/views.ts';
import type { BucketRecord } from '../../src/storage/catalog.ts';
import { findShare, linkOf } from '../../src/storage/sharing.ts';

export const LinkBucketSchema = v.object({
  source_project_id: ProjectIdSchema,
  source_bucket_name: BucketNameSchema,
});

/**
 * POST /projects/{id}/buckets/{bucket}/link — makes {bucket} a live, read-only window on a
 * bucket another project shared with {id}. For a project key, `not_shared` comes before any
 * lookup of the source, so a key learns nothing about buckets not shared with it.
 */
export const linkBucket: Handler = async (request, ctx) => {
  const project = scopedProject(ctx);
  // The link makes a new bucket of this name: the names SQL reserves are refused (§17).
  const name = validate(NewBucketNameSchema, ctx.params.bucket, 'path.bucket');
  requireMainBranch(ctx);
  const body = await readJson(request, LinkBucketSchema);
  const { catalog } = ctx.services;
  const asAdmin = ctx.principal?.kind === 'admin';
  const { source_project_id: sourceProjectId, source_bucket_name: sourceBucket } = body;
  const details = { project_id: project.id, bucket_name: name, source_project_id: sourceProjectId, source_bucket_name: sourceBucket };
  if (sourceProjectId.toLowerCase() === project.id.toLowerCase()) {
    throw new HttpError(400, 'invalid_source', 'A project cannot link its own bucket', details);
  }
  // Run again under the catalog lock: the share, the source or the name may change meanwhile.
  const check = (): BucketRecord => {
    if (!catalog.getActiveProject(project.id)) throw errors.projectNotFound(project.id);
    if (!asAdmin && !findShare(catalog, sourceProjectId, sourceBucket, project.id)) {
      throw new HttpError(403, 'not_shared', `Bucket ${sourceProjectId}.${sourceBucket} is not shared with project ${project.id}`, details);
    }
    if (!catalog.getActiveProject(sourceProjectId)) throw errors.projectNotFound(sourceProjectId);
    const source = catalog.getBucket(sourceProjectId, sourceBucket);
    if (!source) throw errors.bucketNotFound(sourceProjectId, sourceBucket);
    if (source.source) throw new HttpError(400, 'invalid_source', `Bucket ${source.projectId}.${source.name} is itself a link and cannot be linked`, details);
    const existing = catalog.getBucket(project.id, name);
    if (existing) throw conflict('bucket_exists', `Bucket ${existing.name} already exists in project ${project.id}`, { project_id: project.id, bucket_name: existing.name });
    const linked = linkOf(catalog, project.id, { projectId: source.projectId, bucket: source.name });
    if (linked) throw conflict('already_linked', `Project ${project.id} already links ${source.projectId}.${source.name} as ${linked.name}`, { ...details, linked_as: linked.name });
    return source;
  };
  const source = check();
  const bucket: BucketRecord = {
    projectId: project.id,
    name,
    description: `Linked from ${source.projectId}.${source.name}`,
    createdAt: ctx.services.clock.now().toISOString(),
    readonlyAccess: false,
    source: { projectId: source.projectId, bucket: source.name },
  };
  await catalog.createBucket(bucket, () => void check());
  return json(bucketView(ctx.services, bucket), 201);
};
