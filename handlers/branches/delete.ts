import type { Handler } from '../../src/context.ts';
import { devBranchFromPath } from '../../src/http/lookup.ts';
import { noContent } from '../../src/http/respond.ts';
import { deleteBranch as removeBranch } from '../../src/storage/branches.ts';

/** DELETE /projects/{id}/branches/{branch} — its tables, files and keys go; main is untouched. */
export const deleteBranch: Handler = async (_request, ctx) => {
  const { branch } = devBranchFromPath(ctx, 'The default branch cannot be deleted');
  await removeBranch(ctx.services, branch);
  return noContent();
};
