import { existsSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Database } from './db.ts';
import { abortableTurn, KeyedRwLock, Mutex } from './mutex.ts';
import { PreparedStatements } from './prepared.ts';
import { quoteIdent, quoteLiteral } from './sql.ts';

interface Attachment {
  alias: string;
  users: number;
  ready: Promise<void>;
  /** Set when the last user left: settles once the detach ran (or was called off). */
  gone?: Promise<void>;
  /** The DETACH statement has started; the attachment can no longer be taken back. */
  detaching?: boolean;
  /** When the last user left (registry clock, ms): set while the attachment is kept warm. */
  idleSince?: number;
}

export interface RegistryOptions {
  /**
   * How long a file stays attached after its last user left (ms), so the next request for
   * it skips ATTACH/DETACH. Once it passes, the file is detached: another process can open
   * it. 0 detaches as soon as the last user leaves.
   */
  idleMs?: number;
  /** At most this many files stay attached: beyond it, the least recently used idle ones go first. */
  maxOpen?: number;
  /** The clock idle times are measured by (ms); `performance.now` unless a test moves its own. */
  now?: () => number;
}

/** Raised when a table file is missing or being deleted; handlers answer 404. */
export class TableGoneError extends Error {
  constructor() {
    super('table file is gone');
  }
}

/**
 * Attaches table files to the one DuckDB instance on demand. A file is attached once,
 * shared by every request that uses it, and kept attached ("warm") for `idleMs` after the
 * last of them releases it, within a cap of `maxOpen` attached files (least recently used
 * idle files are detached first). A file held `exclusive` or being `swap`ped is detached
 * at once, idle or not, before the work runs.
 * ATTACH and DETACH statements run one at a time (and are short: writes checkpoint before
 * they let go of the table). Writes to one table are serialised through a per-file lock;
 * reads take no lock.
 */
export class AttachmentRegistry {
  private readonly attachments = new Map<string, Attachment>();
  private readonly ddl = new Mutex();
  private readonly writeLocks = new KeyedRwLock();
  private readonly folderLocks = new KeyedRwLock();
  private readonly closing = new Set<string>();
  /** Files being replaced (`swap`): new users wait for the replacement instead of failing. */
  private readonly paused = new Map<string, Promise<void>>();
  /**
   * The checkpoint running after a path's last write, by path (lower-cased, as the write
   * locks), for `checkpointed` and `settle`. It runs under that path's write lock, so a
   * path has at most one.
   */
  private readonly tailOf = new Map<string, Promise<void>>();
  private counter = 0;
  /**
   * ATTACH/DETACH run one at a time anyway: they share one connection, kept out of the pool
   * (no other statement ever runs on it) until `settle` gives it back, since
   * `Database.close` closes a connection still handed out only when it is given back.
   */
  private ddlConnection: DuckDBConnection | undefined;
  /** Attachments nobody uses, least recently released first (a Map keeps insertion order). */
  private readonly idle = new Map<string, Attachment>();
  /** Detaches started and not yet finished (those attachments no longer count against the cap). */
  private detachesRunning = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private readonly idleMs: number;
  private readonly maxOpen: number;
  private readonly now: () => number;
  /** Statements prepared over warm attachments; destroyed before their alias is detached. */
  readonly statements = new PreparedStatements();

  constructor(
    private readonly db: Database,
    options: RegistryOptions = {},
  ) {
    this.idleMs = Math.max(0, options.idleMs ?? 0);
    this.maxOpen = Math.max(1, options.maxOpen ?? 256);
    this.now = options.now ?? (() => performance.now());
  }

  private async runDdlStatement(sql: string): Promise<void> {
    this.ddlConnection ??= await this.db.acquire();
    await this.ddlConnection.run(sql);
  }

  get openCount(): number {
    return this.attachments.size;
  }

  get waitingWrites(): number {
    return this.writeLocks.waiting;
  }

  /** Attaches (or shares the attachment of) `path`; the caller must `release` it. */
  async acquire(path: string): Promise<string> {
    for (;;) {
      const pause = this.paused.get(path);
      if (pause) {
        await pause;
        continue;
      }
      if (this.closing.has(path)) throw new TableGoneError();
      const current = this.attachments.get(path);
      // A detach that is queued but not started is called off by the new user.
      if (current && !current.detaching) {
        current.users++;
        this.wake(path, current);
        try {
          await current.ready;
        } catch (error) {
          current.users--;
          throw error;
        }
        return current.alias;
      }
      if (current) {
        await current.gone;
        continue;
      }
      const alias = `t${++this.counter}`;
      const entry: Attachment = { alias, users: 1, ready: Promise.resolve() };
      entry.ready = this.ddl.run(async () => {
        // ATTACH would create a missing file: never let a read conjure up a table.
        if (!existsSync(path)) throw new TableGoneError();
        await this.runDdlStatement(`ATTACH ${quoteLiteral(path)} AS ${quoteIdent(alias)}`);
      });
      this.attachments.set(path, entry);
      try {
        await entry.ready;
      } catch (error) {
        if (this.attachments.get(path) === entry) this.attachments.delete(path);
        throw error;
      }
      this.enforceCap();
      return alias;
    }
  }

  release(path: string): void {
    const entry = this.attachments.get(path);
    if (!entry || entry.users <= 0) return;
    entry.users--;
    if (entry.users > 0) return;
    // Someone waits to have the file to itself: no point keeping it warm.
    if (this.idleMs === 0 || this.closing.has(path) || this.paused.has(path)) {
      this.detach(path, entry);
      return;
    }
    entry.idleSince = this.now();
    this.idle.delete(path);
    this.idle.set(path, entry);
    this.enforceCap();
    this.armTimer();
  }

  /** The attachment is in use again: it is no longer idle. */
  private wake(path: string, entry: Attachment): void {
    entry.idleSince = undefined;
    if (this.idle.get(path) === entry) this.idle.delete(path);
  }

  /** Queues the DETACH of an attachment nobody uses (called off if a user arrives before it runs). */
  private detach(path: string, entry: Attachment): void {
    this.wake(path, entry);
    if (entry.gone || entry.detaching) return;
    this.detachesRunning++;
    const gone: Promise<void> = this.ddl
      .run(async () => {
        if (entry.users > 0) return; // taken again while the detach waited its turn
        entry.detaching = true;
        this.wake(path, entry);
        this.statements.forget(entry.alias);
        await this.runDdlStatement(`DETACH ${quoteIdent(entry.alias)}`);
      })
      .catch(() => {
        /* the database may already be closed during shutdown */
      })
      .finally(() => {
        this.detachesRunning--;
        if (entry.detaching) {
          if (this.attachments.get(path) === entry) this.attachments.delete(path);
        } else if (entry.gone === gone) {
          entry.gone = undefined;
          // Called off by a user who has left again meanwhile: idle once more.
          if (entry.users === 0 && this.attachments.get(path) === entry) {
            if (this.idleMs === 0 || this.closing.has(path) || this.paused.has(path)) this.detach(path, entry);
            else {
              entry.idleSince = this.now();
              this.idle.set(path, entry);
              this.armTimer();
            }
          }
        }
      });
    entry.gone = gone;
  }

  /** Detaches the least recently used idle files while more than `maxOpen` are attached. */
  private enforceCap(): void {
    let over = this.attachments.size - this.detachesRunning - this.maxOpen;
    for (const [path, entry] of this.idle) {
      if (over <= 0) break;
      this.detach(path, entry);
      over--;
    }
  }

  /** Detaches every file idle for `idleMs` or longer; returns when those detaches are done. */
  async detachIdle(): Promise<void> {
    const now = this.now();
    const started: Promise<void>[] = [];
    for (const [path, entry] of this.idle) {
      if (now - entry.idleSince! < this.idleMs) break; // the rest were released later
      this.detach(path, entry);
      if (entry.gone) started.push(entry.gone);
    }
    this.armTimer();
    await Promise.all(started);
  }

  /** Keeps one timer, due when the least recently released idle file reaches its timeout. */
  private armTimer(): void {
    const oldest = this.idle.values().next().value as Attachment | undefined;
    if (!oldest) {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      this.timerDue = Infinity;
      return;
    }
    const due = oldest.idleSince! + this.idleMs;
    if (this.idleTimer && this.timerDue <= due) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.timerDue = due;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.timerDue = Infinity;
      void this.detachIdle();
    }, Math.max(0, due - this.now()) + 1);
    // Waiting to detach must not keep the process alive.
    this.idleTimer.unref();
  }

  /**
   * Resolves once the checkpoint after the last write to `path` is done (at once when none
   * runs). The file's size changes when it folds its WAL in: a read that shows the size
   * waits for that, so two reads around a refused request show the same size.
   */
  async checkpointed(path: string): Promise<void> {
    await this.tailOf.get(path.toLowerCase())?.catch(() => {});
  }

  /** Resolves once the checkpoints that run after writes have answered are done. */
  async writesSettled(): Promise<void> {
    while (this.tailOf.size) await Promise.allSettled([...this.tailOf.values()]);
  }

  /**
   * Waits for every detach already under way (and anything queued before it), so the
   * database is not closed under a running DETACH, which would keep the process from exiting.
   */
  async settle(): Promise<void> {
    // Checkpoints that run after their writer got its result go first (they hold attachments).
    await this.writesSettled();
    for (;;) {
      // Warm files are detached too: nothing stays attached behind a settle.
      for (const [path, entry] of this.idle) this.detach(path, entry);
      this.armTimer();
      const pending = [...this.attachments.values()].flatMap((entry) => (entry.gone ? [entry.gone] : []));
      await this.ddl.run(async () => {
        // Nothing runs on it between two turns of the lock; a later ATTACH takes one again.
        if (!pending.length && this.ddlConnection) {
          this.db.release(this.ddlConnection);
          this.ddlConnection = undefined;
        }
      });
      if (!pending.length) return;
      await Promise.all(pending);
    }
  }

  /**
   * Runs `work` holding a bucket folder's lock: `shared` for work inside the bucket (table
   * creates run in parallel), `exclusive` for creating or deleting the bucket itself.
   */
  withFolderLock<T>(path: string, mode: 'shared' | 'exclusive', work: () => Promise<T>): Promise<T> {
    return this.folderLocks.run(path.toLowerCase(), mode, work);
  }

  /**
   * Runs `work` with the table's write lock held. A write that succeeded is checkpointed
   * before the lock is let go, while the writer still holds the attachment: otherwise the
   * DETACH after it would write the WAL back into the file (after a large import, a hundred
   * milliseconds and more) under the one lock every ATTACH and DETACH waits for, and reads
   * of other tables would wait for this write (§9 says they never do). The caller gets its
   * result as soon as `work` is done (its changes are committed, so durable in the WAL): the
   * checkpoint runs after that, still holding the lock, so the next holder of the lock (a
   * write, a snapshot, a clone, a delete) always finds the file without a WAL, while the
   * response does not wait for it. `signal` gives up the wait for the lock (a cancelled
   * job, §16); work that has started is not stopped by it.
   */
  withWriteLock<T>(path: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    // Keyed without case: `Orders` and `orders` are one table name.
    const take = (turn: () => Promise<T>) =>
      new Promise<T>((resolve, reject) => {
        const held = this.writeLocks.run(path.toLowerCase(), 'exclusive', async () => {
          let result: T;
          try {
            result = await turn();
          } catch (error) {
            reject(error);
            return;
          }
          resolve(result);
          const tail = this.checkpoint(path);
          const key = path.toLowerCase();
          this.tailOf.set(key, tail);
          await tail.finally(() => this.tailOf.delete(key));
        });
        // The lock itself failing (nothing in `run` throws past the catch above).
        held.catch(reject);
      });
    return abortableTurn(take, work, signal);
  }

  /** Checkpoints an attached file that has changes in its WAL; a failure is left to the DETACH. */
  private async checkpoint(path: string): Promise<void> {
    const entry = this.attachments.get(path);
    if (!entry || entry.detaching || !existsSync(`${path}.wal`)) return;
    // Held for the checkpoint, so an idle (warm) file is not detached under it.
    entry.users++;
    this.wake(path, entry);
    try {
      await entry.ready;
      await this.db.with((c) => c.run(`CHECKPOINT ${quoteIdent(entry.alias)}`));
    } catch {
      /* the DETACH checkpoints instead */
    } finally {
      this.release(path);
    }
  }

  /**
   * Runs `work` holding the table's write lock shared: writers of the table wait until it is
   * done, other shared holders do not. For readers outside this instance (the SQL sandboxes),
   * which must not read a file while this instance writes or checkpoints it.
   */
  withReadLock<T>(path: string, work: () => Promise<T>): Promise<T> {
    return this.writeLocks.run(path.toLowerCase(), 'shared', work);
  }

  /** The read lock of `withReadLock` if it is free now (no write holds or waits for it): its release, or undefined. */
  tryReadLock(path: string): (() => void) | undefined {
    return this.writeLocks.tryShared(path.toLowerCase());
  }

  /**
   * Blocks new users of the files and waits until their current users are gone and the
   * files are detached; then runs `work` (deleting them) and lets users in again.
   */
  async exclusive<T>(paths: string[], work: () => Promise<T>): Promise<T> {
    const taken = paths.filter((path) => !this.closing.has(path));
    for (const path of taken) this.closing.add(path);
    try {
      for (const path of paths) await this.drained(path);
      return await work();
    } finally {
      for (const path of taken) this.closing.delete(path);
    }
  }

  /**
   * Like `exclusive` for one file that is being replaced in place (a rebuilt table file):
   * new users wait until `work` is done and then attach the new file, instead of failing.
   * The caller must not hold an attachment of the file itself.
   */
  async swap<T>(path: string, work: () => Promise<T>): Promise<T> {
    let resume!: () => void;
    const pause = new Promise<void>((resolve) => (resume = resolve));
    while (this.paused.has(path)) await this.paused.get(path);
    this.paused.set(path, pause);
    try {
      await this.drained(path);
      return await work();
    } finally {
      this.paused.delete(path);
      resume();
    }
  }

  /** Resolves once the file has no users and is detached (a warm file is detached now). */
  private async drained(path: string): Promise<void> {
    for (;;) {
      const entry = this.attachments.get(path);
      if (!entry) return;
      if (entry.users === 0 && !entry.gone) this.detach(path, entry);
      if (entry.gone) await entry.gone;
      else await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /** Runs an ATTACH/DETACH of a file outside the registry (creation of a new table file). */
  runDdl<T>(work: () => Promise<T>): Promise<T> {
    return this.ddl.run(work);
  }

  nextAlias(): string {
    return `t${++this.counter}`;
  }
}
