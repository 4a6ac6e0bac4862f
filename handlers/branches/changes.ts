import { mayReachBucket } from '../../src/auth/guards.ts';
import type { Handler } from '../../src/context.ts';
import { devBranchFromPath } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { branchChanges } from '../../src/storage/branches.ts';

/** GET /projects/{id}/branches/{branch}/changes — the tables and buckets the branch holds. */
export const getBranchChanges: Handler = (_request, ctx) => {
  const { project, branch } = devBranchFromPath(ctx, 'The default branch has no changes of its own');
  const changes = branchChanges(ctx.services, project.id, branch.id);
  // §11: a bucket-restricted key's listings show only its buckets.
  return json({
    tables: changes.tables.filter((t) => mayReachBucket(ctx.principal, t.bucket)),
    buckets: changes.buckets.filter((b) => mayReachBucket(ctx.principal, b.bucket)),
  });
};
