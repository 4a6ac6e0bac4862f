import type { Handler } from '../../src/context.ts';
import { metadataTargetFromPath } from '../../src/http/columns.ts';
import { json } from '../../src/http/respond.ts';
import { metadataView } from '../../src/http/views.ts';

/** GET B/metadata, T/metadata, T/columns/{column}/metadata — sorted by provider, then key. */
export const listMetadata: Handler = (_request, ctx) => {
  const target = metadataTargetFromPath(ctx, 'read');
  return json({ metadata: metadataView(ctx.services.metadata.list(target)) });
};
