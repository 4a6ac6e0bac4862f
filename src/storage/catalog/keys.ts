import type { DuckDBConnection } from '@duckdb/node-api';
import type { Scope } from '../../auth/scopes.ts';
import { CatalogStore, type CatalogChange, type Statement } from './store.ts';

/** One API key of a project (§11). Only the SHA-256 digest of its secret is kept. */
export interface ApiKeyRecord {
  id: string;
  projectId: string;
  digest: string;
  /** The secret up to and including the scope, then `...`: safe to show and to log. */
  prefix: string;
  description: string | null;
  scope: Scope;
  /** When set, the only buckets of the project the key reaches. */
  buckets: string[] | null;
  /** When set, the only development branch the key reaches. */
  branch: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  rotatedAt: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS project_keys (
  id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, digest VARCHAR NOT NULL, prefix VARCHAR NOT NULL,
  description VARCHAR, scope VARCHAR NOT NULL, buckets VARCHAR, branch VARCHAR,
  created_at VARCHAR NOT NULL, expires_at VARCHAR, last_used_at VARCHAR, rotated_at VARCHAR);
`;

const INSERT = 'INSERT INTO project_keys VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)';

/** How often recorded uses are written to disk, at most (the contract keeps them to within a minute). */
export const LAST_USED_FLUSH_MS = 60_000;

/**
 * Project keys, served from memory by digest (authentication is one map lookup) and written
 * through to metadata.duckdb. `last_used_at` moves in memory on every use and reaches the
 * disk in one batched write at most once a minute, so authenticating never waits on a write.
 */
export class KeyCatalog {
  private readonly byId = new Map<string, ApiKeyRecord>();
  private readonly byDigest = new Map<string, ApiKeyRecord>();
  /** Keys whose `last_used_at` changed since the last flush. */
  private readonly used = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  private constructor(private readonly store: CatalogStore) {}

  static async load(store: CatalogStore): Promise<KeyCatalog> {
    const keys = new KeyCatalog(store);
    await store.db.with(async (c) => {
      await c.run(SCHEMA);
      await keys.migrateLegacyKeys(c);
      // In creation order (rowid breaks ties of one millisecond), which list() keeps.
      for (const row of await CatalogStore.rows(c, 'SELECT * FROM project_keys ORDER BY created_at, rowid')) keys.put(fromRow(row));
    });
    return keys;
  }

  /**
   * Data folders from before scoped keys hold one key per project in `api_keys`: each
   * becomes that project's admin key, once.
   */
  private async migrateLegacyKeys(c: DuckDBConnection): Promise<void> {
    const legacy = await CatalogStore.rows(c, "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND table_name = 'api_keys'");
    if (!legacy.length) return;
    const rows = await CatalogStore.rows(c, 'SELECT digest, project_id, created_at FROM api_keys WHERE digest NOT IN (SELECT digest FROM project_keys)');
    const statements: Statement[] = rows.map((row) => [
      INSERT,
      [newKeyId(), row.project_id as string, row.digest as string, `proj_${row.project_id as string}_admin_...`, null, 'admin', null, null, row.created_at as string, null, null, null],
    ]);
    statements.push(['DROP TABLE api_keys', []]);
    await this.store.transaction(c, statements);
  }

  /** The key whose secret has this digest, live or not. */
  byDigestOf(digest: string): ApiKeyRecord | undefined {
    return this.byDigest.get(digest);
  }

  get(projectId: string, id: string): ApiKeyRecord | undefined {
    const key = this.byId.get(id);
    return key && key.projectId.toLowerCase() === projectId.toLowerCase() ? key : undefined;
  }

  /**
   * The project's keys, oldest first: by `created_at`, and within one millisecond in the
   * order they were made (the sort is stable and `byId` keeps creation order, also when
   * loaded and across rotations), never by their random ids.
   */
  list(projectId: string): ApiKeyRecord[] {
    const lowered = projectId.toLowerCase();
    return [...this.byId.values()]
      .filter((key) => key.projectId.toLowerCase() === lowered)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }

  /** The statement that stores a new key; for callers that write it in their own transaction. */
  insertStatement(key: ApiKeyRecord): Statement {
    return [
      INSERT,
      [key.id, key.projectId, key.digest, key.prefix, key.description, key.scope, key.buckets ? JSON.stringify(key.buckets) : null, key.branch, key.createdAt, key.expiresAt, key.lastUsedAt, key.rotatedAt],
    ];
  }

  /** Makes a key stored by `insertStatement` known in memory (after its transaction committed). */
  put(key: ApiKeyRecord): void {
    this.byId.set(key.id, key);
    this.byDigest.set(key.digest, key);
  }

  create(key: ApiKeyRecord, guard?: () => void): Promise<void> {
    return this.store.commit([this.insertStatement(key)], () => this.put({ ...key }), guard);
  }

  /** Deletes a key; `guard` runs under the writer lock (the last-admin-key check). */
  revoke(key: ApiKeyRecord, guard?: () => void): Promise<void> {
    return this.store.commit([['DELETE FROM project_keys WHERE id = $1', [key.id]]], () => this.forget(key), guard);
  }

  /** Replaces a key's secret: the old digest stops matching the moment this commits. */
  rotate(key: ApiKeyRecord, digest: string, now: string): Promise<ApiKeyRecord> {
    const next: ApiKeyRecord = { ...key, digest, rotatedAt: now };
    return this.store
      .commit([['UPDATE project_keys SET digest = $1, rotated_at = $2 WHERE id = $3', [digest, now, key.id]]], () => {
        // Replaced in place: the key keeps its place in creation order (and a use not yet flushed).
        if (this.byDigest.get(key.digest)?.id === key.id) this.byDigest.delete(key.digest);
        this.put(next);
      }, () => {
        if (!this.byId.has(key.id)) throw new KeyGoneError();
      })
      .then(() => next);
  }

  /** Removes every key of a project (after it was marked deleted, so none of them authenticates). */
  dropProject(projectId: string): Promise<void> {
    const keys = this.list(projectId);
    if (!keys.length) return Promise.resolve();
    return this.store.commit([['DELETE FROM project_keys WHERE lower(project_id) = lower($1)', [projectId]]], () => {
      for (const key of keys) this.forget(key);
    });
  }

  /** The keys restricted to a branch, removed (with the branch, in its transaction: §11, §14). */
  dropBranchChange(projectId: string, branchId: string): CatalogChange {
    const keys = this.list(projectId).filter((key) => key.branch !== null && key.branch.toLowerCase() === branchId.toLowerCase());
    return {
      statements: keys.map((key): Statement => ['DELETE FROM project_keys WHERE id = $1', [key.id]]),
      apply: () => {
        for (const key of keys) this.forget(key);
      },
    };
  }

  /** Keys restricted to a branch that does not exist (a branch delete older than this module's change). */
  branchOrphans(exists: (projectId: string, branchId: string) => boolean): ApiKeyRecord[] {
    return [...this.byId.values()].filter((key) => key.branch !== null && !exists(key.projectId, key.branch.toLowerCase()));
  }

  /** Keys of projects that are not active (a project delete cut short by a crash). */
  orphans(isActive: (projectId: string) => boolean): string[] {
    return [...new Set([...this.byId.values()].filter((key) => !isActive(key.projectId)).map((key) => key.projectId))];
  }

  /** Notes a use in memory; the disk learns of it with the next flush. */
  touch(key: ApiKeyRecord, now: Date): void {
    const stamp = now.toISOString();
    if (key.lastUsedAt === stamp) return;
    key.lastUsedAt = stamp;
    this.used.add(key.id);
  }

  /** Writes the recorded uses in one transaction. */
  async flushUses(): Promise<void> {
    if (!this.used.size) return;
    const ids = [...this.used];
    this.used.clear();
    const statements: Statement[] = [];
    for (const id of ids) {
      const key = this.byId.get(id);
      if (key) statements.push(['UPDATE project_keys SET last_used_at = $1 WHERE id = $2', [key.lastUsedAt, id]]);
    }
    try {
      await this.store.commit(statements, () => {});
    } catch (error) {
      for (const id of ids) this.used.add(id);
      throw error;
    }
  }

  /** Starts the periodic flush of `last_used_at`. */
  startFlushing(onError: (error: unknown) => void): void {
    this.timer ??= setInterval(() => this.flushUses().catch(onError), LAST_USED_FLUSH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flushUses();
  }

  private forget(key: ApiKeyRecord): void {
    this.byId.delete(key.id);
    if (this.byDigest.get(key.digest)?.id === key.id) this.byDigest.delete(key.digest);
    this.used.delete(key.id);
  }
}

/** The key was revoked while another change to it waited for the writer lock. */
export class KeyGoneError extends Error {
  constructor() {
    super('key is gone');
  }
}

export function newKeyId(): string {
  return `k_${crypto.getRandomValues(new Uint8Array(6)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '')}`;
}

function fromRow(row: Record<string, unknown>): ApiKeyRecord {
  return {
    id: row.id as string,
    projectId: row.project_id as string,
    digest: row.digest as string,
    prefix: row.prefix as string,
    description: (row.description as string | null) ?? null,
    scope: row.scope as Scope,
    buckets: row.buckets == null ? null : (JSON.parse(row.buckets as string) as string[]),
    branch: (row.branch as string | null) ?? null,
    createdAt: row.created_at as string,
    expiresAt: (row.expires_at as string | null) ?? null,
    lastUsedAt: (row.last_used_at as string | null) ?? null,
    rotatedAt: (row.rotated_at as string | null) ?? null,
  };
}
