import type { Handler } from '../../src/context.ts';
import { json } from '../../src/http/respond.ts';
import { workspaceView } from '../../src/storage/sql/workspaces.ts';
import { workspaceFromPath } from '../../src/http/lookup.ts';

/** GET /projects/{id}/workspaces/{ws} */
export const getWorkspace: Handler = (_request, ctx) => {
  const { workspace } = workspaceFromPath(ctx);
  return json(workspaceView(ctx.services, workspace));
};
