import { bucketsApi } from './groups/buckets.ts';
import { dataApi, type ImportOptions } from './groups/data.ts';
import { keysApi } from './groups/keys.ts';
import { metadataApi } from './groups/metadata.ts';
import { projectsApi } from './groups/projects.ts';
import { schemaApi } from './groups/schema.ts';
import { serviceApi } from './groups/service.ts';
import { sharingApi } from './groups/sharing.ts';
import { snapshotsApi } from './groups/snapshots.ts';
import { sqlApi } from './groups/sql.ts';
import { tablesApi } from './groups/tables.ts';
import { workspacesApi } from './groups/workspaces.ts';
import { describeLocalFile, openLocalFile, saveDownload } from './files.ts';
import type { ProgressCallback } from './streams.ts';
import { Transport, type ClientOptions } from './transport.ts';
import type { ExportInput, ImportQuery, ImportResult } from './types.ts';

export interface ImportFileOptions extends ImportQuery {
  /** Upload progress: bytes sent of the file's size. */
  onUpload?: ProgressCallback;
  signal?: AbortSignal;
}

export interface ExportFileOptions extends ExportInput {
  /** Download progress; `total` is null unless the server sent a length. */
  onDownload?: ProgressCallback;
  signal?: AbortSignal;
}

/**
 * A typed client of the DuckDB Storage API: one method per route, grouped as the route
 * table's tags are (`client.tables.create(…)`, `client.keys.rotate(…)`). Refusals are
 * thrown as `StorageApiError`.
 *
 *   const client = new StorageClient({ url: 'http://localhost:8000', apiKey });
 *   await client.buckets.create('123', { name: 'in_c_sales' });
 */
export class StorageClient {
  readonly transport: Transport;
  readonly options: ClientOptions;
  readonly service: ReturnType<typeof serviceApi>;
  readonly projects: ReturnType<typeof projectsApi>;
  readonly buckets: ReturnType<typeof bucketsApi>;
  readonly sharing: ReturnType<typeof sharingApi>;
  readonly tables: ReturnType<typeof tablesApi>;
  readonly data: ReturnType<typeof dataApi>;
  readonly keys: ReturnType<typeof keysApi>;
  readonly schema: ReturnType<typeof schemaApi>;
  readonly metadata: ReturnType<typeof metadataApi>;
  readonly snapshots: ReturnType<typeof snapshotsApi>;
  readonly sql: ReturnType<typeof sqlApi>;
  readonly workspaces: ReturnType<typeof workspacesApi>;

  constructor(options: ClientOptions) {
    const t = (this.transport = new Transport(options));
    this.options = options;
    this.service = serviceApi(t);
    this.projects = projectsApi(t);
    this.buckets = bucketsApi(t);
    this.sharing = sharingApi(t);
    this.tables = tablesApi(t);
    this.data = dataApi(t);
    this.keys = keysApi(t);
    this.schema = schemaApi(t);
    this.metadata = metadataApi(t);
    this.snapshots = snapshotsApi(t);
    this.sql = sqlApi(t);
    this.workspaces = workspacesApi(t);
  }

  /**
   * The same client inside a development branch (§14): bucket, table, data and the other
   * branch-aware routes go to `P/branches/{branch}/…`; `default` is main.
   */
  inBranch(branch: string): StorageClient {
    return new StorageClient({ ...this.options, branch });
  }

  /**
   * Imports a local file into a table: streamed from disk as the body of §8's import, the
   * content type and gzip taken from its name (`orders.csv`, `events.ndjson.gz`).
   */
  async importFile(projectId: string, bucket: string, table: string, path: string, options: ImportFileOptions = {}): Promise<ImportResult> {
    const { onUpload, signal, ...query } = options;
    const { stream, size } = await openLocalFile(path);
    const described = describeLocalFile(path);
    const upload: ImportOptions = { ...query, contentType: described.contentType, contentEncoding: described.contentEncoding, size, onProgress: onUpload, signal };
    try {
      return await this.data.import(projectId, bucket, table, stream, upload);
    } finally {
      stream.destroy();
    }
  }

  /**
   * Exports a table into a local file (written beside it and renamed when complete). Plain
   * options use `GET …/export`; filters or sort keys use `POST …/export`.
   */
  async exportToFile(projectId: string, bucket: string, table: string, path: string, options: ExportFileOptions = {}) {
    const { onDownload, signal, ...body } = options;
    const filtered = (body.filters?.length ?? 0) > 0 || (body.order_by?.length ?? 0) > 0;
    const download = filtered
      ? await this.data.exportFiltered(projectId, bucket, table, body, signal)
      : await this.data.export(projectId, bucket, table, { format: body.format, columns: body.columns, limit: body.limit, gzip: body.gzip }, signal);
    const saved = await saveDownload(download, path, onDownload);
    return { ...saved, contentType: download.contentType, filename: download.filename };
  }
}
