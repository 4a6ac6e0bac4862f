import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { conflict } from '../../src/http/errors.ts';
import { bucketFromPath, requireWritable } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { ColumnNameSchema, TableNameSchema } from '../../src/http/schemas.ts';
import { tableView } from '../../src/http/views.ts';
import { checkDefaults, resolveColumns } from '../../src/storage/table-spec.ts';
import { currentTable, isDevBranch, tableIn } from '../../src/storage/locator.ts';
import { createTable as storeTable } from '../../src/storage/tables.ts';

export const ColumnSchema = v.object({
  name: ColumnNameSchema,
  type: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  nullable: v.optional(v.boolean(), true),
  default: v.optional(v.nullable(v.union([v.pipe(v.string(), v.maxLength(1000)), v.pipe(v.number(), v.finite()), v.boolean()]))),
});

export const CreateTableSchema = v.object({
  name: TableNameSchema,
  columns: v.pipe(v.array(ColumnSchema), v.minLength(1, 'A table needs at least one column'), v.maxLength(1000, 'At most 1000 columns')),
  primary_key: v.optional(v.pipe(v.array(v.pipe(v.string(), v.maxLength(64))), v.maxLength(1000)), []),
});

/** POST /projects/{id}/buckets/{bucket}/tables */
export const createTable: Handler = async (request, ctx) => {
  const { project, bucket } = bucketFromPath(ctx);
  requireWritable(bucket);
  const body = await readJson(request, CreateTableSchema);
  const { columns, primaryKey } = resolveColumns(body.columns, body.primary_key);
  const { catalog, db, clock } = ctx.services;
  await checkDefaults(db, columns);
  const refuseExisting = () => {
    const existing = tableIn(ctx.services, bucket, body.name);
    if (existing) throw conflict('table_exists', `Table ${existing.name} already exists in bucket ${bucket.name}`, { project_id: project.id, bucket_name: bucket.name, table_name: existing.name });
  };
  refuseExisting();
  // §14: in a development branch the table exists only there.
  const branch = isDevBranch(ctx.branch) ? { branch: ctx.branch, branchState: 'created' as const } : {};
  const table = { projectId: project.id, bucket: bucket.name, name: body.name, columns, primaryKey, rowCount: 0, createdAt: clock.now().toISOString(), ...branch };
  await storeTable(ctx.services, table, refuseExisting);
  return json(await tableView(ctx.services, currentTable(ctx.services, table) ?? table), 201);
};
