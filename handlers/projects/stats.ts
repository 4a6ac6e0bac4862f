import type { Handler } from '../../src/context.ts';
import { projectFromPath } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { branchesSizeBytes } from '../../src/storage/branches.ts';
import { projectStats } from '../../src/storage/projects.ts';
import { snapshotsSizeBytes } from '../../src/storage/snapshots.ts';
import { workspacesSizeBytes } from '../../src/storage/sql/workspaces.ts';

/** GET /projects/{id}/stats — measured live. */
export const getProjectStats: Handler = async (_request, ctx) => {
  const project = projectFromPath(ctx);
  // §15: what the project's stored files take (`size_bytes` stays its tables).
  const filesSize = ctx.services.files.list(project.id).reduce((sum, file) => sum + file.sizeBytes, 0);
  return json({
    id: project.id,
    ...(await projectStats(ctx.services, project.id)),
    snapshots_size_bytes: snapshotsSizeBytes(ctx.services, project.id),
    branches_size_bytes: await branchesSizeBytes(ctx.services, project.id),
    files_size_bytes: filesSize,
    workspaces_size_bytes: workspacesSizeBytes(ctx.services, project.id),
  });
};
