import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { constants, copyFile, link, open, rm, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { errors, HttpError } from '../../http/errors.ts';
import { requireWritable } from '../../http/lookup.ts';
import { payloadTooLarge } from '../../http/request.ts';
import { tableView } from '../../http/views.ts';
import type { Services } from '../../services.ts';
import type { BucketRecord, TableRecord } from '../catalog.ts';
import type { FileRecord } from '../catalog/files.ts';
import { pipeIntoNewFile } from '../file-sink.ts';
import type { JobRecord } from '../catalog/jobs.ts';
import { exportHeaders, openExport, type ExportFormat } from '../export.ts';
import { fileRecord, hasherFor, placeProjectFile, projectStillActive, writeStaging } from '../files.ts';
import { checkConversions, planRead, type Filter, type OrderBy } from '../filters.ts';
import { importFile, withStagingFile, type ImportFormat } from '../import.ts';
import { StorageSession } from '../session.ts';
import { takeAutoSnapshot } from '../snapshots.ts';
import { quoteIdent, quoteLiteral } from '../sql.ts';
import type { JobContext } from './runner.ts';
import { bucketIn, tableIn } from '../locator.ts';

/** The options of an import job as its `params` keep them (§16; the §8 options as JSON, defaults filled in). */
export interface ImportJobParams {
  file_id: string;
  format: ImportFormat;
  incremental: boolean;
  delimiter: string;
  quote: string;
  escape: string;
  header: boolean;
  columns: string[] | null;
  null_string: string | null;
}

/** The options of an export job (§8's POST export body, defaults filled in). */
export interface ExportJobParams {
  format: ExportFormat;
  columns: string[] | null;
  filters: Filter[];
  order_by: OrderBy[];
  limit: number | null;
  gzip: boolean;
}

/** A table as a job is bound to it: deleted (or deleted and made again) before the job runs → `table_not_found`. */
export interface TableIdentity {
  table_created_at: string;
}

const importFailed = (message: string, details?: Record<string, unknown>) => new HttpError(400, 'import_failed', message, details);

/** The bucket where a bucket's rows live: itself, or the source of a linked one. */
function dataBucket(services: Services, bucket: BucketRecord): BucketRecord | undefined {
  return bucket.source ? services.catalog.getBucket(bucket.source.projectId, bucket.source.bucket) : bucket;
}

/** The table a job was submitted for, if it is still that table. */
function boundTable(services: Services, job: JobRecord): { bucket: BucketRecord; table: TableRecord } {
  const notFound = () => errors.tableNotFound(job.projectId, job.bucket, job.table);
  // §14: the table as the job's branch sees it now.
  const bucket = bucketIn(services, job.projectId, job.branch, job.bucket);
  if (!bucket) throw notFound();
  const source = dataBucket(services, bucket);
  const table = source && tableIn(services, bucket, job.table);
  if (!table || table.createdAt !== (job.internal as unknown as TableIdentity).table_created_at) throw notFound();
  return { bucket, table };
}

/** A gzip file by its encoding, its type, or its first two bytes (1f 8b). */
async function isGzipFile(file: FileRecord, path: string): Promise<boolean> {
  const encoding = file.contentEncoding?.toLowerCase();
  if (encoding === 'gzip' || encoding === 'x-gzip') return true;
  const type = file.contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (type === 'application/gzip' || type === 'application/x-gzip') return true;
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/** Decompresses a stored gzip file into a staging file, at most `limit` bytes of output; counts input bytes. */
async function gunzipInto(source: string, target: string, limit: number, ctx: JobContext): Promise<void> {
  let out = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      ctx.progress.bytes += chunk.length;
      done(null, chunk);
    },
  });
  const bound = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      out += chunk.length;
      // As the synchronous import answers a gzip body that inflates past MAX_IMPORT_BYTES.
      done(out > limit ? payloadTooLarge(limit) : null, chunk);
    },
  });
  try {
    await pipeIntoNewFile(target, [createReadStream(source), counter, createGunzip({ chunkSize: 256 << 10 }), bound], { signal: ctx.signal });
  } catch (error) {
    ctx.signal.throwIfAborted();
    if (error instanceof HttpError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_')) throw importFailed('The file is not valid gzip data', { reason: (error as Error).message });
    throw error;
  }
}

/** How many rows a job's import has read, from the share of the file DuckDB reports having read. */
interface RowProgress {
  at(fraction: number): number;
  stop(): void;
}

/**
 * Rows of a staged import file by the share read: CSV and NDJSON records are counted on the
 * helper thread (CSV line ends outside quotes, the header not counted), alongside the load
 * and well ahead of it, and the rows are those that end within the bytes read so far;
 * a Parquet file names its row count, spread evenly over its bytes. Never more than the
 * rows read; at the end the job reports `imported_rows` itself.
 */
async function rowProgress(services: Services, staged: string, params: ImportJobParams): Promise<RowProgress> {
  if (params.format === 'parquet') {
    const total = await services.db
      .with(async (c) => Number((await c.runAndReadAll(`SELECT num_rows FROM parquet_file_metadata(${quoteLiteral(staged)})`)).getRows()[0]?.[0] ?? 0))
      .catch(() => 0);
    return { at: (fraction) => Math.floor(fraction * total), stop() {} };
  }
  const size = (await stat(staged)).size;
  const count = services.byteWorker.countRecords(staged, params.format === 'csv' ? { quote: params.quote, escape: params.escape, skip: params.header ? 1 : 0 } : {});
  return { at: (fraction) => count.rowsBefore(Math.floor(fraction * size)), stop: () => count.stop() };
}

/**
 * An import job: the synchronous import's own `importFile` on the stored file. The job
 * reads its own hard link of the file (or the decompressed copy of a gzip file), so
 * deleting the file meanwhile does not pull the bytes away. The rows and the job's mark
 * commit together in the table file, so a re-run after a crash finds the mark and does
 * not apply the file twice. While it loads, `progress` has the bytes DuckDB has read and
 * the rows in them (see `rowProgress`); the fault point `import_job_progress` holds the job
 * at the first such reading between start and end (tests look at a running job there).
 */
export async function runImportJob(services: Services, ctx: JobContext): Promise<Record<string, unknown>> {
  const { job } = ctx;
  const params = job.params as unknown as ImportJobParams;
  const { bucket, table } = boundTable(services, job);
  requireWritable(bucket);
  const file = services.files.get(job.projectId, params.file_id);
  if (!file) throw errors.fileNotFound(job.projectId, params.file_id);
  const stored = services.paths.storedFile(file.projectId, file.id);
  return withStagingFile(services.paths, `job-${job.id}-${randomUUID()}.${params.format}`, async (staged) => {
    try {
      if (await isGzipFile(file, stored)) await gunzipInto(stored, staged, services.config.maxImportBytes, ctx);
      else await link(stored, staged).catch((error: NodeJS.ErrnoException) => {
        // A file system without hard links: a copy (a clone where the file system can).
        if (error.code === 'EPERM' || error.code === 'ENOTSUP' || error.code === 'EXDEV') return copyFile(stored, staged, constants.COPYFILE_FICLONE);
        throw error;
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw errors.fileNotFound(job.projectId, file.id);
      throw error;
    }
    const size = file.sizeBytes;
    const rows = await rowProgress(services, staged, params);
    let held: Promise<void> | undefined;
    const session = new StorageSession(services.registry);
    try {
      const { importedRows, table: loaded } = await importFile(
        services,
        (path) => session.attach(path),
        table,
        staged,
        {
          format: params.format,
          incremental: params.incremental,
          csv: {
            delimiter: params.delimiter,
            quote: params.quote,
            escape: params.escape,
            header: params.header,
            columns: params.columns ?? undefined,
            nullString: params.null_string ?? undefined,
          },
        },
        {
          // A full import by a job takes the same auto snapshot as the synchronous one (§13).
          beforeFullLoad: (current) => takeAutoSnapshot(services, current, 'full_import'),
          signal: ctx.signal,
          mark: `job:${job.id}`,
          onProgress: (fraction) => {
            ctx.progress.bytes = Math.max(ctx.progress.bytes, Math.round(fraction * size));
            ctx.progress.rows = Math.max(ctx.progress.rows, rows.at(fraction));
            if (!held && fraction > 0 && fraction < 1 && ctx.progress.rows > 0) held = services.faultPoint?.('import_job_progress');
          },
        },
      );
      await held;
      ctx.progress.rows = importedRows;
      ctx.progress.bytes = size;
      services.metrics.importedRows.inc(importedRows);
      return { imported_rows: importedRows, row_count: loaded.rowCount, table: await tableView(services, loaded, bucket.name) };
    } finally {
      rows.stop();
      session.releaseAll();
    }
  });
}

/**
 * An export job: the synchronous export's own `openExport`, written into a staging file
 * (hashed on the way), renamed into place, and recorded as a new file together with the
 * job's success in one metadata transaction. Stopped or failed, it leaves no file.
 */
export async function runExportJob(services: Services, ctx: JobContext): Promise<Record<string, unknown>> {
  const { job } = ctx;
  const params = job.params as unknown as ExportJobParams;
  const { table } = boundTable(services, job);
  const plan = planRead(table, { columns: params.columns ?? undefined, filters: params.filters, orderBy: params.order_by });
  await services.db.with((c) => checkConversions(c, plan));
  const path = services.paths.tableFileOf(table);
  const session = new StorageSession(services.registry);
  const staging = services.paths.stagingFile(`job-${job.id}-${randomUUID()}`);
  try {
    const alias = await session.attach(path);
    // Tests hold an export here, to stop it before its first chunk.
    await services.faultPoint?.('export_job_attached');
    const stream = await openExport(
      services,
      { data: `${quoteIdent(alias)}.main.data`, plan, limit: params.limit ?? undefined, format: params.format, gzip: params.gzip, table: { file: path, readLock: () => services.registry.tryReadLock(path) } },
      { release: session.hold(), signal: ctx.signal, onRows: (n) => (ctx.progress.rows += n) },
    );
    const source = Readable.fromWeb(stream as unknown as NodeReadableStream<Uint8Array>);
    const written = await writeStaging(source, staging, Number.MAX_SAFE_INTEGER, { hasher: hasherFor(services, undefined), onBytes: (n) => (ctx.progress.bytes += n) });
    // Tests hold a written export here, to look at it running and to stop it.
    await services.faultPoint?.('export_job_written');
    // A stopped export's stream just ends: the abort, not the end, decides.
    if (ctx.signal.aborted) {
      await rm(staging, { force: true });
      ctx.signal.throwIfAborted();
    }
    const name = `${table.name}.${params.format}${params.gzip ? '.gz' : ''}`;
    const contentType = exportHeaders(table.name, params.format, params.gzip)['content-type']!;
    // The file belongs to whoever submitted the export (a bucket-restricted key sees it).
    const record = fileRecord(services, job.projectId, { name, tags: [], permanent: false, contentType, contentEncoding: null, createdBy: job.createdBy }, written);
    const result = { file_id: record.id, rows: ctx.progress.rows, size_bytes: record.sizeBytes };
    const activeProject = projectStillActive(services.catalog, job.projectId);
    await placeProjectFile(services, record, staging, () =>
      ctx.finish(result, {
        also: [services.files.insertStatement(record)],
        apply: () => services.files.remember(record),
        guard: () => {
          ctx.signal.throwIfAborted();
          activeProject();
        },
      }),
    );
    return result;
  } finally {
    session.releaseAll();
    await rm(staging, { force: true });
  }
}
