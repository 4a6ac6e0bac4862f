import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { fileView } from '../../src/http/file-views.ts';
import { maySee, scopedProject } from '../../src/http/lookup.ts';
import { readQuery } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { PagingEntries, TagListQuerySchema } from '../../src/http/schemas.ts';

export const ListFilesQuerySchema = v.object({
  tags: v.optional(TagListQuerySchema, ''),
  ...PagingEntries,
});

/** GET /projects/{id}/files?tags=a,b — files having every tag, newest first. */
export const listFiles: Handler = async (request, ctx) => {
  const project = scopedProject(ctx);
  const query = readQuery(request, ListFilesQuerySchema);
  const files = ctx.services.files.list(project.id, query.tags).filter((file) => maySee(ctx, file));
  return json({ files: files.slice(query.offset, query.offset + query.limit).map(fileView), total: files.length });
};
