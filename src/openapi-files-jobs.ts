// The OpenAPI pieces of §15 (files) and §16 (jobs), spread into src/openapi.ts.

type Schema = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const timestamp = { type: 'string', format: 'date-time', examples: ['2026-11-29T12:21:47.826Z'] };
const count = { type: 'integer', minimum: 0 };

const P = '/projects/:id';
const T = `${P}/buckets/:bucket/tables/:table`;

export const FILES_JOBS_SCHEMAS: Record<string, Schema> = {
  File: {
    type: 'object',
    required: ['id', 'name', 'size_bytes', 'content_type', 'content_encoding', 'sha256', 'tags', 'is_permanent', 'created_at', 'expires_at'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      size_bytes: count,
      content_type: { type: 'string', description: "The upload's Content-Type (default application/octet-stream)" },
      content_encoding: nullable({ type: 'string', description: "The upload's Content-Encoding; the bytes are stored as sent, not decoded" }),
      sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      tags: { type: 'array', items: { type: 'string' } },
      is_permanent: { type: 'boolean' },
      created_at: timestamp,
      expires_at: nullable(timestamp),
    },
    examples: [
      {
        id: 'f_9a3e2c1b0d4f', name: 'orders.csv', size_bytes: 5242880, content_type: 'text/csv', content_encoding: null,
        sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', tags: ['daily'], is_permanent: false,
        created_at: '2026-11-29T12:21:47.826Z', expires_at: '2026-12-14T12:21:47.826Z',
      },
    ],
  },
  FileList: { type: 'object', required: ['files', 'total'], properties: { files: { type: 'array', items: ref('File') }, total: count } },
  Job: {
    type: 'object',
    required: ['id', 'operation', 'status', 'branch', 'table', 'params', 'progress', 'result', 'error', 'created_at', 'started_at', 'finished_at'],
    properties: {
      id: { type: 'string' },
      operation: { enum: ['import', 'export'] },
      status: { enum: ['waiting', 'processing', 'success', 'error', 'cancelled'] },
      branch: { type: 'string' },
      table: { type: 'object', required: ['bucket', 'name'], properties: { bucket: { type: 'string' }, name: { type: 'string' } } },
      params: { type: 'object', additionalProperties: true },
      progress: { type: 'object', required: ['rows', 'bytes'], properties: { rows: count, bytes: count } },
      result: nullable({ type: 'object', additionalProperties: true, description: 'import: the §8 import result; export: {file_id, rows, size_bytes}' }),
      error: nullable({ type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } } }),
      created_at: timestamp,
      started_at: nullable(timestamp),
      finished_at: nullable(timestamp),
    },
    examples: [
      {
        id: 'j_4e1f0a9b2c3d4e5f', operation: 'import', status: 'processing', branch: 'default', table: { bucket: 'in_c_sales', name: 'orders' },
        params: { file_id: 'f_9a3e2c1b0d4f', format: 'csv', incremental: false }, progress: { rows: 0, bytes: 6291456 }, result: null, error: null,
        created_at: '2026-11-29T12:21:47.826Z', started_at: '2026-11-29T12:21:47.900Z', finished_at: null,
      },
    ],
  },
  JobList: { type: 'object', required: ['jobs', 'total'], properties: { jobs: { type: 'array', items: ref('Job') }, total: count } },
};

export const FILES_JOBS_SUCCESS_BODY: Record<string, string> = {
  [`POST ${P}/files`]: 'File',
  [`GET ${P}/files`]: 'FileList',
  [`GET ${P}/files/:file_id`]: 'File',
  [`POST ${T}/import-async`]: 'Job',
  [`POST ${T}/export-async`]: 'Job',
  [`GET ${P}/jobs`]: 'JobList',
  [`GET ${P}/jobs/:job_id`]: 'Job',
};

export const FILES_JOBS_SUCCESS_CONTENT: Record<string, Record<string, { schema: Schema }>> = {
  [`GET ${P}/files/:file_id/download`]: {
    'application/octet-stream': { schema: { type: 'string', format: 'binary', description: 'The stored bytes (or the requested range), with the stored Content-Type' } },
  },
};

/** The upload's body: any bytes, stored as sent. */
export const UPLOAD_BODY = {
  required: true,
  description: 'The file itself, streamed. Its Content-Type and Content-Encoding are recorded; the bytes are stored as sent.',
  content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
};

export const isUpload = (route: { method: string; path: string }) => route.method === 'POST' && route.path === `${P}/files`;

export const FILES_JOBS_STATUS_TEXT: Record<number, string> = {
  202: 'Accepted: the job is queued; poll it at Location',
  206: 'Partial content: the requested range',
  304: 'Not modified (If-None-Match matched the ETag)',
  416: 'Range not satisfiable',
};
