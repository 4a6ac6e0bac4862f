import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { MetadataKeySchema, MetadataProviderSchema, metadataOwnerFromPath } from '../../src/http/columns.ts';
import type { MetadataTarget } from '../../src/storage/catalog/metadata.ts';
import { withBucketMetadataWrite, withTableMetadataWrite } from '../../src/storage/locator.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { metadataView } from '../../src/http/views.ts';

export const UpsertMetadataSchema = v.object({
  provider: v.optional(MetadataProviderSchema, 'user'),
  metadata: v.pipe(
    v.array(v.object({ key: MetadataKeySchema, value: v.pipe(v.string(), v.maxBytes(64 * 1024, 'A value holds at most 64 KiB')) })),
    v.minLength(1, 'Give at least one entry'),
    v.maxLength(100, 'At most 100 entries at once'),
  ),
});

/** POST B/metadata, T/metadata, T/columns/{column}/metadata — upserts by (provider, key). */
export const upsertMetadata: Handler = async (request, ctx) => {
  const { target, table, bucket } = metadataOwnerFromPath(ctx, 'write');
  const body = await readJson(request, UpsertMetadataSchema);
  const upsert = (to: MetadataTarget) => ctx.services.metadata.upsert(to, body.provider, body.metadata, ctx.services.clock.now().toISOString());
  const entries = table ? await withTableMetadataWrite(ctx.services, table, target, upsert) : await withBucketMetadataWrite(ctx.services, bucket!, upsert);
  return json({ metadata: metadataView(entries) });
};
