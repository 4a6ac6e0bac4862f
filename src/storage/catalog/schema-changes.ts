import type { DuckDBConnection } from '@duckdb/node-api';
import type { TableRecord } from '../catalog.ts';
import type { TableMetadataBundle } from './metadata.ts';
import { CatalogStore, type CatalogChange } from './store.ts';

/** What a column change does to the column's metadata once it has taken effect. */
export type MetadataStep = { rename: { from: string; to: string } } | { drop: string } | null;

/**
 * A schema change under way (§12, Part II "operations on several files"): written before
 * the table file is touched, in the same transaction as the new table row (and the
 * column metadata step), so a start after a crash can tell by the file whether the change
 * took effect, and put the previous row back when it did not. Removed once the change is
 * done (off the request's path: start-up also removes it when the file holds the new table).
 */
export interface SchemaChangeIntent {
  id: string;
  projectId: string;
  bucket: string;
  table: string;
  /** The file's own description before the change (see `fileSignature`), or `DECIDED_BY_SHAPE` for a change of the columns' shape. */
  before: string;
  /** The catalog row once the change has taken effect. */
  next: TableRecord;
  metadata: MetadataStep;
  /** File name (in the bucket folder) of the table being built by a rebuild; null for in-place changes. */
  tempFile: string | null;
  createdAt: string;
  /**
   * The catalog row (and, for a change with a metadata step, the table's metadata) before
   * the change: the catalog already holds `next` while this intent exists, and a change
   * that did not take effect in the file is undone by writing these back. Absent on
   * intents written by earlier versions, which wrote `next` only once the file had changed.
   */
  previous?: { record: TableRecord; metadata: TableMetadataBundle | null };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS schema_changes (
  id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, bucket_name VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
  before VARCHAR NOT NULL, next VARCHAR NOT NULL, metadata VARCHAR, temp_file VARCHAR, created_at VARCHAR NOT NULL);
ALTER TABLE schema_changes ADD COLUMN IF NOT EXISTS previous VARCHAR;
`;

/** Unfinished schema changes; at most one per table (changes hold the table's write lock). */
export class SchemaChangeStore {
  private readonly intents = new Map<string, SchemaChangeIntent>();

  private constructor(private readonly store: CatalogStore) {}

  static async load(store: CatalogStore): Promise<SchemaChangeStore> {
    const changes = new SchemaChangeStore(store);
    await store.db.with(async (c) => {
      await c.run(SCHEMA);
      await changes.readAll(c);
    });
    return changes;
  }

  private async readAll(c: DuckDBConnection): Promise<void> {
    for (const r of await CatalogStore.rows(c, 'SELECT * FROM schema_changes ORDER BY created_at')) {
      this.intents.set(r.id as string, {
        id: r.id as string,
        projectId: r.project_id as string,
        bucket: r.bucket_name as string,
        table: r.table_name as string,
        before: r.before as string,
        next: JSON.parse(r.next as string),
        metadata: r.metadata == null ? null : JSON.parse(r.metadata as string),
        tempFile: (r.temp_file as string | null) ?? null,
        createdAt: r.created_at as string,
        ...(r.previous == null ? {} : { previous: JSON.parse(r.previous as string) }),
      });
    }
  }

  list(): SchemaChangeIntent[] {
    return [...this.intents.values()];
  }

  /** Recording the intent, for the transaction that also writes the change's new table row. */
  recordChange(intent: SchemaChangeIntent): CatalogChange {
    return {
      statements: [
        [
          'INSERT INTO schema_changes (id, project_id, bucket_name, table_name, before, next, metadata, temp_file, created_at, previous) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
          [
            intent.id,
            intent.projectId,
            intent.bucket,
            intent.table,
            intent.before,
            JSON.stringify(intent.next),
            intent.metadata === null ? null : JSON.stringify(intent.metadata),
            intent.tempFile,
            intent.createdAt,
            intent.previous === undefined ? null : JSON.stringify(intent.previous),
          ],
        ],
      ],
      apply: () => this.intents.set(intent.id, intent),
    };
  }

  /** Removing the record, for the transaction that completes (or abandons) the change. */
  doneChange(id: string): CatalogChange {
    return {
      statements: [['DELETE FROM schema_changes WHERE id = $1', [id]]],
      apply: () => this.intents.delete(id),
    };
  }

  forget(id: string): Promise<void> {
    return this.store.commitChanges([this.doneChange(id)]);
  }
}
