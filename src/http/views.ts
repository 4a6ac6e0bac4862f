import type { Services } from '../services.ts';
import type { BucketRecord, TableRecord } from '../storage/catalog.ts';
import { isDevBranch, tablesIn } from '../storage/locator.ts';
import { tableSize } from '../storage/tables.ts';

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
 * bucket's own name when read through a link).
 */
export async function tableView(services: Services, table: TableRecord, bucketName = table.bucket) {
  return {
    name: table.name,
    bucket: bucketName,
    columns: columnViews(table),
    row_count: table.rowCount,
    size_bytes: await tableSize(services.paths, table),
    primary_key: table.primaryKey,
    created_at: table.createdAt,
    // §14: in a development branch, whose table this is.
    ...(isDevBranch(table.branch) ? { branch_state: table.branchState ?? 'main' } : {}),
  };
}
