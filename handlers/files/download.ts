import type { Handler } from '../../src/context.ts';
import { errors } from '../../src/http/errors.ts';
import { fileFromPath } from '../../src/http/lookup.ts';
import { openStoredFile, parseRange } from '../../src/storage/files.ts';

/** `attachment; filename="…"` with quotes and backslashes escaped; non-ASCII names also as RFC 8187 `filename*`. */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '\\$&');
  const plain = `attachment; filename="${ascii}"`;
  return /^[\x20-\x7e]*$/.test(name) ? plain : `${plain}; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** GET /projects/{id}/files/{file_id}/download — the stored bytes, streamed; a single `Range` gives 206. */
export const downloadFile: Handler = async (request, ctx) => {
  const { file } = fileFromPath(ctx);
  const etag = `"${file.sha256}"`;
  const headers: Record<string, string> = {
    'content-type': file.contentType,
    'content-disposition': contentDisposition(file.name),
    etag,
    'accept-ranges': 'bytes',
    'cache-control': 'private, no-cache',
  };
  // The stored bytes exactly: no Content-Encoding header, which would make clients decode
  // them (and ranges would no longer be of the file). The file object names the encoding.
  const noneMatch = request.headers.get('if-none-match');
  if (noneMatch && noneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
    return new Response(null, { status: 304, headers: { etag } });
  }
  // If-Range with another validator: the file changed for the client, so it gets all of it.
  const ifRange = request.headers.get('if-range');
  const range = ifRange && ifRange.trim() !== etag ? undefined : parseRange(request.headers.get('range'), file.sizeBytes);
  if (range === 'unsatisfiable') throw errors.rangeNotSatisfiable(file.sizeBytes);
  const body = await openStoredFile(ctx.services.paths, file, range);
  if (!range) return new Response(body, { status: 200, headers: { ...headers, 'content-length': String(file.sizeBytes) } });
  headers['content-length'] = String(range.end - range.start + 1);
  headers['content-range'] = `bytes ${range.start}-${range.end}/${file.sizeBytes}`;
  return new Response(body, { status: 206, headers });
};
