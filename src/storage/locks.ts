import type { StoragePaths } from './paths.ts';
import type { AttachmentRegistry } from './registry.ts';

interface LockDeps {
  paths: StoragePaths;
  registry: AttachmentRegistry;
}

/**
 * Runs `work` holding the project's lock. Everything that creates or deletes something in
 * the project's folder (a bucket, a table, a bucket delete) holds it `shared`, so those run
 * in parallel; creating and deleting the project itself hold it `exclusive`, so a project
 * delete waits for every create already running and keeps new ones out until it is done
 * (they then find the project gone). Locks are always taken project → bucket → table.
 */
export function withProjectLock<T>(deps: LockDeps, projectId: string, mode: 'shared' | 'exclusive', work: () => Promise<T>): Promise<T> {
  return deps.registry.withFolderLock(deps.paths.projectDir(projectId), mode, work);
}

/**
 * Runs `work` holding the bucket's lock (inside the project's shared lock). Creating and
 * deleting the bucket take it alone; table creates in it share it, so a delete cannot move
 * the folder away while a create is writing into it (which would leave files and catalog
 * rows behind for a deleted bucket).
 */
export function withBucketLock<T>(
  deps: LockDeps,
  projectId: string,
  bucket: string,
  work: () => Promise<T>,
  mode: 'shared' | 'exclusive' = 'exclusive',
): Promise<T> {
  return withProjectLock(deps, projectId, 'shared', () => deps.registry.withFolderLock(deps.paths.bucketDir(projectId, bucket), mode, work));
}
