import type { RouteDef } from '../routes.ts';
import { CreateSnapshotSchema, createTableSnapshot } from '../../handlers/snapshots/create.ts';
import { deleteSnapshot } from '../../handlers/snapshots/delete.ts';
import { getSnapshot } from '../../handlers/snapshots/get.ts';
import { ListTableSnapshotsQuerySchema, listTableSnapshots } from '../../handlers/snapshots/list-table.ts';
import { ListSnapshotsQuerySchema, listSnapshots } from '../../handlers/snapshots/list.ts';
import { RestoreSnapshotSchema, restoreTableSnapshot } from '../../handlers/snapshots/restore.ts';
import { getSnapshotSettings } from '../../handlers/snapshots/settings-get.ts';
import { SnapshotSettingsSchema, putSnapshotSettings } from '../../handlers/snapshots/settings-put.ts';

const P = '/projects/:id';
const T = `${P}/buckets/:bucket/tables/:table`;
const S = `${P}/snapshots/:snapshot_id`;

/**
 * §13: snapshots of tables, restore, and the project's snapshot settings. The settings
 * belong to the project: their branch twins (§14) read and write the same settings.
 */
export const snapshotRoutes: RouteDef[] = [
  { method: 'POST', path: `${T}/snapshots`, auth: 'project', branch: 'twin', scope: 'write', handler: createTableSnapshot, body: CreateSnapshotSchema, summary: 'Take a snapshot of a table', tag: 'snapshots', responses: [201, 401, 403, 404, 413, 415, 422] },
  { method: 'GET', path: `${T}/snapshots`, auth: 'project', branch: 'twin', scope: 'read', handler: listTableSnapshots, query: ListTableSnapshotsQuerySchema, summary: "List a table's snapshots", tag: 'snapshots', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: `${P}/snapshots`, auth: 'project', branch: 'twin', scope: 'read', handler: listSnapshots, query: ListSnapshotsQuerySchema, summary: "List the project's snapshots", tag: 'snapshots', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: S, auth: 'project', branch: 'twin', scope: 'read', handler: getSnapshot, summary: 'Get a snapshot', tag: 'snapshots', responses: [200, 401, 403, 404, 422] },
  { method: 'DELETE', path: S, auth: 'project', branch: 'twin', scope: 'write', handler: deleteSnapshot, summary: 'Delete a snapshot', tag: 'snapshots', responses: [204, 401, 403, 404, 422] },
  { method: 'POST', path: `${S}/restore`, auth: 'project', branch: 'twin', scope: 'write', handler: restoreTableSnapshot, body: RestoreSnapshotSchema, summary: 'Restore a snapshot into a table', tag: 'snapshots', responses: [200, 401, 403, 404, 409, 413, 415, 422] },
  { method: 'GET', path: `${P}/settings/snapshots`, auth: 'project', branch: 'twin', scope: 'read', handler: getSnapshotSettings, summary: "The project's snapshot settings", tag: 'snapshots', responses: [200, 401, 403, 404, 422] },
  { method: 'PUT', path: `${P}/settings/snapshots`, auth: 'project', branch: 'twin', scope: 'admin', handler: putSnapshotSettings, body: SnapshotSettingsSchema, summary: "Change the project's snapshot settings", tag: 'snapshots', responses: [200, 401, 403, 404, 413, 415, 422] },
];
