import * as v from 'valibot';
import { toJsonSchema, type JsonSchema } from '@valibot/to-json-schema';
import type { GenericSchema } from 'valibot';
import { BranchIdSchema, BucketNameSchema, ColumnNameSchema, FileIdSchema, JobIdSchema, ProjectIdSchema, SnapshotIdSchema, TableNameSchema, WorkspaceIdSchema } from './http/schemas.ts';
import { MetadataKeySchema } from './http/schemas.ts';
import { FILES_JOBS_SCHEMAS, FILES_JOBS_STATUS_TEXT, FILES_JOBS_SUCCESS_BODY, FILES_JOBS_SUCCESS_CONTENT, isUpload, UPLOAD_BODY } from './openapi-files-jobs.ts';
import type { RouteDef } from './routes.ts';

/**
 * The OpenAPI 3.1 document, built from the route table at call time: every route that is
 * not `internal` becomes an operation; bodies and query parameters are converted from the
 * very valibot schemas that validate requests, path parameters from the pattern, responses
 * from the route's `responses` list. Nothing here lists endpoints by hand, so a route added
 * to the table is documented without touching this file.
 */

type Schema = JsonSchema | Record<string, unknown>;

const JSON_MEDIA = 'application/json';
/** The data formats of import bodies and export responses (contract §8). */
export const DATA_MEDIA_TYPES = ['text/csv', 'application/x-ndjson', 'application/vnd.apache.parquet'] as const;

/** Path parameters share names across routes; each is validated by one schema. */
const PATH_PARAMS: Record<string, { schema: GenericSchema<unknown, unknown>; description: string }> = {
  id: { schema: ProjectIdSchema, description: 'Project id' },
  bucket: { schema: BucketNameSchema, description: 'Bucket name' },
  table: { schema: TableNameSchema, description: 'Table name' },
  key_id: { schema: v.pipe(v.string(), v.maxLength(64)), description: 'API key id (`k_…`)' },
  branch: { schema: BranchIdSchema, description: 'Branch id: `default` (main) or a development branch (`b_…`)' },
  ws: { schema: WorkspaceIdSchema, description: 'Workspace id' },
  column: { schema: ColumnNameSchema, description: 'Column name' },
  key: { schema: MetadataKeySchema, description: 'Metadata key' },
  snapshot_id: { schema: SnapshotIdSchema, description: 'Snapshot id' },
  file_id: { schema: FileIdSchema, description: 'File id (§15)' },
  job_id: { schema: JobIdSchema, description: 'Job id (§16)' },
};

/** valibot → JSON Schema 2020-12, describing what goes over the wire (before transforms). */
export function wireSchema(schema: GenericSchema<unknown, unknown>): Schema {
  const { $schema: _, ...rest } = toJsonSchema(schema as never, { target: 'draft-2020-12', typeMode: 'input', errorMode: 'ignore' });
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const timestamp = { type: 'string', format: 'date-time', examples: ['2026-11-29T12:21:47.826Z'] };
const count = { type: 'integer', minimum: 0 };
const folders = (type: Schema, example: Record<string, unknown>): Schema => ({
  type: 'object',
  required: ['data_dir', 'duckdb_dir', 'files_dir', 'snapshots_dir'],
  properties: { data_dir: type, duckdb_dir: type, files_dir: type, snapshots_dir: type },
  examples: [example],
});

/** Bodies of successful responses (contract §3–§8). */
const SCHEMAS: Record<string, Schema> = {
  Error: {
    type: 'object',
    description: 'Every error response. `error` is a stable machine code, `message` is for humans.',
    required: ['detail'],
    properties: {
      detail: {
        type: 'object',
        required: ['error', 'message'],
        properties: {
          error: { type: 'string', examples: ['bucket_not_found'] },
          message: { type: 'string', examples: ['Bucket in_c_sales not found in project 123'] },
          details: {
            type: 'object',
            description: 'Facts about the failure; for validation_error, `issues`: [{path, message}]. Never secrets, stacks or host paths.',
            additionalProperties: true,
          },
        },
      },
    },
    examples: [{ detail: { error: 'bucket_not_found', message: 'Bucket in_c_sales not found in project 123', details: { project_id: '123', bucket_name: 'in_c_sales' } } }],
  },
  ApiKey: {
    type: 'object',
    description: 'An API key (§11); never contains the secret. For the service admin key, `current` answers `{"id": null, "scope": "service_admin"}`.',
    required: ['id', 'description', 'scope', 'buckets', 'branch', 'key_prefix', 'created_at', 'expires_at', 'last_used_at', 'rotated_at'],
    properties: {
      id: nullable({ type: 'string', examples: ['k_5f0c2a9e41d7'] }),
      description: nullable({ type: 'string' }),
      scope: { enum: ['admin', 'write', 'read', 'service_admin'] },
      buckets: nullable({ type: 'array', items: { type: 'string' } }),
      branch: nullable({ type: 'string' }),
      key_prefix: { type: 'string', examples: ['proj_123_read_...'] },
      created_at: timestamp,
      expires_at: nullable(timestamp),
      last_used_at: nullable({ ...timestamp, description: 'Kept to within a minute' }),
      rotated_at: nullable(timestamp),
    },
  },
  ApiKeyWithSecret: {
    allOf: [
      ref('ApiKey'),
      { type: 'object', required: ['api_key'], properties: { api_key: { type: 'string', description: 'The secret; shown this once', examples: ['proj_123_read_0123456789abcdef0123456789abcdef'] } } },
    ],
  },
  ApiKeyList: {
    type: 'object',
    required: ['api_keys', 'total'],
    properties: { api_keys: { type: 'array', items: ref('ApiKey') }, total: count },
  },
  ServiceInfo: {
    type: 'object',
    required: ['service', 'version', 'health', 'docs'],
    properties: { service: { type: 'string' }, version: { type: 'string' }, health: { type: 'string' }, docs: { type: 'string' } },
    examples: [{ service: 'DuckDB Storage API', version: '0.1.0', health: '/health', docs: '/docs' }],
  },
  Health: {
    type: 'object',
    required: ['status', 'version', 'storage_available', 'details'],
    properties: {
      status: { const: 'healthy' },
      version: { type: 'string' },
      storage_available: { type: 'boolean' },
      details: folders({ type: 'boolean' }, { data_dir: true, duckdb_dir: true, files_dir: true, snapshots_dir: true }),
    },
  },
  BackendResult: {
    type: 'object',
    required: ['success', 'message', 'storage_paths'],
    properties: {
      success: { type: 'boolean' },
      message: { type: 'string' },
      storage_paths: nullable(folders({ type: 'string' }, { data_dir: '/data', duckdb_dir: '/data/duckdb', files_dir: '/data/files', snapshots_dir: '/data/snapshots' })),
    },
  },
  Project: {
    type: 'object',
    required: ['id', 'name', 'db_path', 'created_at', 'updated_at', 'size_bytes', 'table_count', 'bucket_count', 'status', 'settings'],
    properties: {
      id: { type: 'string' },
      name: nullable({ type: 'string' }),
      db_path: { type: 'string', description: "The project's folder relative to the DuckDB folder" },
      created_at: timestamp,
      updated_at: timestamp,
      size_bytes: count,
      table_count: count,
      bucket_count: count,
      status: { enum: ['active', 'deleted'] },
      settings: nullable({ type: 'object', additionalProperties: true }),
    },
    examples: [
      {
        id: '123', name: 'My Project', db_path: 'project_123', created_at: '2026-11-29T12:21:47.826Z', updated_at: '2026-11-29T12:21:47.826Z',
        size_bytes: 0, table_count: 0, bucket_count: 0, status: 'active', settings: null,
      },
    ],
  },
  ProjectCreated: {
    allOf: [
      ref('Project'),
      {
        type: 'object',
        required: ['api_key'],
        properties: { api_key: { type: 'string', description: 'The project key; returned once, never again', examples: ['proj_123_admin_0123456789abcdef0123456789abcdef'] } },
      },
    ],
  },
  ProjectList: {
    type: 'object',
    required: ['projects', 'total'],
    properties: { projects: { type: 'array', items: ref('Project') }, total: { ...count, description: 'Matching projects, without paging' } },
  },
  ProjectStats: {
    type: 'object',
    required: ['id', 'size_bytes', 'table_count', 'bucket_count', 'snapshots_size_bytes', 'files_size_bytes', 'branches_size_bytes', 'workspaces_size_bytes'],
    properties: {
      id: { type: 'string' },
      size_bytes: count,
      table_count: count,
      bucket_count: count,
      snapshots_size_bytes: { ...count, description: "Bytes on disk of the project's snapshot files" },
      files_size_bytes: { ...count, description: 'Bytes of the stored files (§15)' },
      branches_size_bytes: { ...count, description: "Bytes on disk of the tables the project's development branches hold (§14)" },
      workspaces_size_bytes: { ...count, description: "Bytes on disk of the project's workspaces, of every branch (§17)" },
    },
  },
  Bucket: {
    type: 'object',
    required: ['name', 'table_count', 'description', 'is_linked', 'source_project_id', 'source_bucket_name', 'shared_with', 'readonly_access', 'created_at'],
    properties: {
      name: { type: 'string' },
      table_count: count,
      description: nullable({ type: 'string' }),
      is_linked: { type: 'boolean' },
      source_project_id: nullable({ type: 'string' }),
      source_bucket_name: nullable({ type: 'string' }),
      shared_with: { type: 'array', items: { type: 'string' } },
      readonly_access: { type: 'boolean' },
      created_at: timestamp,
      metadata: { type: 'array', items: ref('MetadataEntry'), description: "The bucket's metadata (a linked bucket: the source's)" },
    },
    examples: [
      {
        name: 'in_c_sales', table_count: 2, description: 'Sales data', is_linked: false, source_project_id: null, source_bucket_name: null,
        shared_with: ['456'], readonly_access: false, created_at: '2026-11-29T12:21:47.826Z', metadata: [],
      },
    ],
  },
  BucketList: {
    type: 'object',
    required: ['buckets', 'total'],
    properties: { buckets: { type: 'array', items: ref('Bucket') }, total: count },
  },
  ShareResult: {
    type: 'object',
    required: ['shared_with', 'is_linked', 'source_project_id', 'source_bucket_name'],
    properties: {
      shared_with: { type: 'array', items: { type: 'string' } },
      is_linked: { type: 'boolean' },
      source_project_id: { type: 'null' },
      source_bucket_name: { type: 'null' },
    },
    examples: [{ shared_with: ['456'], is_linked: false, source_project_id: null, source_bucket_name: null }],
  },
  SharedBucketList: {
    type: 'object',
    required: ['buckets', 'total'],
    properties: {
      buckets: {
        type: 'array',
        items: {
          type: 'object',
          required: ['source_project_id', 'source_bucket_name', 'description', 'table_count', 'linked_as'],
          properties: {
            source_project_id: { type: 'string' },
            source_bucket_name: { type: 'string' },
            description: nullable({ type: 'string' }),
            table_count: count,
            linked_as: nullable({ type: 'string' }),
          },
        },
      },
      total: count,
    },
  },
  GrantReadonlyResult: {
    type: 'object',
    required: ['status', 'message', 'bucket_name'],
    properties: { status: { const: 'success' }, message: { type: 'string' }, bucket_name: { type: 'string' } },
  },
  Column: {
    type: 'object',
    required: ['name', 'type', 'nullable', 'ordinal_position'],
    properties: {
      name: { type: 'string' },
      type: { type: 'string', description: "DuckDB's name for the type", examples: ['INTEGER', 'VARCHAR', 'DECIMAL(10,2)'] },
      nullable: { type: 'boolean' },
      ordinal_position: { type: 'integer', minimum: 1 },
    },
  },
  TableColumn: {
    allOf: [
      ref('Column'),
      {
        type: 'object',
        required: ['default', 'metadata'],
        properties: {
          default: { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }], description: 'The default as given, or null' },
          metadata: { type: 'array', items: ref('MetadataEntry') },
        },
      },
    ],
  },
  Table: {
    type: 'object',
    required: ['name', 'bucket', 'columns', 'row_count', 'size_bytes', 'primary_key', 'created_at', 'metadata'],
    properties: {
      name: { type: 'string' },
      bucket: { type: 'string' },
      columns: { type: 'array', items: ref('TableColumn') },
      row_count: count,
      size_bytes: count,
      primary_key: { type: 'array', items: { type: 'string' } },
      created_at: timestamp,
      metadata: { type: 'array', items: ref('MetadataEntry') },
      branch_state: { enum: ['main', 'copied', 'created'], description: "Only in a development branch's answers (§14): main's table as it is now, the branch's copy, or a table only the branch has" },
    },
    examples: [
      {
        name: 'orders', bucket: 'in_c_sales', columns: [{ name: 'id', type: 'INTEGER', nullable: false, ordinal_position: 1, default: null, metadata: [] }],
        row_count: 0, size_bytes: 12288, primary_key: ['id'], created_at: '2026-11-29T12:21:47.826Z', metadata: [],
      },
    ],
  },
  MetadataEntry: {
    type: 'object',
    required: ['key', 'value', 'provider', 'updated_at'],
    properties: { key: { type: 'string' }, value: { type: 'string' }, provider: { type: 'string' }, updated_at: timestamp },
    examples: [{ key: 'KBC.description', value: 'Orders of the web shop', provider: 'user', updated_at: '2026-11-29T12:21:47.826Z' }],
  },
  MetadataList: {
    type: 'object',
    required: ['metadata'],
    properties: { metadata: { type: 'array', items: ref('MetadataEntry'), description: 'Sorted by provider, then key' } },
  },
  Profile: {
    type: 'object',
    required: ['row_count', 'profiled_at', 'columns'],
    properties: {
      row_count: count,
      profiled_at: timestamp,
      columns: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'type', 'null_count', 'distinct_count', 'min', 'max', 'avg', 'std', 'q25', 'q50', 'q75'],
          properties: {
            name: { type: 'string' },
            type: { type: 'string' },
            null_count: count,
            distinct_count: { ...count, description: 'Exact up to 100,000 rows, approximate (HyperLogLog) above' },
            min: { description: 'In the column type, mapped to JSON as in §7' },
            max: { description: 'In the column type, mapped to JSON as in §7' },
            avg: nullable({ type: 'number' }),
            std: nullable({ type: 'number' }),
            q25: { description: 'Approximate; null for types without quartiles' },
            q50: { description: 'Approximate; null for types without quartiles' },
            q75: { description: 'Approximate; null for types without quartiles' },
          },
        },
      },
    },
    examples: [
      {
        row_count: 1000000, profiled_at: '2026-11-29T12:21:47.826Z',
        columns: [{ name: 'amount', type: 'DECIMAL(10,2)', null_count: 0, distinct_count: 99812, min: '0.00', max: '999.99', avg: 499.9, std: 288.7, q25: '250.00', q50: '500.00', q75: '750.00' }],
      },
    ],
  },
  Branch: {
    type: 'object',
    description: 'A branch (§14); `default` is main and always exists.',
    required: ['id', 'name', 'description', 'is_default', 'created_at'],
    properties: {
      id: { type: 'string', examples: ['b_1a2b3c4d5e6f'] },
      name: { type: 'string' },
      description: nullable({ type: 'string' }),
      is_default: { type: 'boolean' },
      created_at: timestamp,
    },
  },
  BranchList: {
    type: 'object',
    required: ['branches', 'total'],
    properties: { branches: { type: 'array', items: ref('Branch') }, total: count },
  },
  BranchChanges: {
    type: 'object',
    required: ['tables', 'buckets'],
    properties: {
      tables: {
        type: 'array',
        items: {
          type: 'object',
          required: ['bucket', 'table', 'state', 'main_changed'],
          properties: { bucket: { type: 'string' }, table: { type: 'string' }, state: { enum: ['copied', 'created', 'deleted'] }, main_changed: { type: 'boolean' } },
        },
      },
      buckets: {
        type: 'array',
        items: { type: 'object', required: ['bucket', 'state'], properties: { bucket: { type: 'string' }, state: { enum: ['created', 'deleted'] } } },
      },
    },
  },
  MergeResult: {
    type: 'object',
    required: ['table', 'snapshot_id'],
    properties: {
      table: { anyOf: [ref('Table'), { type: 'null' }], description: "Main's table after the merge; null when the merge dropped it" },
      snapshot_id: nullable({ type: 'string', description: "The auto snapshot of main's table taken first (null when main had no such table)" }),
    },
  },
  TableList: {
    type: 'object',
    required: ['tables', 'total'],
    properties: { tables: { type: 'array', items: ref('Table') }, total: count },
  },
  Preview: {
    type: 'object',
    required: ['columns', 'rows', 'total_row_count', 'preview_row_count'],
    properties: {
      columns: { type: 'array', items: ref('Column') },
      rows: { type: 'array', items: { type: 'object', additionalProperties: true, description: 'Column name → value, mapped to JSON as in §7' } },
      total_row_count: count,
      preview_row_count: count,
    },
    examples: [
      { columns: [{ name: 'id', type: 'INTEGER', nullable: false, ordinal_position: 1 }], rows: [{ id: 1 }], total_row_count: 1, preview_row_count: 1 },
    ],
  },
  ImportResult: {
    type: 'object',
    required: ['imported_rows', 'row_count', 'table'],
    properties: { imported_rows: count, row_count: count, table: ref('Table') },
  },
  DeleteRowsResult: {
    type: 'object',
    required: ['deleted_rows', 'row_count'],
    properties: { deleted_rows: count, row_count: count },
  },
  ResultColumn: {
    type: 'object',
    required: ['name', 'type'],
    properties: { name: { type: 'string' }, type: { type: 'string', description: "DuckDB's name for the type" } },
  },
  QueryResult: {
    type: 'object',
    required: ['columns', 'rows', 'row_count', 'truncated', 'elapsed_ms'],
    properties: {
      columns: { type: 'array', items: ref('ResultColumn') },
      rows: { type: 'array', items: { type: 'object', additionalProperties: true, description: 'Column name → value, mapped to JSON as in §7' } },
      row_count: count,
      truncated: { type: 'boolean', description: 'true when the limit cut the result' },
      elapsed_ms: count,
    },
    examples: [{ columns: [{ name: 'customer', type: 'VARCHAR' }, { name: 'total', type: 'DECIMAL(38,2)' }], rows: [{ customer: 'alice', total: '15.75' }], row_count: 1, truncated: false, elapsed_ms: 12 }],
  },
  Workspace: {
    type: 'object',
    required: ['id', 'name', 'branch', 'created_at', 'expires_at', 'size_bytes', 'tables'],
    properties: {
      id: { type: 'string', examples: ['w_3fa1c09b2d7e'] },
      name: { type: 'string' },
      branch: { type: 'string' },
      created_at: timestamp,
      expires_at: timestamp,
      size_bytes: count,
      tables: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'columns', 'row_count'],
          properties: { name: { type: 'string' }, columns: { type: 'array', items: ref('ResultColumn') }, row_count: count },
        },
      },
    },
  },
  WorkspaceList: {
    type: 'object',
    required: ['workspaces', 'total'],
    properties: { workspaces: { type: 'array', items: ref('Workspace') }, total: count },
  },
  WorkspaceQueryResult: {
    type: 'object',
    required: ['results'],
    properties: {
      results: {
        type: 'array',
        items: {
          type: 'object',
          required: ['statement', 'columns', 'rows', 'row_count', 'changed_rows'],
          properties: {
            statement: { type: 'integer', minimum: 1 },
            columns: { type: 'array', items: ref('ResultColumn') },
            rows: { type: 'array', items: { type: 'object', additionalProperties: true }, description: 'At most 1000 rows, §7 mapping' },
            row_count: count,
            changed_rows: nullable(count),
          },
        },
      },
    },
  },
  UnloadResult: {
    type: 'object',
    required: ['table', 'imported_rows'],
    properties: { table: ref('Table'), imported_rows: count },
  },
  Snapshot: {
    type: 'object',
    required: ['id', 'bucket', 'table', 'branch', 'description', 'kind', 'reason', 'row_count', 'size_bytes', 'columns', 'primary_key', 'created_at', 'expires_at'],
    properties: {
      id: { type: 'string', examples: ['s_8c41d0b2e7aa'] },
      bucket: { type: 'string' },
      table: { type: 'string' },
      branch: { type: 'string', examples: ['default'] },
      description: nullable({ type: 'string' }),
      kind: { enum: ['manual', 'auto'] },
      reason: nullable({ enum: ['drop_table', 'truncate', 'full_import', 'drop_column', 'restore', 'merge'] }),
      row_count: count,
      size_bytes: count,
      columns: { type: 'array', items: ref('TableColumn') },
      primary_key: { type: 'array', items: { type: 'string' } },
      created_at: timestamp,
      expires_at: nullable(timestamp),
    },
  },
  SnapshotList: {
    type: 'object',
    required: ['snapshots', 'total'],
    properties: { snapshots: { type: 'array', items: ref('Snapshot') }, total: { ...count, description: 'Matching snapshots, without paging' } },
  },
  RestoreResult: {
    type: 'object',
    required: ['table', 'snapshot_id', 'auto_snapshot_id'],
    properties: {
      table: ref('Table'),
      snapshot_id: { type: 'string' },
      auto_snapshot_id: { ...nullable({ type: 'string' }), description: 'The auto snapshot of the table an overwrite replaced' },
    },
  },
  SnapshotSettings: {
    type: 'object',
    required: ['auto', 'manual_retention_days', 'auto_retention_days'],
    properties: {
      auto: {
        type: 'object',
        required: ['drop_table', 'truncate', 'drop_column', 'full_import'],
        properties: { drop_table: { type: 'boolean' }, truncate: { type: 'boolean' }, drop_column: { type: 'boolean' }, full_import: { type: 'boolean' } },
      },
      manual_retention_days: { type: 'integer', minimum: 1, maximum: 3650 },
      auto_retention_days: { type: 'integer', minimum: 1, maximum: 3650 },
    },
    examples: [{ auto: { drop_table: true, truncate: true, drop_column: true, full_import: false }, manual_retention_days: 90, auto_retention_days: 7 }],
  },
  ...FILES_JOBS_SCHEMAS,
};

const P = '/projects/:id';
const B = `${P}/buckets/:bucket`;
const T = `${B}/tables/:table`;

/** Which component a route's success body is, by `METHOD pattern` (contract §3–§8). */
const SUCCESS_BODY: Record<string, string> = {
  'GET /': 'ServiceInfo',
  'GET /health': 'Health',
  'POST /backend/init': 'BackendResult',
  'POST /backend/remove': 'BackendResult',
  'POST /projects': 'ProjectCreated',
  'GET /projects': 'ProjectList',
  [`GET ${P}`]: 'Project',
  [`PUT ${P}`]: 'Project',
  [`GET ${P}/stats`]: 'ProjectStats',
  [`GET ${P}/shared-buckets`]: 'SharedBucketList',
  [`POST ${P}/buckets`]: 'Bucket',
  [`GET ${P}/buckets`]: 'BucketList',
  [`GET ${B}`]: 'Bucket',
  [`POST ${B}/share`]: 'ShareResult',
  [`POST ${B}/link`]: 'Bucket',
  [`POST ${B}/grant-readonly`]: 'GrantReadonlyResult',
  [`POST ${B}/tables`]: 'Table',
  [`GET ${B}/tables`]: 'TableList',
  [`GET ${T}`]: 'Table',
  [`GET ${T}/preview`]: 'Preview',
  [`POST ${T}/preview`]: 'Preview',
  [`POST ${T}/import`]: 'ImportResult',
  [`POST ${T}/delete-rows`]: 'DeleteRowsResult',
  [`POST ${T}/truncate`]: 'DeleteRowsResult',
  [`POST ${P}/branches`]: 'Branch',
  [`GET ${P}/branches`]: 'BranchList',
  [`GET ${P}/branches/:branch`]: 'Branch',
  [`GET ${P}/branches/:branch/changes`]: 'BranchChanges',
  [`POST ${P}/branches/:branch/buckets/:bucket/tables/:table/reset`]: 'Table',
  [`POST ${P}/branches/:branch/buckets/:bucket/tables/:table/merge`]: 'MergeResult',
  [`POST ${P}/api-keys`]: 'ApiKeyWithSecret',
  [`GET ${P}/api-keys`]: 'ApiKeyList',
  [`GET ${P}/api-keys/current`]: 'ApiKey',
  [`GET ${P}/api-keys/:key_id`]: 'ApiKey',
  [`POST ${P}/api-keys/:key_id/rotate`]: 'ApiKeyWithSecret',
  [`POST ${P}/workspaces`]: 'Workspace',
  [`GET ${P}/workspaces`]: 'WorkspaceList',
  [`GET ${P}/workspaces/:ws`]: 'Workspace',
  [`POST ${P}/workspaces/:ws/load`]: 'Workspace',
  [`POST ${P}/workspaces/:ws/query`]: 'WorkspaceQueryResult',
  [`POST ${P}/workspaces/:ws/unload`]: 'UnloadResult',
  [`POST ${T}/columns`]: 'Table',
  [`PATCH ${T}/columns/:column`]: 'Table',
  [`DELETE ${T}/columns/:column`]: 'Table',
  [`PUT ${T}/primary-key`]: 'Table',
  [`DELETE ${T}/primary-key`]: 'Table',
  [`GET ${T}/profile`]: 'Profile',
  ...Object.fromEntries([B, T, `${T}/columns/:column`].flatMap((base) => [[`GET ${base}/metadata`, 'MetadataList'], [`POST ${base}/metadata`, 'MetadataList']])),
  [`POST ${T}/snapshots`]: 'Snapshot',
  [`GET ${T}/snapshots`]: 'SnapshotList',
  [`GET ${P}/snapshots`]: 'SnapshotList',
  [`GET ${P}/snapshots/:snapshot_id`]: 'Snapshot',
  [`POST ${P}/snapshots/:snapshot_id/restore`]: 'RestoreResult',
  [`GET ${P}/settings/snapshots`]: 'SnapshotSettings',
  [`PUT ${P}/settings/snapshots`]: 'SnapshotSettings',
  ...FILES_JOBS_SUCCESS_BODY,
};

/** Success bodies that are not JSON objects. */
const SUCCESS_CONTENT: Record<string, Record<string, { schema: Schema }>> = {
  'GET /openapi.json': { [JSON_MEDIA]: { schema: { type: 'object', description: 'This document' } } },
  'GET /docs': { 'text/html': { schema: { type: 'string' } } },
  'GET /ui': { 'text/html': { schema: { type: 'string' } } },
  'GET /metrics': { 'text/plain': { schema: { type: 'string', description: 'Prometheus text exposition format 0.0.4' } } },
  [`POST ${P}/query`]: {
    [JSON_MEDIA]: { schema: ref('QueryResult') },
    'text/csv': { schema: { type: 'string', description: 'format=csv: CSV with a header row, streamed as query.csv' } },
    'application/x-ndjson': { schema: { type: 'string', description: 'format=ndjson: one JSON object per line, streamed as query.ndjson' } },
    'application/vnd.apache.parquet': { schema: { type: 'string', format: 'binary', contentMediaType: 'application/vnd.apache.parquet' } },
  },
  ...FILES_JOBS_SUCCESS_CONTENT,
};

const exportContent = (): Record<string, { schema: Schema }> => ({
  'text/csv': { schema: { type: 'string', description: 'CSV with a header row (RFC 4180)' } },
  'application/x-ndjson': { schema: { type: 'string', description: 'One JSON object per line' } },
  'application/vnd.apache.parquet': { schema: { type: 'string', format: 'binary', contentMediaType: 'application/vnd.apache.parquet' } },
});

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No content',
  400: 'Bad request',
  401: 'Missing, malformed or wrong key',
  403: 'The key has no access here',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict with the current state',
  413: 'Body too large',
  415: 'Unsupported media type',
  422: 'Validation failed (body, query or a name in the path)',
  429: 'Too many concurrent imports or queries; retry after Retry-After seconds',
  500: 'Internal error; nothing half-done is left behind',
  503: 'Storage unavailable',
  ...FILES_JOBS_STATUS_TEXT,
};

/** The contract's error codes by status (§1–§8). */
const ERROR_CODES: Record<number, string[]> = {
  400: ['invalid_primary_key', 'unknown_columns', 'import_failed', 'invalid_target', 'invalid_source', 'invalid_query', 'query_failed', 'query_timeout', 'invalid_column', 'conversion_failed', 'nulls_present', 'column_in_primary_key', 'last_column', 'upload_failed', 'main_branch_only', 'invalid_branch', 'not_in_main', 'nothing_to_merge'],
  401: ['unauthorized'],
  403: ['forbidden', 'insufficient_scope', 'not_shared', 'bucket_readonly'],
  404: ['not_found', 'project_not_found', 'bucket_not_found', 'table_not_found', 'share_not_found', 'link_not_found', 'key_not_found', 'branch_not_found', 'workspace_not_found', 'column_not_found', 'primary_key_not_found', 'metadata_not_found', 'snapshot_not_found', 'file_not_found', 'job_not_found'],
  405: ['method_not_allowed'],
  409: ['project_exists', 'bucket_exists', 'table_exists', 'bucket_not_empty', 'bucket_in_use', 'already_shared', 'bucket_is_linked', 'last_admin_key', 'duplicate_keys', 'column_exists', 'job_finished', 'branch_exists', 'merge_conflict'],
  416: ['range_not_satisfiable'],
  413: ['payload_too_large'],
  415: ['unsupported_media_type'],
  422: ['validation_error'],
  429: ['too_many_requests'],
  500: ['internal_server_error', 'init_failed'],
  503: ['storage_unavailable'],
};

const ERROR_EXAMPLE: Record<number, { detail: Record<string, unknown> }> = {
  401: { detail: { error: 'unauthorized', message: 'Missing Authorization header' } },
  403: { detail: { error: 'forbidden', message: 'This key has no access to the project', details: { project_id: '123' } } },
  404: { detail: { error: 'bucket_not_found', message: 'Bucket in_c_sales not found in project 123', details: { project_id: '123', bucket_name: 'in_c_sales' } } },
  422: { detail: { error: 'validation_error', message: 'Request validation failed', details: { issues: [{ path: 'name', message: 'Invalid name' }] } } },
};

export interface OpenApiOptions {
  version: string;
  /** Where the routes answer (the app's mount point); becomes the server URL. */
  basePath?: string;
}

/** `/projects/:id/buckets/:bucket` → `/projects/{id}/buckets/{bucket}`. */
export function openApiPath(pattern: string): string {
  return pattern.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

export const routeKey = (route: Pick<RouteDef, 'method' | 'path'>) => `${route.method} ${route.path}`;

const isImport = (route: RouteDef) => route.method === 'POST' && route.path.endsWith('/import');
const isExport = (route: RouteDef) => route.path.endsWith('/export');

function operationId(route: RouteDef, used: Set<string>): string {
  const fromHandler = route.handler.name;
  let id = /^[A-Za-z_][A-Za-z0-9_]*$/.test(fromHandler) ? fromHandler : '';
  if (!id || used.has(id)) {
    const words = route.path.split(/[^A-Za-z0-9]+/).filter(Boolean);
    id = route.method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  }
  while (used.has(id)) id += '_';
  used.add(id);
  return id;
}

function parameters(route: RouteDef): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [, name] of route.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)) {
    const known = PATH_PARAMS[name!];
    out.push({ name, in: 'path', required: true, description: known?.description, schema: known ? wireSchema(known.schema) : { type: 'string' } });
  }
  if (route.query) {
    const query = wireSchema(route.query) as { properties?: Record<string, Schema>; required?: string[] };
    for (const [name, schema] of Object.entries(query.properties ?? {})) {
      const { description, ...rest } = schema as Record<string, unknown>;
      out.push({ name, in: 'query', required: query.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
    }
  }
  return out;
}

function requestBody(route: RouteDef): Record<string, unknown> | undefined {
  if (isImport(route)) {
    return {
      required: true,
      description: 'The data itself, streamed. The format comes from `format` or else from Content-Type (CSV when neither says); `Content-Encoding: gzip` is accepted.',
      content: {
        'text/csv': { schema: { type: 'string' } },
        'application/x-ndjson': { schema: { type: 'string' } },
        'application/vnd.apache.parquet': { schema: { type: 'string', format: 'binary', contentMediaType: 'application/vnd.apache.parquet' } },
      },
    };
  }
  if (isUpload(route)) return UPLOAD_BODY;
  if (!route.body) return undefined;
  const schema = wireSchema(route.body) as { required?: string[] };
  return {
    // An empty body counts as {}: only a body with required fields must be sent.
    required: (schema.required?.length ?? 0) > 0,
    content: { [JSON_MEDIA]: { schema } },
  };
}

function success(route: RouteDef, status: number): Record<string, unknown> {
  const response: Record<string, unknown> = { description: STATUS_TEXT[status] ?? 'Success', headers: { 'X-Request-ID': { $ref: '#/components/headers/X-Request-ID' } } };
  if (status === 204 || status === 304) return response;
  // A branch twin answers what the route it was made from answers.
  const key = routeKey({ method: route.method, path: route.twinOf ?? route.path });
  if (isExport(route)) {
    response.description = 'The rows, streamed in the requested format';
    response.headers = { ...(response.headers as object), 'Content-Disposition': { $ref: '#/components/headers/Content-Disposition' } };
    response.content = exportContent();
  } else if (SUCCESS_CONTENT[key]) {
    response.content = SUCCESS_CONTENT[key];
  } else {
    response.content = { [JSON_MEDIA]: { schema: SUCCESS_BODY[key] ? ref(SUCCESS_BODY[key]) : { type: 'object' } } };
  }
  return response;
}

function failure(status: number): Record<string, unknown> {
  const codes = ERROR_CODES[status];
  const headers: Record<string, unknown> = { 'X-Request-ID': { $ref: '#/components/headers/X-Request-ID' } };
  if (status === 401) headers['WWW-Authenticate'] = { schema: { type: 'string', const: 'Bearer' } };
  if (status === 429) headers['Retry-After'] = { schema: { type: 'integer', minimum: 0 }, description: 'Seconds to wait' };
  const media: Record<string, unknown> = { schema: ref('Error') };
  const example = ERROR_EXAMPLE[status] ?? (codes ? { detail: { error: codes[0], message: STATUS_TEXT[status] ?? 'Error' } } : undefined);
  if (example) media.example = example;
  return {
    description: `${STATUS_TEXT[status] ?? 'Error'}${codes ? `. \`error\`: ${codes.map((c) => `\`${c}\``).join(', ')}` : ''}`,
    headers,
    content: { [JSON_MEDIA]: media },
  };
}

/** What a bucket- or branch-restricted key meets on a route (§11), for its description. */
function restrictionNote(route: RouteDef): string {
  let note = '';
  if (route.bucketRestrictedKeys === 'insufficient_scope') note = ' A key restricted to buckets gets 403 `insufficient_scope`.';
  else if (route.bucketRestrictedKeys === 'forbidden') note = ' A key restricted to buckets gets 403 `forbidden`.';
  else if (route.path.includes(':bucket')) note = ' A key restricted to buckets reaches only its buckets (403 `forbidden` otherwise).';
  if (route.branchRestrictedKeys === 'forbidden') note += ' A key restricted to a branch gets 403 `forbidden`.';
  else if (route.branchRestrictedKeys !== 'allowed') {
    note += route.path.includes(':branch') ? ' A key restricted to a branch reaches only its branch here.' : ' A key restricted to a branch gets 403 `forbidden`.';
  }
  if (route.twinOf) {
    note += route.branch === 'main_only'
      ? ' Under a development branch: 400 `main_branch_only` (sharing works in the default branch).'
      : ` The same as \`${openApiPath(route.twinOf)}\`, in branch \`{branch}\` (§14); \`default\` is main.`;
  }
  return note;
}

/** Routes that appear in the document: every route not marked `internal`. */
export const documentedRoutes = (routes: readonly RouteDef[]) => routes.filter((route) => !route.internal);

/** Builds the OpenAPI 3.1 document of `routes`. */
export function buildOpenApi(routes: readonly RouteDef[], options: OpenApiOptions): Record<string, any> {
  const paths: Record<string, Record<string, unknown>> = {};
  const used = new Set<string>();
  const tags = new Set<string>();
  for (const route of documentedRoutes(routes)) {
    tags.add(route.tag);
    const responses: Record<string, unknown> = {};
    for (const status of route.responses) responses[String(status)] = status < 400 ? success(route, status) : failure(status);
    const auth =
      route.auth === 'none'
        ? undefined
        : route.auth === 'admin'
          ? 'Needs the service admin key.'
          : `Needs the service admin key or a live key of project \`{id}\` with scope \`${route.scope}\`${route.scope === 'admin' ? '' : ' or higher'}.${restrictionNote(route)}`;
    const operation: Record<string, unknown> = {
      operationId: operationId(route, used),
      summary: route.summary,
      ...(auth ? { description: auth } : {}),
      ...(route.auth === 'project' ? { 'x-required-scope': route.scope } : route.auth === 'admin' ? { 'x-required-scope': 'service_admin' } : {}),
      tags: [route.tag],
      security: route.auth === 'none' ? [] : [{ bearerAuth: [] }],
      ...(route.twinOf ? { 'x-branch-twin-of': openApiPath(route.twinOf) } : {}),
    };
    const params = parameters(route);
    if (params.length) operation.parameters = params;
    const body = requestBody(route);
    if (body) operation.requestBody = body;
    operation.responses = responses;
    (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'DuckDB Storage API',
      version: options.version,
      description:
        'Projects, buckets and tables on DuckDB, with sharing, import and export. Every error has the body `{"detail": {"error", "message", "details"?}}`; every response carries `X-Request-ID`.',
    },
    servers: [{ url: options.basePath || '/' }],
    tags: [...tags].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description:
            'The service admin key (ADMIN_API_KEY) or a project API key `proj_{id}_{scope}_{32 hex}` (scope admin, write or read; §11). Each operation names the scope it needs in `x-required-scope`.',
        },
      },
      headers: {
        'X-Request-ID': { description: "The caller's X-Request-ID when valid, else a fresh UUID; also in the log lines", schema: { type: 'string' } },
        'Content-Disposition': { description: 'attachment; filename="{table}.{csv|ndjson|parquet}[.gz]"', schema: { type: 'string' } },
      },
      schemas: SCHEMAS,
    },
  };
}
