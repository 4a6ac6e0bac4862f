import { existsSync } from 'node:fs';
import type { Database } from './db.ts';
import { KeyedMutex, KeyedRwLock, Mutex } from './mutex.ts';
import { quoteIdent, quoteLiteral } from './sql.ts';

interface Attachment {
  alias: string;
  users: number;
  ready: Promise<void>;
  /** Settles once the file is detached and the entry forgotten. */
  gone?: Promise<void>;
}

/** Raised when a table file is missing or being deleted; handlers answer 404. */
export class TableGoneError extends Error {
  constructor() {
    super('table file is gone');
  }
}

/**
 * Attaches table files to the one DuckDB instance on demand. A file is attached once,
 * shared by every request that uses it, and detached when the last of them releases it.
 * ATTACH and DETACH statements run one at a time. Writes to one table are serialised
 * through a per-file lock; reads take no lock.
 */
export class AttachmentRegistry {
  private readonly attachments = new Map<string, Attachment>();
  private readonly ddl = new Mutex();
  private readonly writeLocks = new KeyedMutex();
  private readonly folderLocks = new KeyedRwLock();
  private readonly closing = new Set<string>();
  private counter = 0;

  constructor(private readonly db: Database) {}

  get openCount(): number {
    return this.attachments.size;
  }

  get waitingWrites(): number {
    return this.writeLocks.waiting;
  }

  /** Attaches (or shares the attachment of) `path`; the caller must `release` it. */
  async acquire(path: string): Promise<string> {
    for (;;) {
      if (this.closing.has(path)) throw new TableGoneError();
      const current = this.attachments.get(path);
      if (current && !current.gone) {
        current.users++;
        try {
          await current.ready;
        } catch (error) {
          current.users--;
          throw error;
        }
        return current.alias;
      }
      if (current?.gone) {
        await current.gone;
        continue;
      }
      const alias = `t${++this.counter}`;
      const entry: Attachment = { alias, users: 1, ready: Promise.resolve() };
      entry.ready = this.ddl.run(async () => {
        // ATTACH would create a missing file: never let a read conjure up a table.
        if (!existsSync(path)) throw new TableGoneError();
        await this.db.with((c) => c.run(`ATTACH ${quoteLiteral(path)} AS ${quoteIdent(alias)}`));
      });
      this.attachments.set(path, entry);
      try {
        await entry.ready;
      } catch (error) {
        if (this.attachments.get(path) === entry) this.attachments.delete(path);
        throw error;
      }
      return alias;
    }
  }

  release(path: string): void {
    const entry = this.attachments.get(path);
    if (!entry || entry.users <= 0) return;
    entry.users--;
    if (entry.users > 0) return;
    entry.gone = this.ddl
      .run(async () => {
        await this.db.with((c) => c.run(`DETACH ${quoteIdent(entry.alias)}`));
      })
      .catch(() => {
        /* the database may already be closed during shutdown */
      })
      .finally(() => {
        if (this.attachments.get(path) === entry) this.attachments.delete(path);
      });
  }

  /**
   * Runs `work` holding a bucket folder's lock: `shared` for work inside the bucket (table
   * creates run in parallel), `exclusive` for creating or deleting the bucket itself.
   */
  withFolderLock<T>(path: string, mode: 'shared' | 'exclusive', work: () => Promise<T>): Promise<T> {
    return this.folderLocks.run(path.toLowerCase(), mode, work);
  }

  /** Runs `work` with the table's write lock held. */
  withWriteLock<T>(path: string, work: () => Promise<T>): Promise<T> {
    // Keyed without case: `Orders` and `orders` are one table name.
    return this.writeLocks.run(path.toLowerCase(), work);
  }

  /**
   * Blocks new users of the files and waits until their current users are gone and the
   * files are detached; then runs `work` (deleting them) and lets users in again.
   */
  async exclusive<T>(paths: string[], work: () => Promise<T>): Promise<T> {
    const taken = paths.filter((path) => !this.closing.has(path));
    for (const path of taken) this.closing.add(path);
    try {
      for (const path of paths) {
        for (;;) {
          const entry = this.attachments.get(path);
          if (!entry) break;
          if (entry.gone) await entry.gone;
          else await new Promise((resolve) => setTimeout(resolve, 2));
        }
      }
      return await work();
    } finally {
      for (const path of taken) this.closing.delete(path);
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
