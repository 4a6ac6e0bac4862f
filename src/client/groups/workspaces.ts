import type { Transport } from '../transport.ts';
import type { CreateWorkspaceInput, LoadWorkspaceInput, UnloadResult, UnloadWorkspaceInput, Workspace, WorkspaceList, WorkspaceQueryInput, WorkspaceQueryResult } from '../types.ts';

const WS = '/projects/:id/workspaces';
const W = `${WS}/:ws`;

/** §17 workspaces: private, writable SQL databases for transformations. */
export const workspacesApi = (t: Transport) => ({
  create: (projectId: string, body: CreateWorkspaceInput = {}) => t.json<Workspace>('POST', WS, [projectId], { json: body }),
  list: (projectId: string) => t.json<WorkspaceList>('GET', WS, [projectId]),
  get: (projectId: string, workspaceId: string) => t.json<Workspace>('GET', W, [projectId, workspaceId]),
  delete: (projectId: string, workspaceId: string) => t.empty('DELETE', W, [projectId, workspaceId]),
  /** Copies storage tables in (replacing the workspace's other tables unless `preserve`). */
  load: (projectId: string, workspaceId: string, body: LoadWorkspaceInput) => t.json<Workspace>('POST', `${W}/load`, [projectId, workspaceId], { json: body }),
  /** Several `;`-separated statements, run in order. */
  query: (projectId: string, workspaceId: string, body: WorkspaceQueryInput) => t.json<WorkspaceQueryResult>('POST', `${W}/query`, [projectId, workspaceId], { json: body }),
  /** A workspace table into a storage table (created, or loaded full/incremental). */
  unload: (projectId: string, workspaceId: string, body: UnloadWorkspaceInput) => t.json<UnloadResult>('POST', `${W}/unload`, [projectId, workspaceId], { json: body }),
});
