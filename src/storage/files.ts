import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Logger } from 'pino';
import { errors, HttpError } from '../http/errors.ts';
import { payloadTooLarge } from '../http/request.ts';
import type { Services } from '../services.ts';
import { HelperThreadError, inlineHasher, type StreamHasher } from './byte-worker.ts';
import type { Catalog } from './catalog.ts';
import { pipeIntoNewFile } from './file-sink.ts';
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
  /** Where the SHA-256 is computed; on this thread when not given. */
  hasher?: StreamHasher;
  /** Called with the size of each chunk as it is read (job progress). */
  onBytes?: (n: number) => void;
}

/** How much a staging write stream buffers before it holds the source back. */
const WRITE_BUFFER = 1 << 20;

/**
 * Streams `source` into a new staging file, counting and hashing on the way; past `limit`
 * bytes it stops with 413 without reading on. A pipe, so the socket keeps flowing: each
 * chunk is handed to the hasher (a helper thread for a large stream, which copies the chunk
 * into its ring and hashes beside the reads and writes) and written on; memory stays flat
 * (the write buffer and the ring are bounded, and a full one holds the source back). On any
 * failure the staging file is removed.
 *
 * The file is not fsynced: it is complete in the page cache when this resolves, which is
 * what kill -9 needs (the kernel keeps it). A power cut before the kernel has written it
 * back can leave it short; start-up then drops it with its record (`reconcileFiles`).
 */
export async function writeStaging(source: Readable, staging: string, limit: number, options: StagingOptions = {}): Promise<WrittenFile> {
  const hasher = options.hasher ?? inlineHasher();
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > limit) return done(payloadTooLarge(limit));
      options.onBytes?.(chunk.length);
      hasher.update(chunk).then(() => done(null, chunk), done);
    },
  });
  try {
    await pipeIntoNewFile(staging, [source, meter], { highWaterMark: WRITE_BUFFER });
    return { sizeBytes: size, sha256: await hasher.digest() };
  } catch (error) {
    hasher.abort();
    await rm(staging, { force: true });
    throw error;
  }
}

/** A body this small is hashed on the main thread: the helper's wake-ups would cost more. */
const SMALL_BODY = 1 << 20;

/** The hasher for a stream of `declared` bytes (unknown: undefined): another thread unless it is small. */
export function hasherFor(services: Pick<Services, 'byteWorker'>, declared: number | undefined): StreamHasher {
  if (declared !== undefined && declared < SMALL_BODY) return inlineHasher();
  try {
    return services.byteWorker.hasher() ?? inlineHasher();
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
    written = await writeStaging(bodyStream(body), staging, config.maxFileBytes, { hasher: hasherFor(services, declared) });
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
