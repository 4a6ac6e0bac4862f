import { QuerySchema, queryProject } from '../../handlers/sql/query.ts';
import { CreateWorkspaceSchema, createWorkspace } from '../../handlers/workspaces/create.ts';
import { deleteWorkspace } from '../../handlers/workspaces/delete.ts';
import { getWorkspace } from '../../handlers/workspaces/get.ts';
import { listWorkspaces } from '../../handlers/workspaces/list.ts';
import { LoadWorkspaceSchema, loadWorkspace } from '../../handlers/workspaces/load.ts';
import { WorkspaceQuerySchema, queryWorkspace } from '../../handlers/workspaces/query.ts';
import { UnloadWorkspaceSchema, unloadWorkspace } from '../../handlers/workspaces/unload.ts';
import type { RouteDef } from '../routes.ts';

const P = '/projects/:id';
const W = `${P}/workspaces/:ws`;
const BODY_ERRORS = [413, 415, 422];

/** §17: read-only SQL and workspaces. */
export const sqlRoutes: RouteDef[] = [
  { method: 'POST', path: `${P}/query`, auth: 'project', branch: 'twin', scope: 'read', handler: queryProject, body: QuerySchema, summary: 'Run one read-only SQL statement over the project\'s tables (json, or streamed csv/ndjson/parquet)', tag: 'sql', responses: [200, 400, 401, 403, 404, 413, 415, 422, 429] },
  { method: 'POST', path: `${P}/workspaces`, auth: 'project', branch: 'twin', scope: 'write', bucketRestrictedKeys: 'forbidden', handler: createWorkspace, body: CreateWorkspaceSchema, summary: 'Create a workspace (a private, writable SQL database)', tag: 'workspaces', responses: [201, 401, 403, 404, ...BODY_ERRORS] },
  { method: 'GET', path: `${P}/workspaces`, auth: 'project', branch: 'twin', scope: 'read', bucketRestrictedKeys: 'forbidden', handler: listWorkspaces, summary: 'List workspaces', tag: 'workspaces', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: W, auth: 'project', branch: 'twin', scope: 'read', bucketRestrictedKeys: 'forbidden', handler: getWorkspace, summary: 'Get a workspace', tag: 'workspaces', responses: [200, 401, 403, 404, 422] },
  { method: 'DELETE', path: W, auth: 'project', branch: 'twin', scope: 'write', bucketRestrictedKeys: 'forbidden', handler: deleteWorkspace, summary: 'Delete a workspace', tag: 'workspaces', responses: [204, 401, 403, 404, 422] },
  { method: 'POST', path: `${W}/load`, auth: 'project', branch: 'twin', scope: 'write', bucketRestrictedKeys: 'forbidden', handler: loadWorkspace, body: LoadWorkspaceSchema, summary: 'Copy storage tables into a workspace (columns, filters, limit)', tag: 'workspaces', responses: [200, 401, 403, 404, ...BODY_ERRORS] },
  { method: 'POST', path: `${W}/query`, auth: 'project', branch: 'twin', scope: 'write', bucketRestrictedKeys: 'forbidden', handler: queryWorkspace, body: WorkspaceQuerySchema, summary: 'Run SQL statements in a workspace', tag: 'workspaces', responses: [200, 400, 401, 403, 404, ...BODY_ERRORS, 429] },
  { method: 'POST', path: `${W}/unload`, auth: 'project', branch: 'twin', scope: 'write', bucketRestrictedKeys: 'forbidden', handler: unloadWorkspace, body: UnloadWorkspaceSchema, summary: 'Unload a workspace table into a storage table (create, or full/incremental load)', tag: 'workspaces', responses: [200, 400, 401, 403, 404, 409, ...BODY_ERRORS] },
];
