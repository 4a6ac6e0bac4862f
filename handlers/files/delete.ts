import type { Handler } from '../../src/context.ts';
import { fileFromPath } from '../../src/http/lookup.ts';
import { noContent } from '../../src/http/respond.ts';
import { deleteStoredFile } from '../../src/storage/files.ts';

/** DELETE /projects/{id}/files/{file_id} */
export const deleteFile: Handler = async (_request, ctx) => {
  const { file } = fileFromPath(ctx);
  await deleteStoredFile(ctx.services, file);
  return noContent();
};
