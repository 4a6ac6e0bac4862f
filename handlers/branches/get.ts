import type { Handler } from '../../src/context.ts';
import { branchFromPath } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { branchView } from '../../src/storage/branches.ts';

/** GET /projects/{id}/branches/{branch} */
export const getBranch: Handler = (_request, ctx) => {
  const { project, branch } = branchFromPath(ctx);
  return json(branchView(project, branch));
};
