import { CatalogStore, type Statement } from './store.ts';

export type JobStatus = 'waiting' | 'processing' | 'success' | 'error' | 'cancelled';
export type JobOperation = 'import' | 'export';
export const FINISHED: ReadonlySet<JobStatus> = new Set(['success', 'error', 'cancelled']);

/** The inner §1 error object a failed job carries. */
export interface JobError {
  error: string;
  message: string;
  details?: Record<string, unknown>;
}

/** An asynchronous job (§16): one row of the durable queue in metadata.duckdb. */
export interface JobRecord {
  id: string;
  projectId: string;
  branch: string;
  operation: JobOperation;
  status: JobStatus;
  bucket: string;
  table: string;
  /** Submission order, service-wide: the queue's order and the tie-break of `createdAt`. */
  seq: number;
  /** The options as the job object shows them. */
  params: Record<string, unknown>;
  /** What the runner needs and clients do not see (the table's identity, the export's file id). */
  internal: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: JobError | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The id of the project key that submitted it (null for the service admin key): bucket-restricted keys see only their own jobs (§11). */
  createdBy: string | null;
  /** Live while the job runs; kept in memory only (a restarted job starts from zero). */
  progress: { rows: number; bytes: number };
}

export interface JobFilter {
  status?: JobStatus;
  operation?: JobOperation;
  branch?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, branch VARCHAR NOT NULL, operation VARCHAR NOT NULL,
  status VARCHAR NOT NULL, bucket VARCHAR NOT NULL, table_name VARCHAR NOT NULL, seq BIGINT NOT NULL,
  params VARCHAR NOT NULL, internal VARCHAR NOT NULL, result VARCHAR, error VARCHAR,
  created_at VARCHAR NOT NULL, started_at VARCHAR, finished_at VARCHAR, created_by VARCHAR);
`;

const lower = (s: string) => s.toLowerCase();
const json = (value: unknown) => (value == null ? null : JSON.stringify(value));

/** Job records, served from memory and written through to metadata.duckdb. */
export class JobCatalog {
  private readonly byId = new Map<string, JobRecord>();
  private lastSeq = 0;

  private constructor(private readonly store: CatalogStore) {}

  static async load(store: CatalogStore): Promise<JobCatalog> {
    const jobs = new JobCatalog(store);
    await store.db.with(async (c) => {
      await c.run(SCHEMA);
      for (const r of await CatalogStore.rows(c, 'SELECT * FROM jobs ORDER BY seq')) {
        jobs.put({
          id: r.id as string,
          projectId: r.project_id as string,
          branch: r.branch as string,
          operation: r.operation as JobOperation,
          status: r.status as JobStatus,
          bucket: r.bucket as string,
          table: r.table_name as string,
          seq: Number(r.seq),
          params: JSON.parse(r.params as string),
          internal: JSON.parse(r.internal as string),
          result: r.result == null ? null : JSON.parse(r.result as string),
          error: r.error == null ? null : JSON.parse(r.error as string),
          createdAt: r.created_at as string,
          startedAt: (r.started_at as string | null) ?? null,
          finishedAt: (r.finished_at as string | null) ?? null,
          createdBy: (r.created_by as string | null) ?? null,
          progress: { rows: 0, bytes: 0 },
        });
      }
    });
    return jobs;
  }

  nextSeq(): number {
    return ++this.lastSeq;
  }

  get(projectId: string, id: string): JobRecord | undefined {
    const job = this.byId.get(id);
    return job && lower(job.projectId) === lower(projectId) ? job : undefined;
  }

  byIdAnyProject(id: string): JobRecord | undefined {
    return this.byId.get(id);
  }

  /** The project's jobs matching `filter`, newest first. */
  list(projectId: string, filter: JobFilter = {}): JobRecord[] {
    const out: JobRecord[] = [];
    for (const job of this.byId.values()) {
      if (lower(job.projectId) !== lower(projectId)) continue;
      if (filter.status && job.status !== filter.status) continue;
      if (filter.operation && job.operation !== filter.operation) continue;
      if (filter.branch && job.branch !== filter.branch) continue;
      out.push(job);
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : b.seq - a.seq));
  }

  /** Every job, in submission order. */
  all(): JobRecord[] {
    return [...this.byId.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The waiting jobs, in submission order (the queue). */
  waiting(): JobRecord[] {
    return [...this.byId.values()].filter((job) => job.status === 'waiting').sort((a, b) => a.seq - b.seq);
  }

  count(status: JobStatus): number {
    let n = 0;
    for (const job of this.byId.values()) if (job.status === status) n++;
    return n;
  }

  /** Adds a job; `guard` runs under the catalog's writer lock and may refuse by throwing (a full queue). */
  insert(job: JobRecord, guard?: () => void): Promise<void> {
    return this.store.commit(
      [
        [
          'INSERT INTO jobs VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)',
          [
            job.id, job.projectId, job.branch, job.operation, job.status, job.bucket, job.table, job.seq,
            JSON.stringify(job.params), JSON.stringify(job.internal), json(job.result), json(job.error),
            job.createdAt, job.startedAt, job.finishedAt, job.createdBy,
          ],
        ],
      ],
      () => this.put(job),
      guard,
    );
  }

  /** The UPDATE that writes a job's state, for callers that commit it with other rows. */
  stateStatement(job: JobRecord): Statement {
    return [
      'UPDATE jobs SET status = $1, result = $2, error = $3, started_at = $4, finished_at = $5 WHERE id = $6',
      [job.status, json(job.result), json(job.error), job.startedAt, job.finishedAt, job.id],
    ];
  }

  /**
   * Writes a new state of a job. `guard` runs under the writer lock (it may refuse, e.g. a
   * cancel that finds the job already started); `also` adds rows to the same transaction.
   * A job removed meanwhile (its project deleted) stays removed.
   */
  async update(job: JobRecord, patch: Partial<Pick<JobRecord, 'status' | 'result' | 'error' | 'startedAt' | 'finishedAt'>>, options: { guard?: () => void; also?: Statement[]; apply?: () => void } = {}): Promise<JobRecord> {
    let next: JobRecord = job;
    await this.store.commit(
      () => {
        next = { ...(this.byId.get(job.id) ?? job), ...patch };
        return [this.stateStatement(next), ...(options.also ?? [])];
      },
      () => {
        if (this.byId.has(job.id)) this.byId.set(job.id, next);
        options.apply?.();
      },
      options.guard,
    );
    return next;
  }

  /** Removes jobs (finished ones past their retention). */
  remove(ids: string[]): Promise<void> {
    if (!ids.length) return Promise.resolve();
    return this.store.commit(
      ids.map((id): Statement => ['DELETE FROM jobs WHERE id = $1', [id]]),
      () => {
        for (const id of ids) this.byId.delete(id);
      },
    );
  }

  /** Removes every job of a project. */
  removeProject(projectId: string): Promise<void> {
    const ids = [...this.byId.values()].filter((j) => lower(j.projectId) === lower(projectId)).map((j) => j.id);
    if (!ids.length) return Promise.resolve();
    return this.store.commit([['DELETE FROM jobs WHERE lower(project_id) = $1', [lower(projectId)]]], () => {
      for (const id of ids) this.byId.delete(id);
    });
  }

  private put(job: JobRecord): void {
    this.byId.set(job.id, job);
    this.lastSeq = Math.max(this.lastSeq, job.seq);
  }
}
