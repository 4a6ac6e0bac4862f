import type { Handler } from '../../src/context.ts';
import { projectFromPath } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { projectView } from '../../src/storage/projects.ts';

/** GET /projects/{id} — the admin also sees a deleted project. */
export const getProject: Handler = async (_request, ctx) => {
  const project = projectFromPath(ctx, ctx.principal?.kind === 'admin');
  return json(await projectView(ctx.services, project));
};
