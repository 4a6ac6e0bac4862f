import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { requireWritable, tableFromPath } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { snapshotView } from '../../src/http/snapshot-view.ts';
import { RetentionDaysSchema } from '../../src/http/schemas.ts';
import { createSnapshot } from '../../src/storage/snapshots.ts';

export const CreateSnapshotSchema = v.object({
  description: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(1000, 'At most 1000 characters'))), null),
  /** null: kept until deleted; absent: the project's manual_retention_days. */
  retention_days: v.optional(v.nullable(RetentionDaysSchema)),
});

/** POST …/tables/{table}/snapshots — a copy of the table as it is now. */
export const createTableSnapshot: Handler = async (request, ctx) => {
  // Part II order of checks: the path's objects (404) before 403 `bucket_readonly`, then the body.
  const { bucket, table } = tableFromPath(ctx);
  requireWritable(bucket);
  const body = await readJson(request, CreateSnapshotSchema);
  const record = await createSnapshot(ctx.services, table, { description: body.description, retentionDays: body.retention_days });
  return json(snapshotView(record), 201);
};
