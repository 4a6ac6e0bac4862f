import type { GenericSchema } from 'valibot';
import type { Scope } from './auth/scopes.ts';
import type { Handler } from './context.ts';

export { SCOPES, type Scope } from './auth/scopes.ts';
import { getHealth } from '../handlers/service/health.ts';
import { initBackend } from '../handlers/service/init.ts';
import { removeBackend } from '../handlers/service/remove.ts';
import { getRoot } from '../handlers/service/root.ts';
import { getDocs, getDocsAsset } from '../handlers/service/docs.ts';
import { getMetrics } from '../handlers/service/metrics.ts';
import { getOpenApi } from '../handlers/service/openapi.ts';
import { CreateProjectSchema, createProject } from '../handlers/projects/create.ts';
import { deleteProject } from '../handlers/projects/delete.ts';
import { getProject } from '../handlers/projects/get.ts';
import { ListProjectsQuerySchema, listProjects } from '../handlers/projects/list.ts';
import { getProjectStats } from '../handlers/projects/stats.ts';
import { UpdateProjectSchema, updateProject } from '../handlers/projects/update.ts';

import { CreateBucketSchema, createBucket } from '../handlers/buckets/create.ts';
import { DeleteBucketQuerySchema, deleteBucket } from '../handlers/buckets/delete.ts';
import { getBucket } from '../handlers/buckets/get.ts';
import { listBuckets } from '../handlers/buckets/list.ts';
import { CreateTableSchema, createTable } from '../handlers/tables/create.ts';
import { deleteTable } from '../handlers/tables/delete.ts';
import { getTable } from '../handlers/tables/get.ts';
import { listTables } from '../handlers/tables/list.ts';
import { PreviewQuerySchema, previewTable } from '../handlers/tables/preview.ts';
import { DeleteRowsSchema, deleteTableRows } from '../handlers/data/delete-rows.ts';
import { ExportBodySchema, ExportQuerySchema, exportTableGet, exportTablePost } from '../handlers/data/export.ts';
import { FilteredPreviewSchema, previewFiltered } from '../handlers/data/preview.ts';
import { truncateTable } from '../handlers/data/truncate.ts';
import { ImportQuerySchema, importTable } from '../handlers/data/import.ts';
import { grantReadonly } from '../handlers/sharing/grant-readonly.ts';
import { LinkBucketSchema, linkBucket } from '../handlers/sharing/link.ts';
import { revokeReadonly } from '../handlers/sharing/revoke-readonly.ts';
import { ShareBucketSchema, shareBucket } from '../handlers/sharing/share.ts';
import { listSharedBuckets } from '../handlers/sharing/shared-buckets.ts';
import { unlinkBucket } from '../handlers/sharing/unlink.ts';
import { UnshareQuerySchema, unshareBucket } from '../handlers/sharing/unshare.ts';
import { keyRoutes } from './routes/keys.ts';
import { branchRoutes } from './routes/branches.ts';
import { sqlRoutes } from './routes/sql.ts';
import { snapshotRoutes } from './routes/snapshots.ts';
import { schemaRoutes } from './routes/schema.ts';
import { uiRoutes } from './routes/ui.ts';
import { fileRoutes } from './routes/files.ts';
import { jobRoutes } from './routes/jobs.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';


/** One endpoint: how it is reached, who may call it, what it accepts, and its handler. */
export interface RouteDef {
  method: Method;
  /** itty-router pattern; `:id` is always the project id of project-scoped routes. */
  path: string;
  auth: 'none' | 'admin' | 'project';
  /**
   * The key scope a project route needs (§11), enforced by `app` before the handler runs;
   * null on routes that are open or need the service admin key.
   */
  scope: Scope | null;
  /**
   * How a bucket-restricted key is refused on this route when the path names no bucket:
   * `insufficient_scope` (creating buckets), `forbidden` (e.g. workspaces); absent: allowed
   * (listings then show only the key's buckets).
   */
  bucketRestrictedKeys?: 'insufficient_scope' | 'forbidden';
  /**
   * How a branch-restricted key (§11) meets this route: `allowed` outside its branch
   * (`GET P/api-keys/current`), `forbidden` even in its branch (deleting it, merging into
   * main); absent: only when `{branch}` in the path is the key's branch.
   */
  branchRestrictedKeys?: 'allowed' | 'forbidden';
  /**
   * §14: `twin` — the route also exists under `P/branches/{branch}/…`, where it works in
   * that branch; `main_only` — it exists there too but answers 400 `main_branch_only` in a
   * development branch (sharing). Absent: project-wide, no twin.
   */
  branch?: 'twin' | 'main_only';
  /** On a generated twin: the path of the route it was made from. */
  twinOf?: string;
  handler: Handler;
  summary: string;
  tag: string;
  body?: GenericSchema<unknown, unknown>;
  query?: GenericSchema<unknown, unknown>;
  /** Status codes the contract documents for this route (success first). */
  responses: number[];
  /** Served but left out of the OpenAPI document (the docs page's static files). */
  internal?: boolean;
}

const P = '/projects/:id';
const B = `${P}/buckets/:bucket`;
const T = `${B}/tables/:table`;

/** The route table as written: one entry per endpoint of main (its branch twins are generated). */
export const baseRoutes: RouteDef[] = [
  { method: 'GET', path: '/', auth: 'none', scope: null, handler: getRoot, summary: 'Service information', tag: 'service', responses: [200] },
  { method: 'GET', path: '/health', auth: 'none', scope: null, handler: getHealth, summary: 'Health of the storage folders', tag: 'service', responses: [200, 503] },
  { method: 'POST', path: '/backend/init', auth: 'admin', scope: null, handler: initBackend, summary: 'Create and check the storage folders', tag: 'service', responses: [200, 401, 500] },
  { method: 'POST', path: '/backend/remove', auth: 'admin', scope: null, handler: removeBackend, summary: 'Acknowledge backend removal (deletes nothing)', tag: 'service', responses: [200, 401] },
  { method: 'GET', path: '/openapi.json', auth: 'none', scope: null, handler: getOpenApi, summary: 'This OpenAPI 3.1 document', tag: 'service', responses: [200] },
  { method: 'GET', path: '/docs', auth: 'none', scope: null, handler: getDocs, summary: 'Interactive API reference (HTML)', tag: 'service', responses: [200] },
  { method: 'GET', path: '/docs/assets/:file', auth: 'none', scope: null, handler: getDocsAsset, summary: 'A static file of the API reference page', tag: 'service', responses: [200, 404], internal: true },
  { method: 'GET', path: '/metrics', auth: 'admin', scope: null, handler: getMetrics, summary: 'Prometheus metrics', tag: 'service', responses: [200, 401] },

  { method: 'POST', path: '/projects', auth: 'admin', scope: null, handler: createProject, body: CreateProjectSchema, summary: 'Create a project and its key', tag: 'projects', responses: [201, 401, 409, 413, 415, 422] },
  { method: 'GET', path: '/projects', auth: 'admin', scope: null, handler: listProjects, query: ListProjectsQuerySchema, summary: 'List projects', tag: 'projects', responses: [200, 401, 422] },
  { method: 'GET', path: P, auth: 'project', scope: 'read', handler: getProject, summary: 'Get a project', tag: 'projects', responses: [200, 401, 403, 404, 422] },
  { method: 'PUT', path: P, auth: 'project', scope: 'admin', handler: updateProject, body: UpdateProjectSchema, summary: 'Update a project', tag: 'projects', responses: [200, 401, 403, 404, 413, 415, 422] },
  { method: 'DELETE', path: P, auth: 'project', scope: 'admin', handler: deleteProject, summary: 'Delete a project', tag: 'projects', responses: [204, 401, 403, 404, 422] },
  { method: 'GET', path: `${P}/stats`, auth: 'project', scope: 'read', handler: getProjectStats, summary: 'Live project statistics', tag: 'projects', responses: [200, 401, 403, 404, 422] },


  { method: 'POST', path: `${P}/buckets`, auth: 'project', branch: 'twin', scope: 'write', bucketRestrictedKeys: 'insufficient_scope', handler: createBucket, body: CreateBucketSchema, summary: 'Create a bucket', tag: 'buckets', responses: [201, 401, 403, 404, 409, 413, 415, 422] },
  { method: 'GET', path: `${P}/buckets`, auth: 'project', branch: 'twin', scope: 'read', handler: listBuckets, summary: 'List buckets (linked ones included)', tag: 'buckets', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: B, auth: 'project', branch: 'twin', scope: 'read', handler: getBucket, summary: 'Get a bucket', tag: 'buckets', responses: [200, 401, 403, 404, 422] },
  { method: 'DELETE', path: B, auth: 'project', branch: 'twin', scope: 'write', handler: deleteBucket, query: DeleteBucketQuerySchema, summary: 'Delete a bucket (or unlink a linked one)', tag: 'buckets', responses: [204, 401, 403, 404, 409, 422] },

  { method: 'POST', path: `${B}/tables`, auth: 'project', branch: 'twin', scope: 'write', handler: createTable, body: CreateTableSchema, summary: 'Create a table', tag: 'tables', responses: [201, 400, 401, 403, 404, 409, 413, 415, 422] },
  { method: 'GET', path: `${B}/tables`, auth: 'project', branch: 'twin', scope: 'read', handler: listTables, summary: 'List tables', tag: 'tables', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: T, auth: 'project', branch: 'twin', scope: 'read', handler: getTable, summary: 'Get a table', tag: 'tables', responses: [200, 401, 403, 404, 422] },
  { method: 'DELETE', path: T, auth: 'project', branch: 'twin', scope: 'write', handler: deleteTable, summary: 'Delete a table', tag: 'tables', responses: [204, 401, 403, 404, 422] },
  { method: 'GET', path: `${T}/preview`, auth: 'project', branch: 'twin', scope: 'read', handler: previewTable, query: PreviewQuerySchema, summary: 'Preview rows', tag: 'tables', responses: [200, 401, 403, 404, 422] },
  { method: 'POST', path: `${B}/share`, auth: 'project', branch: 'main_only', scope: 'admin', handler: shareBucket, body: ShareBucketSchema, summary: 'Share a bucket with another project', tag: 'sharing', responses: [200, 400, 401, 403, 404, 409, 413, 415, 422] },
  { method: 'DELETE', path: `${B}/share`, auth: 'project', branch: 'main_only', scope: 'admin', handler: unshareBucket, query: UnshareQuerySchema, summary: 'Stop sharing a bucket with a project', tag: 'sharing', responses: [204, 401, 403, 404, 409, 422] },
  { method: 'POST', path: `${B}/link`, auth: 'project', branch: 'main_only', scope: 'admin', handler: linkBucket, body: LinkBucketSchema, summary: 'Link a bucket shared with this project', tag: 'sharing', responses: [201, 400, 401, 403, 404, 409, 413, 415, 422] },
  { method: 'DELETE', path: `${B}/link`, auth: 'project', branch: 'main_only', scope: 'admin', handler: unlinkBucket, summary: 'Remove a linked bucket', tag: 'sharing', responses: [204, 401, 403, 404, 422] },
  { method: 'POST', path: `${B}/grant-readonly`, auth: 'project', branch: 'main_only', scope: 'admin', handler: grantReadonly, summary: 'Grant read-only access to a bucket', tag: 'sharing', responses: [200, 401, 403, 404, 422] },
  { method: 'DELETE', path: `${B}/grant-readonly`, auth: 'project', branch: 'main_only', scope: 'admin', handler: revokeReadonly, summary: 'Revoke read-only access to a bucket', tag: 'sharing', responses: [204, 401, 403, 404, 422] },
  { method: 'GET', path: `${P}/shared-buckets`, auth: 'project', branch: 'main_only', scope: 'read', handler: listSharedBuckets, summary: 'Buckets other projects shared with this one', tag: 'sharing', responses: [200, 401, 403, 404, 422] },
  { method: 'POST', path: `${T}/preview`, auth: 'project', branch: 'twin', scope: 'read', handler: previewFiltered, body: FilteredPreviewSchema, summary: 'Preview rows with columns, filters and sort keys', tag: 'data', responses: [200, 401, 403, 404, 413, 415, 422] },
  { method: 'GET', path: `${T}/export`, auth: 'project', branch: 'twin', scope: 'read', handler: exportTableGet, query: ExportQuerySchema, summary: 'Export rows as CSV, NDJSON or Parquet (streamed)', tag: 'data', responses: [200, 401, 403, 404, 422] },
  { method: 'POST', path: `${T}/export`, auth: 'project', branch: 'twin', scope: 'read', handler: exportTablePost, body: ExportBodySchema, summary: 'Export filtered rows as CSV, NDJSON or Parquet (streamed)', tag: 'data', responses: [200, 401, 403, 404, 413, 415, 422] },
  { method: 'POST', path: `${T}/delete-rows`, auth: 'project', branch: 'twin', scope: 'write', handler: deleteTableRows, body: DeleteRowsSchema, summary: 'Delete the rows matching filters', tag: 'data', responses: [200, 401, 403, 404, 413, 415, 422] },
  { method: 'POST', path: `${T}/truncate`, auth: 'project', branch: 'twin', scope: 'write', handler: truncateTable, summary: 'Delete every row of a table', tag: 'data', responses: [200, 401, 403, 404, 422] },
  { method: 'POST', path: `${T}/import`, auth: 'project', branch: 'twin', scope: 'write', handler: importTable, query: ImportQuerySchema, summary: 'Import CSV, NDJSON or Parquet rows (streamed body; full or incremental load)', tag: 'data', responses: [200, 400, 401, 403, 404, 413, 415, 422, 429] },

  // Part II capabilities, one file each under src/routes/.
  ...keyRoutes,
  ...branchRoutes,
  ...sqlRoutes,
  ...snapshotRoutes,
  ...schemaRoutes,
  ...uiRoutes,
  ...fileRoutes,
  ...jobRoutes,
];

const BRANCH_BASE = `${P}/branches/:branch`;

/**
 * §14: every route that declares `branch` again under `P/branches/{branch}/…`, same
 * handler, scope and schemas; the handler reads the branch from `ctx.branch`.
 */
export function branchTwins(list: readonly RouteDef[]): RouteDef[] {
  return list
    .filter((route) => route.branch && route.path.startsWith(P))
    .map((route) => ({ ...route, path: BRANCH_BASE + route.path.slice(P.length), twinOf: route.path, summary: `${route.summary} (in a branch)` }));
}

/** The route table: the single list of endpoints (routing, auth matrix and docs read it), branch twins included. */
export const routes: RouteDef[] = [...baseRoutes, ...branchTwins(baseRoutes)];
