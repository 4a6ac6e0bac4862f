import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { noContent } from '../../src/http/respond.ts';
import { requireKey, revokeApiKey } from '../../src/storage/api-keys.ts';

/** DELETE /projects/{id}/api-keys/{key_id} — the key stops working at once and is gone. */
export const deleteKey: Handler = async (_request, ctx) => {
  const project = scopedProject(ctx);
  const key = requireKey(ctx.services, project.id, ctx.params.key_id ?? '');
  await revokeApiKey(ctx.services, key);
  ctx.logFields.key_id = key.id;
  return noContent();
};
