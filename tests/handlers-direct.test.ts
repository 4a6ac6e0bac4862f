// Every handler file called on its own: a plain `Request`, a hand-built HandlerContext, no
// src/app.ts in between (no router, no auth guard, no error mapping). This is what the
// design promises: a handler is a fetch-style function usable outside `app`.
//
// The describes share one data folder and build on each other in file order (projects,
// then buckets, tables, data, sharing, and the deletes last).
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../src/auth/guards.ts';
import { sha256Hex } from '../src/auth/keys.ts';
import type { Handler, HandlerContext } from '../src/context.ts';
import { HttpError } from '../src/http/errors.ts';
import { StorageSession } from '../src/storage/session.ts';
import { makeApp, type TestApp } from './helpers.ts';

import { getDocs, getDocsAsset } from '../handlers/service/docs.ts';
import { getUiAsset, getUiPage } from '../handlers/ui/page.ts';
import { getHealth } from '../handlers/service/health.ts';
import { initBackend } from '../handlers/service/init.ts';
import { getMetrics } from '../handlers/service/metrics.ts';
import { getOpenApi } from '../handlers/service/openapi.ts';
import { removeBackend } from '../handlers/service/remove.ts';
import { getRoot } from '../handlers/service/root.ts';

import { createProject } from '../handlers/projects/create.ts';
import { deleteProject } from '../handlers/projects/delete.ts';
import { getProject } from '../handlers/projects/get.ts';
import { listProjects } from '../handlers/projects/list.ts';
import { getProjectStats } from '../handlers/projects/stats.ts';
import { updateProject } from '../handlers/projects/update.ts';

import { createBucket } from '../handlers/buckets/create.ts';
import { deleteBucket } from '../handlers/buckets/delete.ts';
import { getBucket } from '../handlers/buckets/get.ts';
import { listBuckets } from '../handlers/buckets/list.ts';

import { createTable } from '../handlers/tables/create.ts';
import { deleteTable } from '../handlers/tables/delete.ts';
import { getTable } from '../handlers/tables/get.ts';
import { listTables } from '../handlers/tables/list.ts';
import { previewTable } from '../handlers/tables/preview.ts';

import { deleteTableRows } from '../handlers/data/delete-rows.ts';
import { exportTableGet, exportTablePost } from '../handlers/data/export.ts';
import { importTable } from '../handlers/data/import.ts';
import { previewFiltered } from '../handlers/data/preview.ts';
import { truncateTable } from '../handlers/data/truncate.ts';

import { grantReadonly } from '../handlers/sharing/grant-readonly.ts';
import { linkBucket } from '../handlers/sharing/link.ts';
import { revokeReadonly } from '../handlers/sharing/revoke-readonly.ts';
import { shareBucket } from '../handlers/sharing/share.ts';
import { listSharedBuckets } from '../handlers/sharing/shared-buckets.ts';
import { unlinkBucket } from '../handlers/sharing/unlink.ts';
import { unshareBucket } from '../handlers/sharing/unshare.ts';

import { createKey } from '../handlers/keys/create.ts';
import { getCurrentKey } from '../handlers/keys/current.ts';
import { deleteKey } from '../handlers/keys/delete.ts';
import { getKey } from '../handlers/keys/get.ts';
import { listKeys } from '../handlers/keys/list.ts';
import { rotateKey } from '../handlers/keys/rotate.ts';
import { queryProject } from '../handlers/sql/query.ts';
import { createWorkspace } from '../handlers/workspaces/create.ts';
import { deleteWorkspace } from '../handlers/workspaces/delete.ts';
import { getWorkspace } from '../handlers/workspaces/get.ts';
import { listWorkspaces } from '../handlers/workspaces/list.ts';
import { loadWorkspace } from '../handlers/workspaces/load.ts';
import { queryWorkspace } from '../handlers/workspaces/query.ts';
import { unloadWorkspace } from '../handlers/workspaces/unload.ts';
import { createTableSnapshot } from '../handlers/snapshots/create.ts';
import { deleteSnapshot } from '../handlers/snapshots/delete.ts';
import { getSnapshot } from '../handlers/snapshots/get.ts';
import { listTableSnapshots } from '../handlers/snapshots/list-table.ts';
import { listSnapshots } from '../handlers/snapshots/list.ts';
import { restoreTableSnapshot } from '../handlers/snapshots/restore.ts';
import { getSnapshotSettings } from '../handlers/snapshots/settings-get.ts';
import { putSnapshotSettings } from '../handlers/snapshots/settings-put.ts';

import { addTableColumn } from '../handlers/schema/add-column.ts';
import { alterTableColumn } from '../handlers/schema/alter-column.ts';
import { dropTableColumn } from '../handlers/schema/drop-column.ts';
import { dropTablePrimaryKey } from '../handlers/schema/drop-primary-key.ts';
import { getTableProfile } from '../handlers/schema/profile.ts';
import { setTablePrimaryKey } from '../handlers/schema/set-primary-key.ts';
import { deleteMetadata } from '../handlers/metadata/delete.ts';
import { listMetadata } from '../handlers/metadata/list.ts';
import { upsertMetadata } from '../handlers/metadata/upsert.ts';
import { deleteFile } from '../handlers/files/delete.ts';
import { downloadFile } from '../handlers/files/download.ts';
import { getFile } from '../handlers/files/get.ts';
import { listFiles } from '../handlers/files/list.ts';
import { uploadFile } from '../handlers/files/upload.ts';
import { cancelJob } from '../handlers/jobs/cancel.ts';
import { exportAsync } from '../handlers/jobs/export-async.ts';
import { getJob } from '../handlers/jobs/get.ts';
import { importAsync } from '../handlers/jobs/import-async.ts';
import { listJobs } from '../handlers/jobs/list.ts';

import { getBranchChanges } from '../handlers/branches/changes.ts';
import { createBranch } from '../handlers/branches/create.ts';
import { deleteBranch } from '../handlers/branches/delete.ts';
import { getBranch } from '../handlers/branches/get.ts';
import { listBranches } from '../handlers/branches/list.ts';
import { mergeTable } from '../handlers/branches/merge.ts';
import { resetTable } from '../handlers/branches/reset.ts';

const BASE = 'http://handler.test';
const ADMIN: Principal = { kind: 'admin' };
const asProject = (projectId: string): Principal => ({ kind: 'project', projectId });
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$/;

let t: TestApp;
beforeAll(async () => {
  t = await makeApp();
});
afterAll(async () => {
  await t?.close();
});

interface Invoked {
  response: Response;
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON, else undefined. */
  body: any;
  ctx: HandlerContext;
}

interface InvokeOptions {
  principal?: Principal;
  headers?: Record<string, string>;
  /** The branch as `app` puts it in the context for routes under P/branches/{branch}/… (§14). */
  branch?: string;
}

/** Waits (bounded) until every table file is detached again: detach runs asynchronously. */
async function expectAllDetached(): Promise<void> {
  for (let i = 0; i < 1000 && t.services.registry.openCount > 0; i++) await new Promise((r) => setTimeout(r, 5));
  expect(t.services.registry.openCount).toBe(0);
}

/**
 * Calls `handler` the way a host fetch server would, with only what HandlerContext says a
 * handler gets. `params` are the path parameters as itty would give them. A plain object
 * body is sent as JSON; a string is sent as is (set its content-type in `options.headers`).
 * The request's attachments are released as `app` does in its finally, then the body is
 * read (a streamed export holds its attachment until then) and the registry must settle at 0.
 */
async function invoke(
  handler: Handler,
  method: string,
  url: string,
  params: Record<string, string> = {},
  body?: unknown,
  options: InvokeOptions = {},
): Promise<Invoked> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  let payload: BodyInit | undefined;
  if (typeof body === 'string') payload = body;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] ??= 'application/json';
  }
  const request = new Request(BASE + url, { method, headers, body: payload });
  const ctx: HandlerContext = {
    services: t.services,
    requestId: `direct-${method}-${url}`.slice(0, 128),
    params,
    principal: options.principal ?? ADMIN,
    storage: new StorageSession(t.services.registry),
    log: t.services.logger,
    logFields: {},
    ...(options.branch === undefined ? {} : { branch: options.branch }),
  };
  let response: Response;
  try {
    response = await handler(request, ctx);
  } catch (error) {
    ctx.storage.releaseAll();
    await expectAllDetached();
    throw error;
  }
  ctx.storage.releaseAll();
  expect(response).toBeInstanceOf(Response);
  const text = await response.text();
  await expectAllDetached();
  const type = response.headers.get('content-type') ?? '';
  return { response, status: response.status, headers: response.headers, text, body: type.startsWith('application/json') && text ? JSON.parse(text) : undefined, ctx };
}

/** The handler must throw an HttpError (not answer) with this status and code. */
async function expectHttpError(pending: Promise<unknown>, status: number, code: string): Promise<HttpError> {
  await expect(pending).rejects.toBeInstanceOf(HttpError);
  await expect(pending).rejects.toMatchObject({ status, code });
  return pending.then(
    () => {
      throw new Error('unreachable');
    },
    (error: HttpError) => error,
  );
}

const P = (id: string) => ({ id });
const B = (id: string, bucket: string) => ({ id, bucket });
const T = (id: string, bucket: string, table: string) => ({ id, bucket, table });
const ORDERS = '/projects/p1/buckets/in_c_sales/tables/orders';
const orders = T('p1', 'in_c_sales', 'orders');
const CSV = 'id,name,amount\n1,alpha,12.50\n2,beta,\n3,"gamma, inc",7.00\n';

// ---------------------------------------------------------------- service

describe('handlers/service/root.ts', () => {
  it('getRoot answers the service card', async () => {
    const res = await invoke(getRoot, 'GET', '/');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ service: 'DuckDB Storage API', version: t.services.version, health: '/health', docs: '/docs' });
  });
});

describe('handlers/service/health.ts', () => {
  it('getHealth reports every storage folder present', async () => {
    const res = await invoke(getHealth, 'GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'healthy',
      version: t.services.version,
      storage_available: true,
      details: { data_dir: true, duckdb_dir: true, files_dir: true, snapshots_dir: true },
    });
  });

  it('getHealth throws 503 storage_unavailable when a folder is missing (init then recreates it)', async () => {
    const snapshots = t.services.paths.folders.snapshots_dir;
    await rm(snapshots, { recursive: true, force: true });
    const error = await expectHttpError(invoke(getHealth, 'GET', '/health'), 503, 'storage_unavailable');
    expect(error.details).toMatchObject({ snapshots_dir: false, duckdb_dir: true });
    const init = await invoke(initBackend, 'POST', '/backend/init');
    expect(init.status).toBe(200);
    expect(init.body.message).toContain('created');
    expect(init.body.message).toContain('snapshots_dir');
    expect(existsSync(snapshots)).toBe(true);
    expect((await invoke(getHealth, 'GET', '/health')).status).toBe(200);
  });
});

describe('handlers/service/init.ts', () => {
  it('initBackend succeeds and names the storage paths', async () => {
    const res = await invoke(initBackend, 'POST', '/backend/init');
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
    expect(res.body.message).not.toContain('created');
    expect(res.body.storage_paths).toEqual(t.services.paths.folders);
    expect(Object.keys(res.body.storage_paths).sort()).toEqual(['data_dir', 'duckdb_dir', 'files_dir', 'snapshots_dir']);
  });

  it('initBackend throws 500 init_failed when a folder cannot be made', async () => {
    const snapshots = t.services.paths.folders.snapshots_dir;
    await rm(snapshots, { recursive: true, force: true });
    await writeFile(snapshots, 'not a folder');
    try {
      const error = await expectHttpError(invoke(initBackend, 'POST', '/backend/init'), 500, 'init_failed');
      expect(error.details?.errors).toEqual([expect.objectContaining({ folder: 'snapshots_dir' })]);
    } finally {
      await rm(snapshots, { force: true });
    }
    expect((await invoke(initBackend, 'POST', '/backend/init')).body.message).toContain('snapshots_dir');
  });
});

describe('handlers/service/remove.ts', () => {
  it('removeBackend acknowledges and deletes nothing', async () => {
    const res = await invoke(removeBackend, 'POST', '/backend/remove');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, message: 'Backend removal acknowledged (no-op)', storage_paths: null });
    expect(existsSync(t.services.paths.folders.duckdb_dir)).toBe(true);
  });
});

describe('handlers/service/openapi.ts', () => {
  it('getOpenApi returns an OpenAPI 3.1 document of the routes', async () => {
    const res = await invoke(getOpenApi, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\.1\.\d+$/);
    expect(res.body.servers).toEqual([{ url: '/' }]);
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/', '/health', '/projects', '/projects/{id}/buckets/{bucket}/tables/{table}/import']));
  });

  it('getOpenApi takes the mount point from the request URL', async () => {
    const res = await invoke(getOpenApi, 'GET', '/storage/openapi.json');
    expect(res.body.servers).toEqual([{ url: '/storage' }]);
  });
});

describe('handlers/service/docs.ts', () => {
  it('getDocs returns the HTML reference page', async () => {
    const res = await invoke(getDocs, 'GET', '/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).toMatch(/^<!doctype html>/i);
    expect(res.text).toContain('data-spec-url="openapi.json"');
  });

  it('getDocs redirects /docs/ to ../docs', async () => {
    const res = await invoke(getDocs, 'GET', '/docs/');
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe('../docs');
  });

  it('getDocsAsset serves the page scripts and styles; an unknown asset throws 404 not_found', async () => {
    const js = await invoke(getDocsAsset, 'GET', '/docs/assets/docs.js', { file: 'docs.js' });
    expect(js.status).toBe(200);
    expect(js.text).toContain('SwaggerUIBundle');
    const css = await invoke(getDocsAsset, 'GET', '/docs/assets/swagger-ui.css', { file: 'swagger-ui.css' });
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(css.text.length).toBeGreaterThan(1000);
    await expectHttpError(invoke(getDocsAsset, 'GET', '/docs/assets/package.json', { file: 'package.json' }), 404, 'not_found');
  });
});

describe('handlers/ui/page.ts', () => {
  it('getUiPage returns the explorer page under a strict policy; /ui/ redirects to ../ui', async () => {
    const res = await invoke(getUiPage, 'GET', '/ui');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.text).toContain('src="ui/assets/app.js"');
    const slash = await invoke(getUiPage, 'GET', '/ui/');
    expect(slash.status).toBe(308);
    expect(slash.headers.get('location')).toBe('../ui');
  });

  it('getUiAsset serves the built script and stylesheet; anything else throws 404 not_found', async () => {
    const js = await invoke(getUiAsset, 'GET', '/ui/assets/app.js', { file: 'app.js' });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(js.text).toContain('sessionStorage');
    const css = await invoke(getUiAsset, 'GET', '/ui/assets/app.css', { file: 'app.css' });
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(css.text).toContain('.grid');
    await expectHttpError(invoke(getUiAsset, 'GET', '/ui/assets/main.ts', { file: 'main.ts' }), 404, 'not_found');
  });
});

describe('handlers/service/metrics.ts', () => {
  it('getMetrics returns Prometheus text', async () => {
    const res = await invoke(getMetrics, 'GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toContain('# TYPE duckdb_storage_open_attachments gauge');
    expect(res.text).toMatch(/^duckdb_storage_open_attachments 0$/m);
  });
});

// ---------------------------------------------------------------- projects

describe('handlers/projects/create.ts', () => {
  it('createProject creates p1 and returns its key once', async () => {
    const res = await invoke(createProject, 'POST', '/projects', {}, { id: 'p1', name: 'Project One', settings: { tier: 'gold' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: 'p1',
      name: 'Project One',
      db_path: 'project_p1',
      status: 'active',
      settings: { tier: 'gold' },
      size_bytes: 0,
      table_count: 0,
      bucket_count: 0,
    });
    expect(res.body.created_at).toMatch(ISO);
    expect(res.body.api_key).toMatch(/^proj_p1_admin_[0-9a-f]{32}$/);
    // Only the digest is kept, and it identifies the project.
    expect(t.services.keys.byDigestOf(sha256Hex(res.body.api_key))?.projectId).toBe('p1');
    expect(res.ctx.logFields.project_id).toBe('p1');
  });

  it('createProject makes the other projects used below', async () => {
    for (const id of ['p2', 'p3']) expect((await invoke(createProject, 'POST', '/projects', {}, { id })).status).toBe(201);
  });

  it('createProject throws 409 project_exists for a taken id and 422 for a bad id', async () => {
    await expectHttpError(invoke(createProject, 'POST', '/projects', {}, { id: 'p1' }), 409, 'project_exists');
    await expectHttpError(invoke(createProject, 'POST', '/projects', {}, { id: 'bad.id' }), 422, 'validation_error');
  });
});

describe('handlers/projects/list.ts', () => {
  it('listProjects pages newest first with the total', async () => {
    const res = await invoke(listProjects, 'GET', '/projects?limit=2');
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(3);
    expect(res.body.projects).toHaveLength(2);
    expect(res.body.projects.map((p: any) => p.id)).toEqual(['p3', 'p2']);
    const rest = await invoke(listProjects, 'GET', '/projects?limit=2&offset=2&status=active');
    expect(rest.body.projects.map((p: any) => p.id)).toEqual(['p1']);
  });

  it('listProjects throws 422 validation_error for a bad limit', async () => {
    await expectHttpError(invoke(listProjects, 'GET', '/projects?limit=0'), 422, 'validation_error');
  });
});

describe('handlers/projects/get.ts', () => {
  it('getProject returns the project', async () => {
    const res = await invoke(getProject, 'GET', '/projects/p1', P('p1'), undefined, { principal: asProject('p1') });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'p1', name: 'Project One', status: 'active' });
    expect(res.body).not.toHaveProperty('api_key');
  });

  it('getProject throws 404 not_found for a missing project', async () => {
    await expectHttpError(invoke(getProject, 'GET', '/projects/nope', P('nope')), 404, 'not_found');
  });
});

describe('handlers/projects/update.ts', () => {
  it('updateProject changes the name and clears settings with an explicit null', async () => {
    const res = await invoke(updateProject, 'PUT', '/projects/p1', P('p1'), { name: 'Renamed', settings: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'p1', name: 'Renamed', settings: null });
    expect(t.services.catalog.getProject('p1')?.name).toBe('Renamed');
  });

  it('updateProject throws 404 not_found for a missing project', async () => {
    await expectHttpError(invoke(updateProject, 'PUT', '/projects/nope', P('nope'), { name: 'x' }), 404, 'not_found');
  });
});

// ---------------------------------------------------------------- api keys

describe('handlers/keys/*.ts', () => {
  const K = '/projects/p1/api-keys';
  let readKeyId = '';

  it('createKey returns the secret once and stores only its digest', async () => {
    const res = await invoke(createKey, 'POST', K, P('p1'), { scope: 'read', description: 'dashboard' });
    expect(res.status).toBe(201);
    expect(res.body.api_key).toMatch(/^proj_p1_read_[0-9a-f]{32}$/);
    expect(res.body).toMatchObject({ scope: 'read', description: 'dashboard', buckets: null, branch: null, key_prefix: 'proj_p1_read_...', expires_at: null, rotated_at: null });
    readKeyId = res.body.id;
    expect(t.services.keys.byDigestOf(sha256Hex(res.body.api_key))?.id).toBe(readKeyId);
  });

  it('createKey throws 422 for an admin key restricted to buckets, 404 bucket_not_found for a missing bucket', async () => {
    await expectHttpError(invoke(createKey, 'POST', K, P('p1'), { scope: 'admin', buckets: ['in_c_sales'] }), 422, 'validation_error');
    await expectHttpError(invoke(createKey, 'POST', K, P('p1'), { scope: 'read', buckets: ['nope'] }), 404, 'bucket_not_found');
  });

  it('listKeys lists oldest first, getKey gets one, 404 key_not_found otherwise', async () => {
    const list = await invoke(listKeys, 'GET', K, P('p1'));
    expect(list.status).toBe(200);
    expect(list.body.api_keys.map((k: { scope: string }) => k.scope)).toEqual(['admin', 'read']);
    expect(list.body.total).toBe(2);
    expect(JSON.stringify(list.body)).not.toContain('api_key"');
    const one = await invoke(getKey, 'GET', `${K}/${readKeyId}`, { id: 'p1', key_id: readKeyId });
    expect(one.body.id).toBe(readKeyId);
    await expectHttpError(invoke(getKey, 'GET', `${K}/k_000000000000`, { id: 'p1', key_id: 'k_000000000000' }), 404, 'key_not_found');
  });

  it('getCurrentKey answers the calling key, or the service admin', async () => {
    const asAdmin = await invoke(getCurrentKey, 'GET', `${K}/current`, P('p1'));
    expect(asAdmin.body).toEqual({ id: null, scope: 'service_admin' });
    const key = t.services.keys.get('p1', readKeyId)!;
    const asKey = await invoke(getCurrentKey, 'GET', `${K}/current`, P('p1'), undefined, { principal: { kind: 'project', projectId: 'p1', key } });
    expect(asKey.body.id).toBe(readKeyId);
  });

  it('rotateKey replaces the secret; deleteKey removes the key; the last admin key stays', async () => {
    const before = t.services.keys.get('p1', readKeyId)!.digest;
    const rotated = await invoke(rotateKey, 'POST', `${K}/${readKeyId}/rotate`, { id: 'p1', key_id: readKeyId });
    expect(rotated.status).toBe(200);
    expect(rotated.body.rotated_at).toMatch(ISO);
    expect(t.services.keys.byDigestOf(before)).toBeUndefined();
    expect(t.services.keys.byDigestOf(sha256Hex(rotated.body.api_key))?.id).toBe(readKeyId);
    const gone = await invoke(deleteKey, 'DELETE', `${K}/${readKeyId}`, { id: 'p1', key_id: readKeyId });
    expect(gone.status).toBe(204);
    expect(t.services.keys.get('p1', readKeyId)).toBeUndefined();
    const admin = t.services.keys.list('p1')[0]!;
    await expectHttpError(invoke(deleteKey, 'DELETE', `${K}/${admin.id}`, { id: 'p1', key_id: admin.id }), 409, 'last_admin_key');
  });
});

// ---------------------------------------------------------------- buckets

describe('handlers/buckets/create.ts', () => {
  it('createBucket creates a bucket', async () => {
    const res = await invoke(createBucket, 'POST', '/projects/p1/buckets', P('p1'), { name: 'in_c_sales', description: 'Sales data' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'in_c_sales',
      description: 'Sales data',
      table_count: 0,
      is_linked: false,
      source_project_id: null,
      source_bucket_name: null,
      shared_with: [],
      readonly_access: false,
    });
    expect(res.body.created_at).toMatch(ISO);
    expect((await invoke(createBucket, 'POST', '/projects/p1/buckets', P('p1'), { name: 'private' })).status).toBe(201);
  });

  it('createBucket throws 409 bucket_exists the second time (also in other case) and 404 project_not_found', async () => {
    await expectHttpError(invoke(createBucket, 'POST', '/projects/p1/buckets', P('p1'), { name: 'in_c_sales' }), 409, 'bucket_exists');
    await expectHttpError(invoke(createBucket, 'POST', '/projects/p1/buckets', P('p1'), { name: 'IN_C_SALES' }), 409, 'bucket_exists');
    await expectHttpError(invoke(createBucket, 'POST', '/projects/nope/buckets', P('nope'), { name: 'b' }), 404, 'project_not_found');
  });
});

describe('handlers/buckets/list.ts', () => {
  it('listBuckets lists by name', async () => {
    const res = await invoke(listBuckets, 'GET', '/projects/p1/buckets', P('p1'));
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(2);
    expect(res.body.buckets.map((b: any) => b.name)).toEqual(['in_c_sales', 'private']);
  });

  it('listBuckets throws 404 project_not_found for a missing project', async () => {
    await expectHttpError(invoke(listBuckets, 'GET', '/projects/nope/buckets', P('nope')), 404, 'project_not_found');
  });
});

describe('handlers/buckets/get.ts', () => {
  it('getBucket returns the bucket', async () => {
    const res = await invoke(getBucket, 'GET', '/projects/p1/buckets/in_c_sales', B('p1', 'in_c_sales'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'in_c_sales', description: 'Sales data', is_linked: false });
  });

  it('getBucket throws 404 bucket_not_found and 422 for an invalid name in the path', async () => {
    await expectHttpError(invoke(getBucket, 'GET', '/projects/p1/buckets/none', B('p1', 'none')), 404, 'bucket_not_found');
    await expectHttpError(invoke(getBucket, 'GET', '/projects/p1/buckets/a.b', B('p1', 'a.b')), 422, 'validation_error');
  });
});

// ---------------------------------------------------------------- tables

describe('handlers/tables/create.ts', () => {
  const body = {
    name: 'orders',
    columns: [
      { name: 'id', type: 'INTEGER' },
      { name: 'name', type: 'VARCHAR' },
      { name: 'amount', type: 'DECIMAL(10,2)' },
    ],
    primary_key: ['id'],
  };

  it('createTable creates the table and its file', async () => {
    const res = await invoke(createTable, 'POST', '/projects/p1/buckets/in_c_sales/tables', B('p1', 'in_c_sales'), body);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'orders',
      bucket: 'in_c_sales',
      row_count: 0,
      primary_key: ['id'],
      columns: [
        { name: 'id', type: 'INTEGER', nullable: false, ordinal_position: 1 },
        { name: 'name', type: 'VARCHAR', nullable: true, ordinal_position: 2 },
        { name: 'amount', type: 'DECIMAL(10,2)', nullable: true, ordinal_position: 3 },
      ],
    });
    expect(res.body.size_bytes).toBeGreaterThan(0);
    expect(existsSync(t.services.paths.tableFile('p1', 'in_c_sales', 'orders'))).toBe(true);
  });

  it('createTable throws 409 table_exists, 400 invalid_primary_key and 404 bucket_not_found', async () => {
    const url = '/projects/p1/buckets/in_c_sales/tables';
    await expectHttpError(invoke(createTable, 'POST', url, B('p1', 'in_c_sales'), body), 409, 'table_exists');
    await expectHttpError(invoke(createTable, 'POST', url, B('p1', 'in_c_sales'), { ...body, name: 'other', primary_key: ['nope'] }), 400, 'invalid_primary_key');
    expect(existsSync(t.services.paths.tableFile('p1', 'in_c_sales', 'other'))).toBe(false);
    await expectHttpError(invoke(createTable, 'POST', '/projects/p1/buckets/none/tables', B('p1', 'none'), body), 404, 'bucket_not_found');
  });
});

describe('handlers/tables/list.ts', () => {
  it('listTables lists the bucket tables', async () => {
    const res = await invoke(listTables, 'GET', '/projects/p1/buckets/in_c_sales/tables', B('p1', 'in_c_sales'));
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(1);
    expect(res.body.tables.map((x: any) => x.name)).toEqual(['orders']);
  });

  it('listTables throws 404 bucket_not_found', async () => {
    await expectHttpError(invoke(listTables, 'GET', '/projects/p1/buckets/none/tables', B('p1', 'none')), 404, 'bucket_not_found');
  });
});

// ---------------------------------------------------------------- data

describe('handlers/data/import.ts', () => {
  it('importTable loads a CSV body (full load)', async () => {
    const res = await invoke(importTable, 'POST', `${ORDERS}/import`, orders, CSV, { headers: { 'content-type': 'text/csv' } });
    expect(res.status).toBe(200);
    expect(res.body.imported_rows).toBe(3);
    expect(res.body.row_count).toBe(3);
    expect(res.body.table).toMatchObject({ name: 'orders', bucket: 'in_c_sales', row_count: 3 });
    // The staged upload is gone.
    expect(t.services.activeImports.count).toBe(0);
  });

  it('importTable throws 404 table_not_found, 400 unknown_columns and 422 for header=false without columns', async () => {
    const csv = { headers: { 'content-type': 'text/csv' } };
    await expectHttpError(invoke(importTable, 'POST', '/projects/p1/buckets/in_c_sales/tables/none/import', T('p1', 'in_c_sales', 'none'), CSV, csv), 404, 'table_not_found');
    await expectHttpError(invoke(importTable, 'POST', `${ORDERS}/import`, orders, 'id,color\n9,red\n', csv), 400, 'unknown_columns');
    await expectHttpError(invoke(importTable, 'POST', `${ORDERS}/import?header=false`, orders, '9,x,1\n', csv), 422, 'validation_error');
    expect(t.services.activeImports.count).toBe(0);
    expect(t.services.catalog.getTable('p1', 'in_c_sales', 'orders')?.rowCount).toBe(3);
  });
});

describe('handlers/tables/get.ts', () => {
  it('getTable returns the table with its row count', async () => {
    const res = await invoke(getTable, 'GET', ORDERS, orders);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'orders', bucket: 'in_c_sales', row_count: 3, primary_key: ['id'] });
    expect(res.body.columns.map((c: any) => c.name)).toEqual(['id', 'name', 'amount']);
  });

  it('getTable throws 404 table_not_found', async () => {
    await expectHttpError(invoke(getTable, 'GET', '/projects/p1/buckets/in_c_sales/tables/none', T('p1', 'in_c_sales', 'none')), 404, 'table_not_found');
  });
});

describe('handlers/tables/preview.ts', () => {
  it('previewTable returns the imported rows with the §7 value mapping', async () => {
    const res = await invoke(previewTable, 'GET', `${ORDERS}/preview`, orders);
    expect(res.status).toBe(200);
    expect(res.body.total_row_count).toBe(3);
    expect(res.body.preview_row_count).toBe(3);
    expect(res.body.columns.map((c: any) => c.name)).toEqual(['id', 'name', 'amount']);
    const rows = [...res.body.rows].sort((a: any, b: any) => a.id - b.id);
    expect(rows).toEqual([
      { id: 1, name: 'alpha', amount: '12.50' },
      { id: 2, name: 'beta', amount: null },
      { id: 3, name: 'gamma, inc', amount: '7.00' },
    ]);
  });

  it('previewTable honours limit', async () => {
    const res = await invoke(previewTable, 'GET', `${ORDERS}/preview?limit=2`, orders);
    expect(res.body.preview_row_count).toBe(2);
    expect(res.body.rows).toHaveLength(2);
    expect(res.body.total_row_count).toBe(3);
  });

  it('previewTable throws 404 table_not_found for a missing table and 422 for limit=0', async () => {
    await expectHttpError(invoke(previewTable, 'GET', '/projects/p1/buckets/in_c_sales/tables/none/preview', T('p1', 'in_c_sales', 'none')), 404, 'table_not_found');
    await expectHttpError(invoke(previewTable, 'GET', `${ORDERS}/preview?limit=0`, orders), 422, 'validation_error');
  });
});

describe('handlers/data/preview.ts', () => {
  it('previewFiltered applies columns, filters and order_by', async () => {
    const res = await invoke(previewFiltered, 'POST', `${ORDERS}/preview`, orders, {
      columns: ['name', 'id'],
      filters: [{ column: 'amount', operator: 'not_null' }],
      order_by: [{ column: 'id', order: 'desc' }],
    });
    expect(res.status).toBe(200);
    expect(res.body.columns.map((c: any) => c.name)).toEqual(['name', 'id']);
    expect(res.body.rows).toEqual([
      { name: 'gamma, inc', id: 3 },
      { name: 'alpha', id: 1 },
    ]);
    expect(res.body.total_row_count).toBe(2);
    expect(res.body.preview_row_count).toBe(2);
  });

  it('previewFiltered throws 422 validation_error for an unknown column or a value that does not convert', async () => {
    await expectHttpError(invoke(previewFiltered, 'POST', `${ORDERS}/preview`, orders, { columns: ['nope'] }), 422, 'validation_error');
    await expectHttpError(invoke(previewFiltered, 'POST', `${ORDERS}/preview`, orders, { filters: [{ column: 'id', operator: 'eq', values: ['abc'] }] }), 422, 'validation_error');
  });
});

describe('handlers/data/export.ts', () => {
  it('exportTablePost streams CSV with header, RFC 4180 quoting and empty NULLs', async () => {
    const res = await invoke(exportTablePost, 'POST', `${ORDERS}/export`, orders, { format: 'csv', order_by: [{ column: 'id', order: 'asc' }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="orders.csv"');
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.text.replace(/\r\n/g, '\n')).toBe('id,name,amount\n1,alpha,12.50\n2,beta,\n3,"gamma, inc",7.00\n');
  });

  it('exportTableGet streams NDJSON of the chosen columns', async () => {
    const res = await invoke(exportTableGet, 'GET', `${ORDERS}/export?format=ndjson&columns=id,amount`, orders);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="orders.ndjson"');
    const rows = res.text.trim().split('\n').map((line) => JSON.parse(line)).sort((a, b) => a.id - b.id);
    expect(rows).toEqual([
      { id: 1, amount: '12.50' },
      { id: 2, amount: null },
      { id: 3, amount: '7.00' },
    ]);
  });

  it('exportTableGet/exportTablePost throw 404 table_not_found and 422 for a bad format', async () => {
    await expectHttpError(invoke(exportTableGet, 'GET', '/projects/p1/buckets/in_c_sales/tables/none/export', T('p1', 'in_c_sales', 'none')), 404, 'table_not_found');
    await expectHttpError(invoke(exportTableGet, 'GET', `${ORDERS}/export?format=xlsx`, orders), 422, 'validation_error');
    await expectHttpError(invoke(exportTablePost, 'POST', `${ORDERS}/export`, orders, { columns: ['nope'] }), 422, 'validation_error');
  });
});

// ---------------------------------------------------------------- sharing

// ---------------------------------------------------------------- files and jobs

describe('handlers/files/*.ts', () => {
  let id: string;
  const F = (fileId: string) => ({ id: 'p1', file_id: fileId });

  it('uploadFile stores the body; getFile, listFiles and downloadFile read it back', async () => {
    const up = await invoke(uploadFile, 'POST', '/projects/p1/files?name=o.csv&tags=x', P('p1'), 'id,name,amount\n7,g,1.00\n', { headers: { 'content-type': 'text/csv' } });
    expect(up.status).toBe(201);
    id = up.body.id;
    expect(existsSync(t.services.paths.storedFile('p1', id))).toBe(true);
    expect((await invoke(getFile, 'GET', `/projects/p1/files/${id}`, F(id))).body).toEqual(up.body);
    const list = await invoke(listFiles, 'GET', '/projects/p1/files?tags=x', P('p1'));
    expect(list.body.files.map((f: any) => f.id)).toEqual([id]);
    const part = await invoke(downloadFile, 'GET', `/projects/p1/files/${id}/download`, F(id), undefined, { headers: { range: 'bytes=0-1' } });
    expect(part.status).toBe(206);
    expect(part.text).toBe('id');
  });

  it('the file handlers throw 404 file_not_found, 416 and 422', async () => {
    await expectHttpError(invoke(getFile, 'GET', '/projects/p1/files/f_000000000000', F('f_000000000000')), 404, 'file_not_found');
    await expectHttpError(invoke(downloadFile, 'GET', `/projects/p1/files/${id}/download`, F(id), undefined, { headers: { range: 'bytes=999-' } }), 416, 'range_not_satisfiable');
    await expectHttpError(invoke(uploadFile, 'POST', '/projects/p1/files', P('p1'), 'x'), 422, 'validation_error');
    await expectHttpError(invoke(listFiles, 'GET', '/projects/p1/files?limit=0', P('p1')), 422, 'validation_error');
  });

  it('importAsync and exportAsync queue jobs; getJob waits for them; listJobs lists them; cancelJob refuses a finished one', async () => {
    const queued = await invoke(importAsync, 'POST', `${ORDERS}/import-async`, orders, { file_id: id, incremental: true });
    expect(queued.status).toBe(202);
    const done = await invoke(getJob, 'GET', `/projects/p1/jobs/${queued.body.id}?wait=30`, { id: 'p1', job_id: queued.body.id });
    expect(done.body).toMatchObject({ status: 'success', result: { imported_rows: 1 } });
    const exported = await invoke(exportAsync, 'POST', `${ORDERS}/export-async`, orders, { format: 'ndjson' });
    expect(exported.status).toBe(202);
    const exportDone = await invoke(getJob, 'GET', `/projects/p1/jobs/${exported.body.id}?wait=30`, { id: 'p1', job_id: exported.body.id });
    expect(exportDone.body.status).toBe('success');
    const list = await invoke(listJobs, 'GET', '/projects/p1/jobs', P('p1'));
    expect(list.body.jobs.map((j: any) => j.id)).toEqual([exported.body.id, queued.body.id]);
    await expectHttpError(invoke(cancelJob, 'DELETE', `/projects/p1/jobs/${queued.body.id}`, { id: 'p1', job_id: queued.body.id }), 409, 'job_finished');
    await expectHttpError(invoke(getJob, 'GET', '/projects/p1/jobs/j_1', { id: 'p1', job_id: 'j_1' }), 404, 'job_not_found');
    await expectHttpError(invoke(importAsync, 'POST', `${ORDERS}/import-async`, orders, { file_id: 'f_000000000000' }), 404, 'file_not_found');
    // Put the table back as the later describes expect it (the job added row 7).
    await invoke(deleteTableRows, 'POST', `${ORDERS}/delete-rows`, orders, { filters: [{ column: 'id', operator: 'eq', values: ['7'] }] });
  });

  it('deleteFile removes the file', async () => {
    expect((await invoke(deleteFile, 'DELETE', `/projects/p1/files/${id}`, F(id))).status).toBe(204);
    expect(existsSync(t.services.paths.storedFile('p1', id))).toBe(false);
    await expectHttpError(invoke(deleteFile, 'DELETE', `/projects/p1/files/${id}`, F(id)), 404, 'file_not_found');
  });
});

describe('handlers/sharing/share.ts', () => {
  it('shareBucket shares in_c_sales with p2', async () => {
    const res = await invoke(shareBucket, 'POST', '/projects/p1/buckets/in_c_sales/share', B('p1', 'in_c_sales'), { target_project_id: 'p2' }, { principal: asProject('p1') });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ shared_with: ['p2'], is_linked: false, source_project_id: null, source_bucket_name: null });
  });

  it('shareBucket throws 409 already_shared, 400 invalid_target and 404 project_not_found', async () => {
    const url = '/projects/p1/buckets/in_c_sales/share';
    await expectHttpError(invoke(shareBucket, 'POST', url, B('p1', 'in_c_sales'), { target_project_id: 'p2' }), 409, 'already_shared');
    await expectHttpError(invoke(shareBucket, 'POST', url, B('p1', 'in_c_sales'), { target_project_id: 'p1' }), 400, 'invalid_target');
    await expectHttpError(invoke(shareBucket, 'POST', url, B('p1', 'in_c_sales'), { target_project_id: 'nope' }), 404, 'project_not_found');
  });
});

describe('handlers/sharing/link.ts', () => {
  const p2 = { principal: asProject('p2') };

  it('linkBucket links the shared bucket into p2, read-only and live', async () => {
    const res = await invoke(linkBucket, 'POST', '/projects/p2/buckets/from_p1/link', B('p2', 'from_p1'), { source_project_id: 'p1', source_bucket_name: 'in_c_sales' }, p2);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'from_p1',
      is_linked: true,
      source_project_id: 'p1',
      source_bucket_name: 'in_c_sales',
      description: 'Linked from p1.in_c_sales',
    });
    // The link reads the source's tables through the table handlers…
    const tables = await invoke(listTables, 'GET', '/projects/p2/buckets/from_p1/tables', B('p2', 'from_p1'), undefined, p2);
    expect(tables.body.tables.map((x: any) => x.name)).toEqual(['orders']);
    const preview = await invoke(previewTable, 'GET', '/projects/p2/buckets/from_p1/tables/orders/preview', T('p2', 'from_p1', 'orders'), undefined, p2);
    expect(preview.body.total_row_count).toBe(3);
    // …and refuses writes.
    await expectHttpError(
      invoke(importTable, 'POST', '/projects/p2/buckets/from_p1/tables/orders/import', T('p2', 'from_p1', 'orders'), CSV, { ...p2, headers: { 'content-type': 'text/csv' } }),
      403,
      'bucket_readonly',
    );
    expect(t.services.catalog.getTable('p1', 'in_c_sales', 'orders')?.rowCount).toBe(3);
  });

  it('linkBucket throws 403 not_shared for a project key, 409 bucket_exists and 400 invalid_source', async () => {
    await expectHttpError(
      invoke(linkBucket, 'POST', '/projects/p2/buckets/priv/link', B('p2', 'priv'), { source_project_id: 'p1', source_bucket_name: 'private' }, p2),
      403,
      'not_shared',
    );
    await expectHttpError(
      invoke(linkBucket, 'POST', '/projects/p2/buckets/from_p1/link', B('p2', 'from_p1'), { source_project_id: 'p1', source_bucket_name: 'private' }),
      409,
      'bucket_exists',
    );
    await expectHttpError(
      invoke(linkBucket, 'POST', '/projects/p1/buckets/self/link', B('p1', 'self'), { source_project_id: 'p1', source_bucket_name: 'private' }),
      400,
      'invalid_source',
    );
  });
});

describe('handlers/sharing/shared-buckets.ts', () => {
  it('listSharedBuckets lists what was shared with p2 and how it is linked', async () => {
    const res = await invoke(listSharedBuckets, 'GET', '/projects/p2/shared-buckets', P('p2'), undefined, { principal: asProject('p2') });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      buckets: [{ source_project_id: 'p1', source_bucket_name: 'in_c_sales', description: 'Sales data', table_count: 1, linked_as: 'from_p1' }],
      total: 1,
    });
    expect((await invoke(listSharedBuckets, 'GET', '/projects/p3/shared-buckets', P('p3'))).body).toEqual({ buckets: [], total: 0 });
  });

  it('listSharedBuckets throws 404 project_not_found', async () => {
    await expectHttpError(invoke(listSharedBuckets, 'GET', '/projects/nope/shared-buckets', P('nope')), 404, 'project_not_found');
  });
});

describe('handlers/sharing/unshare.ts', () => {
  const url = '/projects/p1/buckets/in_c_sales/share';

  it('unshareBucket throws 409 bucket_in_use while p2 links the bucket', async () => {
    await expectHttpError(invoke(unshareBucket, 'DELETE', `${url}?target_project_id=p2`, B('p1', 'in_c_sales')), 409, 'bucket_in_use');
    expect(t.services.catalog.getBucket('p2', 'from_p1')).toBeTruthy();
  });

  it('unshareBucket throws 422 without target_project_id', async () => {
    await expectHttpError(invoke(unshareBucket, 'DELETE', url, B('p1', 'in_c_sales')), 422, 'validation_error');
  });
});

describe('handlers/sharing/unlink.ts', () => {
  it('unlinkBucket removes the link and leaves the source', async () => {
    const res = await invoke(unlinkBucket, 'DELETE', '/projects/p2/buckets/from_p1/link', B('p2', 'from_p1'), undefined, { principal: asProject('p2') });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(t.services.catalog.getBucket('p2', 'from_p1')).toBeFalsy();
    expect(t.services.catalog.getTable('p1', 'in_c_sales', 'orders')).toBeTruthy();
  });

  it('unlinkBucket throws 404 link_not_found for a bucket that is not a link', async () => {
    await expectHttpError(invoke(unlinkBucket, 'DELETE', '/projects/p2/buckets/from_p1/link', B('p2', 'from_p1')), 404, 'link_not_found');
    await expectHttpError(invoke(unlinkBucket, 'DELETE', '/projects/p1/buckets/in_c_sales/link', B('p1', 'in_c_sales')), 404, 'link_not_found');
  });

  it('unshareBucket (handlers/sharing/unshare.ts) then withdraws the share; again is 404 share_not_found', async () => {
    const url = '/projects/p1/buckets/in_c_sales/share?target_project_id=p2';
    const res = await invoke(unshareBucket, 'DELETE', url, B('p1', 'in_c_sales'));
    expect(res.status).toBe(204);
    expect((await invoke(getBucket, 'GET', '/projects/p1/buckets/in_c_sales', B('p1', 'in_c_sales'))).body.shared_with).toEqual([]);
    await expectHttpError(invoke(unshareBucket, 'DELETE', url, B('p1', 'in_c_sales')), 404, 'share_not_found');
  });
});

describe('handlers/sharing/grant-readonly.ts', () => {
  it('grantReadonly sets readonly_access', async () => {
    const res = await invoke(grantReadonly, 'POST', '/projects/p1/buckets/private/grant-readonly', B('p1', 'private'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'success', bucket_name: 'private' });
    expect(typeof res.body.message).toBe('string');
    expect((await invoke(getBucket, 'GET', '/projects/p1/buckets/private', B('p1', 'private'))).body.readonly_access).toBe(true);
  });

  it('grantReadonly throws 404 bucket_not_found', async () => {
    await expectHttpError(invoke(grantReadonly, 'POST', '/projects/p1/buckets/none/grant-readonly', B('p1', 'none')), 404, 'bucket_not_found');
  });
});

describe('handlers/sharing/revoke-readonly.ts', () => {
  it('revokeReadonly clears readonly_access', async () => {
    const res = await invoke(revokeReadonly, 'DELETE', '/projects/p1/buckets/private/grant-readonly', B('p1', 'private'));
    expect(res.status).toBe(204);
    expect((await invoke(getBucket, 'GET', '/projects/p1/buckets/private', B('p1', 'private'))).body.readonly_access).toBe(false);
  });

  it('revokeReadonly throws 404 project_not_found', async () => {
    await expectHttpError(invoke(revokeReadonly, 'DELETE', '/projects/nope/buckets/private/grant-readonly', B('nope', 'private')), 404, 'project_not_found');
  });
});

// ---------------------------------------------------------------- schema and metadata (§12)

describe('handlers/schema/* and handlers/metadata/*', () => {
  const EV = '/projects/p1/buckets/in_c_sales/tables/evolve';
  const ev = T('p1', 'in_c_sales', 'evolve');
  const col = (column: string) => ({ ...ev, column });
  beforeAll(async () => {
    const created = await t.callJson('POST', '/projects/p1/buckets/in_c_sales/tables', { body: { name: 'evolve', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'n', type: 'DOUBLE' }] } });
    expect(created.status).toBe(201);
    expect((await t.call('POST', `${EV}/import`, { raw: 'id,n\n1,1.5\n2,2\n', headers: { 'content-type': 'text/csv' } })).status).toBe(200);
  });
  afterAll(async () => {
    expect((await t.call('DELETE', EV)).status).toBe(204);
  });

  it('addTableColumn adds a column with a default; 409 column_exists', async () => {
    const res = await invoke(addTableColumn, 'POST', `${EV}/columns`, ev, { name: 'w', type: 'BIGINT', default: 7, nullable: false });
    expect(res.status).toBe(201);
    expect(res.body.columns.at(-1)).toEqual({ name: 'w', type: 'BIGINT', nullable: false, ordinal_position: 3, default: 7, metadata: [] });
    await expectHttpError(invoke(addTableColumn, 'POST', `${EV}/columns`, ev, { name: 'W', type: 'INTEGER' }), 409, 'column_exists');
  });

  it('alterTableColumn renames and retypes; 400 conversion_failed; 404 column_not_found', async () => {
    const res = await invoke(alterTableColumn, 'PATCH', `${EV}/columns/w`, col('w'), { name: 'width', type: 'DOUBLE' });
    expect(res.status).toBe(200);
    expect(res.body.columns.at(-1)).toMatchObject({ name: 'width', type: 'DOUBLE', default: 7 });
    const error = await expectHttpError(invoke(alterTableColumn, 'PATCH', `${EV}/columns/n`, col('n'), { type: 'INTEGER' }), 400, 'conversion_failed');
    expect(error.details).toMatchObject({ example: 1.5 });
    await expectHttpError(invoke(alterTableColumn, 'PATCH', `${EV}/columns/none`, col('none'), { type: 'INTEGER' }), 404, 'column_not_found');
  });

  it('setTablePrimaryKey and dropTablePrimaryKey; 404 primary_key_not_found', async () => {
    expect((await invoke(setTablePrimaryKey, 'PUT', `${EV}/primary-key`, ev, { columns: ['id'] })).body.primary_key).toEqual(['id']);
    expect((await invoke(dropTablePrimaryKey, 'DELETE', `${EV}/primary-key`, ev)).body.primary_key).toEqual([]);
    await expectHttpError(invoke(dropTablePrimaryKey, 'DELETE', `${EV}/primary-key`, ev), 404, 'primary_key_not_found');
  });

  it('upsertMetadata, listMetadata and deleteMetadata on a column; 404 metadata_not_found', async () => {
    const url = `${EV}/columns/width/metadata`;
    const res = await invoke(upsertMetadata, 'POST', url, col('width'), { metadata: [{ key: 'KBC.description', value: 'how wide' }] });
    expect(res.body.metadata).toEqual([{ key: 'KBC.description', value: 'how wide', provider: 'user', updated_at: expect.stringMatching(ISO) }]);
    expect((await invoke(listMetadata, 'GET', url, col('width'))).body.metadata).toHaveLength(1);
    expect((await invoke(deleteMetadata, 'DELETE', `${url}/KBC.description`, { ...col('width'), key: 'KBC.description' })).status).toBe(204);
    await expectHttpError(invoke(deleteMetadata, 'DELETE', `${url}/KBC.description`, { ...col('width'), key: 'KBC.description' }), 404, 'metadata_not_found');
  });

  it('dropTableColumn drops a column; 400 last_column is not reached while others remain', async () => {
    const res = await invoke(dropTableColumn, 'DELETE', `${EV}/columns/width`, col('width'));
    expect(res.body.columns.map((c: any) => c.name)).toEqual(['id', 'n']);
    await expectHttpError(invoke(dropTableColumn, 'DELETE', `${EV}/columns/width`, col('width')), 404, 'column_not_found');
  });

  it('getTableProfile profiles the table', async () => {
    const res = await invoke(getTableProfile, 'GET', `${EV}/profile`, ev);
    expect(res.status).toBe(200);
    expect(res.body.row_count).toBe(2);
    expect(res.body.columns[1]).toMatchObject({ name: 'n', min: 1.5, max: 2, null_count: 0, distinct_count: 2 });
  });
});

// ---------------------------------------------------------------- row deletes, stats, deletes

describe('handlers/snapshots/*.ts', () => {
  let id: string;
  const S = (snapshot: string) => ({ id: 'p1', snapshot_id: snapshot });

  it('createTableSnapshot takes a snapshot; listTableSnapshots, listSnapshots and getSnapshot show it', async () => {
    const created = await invoke(createTableSnapshot, 'POST', `${ORDERS}/snapshots`, orders, { description: 'direct' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ bucket: 'in_c_sales', table: 'orders', kind: 'manual', description: 'direct' });
    id = created.body.id;
    expect((await invoke(listTableSnapshots, 'GET', `${ORDERS}/snapshots`, orders)).body).toMatchObject({ total: 1, snapshots: [{ id }] });
    expect((await invoke(listSnapshots, 'GET', '/projects/p1/snapshots?kind=manual', P('p1'))).body).toMatchObject({ total: 1, snapshots: [{ id }] });
    expect((await invoke(getSnapshot, 'GET', `/projects/p1/snapshots/${id}`, S(id))).body.id).toBe(id);
    await expectHttpError(invoke(getSnapshot, 'GET', '/projects/p1/snapshots/s_000000000000', S('s_000000000000')), 404, 'snapshot_not_found');
  });

  it('restoreTableSnapshot restores into a new table (409 table_exists in place)', async () => {
    await expectHttpError(invoke(restoreTableSnapshot, 'POST', `/projects/p1/snapshots/${id}/restore`, S(id), {}), 409, 'table_exists');
    const res = await invoke(restoreTableSnapshot, 'POST', `/projects/p1/snapshots/${id}/restore`, S(id), { table: 'orders_copy' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ snapshot_id: id, auto_snapshot_id: null, table: { name: 'orders_copy', bucket: 'in_c_sales' } });
    expect((await invoke(deleteTable, 'DELETE', '/projects/p1/buckets/in_c_sales/tables/orders_copy', T('p1', 'in_c_sales', 'orders_copy'))).status).toBe(204);
  });

  it('getSnapshotSettings and putSnapshotSettings', async () => {
    expect((await invoke(getSnapshotSettings, 'GET', '/projects/p1/settings/snapshots', P('p1'))).body.manual_retention_days).toBe(90);
    const put = await invoke(putSnapshotSettings, 'PUT', '/projects/p1/settings/snapshots', P('p1'), { manual_retention_days: 30 });
    expect(put.body.manual_retention_days).toBe(30);
    await expectHttpError(invoke(putSnapshotSettings, 'PUT', '/projects/p1/settings/snapshots', P('p1'), { manual_retention_days: 0 }), 422, 'validation_error');
  });

  it('deleteSnapshot deletes it', async () => {
    expect((await invoke(deleteSnapshot, 'DELETE', `/projects/p1/snapshots/${id}`, S(id))).status).toBe(204);
    await expectHttpError(invoke(deleteSnapshot, 'DELETE', `/projects/p1/snapshots/${id}`, S(id)), 404, 'snapshot_not_found');
  });
});

describe('handlers/data/delete-rows.ts', () => {
  it('deleteTableRows deletes the matching rows and counts them', async () => {
    const res = await invoke(deleteTableRows, 'POST', `${ORDERS}/delete-rows`, orders, { filters: [{ column: 'id', operator: 'eq', values: [2] }] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deleted_rows: 1, row_count: 2 });
    const preview = await invoke(previewTable, 'GET', `${ORDERS}/preview`, orders);
    expect(preview.body.rows.map((r: any) => r.id).sort()).toEqual([1, 3]);
  });

  it('deleteTableRows throws 422 validation_error without filters', async () => {
    await expectHttpError(invoke(deleteTableRows, 'POST', `${ORDERS}/delete-rows`, orders, { filters: [] }), 422, 'validation_error');
  });
});

describe('handlers/data/truncate.ts', () => {
  it('truncateTable deletes every row', async () => {
    const res = await invoke(truncateTable, 'POST', `${ORDERS}/truncate`, orders);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deleted_rows: 2, row_count: 0 });
    expect((await invoke(getTable, 'GET', ORDERS, orders)).body.row_count).toBe(0);
    expect((await invoke(previewTable, 'GET', `${ORDERS}/preview`, orders)).body.rows).toEqual([]);
  });

  it('truncateTable throws 404 table_not_found', async () => {
    await expectHttpError(invoke(truncateTable, 'POST', '/projects/p1/buckets/in_c_sales/tables/none/truncate', T('p1', 'in_c_sales', 'none')), 404, 'table_not_found');
  });
});

describe('handlers/projects/stats.ts', () => {
  it('getProjectStats measures the project live', async () => {
    const res = await invoke(getProjectStats, 'GET', '/projects/p1/stats', P('p1'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'p1', table_count: 1, bucket_count: 2 });
    expect(res.body.size_bytes).toBeGreaterThan(0);
  });

  it('getProjectStats throws 404 not_found', async () => {
    await expectHttpError(invoke(getProjectStats, 'GET', '/projects/nope/stats', P('nope')), 404, 'not_found');
  });
});

describe('handlers/tables/delete.ts', () => {
  it('deleteTable removes the table and its file', async () => {
    const file = t.services.paths.tableFile('p1', 'in_c_sales', 'orders');
    const res = await invoke(deleteTable, 'DELETE', ORDERS, orders);
    expect(res.status).toBe(204);
    expect(existsSync(file)).toBe(false);
    expect(t.services.catalog.getTable('p1', 'in_c_sales', 'orders')).toBeFalsy();
  });

  it('deleteTable throws 404 table_not_found the second time', async () => {
    await expectHttpError(invoke(deleteTable, 'DELETE', ORDERS, orders), 404, 'table_not_found');
  });
});

describe('handlers/buckets/delete.ts', () => {
  it('deleteBucket throws 409 bucket_not_empty with cascade=false while a table remains', async () => {
    const created = await invoke(createTable, 'POST', '/projects/p1/buckets/private/tables', B('p1', 'private'), { name: 'kept', columns: [{ name: 'x', type: 'INT' }] });
    expect(created.status).toBe(201);
    await expectHttpError(invoke(deleteBucket, 'DELETE', '/projects/p1/buckets/private?cascade=false', B('p1', 'private')), 409, 'bucket_not_empty');
    expect(existsSync(t.services.paths.tableFile('p1', 'private', 'kept'))).toBe(true);
  });

  it('deleteBucket deletes the bucket with its tables', async () => {
    const file = t.services.paths.tableFile('p1', 'private', 'kept');
    const res = await invoke(deleteBucket, 'DELETE', '/projects/p1/buckets/private', B('p1', 'private'));
    expect(res.status).toBe(204);
    expect(t.services.catalog.getBucket('p1', 'private')).toBeFalsy();
    expect(existsSync(file)).toBe(false);
  });

  it('deleteBucket throws 404 bucket_not_found', async () => {
    await expectHttpError(invoke(deleteBucket, 'DELETE', '/projects/p1/buckets/private', B('p1', 'private')), 404, 'bucket_not_found');
  });
});

describe('handlers/branches/*.ts', () => {
  let id = '';
  const BR = () => `/projects/p2/branches/${id}`;

  it('createBranch, listBranches and getBranch', async () => {
    const created = await invoke(createBranch, 'POST', '/projects/p2/branches', P('p2'), { name: 'direct' });
    expect(created.status).toBe(201);
    id = created.body.id;
    await expectHttpError(invoke(createBranch, 'POST', '/projects/p2/branches', P('p2'), { name: 'DIRECT' }), 409, 'branch_exists');
    const list = await invoke(listBranches, 'GET', '/projects/p2/branches', P('p2'));
    expect(list.body.branches.map((b: any) => b.id)).toEqual(['default', id]);
    const got = await invoke(getBranch, 'GET', BR(), { id: 'p2', branch: id }, undefined, { branch: id });
    expect(got.body).toEqual(created.body);
    await expectHttpError(invoke(getBranch, 'GET', '/projects/p2/branches/b_000000000000', { id: 'p2', branch: 'b_000000000000' }, undefined, { branch: 'b_000000000000' }), 404, 'branch_not_found');
  });

  it('a table handler works in the branch of ctx.branch; changes, reset and merge', async () => {
    const made = await invoke(createBucket, 'POST', `${BR()}/buckets`, { id: 'p2', branch: id }, { name: 'devb' }, { branch: id });
    expect(made.status).toBe(201);
    const table = await invoke(createTable, 'POST', `${BR()}/buckets/devb/tables`, { id: 'p2', branch: id, bucket: 'devb' }, { name: 'x', columns: [{ name: 'id', type: 'INT' }] }, { branch: id });
    expect(table.body.branch_state).toBe('created');
    expect(t.services.catalog.getBucket('p2', 'devb')).toBeUndefined();
    const changes = await invoke(getBranchChanges, 'GET', `${BR()}/changes`, { id: 'p2', branch: id }, undefined, { branch: id });
    expect(changes.body).toEqual({ tables: [{ bucket: 'devb', table: 'x', state: 'created', main_changed: false }], buckets: [{ bucket: 'devb', state: 'created' }] });
    const params = { id: 'p2', branch: id, bucket: 'devb', table: 'x' };
    await expectHttpError(invoke(resetTable, 'POST', `${BR()}/buckets/devb/tables/x/reset`, params, undefined, { branch: id }), 400, 'not_in_main');
    const merged = await invoke(mergeTable, 'POST', `${BR()}/buckets/devb/tables/x/merge`, params, {}, { branch: id });
    expect(merged.body).toMatchObject({ table: { name: 'x', bucket: 'devb' }, snapshot_id: null });
    expect(t.services.catalog.getTable('p2', 'devb', 'x')).toBeDefined();
    await expectHttpError(invoke(mergeTable, 'POST', `${BR()}/buckets/devb/tables/x/merge`, params, {}, { branch: id }), 400, 'nothing_to_merge');
  });

  it('deleteBranch removes it; the default branch answers 400 invalid_branch', async () => {
    await expectHttpError(invoke(deleteBranch, 'DELETE', '/projects/p2/branches/default', { id: 'p2', branch: 'default' }, undefined, { branch: 'default' }), 400, 'invalid_branch');
    const res = await invoke(deleteBranch, 'DELETE', BR(), { id: 'p2', branch: id }, undefined, { branch: id });
    expect(res.status).toBe(204);
    expect(t.services.branches.get('p2', id)).toBeUndefined();
  });
});

describe('handlers/projects/delete.ts', () => {
  it('deleteProject soft-deletes p1: folder gone, key revoked, admin still sees it', async () => {
    const folder = join(t.services.paths.folders.duckdb_dir, 'project_p1');
    expect(existsSync(folder)).toBe(true);
    const res = await invoke(deleteProject, 'DELETE', '/projects/p1', P('p1'), undefined, { principal: asProject('p1') });
    expect(res.status).toBe(204);
    expect(existsSync(folder)).toBe(false);
    expect(t.services.catalog.getActiveProject('p1')).toBeFalsy();
    const seen = await invoke(getProject, 'GET', '/projects/p1', P('p1'), undefined, { principal: ADMIN });
    expect(seen.body).toMatchObject({ id: 'p1', status: 'deleted' });
    const listed = await invoke(listProjects, 'GET', '/projects?status=deleted');
    expect(listed.body).toMatchObject({ total: 1, projects: [expect.objectContaining({ id: 'p1' })] });
  });

  it('deleteProject throws 404 not_found for a deleted project; getProject hides it from a project principal', async () => {
    await expectHttpError(invoke(deleteProject, 'DELETE', '/projects/p1', P('p1')), 404, 'not_found');
    await expectHttpError(invoke(getProject, 'GET', '/projects/p1', P('p1'), undefined, { principal: asProject('p1') }), 404, 'not_found');
    await expectHttpError(invoke(updateProject, 'PUT', '/projects/p1', P('p1'), { name: 'x' }), 404, 'not_found');
  });
});

describe('SQL and workspace handlers, called directly', () => {
  it('query, then a workspace from create to delete', async () => {
    await invoke(createProject, 'POST', '/projects', {}, { id: 'sqld' });
    await invoke(createBucket, 'POST', '/projects/sqld/buckets', { id: 'sqld' }, { name: 'b' });
    await invoke(createTable, 'POST', '/projects/sqld/buckets/b/tables', { id: 'sqld', bucket: 'b' }, { name: 't', columns: [{ name: 'x', type: 'INTEGER' }] });
    const q = await invoke(queryProject, 'POST', '/projects/sqld/query', { id: 'sqld' }, { sql: 'SELECT count(*) AS n FROM b.t' });
    expect(q.body.rows).toEqual([{ n: 0 }]);
    const ws = await invoke(createWorkspace, 'POST', '/projects/sqld/workspaces', { id: 'sqld' }, {});
    expect(ws.status).toBe(201);
    const p = { id: 'sqld', ws: ws.body.id };
    expect((await invoke(listWorkspaces, 'GET', '/projects/sqld/workspaces', { id: 'sqld' })).body.total).toBe(1);
    expect((await invoke(loadWorkspace, 'POST', `/projects/sqld/workspaces/${p.ws}/load`, p, { tables: [{ source: 'b.t', destination: 't' }] })).status).toBe(200);
    expect((await invoke(queryWorkspace, 'POST', `/projects/sqld/workspaces/${p.ws}/query`, p, { sql: 'INSERT INTO t VALUES (5)' })).body.results[0].changed_rows).toBe(1);
    const u = await invoke(unloadWorkspace, 'POST', `/projects/sqld/workspaces/${p.ws}/unload`, p, { source: 't', bucket: 'b', table: 't' });
    expect(u.body.imported_rows).toBe(1);
    expect((await invoke(getWorkspace, 'GET', `/projects/sqld/workspaces/${p.ws}`, p)).body.tables[0].row_count).toBe(1);
    expect((await invoke(deleteWorkspace, 'DELETE', `/projects/sqld/workspaces/${p.ws}`, p)).status).toBe(204);
  });
});

describe('every handler file is covered above', () => {
  it('lists no handler export that this file does not import', async () => {
    const imported = [
      getDocs, getDocsAsset, getUiPage, getUiAsset, getHealth, initBackend, getMetrics, getOpenApi, removeBackend, getRoot,
      createProject, deleteProject, getProject, listProjects, getProjectStats, updateProject,
      createBucket, deleteBucket, getBucket, listBuckets,
      createTable, deleteTable, getTable, listTables, previewTable,
      deleteTableRows, exportTableGet, exportTablePost, importTable, previewFiltered, truncateTable,
      grantReadonly, linkBucket, revokeReadonly, shareBucket, listSharedBuckets, unlinkBucket, unshareBucket,
      createKey, getCurrentKey, deleteKey, getKey, listKeys, rotateKey,
      createBranch, listBranches, getBranch, deleteBranch, getBranchChanges, resetTable, mergeTable,
      queryProject, createWorkspace, deleteWorkspace, getWorkspace, listWorkspaces, loadWorkspace, queryWorkspace, unloadWorkspace,
      createTableSnapshot, deleteSnapshot, getSnapshot, listTableSnapshots, listSnapshots, restoreTableSnapshot, getSnapshotSettings, putSnapshotSettings,
      addTableColumn, alterTableColumn, dropTableColumn, setTablePrimaryKey, dropTablePrimaryKey, getTableProfile,
      listMetadata, upsertMetadata, deleteMetadata,
      uploadFile, listFiles, getFile, downloadFile, deleteFile, importAsync, exportAsync, getJob, listJobs, cancelJob,
    ];
    const { routes } = await import('../src/routes.ts');
    const routed = new Set(routes.map((r) => r.handler));
    expect([...routed].filter((h) => !imported.includes(h))).toEqual([]);
  });
});
