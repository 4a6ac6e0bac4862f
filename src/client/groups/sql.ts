import { asDownload } from '../download.ts';
import type { Transport } from '../transport.ts';
import type { Download, SqlQueryInput, SqlQueryResult } from '../types.ts';

/** §17 read-only SQL over the project's tables (`bucket.table`). */
export const sqlApi = (t: Transport) => ({
  /** POST P/query with `format` json (the default): rows in the §7 value mapping. */
  query: (projectId: string, body: SqlQueryInput & { format?: 'json' }) => t.json<SqlQueryResult>('POST', '/projects/:id/query', [projectId], { json: body }),
  /** The same route with `format` csv, ndjson or parquet: the rows streamed. */
  queryStream: async (projectId: string, body: SqlQueryInput & { format: 'csv' | 'ndjson' | 'parquet' }, signal?: AbortSignal): Promise<Download> =>
    asDownload(await t.send('POST', '/projects/:id/query', [projectId], { json: body, signal, headers: { accept: '*/*' } })),
});
