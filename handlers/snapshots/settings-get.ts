import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { snapshotSettingsView } from '../../src/http/snapshot-view.ts';

/** GET /projects/{id}/settings/snapshots — the effective settings (the defaults until changed). */
export const getSnapshotSettings: Handler = (_request, ctx) => {
  const project = scopedProject(ctx);
  return json(snapshotSettingsView(ctx.services.snapshots.settings(project.id)));
};
