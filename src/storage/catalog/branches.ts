import type { DuckDBConnection } from '@duckdb/node-api';
import type { ColumnDef } from '../catalog.ts';
import { CatalogStore, type CatalogChange } from './store.ts';

/** A development branch of a project (§14). The default branch has no record. */
export interface BranchRecord {
  projectId: string;
  id: string;
  name: string;
  description: string | null;
  createdAt: string;
}

/** A bucket a branch created, or a tombstone hiding one of main's buckets in the branch. */
export interface BranchBucketRecord {
  projectId: string;
  branchId: string;
  bucket: string;
  state: 'created' | 'deleted';
  description: string | null;
  createdAt: string;
}

/**
 * A table a branch holds: its own copy of one of main's tables (`copied`), a table it
 * created (`created`), or a tombstone hiding main's table in the branch (`deleted`).
 * `baseVersion` is main's version of the name when the branch copied or deleted it (null
 * for a table main did not have), which merge compares with main's version now.
 */
export interface BranchTableRecord {
  projectId: string;
  branchId: string;
  bucket: string;
  name: string;
  state: 'copied' | 'created' | 'deleted';
  columns: ColumnDef[];
  primaryKey: string[];
  rowCount: number;
  createdAt: string;
  baseVersion: number | null;
}

/**
 * A development branch's own copy of the §12 metadata of one of main's buckets, made by its
 * first bucket metadata write there (copy on write, §14): from then on the branch reads and
 * writes its own entries (also when it has emptied them), not main's. `baseCreatedAt` is
 * the `created_at` of main's bucket when copied: a copy of a bucket main has since deleted
 * and created again describes the old bucket and is not used.
 */
export interface BranchBucketMetadataRecord {
  projectId: string;
  branchId: string;
  bucket: string;
  baseCreatedAt: string;
}

/**
 * A merge under way (§14): recorded before any file moves, removed in the transaction that
 * completes it. Start-up finds an unfinished one and completes or rolls it back.
 */
export interface MergeIntent {
  id: string;
  projectId: string;
  branchId: string;
  bucket: string;
  table: string;
  /** What main gets: the branch's file (`replace`, also when main had no table) or nothing (`drop`). */
  kind: 'replace' | 'drop';
  createdAt: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS branches (
  project_id VARCHAR NOT NULL, id VARCHAR NOT NULL, name VARCHAR NOT NULL, description VARCHAR,
  created_at VARCHAR NOT NULL, PRIMARY KEY (project_id, id));
CREATE TABLE IF NOT EXISTS branch_buckets (
  project_id VARCHAR NOT NULL, branch_id VARCHAR NOT NULL, bucket_name VARCHAR NOT NULL, state VARCHAR NOT NULL,
  description VARCHAR, created_at VARCHAR NOT NULL, PRIMARY KEY (project_id, branch_id, bucket_name));
CREATE TABLE IF NOT EXISTS branch_tables (
  project_id VARCHAR NOT NULL, branch_id VARCHAR NOT NULL, bucket_name VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
  state VARCHAR NOT NULL, columns VARCHAR NOT NULL, primary_key VARCHAR NOT NULL, row_count BIGINT NOT NULL,
  created_at VARCHAR NOT NULL, base_version BIGINT, PRIMARY KEY (project_id, branch_id, bucket_name, table_name));
CREATE TABLE IF NOT EXISTS branch_bucket_metadata (
  project_id VARCHAR NOT NULL, branch_id VARCHAR NOT NULL, bucket_name VARCHAR NOT NULL,
  base_created_at VARCHAR NOT NULL, PRIMARY KEY (project_id, branch_id, bucket_name));
CREATE TABLE IF NOT EXISTS merge_intents (
  id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, branch_id VARCHAR NOT NULL, bucket_name VARCHAR NOT NULL,
  table_name VARCHAR NOT NULL, kind VARCHAR NOT NULL, created_at VARCHAR NOT NULL);
`;

const lower = (s: string) => s.toLowerCase();
const branchKey = (projectId: string, branchId: string) => `${lower(projectId)}\u0000${branchId}`;
const nameKey = (...names: string[]) => names.map(lower).join('\u0000');

/** The records of one branch, by lower-cased bucket and `bucket\0table`. */
interface BranchNode {
  record: BranchRecord;
  buckets: Map<string, BranchBucketRecord>;
  tables: Map<string, BranchTableRecord>;
  /** Copies of main's bucket metadata, by lower-cased bucket name. */
  metadataCopies: Map<string, BranchBucketMetadataRecord>;
}

/**
 * Branch records, the buckets and tables each branch holds, and merge intents; served from
 * memory, written through the shared catalog store like every catalog module. Every change
 * is also offered as a `CatalogChange`, so an operation spanning modules (a merge writes
 * main's table row and drops the branch's) commits in one transaction. Names are matched
 * without regard to case and kept as they were written.
 */
export class BranchCatalog {
  private readonly nodes = new Map<string, BranchNode>();
  private readonly intents = new Map<string, MergeIntent>();

  private constructor(readonly store: CatalogStore) {}

  static async load(store: CatalogStore): Promise<BranchCatalog> {
    const catalog = new BranchCatalog(store);
    await store.db.with(async (c) => {
      await c.run(SCHEMA);
      await catalog.readAll(c);
    });
    return catalog;
  }

  private async readAll(c: DuckDBConnection): Promise<void> {
    // In creation order (rowid breaks ties of one millisecond), which list() keeps.
    for (const r of await CatalogStore.rows(c, 'SELECT * FROM branches ORDER BY created_at, rowid')) {
      this.putBranch({ projectId: r.project_id as string, id: r.id as string, name: r.name as string, description: (r.description as string | null) ?? null, createdAt: r.created_at as string });
    }
    for (const r of await CatalogStore.rows(c, 'SELECT * FROM branch_buckets')) {
      const node = this.node(r.project_id as string, r.branch_id as string);
      if (!node) continue; // pruned at start (pruneOrphans)
      const record: BranchBucketRecord = {
        projectId: r.project_id as string,
        branchId: r.branch_id as string,
        bucket: r.bucket_name as string,
        state: r.state as BranchBucketRecord['state'],
        description: (r.description as string | null) ?? null,
        createdAt: r.created_at as string,
      };
      node.buckets.set(lower(record.bucket), record);
    }
    for (const r of await CatalogStore.rows(c, 'SELECT * FROM branch_tables')) {
      const node = this.node(r.project_id as string, r.branch_id as string);
      if (!node) continue;
      const record: BranchTableRecord = {
        projectId: r.project_id as string,
        branchId: r.branch_id as string,
        bucket: r.bucket_name as string,
        name: r.table_name as string,
        state: r.state as BranchTableRecord['state'],
        columns: JSON.parse(r.columns as string),
        primaryKey: JSON.parse(r.primary_key as string),
        rowCount: Number(r.row_count),
        createdAt: r.created_at as string,
        baseVersion: r.base_version == null ? null : Number(r.base_version),
      };
      node.tables.set(nameKey(record.bucket, record.name), record);
    }
    for (const r of await CatalogStore.rows(c, 'SELECT * FROM branch_bucket_metadata')) {
      const node = this.node(r.project_id as string, r.branch_id as string);
      if (!node) continue;
      const record: BranchBucketMetadataRecord = { projectId: r.project_id as string, branchId: r.branch_id as string, bucket: r.bucket_name as string, baseCreatedAt: r.base_created_at as string };
      node.metadataCopies.set(lower(record.bucket), record);
    }
    for (const r of await CatalogStore.rows(c, 'SELECT * FROM merge_intents')) {
      this.intents.set(r.id as string, {
        id: r.id as string,
        projectId: r.project_id as string,
        branchId: r.branch_id as string,
        bucket: r.bucket_name as string,
        table: r.table_name as string,
        kind: r.kind as MergeIntent['kind'],
        createdAt: r.created_at as string,
      });
    }
  }

  private node(projectId: string, branchId: string): BranchNode | undefined {
    return this.nodes.get(branchKey(projectId, branchId));
  }

  private putBranch(record: BranchRecord): void {
    this.nodes.set(branchKey(record.projectId, record.id), { record, buckets: new Map(), tables: new Map(), metadataCopies: new Map() });
  }

  // ---- branches ------------------------------------------------------------------------

  get(projectId: string, branchId: string): BranchRecord | undefined {
    return this.node(projectId, branchId)?.record;
  }

  /**
   * The project's branches in the order they were created: by `created_at`, and within one
   * millisecond in the order they were added (the sort is stable; the nodes are kept in
   * creation order, also when loaded), never by their random ids.
   */
  list(projectId: string): BranchRecord[] {
    const lowered = lower(projectId);
    return [...this.nodes.values()]
      .map((n) => n.record)
      .filter((b) => lower(b.projectId) === lowered)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }

  /** Every branch of every project (reconciliation). */
  all(): BranchRecord[] {
    return [...this.nodes.values()].map((n) => n.record);
  }

  byName(projectId: string, name: string): BranchRecord | undefined {
    return this.list(projectId).find((b) => lower(b.name) === lower(name));
  }

  /** `guard` runs under the writer lock (the name check, the project still active). */
  create(record: BranchRecord, guard?: () => void): Promise<void> {
    return this.store.commit(
      [['INSERT INTO branches VALUES ($1, $2, $3, $4, $5)', [record.projectId, record.id, record.name, record.description, record.createdAt]]],
      () => this.putBranch({ ...record }),
      guard,
    );
  }

  /** Every record of a branch removed (the branch itself included). */
  deleteBranchChange(projectId: string, branchId: string): CatalogChange {
    const node = this.node(projectId, branchId);
    if (!node) return { statements: [], apply: () => {} };
    const { projectId: pid, id } = node.record;
    return {
      statements: [
        ['DELETE FROM branch_tables WHERE project_id = $1 AND branch_id = $2', [pid, id]],
        ['DELETE FROM branch_buckets WHERE project_id = $1 AND branch_id = $2', [pid, id]],
        ['DELETE FROM branch_bucket_metadata WHERE project_id = $1 AND branch_id = $2', [pid, id]],
        ['DELETE FROM branches WHERE project_id = $1 AND id = $2', [pid, id]],
      ],
      apply: () => this.nodes.delete(branchKey(pid, id)),
    };
  }

  /** Every branch record of a project removed (project deletion). */
  dropProject(projectId: string): Promise<void> {
    const branches = this.list(projectId);
    const all = [...this.intents.values()].filter((i) => lower(i.projectId) === lower(projectId));
    if (!branches.length && !all.length) return Promise.resolve();
    return this.store.commitChanges([
      ...branches.map((b) => this.deleteBranchChange(b.projectId, b.id)),
      ...all.map((i) => this.deleteIntentChange(i.id)),
    ]);
  }

  // ---- buckets and tables a branch holds -------------------------------------------------

  bucketState(projectId: string, branchId: string, bucket: string): BranchBucketRecord | undefined {
    return this.node(projectId, branchId)?.buckets.get(lower(bucket));
  }

  bucketStates(projectId: string, branchId: string): BranchBucketRecord[] {
    return [...(this.node(projectId, branchId)?.buckets.values() ?? [])];
  }

  tableState(projectId: string, branchId: string, bucket: string, name: string): BranchTableRecord | undefined {
    return this.node(projectId, branchId)?.tables.get(nameKey(bucket, name));
  }

  /** The branch's table records, of one bucket when `bucket` is given. */
  tableStates(projectId: string, branchId: string, bucket?: string): BranchTableRecord[] {
    const all = [...(this.node(projectId, branchId)?.tables.values() ?? [])];
    return bucket === undefined ? all : all.filter((t) => lower(t.bucket) === lower(bucket));
  }

  putTableChange(record: BranchTableRecord): CatalogChange {
    return {
      statements: [
        [
          'INSERT OR REPLACE INTO branch_tables VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
          [
            record.projectId,
            record.branchId,
            record.bucket,
            record.name,
            record.state,
            JSON.stringify(record.columns),
            JSON.stringify(record.primaryKey),
            record.rowCount,
            record.createdAt,
            record.baseVersion,
          ],
        ],
      ],
      apply: () => {
        // A branch deleted meanwhile keeps no records (the guard of the caller refuses first).
        this.node(record.projectId, record.branchId)?.tables.set(nameKey(record.bucket, record.name), { ...record });
      },
    };
  }

  deleteTableChange(projectId: string, branchId: string, bucket: string, name: string): CatalogChange {
    const record = this.tableState(projectId, branchId, bucket, name);
    if (!record) return { statements: [], apply: () => {} };
    return this.removeTableChange(record);
  }

  /** The row of `record` removed by its keys, whether or not it is applied in memory yet. */
  removeTableChange(record: Pick<BranchTableRecord, 'projectId' | 'branchId' | 'bucket' | 'name'>): CatalogChange {
    return {
      statements: [
        ['DELETE FROM branch_tables WHERE project_id = $1 AND branch_id = $2 AND bucket_name = $3 AND table_name = $4', [record.projectId, record.branchId, record.bucket, record.name]],
      ],
      apply: () => this.node(record.projectId, record.branchId)?.tables.delete(nameKey(record.bucket, record.name)),
    };
  }

  putBucketChange(record: BranchBucketRecord): CatalogChange {
    return {
      statements: [
        [
          'INSERT OR REPLACE INTO branch_buckets VALUES ($1, $2, $3, $4, $5, $6)',
          [record.projectId, record.branchId, record.bucket, record.state, record.description, record.createdAt],
        ],
      ],
      apply: () => this.node(record.projectId, record.branchId)?.buckets.set(lower(record.bucket), { ...record }),
    };
  }

  /** The branch's record of a bucket removed (its table records stay). */
  deleteBucketChange(projectId: string, branchId: string, bucket: string): CatalogChange {
    const record = this.bucketState(projectId, branchId, bucket);
    if (!record) return { statements: [], apply: () => {} };
    return {
      statements: [['DELETE FROM branch_buckets WHERE project_id = $1 AND branch_id = $2 AND bucket_name = $3', [record.projectId, record.branchId, record.bucket]]],
      apply: () => this.node(projectId, branchId)?.buckets.delete(lower(bucket)),
    };
  }

  /** The branch's record of a bucket and of every table it holds in it, removed. */
  clearBucketChange(projectId: string, branchId: string, bucket: string): CatalogChange {
    const node = this.node(projectId, branchId);
    if (!node) return { statements: [], apply: () => {} };
    const { projectId: pid, id } = node.record;
    const tables = this.tableStates(pid, id, bucket);
    const record = node.buckets.get(lower(bucket));
    return {
      statements: [
        ...tables.map((t): CatalogChange['statements'][number] => [
          'DELETE FROM branch_tables WHERE project_id = $1 AND branch_id = $2 AND bucket_name = $3 AND table_name = $4',
          [pid, id, t.bucket, t.name],
        ]),
        ...(record ? [['DELETE FROM branch_buckets WHERE project_id = $1 AND branch_id = $2 AND bucket_name = $3', [pid, id, record.bucket]] as CatalogChange['statements'][number]] : []),
        ['DELETE FROM branch_bucket_metadata WHERE project_id = $1 AND branch_id = $2 AND lower(bucket_name) = lower($3)', [pid, id, bucket]],
      ],
      apply: () => {
        for (const t of tables) node.tables.delete(nameKey(t.bucket, t.name));
        node.buckets.delete(lower(bucket));
        node.metadataCopies.delete(lower(bucket));
      },
    };
  }

  // ---- copies of main's bucket metadata ---------------------------------------------------

  bucketMetadataCopy(projectId: string, branchId: string, bucket: string): BranchBucketMetadataRecord | undefined {
    return this.node(projectId, branchId)?.metadataCopies.get(lower(bucket));
  }

  /** The buckets whose metadata the branch holds a copy of. */
  bucketMetadataCopies(projectId: string, branchId: string): BranchBucketMetadataRecord[] {
    return [...(this.node(projectId, branchId)?.metadataCopies.values() ?? [])];
  }

  putBucketMetadataCopyChange(record: BranchBucketMetadataRecord): CatalogChange {
    return {
      statements: [['INSERT OR REPLACE INTO branch_bucket_metadata VALUES ($1, $2, $3, $4)', [record.projectId, record.branchId, record.bucket, record.baseCreatedAt]]],
      apply: () => this.node(record.projectId, record.branchId)?.metadataCopies.set(lower(record.bucket), { ...record }),
    };
  }

  deleteBucketMetadataCopyChange(projectId: string, branchId: string, bucket: string): CatalogChange {
    const record = this.bucketMetadataCopy(projectId, branchId, bucket);
    if (!record) return { statements: [], apply: () => {} };
    return {
      statements: [['DELETE FROM branch_bucket_metadata WHERE project_id = $1 AND branch_id = $2 AND bucket_name = $3', [record.projectId, record.branchId, record.bucket]]],
      apply: () => this.node(projectId, branchId)?.metadataCopies.delete(lower(bucket)),
    };
  }

  /** Commits changes of this and other modules in one transaction. */
  commit(changes: CatalogChange[], guard?: () => void): Promise<void> {
    return this.store.commitChanges(changes, guard);
  }

  // ---- merge intents -----------------------------------------------------------------------

  listIntents(): MergeIntent[] {
    return [...this.intents.values()];
  }

  putIntent(intent: MergeIntent, guard?: () => void): Promise<void> {
    return this.store.commit(
      [
        [
          'INSERT INTO merge_intents VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [intent.id, intent.projectId, intent.branchId, intent.bucket, intent.table, intent.kind, intent.createdAt],
        ],
      ],
      () => this.intents.set(intent.id, { ...intent }),
      guard,
    );
  }

  deleteIntentChange(id: string): CatalogChange {
    return {
      statements: [['DELETE FROM merge_intents WHERE id = $1', [id]]],
      apply: () => this.intents.delete(id),
    };
  }
}

/** A fresh branch id: `b_` and 12 hex digits (never `default`). */
export function newBranchId(): string {
  return `b_${crypto.getRandomValues(new Uint8Array(6)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '')}`;
}

/** A fresh merge intent id. */
export function newIntentId(): string {
  return `m_${crypto.getRandomValues(new Uint8Array(6)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '')}`;
}
