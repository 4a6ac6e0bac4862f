import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { MetadataProviderSchema, metadataTargetFromPath, pathParam } from '../../src/http/columns.ts';
import { notFound } from '../../src/http/errors.ts';
import { readQuery } from '../../src/http/request.ts';
import { noContent } from '../../src/http/respond.ts';

export const DeleteMetadataQuerySchema = v.object({
  provider: v.optional(MetadataProviderSchema, 'user'),
});

/** DELETE B/metadata/{key}, T/metadata/{key}, T/columns/{column}/metadata/{key} */
export const deleteMetadata: Handler = async (request, ctx) => {
  const target = metadataTargetFromPath(ctx, 'write');
  const { provider } = readQuery(request, DeleteMetadataQuerySchema);
  const key = pathParam(ctx, 'key');
  if (!(await ctx.services.metadata.remove(target, provider, key))) {
    throw notFound('metadata_not_found', `No metadata ${key} of provider ${provider}`, { key, provider });
  }
  return noContent();
};
