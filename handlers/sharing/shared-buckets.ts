import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { sharedBucketsOf } from '../../src/storage/sharing.ts';

/** GET /projects/{id}/shared-buckets — what other projects shared with {id}, and its links to them. */
export const listSharedBuckets: Handler = (_request, ctx) => {
  const project = scopedProject(ctx);
  const buckets = sharedBucketsOf(ctx.services.catalog, project.id);
  return json({ buckets, total: buckets.length });
};
