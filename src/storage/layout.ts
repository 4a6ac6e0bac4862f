import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import type { StoragePaths } from './paths.ts';

type FolderName = keyof StoragePaths['folders'];

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Whether each storage folder exists and is a directory. */
export async function checkFolders(paths: StoragePaths): Promise<Record<FolderName, boolean>> {
  const entries = await Promise.all(
    Object.entries(paths.folders).map(async ([name, dir]) => [name, await isDirectory(dir)] as const),
  );
  return Object.fromEntries(entries) as Record<FolderName, boolean>;
}

/**
 * Creates the missing folders and checks each is writable. Errors name the folder (by
 * its role, not its host path) and the reason.
 */
export async function initFolders(paths: StoragePaths): Promise<{ created: FolderName[]; errors: { folder: FolderName; error: string }[] }> {
  const created: FolderName[] = [];
  const errors: { folder: FolderName; error: string }[] = [];
  for (const [name, dir] of Object.entries(paths.folders) as [FolderName, string][]) {
    try {
      if (!(await isDirectory(dir))) {
        await mkdir(dir, { recursive: true });
        created.push(name);
      }
      await access(dir, constants.W_OK);
    } catch (error) {
      errors.push({ folder: name, error: (error as NodeJS.ErrnoException).code ?? 'unknown error' });
    }
  }
  return { created, errors };
}
