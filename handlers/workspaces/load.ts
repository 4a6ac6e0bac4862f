import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { errors, validationError } from '../../src/http/errors.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { TableNameSchema } from '../../src/http/schemas.ts';
import { ColumnListSchema, FiltersSchema, planRead } from '../../src/storage/filters.ts';
import { loadWorkspace as loadInto, workspaceView, type LoadSpec } from '../../src/storage/sql/workspaces.ts';
import { workspaceFromPath } from '../../src/http/lookup.ts';
import { bucketIn, tableIn } from '../../src/storage/locator.ts';

const SourceSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,95}\.[A-Za-z0-9][A-Za-z0-9_-]{0,95}$/, 'source must be bucket.table'),
);

export const LoadWorkspaceSchema = v.object({
  tables: v.pipe(
    v.array(
      v.object({
        source: SourceSchema,
        destination: TableNameSchema,
        columns: v.optional(ColumnListSchema),
        filters: v.optional(FiltersSchema, []),
        limit: v.optional(v.pipe(v.number(), v.integer('limit must be a whole number'), v.minValue(1), v.maxValue(Number.MAX_SAFE_INTEGER))),
      }),
    ),
    v.minLength(1, 'tables must name at least one table'),
    v.maxLength(100, 'At most 100 tables'),
  ),
  preserve: v.optional(v.boolean(), false),
});

/** POST /projects/{id}/workspaces/{ws}/load — copies storage tables into the workspace. */
export const loadWorkspace: Handler = async (request, ctx) => {
  const { project, workspace } = workspaceFromPath(ctx);
  const body = await readJson(request, LoadWorkspaceSchema);
  const { catalog, paths } = ctx.services;
  const seen = new Set<string>();
  body.tables.forEach((spec, i) => {
    if (seen.has(spec.destination.toLowerCase())) throw validationError([{ path: `tables.${i}.destination`, message: `Destination ${spec.destination} is named twice` }]);
    seen.add(spec.destination.toLowerCase());
  });
  const specs: LoadSpec[] = body.tables.map((spec, i) => {
    const [bucketName, tableName] = spec.source.split('.') as [string, string];
    // §14: the source as the workspace's branch sees it.
    const bucket = bucketIn(ctx.services, project.id, workspace.branch, bucketName);
    if (!bucket) throw errors.bucketNotFound(project.id, bucketName);
    const table = (!bucket.source || catalog.getBucket(bucket.source.projectId, bucket.source.bucket)) && tableIn(ctx.services, bucket, tableName);
    if (!table) throw errors.tableNotFound(project.id, bucket.name, tableName);
    const prefix = `tables.${i}`;
    const plan = planRead(table, { columns: spec.columns, filters: spec.filters }, { columns: `${prefix}.columns`, filters: `${prefix}.filters`, orderBy: `${prefix}.order_by` });
    return { source: table, destination: spec.destination, plan, limit: spec.limit, table: { schema: bucket.name, name: table.name, path: paths.tableFileOf(table) } };
  });
  const loaded = await loadInto(ctx.services, workspace, specs, body.preserve);
  return json(workspaceView(ctx.services, loaded));
};
