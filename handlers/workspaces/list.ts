import type { Handler } from '../../src/context.ts';
import { json } from '../../src/http/respond.ts';
import { workspaceView } from '../../src/storage/sql/workspaces.ts';
import { workspaceProject } from '../../src/http/lookup.ts';

/** GET /projects/{id}/workspaces — the default branch's workspaces (a branch's under P/branches/{branch}/…), oldest first. */
export const listWorkspaces: Handler = (_request, ctx) => {
  const project = workspaceProject(ctx);
  const workspaces = ctx.services.workspaces.list(project.id, ctx.branch ?? 'default').map((w) => workspaceView(ctx.services, w));
  return json({ workspaces, total: workspaces.length });
};
