import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { bucketView } from '../../src/http/views.ts';

/** GET /projects/{id}/buckets — sorted by name, linked buckets included. */
export const listBuckets: Handler = (_request, ctx) => {
  const project = scopedProject(ctx);
  const buckets = ctx.services.catalog.listBuckets(project.id).map((b) => bucketView(ctx.services, b));
  return json({ buckets, total: buckets.length });
};
