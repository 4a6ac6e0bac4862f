import type { Handler } from '../../src/context.ts';
import { json } from '../../src/http/respond.ts';

/** POST /backend/remove — acknowledged, deletes nothing. */
export const removeBackend: Handler = () =>
  json({ success: true, message: 'Backend removal acknowledged (no-op)', storage_paths: null });
