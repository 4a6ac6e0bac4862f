import { CatalogStore } from './store.ts';

export interface WorkspaceTableInfo {
  name: string;
  columns: { name: string; type: string }[];
  row_count: number;
}

/** §17: a workspace's record. Its tables are described as of the last request that changed them. */
export interface WorkspaceRecord {
  id: string;
  projectId: string;
  branch: string;
  name: string;
  ttlHours: number;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  tables: WorkspaceTableInfo[];
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS workspaces (
  id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, branch VARCHAR NOT NULL, name VARCHAR NOT NULL,
  ttl_hours INTEGER NOT NULL, created_at VARCHAR NOT NULL, last_used_at VARCHAR NOT NULL, expires_at VARCHAR NOT NULL,
  tables VARCHAR NOT NULL)`;

const lower = (s: string) => s.toLowerCase();

/** Workspace records, served from memory and written through to metadata.duckdb. */
export class WorkspaceCatalog {
  private readonly records = new Map<string, WorkspaceRecord>();

  private constructor(private readonly store: CatalogStore) {}

  static async load(store: CatalogStore): Promise<WorkspaceCatalog> {
    const catalog = new WorkspaceCatalog(store);
    await store.db.with(async (c) => {
      await c.run(SCHEMA);
      for (const r of await CatalogStore.rows(c, 'SELECT * FROM workspaces')) {
        catalog.records.set(lower(r.id as string), {
          id: r.id as string,
          projectId: r.project_id as string,
          branch: r.branch as string,
          name: r.name as string,
          ttlHours: Number(r.ttl_hours),
          createdAt: r.created_at as string,
          lastUsedAt: r.last_used_at as string,
          expiresAt: r.expires_at as string,
          tables: JSON.parse(r.tables as string),
        });
      }
    });
    return catalog;
  }

  get(projectId: string, id: string): WorkspaceRecord | undefined {
    const record = this.records.get(lower(id));
    return record && lower(record.projectId) === lower(projectId) ? record : undefined;
  }

  /** A project's workspaces of one branch, oldest first. */
  list(projectId: string, branch: string): WorkspaceRecord[] {
    return this.all()
      .filter((r) => lower(r.projectId) === lower(projectId) && r.branch === branch)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  }

  all(): WorkspaceRecord[] {
    return [...this.records.values()];
  }

  /** Inserts or replaces a record (create, and every use that changes expiry or tables). */
  put(record: WorkspaceRecord): Promise<void> {
    return this.store.commit(
      [
        ['DELETE FROM workspaces WHERE id = $1', [record.id]],
        [
          'INSERT INTO workspaces VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
          [record.id, record.projectId, record.branch, record.name, record.ttlHours, record.createdAt, record.lastUsedAt, record.expiresAt, JSON.stringify(record.tables)],
        ],
      ],
      () => this.records.set(lower(record.id), { ...record }),
    );
  }

  delete(id: string): Promise<void> {
    return this.store.commit([['DELETE FROM workspaces WHERE id = $1', [id]]], () => this.records.delete(lower(id)));
  }
}
