import type { Catalog } from '../catalog.ts';
import type { StoragePaths } from '../paths.ts';
import { isReservedSchema, type GateScope } from './gate.ts';
import type { SandboxTable } from './sandbox.ts';

/** The storage tables a caller's SQL may name, as `bucket.table`. */
export interface VisibleTables {
  /** The table `schema.table` names, or undefined (names compared without regard to case). */
  resolve(schema: string, table: string): SandboxTable | undefined;
  all(): SandboxTable[];
  gateScope(systemNames: ReadonlySet<string>, isLocalTable?: (table: string) => boolean): GateScope;
}

/**
 * The project's buckets (own and linked; only `allowedBuckets` when the key is restricted
 * to some, §11) and their tables. Buckets named like a schema SQL reserves are left out.
 */
export function visibleTables(catalog: Catalog, paths: StoragePaths, projectId: string, allowedBuckets: readonly string[] | null = null): VisibleTables {
  const allowed = allowedBuckets ? new Set(allowedBuckets.map((b) => b.toLowerCase())) : undefined;
  const bySchema = new Map<string, Map<string, SandboxTable>>();
  for (const bucket of catalog.listBuckets(projectId)) {
    if (isReservedSchema(bucket.name) || (allowed && !allowed.has(bucket.name.toLowerCase()))) continue;
    const data = bucket.source ? catalog.getBucket(bucket.source.projectId, bucket.source.bucket) : bucket;
    if (!data) continue;
    const tables = new Map<string, SandboxTable>();
    for (const table of catalog.listTables(data.projectId, data.name)) {
      tables.set(table.name.toLowerCase(), { schema: bucket.name, name: table.name, path: paths.tableFile(table.projectId, table.bucket, table.name) });
    }
    bySchema.set(bucket.name.toLowerCase(), tables);
  }
  const resolve = (schema: string, table: string) => bySchema.get(schema.toLowerCase())?.get(table.toLowerCase());
  return {
    resolve,
    all: () => [...bySchema.values()].flatMap((tables) => [...tables.values()]),
    gateScope: (systemNames, isLocalTable) => ({ isStorageTable: (schema, table) => resolve(schema, table) !== undefined, isLocalTable, systemNames }),
  };
}
