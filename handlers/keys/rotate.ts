import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { keyView, requireKey, rotateApiKey } from '../../src/storage/api-keys.ts';

/** POST /projects/{id}/api-keys/{key_id}/rotate — a new secret; the old one stops working at once. */
export const rotateKey: Handler = async (_request, ctx) => {
  const project = scopedProject(ctx);
  const { key, record } = await rotateApiKey(ctx.services, requireKey(ctx.services, project.id, ctx.params.key_id ?? ''));
  ctx.logFields.key_id = record.id;
  return json({ ...keyView(record), api_key: key });
};
