import { randomBytes, randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { finished, Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Logger } from 'pino';
import { errors, HttpError } from '../http/errors.ts';
import { payloadTooLarge } from '../http/request.ts';
import type { Services } from '../services.ts';
import { HelperThreadError, inlineHasher, type StreamHasher } from './byte-worker.ts';
import type { Catalog } from './catalog.ts';
import type { FileCatalog, FileRecord } from './catalog/files.ts';
import { withProjectLock } from './locks.ts';
import type { StoragePaths } from './paths.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** What an upload says about itself besides its bytes. */
export interface UploadSpec {
  name: string;
  tags: string[];
  permanent: boolean;
  contentType: string;
  contentEncoding: string | null;
  /** The uploading key's id (null for the service admin key). */
  createdBy: string | null;
}

/**
 * A request body as a Node stream: behind the Node server adapter the body wraps the
 * socket's IncomingMessage (exposed as `.readable`); any other WHATWG stream is adapted.
 */
export function bodyStream(body: ReadableStream<Uint8Array> | null): Readable {
  if (!body) return Readable.from([]);
  const inner = (body as { readable?: unknown }).readable;
  return inner instanceof Readable ? inner : Readable.fromWeb(body as NodeReadableStream<Uint8Array>);
}

/** A fresh file id no file has (48 random bits, as in the contract's example). */
export function newFileId(files: FileCatalog): string {
  for (;;) {
    const id = `f_${randomBytes(6).toString('hex')}`;
    if (!files.has(id)) return id;
  }
}

export interface WrittenFile {
  sizeBytes: number;
  sha256: string;
}

export interface StagingOptions {
  /** Where the SHA-256 is computed (for this staging file); on this thread when not given. */
  hasher?: StreamHasher;
  /** Called with the size of each chunk as it is read (job progress). */
  onBytes?: (n: number) => void;
}

/** How many received bytes may wait for the disk before the source is paused. */
const WRITE_BUFFER = 4 << 20;

/**
 * Streams `source` into a new staging file, counting and hashing on the way; past `limit`
 * bytes it stops with 413 without reading on. The source's chunks are taken as they come
 * ('data', no per-chunk promise): each is counted and queued for the file; while one write
 * is out the queue grows, and the next write takes all of it at once (one writev). After
 * each write the hasher is told the file's size: for a large stream a helper thread reads
 * the new bytes back from the page cache and hashes them beside the next reads and writes
 * (a small one is hashed chunk by chunk on this thread). Memory stays flat: the source is
 * paused while the queue holds WRITE_BUFFER bytes (or a hasher has not taken a chunk yet).
 * On any failure the source is destroyed and the staging file removed.
 *
 * The file is not fsynced: it is complete in the page cache when this resolves, which is
 * what kill -9 needs (the kernel keeps it). A power cut before the kernel has written it
 * back can leave it short; start-up then drops it with its record (`reconcileFiles`).
 */
export async function writeStaging(source: Readable, staging: string, limit: number, options: StagingOptions = {}): Promise<WrittenFile> {
  const hasher = options.hasher ?? inlineHasher();
  let handle: FileHandle | undefined;
  try {
    handle = await open(staging, 'wx');
    const sizeBytes = await pumpToFile(source, handle, limit, hasher, options.onBytes);
    await handle.close();
    handle = undefined;
    return { sizeBytes, sha256: await hasher.digest() };
  } catch (error) {
    hasher.abort();
    stopReading(source);
    await handle?.close().catch(() => {});
    await rm(staging, { force: true });
    throw error;
  }
}

/**
 * Stops reading a source that failed or was refused, as `stream.pipeline` does: a server
 * request is first let go of its socket, so the socket stays open for the answer (a 413
 * still reaches the client) instead of being cut with the request.
 */
function stopReading(source: Readable): void {
  if (source instanceof IncomingMessage && !source.destroyed) (source as { socket: unknown }).socket = null;
  source.destroy();
}

/** Writes `chunks` (`bytes` in all) at the file's position, the rest again after a short write. */
async function writeAll(handle: FileHandle, chunks: Buffer[], bytes: number): Promise<void> {
  const { bytesWritten } = await handle.writev(chunks);
  if (bytesWritten < bytes) {
    let rest = Buffer.concat(chunks).subarray(bytesWritten);
    while (rest.length > 0) rest = rest.subarray((await handle.write(rest)).bytesWritten);
  }
}

/**
 * The loop of `writeStaging`: resolves with the byte count once the source ended and every
 * byte is written and handed to the hasher; rejects on the first failure (the source's, the
 * file's, the hasher's, or 413), but only once no write or hash copy is still out, so the
 * caller may close and remove the file at once.
 */
function pumpToFile(source: Readable, handle: FileHandle, limit: number, hasher: StreamHasher, onBytes?: (n: number) => void): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let size = 0;
    let written = 0;
    let queue: Buffer[] = [];
    let queued = 0;
    let writing = false;
    let ended = false;
    let settled = false;
    let failure: { error: unknown } | undefined;
    // A chunk the hasher has not taken yet (its update returned a promise); later chunks wait behind it.
    let hashing: Promise<void> | undefined;

    const settle = () => {
      if (settled || writing || hashing) return;
      if (failure) {
        settled = true;
        detach();
        reject(failure.error);
      } else if (ended && queued === 0) {
        settled = true;
        detach();
        resolve(size);
      }
    };
    const fail = (error: unknown) => {
      failure ??= { error };
      source.pause();
      settle();
    };
    /** Lets the source flow again once the queue has room and the hasher has taken every chunk. */
    const flow = () => {
      if (!failure && !ended && !hashing && queued < WRITE_BUFFER && source.isPaused()) source.resume();
    };
    const write = () => {
      const batch = queue;
      const bytes = queued;
      queue = [];
      queued = 0;
      writing = true;
      writeAll(handle, batch, bytes).then(
        () => {
          writing = false;
          written += bytes;
          hasher.written(written);
          if (!failure && queued > 0) write();
          else settle();
          flow();
        },
        (error: unknown) => {
          writing = false;
          fail(error);
        },
      );
    };
    const hash = (chunk: Buffer) => {
      const taken = hashing ? hashing.then(() => hasher.update(chunk)) : hasher.update(chunk);
      if (!taken) return;
      source.pause();
      const current: Promise<void> = taken.then(
        () => {
          if (hashing !== current) return;
          hashing = undefined;
          settle();
          flow();
        },
        (error: unknown) => {
          if (hashing === current) hashing = undefined;
          fail(error);
        },
      );
      hashing = current;
    };
    const onData = (chunk: Buffer) => {
      if (failure) return;
      size += chunk.length;
      if (size > limit) return fail(payloadTooLarge(limit));
      onBytes?.(chunk.length);
      hash(chunk);
      queue.push(chunk);
      queued += chunk.length;
      if (!writing) write();
      else if (queued >= WRITE_BUFFER) source.pause();
    };
    const stopWatching = finished(source, { writable: false }, (error) => {
      if (error) return fail(error);
      ended = true;
      settle();
    });
    const detach = () => {
      source.off('data', onData);
      stopWatching();
    };
    source.on('data', onData);
    source.resume();
  });
}

/** A body this small is hashed on the main thread: the helper's messages would cost more. */
const SMALL_BODY = 1 << 20;

/**
 * The hasher for `staging`, a file about to be written with `declared` bytes (unknown:
 * undefined): the helper thread, reading the file back as it grows, unless the body is
 * small (or the helper cannot be had).
 */
export function hasherFor(services: Pick<Services, 'byteWorker'>, staging: string, declared?: number): StreamHasher {
  if (declared !== undefined && declared < SMALL_BODY) return inlineHasher();
  try {
    return services.byteWorker.fileHasher(staging);
  } catch {
    return inlineHasher();
  }
}

/**
 * Moves a complete staging file into `files/project_{id}/{file_id}` and then writes its
 * record (file first, record after: a crash in between leaves a file without a record,
 * which start-up deletes). `commit` writes the record, and may refuse by throwing (the
 * project was deleted meanwhile); the file is removed then. Neither the file nor the folder
 * is fsynced (see `writeStaging`): a rename lost to a power cut leaves a record without its
 * file, which start-up drops.
 */
export async function placeFile(paths: StoragePaths, record: FileRecord, staging: string, commit: () => Promise<void>): Promise<void> {
  const dir = paths.projectFilesDir(record.projectId);
  const target = paths.storedFile(record.projectId, record.id);
  try {
    await mkdir(dir, { recursive: true });
    await rename(staging, target);
  } catch (error) {
    await rm(staging, { force: true });
    throw error;
  }
  try {
    await commit();
  } catch (error) {
    await rm(target, { force: true });
    throw error;
  }
}

/**
 * `placeFile` under the project's shared lock, so a project delete (which takes it
 * exclusively and removes `files/project_{id}/`) cannot run between the rename and the
 * record; the project must still be active once the lock is held (404 otherwise, and the
 * staging file is removed).
 */
export async function placeProjectFile(services: Pick<Services, 'paths' | 'registry' | 'catalog'>, record: FileRecord, staging: string, commit: () => Promise<void>): Promise<void> {
  await withProjectLock(services, record.projectId, 'shared', async () => {
    if (!services.catalog.getActiveProject(record.projectId)) {
      await rm(staging, { force: true });
      throw errors.projectNotFound(record.projectId);
    }
    await placeFile(services.paths, record, staging, commit);
  });
}

/** A new file's record with the service's defaults (expiry from FILE_RETENTION_DAYS). */
export function fileRecord(services: Pick<Services, 'files' | 'clock' | 'config'>, projectId: string, spec: UploadSpec, written: WrittenFile): FileRecord {
  const now = services.clock.now();
  return {
    id: newFileId(services.files),
    projectId,
    seq: services.files.nextSeq(),
    name: spec.name,
    sizeBytes: written.sizeBytes,
    contentType: spec.contentType,
    contentEncoding: spec.contentEncoding,
    sha256: written.sha256,
    tags: spec.tags,
    isPermanent: spec.permanent,
    createdAt: now.toISOString(),
    expiresAt: spec.permanent ? null : new Date(now.getTime() + services.config.fileRetentionDays * DAY_MS).toISOString(),
    createdBy: spec.createdBy,
  };
}

/** Under the catalog writer lock: the project must still be active when its file is recorded. */
export const projectStillActive = (catalog: Catalog, projectId: string) => () => {
  if (!catalog.getActiveProject(projectId)) throw errors.projectNotFound(projectId);
};

/**
 * Stores an upload (§15): the body is streamed to a staging file (never held in memory),
 * counted against MAX_FILE_BYTES (413) and hashed on the way, renamed into place, then
 * recorded. A failed or interrupted upload leaves neither file nor record. `declared` is
 * the request's Content-Length, when it has one (a small body is hashed on this thread).
 */
export async function storeUpload(services: Services, projectId: string, body: ReadableStream<Uint8Array> | null, spec: UploadSpec, declared?: number): Promise<FileRecord> {
  const { paths, config } = services;
  const staging = paths.stagingFile(`upload-${randomUUID()}`);
  let written: WrittenFile;
  try {
    written = await writeStaging(bodyStream(body), staging, config.maxFileBytes, { hasher: hasherFor(services, staging, declared) });
  } catch (error) {
    if (error instanceof HttpError) throw error;
    // File system or hash thread trouble is ours (500); anything else is the body breaking off.
    if ((error as NodeJS.ErrnoException).syscall || error instanceof HelperThreadError) throw error;
    throw new HttpError(400, 'upload_failed', 'The request body could not be read to its end; nothing was stored');
  }
  const record = fileRecord(services, projectId, spec, written);
  await placeProjectFile(services, record, staging, () => services.files.insert(record, projectStillActive(services.catalog, projectId)));
  return record;
}

/** Deletes a file: the record first (it disappears at once), then the bytes. */
export async function deleteStoredFile(services: Pick<Services, 'files' | 'paths'>, record: FileRecord): Promise<void> {
  await services.files.remove(record);
  await rm(services.paths.storedFile(record.projectId, record.id), { force: true });
}

/** Deletes every file of a project (project deletion): records, then the folder. */
export async function deleteProjectFiles(services: Pick<Services, 'files' | 'paths'>, projectId: string): Promise<void> {
  await services.files.removeProject(projectId);
  await rm(services.paths.projectFilesDir(projectId), { recursive: true, force: true });
}

// ---- downloads ---------------------------------------------------------------------

export type ByteRange = { start: number; end: number };

/**
 * The range a `Range` header asks for (RFC 9110 §14): undefined for no header, a header
 * that is not a single byte range (served whole, as the RFC allows), and 'unsatisfiable'
 * when no byte of the file is in it.
 */
export function parseRange(header: string | null, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    // A suffix: the last n bytes.
    const n = Number(last);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Number(last);
  if (last !== '' && end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

/** The stored bytes (or a range of them) as a stream; 404 `file_not_found` when the file is gone from disk. */
export async function openStoredFile(paths: StoragePaths, record: FileRecord, range?: ByteRange): Promise<ReadableStream<Uint8Array>> {
  let handle;
  try {
    handle = await open(paths.storedFile(record.projectId, record.id), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw errors.fileNotFound(record.projectId, record.id);
    throw error;
  }
  const stream = handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: 256 << 10 });
  return Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
}

// ---- start-up and expiry -----------------------------------------------------------

const PROJECT_DIR = /^project_([A-Za-z0-9_-]{1,64})$/;

/**
 * Brings stored files and their records into agreement at start: a file without a record
 * (an upload cut short after its rename, or a delete cut short) is deleted, a record whose
 * file is gone or has another size than recorded is dropped (with the file), and the files
 * of projects that are not active go entirely.
 * Staging (everything in `files/` that is not a project folder) is emptied before this.
 */
export async function reconcileFiles(deps: { paths: StoragePaths; files: FileCatalog; catalog: Catalog }, logger: Logger): Promise<void> {
  const { paths, files, catalog } = deps;
  const present = new Set<string>();
  const entries = await readdir(paths.filesDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const match = PROJECT_DIR.exec(entry.name);
    if (!match || !entry.isDirectory()) continue;
    const dir = join(paths.filesDir, entry.name);
    const project = catalog.getActiveProject(match[1]!);
    if (!project || project.id !== match[1]) {
      await rm(dir, { recursive: true, force: true });
      logger.info({ event: 'reconcile', repair: 'removed_project_files', folder: entry.name }, 'removed the files of a project that is not active');
      continue;
    }
    for (const file of await readdir(dir)) {
      const record = files.get(project.id, file);
      // A file shorter (or longer) than recorded lost its tail to a power cut before the
      // kernel wrote it back (uploads are not fsynced): it goes, and its record with it.
      const size = record && (await stat(join(dir, file)).then((s) => s.size, () => -1));
      if (record && size === record.sizeBytes) {
        present.add(file);
        continue;
      }
      if (record) {
        await rm(join(dir, file), { recursive: true, force: true });
        logger.warn({ event: 'reconcile', repair: 'removed_torn_file', project_id: project.id, file_id: record.id, size_bytes: record.sizeBytes, found_bytes: size }, 'removed a stored file whose size on disk is not the recorded one');
        continue;
      }
      await rm(join(dir, file), { recursive: true, force: true });
      logger.info({ event: 'reconcile', repair: 'removed_unrecorded_file', project_id: project.id }, 'removed a stored file without a record');
    }
  }
  for (const record of files.all()) {
    if (present.has(record.id)) continue;
    await files.remove(record);
    logger.info({ event: 'reconcile', repair: 'dropped_file_record', project_id: record.projectId, file_id: record.id }, 'dropped a file record without its file');
  }
}

/**
 * The sweeper's task for files: deletes those past `expires_at` that are not permanent,
 * except files a waiting or running job still needs (`inUse`).
 */
export function fileExpiryTask(services: Pick<Services, 'files' | 'paths'>, inUse: () => Set<string>) {
  return {
    name: 'files',
    async sweep(now: Date): Promise<number> {
      let removed = 0;
      const needed = inUse();
      for (const record of services.files.all()) {
        if (record.isPermanent || !record.expiresAt || new Date(record.expiresAt) > now || needed.has(record.id)) continue;
        await deleteStoredFile(services, record);
        removed++;
      }
      return removed;
    },
  };
}
