import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { fileView } from '../../src/http/file-views.ts';
import { callerKeyId, scopedProject } from '../../src/http/lookup.ts';
import { payloadTooLarge, readQuery } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { QueryBoolSchema, TagListQuerySchema } from '../../src/http/schemas.ts';
import { storeUpload } from '../../src/storage/files.ts';

/** 1–255 printable characters, no `/` or `\`. */
export const FileNameSchema = v.pipe(
  v.string(),
  v.regex(/^[^\p{C}/\\]{1,255}$/u, 'name must be 1-255 printable characters without / or \\'),
);

export const UploadQuerySchema = v.object({
  name: FileNameSchema,
  tags: v.optional(TagListQuerySchema, ''),
  permanent: v.optional(QueryBoolSchema, 'false'),
});

/** A request header as stored on the file: trimmed, bounded, or the fallback when absent. */
const headerValue = (request: Request, name: string) => request.headers.get(name)?.trim().slice(0, 255) || null;

/** POST /projects/{id}/files?name=&tags=&permanent= — the body is the file, streamed and stored as sent. */
export const uploadFile: Handler = async (request, ctx) => {
  const project = scopedProject(ctx);
  const query = readQuery(request, UploadQuerySchema);
  const { maxFileBytes } = ctx.services.config;
  const length = Number(request.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(length) && length > maxFileBytes) throw payloadTooLarge(maxFileBytes);
  const declared = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
  const file = await storeUpload(ctx.services, project.id, request.body, {
    name: query.name,
    tags: query.tags,
    permanent: query.permanent,
    contentType: headerValue(request, 'content-type') ?? 'application/octet-stream',
    contentEncoding: headerValue(request, 'content-encoding'),
    createdBy: callerKeyId(ctx),
  }, declared);
  ctx.logFields.file_id = file.id;
  ctx.logFields.size_bytes = file.sizeBytes;
  return json(fileView(file), 201, { location: `${new URL(request.url).pathname}/${file.id}` });
};
