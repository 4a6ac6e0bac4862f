import type { Handler } from '../../src/context.ts';
import { deleteWorkspace as removeWorkspace } from '../../src/storage/sql/workspaces.ts';
import { workspaceFromPath } from '../../src/http/lookup.ts';

/** DELETE /projects/{id}/workspaces/{ws} */
export const deleteWorkspace: Handler = async (_request, ctx) => {
  const { workspace } = workspaceFromPath(ctx);
  await removeWorkspace(ctx.services, workspace);
  return new Response(null, { status: 204 });
};
