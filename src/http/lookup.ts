import type { WorkspaceRecord } from '../storage/catalog/workspaces.ts';
import { allowedBuckets, mayReachBucket } from '../auth/guards.ts';
import type { HandlerContext } from '../context.ts';
import type { BucketRecord, ProjectRecord, TableRecord } from '../storage/catalog.ts';
import type { BranchRecord } from '../storage/catalog/branches.ts';
import type { SnapshotRecord } from '../storage/catalog/snapshots.ts';
import { HttpError, errors } from './errors.ts';
import { validate } from './request.ts';
import * as v from 'valibot';
import { BranchIdSchema, BucketNameSchema, ColumnNameSchema, FileIdSchema, JobIdSchema, MetadataKeySchema, ProjectIdSchema, SnapshotIdSchema, TableNameSchema, WorkspaceIdSchema } from './schemas.ts';
import type { FileRecord } from '../storage/catalog/files.ts';
import type { JobRecord } from '../storage/catalog/jobs.ts';
import { bucketIn, isDevBranch, MAIN, tableIn } from '../storage/locator.ts';

/** Every name and id a project route's path may hold, in the order they are checked. */
const PATH_NAMES: Record<string, v.GenericSchema<unknown, unknown>> = {
  id: ProjectIdSchema,
  branch: BranchIdSchema,
  bucket: BucketNameSchema,
  table: TableNameSchema,
  column: ColumnNameSchema,
  key: MetadataKeySchema,
  snapshot_id: SnapshotIdSchema,
  file_id: FileIdSchema,
  job_id: JobIdSchema,
  ws: WorkspaceIdSchema,
};

/** A path parameter, percent-decoding undone (a metadata key may hold `:`, which clients encode). */
export function pathParam(ctx: HandlerContext, name: string): string {
  const raw = ctx.params[name] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Part II order of checks: every name in the path is validated (422) before anything is
 * looked up, so `P/branches/nope/buckets/a.b` is a 422, not a 404 of the branch.
 */
export function validatePathNames(ctx: HandlerContext): void {
  for (const [name, schema] of Object.entries(PATH_NAMES)) {
    if (ctx.params[name] !== undefined) validate(schema, pathParam(ctx, name), `path.${name}`);
  }
}

/** §4: the project named in the path; 404 `not_found` unless active (or `allowDeleted`). */
export function projectFromPath(ctx: HandlerContext, allowDeleted = false): ProjectRecord {
  const id = validate(ProjectIdSchema, ctx.params.id, 'path.id');
  const project = ctx.services.catalog.getProject(id);
  if (!project || (project.status !== 'active' && !allowDeleted)) {
    throw errors.notFound(id);
  }
  ctx.logFields.project_id = project.id;
  return project;
}

/** §5–§8: the active project of the path; 404 `project_not_found` otherwise. */
export function scopedProject(ctx: HandlerContext): ProjectRecord {
  validatePathNames(ctx);
  const id = validate(ProjectIdSchema, ctx.params.id, 'path.id');
  const project = ctx.services.catalog.getActiveProject(id);
  if (!project) throw errors.projectNotFound(id);
  ctx.logFields.project_id = project.id;
  branchOfPath(ctx, project);
  return project;
}

/**
 * §14: the branch a route under `P/branches/{branch}/…` addresses — `default` (main) or a
 * development branch of the project, else 404 `branch_not_found` (checked right after the
 * project, before any bucket). Leaves the branch's id in `ctx.branch`.
 */
export function branchOfPath(ctx: HandlerContext, project: ProjectRecord): string {
  if (ctx.branch === undefined) return MAIN;
  const id = validate(BranchIdSchema, ctx.branch, 'path.branch').toLowerCase();
  if (id !== MAIN && !ctx.services.branches.get(project.id, id)) throw errors.branchNotFound(project.id, id);
  ctx.branch = id;
  if (id !== MAIN) ctx.logFields.branch = id;
  return id;
}

/** §14: the branch of `P/branches/{branch}` (undefined for the default branch), after the project. */
export function branchFromPath(ctx: HandlerContext): { project: ProjectRecord; branch: BranchRecord | undefined } {
  const project = scopedProject(ctx);
  const id = ctx.branch ?? MAIN;
  return { project, branch: id === MAIN ? undefined : ctx.services.branches.get(project.id, id) };
}

/** A development branch of the path; 400 `invalid_branch` (with `message`) for the default branch. */
export function devBranchFromPath(ctx: HandlerContext, message: string): { project: ProjectRecord; branch: BranchRecord } {
  const { project, branch } = branchFromPath(ctx);
  if (!branch) throw errors.invalidBranch(message, MAIN);
  return { project, branch };
}

/** 400 `main_branch_only` for a route of §6 (sharing) called under a development branch. */
export function requireMainBranch(ctx: HandlerContext): void {
  if (isDevBranch(ctx.branch)) throw errors.mainBranchOnly(ctx.branch);
}

/** The bucket of the path (own or linked); 404 `bucket_not_found` when missing. */
export function bucketFromPath(ctx: HandlerContext): { project: ProjectRecord; bucket: BucketRecord } {
  const project = scopedProject(ctx);
  const name = validate(BucketNameSchema, ctx.params.bucket, 'path.bucket');
  const bucket = bucketIn(ctx.services, project.id, ctx.branch, name);
  if (!bucket) {
    throw errors.bucketNotFound(project.id, name);
  }
  return { project, bucket };
}

/** Where a bucket's tables live: the source bucket for a linked one, itself otherwise. */
export function dataBucket(ctx: HandlerContext, bucket: BucketRecord): BucketRecord {
  if (!bucket.source) return bucket;
  const source = ctx.services.catalog.getBucket(bucket.source.projectId, bucket.source.bucket);
  if (!source) {
    throw errors.bucketNotFound(bucket.projectId, bucket.name);
  }
  return source;
}

/** 403 `bucket_readonly` for writes into a linked bucket. */
export function requireWritable(bucket: BucketRecord): void {
  if (bucket.source) {
    throw new HttpError(403, 'bucket_readonly', `Bucket ${bucket.name} is linked from ${bucket.source.projectId}.${bucket.source.bucket} and is read-only`, {
      project_id: bucket.projectId,
      bucket_name: bucket.name,
    });
  }
}

/**
 * The table of the path, read through a link when the bucket is linked; 404
 * `table_not_found` when missing. `table.bucket`/`table.projectId` name where the rows live.
 */
export function tableFromPath(ctx: HandlerContext): { project: ProjectRecord; bucket: BucketRecord; table: TableRecord } {
  const { project, bucket } = bucketFromPath(ctx);
  const name = validate(TableNameSchema, ctx.params.table, 'path.table');
  if (bucket.source) dataBucket(ctx, bucket);
  const table = tableIn(ctx.services, bucket, name);
  if (!table) {
    throw errors.tableNotFound(project.id, bucket.name, name);
  }
  return { project, bucket, table };
}

/**
 * The table of the path for a write: a linked bucket answers 403 `bucket_readonly` before
 * anything about its tables is looked up, so every write into a link gets the same answer.
 */
export function writableTableFromPath(ctx: HandlerContext): { project: ProjectRecord; bucket: BucketRecord; table: TableRecord } {
  const { bucket } = bucketFromPath(ctx);
  requireWritable(bucket);
  return tableFromPath(ctx);
}

/**
 * The buckets the calling key is restricted to (§11), or null when it may see every bucket.
 * Keys carry the list as `buckets` on their principal once bucket-restricted keys exist.
 */
export function keyBuckets(ctx: HandlerContext): readonly string[] | null {
  return allowedBuckets(ctx.principal);
}

/** §11: a key restricted to some buckets cannot use workspaces (403 `forbidden`). */
export function refuseBucketRestrictedKey(ctx: HandlerContext): void {
  if (keyBuckets(ctx) !== null) throw errors.forbidden('A key restricted to some buckets cannot use workspaces', { project_id: ctx.params.id });
}

/** §13: the snapshot named in the path, of the path's project; 404 `snapshot_not_found` otherwise. */
export function snapshotFromPath(ctx: HandlerContext): { project: ProjectRecord; snapshot: SnapshotRecord } {
  const project = scopedProject(ctx);
  const id = validate(SnapshotIdSchema, ctx.params.snapshot_id, 'path.snapshot_id');
  const snapshot = ctx.services.snapshots.find(project.id, id);
  // A bucket-restricted key does not see snapshots of other buckets: to it they do not exist.
  if (!snapshot || !mayReachBucket(ctx.principal, snapshot.bucket)) throw errors.snapshotNotFound(project.id, id);
  // §13: under P/branches/{branch}/… only that branch's snapshots are reached.
  if (isDevBranch(ctx.branch) && snapshot.branch !== ctx.branch) throw errors.snapshotNotFound(project.id, id);
  return { project, snapshot };
}

/** The calling key's id, recorded as the creator of files and jobs (null for the service admin key). */
export function callerKeyId(ctx: HandlerContext): string | null {
  return ctx.principal?.kind === 'project' ? (ctx.principal.key?.id ?? null) : null;
}

/**
 * §11: a bucket-restricted key sees only the files and jobs it created itself; every other
 * key of the project sees them all.
 */
export function maySee(ctx: HandlerContext, record: { createdBy: string | null }): boolean {
  return keyBuckets(ctx) === null || record.createdBy === callerKeyId(ctx);
}

/** §15: a file of the project the caller may see (a body's `file_id` too); 404 `file_not_found`. */
export function visibleFile(ctx: HandlerContext, projectId: string, id: string): FileRecord {
  const file = ctx.services.files.get(projectId, id);
  if (!file || !maySee(ctx, file)) throw errors.fileNotFound(projectId, id);
  return file;
}

/** §15: the file of the path in the project of the path; 404 `file_not_found`. */
export function fileFromPath(ctx: HandlerContext): { project: ProjectRecord; file: FileRecord } {
  const project = scopedProject(ctx);
  const id = validate(FileIdSchema, ctx.params.file_id, 'path.file_id');
  return { project, file: visibleFile(ctx, project.id, id) };
}

/** §16: the job of the path in the project of the path; 404 `job_not_found`. */
export function jobFromPath(ctx: HandlerContext): { project: ProjectRecord; job: JobRecord } {
  const project = scopedProject(ctx);
  const id = validate(JobIdSchema, ctx.params.job_id, 'path.job_id');
  const job = ctx.services.jobs.get(project.id, id);
  // §14: under P/branches/{branch}/… only that branch's jobs are reached.
  if (!job || !maySee(ctx, job) || (isDevBranch(ctx.branch) && job.branch !== ctx.branch)) throw errors.jobNotFound(project.id, id);
  ctx.logFields.job_id = job.id;
  return { project, job };
}

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
