import { asDownload } from '../download.ts';
import type { ProgressCallback, UploadSource } from '../streams.ts';
import type { Transport } from '../transport.ts';
import type { DeleteRowsInput, DeleteRowsResult, Download, ExportInput, ExportQuery, FilteredPreviewInput, ImportQuery, ImportResult, Preview } from '../types.ts';

const T = '/projects/:id/buckets/:bucket/tables/:table';

/** How an import body goes out; the rest of `ImportOptions` is the §8 query. */
export interface UploadOptions {
  /** `text/csv`, `application/x-ndjson`, `application/vnd.apache.parquet`; csv when absent. */
  contentType?: string;
  /** `gzip` when the bytes are gzip-compressed. */
  contentEncoding?: 'gzip';
  /** Called as bytes go out. */
  onProgress?: ProgressCallback;
  /** The body's size when the source cannot tell (a file stream): makes progress a fraction. */
  size?: number | null;
  signal?: AbortSignal;
}

export type ImportOptions = ImportQuery & UploadOptions;

function splitUpload(options: ImportOptions): { query: ImportQuery; upload: UploadOptions } {
  const { contentType, contentEncoding, onProgress, size, signal, ...query } = options;
  return { query, upload: { contentType, contentEncoding, onProgress, size, signal } };
}

/** §8 data plane: import, filtered reads, export, row deletes. */
export const dataApi = (t: Transport) => ({
  /** POST …/import — streams `source` as the request body; full load unless `incremental`. */
  import: (projectId: string, bucket: string, table: string, source: UploadSource, options: ImportOptions = {}) => {
    const { query, upload } = splitUpload(options);
    return t.json<ImportResult>('POST', `${T}/import`, [projectId, bucket, table], {
      query,
      signal: upload.signal,
      upload: { source, contentType: upload.contentType ?? 'text/csv', contentEncoding: upload.contentEncoding, onProgress: upload.onProgress, size: upload.size },
    });
  },
  /** POST …/preview — rows picked by columns, filters and sort keys. */
  preview: (projectId: string, bucket: string, table: string, body: FilteredPreviewInput = {}) => t.json<Preview>('POST', `${T}/preview`, [projectId, bucket, table], { json: body }),
  /** GET …/export — the rows, streamed (read `body` of the answer). */
  export: async (projectId: string, bucket: string, table: string, query: ExportQuery = {}, signal?: AbortSignal): Promise<Download> =>
    asDownload(await t.send('GET', `${T}/export`, [projectId, bucket, table], { query, signal, headers: { accept: '*/*' } })),
  /** POST …/export — filtered and sorted rows, streamed. */
  exportFiltered: async (projectId: string, bucket: string, table: string, body: ExportInput = {}, signal?: AbortSignal): Promise<Download> =>
    asDownload(await t.send('POST', `${T}/export`, [projectId, bucket, table], { json: body, signal, headers: { accept: '*/*' } })),
  deleteRows: (projectId: string, bucket: string, table: string, body: DeleteRowsInput) => t.json<DeleteRowsResult>('POST', `${T}/delete-rows`, [projectId, bucket, table], { json: body }),
  truncate: (projectId: string, bucket: string, table: string) => t.json<DeleteRowsResult>('POST', `${T}/truncate`, [projectId, bucket, table]),
});
