import type { SnapshotRecord, SnapshotSettings } from '../storage/catalog/snapshots.ts';
import { columnViews, metadataView } from './views.ts';

/** The §13 snapshot object; its columns look as the table's did (§12: defaults and metadata). */
export function snapshotView(record: SnapshotRecord) {
  const byColumn = new Map(Object.entries(record.metadata?.columns ?? {}).map(([name, entries]) => [name.toLowerCase(), entries]));
  const columns = columnViews(record).map((view, index) => ({
    ...view,
    default: record.columns[index]!.default ?? null,
    metadata: metadataView(byColumn.get(view.name.toLowerCase()) ?? []),
  }));
  return {
    id: record.id,
    bucket: record.bucket,
    table: record.table,
    branch: record.branch,
    description: record.description,
    kind: record.kind,
    reason: record.reason,
    row_count: record.rowCount,
    size_bytes: record.sizeBytes,
    columns,
    primary_key: record.primaryKey,
    created_at: record.createdAt,
    expires_at: record.expiresAt,
  };
}

/** `GET P/settings/snapshots`: the effective settings. */
export function snapshotSettingsView(settings: SnapshotSettings) {
  return { auto: { ...settings.auto }, manual_retention_days: settings.manual_retention_days, auto_retention_days: settings.auto_retention_days };
}
