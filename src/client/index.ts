/**
 * The typed client of the DuckDB Storage API (`duckdb-storage-api/client`).
 *
 *   import { StorageClient } from 'duckdb-storage-api/client';
 *   const client = new StorageClient({ url: 'http://localhost:8000', apiKey: process.env.KEY });
 *   const { tables } = await client.tables.list('123', 'in_c_sales');
 */
export { StorageClient, type ExportFileOptions, type ImportFileOptions, type ImportSettings, type ImportSource, type WaitOptions } from './client.ts';
export { StorageApiError, type FailedJob } from './errors.ts';
export { describeLocalFile, saveDownload } from './files.ts';
export type { ImportOptions, UploadOptions } from './groups/data.ts';
export type { FileDownloadOptions, FileUploadOptions } from './groups/files.ts';
export type { ProgressCallback, TransferProgress, UploadSource } from './streams.ts';
export { Transport, fillRoute, type ClientOptions, type QueryValue, type RequestSpec, type RequestTrace } from './transport.ts';
export type * from './types.ts';
