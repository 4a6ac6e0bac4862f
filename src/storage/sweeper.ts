import type { Logger } from 'pino';

/** One kind of expiring thing (snapshots, files, jobs, workspaces) and how to delete what is due. */
export interface SweepTask {
  name: string;
  /** Deletes whatever has expired at `now`; returns how many things it removed. */
  sweep(now: Date): Promise<number>;
}

/**
 * The one background sweeper for everything that expires. It runs each registered task at
 * start and then every `intervalMs` (well under the contract's "at most an hour after
 * `expires_at`"), one pass at a time; tests call `runNow()` after moving the injected clock
 * instead of waiting.
 */
export class Sweeper {
  private readonly tasks: SweepTask[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** The pass that follows the one under way (see `runNow`). */
  private queued: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly clock: { now(): Date },
    private readonly logger: Logger,
    private readonly intervalMs = 5 * 60_000,
  ) {}

  register(task: SweepTask): void {
    this.tasks.push(task);
  }

  /** Starts the periodic passes (the first one right away). */
  start(): void {
    if (this.timer || this.stopped) return;
    void this.runNow();
    this.timer = setInterval(() => void this.runNow(), this.intervalMs);
    this.timer.unref();
  }

  /**
   * One pass over every task, started after this call. A pass already under way may have
   * read the clock (and the records) before the caller moved it or made something due, so
   * it is not enough: one more pass follows it, shared by every call made meanwhile.
   */
  runNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.queued ??= this.running.then(() => {
        this.queued = undefined;
        return this.runNow();
      });
      return this.queued;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    for (const task of this.tasks) {
      try {
        const removed = await task.sweep(this.clock.now());
        if (removed) this.logger.info({ event: 'sweep', task: task.name, removed }, 'removed expired items');
      } catch (error) {
        this.logger.error({ event: 'sweep', task: task.name, err: (error as Error).message }, 'sweep failed');
      }
    }
  }

  /** Stops the timer and waits for a pass under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
