import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { errors, HttpError } from '../../http/errors.ts';
import type { Metrics } from '../../metrics.ts';
import type { Statement } from '../catalog/store.ts';
import { FINISHED, type JobCatalog, type JobError, type JobOperation, type JobRecord } from '../catalog/jobs.ts';
import { TableGoneError } from '../registry.ts';

/** What an operation sees of its job while it runs. */
export interface JobContext {
  job: JobRecord;
  signal: AbortSignal;
  /** Live progress: the operation updates it in place; GET shows it. */
  progress: { rows: number; bytes: number };
  /**
   * Records success, in one metadata transaction with `also` (an export's file record).
   * `guard` runs under the catalog writer lock and may refuse by throwing. An operation that
   * returns without calling it is finished with its returned result.
   */
  finish(result: Record<string, unknown>, options?: { also?: Statement[]; apply?: () => void; guard?: () => void }): Promise<void>;
}

export type JobOperationFn = (ctx: JobContext) => Promise<Record<string, unknown>>;

export interface JobRunnerDeps {
  jobs: JobCatalog;
  clock: { now(): Date };
  logger: Logger;
  metrics: Metrics;
  maxConcurrent: number;
  maxQueued: number;
  /** Whether failures carry DuckDB's message (DEBUG) or a generic one. */
  debug: boolean;
  /** Error text for clients: host paths removed. */
  scrub: (message: string) => string;
}

interface Running {
  key: string;
  controller: AbortController;
  done: Promise<void>;
}

/** Why a job was stopped: a client's cancel, or the service shutting down (it runs again after the restart). */
const SHUTDOWN = 'shutdown';

const tableKey = (job: Pick<JobRecord, 'projectId' | 'branch' | 'bucket' | 'table'>) =>
  [job.projectId, job.branch, job.bucket, job.table].map((s) => s.toLowerCase()).join('\u0000');

export const newJobId = () => `j_${randomBytes(8).toString('hex')}`;

/**
 * The worker pool over the durable queue (§16). Jobs of one table run one at a time in
 * submission order; at most `maxConcurrent` run at once; the rest wait. Each job's state
 * is written through to metadata.duckdb before it changes hands, so after kill -9 the
 * queue is where it was: `recover` puts a job that was processing back in line (it runs
 * again from the start; its operation makes sure its effect is not applied twice).
 */
export class JobRunner {
  private readonly running = new Map<string, Running>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private stopped = false;
  private started = false;

  constructor(
    private readonly deps: JobRunnerDeps,
    private readonly operations: Record<JobOperation, JobOperationFn>,
  ) {}

  get runningCount(): number {
    return this.running.size;
  }

  get waitingCount(): number {
    return this.deps.jobs.count('waiting');
  }

  /** At start: jobs left processing by the last run go back to waiting, in their old place. */
  async recover(): Promise<number> {
    let n = 0;
    for (const job of this.deps.jobs.all()) {
      if (job.status !== 'processing') continue;
      await this.deps.jobs.update(job, { status: 'waiting', startedAt: null });
      n++;
    }
    if (n) this.deps.logger.warn({ event: 'jobs', recovered: n }, 'jobs that were processing at the last stop run again');
    return n;
  }

  start(): void {
    this.started = true;
    this.pump();
  }

  /** Queues a job; 429 when MAX_QUEUED_JOBS are waiting. `guard` adds the caller's own checks under the writer lock. */
  async submit(job: JobRecord, guard?: () => void): Promise<JobRecord> {
    await this.deps.jobs.insert(job, () => {
      if (this.deps.jobs.count('waiting') >= this.deps.maxQueued) throw errors.tooManyJobs(this.deps.maxQueued);
      guard?.();
    });
    this.pump();
    return this.deps.jobs.byIdAnyProject(job.id) ?? job;
  }

  /** Files that waiting or running import jobs will read: the sweeper keeps them. */
  filesInUse(): Set<string> {
    const ids = new Set<string>();
    for (const job of this.deps.jobs.all()) {
      if (!FINISHED.has(job.status) && typeof job.params.file_id === 'string') ids.add(job.params.file_id);
    }
    return ids;
  }

  /** Resolves when the job has finished, after `ms`, or when `signal` aborts, whichever is first. */
  waitFinished(jobId: string, ms: number, signal?: AbortSignal): Promise<void> {
    const job = this.deps.jobs.byIdAnyProject(jobId);
    if (!job || FINISHED.has(job.status) || ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const set = this.waiters.get(jobId) ?? new Set();
      this.waiters.set(jobId, set);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(jobId) === set) this.waiters.delete(jobId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  /**
   * Cancels a job: a waiting one is marked cancelled; a running one is stopped (its
   * operation leaves nothing behind) and marked cancelled once it has. 409 `job_finished`
   * when it finished first, a cancelled job included.
   */
  async cancel(job: JobRecord): Promise<void> {
    for (;;) {
      const current = this.deps.jobs.byIdAnyProject(job.id) ?? job;
      if (FINISHED.has(current.status)) throw errors.jobFinished(current.id, current.status);
      const run = this.running.get(current.id);
      if (run) {
        run.controller.abort('cancel');
        await run.done;
        const after = this.deps.jobs.byIdAnyProject(job.id) ?? current;
        if (after.status !== 'cancelled') throw errors.jobFinished(after.id, after.status);
        return;
      }
      let started = false;
      await this.deps.jobs.update(current, { status: 'cancelled', finishedAt: this.now() }, {
        guard: () => {
          const latest = this.deps.jobs.byIdAnyProject(current.id);
          if (latest && latest.status !== 'waiting') {
            started = true;
            throw new Error('job started');
          }
        },
        apply: () => this.finished(current, 'cancelled', 0),
      }).catch((error) => {
        if (!started) throw error;
      });
      if (!started) {
        this.pump();
        return;
      }
      // It started while the cancel waited for the writer lock: stop it as a running job.
      await this.waitStarted(current.id);
    }
  }

  /** Stops every waiting and running job of a project (project deletion). */
  async cancelProject(projectId: string): Promise<void> {
    for (const job of this.deps.jobs.list(projectId)) {
      if (FINISHED.has(job.status)) continue;
      await this.cancel(job).catch((error) => {
        if (!(error instanceof HttpError)) throw error;
      });
    }
  }

  /** Stops the pool: running jobs are interrupted and stay `processing` in the record, so they run again after the restart. */
  async stop(): Promise<void> {
    this.stopped = true;
    const runs = [...this.running.values()];
    for (const run of runs) run.controller.abort(SHUTDOWN);
    await Promise.all(runs.map((run) => run.done));
    // Long-polls answer now (with the job as it stands) rather than at their timeout.
    for (const set of [...this.waiters.values()]) for (const wake of [...set]) wake();
  }

  // ---- scheduling --------------------------------------------------------------------

  private now(): string {
    return this.deps.clock.now().toISOString();
  }

  private async waitStarted(jobId: string): Promise<void> {
    for (let i = 0; i < 1000 && !this.running.has(jobId); i++) {
      const job = this.deps.jobs.byIdAnyProject(jobId);
      if (!job || FINISHED.has(job.status)) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Starts what may start: the oldest waiting job of each table that has none running, up to the limit. */
  private pump(): void {
    if (this.stopped || !this.started) return;
    const busy = new Set([...this.running.values()].map((run) => run.key));
    for (const job of this.deps.jobs.waiting()) {
      if (this.running.size >= this.deps.maxConcurrent) break;
      const key = tableKey(job);
      if (busy.has(key)) continue;
      busy.add(key);
      this.launch(job, key);
    }
  }

  private launch(job: JobRecord, key: string): void {
    const controller = new AbortController();
    const run: Running = { key, controller, done: Promise.resolve() };
    this.running.set(job.id, run);
    run.done = this.execute(job, controller)
      .catch((error) => this.deps.logger.error({ event: 'job', job_id: job.id, err: (error as Error).message }, 'could not record the state of a job'))
      .finally(() => {
        this.running.delete(job.id);
        this.pump();
      });
  }

  private async execute(queued: JobRecord, controller: AbortController): Promise<void> {
    const { jobs, logger } = this.deps;
    const startedMs = performance.now();
    let job: JobRecord;
    try {
      job = await jobs.update(queued, { status: 'processing', startedAt: this.now() }, {
        guard: () => {
          if (jobs.byIdAnyProject(queued.id)?.status !== 'waiting') throw new Error('not waiting');
        },
      });
    } catch {
      return; // cancelled (or removed) while it waited for the writer lock
    }
    job.progress.rows = 0;
    job.progress.bytes = 0;
    let finishedBy: 'operation' | undefined;
    const ctx: JobContext = {
      job,
      signal: controller.signal,
      progress: job.progress,
      finish: async (result, options = {}) => {
        const seconds = (performance.now() - startedMs) / 1000;
        await jobs.update(job, { status: 'success', result, error: null, finishedAt: this.now() }, {
          also: options.also,
          guard: options.guard,
          apply: () => {
            options.apply?.();
            this.finished(job, 'success', seconds);
          },
        });
        finishedBy = 'operation';
      },
    };
    let result: Record<string, unknown>;
    try {
      // Cancelled between being picked and being marked processing.
      controller.signal.throwIfAborted();
      result = await this.operations[job.operation](ctx);
    } catch (error) {
      const seconds = (performance.now() - startedMs) / 1000;
      if (controller.signal.aborted) {
        if (controller.signal.reason === SHUTDOWN) return; // stays processing: runs again after the restart
        await jobs.update(job, { status: 'cancelled', finishedAt: this.now() }, { apply: () => this.finished(job, 'cancelled', seconds) });
        return;
      }
      const jobError = this.errorObject(error, job);
      await jobs.update(job, { status: 'error', error: jobError, result: null, finishedAt: this.now() }, { apply: () => this.finished(job, 'error', seconds) });
      return;
    }
    if (finishedBy) return;
    await ctx.finish(result);
  }

  /** The §1 error object the synchronous endpoint would have answered. */
  private errorObject(error: unknown, job: JobRecord): JobError {
    if (error instanceof TableGoneError) error = errors.tableNotFound(job.projectId, job.bucket, job.table);
    if (error instanceof HttpError) {
      return error.details ? { error: error.code, message: error.message, details: error.details } : { error: error.code, message: error.message };
    }
    this.deps.logger.error({ event: 'job_failed', job_id: job.id, err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'job failed unexpectedly');
    const message = this.deps.debug && error instanceof Error ? this.deps.scrub(error.message) : 'Internal server error';
    return { error: 'internal_server_error', message, details: { job_id: job.id } };
  }

  /** A job reached a final state: metrics, and everyone long-polling it is woken. */
  private finished(job: JobRecord, status: 'success' | 'error' | 'cancelled', seconds: number): void {
    this.deps.metrics.observeJob(job.operation, status, seconds);
    this.deps.logger.info({ event: 'job', job_id: job.id, operation: job.operation, status, duration_ms: Math.round(seconds * 1000) }, 'job finished');
    const set = this.waiters.get(job.id);
    if (set) for (const wake of [...set]) wake();
  }
}
