import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { keyView } from '../../src/storage/api-keys.ts';

/** GET /projects/{id}/api-keys — oldest first, revoked keys gone, expired ones still listed. */
export const listKeys: Handler = (_request, ctx) => {
  const project = scopedProject(ctx);
  const apiKeys = ctx.services.keys.list(project.id).map(keyView);
  return json({ api_keys: apiKeys, total: apiKeys.length });
};
