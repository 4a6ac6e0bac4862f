import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { MetadataProviderSchema, metadataOwnerFromPath, pathParam } from '../../src/http/columns.ts';
import type { MetadataTarget } from '../../src/storage/catalog/metadata.ts';
import { withBucketMetadataWrite, withTableMetadataWrite } from '../../src/storage/locator.ts';
import { notFound } from '../../src/http/errors.ts';
import { readQuery } from '../../src/http/request.ts';
import { noContent } from '../../src/http/respond.ts';

export const DeleteMetadataQuerySchema = v.object({
  provider: v.optional(MetadataProviderSchema, 'user'),
});

/** DELETE B/metadata/{key}, T/metadata/{key}, T/columns/{column}/metadata/{key} */
export const deleteMetadata: Handler = async (request, ctx) => {
  const { target, table, bucket } = metadataOwnerFromPath(ctx, 'write');
  const { provider } = readQuery(request, DeleteMetadataQuerySchema);
  const key = pathParam(ctx, 'key');
  const remove = async (from: MetadataTarget) => {
    if (!(await ctx.services.metadata.remove(from, provider, key))) {
      throw notFound('metadata_not_found', `No metadata ${key} of provider ${provider}`, { key, provider });
    }
  };
  if (table) await withTableMetadataWrite(ctx.services, table, target, remove);
  else await withBucketMetadataWrite(ctx.services, bucket!, remove);
  return noContent();
};
