import type { Transport } from '../transport.ts';
import type { AddColumnInput, AlterColumnInput, SetPrimaryKeyInput, Table, TableProfile } from '../types.ts';

const T = '/projects/:id/buckets/:bucket/tables/:table';
const C = `${T}/columns/:column`;

/** §12 columns, primary key and profile. Every change answers with the table as it now is. */
export const schemaApi = (t: Transport) => ({
  addColumn: (projectId: string, bucket: string, table: string, body: AddColumnInput) => t.json<Table>('POST', `${T}/columns`, [projectId, bucket, table], { json: body }),
  /** Rename, change the type, nullability or default (at least one). */
  alterColumn: (projectId: string, bucket: string, table: string, column: string, body: AlterColumnInput) => t.json<Table>('PATCH', C, [projectId, bucket, table, column], { json: body }),
  dropColumn: (projectId: string, bucket: string, table: string, column: string) => t.json<Table>('DELETE', C, [projectId, bucket, table, column]),
  setPrimaryKey: (projectId: string, bucket: string, table: string, body: SetPrimaryKeyInput) => t.json<Table>('PUT', `${T}/primary-key`, [projectId, bucket, table], { json: body }),
  dropPrimaryKey: (projectId: string, bucket: string, table: string) => t.json<Table>('DELETE', `${T}/primary-key`, [projectId, bucket, table]),
  /** Column statistics in one pass. */
  profile: (projectId: string, bucket: string, table: string) => t.json<TableProfile>('GET', `${T}/profile`, [projectId, bucket, table]),
});
