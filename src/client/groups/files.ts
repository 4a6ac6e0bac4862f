import { asDownload } from '../download.ts';
import type { ProgressCallback, UploadSource } from '../streams.ts';
import type { Transport } from '../transport.ts';
import type { Download, FileList, ListFilesQuery, StoredFile, UploadFileQuery } from '../types.ts';

const F = '/projects/:id/files';

export interface FileUploadOptions extends UploadFileQuery {
  /** Stored as the file's `content_type`; `application/octet-stream` when absent. */
  contentType?: string;
  /** Stored as `content_encoding` (the bytes are kept as sent). */
  contentEncoding?: string;
  onProgress?: ProgressCallback;
  /** The size, when the source cannot tell (a file stream): makes progress a fraction. */
  size?: number | null;
  signal?: AbortSignal;
}

export interface FileDownloadOptions {
  /** A byte range (inclusive `end`); the answer is then 206 with those bytes. */
  range?: { start: number; end?: number };
  signal?: AbortSignal;
}

/** §15 files kept by the service. */
export const filesApi = (t: Transport) => ({
  /** POST P/files — streams `source`; `name` is required. */
  upload: (projectId: string, source: UploadSource, options: FileUploadOptions) => {
    const { contentType, contentEncoding, onProgress, size, signal, ...query } = options;
    return t.json<StoredFile>('POST', F, [projectId], { query, signal, upload: { source, contentType, contentEncoding, onProgress, size } });
  },
  list: (projectId: string, query: ListFilesQuery = {}) => t.json<FileList>('GET', F, [projectId], { query }),
  get: (projectId: string, fileId: string) => t.json<StoredFile>('GET', `${F}/:file_id`, [projectId, fileId]),
  /** The stored bytes, streamed (`size` from Content-Length). */
  download: async (projectId: string, fileId: string, options: FileDownloadOptions = {}): Promise<Download> => {
    const headers: Record<string, string> = { accept: '*/*' };
    if (options.range) headers.range = `bytes=${options.range.start}-${options.range.end ?? ''}`;
    return asDownload(await t.send('GET', `${F}/:file_id/download`, [projectId, fileId], { headers, signal: options.signal }));
  },
  delete: (projectId: string, fileId: string) => t.empty('DELETE', `${F}/:file_id`, [projectId, fileId]),
});
