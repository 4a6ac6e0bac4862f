import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { keyView, requireKey } from '../../src/storage/api-keys.ts';

/** GET /projects/{id}/api-keys/{key_id} */
export const getKey: Handler = (_request, ctx) => {
  const project = scopedProject(ctx);
  return json(keyView(requireKey(ctx.services, project.id, ctx.params.key_id ?? '')));
};
