import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { RetentionDaysSchema } from '../../src/http/schemas.ts';
import { snapshotSettingsView } from '../../src/http/snapshot-view.ts';

export const SnapshotSettingsSchema = v.strictObject({
  auto: v.optional(
    v.strictObject({
      drop_table: v.optional(v.boolean()),
      truncate: v.optional(v.boolean()),
      drop_column: v.optional(v.boolean()),
      full_import: v.optional(v.boolean()),
    }),
  ),
  manual_retention_days: v.optional(RetentionDaysSchema),
  auto_retention_days: v.optional(RetentionDaysSchema),
});

/** PUT /projects/{id}/settings/snapshots — any subset; applies to snapshots taken from now on. */
export const putSnapshotSettings: Handler = async (request, ctx) => {
  const project = scopedProject(ctx);
  const body = await readJson(request, SnapshotSettingsSchema);
  const settings = await ctx.services.snapshots.updateSettings(project.id, body);
  return json(snapshotSettingsView(settings));
};
