import type { Handler } from '../../src/context.ts';
import { snapshotFromPath } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';
import { snapshotView } from '../../src/http/snapshot-view.ts';

/** GET /projects/{id}/snapshots/{snapshot_id} */
export const getSnapshot: Handler = (_request, ctx) => json(snapshotView(snapshotFromPath(ctx).snapshot));
