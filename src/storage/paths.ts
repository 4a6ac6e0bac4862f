import { randomUUID } from 'node:crypto';
import { join, resolve, sep } from 'node:path';

/** The ids the service gives stored files (`f_` and hex). */
export const FILE_ID = /^f_[0-9a-f]{12}$/;
/** Snapshot ids as the service makes them (`s_` and 12 hex digits). */
export const SNAPSHOT_ID = /^s_[0-9a-f]{12}$/;
/** The suffix of a file being written under a temporary name (see `partialPath`). */
export const PARTIAL_SUFFIX = /\.creating-[0-9a-f-]{36}(\.wal)?$/;

const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,95}$|^[A-Za-z0-9_-]{1,64}$/;

/** The §9 layout under one data folder. Every path is built from validated names only. */
export class StoragePaths {
  readonly dataDir: string;
  readonly duckdbDir: string;
  readonly filesDir: string;
  readonly snapshotsDir: string;
  readonly workspacesDir: string;
  readonly metadataFile: string;
  readonly adminKeyFile: string;

  constructor(dataDir: string) {
    this.dataDir = resolve(dataDir);
    this.duckdbDir = join(this.dataDir, 'duckdb');
    this.filesDir = join(this.dataDir, 'files');
    this.snapshotsDir = join(this.dataDir, 'snapshots');
    this.workspacesDir = join(this.dataDir, 'workspaces');
    this.metadataFile = join(this.dataDir, 'metadata.duckdb');
    this.adminKeyFile = join(this.dataDir, 'admin.key');
  }

  get folders(): Record<'data_dir' | 'duckdb_dir' | 'files_dir' | 'snapshots_dir', string> {
    return { data_dir: this.dataDir, duckdb_dir: this.duckdbDir, files_dir: this.filesDir, snapshots_dir: this.snapshotsDir };
  }

  /** Folders created at start besides `folders` (which /health and /backend/init report). */
  get moreFolders(): Record<'workspaces_dir', string> {
    return { workspaces_dir: this.workspacesDir };
  }

  /** §17: `workspaces/project_{id}/`. */
  projectWorkspacesDir(projectId: string): string {
    return this.inside(this.workspacesDir, `project_${segment(projectId)}`);
  }

  /** §17: `workspaces/project_{id}/{ws}.duckdb`. */
  workspaceFile(projectId: string, workspaceId: string): string {
    return this.inside(this.projectWorkspacesDir(projectId), `${segment(workspaceId)}.duckdb`);
  }

  projectDir(projectId: string): string {
    return this.inside(this.duckdbDir, `project_${segment(projectId)}`);
  }

  bucketDir(projectId: string, bucket: string): string {
    return this.inside(this.projectDir(projectId), segment(bucket));
  }

  tableFile(projectId: string, bucket: string, table: string): string {
    return this.inside(this.bucketDir(projectId, bucket), `${segment(table)}.duckdb`);
  }

  /**
   * A fresh temporary name next to a table file for a create in progress
   * (`{table}.duckdb.creating-{uuid}`); start-up reconciliation removes leftovers.
   */
  creatingTableFile(projectId: string, bucket: string, table: string): string {
    return this.inside(this.bucketDir(projectId, bucket), `${segment(table)}.duckdb.creating-${randomUUID()}`);
  }

  /**
   * A fresh temporary name next to a table file for a rebuild in progress (§12,
   * `{table}.duckdb.rebuild-{uuid}`); start-up settles the change or removes the file.
   */
  rebuildingTableFile(projectId: string, bucket: string, table: string): string {
    return this.inside(this.bucketDir(projectId, bucket), `${segment(table)}.duckdb.rebuild-${randomUUID()}`);
  }

  /** The write-ahead log DuckDB keeps next to a database file this layout built. */
  walFile(databaseFile: string): string {
    if (!databaseFile.startsWith(this.dataDir + sep)) throw new Error('path outside the data folder');
    return `${databaseFile}.wal`;
  }

  /** `files/project_{id}/`: the project's stored files (§15); staging lives beside it, directly in `files/`. */
  projectFilesDir(projectId: string): string {
    return this.inside(this.filesDir, `project_${segment(projectId)}`);
  }

  /** `files/project_{id}/{file_id}`. */
  storedFile(projectId: string, fileId: string): string {
    if (!FILE_ID.test(fileId)) throw new Error('unsafe file id');
    return this.inside(this.projectFilesDir(projectId), fileId);
  }

  /** `snapshots/project_{id}/`: the project's snapshot files (§13). */
  snapshotsProjectDir(projectId: string): string {
    return this.inside(this.snapshotsDir, `project_${segment(projectId)}`);
  }

  snapshotFile(projectId: string, snapshotId: string): string {
    if (!SNAPSHOT_ID.test(snapshotId)) throw new Error('unsafe snapshot id');
    return this.inside(this.snapshotsProjectDir(projectId), `${snapshotId}.duckdb`);
  }

  /** Where a restore stages its copy of a snapshot before swapping it into the table's place. */
  restoreStagingFile(projectId: string, intentId: string): string {
    if (!/^r_[0-9a-f]{12}$/.test(intentId)) throw new Error('unsafe restore id');
    return this.inside(this.snapshotsProjectDir(projectId), `.restore-${intentId}.duckdb`);
  }

  /**
   * A staging file: an upload, import or export under way. Staging files sit directly in
   * `files/` and never match `project_*`, so start-up can empty staging without touching
   * stored files.
   */
  stagingFile(name: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/.test(name) || name.startsWith('project_')) throw new Error('unsafe staging file name');
    return this.inside(this.filesDir, name);
  }

  /** A fresh staging file name (`import-{uuid}.csv`), for `stagingFile`. */
  stagingName(kind: 'import' | 'export', extension: string): string {
    if (!/^[a-z0-9]{1,16}$/.test(extension)) throw new Error('unsafe staging file extension');
    return `${kind}-${randomUUID()}.${extension}`;
  }

  /** `duckdb/branches/`: the tables written in development branches (§14). */
  get branchesDir(): string {
    return join(this.duckdbDir, 'branches');
  }

  /** `duckdb/branches/project_{id}/`. */
  branchesProjectDir(projectId: string): string {
    return this.inside(this.branchesDir, `project_${segment(projectId)}`);
  }

  /** `duckdb/branches/project_{id}/{branch_id}/`. */
  branchDir(projectId: string, branchId: string): string {
    if (!BRANCH_ID.test(branchId)) throw new Error('unsafe branch id');
    return this.inside(this.branchesProjectDir(projectId), branchId);
  }

  branchBucketDir(projectId: string, branchId: string, bucket: string): string {
    return this.inside(this.branchDir(projectId, branchId), segment(bucket));
  }

  /** A table file of a development branch: `duckdb/branches/project_{id}/{branch_id}/{bucket}/{table}.duckdb`. */
  branchTableFile(projectId: string, branchId: string, bucket: string, table: string): string {
    return this.inside(this.branchBucketDir(projectId, branchId, bucket), `${segment(table)}.duckdb`);
  }

  /**
   * The file that holds a table record's rows: main's, or the branch's own copy when the
   * record is a table a development branch holds (`branch` set and state not `main`).
   */
  tableFileOf(table: { projectId: string; bucket: string; name: string; branch?: string; branchState?: string }): string {
    if (table.branch && table.branch !== MAIN_BRANCH_ID && table.branchState !== 'main') {
      return this.branchTableFile(table.projectId, table.branch, table.bucket, table.name);
    }
    return this.tableFile(table.projectId, table.bucket, table.name);
  }

  /** Joins and checks the result stays below `parent` (defence in depth behind validation). */
  private inside(parent: string, child: string): string {
    const full = resolve(parent, child);
    if (!full.startsWith(parent + sep)) throw new Error('path escapes the data folder');
    return full;
  }
}

/**
 * A fresh temporary name beside `finalPath` for writing it: the file is renamed into place
 * once complete, and start-up reconciliation removes whatever still carries such a name.
 */
export function partialPath(finalPath: string): string {
  return `${finalPath}.creating-${randomUUID()}`;
}

/** The id of the default branch (main) in paths and records (§14). */
export const MAIN_BRANCH_ID = 'default';
/** Branch ids as the service makes them (never `default`). */
export const BRANCH_ID = /^[a-z0-9_]{1,40}$/;

function segment(name: string): string {
  if (!SAFE_SEGMENT.test(name)) throw new Error('unsafe path segment');
  return name;
}
