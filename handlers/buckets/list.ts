import { mayReachBucket } from '../../src/auth/guards.ts';
import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { bucketView } from '../../src/http/views.ts';
import { bucketsIn } from '../../src/storage/locator.ts';

/** GET /projects/{id}/buckets — sorted by name, linked buckets included. */
export const listBuckets: Handler = (_request, ctx) => {
  const project = scopedProject(ctx);
  // A bucket-restricted key sees only its buckets.
  const buckets = bucketsIn(ctx.services, project.id, ctx.branch)
    .filter((b) => mayReachBucket(ctx.principal, b.name))
    .map((b) => bucketView(ctx.services, b));
  return json({ buckets, total: buckets.length });
};
