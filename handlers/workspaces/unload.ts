import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { BucketNameSchema, ColumnNameSchema, TableNameSchema } from '../../src/http/schemas.ts';
import { tableView } from '../../src/http/views.ts';
import { unloadWorkspace as unloadFrom } from '../../src/storage/sql/workspaces.ts';
import { workspaceFromPath } from '../../src/http/lookup.ts';

export const UnloadWorkspaceSchema = v.object({
  source: TableNameSchema,
  bucket: BucketNameSchema,
  table: TableNameSchema,
  incremental: v.optional(v.boolean(), false),
  primary_key: v.optional(v.pipe(v.array(ColumnNameSchema), v.maxLength(32, 'At most 32 key columns')), []),
});

/**
 * POST /projects/{id}/workspaces/{ws}/unload — a workspace table into a storage table. The
 * source, the bucket (404s) and a linked bucket (403 `bucket_readonly`) are checked in that
 * order, under the workspace's lock.
 */
export const unloadWorkspace: Handler = async (request, ctx) => {
  const { project, workspace } = workspaceFromPath(ctx);
  const body = await readJson(request, UnloadWorkspaceSchema);
  const { table, importedRows } = await unloadFrom(
    ctx.services,
    workspace,
    { source: body.source, projectId: project.id, bucket: body.bucket, table: body.table, incremental: body.incremental, primaryKey: body.primary_key },
  );
  return json({ table: await tableView(ctx.services, table), imported_rows: importedRows });
};
