import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { generateAdminKey } from './auth/keys.ts';
import type { Config } from './config.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { Catalog } from './storage/catalog.ts';
import { FileCatalog } from './storage/catalog/files.ts';
import { JobCatalog } from './storage/catalog/jobs.ts';
import { Database } from './storage/db.ts';
import { StoragePaths } from './storage/paths.ts';
import { fileExpiryTask, reconcileFiles } from './storage/files.ts';
import { jobRetentionTask } from './storage/jobs/retention.ts';
import { runExportJob, runImportJob } from './storage/jobs/operations.ts';
import { JobRunner } from './storage/jobs/runner.ts';
import { reconcile, removeStaleStaging } from './storage/reconcile.ts';
import { AttachmentRegistry } from './storage/registry.ts';
import { Sweeper } from './storage/sweeper.ts';

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
  /** Stored files (§15). */
  files: FileCatalog;
  /** Asynchronous jobs (§16): the durable queue's records. */
  jobs: JobCatalog;
  /** The worker pool that runs the queued jobs. */
  jobRunner: JobRunner;
  close(): Promise<void>;
}

export const VERSION = '0.1.0';

/** Creates the §9 folders that are missing; returns the names of those it created. */
export async function ensureLayout(paths: StoragePaths): Promise<string[]> {
  const created: string[] = [];
  for (const [name, dir] of Object.entries(paths.folders)) {
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
  const db = await Database.open(paths.metadataFile, { threads: config.duckdbThreads, memoryLimit: config.duckdbMemoryLimit });
  try {
    const catalog = await Catalog.load(db);
    const files = await FileCatalog.load(catalog.store);
    const jobs = await JobCatalog.load(catalog.store);
    const registry = new AttachmentRegistry(db);
    const reconcileStarted = performance.now();
    await removeStaleStaging(paths, logger);
    await reconcile({ db, paths, catalog, registry }, logger, { verifyAll: uncleanStop });
    await reconcileFiles({ paths, files, catalog }, logger);
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
      registry,
      logger,
      adminKey,
      activeImports,
      metrics,
      clock,
      sweeper,
      files,
      jobs,
      jobRunner,
      async close() {
        if (closed) return;
        closed = true;
        await jobRunner.stop();
        await sweeper.stop();
        await registry.settle();
        await db.with((c) => c.run('CHECKPOINT')).catch(() => {});
        db.close();
        await rm(runningMarker, { force: true });
      },
    };
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
    throw error;
  }
}
