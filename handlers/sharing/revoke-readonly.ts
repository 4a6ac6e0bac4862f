import type { Handler } from '../../src/context.ts';
import { bucketFromPath, requireMainBranch } from '../../src/http/lookup.ts';
import { noContent } from '../../src/http/respond.ts';

/** DELETE /projects/{id}/buckets/{bucket}/grant-readonly — sets `readonly_access: false`. */
export const revokeReadonly: Handler = async (_request, ctx) => {
  const { project, bucket } = bucketFromPath(ctx);
  requireMainBranch(ctx);
  await ctx.services.catalog.setReadonlyAccess(project.id, bucket.name, false);
  return noContent();
};
