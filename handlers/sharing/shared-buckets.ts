import { allowedBuckets, mayReachBucket } from '../../src/auth/guards.ts';
import type { Handler } from '../../src/context.ts';
import { requireMainBranch, scopedProject } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { sharedBucketsOf } from '../../src/storage/sharing.ts';

/** GET /projects/{id}/shared-buckets — what other projects shared with {id}, and its links to them. */
export const listSharedBuckets: Handler = (_request, ctx) => {
  const project = scopedProject(ctx);
  requireMainBranch(ctx);
  // A bucket-restricted key sees only the shares it has linked as one of its buckets.
  const allowed = allowedBuckets(ctx.principal);
  const buckets = sharedBucketsOf(ctx.services.catalog, project.id).filter((b) => allowed === null || (b.linked_as !== null && mayReachBucket(ctx.principal, b.linked_as)));
  return json({ buckets, total: buckets.length });
};
