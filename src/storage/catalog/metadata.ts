import type { DuckDBConnection } from '@duckdb/node-api';
import { CatalogStore, type CatalogChange, type Statement } from './store.ts';
import { setEntry } from '../values.ts';

/** The branch name of main (§14). */
export const MAIN_BRANCH = 'default';

/** What a metadata entry is attached to: a bucket, a table (`column` null) or a column. */
export interface MetadataTarget {
  projectId: string;
  /** `'default'` for main (§14). */
  branch: string;
  bucket: string;
  /** null for bucket metadata. */
  table: string | null;
  /** null unless column metadata. */
  column: string | null;
}

/** One §12 entry; identified by (provider, key) within its target. */
export interface MetadataEntry {
  provider: string;
  key: string;
  value: string;
  updatedAt: string;
}

/** A stored record: the entry and where it belongs. */
export interface MetadataRecord extends MetadataTarget, MetadataEntry {}

/** A table's metadata and its columns' (keyed by column name), as snapshots store it. */
export interface TableMetadataBundle {
  table: MetadataEntry[];
  columns: Record<string, MetadataEntry[]>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS metadata_entries (
  project_id VARCHAR NOT NULL, branch VARCHAR NOT NULL, bucket_name VARCHAR NOT NULL,
  table_name VARCHAR NOT NULL, column_name VARCHAR NOT NULL,
  provider VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR NOT NULL, updated_at VARCHAR NOT NULL);
`;

// Bucket and table metadata are stored with '' in the columns below them: NULL would make
// every WHERE clause two-valued. Names are compared without regard to case (§7).
const INSERT = 'INSERT INTO metadata_entries VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)';
const WHERE_PROJECT = 'lower(project_id) = lower($1)';
const WHERE_BUCKET = `${WHERE_PROJECT} AND branch = $2 AND lower(bucket_name) = lower($3)`;
const WHERE_TABLE = `${WHERE_BUCKET} AND lower(table_name) = lower($4)`;
const WHERE_COLUMN = `${WHERE_TABLE} AND lower(column_name) = lower($5)`;

type Entries = Map<string, MetadataEntry>;

interface ColumnNode {
  name: string;
  entries: Entries;
}

interface TableNode {
  name: string;
  entries: Entries;
  columns: Map<string, ColumnNode>;
}

interface BucketNode {
  projectId: string;
  branch: string;
  name: string;
  entries: Entries;
  tables: Map<string, TableNode>;
}

const lower = (s: string) => s.toLowerCase();
const entryKey = (provider: string, key: string) => `${provider}\u0000${key}`;
const bucketKey = (projectId: string, branch: string, bucket: string) => `${lower(projectId)}\u0000${branch}\u0000${lower(bucket)}`;

function sorted(entries: Iterable<MetadataEntry> | undefined): MetadataEntry[] {
  const list = [...(entries ?? [])].map((e) => ({ ...e }));
  return list.sort((a, b) => (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function row(target: MetadataTarget, entry: MetadataEntry): Statement {
  return [INSERT, [target.projectId, target.branch, target.bucket, target.table ?? '', target.column ?? '', entry.provider, entry.key, entry.value, entry.updatedAt]];
}

/**
 * §12 metadata of buckets, tables and columns: key/value entries per (provider, key).
 * Write-through over the shared CatalogStore like every catalog module; reads are served
 * from memory. Records carry the branch (§14): a development branch holds its own for
 * the tables and buckets it created or copied. Callers pass names as the catalog spells them.
 */
export class MetadataStore {
  private readonly buckets = new Map<string, BucketNode>();

  private constructor(private readonly store: CatalogStore) {}

  static async load(store: CatalogStore): Promise<MetadataStore> {
    const metadata = new MetadataStore(store);
    await store.db.with(async (c) => {
      await c.run(SCHEMA);
      await metadata.readAll(c);
    });
    return metadata;
  }

  private async readAll(c: DuckDBConnection): Promise<void> {
    for (const r of await CatalogStore.rows(c, 'SELECT * FROM metadata_entries')) {
      const target: MetadataTarget = {
        projectId: r.project_id as string,
        branch: r.branch as string,
        bucket: r.bucket_name as string,
        table: (r.table_name as string) || null,
        column: (r.column_name as string) || null,
      };
      const entries = this.entriesFor(target, true)!;
      const entry: MetadataEntry = { provider: r.provider as string, key: r.key as string, value: r.value as string, updatedAt: r.updated_at as string };
      entries.set(entryKey(entry.provider, entry.key), entry);
    }
  }

  // ---- reading -------------------------------------------------------------------------

  /** The target's entries sorted by provider, then key. */
  list(target: MetadataTarget): MetadataEntry[] {
    return sorted(this.entriesFor(target, false)?.values());
  }

  /** Every record (for reconciliation and tests). */
  all(): MetadataRecord[] {
    const out: MetadataRecord[] = [];
    for (const bucket of this.buckets.values()) {
      const base = { projectId: bucket.projectId, branch: bucket.branch, bucket: bucket.name };
      for (const e of bucket.entries.values()) out.push({ ...base, table: null, column: null, ...e });
      for (const table of bucket.tables.values()) {
        for (const e of table.entries.values()) out.push({ ...base, table: table.name, column: null, ...e });
        for (const column of table.columns.values()) {
          for (const e of column.entries.values()) out.push({ ...base, table: table.name, column: column.name, ...e });
        }
      }
    }
    return out;
  }

  /** A table's metadata and its columns', keyed by column name (columns without entries left out). */
  tableBundle(projectId: string, branch: string, bucket: string, table: string): TableMetadataBundle {
    const node = this.buckets.get(bucketKey(projectId, branch, bucket))?.tables.get(lower(table));
    const columns: Record<string, MetadataEntry[]> = {};
    for (const column of node?.columns.values() ?? []) if (column.entries.size) setEntry(columns, column.name, sorted(column.entries.values()));
    return { table: sorted(node?.entries.values()), columns };
  }

  // ---- writing -------------------------------------------------------------------------

  /**
   * Inserts or replaces entries by (provider, key), all stamped `now`; resolves with every
   * entry of the target afterwards. When `entries` names a key twice, the last one wins.
   */
  async upsert(target: MetadataTarget, provider: string, entries: { key: string; value: string }[], now: string): Promise<MetadataEntry[]> {
    const latest = new Map<string, MetadataEntry>();
    for (const { key, value } of entries) latest.set(key, { provider, key, value, updatedAt: now });
    const statements: Statement[] = [];
    for (const entry of latest.values()) {
      statements.push([`DELETE FROM metadata_entries WHERE ${this.whereOf(target)} AND provider = $${this.arity(target) + 1} AND key = $${this.arity(target) + 2}`, [...this.params(target), provider, entry.key]]);
      statements.push(row(target, entry));
    }
    await this.store.commit(statements, () => {
      const map = this.entriesFor(target, true)!;
      for (const entry of latest.values()) map.set(entryKey(provider, entry.key), entry);
    });
    return this.list(target);
  }

  /** Removes one entry; resolves false when it did not exist. */
  async remove(target: MetadataTarget, provider: string, key: string): Promise<boolean> {
    if (!this.entriesFor(target, false)?.has(entryKey(provider, key))) return false;
    let removed = false;
    await this.store.commit(
      [[`DELETE FROM metadata_entries WHERE ${this.whereOf(target)} AND provider = $${this.arity(target) + 1} AND key = $${this.arity(target) + 2}`, [...this.params(target), provider, key]]],
      () => {
        removed = this.entriesFor(target, false)?.delete(entryKey(provider, key)) ?? false;
      },
    );
    return removed;
  }

  /** Replaces all metadata of a table and of its columns with `bundle`, in one transaction. */
  replaceTableBundle(projectId: string, branch: string, bucket: string, table: string, bundle: TableMetadataBundle): Promise<void> {
    return this.store.commitChanges([this.replaceTableBundleChange(projectId, branch, bucket, table, bundle)]);
  }

  dropTable(projectId: string, branch: string, bucket: string, table: string): Promise<void> {
    return this.store.commitChanges([this.dropTableChange(projectId, branch, bucket, table)]);
  }

  /** A bucket's own metadata and that of all its tables and their columns. */
  dropBucket(projectId: string, branch: string, bucket: string): Promise<void> {
    return this.store.commit([[`DELETE FROM metadata_entries WHERE ${WHERE_BUCKET}`, [projectId, branch, bucket]]], () => {
      this.buckets.delete(bucketKey(projectId, branch, bucket));
    });
  }

  /** Everything a project holds, on every branch. */
  dropProject(projectId: string): Promise<void> {
    return this.store.commit([[`DELETE FROM metadata_entries WHERE ${WHERE_PROJECT}`, [projectId]]], () => {
      for (const [key, node] of this.buckets) if (lower(node.projectId) === lower(projectId)) this.buckets.delete(key);
    });
  }

  renameColumn(projectId: string, branch: string, bucket: string, table: string, from: string, to: string): Promise<void> {
    return this.store.commitChanges([this.renameColumnChange(projectId, branch, bucket, table, from, to)]);
  }

  dropColumn(projectId: string, branch: string, bucket: string, table: string, column: string): Promise<void> {
    return this.store.commitChanges([this.dropColumnChange(projectId, branch, bucket, table, column)]);
  }

  // ---- changes for other modules' transactions -----------------------------------------
  // A schema change writes the table row, its intent record and the column's metadata in
  // one metadata.duckdb transaction; these return the statements and the in-memory step.

  dropTableChange(projectId: string, branch: string, bucket: string, table: string): CatalogChange {
    return {
      statements: [[`DELETE FROM metadata_entries WHERE ${WHERE_TABLE}`, [projectId, branch, bucket, table]]],
      apply: () => {
        this.buckets.get(bucketKey(projectId, branch, bucket))?.tables.delete(lower(table));
      },
    };
  }

  replaceTableBundleChange(projectId: string, branch: string, bucket: string, table: string, bundle: TableMetadataBundle): CatalogChange {
    const statements: Statement[] = [[`DELETE FROM metadata_entries WHERE ${WHERE_TABLE}`, [projectId, branch, bucket, table]]];
    const base = { projectId, branch, bucket, table };
    for (const entry of bundle.table) statements.push(row({ ...base, column: null }, entry));
    for (const [column, entries] of Object.entries(bundle.columns)) for (const entry of entries) statements.push(row({ ...base, column }, entry));
    return {
      statements,
      apply: () => {
        this.buckets.get(bucketKey(projectId, branch, bucket))?.tables.delete(lower(table));
        const tableEntries = this.entriesFor({ ...base, column: null }, true)!;
        for (const entry of bundle.table) tableEntries.set(entryKey(entry.provider, entry.key), { ...entry });
        for (const [column, entries] of Object.entries(bundle.columns)) {
          const map = this.entriesFor({ ...base, column }, true)!;
          for (const entry of entries) map.set(entryKey(entry.provider, entry.key), { ...entry });
        }
      },
    };
  }

  /**
   * Replaces a bucket's own entries (not its tables') with `entries`, timestamps as given: a
   * development branch's copy of main's bucket metadata (§14), an empty list to take such a
   * copy back, or a bucket a restore creates again (§13).
   */
  replaceBucketEntriesChange(projectId: string, branch: string, bucket: string, entries: MetadataEntry[]): CatalogChange {
    const target: MetadataTarget = { projectId, branch, bucket, table: null, column: null };
    const statements: Statement[] = [[`DELETE FROM metadata_entries WHERE ${this.whereOf(target)}`, this.params(target)]];
    for (const entry of entries) statements.push(row(target, entry));
    return {
      statements,
      apply: () => {
        const map = this.entriesFor(target, true)!;
        map.clear();
        for (const entry of entries) map.set(entryKey(entry.provider, entry.key), { ...entry });
      },
    };
  }

  /** Moves a column's entries to its new name (replacing any left under that name). */
  renameColumnChange(projectId: string, branch: string, bucket: string, table: string, from: string, to: string): CatalogChange {
    const statements: Statement[] = [];
    if (lower(from) !== lower(to)) statements.push([`DELETE FROM metadata_entries WHERE ${WHERE_COLUMN}`, [projectId, branch, bucket, table, to]]);
    statements.push([`UPDATE metadata_entries SET column_name = $6 WHERE ${WHERE_COLUMN}`, [projectId, branch, bucket, table, from, to]]);
    return {
      statements,
      apply: () => {
        const node = this.buckets.get(bucketKey(projectId, branch, bucket))?.tables.get(lower(table));
        if (!node) return;
        const moved = node.columns.get(lower(from));
        node.columns.delete(lower(from));
        node.columns.delete(lower(to));
        if (moved) node.columns.set(lower(to), { name: to, entries: moved.entries });
      },
    };
  }

  dropColumnChange(projectId: string, branch: string, bucket: string, table: string, column: string): CatalogChange {
    return {
      statements: [[`DELETE FROM metadata_entries WHERE ${WHERE_COLUMN}`, [projectId, branch, bucket, table, column]]],
      apply: () => {
        this.buckets.get(bucketKey(projectId, branch, bucket))?.tables.get(lower(table))?.columns.delete(lower(column));
      },
    };
  }

  // ---- internals -----------------------------------------------------------------------

  private whereOf(target: MetadataTarget): string {
    if (target.table === null) return `${WHERE_BUCKET} AND table_name = ''`;
    if (target.column === null) return `${WHERE_TABLE} AND column_name = ''`;
    return WHERE_COLUMN;
  }

  private params(target: MetadataTarget): string[] {
    const out = [target.projectId, target.branch, target.bucket];
    if (target.table !== null) out.push(target.table);
    if (target.table !== null && target.column !== null) out.push(target.column);
    return out;
  }

  private arity(target: MetadataTarget): number {
    return this.params(target).length;
  }

  /** The entry map of a target; created (with the names as given) when `create`. */
  private entriesFor(target: MetadataTarget, create: boolean): Entries | undefined {
    const bKey = bucketKey(target.projectId, target.branch, target.bucket);
    let bucket = this.buckets.get(bKey);
    if (!bucket) {
      if (!create) return undefined;
      bucket = { projectId: target.projectId, branch: target.branch, name: target.bucket, entries: new Map(), tables: new Map() };
      this.buckets.set(bKey, bucket);
    }
    if (target.table === null) return bucket.entries;
    let table = bucket.tables.get(lower(target.table));
    if (!table) {
      if (!create) return undefined;
      table = { name: target.table, entries: new Map(), columns: new Map() };
      bucket.tables.set(lower(target.table), table);
    }
    if (target.column === null) return table.entries;
    let column = table.columns.get(lower(target.column));
    if (!column) {
      if (!create) return undefined;
      column = { name: target.column, entries: new Map() };
      table.columns.set(lower(target.column), column);
    }
    return column.entries;
  }
}
