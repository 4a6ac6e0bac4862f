import { bucketsApi } from './groups/buckets.ts';
import { dataApi, type ImportOptions } from './groups/data.ts';
import { filesApi, type FileUploadOptions } from './groups/files.ts';
import { jobsApi } from './groups/jobs.ts';
import { branchesApi } from './groups/branches.ts';
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
import { basename } from 'node:path';
import { StorageApiError } from './errors.ts';
import { describeLocalFile, openLocalFile, saveDownload } from './files.ts';
import type { ProgressCallback, UploadSource } from './streams.ts';
import { Transport, type ClientOptions } from './transport.ts';
import type { ExportInput, ImportAsyncInput, ImportQuery, ImportResult, Job, StoredFile } from './types.ts';

/** §8 import options, as JSON (the import-async body without `file_id`). */
export type ImportSettings = Omit<ImportAsyncInput, 'file_id'>;

export interface WaitOptions {
  /** Called with every state of the job seen while waiting. */
  onJob?: (job: Job) => void;
  /** How long one poll may wait on the server (`?wait=`, 0-60 s; default 2). */
  pollSeconds?: number;
  signal?: AbortSignal;
}

export interface ImportFileOptions extends ImportSettings, WaitOptions {
  /**
   * `async` (default): upload to P/files, submit `import-async`, wait for the job (§16).
   * `sync`: stream the file as the body of `POST …/import` (§8) and wait for its answer.
   */
  mode?: 'async' | 'sync';
  /** Upload progress: bytes sent of the file's size. */
  onUpload?: ProgressCallback;
  /** async: keep the uploaded file after the job (it is deleted once the job has finished). */
  keepFile?: boolean;
}

/** What to upload when the source is not a local file (stdin, a generator, …). */
export interface ImportSource {
  source: UploadSource;
  /** The name the uploaded file gets (its extension tells the content type). */
  name: string;
  size?: number | null;
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
  readonly files: ReturnType<typeof filesApi>;
  readonly jobs: ReturnType<typeof jobsApi>;
  readonly keys: ReturnType<typeof keysApi>;
  readonly branches: ReturnType<typeof branchesApi>;
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
    this.files = filesApi(t);
    this.jobs = jobsApi(t);
    this.keys = keysApi(t);
    this.branches = branchesApi(t);
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

  /** Uploads a local file to P/files (§15), streamed, its content type and gzip from its name. */
  async uploadFile(projectId: string, path: string, options: Partial<FileUploadOptions> = {}): Promise<StoredFile> {
    const { stream, size } = await openLocalFile(path);
    const described = describeLocalFile(path);
    try {
      return await this.files.upload(projectId, stream, { name: basename(path), contentType: described.contentType, contentEncoding: described.contentEncoding, size, ...options });
    } finally {
      stream.destroy();
    }
  }

  /**
   * Polls a job (long-polling `?wait=`) until it has finished, calling `onJob` with every
   * state seen. A job that ends in `error` is thrown as StorageApiError with the job's own
   * error code (`import_failed`, …) and `job` set; a cancelled one as `job_cancelled`.
   */
  async waitForJob(projectId: string, jobId: string, options: WaitOptions = {}): Promise<Job> {
    for (;;) {
      const job = await this.jobs.get(projectId, jobId, { wait: options.pollSeconds ?? 2 }, options.signal);
      options.onJob?.(job);
      if (job.status === 'success') return job;
      if (job.status === 'error' || job.status === 'cancelled') throw StorageApiError.fromJob(job);
    }
  }

  /**
   * Imports a local file into a table, streamed from disk, its content type and gzip taken
   * from its name (`orders.csv`, `events.ndjson.gz`). By default as an asynchronous job:
   * upload (`onUpload`), submit, wait (`onJob`); the answer is the §8 import result either way.
   */
  async importFile(projectId: string, bucket: string, table: string, path: string, options: ImportFileOptions = {}): Promise<ImportResult> {
    const { stream, size } = await openLocalFile(path);
    try {
      return await this.importFrom(projectId, bucket, table, { source: stream, name: basename(path), size }, options);
    } finally {
      stream.destroy();
    }
  }

  /** `importFile` for any upload source (stdin, a generator, bytes). */
  async importFrom(projectId: string, bucket: string, table: string, input: ImportSource, options: ImportFileOptions = {}): Promise<ImportResult> {
    const { mode = 'async', onUpload, keepFile = false, onJob, pollSeconds, signal, ...settings } = options;
    const described = describeLocalFile(input.name);
    if (mode === 'sync') {
      const query: ImportQuery = { ...settings, null_string: settings.null_string ?? undefined };
      const upload: ImportOptions = { ...query, contentType: described.contentType, contentEncoding: described.contentEncoding, size: input.size, onProgress: onUpload, signal };
      return this.data.import(projectId, bucket, table, input.source, upload);
    }
    const file = await this.files.upload(projectId, input.source, {
      name: input.name,
      contentType: described.contentType,
      contentEncoding: described.contentEncoding,
      size: input.size,
      onProgress: onUpload,
      signal,
    });
    let finished = true;
    try {
      const job = await this.jobs.importAsync(projectId, bucket, table, { ...settings, file_id: file.id });
      onJob?.(job);
      finished = false;
      const done = await this.waitForJob(projectId, job.id, { onJob, pollSeconds, signal }).catch((error: unknown) => {
        finished = error instanceof StorageApiError && error.job !== null;
        throw error;
      });
      finished = true;
      return done.result as unknown as ImportResult;
    } finally {
      // The uploaded file is only the job's input; a job still running keeps it.
      if (finished && !keepFile) await this.files.delete(projectId, file.id).catch(() => undefined);
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
