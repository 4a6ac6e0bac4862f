import type { Transport } from '../transport.ts';
import type { CreateTableInput, Preview, PreviewQuery, Table, TableList } from '../types.ts';

const TS = '/projects/:id/buckets/:bucket/tables';
const T = `${TS}/:table`;

/** §7 tables. */
export const tablesApi = (t: Transport) => ({
  create: (projectId: string, bucket: string, body: CreateTableInput) => t.json<Table>('POST', TS, [projectId, bucket], { json: body }),
  list: (projectId: string, bucket: string) => t.json<TableList>('GET', TS, [projectId, bucket]),
  get: (projectId: string, bucket: string, table: string) => t.json<Table>('GET', T, [projectId, bucket, table]),
  delete: (projectId: string, bucket: string, table: string) => t.empty('DELETE', T, [projectId, bucket, table]),
  /** GET …/preview — the first rows; see `data.preview` for columns, filters and sort keys. */
  preview: (projectId: string, bucket: string, table: string, query: PreviewQuery = {}) => t.json<Preview>('GET', `${T}/preview`, [projectId, bucket, table], { query }),
});
