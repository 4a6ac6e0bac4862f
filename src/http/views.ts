import type { Services } from '../services.ts';
import type { BucketRecord, TableRecord } from '../storage/catalog.ts';
import { isDevBranch, metadataBranchOfBucket, metadataBranchOfTable, tablesIn } from '../storage/locator.ts';
import type { MetadataEntry } from '../storage/catalog/metadata.ts';
import { tableSize } from '../storage/tables.ts';

/** The §12 metadata entry object. */
export function metadataView(entries: MetadataEntry[]) {
  return entries.map((e) => ({ key: e.key, value: e.value, provider: e.provider, updated_at: e.updatedAt }));
}

/** A bucket's own metadata; a linked bucket shows its source's (§12). */
function bucketMetadata(services: Services, bucket: BucketRecord) {
  const owner = bucket.source ?? { projectId: bucket.projectId, bucket: bucket.name };
  return metadataView(services.metadata.list({ projectId: owner.projectId, branch: metadataBranchOfBucket(services, bucket), bucket: owner.bucket, table: null, column: null }));
}

/** The §5 bucket object. A linked bucket counts the source's tables and is shared with nobody. */
export function bucketView(services: Services, bucket: BucketRecord) {
  const { catalog } = services;
  const tableCount = tablesIn(services, bucket).length;
  return {
    name: bucket.name,
    table_count: tableCount,
    description: bucket.description,
    is_linked: bucket.source !== null,
    source_project_id: bucket.source?.projectId ?? null,
    source_bucket_name: bucket.source?.bucket ?? null,
    shared_with: bucket.source ? [] : catalog.sharesOf(bucket.projectId, bucket.name).map((s) => s.targetProjectId).sort(),
    readonly_access: bucket.readonlyAccess,
    created_at: bucket.createdAt,
    metadata: bucketMetadata(services, bucket),
  };
}

export function columnViews(table: Pick<TableRecord, 'columns'>, names?: string[]) {
  const all = table.columns.map((column, index) => ({
    name: column.name,
    type: column.type,
    nullable: column.nullable,
    ordinal_position: index + 1,
  }));
  if (!names) return all;
  return names.map((name) => all.find((c) => c.name === name)!);
}

/**
 * The §7 table object. `bucketName` is the bucket as the caller addressed it (a linked
 * bucket's own name when read through a link). `settled`: reads (GET, list) show the size
 * the file has once the checkpoint after its last write is done, so that the table object
 * stays the same across a refused request; a write's own answer does not wait for that.
 */
export async function tableView(services: Services, table: TableRecord, bucketName = table.bucket, options: { settled?: boolean } = {}) {
  // `table` names where the rows live, so a linked table shows its source's metadata.
  const bundle = services.metadata.tableBundle(table.projectId, metadataBranchOfTable(table), table.bucket, table.name);
  const byColumn = new Map(Object.entries(bundle.columns).map(([name, entries]) => [name.toLowerCase(), entries]));
  const columns = columnViews(table).map((view, index) => ({
    ...view,
    default: table.columns[index]!.default ?? null,
    metadata: metadataView(byColumn.get(view.name.toLowerCase()) ?? []),
  }));
  return {
    name: table.name,
    bucket: bucketName,
    columns,
    row_count: table.rowCount,
    size_bytes: await tableSize(services.paths, table, options.settled ? services.registry : undefined),
    primary_key: table.primaryKey,
    created_at: table.createdAt,
    // §14: in a development branch, whose table this is.
    ...(isDevBranch(table.branch) ? { branch_state: table.branchState ?? 'main' } : {}),
    metadata: metadataView(bundle.table),
  };
}
