import type { Handler } from '../../src/context.ts';
import { bucketFromPath, requireMainBranch } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';

/** POST /projects/{id}/buckets/{bucket}/grant-readonly — sets `readonly_access: true`. */
export const grantReadonly: Handler = async (_request, ctx) => {
  const { project, bucket } = bucketFromPath(ctx);
  requireMainBranch(ctx);
  await ctx.services.catalog.setReadonlyAccess(project.id, bucket.name, true);
  return json({ status: 'success', message: `Read-only access granted on bucket ${bucket.name}`, bucket_name: bucket.name });
};
