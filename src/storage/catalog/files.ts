import { CatalogStore, type Statement } from './store.ts';

/** A stored file (§15): the bytes live in `files/project_{id}/{id}`, this record in metadata.duckdb. */
export interface FileRecord {
  id: string;
  projectId: string;
  /** Upload order within the service: ties of `createdAt` (a frozen test clock) keep it. */
  seq: number;
  name: string;
  sizeBytes: number;
  contentType: string;
  contentEncoding: string | null;
  sha256: string;
  tags: string[];
  isPermanent: boolean;
  createdAt: string;
  /** Null for a permanent file. */
  expiresAt: string | null;
  /** The id of the project key that uploaded it (null for the service admin key): bucket-restricted keys see only their own files (§11). */
  createdBy: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS files (
  id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, seq BIGINT NOT NULL, name VARCHAR NOT NULL,
  size_bytes BIGINT NOT NULL, content_type VARCHAR NOT NULL, content_encoding VARCHAR, sha256 VARCHAR NOT NULL,
  tags VARCHAR NOT NULL, is_permanent BOOLEAN NOT NULL, created_at VARCHAR NOT NULL, expires_at VARCHAR, created_by VARCHAR);
`;

const lower = (s: string) => s.toLowerCase();

/** File records, served from memory and written through to metadata.duckdb. */
export class FileCatalog {
  /** Project (lower-cased) → file id → record. */
  private readonly byProject = new Map<string, Map<string, FileRecord>>();
  private lastSeq = 0;

  private constructor(private readonly store: CatalogStore) {}

  static async load(store: CatalogStore): Promise<FileCatalog> {
    const files = new FileCatalog(store);
    await store.db.with(async (c) => {
      await c.run(SCHEMA);
      for (const r of await CatalogStore.rows(c, 'SELECT * FROM files ORDER BY seq')) {
        files.remember({
          id: r.id as string,
          projectId: r.project_id as string,
          seq: Number(r.seq),
          name: r.name as string,
          sizeBytes: Number(r.size_bytes),
          contentType: r.content_type as string,
          contentEncoding: (r.content_encoding as string | null) ?? null,
          sha256: r.sha256 as string,
          tags: JSON.parse(r.tags as string),
          isPermanent: r.is_permanent as boolean,
          createdAt: r.created_at as string,
          expiresAt: (r.expires_at as string | null) ?? null,
          createdBy: (r.created_by as string | null) ?? null,
        });
      }
    });
    return files;
  }

  /** The next upload-order number (records are numbered before they are written). */
  nextSeq(): number {
    return ++this.lastSeq;
  }

  get(projectId: string, id: string): FileRecord | undefined {
    return this.byProject.get(lower(projectId))?.get(id);
  }

  /** Whether any project holds a file of this id (ids are unique service-wide). */
  has(id: string): boolean {
    for (const files of this.byProject.values()) if (files.has(id)) return true;
    return false;
  }

  /** The project's files having every one of `tags`, newest first. */
  list(projectId: string, tags: string[] = []): FileRecord[] {
    const files = [...(this.byProject.get(lower(projectId))?.values() ?? [])].filter((f) => tags.every((tag) => f.tags.includes(tag)));
    return files.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : b.seq - a.seq));
  }

  all(): FileRecord[] {
    return [...this.byProject.values()].flatMap((files) => [...files.values()]);
  }

  /** The INSERT of a record, for callers that commit it together with other rows (an export job's outcome). */
  insertStatement(f: FileRecord): Statement {
    return [
      'INSERT INTO files VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)',
      [f.id, f.projectId, f.seq, f.name, f.sizeBytes, f.contentType, f.contentEncoding, f.sha256, JSON.stringify(f.tags), f.isPermanent, f.createdAt, f.expiresAt, f.createdBy],
    ];
  }

  /** Adds a record; `guard` runs under the catalog's writer lock and may refuse by throwing. */
  insert(record: FileRecord, guard?: () => void): Promise<void> {
    return this.store.commit([this.insertStatement(record)], () => this.remember(record), guard);
  }

  remove(record: FileRecord): Promise<void> {
    return this.store.commit([['DELETE FROM files WHERE id = $1', [record.id]]], () => this.forget(record));
  }

  /** Removes every record of a project. */
  removeProject(projectId: string): Promise<void> {
    const ids = [...(this.byProject.get(lower(projectId))?.keys() ?? [])];
    if (!ids.length) return Promise.resolve();
    return this.store.commit([['DELETE FROM files WHERE lower(project_id) = $1', [lower(projectId)]]], () => this.byProject.delete(lower(projectId)));
  }

  /** Updates memory after a caller committed `insertStatement` itself. */
  remember(record: FileRecord): void {
    let files = this.byProject.get(lower(record.projectId));
    if (!files) {
      files = new Map();
      this.byProject.set(lower(record.projectId), files);
    }
    files.set(record.id, record);
    this.lastSeq = Math.max(this.lastSeq, record.seq);
  }

  private forget(record: FileRecord): void {
    const files = this.byProject.get(lower(record.projectId));
    files?.delete(record.id);
    if (files?.size === 0) this.byProject.delete(lower(record.projectId));
  }
}
