import { randomBytes } from 'node:crypto';
import type { DuckDBValue } from '@duckdb/node-api';
import type { ColumnDef, TableRecord } from '../catalog.ts';
import type { MetadataEntry, TableMetadataBundle } from './metadata.ts';
import { CatalogStore, type CatalogChange, type Statement } from './store.ts';

export type SnapshotKind = 'manual' | 'auto';
export type SnapshotReason = 'drop_table' | 'truncate' | 'full_import' | 'drop_column' | 'restore' | 'merge';

/**
 * One snapshot (§13). `pending` while the operation that takes it is under way: such a
 * record is invisible to the API and is the operation's intent at start-up (completed or
 * rolled back by snapshot recovery).
 */
export interface SnapshotRecord {
  id: string;
  projectId: string;
  branch: string;
  bucket: string;
  table: string;
  description: string | null;
  kind: SnapshotKind;
  reason: SnapshotReason | null;
  rowCount: number;
  sizeBytes: number;
  columns: ColumnDef[];
  primaryKey: string[];
  /** The table's and its columns' metadata at snapshot time (§12), restored with it. */
  metadata: TableMetadataBundle | null;
  /**
   * The bucket as it was at snapshot time (its description and own metadata), for a restore
   * that has to create the bucket again; absent on snapshots taken by earlier versions.
   */
  bucketState?: SnapshotBucketState;
  /** When the table was created (kept by a restore into its own place). */
  tableCreatedAt: string;
  createdAt: string;
  expiresAt: string | null;
  state: 'pending' | 'ready';
  /** Insertion order: "newest first" among snapshots taken within the same millisecond. */
  seq: number;
}

export interface SnapshotBucketState {
  description: string | null;
  metadata: MetadataEntry[];
}

export interface SnapshotSettings {
  auto: { drop_table: boolean; truncate: boolean; drop_column: boolean; full_import: boolean };
  manual_retention_days: number;
  auto_retention_days: number;
}

export const DEFAULT_SNAPSHOT_SETTINGS: SnapshotSettings = {
  auto: { drop_table: true, truncate: true, drop_column: true, full_import: false },
  manual_retention_days: 90,
  auto_retention_days: 7,
};

/**
 * A restore under way, recorded before any file is touched: which snapshot goes where, the
 * table row it will leave, and the auto snapshot of the table it replaces.
 */
export interface RestoreIntent {
  id: string;
  projectId: string;
  snapshotId: string;
  bucket: string;
  table: string;
  autoSnapshotId: string | null;
  /** The restore created the bucket again; a rollback removes it (when still empty). */
  createdBucket: boolean;
  record: TableRecord;
  metadata: TableMetadataBundle | null;
  /** The bucket's own metadata, written when `createdBucket` (from the snapshot's `bucketState`). */
  bucketMetadata?: MetadataEntry[];
  createdAt: string;
  /**
   * Set when the intent was committed together with its outcome (an overwriting restore):
   * the catalog then already holds `record`, `metadata` and the auto snapshot as finished,
   * and undoing the restore writes back the table it replaced. Absent otherwise, and on
   * intents of earlier versions.
   */
  replaced?: { record: TableRecord; metadata: TableMetadataBundle };
}

export interface SnapshotFilter {
  bucket?: string;
  table?: string;
  kind?: SnapshotKind;
  branch?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS snapshots (
  id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, branch VARCHAR NOT NULL, bucket_name VARCHAR NOT NULL,
  table_name VARCHAR NOT NULL, description VARCHAR, kind VARCHAR NOT NULL, reason VARCHAR,
  row_count BIGINT NOT NULL, size_bytes BIGINT NOT NULL, columns VARCHAR NOT NULL, primary_key VARCHAR NOT NULL,
  metadata VARCHAR, table_created_at VARCHAR NOT NULL, created_at VARCHAR NOT NULL, expires_at VARCHAR,
  state VARCHAR NOT NULL, seq BIGINT NOT NULL);
ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS bucket_state VARCHAR;
CREATE TABLE IF NOT EXISTS snapshot_settings (project_id VARCHAR PRIMARY KEY, settings VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot_restores (id VARCHAR PRIMARY KEY, payload VARCHAR NOT NULL);
`;

function insertStatement(r: SnapshotRecord): Statement {
  return [
    `INSERT INTO snapshots (id, project_id, branch, bucket_name, table_name, description, kind, reason, row_count, size_bytes, columns, primary_key,
       metadata, table_created_at, created_at, expires_at, state, seq, bucket_state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
    [
      r.id,
      r.projectId,
      r.branch,
      r.bucket,
      r.table,
      r.description,
      r.kind,
      r.reason,
      r.rowCount,
      r.sizeBytes,
      JSON.stringify(r.columns),
      JSON.stringify(r.primaryKey),
      r.metadata == null ? null : JSON.stringify(r.metadata),
      r.tableCreatedAt,
      r.createdAt,
      r.expiresAt,
      r.state,
      r.seq,
      r.bucketState === undefined ? null : JSON.stringify(r.bucketState),
    ] as DuckDBValue[],
  ];
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const lower = (s: string) => s.toLowerCase();
const same = (a: string, b: string) => lower(a) === lower(b);

/** Snapshot records, per-project snapshot settings and restore intents, on the shared catalog store. */
export class SnapshotCatalog {
  private readonly records = new Map<string, SnapshotRecord>();
  private readonly settingsByProject = new Map<string, SnapshotSettings>();
  private readonly restores = new Map<string, RestoreIntent>();
  private seq = 0;

  private constructor(private readonly store: CatalogStore) {}

  static async load(store: CatalogStore): Promise<SnapshotCatalog> {
    const catalog = new SnapshotCatalog(store);
    await store.db.with(async (c) => {
      await c.run(SCHEMA);
      for (const r of await CatalogStore.rows(c, 'SELECT * FROM snapshots')) {
        const record: SnapshotRecord = {
          id: r.id as string,
          projectId: r.project_id as string,
          branch: r.branch as string,
          bucket: r.bucket_name as string,
          table: r.table_name as string,
          description: (r.description as string | null) ?? null,
          kind: r.kind as SnapshotKind,
          reason: (r.reason as SnapshotReason | null) ?? null,
          rowCount: Number(r.row_count),
          sizeBytes: Number(r.size_bytes),
          columns: JSON.parse(r.columns as string),
          primaryKey: JSON.parse(r.primary_key as string),
          metadata: r.metadata == null ? null : JSON.parse(r.metadata as string),
          tableCreatedAt: r.table_created_at as string,
          createdAt: r.created_at as string,
          expiresAt: (r.expires_at as string | null) ?? null,
          state: r.state as SnapshotRecord['state'],
          seq: Number(r.seq),
        };
        if (r.bucket_state != null) record.bucketState = JSON.parse(r.bucket_state as string);
        catalog.records.set(record.id, record);
        catalog.seq = Math.max(catalog.seq, record.seq);
      }
      for (const r of await CatalogStore.rows(c, 'SELECT * FROM snapshot_settings')) {
        catalog.settingsByProject.set(lower(r.project_id as string), JSON.parse(r.settings as string));
      }
      for (const r of await CatalogStore.rows(c, 'SELECT * FROM snapshot_restores')) {
        const intent = JSON.parse(r.payload as string) as RestoreIntent;
        catalog.restores.set(intent.id, intent);
      }
    });
    return catalog;
  }

  static newId(): string {
    return `s_${randomBytes(6).toString('hex')}`;
  }

  static newRestoreId(): string {
    return `r_${randomBytes(6).toString('hex')}`;
  }

  /** The next insertion number, for a record about to be inserted. */
  nextSeq(): number {
    return ++this.seq;
  }

  // ---- records -----------------------------------------------------------------------

  /** Any record, pending ones included. */
  get(id: string): SnapshotRecord | undefined {
    return this.records.get(id);
  }

  /** A finished snapshot of the project (what the API shows). */
  find(projectId: string, id: string): SnapshotRecord | undefined {
    const record = this.records.get(id);
    return record && record.state === 'ready' && same(record.projectId, projectId) ? record : undefined;
  }

  /** Finished snapshots of a project matching `filter`, newest first. */
  list(projectId: string, filter: SnapshotFilter = {}): SnapshotRecord[] {
    return [...this.records.values()]
      .filter(
        (r) =>
          r.state === 'ready' &&
          same(r.projectId, projectId) &&
          (filter.bucket === undefined || same(r.bucket, filter.bucket)) &&
          (filter.table === undefined || same(r.table, filter.table)) &&
          (filter.kind === undefined || r.kind === filter.kind) &&
          (filter.branch === undefined || r.branch === filter.branch),
      )
      .sort((a, b) => b.seq - a.seq);
  }

  /** Every record (pending included), for recovery, the sweeper and project deletion. */
  all(): SnapshotRecord[] {
    return [...this.records.values()];
  }

  insert(records: SnapshotRecord[]): Promise<void> {
    return this.store.commit(records.map(insertStatement), () => this.applyInsert(records));
  }

  /**
   * Writes records durably without showing them yet, for a snapshot whose file is being
   * copied at the same time: the returned function shows them, once their files are in
   * place. A crash before that leaves records without files, which start-up drops.
   */
  async insertHidden(records: SnapshotRecord[]): Promise<() => void> {
    await this.store.commit(records.map(insertStatement), () => {});
    return () => this.applyInsert(records);
  }

  /** Corrects a record's size (its file turned out to differ from the size recorded up front). */
  resize(id: string, sizeBytes: number): Promise<void> {
    return this.store.commit([['UPDATE snapshots SET size_bytes = $1 WHERE id = $2', [sizeBytes, id]]], () => {
      const record = this.records.get(id);
      if (record) this.records.set(id, { ...record, sizeBytes });
    });
  }

  private applyInsert(records: SnapshotRecord[]): void {
    for (const r of records) this.records.set(r.id, { ...r });
  }

  markReady(ids: string[]): Promise<void> {
    return this.store.commit(this.readyStatements(ids), () => this.applyReady(ids));
  }

  /** `ready` marked finished and `dropped` removed, as a change for the caller's transaction. */
  finishChange(ready: string[], dropped: string[]): CatalogChange {
    return {
      statements: [...this.readyStatements(ready), ...dropped.map((id): Statement => ['DELETE FROM snapshots WHERE id = $1', [id]])],
      apply: () => {
        this.applyReady(ready);
        for (const id of dropped) this.records.delete(id);
      },
    };
  }

  remove(ids: string[]): Promise<void> {
    if (!ids.length) return Promise.resolve();
    return this.store.commit(
      ids.map((id): Statement => ['DELETE FROM snapshots WHERE id = $1', [id]]),
      () => {
        for (const id of ids) this.records.delete(id);
      },
    );
  }

  private readyStatements(ids: string[]): Statement[] {
    return ids.map((id): Statement => ["UPDATE snapshots SET state = 'ready' WHERE id = $1", [id]]);
  }

  private applyReady(ids: string[]): void {
    for (const id of ids) {
      const record = this.records.get(id);
      if (record) this.records.set(id, { ...record, state: 'ready' });
    }
  }

  // ---- settings ----------------------------------------------------------------------

  settings(projectId: string): SnapshotSettings {
    const stored = this.settingsByProject.get(lower(projectId));
    return stored ? { ...stored, auto: { ...stored.auto } } : { ...DEFAULT_SNAPSHOT_SETTINGS, auto: { ...DEFAULT_SNAPSHOT_SETTINGS.auto } };
  }

  /** Applies a partial change to the project's settings (merged under the writer lock) and returns the result. */
  updateSettings(projectId: string, patch: { auto?: Partial<SnapshotSettings['auto']>; manual_retention_days?: number; auto_retention_days?: number }): Promise<SnapshotSettings> {
    return this.store.write(
      async (c) => {
        const current = this.settings(projectId);
        const next: SnapshotSettings = {
          auto: { ...current.auto, ...definedOnly(patch.auto ?? {}) },
          manual_retention_days: patch.manual_retention_days ?? current.manual_retention_days,
          auto_retention_days: patch.auto_retention_days ?? current.auto_retention_days,
        };
        await c.run('INSERT OR REPLACE INTO snapshot_settings VALUES ($1, $2)', [projectId, JSON.stringify(next)]);
        return next;
      },
      (next) => this.settingsByProject.set(lower(projectId), next),
    );
  }

  /** A deleted project's records and settings go (its files are removed by the caller). */
  forgetProject(projectId: string): Promise<void> {
    const ids = this.all().filter((r) => same(r.projectId, projectId)).map((r) => r.id);
    const intents = this.intents().filter((i) => same(i.projectId, projectId)).map((i) => i.id);
    return this.store.commit(
      [
        ...ids.map((id): Statement => ['DELETE FROM snapshots WHERE id = $1', [id]]),
        ...intents.map((id): Statement => ['DELETE FROM snapshot_restores WHERE id = $1', [id]]),
        ['DELETE FROM snapshot_settings WHERE lower(project_id) = lower($1)', [projectId]],
      ],
      () => {
        for (const id of ids) this.records.delete(id);
        for (const id of intents) this.restores.delete(id);
        this.settingsByProject.delete(lower(projectId));
      },
    );
  }

  // ---- restore intents ---------------------------------------------------------------

  intents(): RestoreIntent[] {
    return [...this.restores.values()];
  }

  /** Records a restore's intent together with the pending auto snapshot it takes (if any). */
  beginRestore(intent: RestoreIntent, auto: SnapshotRecord | null): Promise<void> {
    const statements: Statement[] = [['INSERT INTO snapshot_restores VALUES ($1, $2)', [intent.id, JSON.stringify(intent)]]];
    if (auto) statements.push(insertStatement(auto));
    return this.store.commit(statements, () => {
      this.restores.set(intent.id, intent);
      if (auto) this.applyInsert([auto]);
    });
  }

  /**
   * Records a restore's intent in one transaction with its outcome: `effects` (the table
   * row and its metadata) and the finished auto snapshot. Only the intent is applied in
   * memory now; the returned function applies the rest, once the files are in place.
   */
  async beginRestoreWithOutcome(intent: RestoreIntent, auto: SnapshotRecord, effects: CatalogChange[]): Promise<() => void> {
    const statements: Statement[] = [['INSERT INTO snapshot_restores VALUES ($1, $2)', [intent.id, JSON.stringify(intent)]], insertStatement(auto), ...effects.flatMap((e) => e.statements)];
    await this.store.commit(statements, () => this.restores.set(intent.id, intent));
    return () => {
      this.applyInsert([auto]);
      for (const effect of effects) effect.apply();
    };
  }

  /** The intent of a restore whose outcome is in the catalog already goes (nothing else changes). */
  forgetRestore(intent: RestoreIntent): Promise<void> {
    return this.store.commit([['DELETE FROM snapshot_restores WHERE id = $1', [intent.id]]], () => this.restores.delete(intent.id));
  }

  /**
   * The restore is done: its auto snapshot becomes visible and the intent goes (committed
   * by the caller together with the table row and its metadata).
   */
  finishRestoreChange(intent: RestoreIntent): CatalogChange {
    const ready = intent.autoSnapshotId ? [intent.autoSnapshotId] : [];
    return {
      statements: [...this.readyStatements(ready), ['DELETE FROM snapshot_restores WHERE id = $1', [intent.id]]],
      apply: () => {
        this.applyReady(ready);
        this.restores.delete(intent.id);
      },
    };
  }

  /**
   * The restore is called off: the intent and its pending auto snapshot record go, and
   * `undo` (writing back what an intent committed with its outcome replaced) with them.
   */
  abandonRestore(intent: RestoreIntent, undo: CatalogChange[] = []): Promise<void> {
    const statements: Statement[] = [['DELETE FROM snapshot_restores WHERE id = $1', [intent.id]], ...undo.flatMap((u) => u.statements)];
    if (intent.autoSnapshotId) statements.push(['DELETE FROM snapshots WHERE id = $1', [intent.autoSnapshotId]]);
    return this.store.commit(statements, () => {
      for (const u of undo) u.apply();
      this.restores.delete(intent.id);
      if (intent.autoSnapshotId) this.records.delete(intent.autoSnapshotId);
    });
  }
}
