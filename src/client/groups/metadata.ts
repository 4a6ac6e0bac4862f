import type { Transport } from '../transport.ts';
import type { DeleteMetadataQuery, MetadataList, UpsertMetadataInput } from '../types.ts';

const B = '/projects/:id/buckets/:bucket';
const T = `${B}/tables/:table`;
const C = `${T}/columns/:column`;

/** §12 metadata of buckets, tables and columns: list, upsert by (provider, key), delete one entry. */
export const metadataApi = (t: Transport) => ({
  listBucket: (projectId: string, bucket: string) => t.json<MetadataList>('GET', `${B}/metadata`, [projectId, bucket]),
  upsertBucket: (projectId: string, bucket: string, body: UpsertMetadataInput) => t.json<MetadataList>('POST', `${B}/metadata`, [projectId, bucket], { json: body }),
  deleteBucket: (projectId: string, bucket: string, key: string, query: DeleteMetadataQuery = {}) => t.empty('DELETE', `${B}/metadata/:key`, [projectId, bucket, key], { query }),
  listTable: (projectId: string, bucket: string, table: string) => t.json<MetadataList>('GET', `${T}/metadata`, [projectId, bucket, table]),
  upsertTable: (projectId: string, bucket: string, table: string, body: UpsertMetadataInput) => t.json<MetadataList>('POST', `${T}/metadata`, [projectId, bucket, table], { json: body }),
  deleteTable: (projectId: string, bucket: string, table: string, key: string, query: DeleteMetadataQuery = {}) =>
    t.empty('DELETE', `${T}/metadata/:key`, [projectId, bucket, table, key], { query }),
  listColumn: (projectId: string, bucket: string, table: string, column: string) => t.json<MetadataList>('GET', `${C}/metadata`, [projectId, bucket, table, column]),
  upsertColumn: (projectId: string, bucket: string, table: string, column: string, body: UpsertMetadataInput) =>
    t.json<MetadataList>('POST', `${C}/metadata`, [projectId, bucket, table, column], { json: body }),
  deleteColumn: (projectId: string, bucket: string, table: string, column: string, key: string, query: DeleteMetadataQuery = {}) =>
    t.empty('DELETE', `${C}/metadata/:key`, [projectId, bucket, table, column, key], { query }),
});
