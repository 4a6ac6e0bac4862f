import * as v from 'valibot';
import type { HandlerContext } from '../context.ts';
import type { BucketRecord, ColumnDef, ProjectRecord, TableRecord } from '../storage/catalog.ts';
import type { MetadataTarget } from '../storage/catalog/metadata.ts';
import { metadataBranchOfBucket, metadataBranchOfTable } from '../storage/locator.ts';
import { errors } from './errors.ts';
import { columnNotFound } from '../storage/schema.ts';
import { bucketFromPath, dataBucket, requireWritable, tableFromPath, validatePathNames } from './lookup.ts';
import { validate } from './request.ts';

/** A column default as §7 takes it: a literal or one of the allowed functions. */
export const ColumnDefaultSchema = v.nullable(v.union([v.pipe(v.string(), v.maxLength(1000)), v.pipe(v.number(), v.finite()), v.boolean()]));


export const MetadataProviderSchema = v.pipe(v.string(), v.regex(/^[a-z0-9._-]{1,64}$/, 'Provider must be 1-64 characters of a-z, 0-9, ., _ or -'));

// The path-name checks live with the lookups (every project route runs them first).
export { pathParam, validatePathNames } from './lookup.ts';
export { MetadataKeySchema } from './schemas.ts';

export interface ColumnLookup {
  project: ProjectRecord;
  bucket: BucketRecord;
  table: TableRecord;
  column?: ColumnDef;
}

/**
 * The table (and `:column`, when the route has one) of the path, in the Part II order:
 * path names (422), then 404s (project, bucket, table, column), then, for a `write`, 403
 * `bucket_readonly` on a linked bucket.
 */
export function schemaTargetFromPath(ctx: HandlerContext, mode: 'read' | 'write'): ColumnLookup {
  validatePathNames(ctx);
  const { project, bucket, table } = tableFromPath(ctx);
  let column: ColumnDef | undefined;
  if (ctx.params.column !== undefined) {
    const name = ctx.params.column;
    column = table.columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
    if (!column) throw columnNotFound(table, name);
  }
  if (mode === 'write') requireWritable(bucket);
  return { project, bucket, table, column };
}

/**
 * What a metadata route (`B/metadata`, `T/metadata`, `T/columns/{column}/metadata`) is
 * about. A linked bucket's metadata and its tables' are the source's (read-only: a write
 * answers 403 `bucket_readonly` after the 404s).
 */
export function metadataTargetFromPath(ctx: HandlerContext, mode: 'read' | 'write'): MetadataTarget {
  return metadataOwnerFromPath(ctx, mode).target;
}

/**
 * The metadata target and the object it belongs to: for table and column metadata the
 * table (§14: a write in a development branch goes to the branch's copy of the table, made
 * first), for bucket metadata the bucket (a write in a development branch to one of main's
 * buckets goes to the branch's copy of its metadata, made first; see
 * `withBucketMetadataWrite`). The target is where the entries are read now.
 */
export function metadataOwnerFromPath(ctx: HandlerContext, mode: 'read' | 'write'): { target: MetadataTarget; table?: TableRecord; bucket?: BucketRecord } {
  if (ctx.params.table === undefined) {
    validatePathNames(ctx);
    const { bucket } = bucketFromPath(ctx);
    const source = dataBucket(ctx, bucket);
    if (mode === 'write') requireWritable(bucket);
    const branch = metadataBranchOfBucket(ctx.services, bucket);
    return { target: { projectId: source.projectId, branch, bucket: source.name, table: null, column: null }, bucket };
  }
  const { table, column } = schemaTargetFromPath(ctx, mode);
  return { target: { projectId: table.projectId, branch: metadataBranchOfTable(table), bucket: table.bucket, table: table.name, column: column?.name ?? null }, table };
}
