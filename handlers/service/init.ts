import type { Handler } from '../../src/context.ts';
import { HttpError } from '../../src/http/errors.ts';
import { json } from '../../src/http/respond.ts';
import { initFolders } from '../../src/storage/layout.ts';

/** POST /backend/init — creates missing storage folders and checks each is writable. */
export const initBackend: Handler = async (_request, ctx) => {
  const { created, errors } = await initFolders(ctx.services.paths);
  if (errors.length) {
    throw new HttpError(500, 'init_failed', 'Storage folders could not be prepared', { errors });
  }
  const message = created.length
    ? `Backend initialized: created ${created.join(', ')}`
    : 'Backend initialized: all storage folders exist and are writable';
  return json({ success: true, message, storage_paths: ctx.services.paths.folders });
};
