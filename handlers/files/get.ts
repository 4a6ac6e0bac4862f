import type { Handler } from '../../src/context.ts';
import { fileView } from '../../src/http/file-views.ts';
import { fileFromPath } from '../../src/http/lookup.ts';
import { json } from '../../src/http/respond.ts';

/** GET /projects/{id}/files/{file_id} */
export const getFile: Handler = async (_request, ctx) => json(fileView(fileFromPath(ctx).file));
