import type { Transport } from '../transport.ts';
import type { CreateSnapshotInput, ListSnapshotsQuery, ListTableSnapshotsQuery, RestoreResult, RestoreSnapshotInput, Snapshot, SnapshotList, SnapshotSettings, SnapshotSettingsInput } from '../types.ts';

const P = '/projects/:id';
const T = `${P}/buckets/:bucket/tables/:table`;
const S = `${P}/snapshots/:snapshot_id`;

/** §13 snapshots, restore, and the project's snapshot settings. */
export const snapshotsApi = (t: Transport) => ({
  create: (projectId: string, bucket: string, table: string, body: CreateSnapshotInput = {}) => t.json<Snapshot>('POST', `${T}/snapshots`, [projectId, bucket, table], { json: body }),
  /** Snapshots taken of this bucket and table name, newest first. */
  listForTable: (projectId: string, bucket: string, table: string, query: ListTableSnapshotsQuery = {}) =>
    t.json<SnapshotList>('GET', `${T}/snapshots`, [projectId, bucket, table], { query }),
  /** Every snapshot of the project (all branches, deleted tables too), newest first. */
  list: (projectId: string, query: ListSnapshotsQuery = {}) => t.json<SnapshotList>('GET', `${P}/snapshots`, [projectId], { query }),
  get: (projectId: string, snapshotId: string) => t.json<Snapshot>('GET', S, [projectId, snapshotId]),
  delete: (projectId: string, snapshotId: string) => t.empty('DELETE', S, [projectId, snapshotId]),
  /** By default where it was taken; `overwrite` replaces an existing table (after an auto snapshot of it). */
  restore: (projectId: string, snapshotId: string, body: RestoreSnapshotInput = {}) => t.json<RestoreResult>('POST', `${S}/restore`, [projectId, snapshotId], { json: body }),
  settings: (projectId: string) => t.json<SnapshotSettings>('GET', `${P}/settings/snapshots`, [projectId]),
  /** Any subset; applies to snapshots taken from then on. */
  updateSettings: (projectId: string, body: SnapshotSettingsInput) => t.json<SnapshotSettings>('PUT', `${P}/settings/snapshots`, [projectId], { json: body }),
});
