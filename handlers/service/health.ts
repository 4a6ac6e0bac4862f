import type { Handler } from '../../src/context.ts';
import { HttpError } from '../../src/http/errors.ts';
import { json } from '../../src/http/respond.ts';
import { checkFolders } from '../../src/storage/layout.ts';

/** GET /health — 200 while every storage folder exists, 503 `storage_unavailable` otherwise. */
export const getHealth: Handler = async (_request, ctx) => {
  const details = await checkFolders(ctx.services.paths);
  if (!Object.values(details).every(Boolean)) {
    throw new HttpError(503, 'storage_unavailable', 'A storage folder is missing or not a directory', details);
  }
  return json({ status: 'healthy', version: ctx.services.version, storage_available: true, details });
};
