import type { HandlerContext } from '../../src/context.ts';
import { errors } from '../../src/http/errors.ts';
import { refuseBucketRestrictedKey, scopedProject } from '../../src/http/lookup.ts';
import { validate } from '../../src/http/request.ts';
import { WorkspaceIdSchema } from '../../src/http/schemas.ts';
import type { ProjectRecord } from '../../src/storage/catalog.ts';
import type { WorkspaceRecord } from '../../src/storage/catalog/workspaces.ts';

/** The project of a workspace route, after the key's restriction check (§11 order of checks). */
export function workspaceProject(ctx: HandlerContext): ProjectRecord {
  refuseBucketRestrictedKey(ctx);
  return scopedProject(ctx);
}

/** The workspace of the path; 404 `workspace_not_found`. */
export function workspaceFromPath(ctx: HandlerContext): { project: ProjectRecord; workspace: WorkspaceRecord } {
  const project = workspaceProject(ctx);
  const id = validate(WorkspaceIdSchema, ctx.params.ws, 'path.ws');
  const workspace = ctx.services.workspaces.get(project.id, id);
  // §14: a workspace belongs to the branch it was created in.
  if (!workspace || workspace.branch !== (ctx.branch ?? 'default')) throw errors.workspaceNotFound(project.id, id);
  return { project, workspace };
}
