import * as v from 'valibot';
import { HttpError, validationError, type ValidationIssue } from './errors.ts';

export const MAX_JSON_BYTES = 1024 * 1024;

type AnySchema = v.GenericSchema<unknown, unknown>;

export function issuesOf(issues: readonly v.BaseIssue<unknown>[], prefix?: string): ValidationIssue[] {
  return issues.map((issue) => {
    const dot = v.getDotPath(issue);
    const path = [prefix, dot].filter((p) => p !== undefined && p !== null && p !== '').join('.');
    return { path: path || '(root)', message: missingKey(issue) ?? issue.message };
  });
}

/**
 * A required field that is absent says so in plain words ("name is required"), instead of
 * valibot's "Invalid key: Expected "name" but received undefined".
 */
function missingKey(issue: v.BaseIssue<unknown>): string | undefined {
  if (issue.kind !== 'schema' || issue.type !== 'object' || issue.received !== 'undefined') return undefined;
  const key = issue.path?.at(-1)?.key;
  return typeof key === 'string' ? `${key} is required` : undefined;
}

/** Validates `input` against `schema`; a failure becomes 422 `validation_error`. */
export function validate<S extends AnySchema>(schema: S, input: unknown, prefix?: string): v.InferOutput<S> {
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  if (!result.success) throw validationError(issuesOf(result.issues, prefix));
  return result.output as v.InferOutput<S>;
}

function isJsonType(contentType: string): boolean {
  const mime = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
}

/** Reads the body as text, stopping as soon as it passes `limit` bytes. */
async function readLimitedText(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw payloadTooLarge(limit);
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw payloadTooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = Buffer.concat(chunks);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw validationError([{ path: '(body)', message: 'Body is not valid UTF-8' }], 'Body is not valid UTF-8');
  }
}

/** Deeper JSON parses, but cannot be serialised again (JSON.stringify recurses): refused up front. */
export const MAX_JSON_DEPTH = 100;

/** The deepest nesting of arrays and objects in JSON text (brackets inside strings skipped). */
function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return deepest;
}

export const payloadTooLarge = (limit: number) =>
  new HttpError(413, 'payload_too_large', `Request body exceeds ${limit} bytes`, { limit_bytes: limit });

/**
 * Parses a JSON body (at most 1 MiB) and validates it. An empty body counts as `{}` so
 * that endpoints whose fields are all optional can be called without one.
 */
export async function readJson<S extends AnySchema>(request: Request, schema: S): Promise<v.InferOutput<S>> {
  const contentType = request.headers.get('content-type');
  const text = await readLimitedText(request, MAX_JSON_BYTES);
  if (text.trim() === '') return validate(schema, {});
  if (contentType && !isJsonType(contentType)) {
    throw new HttpError(415, 'unsupported_media_type', 'Request body must be application/json', {
      content_type: contentType.slice(0, 100),
    });
  }
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw validationError([{ path: '(body)', message: `JSON nesting is deeper than ${MAX_JSON_DEPTH} levels` }], 'Body is nested too deeply');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw validationError([{ path: '(body)', message: (error as Error).message }], 'Body is not valid JSON');
  }
  // Every JSON body of the contract is an object; valibot's object schemas take an array
  // for one (with every field absent), which would run a request nobody described.
  if (Array.isArray(parsed)) throw validationError([{ path: '(body)', message: 'Body must be a JSON object, not an array' }], 'Body must be a JSON object');
  return validate(schema, parsed);
}

/** The query string as a plain object; a repeated key keeps its last value. */
export function queryOf(request: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of new URL(request.url).searchParams) out[key] = value;
  return out;
}

export function readQuery<S extends AnySchema>(request: Request, schema: S): v.InferOutput<S> {
  return validate(schema, queryOf(request), 'query');
}
