import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { queryWorkspace as runInWorkspace } from '../../src/storage/sql/workspaces.ts';
import { workspaceFromPath } from '../../src/http/lookup.ts';

export const WorkspaceQuerySchema = v.object({
  sql: v.pipe(v.string(), v.minLength(1, 'sql must not be empty'), v.check((s) => Buffer.byteLength(s) <= 1024 * 1024, 'sql must be at most 1 MiB')),
  timeout_seconds: v.optional(v.pipe(v.number(), v.integer('timeout_seconds must be a whole number'), v.minValue(1), v.maxValue(3600)), 300),
});

/** POST /projects/{id}/workspaces/{ws}/query — several statements, run in order in the workspace. */
export const queryWorkspace: Handler = async (request, ctx) => {
  const { workspace } = workspaceFromPath(ctx);
  const body = await readJson(request, WorkspaceQuerySchema);
  const results = await runInWorkspace(ctx.services, workspace, body.sql, body.timeout_seconds, request.signal);
  return json({ results });
};
