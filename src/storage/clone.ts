import { constants, existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HelperThreadError, type ByteWorker } from './byte-worker.ts';
import type { Database } from './db.ts';
import { partialPath } from './paths.ts';
import type { AttachmentRegistry } from './registry.ts';
import { quoteIdent, quoteLiteral } from './sql.ts';

export interface CloneDeps {
  db: Database;
  registry: AttachmentRegistry;
  /** Copies on a helper thread where given (the service's; start-up recovery copies on its own). */
  byteWorker?: Pick<ByteWorker, 'copyFile'>;
}

/** Hooks for tests that need to act at a precise moment of a clone. */
export interface CloneHooks {
  /** Runs after the source is checkpointed, just before its bytes are copied. */
  beforeCopy?: () => Promise<void>;
}

const hasWal = (path: string) => (statSync(`${path}.wal`, { throwIfNoEntry: false })?.size ?? 0) > 0;

/** Flushes a file (or a folder, for the names in it) to disk. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Checkpoints a file attached only here (a private copy nobody else knows of) and detaches it. */
async function checkpointPrivate(deps: CloneDeps, path: string): Promise<void> {
  const alias = deps.registry.nextAlias();
  await deps.db.with(async (c) => {
    await deps.registry.runDdl(() => c.run(`ATTACH ${quoteLiteral(path)} AS ${quoteIdent(alias)}`));
    try {
      await c.run(`CHECKPOINT ${quoteIdent(alias)}`);
    } finally {
      await deps.registry.runDdl(() => c.run(`DETACH ${quoteIdent(alias)}`));
    }
  });
  await rm(`${path}.wal`, { force: true });
}

/**
 * Folds a table file's WAL into the file, so that the file alone holds every committed
 * change. The caller holds the table's write lock, so no write can add to the WAL meanwhile.
 * `shared`: the file may be attached by readers (it is checkpointed through the registry);
 * otherwise the caller holds it exclusively (`registry.exclusive`/`replace`) and it is
 * checkpointed privately.
 */
export async function settleWal(deps: CloneDeps, path: string, mode: 'shared' | 'exclusive'): Promise<void> {
  if (!hasWal(path)) return;
  if (mode === 'exclusive') return checkpointPrivate(deps, path);
  const alias = await deps.registry.acquire(path);
  try {
    await deps.db.with((c) => c.run(`CHECKPOINT ${quoteIdent(alias)}`));
  } catch {
    // A transaction still open on the file can make CHECKPOINT fail; cloneFile then copies
    // the WAL along and folds it into the copy instead.
  } finally {
    deps.registry.release(path);
  }
}

/** Errors of a copy-on-write clone that mean "this file system cannot clone", not "this copy failed". */
const NO_CLONE = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY', 'EPERM']);

/**
 * Copies `source` to `target` (created or overwritten): a copy-on-write clone where the file
 * system offers one, else the bytes through the page cache with plain reads and writes.
 *
 * For a caller whose own catalog commit (an fsync) runs beside the copy (a restore's intent,
 * a snapshot's record, the record of a branch's first copy of a table): copy_file_range,
 * which a copy otherwise falls back to, puts its blocks into ext4's running journal
 * transaction without reflink, so the next fsync anywhere on the file system waits until
 * they are on disk. Measured on this machine with an 18 MB table file: a catalog fsync beside
 * copy_file_range took 13–15 ms (a snapshot's record 13–16 ms in four of ten, a branch copy's
 * record 22–24 ms in five of ten), beside plain writes 1–2.5 ms (a snapshot's record 2.4–7.8
 * ms, a branch copy's 4.5–16). Written with delayed allocation, the bytes reach the disk when
 * the kernel writes them back or the clone's own fsync asks for them. The copy itself takes
 * about as long either way (6–11 ms with copy_file_range, 7–13 ms this way; the first one
 * after start 25 ms more, as the copy thread starts then).
 */
async function bufferedCopy(deps: CloneDeps, source: string, target: string): Promise<void> {
  try {
    await copyFile(source, target, constants.COPYFILE_FICLONE_FORCE);
    return;
  } catch (error) {
    if (!NO_CLONE.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
  }
  // On the byte worker's copy thread: synchronous reads and writes there take no turn of an
  // event loop between two chunks (18 MB in 5.5 ms; 7–8 ms in 1 MiB chunks from this thread).
  const helped = deps.byteWorker?.copyFile(source, target);
  if (helped) {
    try {
      return await helped;
    } catch (error) {
      if (!(error instanceof HelperThreadError)) throw error;
    }
  }
  // The copy thread is taken (another restore) or there is none (start-up recovery): the
  // ordinary copy, whose only cost is the wait it may put on a commit beside it.
  await copyFile(source, target, constants.COPYFILE_FICLONE);
}

/**
 * How a clone's bytes reach the disk. `sync`: fsynced before the rename, and the folder
 * after it (the caller may then drop the only other copy). `background`: the rename comes
 * first and the fsyncs (file, then folder) run after the call returns, because the source
 * stays: kill -9 does not lose the page cache, so the clone survives it either way, and
 * only a power loss within moments of the clone can leave it short (snapshot
 * reconciliation compares a snapshot file with its recorded size for that).
 */
export type CloneDurability = 'sync' | 'background';

/**
 * The one clone primitive for table-shaped files (snapshots, restores, branch copies): a
 * copy-on-write clone where the file system offers one (a plain copy otherwise) written
 * under a temporary name, then renamed to `destination`, so that `destination` either does
 * not exist or is complete, also across a crash.
 *
 * `source` is `live` when it is a table file others may have attached: the caller then
 * holds its write lock (no write can commit during the copy) and the file is checkpointed
 * first, because a copy of a file whose changes still sit in its WAL silently lacks them.
 * Readers are not blocked. Returns the size of the new file.
 */
export async function cloneFile(
  deps: CloneDeps,
  source: string,
  destination: string,
  options: {
    live: boolean;
    hooks?: CloneHooks;
    /**
     * The bytes go through the page cache with plain writes (`bufferedCopy`), for a caller
     * whose catalog commit runs beside the copy; otherwise a copy-on-write clone or
     * copy_file_range (`fs.copyFile`).
     */
    buffered?: boolean;
    durability?: CloneDurability;
    /**
     * With `background`: the fsyncs start once this settles. A caller that renames files
     * right after the clone passes the end of that step, as a running fsync of the clone's
     * bytes holds up renames on the same file system (ext4's journal: a restore's swap took
     * 5–7 ms instead of under 1 ms while its clone was being flushed).
     */
    syncAfter?: Promise<unknown>;
  },
): Promise<number> {
  if (options.live) await settleWal(deps, source, 'shared');
  await mkdir(dirname(destination), { recursive: true });
  const temp = partialPath(destination);
  try {
    await options.hooks?.beforeCopy?.();
    const copy = (from: string, to: string) => (options.buffered ? bufferedCopy(deps, from, to) : copyFile(from, to, constants.COPYFILE_FICLONE));
    await copy(source, temp);
    if (existsSync(`${source}.wal`) && hasWal(source)) {
      // The checkpoint did not happen: the WAL is copied with the file and folded into the copy.
      await copy(`${source}.wal`, `${temp}.wal`);
      await checkpointPrivate(deps, temp);
    }
    if (options.durability === 'background') {
      // Opened before the rename: the fsync reaches the clone wherever it is moved next.
      const handle = await open(temp, 'r');
      try {
        await rename(temp, destination);
      } catch (error) {
        await handle.close();
        throw error;
      }
      void (options.syncAfter ?? Promise.resolve())
        .catch(() => {})
        .then(() => handle.sync())
        .then(() => fsyncPath(dirname(destination)))
        .catch(() => {})
        .finally(() => handle.close().catch(() => {}));
    } else {
      await fsyncPath(temp);
      await rename(temp, destination);
      await fsyncPath(dirname(destination));
    }
  } catch (error) {
    await rm(`${temp}.wal`, { force: true });
    await rm(temp, { force: true });
    throw error;
  }
  return statSync(destination).size;
}

/**
 * Moves a file that nobody has attached (the caller holds it exclusively) to `destination`:
 * a rename, so no byte is copied; across file systems a clone and a removal. The folder is
 * fsynced before this returns, or with `durability: 'background'` after (for a caller whose
 * durable intent record covers the move either way).
 */
export async function moveFile(deps: CloneDeps, source: string, destination: string, options: { durability?: CloneDurability } = {}): Promise<void> {
  await mkdir(dirname(destination), { recursive: true });
  try {
    await rename(source, destination);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await cloneFile(deps, source, destination, { live: false });
    // The clone fsynced the file and its folder before the source went.
    await rm(source, { force: true });
    return;
  }
  if (options.durability === 'background') fsyncPath(dirname(destination)).catch(() => {});
  else await fsyncPath(dirname(destination));
}
