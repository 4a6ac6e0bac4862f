import type { BucketRecord, Catalog, ShareRecord } from './catalog.ts';

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The share of a project's bucket with `targetProjectId`, when there is one. */
export function findShare(catalog: Catalog, projectId: string, bucket: string, targetProjectId: string): ShareRecord | undefined {
  return catalog.sharesOf(projectId, bucket).find((share) => same(share.targetProjectId, targetProjectId));
}

/** The bucket through which `projectId` links the given source bucket, when it does. */
export function linkOf(catalog: Catalog, projectId: string, source: { projectId: string; bucket: string }): BucketRecord | undefined {
  return catalog
    .linksTo(source.projectId, source.bucket)
    .find((link) => same(link.projectId, projectId));
}

export interface SharedBucketView {
  source_project_id: string;
  source_bucket_name: string;
  description: string | null;
  table_count: number;
  linked_as: string | null;
}

/**
 * §6 shared-buckets: what other projects shared with `projectId`, sorted by source project
 * then bucket name, each with the name of the project's link to it (or null).
 */
export function sharedBucketsOf(catalog: Catalog, projectId: string): SharedBucketView[] {
  const out: SharedBucketView[] = [];
  for (const share of catalog.sharesWith(projectId)) {
    const source = catalog.getBucket(share.projectId, share.bucket);
    if (!source || !catalog.getActiveProject(source.projectId)) continue;
    out.push({
      source_project_id: source.projectId,
      source_bucket_name: source.name,
      description: source.description,
      table_count: catalog.listTables(source.projectId, source.name).length,
      linked_as: linkOf(catalog, projectId, { projectId: source.projectId, bucket: source.name })?.name ?? null,
    });
  }
  return out.sort((a, b) => byName(a.source_project_id, b.source_project_id) || byName(a.source_bucket_name, b.source_bucket_name));
}
