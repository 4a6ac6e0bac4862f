import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { validationError } from '../../src/http/errors.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { BranchIdSchema, BucketNameSchema } from '../../src/http/schemas.ts';
import { createApiKey, keyView } from '../../src/storage/api-keys.ts';

export const CreateApiKeySchema = v.object({
  description: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(255, 'At most 255 characters'))), null),
  scope: v.picklist(['admin', 'write', 'read'], 'Scope must be admin, write or read'),
  buckets: v.optional(v.nullable(v.pipe(v.array(BucketNameSchema), v.minLength(1, 'List at least one bucket, or send null'), v.maxLength(1000))), null),
  branch: v.optional(v.nullable(BranchIdSchema), null),
  expires_in_seconds: v.optional(
    v.nullable(v.pipe(v.number(), v.integer('Expected a whole number of seconds'), v.minValue(60, 'At least 60 seconds'), v.maxValue(315_360_000, 'At most 315360000 seconds (10 years)'))),
    null,
  ),
});

/** POST /projects/{id}/api-keys — the secret is in this answer and never again. */
export const createKey: Handler = async (request, ctx) => {
  const project = scopedProject(ctx);
  const body = await readJson(request, CreateApiKeySchema);
  const restricted = body.buckets !== null || body.branch !== null;
  if (restricted && body.scope === 'admin') {
    throw validationError([{ path: 'scope', message: 'A key restricted to buckets or a branch has scope read or write' }]);
  }
  if (body.branch?.toLowerCase() === 'default') {
    throw validationError([{ path: 'branch', message: 'A key cannot be restricted to the default branch' }]);
  }
  const expiresAt = body.expires_in_seconds === null ? null : new Date(ctx.services.clock.now().getTime() + body.expires_in_seconds * 1000).toISOString();
  const { key, record } = await createApiKey(ctx.services, project.id, { scope: body.scope, description: body.description, buckets: body.buckets, branch: body.branch, expiresAt });
  ctx.logFields.key_id = record.id;
  return json({ ...keyView(record), api_key: key }, 201);
};
