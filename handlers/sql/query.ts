import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { keyBuckets, scopedProject } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { QUERY_FORMATS, runQuery } from '../../src/storage/sql/query.ts';

export const QuerySchema = v.object({
  sql: v.pipe(
    v.string(),
    v.minLength(1, 'sql must not be empty'),
    v.check((s) => Buffer.byteLength(s) <= 100 * 1024, 'sql must be at most 100 KiB'),
    v.description('Exactly one read-only statement; tables are named bucket.table'),
  ),
  limit: v.optional(v.pipe(v.number(), v.integer('limit must be a whole number'), v.minValue(1), v.maxValue(100_000)), 10_000),
  timeout_seconds: v.optional(v.pipe(v.number(), v.integer('timeout_seconds must be a whole number'), v.minValue(1), v.maxValue(300)), 30),
  format: v.optional(v.picklist(QUERY_FORMATS, `format must be one of ${QUERY_FORMATS.join(', ')}`), 'json'),
});

/** POST /projects/{id}/query — one read-only statement in a sandbox (§17). */
export const queryProject: Handler = async (request, ctx) => {
  const project = scopedProject(ctx);
  const body = await readJson(request, QuerySchema);
  ctx.logFields.query_format = body.format;
  const output = await runQuery(ctx.services, {
    projectId: project.id,
    sql: body.sql,
    limit: body.limit,
    timeoutSeconds: body.timeout_seconds,
    format: body.format,
    allowedBuckets: keyBuckets(ctx),
    branch: ctx.branch,
    signal: request.signal,
  });
  if (output.kind === 'json') return json(output.body);
  return new Response(output.body, { status: 200, headers: output.headers });
};
