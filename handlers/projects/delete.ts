import type { Handler } from '../../src/context.ts';
import { projectFromPath } from '../../src/http/lookup.ts';
import { noContent } from '../../src/http/respond.ts';
import { deleteProject as removeProject } from '../../src/storage/projects.ts';

/** DELETE /projects/{id} — soft delete: keys revoked, folder, shares and links removed. */
export const deleteProject: Handler = async (_request, ctx) => {
  const project = projectFromPath(ctx);
  await removeProject(ctx.services, project.id);
  return noContent();
};
