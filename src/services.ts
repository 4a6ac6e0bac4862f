import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { generateAdminKey } from './auth/keys.ts';
import type { Config } from './config.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { Catalog } from './storage/catalog.ts';
import { BranchCatalog } from './storage/catalog/branches.ts';
import { FileCatalog } from './storage/catalog/files.ts';
import { JobCatalog } from './storage/catalog/jobs.ts';
import { KeyCatalog } from './storage/catalog/keys.ts';
import { MetadataStore } from './storage/catalog/metadata.ts';
import { SchemaChangeStore } from './storage/catalog/schema-changes.ts';
import { SnapshotCatalog } from './storage/catalog/snapshots.ts';
import { Database, storageThreads } from './storage/db.ts';
import { StoragePaths } from './storage/paths.ts';
import { reconcileBranches } from './storage/branch-recovery.ts';
import { recoverMerges } from './storage/merge.ts';
import { fileExpiryTask, reconcileFiles } from './storage/files.ts';
import { jobRetentionTask } from './storage/jobs/retention.ts';
import { runExportJob, runImportJob } from './storage/jobs/operations.ts';
import { JobRunner } from './storage/jobs/runner.ts';
import { reconcile, removeStaleStaging } from './storage/reconcile.ts';
import { AttachmentRegistry } from './storage/registry.ts';
import { WorkspaceCatalog } from './storage/catalog/workspaces.ts';
import { SqlService } from './storage/sql/sandbox.ts';
import { reconcileWorkspaces, workspaceSweepTask } from './storage/sql/workspaces.ts';
import { reconcileSnapshotFiles, recoverSnapshots } from './storage/snapshot-recovery.ts';
import { snapshotHooks, snapshotSweepTask } from './storage/snapshots.ts';
import { recoverSchemaChanges, type SchemaStep, type SnapshotHooks } from './storage/schema.ts';
import { Sweeper } from './storage/sweeper.ts';
import { ByteWorker } from './storage/byte-worker.ts';
import { UiAssets } from './ui/assets.ts';

/** Where "now" comes from: the system clock in production, a movable one in tests. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface ServicesOptions {
  clock?: Clock;
}

/** Everything the handlers share; built once by `openServices` and passed to `createApp`. */
export interface Services {
  config: Config;
  version: string;
  paths: StoragePaths;
  db: Database;
  catalog: Catalog;
  /** Project API keys (§11). */
  keys: KeyCatalog;
  /** Development branches and what each holds (§14). */
  branches: BranchCatalog;
  /** §12 metadata of buckets, tables and columns. */
  metadata: MetadataStore;
  /** Schema changes under way (§12), recorded before a table file is altered. */
  schemaChanges: SchemaChangeStore;
  /** Set by the snapshots capability (§13): called by schema changes that take an auto snapshot. */
  snapshotHooks?: SnapshotHooks;
  /** Snapshot records, snapshot settings and restore intents (§13). */
  snapshots: SnapshotCatalog;
  /** Crash tests only (`DSA_TEST_PAUSE_AT`): a schema change, clone or merge stops for good at that step. */
  faultPoint?: (step: SchemaStep | string) => Promise<void>;
  registry: AttachmentRegistry;
  logger: Logger;
  adminKey: string;
  /** How many imports run now (checked against MAX_CONCURRENT_IMPORTS). */
  activeImports: { count: number };
  /** Prometheus metrics of this instance (its own registry). */
  metrics: Metrics;
  /** The time every expiry, `last_used_at` and timestamp of Part II is measured by. */
  clock: Clock;
  /** The one background sweeper for everything that expires; modules register tasks at start. */
  sweeper: Sweeper;
  /** §17: the SQL sandboxes (statement check, private folder, view catalogs, query slots, workspace locks). */
  sql: SqlService;
  /** §17: workspace records. */
  workspaces: WorkspaceCatalog;
  /** The data explorer's static files (GET /ui). */
  ui: UiAssets;
  /** Stored files (§15). */
  files: FileCatalog;
  /** Asynchronous jobs (§16): the durable queue's records. */
  jobs: JobCatalog;
  /** The worker pool that runs the queued jobs. */
  jobRunner: JobRunner;
  /** The helper thread that hashes uploads and counts records for job progress, off the event loop. */
  byteWorker: ByteWorker;
  close(): Promise<void>;
}

export const VERSION = '0.1.0';

/** Creates the §9 folders that are missing; returns the names of those it created. */
export async function ensureLayout(paths: StoragePaths): Promise<string[]> {
  const created: string[] = [];
  for (const [name, dir] of Object.entries({ ...paths.folders, ...paths.moreFolders })) {
    if (!existsSync(dir)) {
      await mkdir(dir, { recursive: true });
      created.push(name);
    }
  }
  return created;
}

/** The admin key: from the config, else read from (or generated into) `$DATA_DIR/admin.key`. */
async function resolveAdminKey(config: Config, paths: StoragePaths, logger: Logger): Promise<string> {
  if (config.adminApiKey) return config.adminApiKey;
  try {
    const stored = (await readFile(paths.adminKeyFile, 'utf8')).trim();
    if (stored) {
      logger.info({ event: 'startup', file: paths.adminKeyFile }, 'using the admin key stored in the data folder');
      return stored;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = generateAdminKey();
  await writeFile(paths.adminKeyFile, `${key}\n`, { mode: 0o600 });
  await chmod(paths.adminKeyFile, 0o600);
  logger.warn({ event: 'startup', file: paths.adminKeyFile }, 'ADMIN_API_KEY is not set: generated an admin key and stored it in the data folder');
  return key;
}

/**
 * Opens the storage of one data folder: layout, admin key, the DuckDB instance on
 * metadata.duckdb, the catalog, and reconciliation with the files on disk.
 */
export async function openServices(config: Config, logger: Logger, options: ServicesOptions = {}): Promise<Services> {
  const clock = options.clock ?? systemClock;
  const paths = new StoragePaths(config.dataDir);
  const created = await ensureLayout(paths);
  if (created.length) logger.info({ event: 'startup', created }, 'created storage folders');
  const adminKey = await resolveAdminKey(config, paths, logger);
  // A marker that exists while the service runs: found at start, the last stop was unclean.
  const runningMarker = join(paths.dataDir, '.running');
  const uncleanStop = existsSync(runningMarker);
  const catalogDb = await Database.openCatalog(paths.metadataFile);
  let db: Database;
  try {
    db = await Database.open(':memory:', { threads: storageThreads(config.duckdbThreads), memoryLimit: config.duckdbMemoryLimit, tempDirectory: `${paths.metadataFile}.tmp` });
  } catch (error) {
    catalogDb.close();
    throw error;
  }
  try {
    const catalog = await Catalog.load(catalogDb);
    const metadata = await MetadataStore.load(catalog.store);
    const schemaChanges = await SchemaChangeStore.load(catalog.store);
    const snapshots = await SnapshotCatalog.load(catalog.store);
    // §14: loaded before any recovery, which may touch tables seen from branches.
    const branches = await BranchCatalog.load(catalog.store);
    const files = await FileCatalog.load(catalog.store);
    const jobs = await JobCatalog.load(catalog.store);
    const registry = new AttachmentRegistry(db, { idleMs: config.tableIdleDetachMs, maxOpen: config.maxOpenTables });
    const reconcileStarted = performance.now();
    await removeStaleStaging(paths, logger);
    await recoverSchemaChanges({ db, paths, catalog, registry, metadata, schemaChanges, branches }, logger);
    const snapshotDeps = { db, paths, catalog, registry, metadata, snapshots, clock, branches };
    await recoverSnapshots(snapshotDeps, logger);
    // §14: an interrupted merge is completed or undone before main's files are read.
    await recoverMerges({ db, paths, catalog, registry, branches, metadata, clock }, logger);
    await reconcile({ db, paths, catalog, registry, metadata, branches }, logger, { verifyAll: uncleanStop });
    await reconcileSnapshotFiles(snapshotDeps, logger);
    await reconcileFiles({ paths, files, catalog }, logger);
    const keys = await KeyCatalog.load(catalog.store);
    await reconcileBranches({ db, paths, catalog, registry, branches, keys, snapshots }, logger, { verifyAll: uncleanStop });
    // Keys outliving their project: a project delete stopped between its two catalog steps.
    for (const projectId of keys.orphans((id) => catalog.getActiveProject(id) !== undefined)) {
      await keys.dropProject(projectId);
      logger.info({ event: 'reconcile', repair: 'dropped_keys', project_id: projectId }, 'dropped the keys of a project that is not active');
    }
    if (uncleanStop) logger.warn({ event: 'reconcile' }, 'the previous stop was unclean: table files were re-read');
    logger.info(
      { event: 'reconcile', unclean_stop: uncleanStop, projects: catalog.listProjects().length, duration_ms: Math.round(performance.now() - reconcileStarted) },
      'catalog reconciled with the table files',
    );
    await writeFile(runningMarker, `${process.pid}\n`);
    let closed = false;
    const activeImports = { count: 0 };
    const metrics = createMetrics({
      openAttachments: () => registry.openCount,
      pendingTableWrites: () => registry.waitingWrites,
      activeImports: () => activeImports.count,
      waitingJobs: () => jobs.count('waiting'),
      runningJobs: () => jobRunner.runningCount,
    });
    const sweeper = new Sweeper(clock, logger);
    const byteWorker = new ByteWorker();
    const sql = await SqlService.open({ config, paths, registry, db, logger });
    const workspaces = await WorkspaceCatalog.load(catalog.store);
    sweeper.register(snapshotSweepTask(snapshotDeps));
    const jobRunner: JobRunner = new JobRunner(
      {
        jobs,
        clock,
        logger,
        metrics,
        maxConcurrent: config.maxConcurrentJobs,
        maxQueued: config.maxQueuedJobs,
        debug: config.debug,
        scrub: (message) => message.split(paths.dataDir).join('$DATA_DIR').slice(0, 500),
      },
      { import: (ctx) => runImportJob(services, ctx), export: (ctx) => runExportJob(services, ctx) },
    );
    const services: Services = {
      config,
      version: VERSION,
      paths,
      db,
      catalog,
      keys,
      branches,
      metadata,
      schemaChanges,
      snapshots,
      snapshotHooks: snapshotHooks(snapshotDeps),
      registry,
      logger,
      adminKey,
      activeImports,
      metrics,
      clock,
      sweeper,
      sql,
      workspaces,
      ui: new UiAssets(),
      files,
      jobs,
      jobRunner,
      byteWorker,
      async close() {
        if (closed) return;
        closed = true;
        await jobRunner.stop();
        await byteWorker.close();
        await sweeper.stop();
        await keys.stop().catch((error) => logger.error({ event: 'shutdown', err: (error as Error).message }, 'could not record key uses'));
        await sql.close();
        await registry.settle();
        db.close();
        await catalogDb.with((c) => c.run('CHECKPOINT')).catch(() => {});
        catalogDb.close();
        await rm(runningMarker, { force: true });
      },
    };
    keys.startFlushing((error) => logger.error({ event: 'keys', err: (error as Error).message }, 'could not record key uses'));
    await reconcileWorkspaces(services);
    sweeper.register(workspaceSweepTask(services));
    // Fault injection for the crash tests: the change logs the step and never goes on, so
    // the test can kill the process exactly there. Unset in any real deployment.
    const pauseAt = process.env.DSA_TEST_PAUSE_AT;
    if (pauseAt) {
      services.faultPoint = async (step) => {
        if (step !== pauseAt) return;
        logger.warn({ event: 'test_pause', step }, 'paused for a crash test');
        await new Promise(() => {});
      };
    }
    sweeper.register(fileExpiryTask(services, () => jobRunner.filesInUse()));
    sweeper.register(jobRetentionTask(jobs));
    sweeper.start();
    // Jobs outliving their project: a project delete stopped between its catalog steps.
    for (const projectId of new Set(jobs.all().map((job) => job.projectId))) {
      if (catalog.getActiveProject(projectId)) continue;
      await jobs.removeProject(projectId);
      logger.info({ event: 'reconcile', repair: 'dropped_jobs', project_id: projectId }, 'dropped the jobs of a project that is not active');
    }
    await jobRunner.recover();
    jobRunner.start();
    return services;
  } catch (error) {
    db.close();
    catalogDb.close();
    throw error;
  }
}
