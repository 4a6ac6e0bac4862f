import type { RouteDef } from '../routes.ts';
import { AddColumnSchema, addTableColumn } from '../../handlers/schema/add-column.ts';
import { AlterColumnSchema, alterTableColumn } from '../../handlers/schema/alter-column.ts';
import { dropTableColumn } from '../../handlers/schema/drop-column.ts';
import { dropTablePrimaryKey } from '../../handlers/schema/drop-primary-key.ts';
import { getTableProfile } from '../../handlers/schema/profile.ts';
import { SetPrimaryKeySchema, setTablePrimaryKey } from '../../handlers/schema/set-primary-key.ts';
import { DeleteMetadataQuerySchema, deleteMetadata } from '../../handlers/metadata/delete.ts';
import { listMetadata } from '../../handlers/metadata/list.ts';
import { UpsertMetadataSchema, upsertMetadata } from '../../handlers/metadata/upsert.ts';

const B = '/projects/:id/buckets/:bucket';
const T = `${B}/tables/:table`;
const C = `${T}/columns/:column`;

/** §12: columns, primary key, profile, and metadata of buckets, tables and columns. */
export const schemaRoutes: RouteDef[] = [
  { method: 'POST', path: `${T}/columns`, auth: 'project', branch: 'twin', scope: 'write', handler: addTableColumn, body: AddColumnSchema, summary: 'Add a column', tag: 'schema', responses: [201, 400, 401, 403, 404, 409, 413, 415, 422] },
  { method: 'PATCH', path: C, auth: 'project', branch: 'twin', scope: 'write', handler: alterTableColumn, body: AlterColumnSchema, summary: 'Rename a column, change its type, nullability or default', tag: 'schema', responses: [200, 400, 401, 403, 404, 409, 413, 415, 422] },
  { method: 'DELETE', path: C, auth: 'project', branch: 'twin', scope: 'write', handler: dropTableColumn, summary: 'Drop a column', tag: 'schema', responses: [200, 400, 401, 403, 404, 422] },
  { method: 'PUT', path: `${T}/primary-key`, auth: 'project', branch: 'twin', scope: 'write', handler: setTablePrimaryKey, body: SetPrimaryKeySchema, summary: 'Set or replace the primary key', tag: 'schema', responses: [200, 400, 401, 403, 404, 409, 413, 415, 422] },
  { method: 'DELETE', path: `${T}/primary-key`, auth: 'project', branch: 'twin', scope: 'write', handler: dropTablePrimaryKey, summary: 'Drop the primary key', tag: 'schema', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: `${T}/profile`, auth: 'project', branch: 'twin', scope: 'read', handler: getTableProfile, summary: 'Column statistics of a table', tag: 'schema', responses: [200, 401, 403, 404, 422] },

  ...([['bucket', B], ['table', T], ['column', C]] as const).flatMap(([of, base]): RouteDef[] => [
    { method: 'GET', path: `${base}/metadata`, auth: 'project', branch: 'twin', scope: 'read', handler: listMetadata, summary: `List the ${of}'s metadata`, tag: 'metadata', responses: [200, 401, 403, 404, 422] },
    { method: 'POST', path: `${base}/metadata`, auth: 'project', branch: 'twin', scope: 'write', handler: upsertMetadata, body: UpsertMetadataSchema, summary: `Upsert metadata of the ${of}`, tag: 'metadata', responses: [200, 401, 403, 404, 413, 415, 422] },
    { method: 'DELETE', path: `${base}/metadata/:key`, auth: 'project', branch: 'twin', scope: 'write', handler: deleteMetadata, query: DeleteMetadataQuerySchema, summary: `Delete a metadata entry of the ${of}`, tag: 'metadata', responses: [204, 401, 403, 404, 422] },
  ]),
];
