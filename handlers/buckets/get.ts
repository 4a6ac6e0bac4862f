import type { Handler } from '../../src/context.ts';
import { bucketFromPath } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { bucketView } from '../../src/http/views.ts';

/** GET /projects/{id}/buckets/{bucket} */
export const getBucket: Handler = (_request, ctx) => {
  const { bucket } = bucketFromPath(ctx);
  return json(bucketView(ctx.services, bucket));
};
