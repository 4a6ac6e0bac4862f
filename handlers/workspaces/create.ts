import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { createWorkspace as storeWorkspace, workspaceView } from '../../src/storage/sql/workspaces.ts';
import { workspaceProject } from '../../src/http/lookup.ts';

export const CreateWorkspaceSchema = v.object({
  name: v.optional(v.pipe(v.string(), v.maxLength(255, 'name must be at most 255 characters')), ''),
  ttl_hours: v.optional(v.pipe(v.number(), v.integer('ttl_hours must be a whole number'), v.minValue(1), v.maxValue(720)), 24),
});

/** POST /projects/{id}/workspaces */
export const createWorkspace: Handler = async (request, ctx) => {
  const project = workspaceProject(ctx);
  const body = await readJson(request, CreateWorkspaceSchema);
  const workspace = await storeWorkspace(ctx.services, { projectId: project.id, name: body.name, ttlHours: body.ttl_hours, branch: ctx.branch });
  return json(workspaceView(ctx.services, workspace), 201);
};
