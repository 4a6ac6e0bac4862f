/**
 * Request and response types of the client. Request types come from the valibot schemas
 * the server validates with, and the object types from the server's own view functions,
 * all as type-only imports: they cannot drift from the server, and the client bundle
 * carries none of its code. Envelopes the handlers build inline are written out here.
 */
import type * as v from 'valibot';
import type { CreateBucketSchema } from '../../handlers/buckets/create.ts';
import type { DeleteBucketQuerySchema } from '../../handlers/buckets/delete.ts';
import type { DeleteRowsSchema } from '../../handlers/data/delete-rows.ts';
import type { ExportBodySchema, ExportQuerySchema } from '../../handlers/data/export.ts';
import type { ImportQuerySchema } from '../../handlers/data/import.ts';
import type { FilteredPreviewSchema } from '../../handlers/data/preview.ts';
import type { CreateApiKeySchema } from '../../handlers/keys/create.ts';
import type { CreateBranchSchema } from '../../handlers/branches/create.ts';
import type { MergeTableSchema } from '../../handlers/branches/merge.ts';
import type { CreateProjectSchema } from '../../handlers/projects/create.ts';
import type { ListProjectsQuerySchema } from '../../handlers/projects/list.ts';
import type { UpdateProjectSchema } from '../../handlers/projects/update.ts';
import type { LinkBucketSchema } from '../../handlers/sharing/link.ts';
import type { ShareBucketSchema } from '../../handlers/sharing/share.ts';
import type { UnshareQuerySchema } from '../../handlers/sharing/unshare.ts';
import type { CreateTableSchema } from '../../handlers/tables/create.ts';
import type { PreviewQuerySchema } from '../../handlers/tables/preview.ts';
import type { ListFilesQuerySchema } from '../../handlers/files/list.ts';
import type { UploadQuerySchema } from '../../handlers/files/upload.ts';
import type { GetJobQuerySchema } from '../../handlers/jobs/get.ts';
import type { ImportAsyncSchema } from '../../handlers/jobs/import-async.ts';
import type { ListJobsQuerySchema } from '../../handlers/jobs/list.ts';
import type { DeleteMetadataQuerySchema } from '../../handlers/metadata/delete.ts';
import type { UpsertMetadataSchema } from '../../handlers/metadata/upsert.ts';
import type { AddColumnSchema } from '../../handlers/schema/add-column.ts';
import type { AlterColumnSchema } from '../../handlers/schema/alter-column.ts';
import type { SetPrimaryKeySchema } from '../../handlers/schema/set-primary-key.ts';
import type { CreateSnapshotSchema } from '../../handlers/snapshots/create.ts';
import type { ListTableSnapshotsQuerySchema } from '../../handlers/snapshots/list-table.ts';
import type { ListSnapshotsQuerySchema } from '../../handlers/snapshots/list.ts';
import type { RestoreSnapshotSchema } from '../../handlers/snapshots/restore.ts';
import type { SnapshotSettingsSchema } from '../../handlers/snapshots/settings-put.ts';
import type { QuerySchema } from '../../handlers/sql/query.ts';
import type { CreateWorkspaceSchema } from '../../handlers/workspaces/create.ts';
import type { LoadWorkspaceSchema } from '../../handlers/workspaces/load.ts';
import type { WorkspaceQuerySchema } from '../../handlers/workspaces/query.ts';
import type { UnloadWorkspaceSchema } from '../../handlers/workspaces/unload.ts';
import type { fileView, jobView } from '../http/file-views.ts';
import type { snapshotSettingsView, snapshotView } from '../http/snapshot-view.ts';
import type { bucketView, columnViews, metadataView, tableView } from '../http/views.ts';
import type { keyView } from '../storage/api-keys.ts';
import type { ColumnProfile } from '../storage/profile.ts';
import type { projectView, ProjectStats as StoredProjectStats } from '../storage/projects.ts';
import type { StatementResult, workspaceView } from '../storage/sql/workspaces.ts';

/** A JSON body as the caller writes it: the schema's input (defaults optional). */
export type BodyInput<S extends v.GenericSchema> = v.InferInput<S>;

type QueryField<T> = [T] extends ['true' | 'false'] ? boolean | T : string extends T ? string | number | readonly string[] : T;

/**
 * A query string as the caller writes it: the schema's fields, with numbers for the
 * numeric ones, booleans for `true`/`false`, and lists for comma-separated ones.
 */
export type QueryInput<S extends v.GenericSchema> = { [K in keyof v.InferInput<S>]?: QueryField<NonNullable<v.InferInput<S>[K]>> };

// Requests.
export type CreateProjectInput = BodyInput<typeof CreateProjectSchema>;
export type UpdateProjectInput = BodyInput<typeof UpdateProjectSchema>;
export type ListProjectsQuery = QueryInput<typeof ListProjectsQuerySchema>;
export type CreateBucketInput = BodyInput<typeof CreateBucketSchema>;
export type DeleteBucketQuery = QueryInput<typeof DeleteBucketQuerySchema>;
export type CreateTableInput = BodyInput<typeof CreateTableSchema>;
export type ColumnInput = CreateTableInput['columns'][number];
export type PreviewQuery = QueryInput<typeof PreviewQuerySchema>;
export type FilteredPreviewInput = BodyInput<typeof FilteredPreviewSchema>;
export type Filter = NonNullable<FilteredPreviewInput['filters']>[number];
export type OrderBy = NonNullable<FilteredPreviewInput['order_by']>[number];
export type ExportQuery = QueryInput<typeof ExportQuerySchema>;
export type ExportInput = BodyInput<typeof ExportBodySchema>;
export type ExportFormat = NonNullable<ExportInput['format']>;
export type ImportQuery = QueryInput<typeof ImportQuerySchema>;
export type DeleteRowsInput = BodyInput<typeof DeleteRowsSchema>;
export type ShareBucketInput = BodyInput<typeof ShareBucketSchema>;
export type UnshareQuery = QueryInput<typeof UnshareQuerySchema>;
export type LinkBucketInput = BodyInput<typeof LinkBucketSchema>;
export type CreateApiKeyInput = BodyInput<typeof CreateApiKeySchema>;

// Objects (§4, §5, §7, §11), typed by the functions that build them.
export type Project = Awaited<ReturnType<typeof projectView>>;
export type Bucket = ReturnType<typeof bucketView>;
export type Column = ReturnType<typeof columnViews>[number];
export type Table = Awaited<ReturnType<typeof tableView>>;
export type ApiKey = ReturnType<typeof keyView>;

// Envelopes and answers built inline by the handlers.
export interface ServiceInfo {
  service: string;
  version: string;
  health: string;
  docs: string;
}
export interface Health {
  status: 'healthy';
  version: string;
  storage_available: true;
  details: Record<string, boolean>;
}
export interface BackendInit {
  success: true;
  message: string;
  storage_paths: Record<string, string>;
}
export interface BackendRemove {
  success: true;
  message: string;
  storage_paths: null;
}
export type CreatedProject = Project & { api_key: string };
export interface ProjectList {
  projects: Project[];
  total: number;
}
export type ProjectStats = StoredProjectStats & { id: string };
export interface BucketList {
  buckets: Bucket[];
  total: number;
}
export interface TableList {
  tables: Table[];
  total: number;
}
export interface Preview {
  columns: Column[];
  rows: Record<string, unknown>[];
  total_row_count: number;
  preview_row_count: number;
}
export interface ImportResult {
  imported_rows: number;
  row_count: number;
  table: Table;
}
export interface DeleteRowsResult {
  deleted_rows: number;
  row_count: number;
}
export interface ShareResult {
  shared_with: string[];
  is_linked: false;
  source_project_id: null;
  source_bucket_name: null;
}
export interface GrantReadonlyResult {
  status: 'success';
  message: string;
  bucket_name: string;
}
export interface SharedBucket {
  source_project_id: string;
  source_bucket_name: string;
  description: string | null;
  table_count: number;
  linked_as: string | null;
}
export interface SharedBucketList {
  buckets: SharedBucket[];
  total: number;
}
export type CreatedApiKey = ApiKey & { api_key: string };
export interface ApiKeyList {
  api_keys: ApiKey[];
  total: number;
}
/** `GET P/api-keys/current`: the calling key, or the service admin key's placeholder. */
export type CurrentKey = ApiKey | { id: null; scope: 'service_admin' };

// §12 schema, metadata, profile.
export type AddColumnInput = BodyInput<typeof AddColumnSchema>;
export type AlterColumnInput = BodyInput<typeof AlterColumnSchema>;
export type SetPrimaryKeyInput = BodyInput<typeof SetPrimaryKeySchema>;
export type UpsertMetadataInput = BodyInput<typeof UpsertMetadataSchema>;
export type DeleteMetadataQuery = QueryInput<typeof DeleteMetadataQuerySchema>;
export type MetadataEntry = ReturnType<typeof metadataView>[number];
export interface MetadataList {
  metadata: MetadataEntry[];
}
export interface TableProfile {
  row_count: number;
  profiled_at: string;
  columns: ColumnProfile[];
}

// §13 snapshots.
export type CreateSnapshotInput = BodyInput<typeof CreateSnapshotSchema>;
export type ListTableSnapshotsQuery = QueryInput<typeof ListTableSnapshotsQuerySchema>;
export type ListSnapshotsQuery = QueryInput<typeof ListSnapshotsQuerySchema>;
export type RestoreSnapshotInput = BodyInput<typeof RestoreSnapshotSchema>;
export type SnapshotSettingsInput = BodyInput<typeof SnapshotSettingsSchema>;
export type Snapshot = ReturnType<typeof snapshotView>;
export type SnapshotSettings = ReturnType<typeof snapshotSettingsView>;
export interface SnapshotList {
  snapshots: Snapshot[];
  total: number;
}
export interface RestoreResult {
  table: Table;
  snapshot_id: string;
  auto_snapshot_id: string | null;
}

// §15 files.
export type UploadFileQuery = QueryInput<typeof UploadQuerySchema>;
export type ListFilesQuery = QueryInput<typeof ListFilesQuerySchema>;
export type StoredFile = ReturnType<typeof fileView>;
export interface FileList {
  files: StoredFile[];
  total: number;
}

// §16 jobs.
export type ImportAsyncInput = BodyInput<typeof ImportAsyncSchema>;
export type ListJobsQuery = QueryInput<typeof ListJobsQuerySchema>;
export type GetJobQuery = QueryInput<typeof GetJobQuerySchema>;
export type Job = ReturnType<typeof jobView>;
export type JobStatus = Job['status'];
export interface JobList {
  jobs: Job[];
  total: number;
}
/** The `result` of a finished export job. */
export interface ExportJobResult {
  file_id: string;
  rows: number;
  size_bytes: number;
}

// §17 SQL and workspaces.
export type SqlQueryInput = BodyInput<typeof QuerySchema>;
export interface SqlQueryResult {
  columns: { name: string; type: string }[];
  rows: Record<string, unknown>[];
  row_count: number;
  truncated: boolean;
  elapsed_ms: number;
}
export type CreateWorkspaceInput = BodyInput<typeof CreateWorkspaceSchema>;
export type LoadWorkspaceInput = BodyInput<typeof LoadWorkspaceSchema>;
export type WorkspaceQueryInput = BodyInput<typeof WorkspaceQuerySchema>;
export type UnloadWorkspaceInput = BodyInput<typeof UnloadWorkspaceSchema>;
export type Workspace = ReturnType<typeof workspaceView>;
export interface WorkspaceList {
  workspaces: Workspace[];
  total: number;
}
export type WorkspaceStatementResult = StatementResult;
export interface WorkspaceQueryResult {
  results: WorkspaceStatementResult[];
}
export interface UnloadResult {
  table: Table;
  imported_rows: number;
}

/** A streamed answer (exports, file downloads): read `body` once. */
export interface Download {
  body: ReadableStream<Uint8Array>;
  contentType: string | null;
  /** From `Content-Disposition`. */
  filename: string | null;
  /** From `Content-Length`, when the server sent one. */
  size: number | null;
  response: Response;
}

// ---- §14 development branches --------------------------------------------------------

export type CreateBranchInput = BodyInput<typeof CreateBranchSchema>;
export type MergeTableInput = BodyInput<typeof MergeTableSchema>;

/** A branch; `default` is main, named `Main`. */
export interface Branch {
  id: string;
  name: string;
  description: string | null;
  is_default: boolean;
  created_at: string;
}

export interface BranchList {
  branches: Branch[];
  total: number;
}

/** What a branch holds apart from main. */
export interface BranchChanges {
  tables: { bucket: string; table: string; state: 'copied' | 'created' | 'deleted'; main_changed: boolean }[];
  buckets: { bucket: string; state: 'created' | 'deleted' }[];
}

export interface MergeResult {
  /** Main's table after the merge; null when the merge dropped it. */
  table: Table | null;
  /** The auto snapshot of main's table taken first; null when main had no such table. */
  snapshot_id: string | null;
}
