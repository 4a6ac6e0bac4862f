import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../http/errors.ts';
import type { Services } from '../services.ts';
import { withProjectLock } from './locks.ts';
import type { ProjectRecord } from './catalog.ts';
import type { ApiKeyRecord } from './catalog/keys.ts';
import { branchFiles, removeFolder } from './branches.ts';
import { deleteProjectWorkspaces } from './sql/workspaces.ts';
import { deleteProjectSnapshots } from './snapshots.ts';
import { deleteProjectFiles } from './files.ts';
import { tableSize } from './tables.ts';

export interface ProjectStats {
  size_bytes: number;
  table_count: number;
  bucket_count: number;
}

/** Live figures: table files measured on disk, counts from the catalog. */
export async function projectStats(services: Services, projectId: string): Promise<ProjectStats> {
  const tables = services.catalog.listProjectTables(projectId);
  const sizes = await Promise.all(tables.map((table) => tableSize(services.paths, table, services.registry)));
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
 * Creates a project: under the project's exclusive lock, `refuseExisting` (the id is free)
 * is checked, the folder `duckdb/project_{id}/` is made, then the catalog rows are written
 * (`refuseExisting` runs again under the catalog lock). A refused or failed create removes
 * a folder it made; a crash in between leaves an empty folder of an unknown project, which
 * reconciliation leaves alone and a later create of that id reuses.
 */
export async function createProject(services: Services, project: ProjectRecord, key: ApiKeyRecord, refuseExisting: () => void): Promise<void> {
  await withProjectLock(services, project.id, 'exclusive', async () => {
    refuseExisting();
    const created = await mkdir(services.paths.projectDir(project.id), { recursive: true });
    try {
      // The project's first key is written in the project's own transaction: never one without the other.
      const { keys } = services;
      await services.catalog.createProject(project, { statements: [keys.insertStatement(key)], apply: () => keys.put(key) }, refuseExisting);
    } catch (error) {
      if (created) await rm(services.paths.projectDir(project.id), { recursive: true, force: true });
      throw error;
    }
  });
}

/**
 * Deletes a project (§4) under its exclusive lock, so creates of buckets and tables in it
 * that are running finish first and those that come later find it gone. Under the lock it
 * re-checks the project is still active (a concurrent delete answers 404 `not_found`), waits
 * for every request using its tables (directly or through a link), marks it deleted in one
 * catalog transaction (keys, buckets, tables, shares, links gone), then removes its folder.
 * A crash after the catalog step leaves a folder that startup reconciliation removes.
 */
export async function deleteProject(services: Services, projectId: string): Promise<void> {
  const { catalog, paths, registry, clock } = services;
  // Its jobs stop first (§16): a running import holds its table, which the delete waits for.
  await services.jobRunner.cancelProject(projectId);
  await withProjectLock(services, projectId, 'exclusive', async () => {
    const project = catalog.getActiveProject(projectId);
    if (!project) throw errors.notFound(projectId);
    const tablePaths = catalog.listProjectTables(project.id).map((t) => paths.tableFile(t.projectId, t.bucket, t.name));
    // §14: its branches' files too (writes in branches hold the project lock shared: they are done).
    const branchPaths = services.branches.list(project.id).flatMap((b) => branchFiles(services, project.id, b.id));
    await registry.exclusive([...tablePaths, ...branchPaths], async () => {
      await catalog.markProjectDeleted(project.id, clock.now().toISOString());
      // A crash from here on leaves branch records and files of a deleted project, which start-up removes.
      await services.branches.dropProject(project.id);
      await removeFolder(paths.branchesProjectDir(project.id), paths.branchesDir);
      // Its keys already fail (the project is not active); now they are gone from the record too.
      await services.keys.dropProject(project.id);
      await services.metadata.dropProject(project.id);
      await deleteProjectWorkspaces(services, project.id);
      // A crash before this leaves records of a deleted project, which start-up removes.
      await deleteProjectSnapshots(services, project.id);
      // Records first, then the folder: a crash in between leaves files that start-up deletes.
      await deleteProjectFiles(services, project.id);
      await services.jobs.removeProject(project.id);
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
  });
}
