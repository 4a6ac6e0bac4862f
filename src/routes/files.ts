import type { RouteDef } from '../routes.ts';
import { deleteFile } from '../../handlers/files/delete.ts';
import { downloadFile } from '../../handlers/files/download.ts';
import { getFile } from '../../handlers/files/get.ts';
import { ListFilesQuerySchema, listFiles } from '../../handlers/files/list.ts';
import { UploadQuerySchema, uploadFile } from '../../handlers/files/upload.ts';

const P = '/projects/:id';

/** §15: files kept by the service. */
export const fileRoutes: RouteDef[] = [
  { method: 'POST', path: `${P}/files`, auth: 'project', branch: 'twin', scope: 'write', handler: uploadFile, query: UploadQuerySchema, summary: 'Upload a file (streamed body, stored as sent)', tag: 'files', responses: [201, 400, 401, 403, 404, 413, 422] },
  { method: 'GET', path: `${P}/files`, auth: 'project', branch: 'twin', scope: 'read', handler: listFiles, query: ListFilesQuerySchema, summary: 'List files, newest first, optionally by tags', tag: 'files', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: `${P}/files/:file_id`, auth: 'project', branch: 'twin', scope: 'read', handler: getFile, summary: 'Get a file object', tag: 'files', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: `${P}/files/:file_id/download`, auth: 'project', branch: 'twin', scope: 'read', handler: downloadFile, summary: 'Download a file (Range supported)', tag: 'files', responses: [200, 206, 304, 401, 403, 404, 416, 422] },
  { method: 'DELETE', path: `${P}/files/:file_id`, auth: 'project', branch: 'twin', scope: 'write', handler: deleteFile, summary: 'Delete a file', tag: 'files', responses: [204, 401, 403, 404, 422] },
];
