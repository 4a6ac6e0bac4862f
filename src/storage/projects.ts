import { randomUUID } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Services } from '../services.ts';
import { withBucketLocks } from './buckets.ts';
import type { ProjectRecord } from './catalog.ts';
import { branchFiles, removeFolder, withBranchesExclusive } from './branches.ts';
import { tableSize } from './tables.ts';

export interface ProjectStats {
  size_bytes: number;
  table_count: number;
  bucket_count: number;
}

/** Live figures: table files measured on disk, counts from the catalog. */
export async function projectStats(services: Services, projectId: string): Promise<ProjectStats> {
  const tables = services.catalog.listProjectTables(projectId);
  const sizes = await Promise.all(tables.map((table) => tableSize(services.paths, table)));
  return {
    size_bytes: sizes.reduce((a, b) => a + b, 0),
    table_count: tables.length,
    bucket_count: services.catalog.listBuckets(projectId).length,
  };
}

export async function projectView(services: Services, project: ProjectRecord) {
  const stats = project.status === 'active' ? await projectStats(services, project.id) : { size_bytes: 0, table_count: 0, bucket_count: 0 };
  return {
    id: project.id,
    name: project.name,
    db_path: `project_${project.id}`,
    created_at: project.createdAt,
    updated_at: project.updatedAt,
    ...stats,
    status: project.status,
    settings: project.settings,
  };
}

/**
 * Deletes a project: waits for every request using its tables (directly or through a
 * link), marks it deleted in one catalog transaction (keys, buckets, shares, links gone),
 * then removes its folder. A crash after the catalog step leaves a folder that startup
 * reconciliation removes.
 */
export async function deleteProject(services: Services, project: ProjectRecord): Promise<void> {
  const { catalog } = services;
  // Table creates hold their bucket's lock: wait for those running, keep new ones out.
  const buckets = catalog.listBuckets(project.id).filter((b) => !b.source).map((b) => b.name);
  await withBucketLocks(services, project.id, buckets, () => withBranchesExclusive(services, project.id, () => deleteUnlocked(services, project)));
}

async function deleteUnlocked(services: Services, project: ProjectRecord): Promise<void> {
  const { catalog, paths, registry } = services;
  const tablePaths = catalog.listProjectTables(project.id).map((t) => paths.tableFile(t.projectId, t.bucket, t.name));
  // §14: its branches' files too (their readers finish first).
  const branchPaths = services.branches.list(project.id).flatMap((b) => branchFiles(services, project.id, b.id));
  await registry.exclusive([...tablePaths, ...branchPaths], async () => {
    await catalog.markProjectDeleted(project.id, new Date().toISOString());
    // A crash from here on leaves records and files of a deleted project, which start-up removes.
    await services.branches.dropProject(project.id);
    await removeFolder(paths.branchesProjectDir(project.id), paths.branchesDir);
    // Its keys already fail (the project is not active); now they are gone from the record too.
    await services.keys.dropProject(project.id);
    const folder = paths.projectDir(project.id);
    const trash = join(paths.duckdbDir, `.trash-${randomUUID()}`);
    try {
      await rename(folder, trash);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await rm(trash, { recursive: true, force: true });
  });
}
