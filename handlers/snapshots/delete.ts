import type { Handler } from '../../src/context.ts';
import { snapshotFromPath } from '../../src/http/lookup.ts';
import { noContent } from '../../src/http/respond.ts';
import { removeSnapshot } from '../../src/storage/snapshots.ts';

/** DELETE /projects/{id}/snapshots/{snapshot_id} — waits for a restore that is reading it. */
export const deleteSnapshot: Handler = async (_request, ctx) => {
  const { snapshot } = snapshotFromPath(ctx);
  await removeSnapshot(ctx.services, snapshot);
  return noContent();
};
