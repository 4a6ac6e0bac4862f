import { bucketsIn, tablesIn, type LocatorDeps } from '../locator.ts';
import type { StoragePaths } from '../paths.ts';
import { isReservedSchema, type GateScope } from './gate.ts';
import type { SandboxTable } from './sandbox.ts';

/** The storage tables a caller's SQL may name, as `bucket.table`. */
export interface VisibleTables {
  /** The table `schema.table` names, or undefined (names compared without regard to case). */
  resolve(schema: string, table: string): SandboxTable | undefined;
  all(): SandboxTable[];
  gateScope(systemNames: ReadonlySet<string>, isLocalTable?: (table: string) => boolean, isLocalTableFunction?: (name: string) => boolean): GateScope;
}

/**
 * The project's buckets (own and linked; only `allowedBuckets` when the key is restricted
 * to some, §11) and their tables, as `branch` sees them (§14: main's until the branch holds
 * its own). Buckets named like a schema SQL reserves are left out.
 */
export function visibleTables(
  deps: LocatorDeps & { paths: StoragePaths },
  projectId: string,
  allowedBuckets: readonly string[] | null = null,
  branch?: string,
): VisibleTables {
  const allowed = allowedBuckets ? new Set(allowedBuckets.map((b) => b.toLowerCase())) : undefined;
  const bySchema = new Map<string, Map<string, SandboxTable>>();
  for (const bucket of bucketsIn(deps, projectId, branch)) {
    if (isReservedSchema(bucket.name) || (allowed && !allowed.has(bucket.name.toLowerCase()))) continue;
    if (bucket.source && !deps.catalog.getBucket(bucket.source.projectId, bucket.source.bucket)) continue;
    const tables = new Map<string, SandboxTable>();
    for (const table of tablesIn(deps, bucket)) {
      tables.set(table.name.toLowerCase(), { schema: bucket.name, name: table.name, path: deps.paths.tableFileOf(table) });
    }
    bySchema.set(bucket.name.toLowerCase(), tables);
  }
  const resolve = (schema: string, table: string) => bySchema.get(schema.toLowerCase())?.get(table.toLowerCase());
  return {
    resolve,
    all: () => [...bySchema.values()].flatMap((tables) => [...tables.values()]),
    gateScope: (systemNames, isLocalTable, isLocalTableFunction) => ({ isStorageTable: (schema, table) => resolve(schema, table) !== undefined, isLocalTable, isLocalTableFunction, systemNames }),
  };
}
