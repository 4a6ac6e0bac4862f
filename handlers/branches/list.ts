import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { branchView } from '../../src/storage/branches.ts';

/** GET /projects/{id}/branches — the default branch first, then by creation. */
export const listBranches: Handler = (_request, ctx) => {
  const project = scopedProject(ctx);
  const branches = [branchView(project, undefined), ...ctx.services.branches.list(project.id).map((b) => branchView(project, b))];
  return json({ branches, total: branches.length });
};
