import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { keyView } from '../../src/storage/api-keys.ts';

/** GET /projects/{id}/api-keys/current — the calling key itself, for every scope. */
export const getCurrentKey: Handler = (_request, ctx) => {
  const project = scopedProject(ctx);
  const principal = ctx.principal;
  if (principal?.kind === 'project' && principal.key) return json(keyView(principal.key));
  if (principal?.kind === 'project') {
    // Invoked without the key record (a handler called directly): nothing more to show.
    return json({ id: null, scope: null, project_id: project.id });
  }
  return json({ id: null, scope: 'service_admin' });
};
