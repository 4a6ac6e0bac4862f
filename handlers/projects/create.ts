import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { conflict } from '../../src/http/errors.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { ProjectIdSchema, SettingsSchema } from '../../src/http/schemas.ts';
import { newApiKey } from '../../src/storage/api-keys.ts';
import { createProject as storeProject, projectView } from '../../src/storage/projects.ts';

export const CreateProjectSchema = v.object({
  id: ProjectIdSchema,
  name: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(255))), null),
  settings: v.optional(SettingsSchema, null),
});

/** POST /projects — creates a project and returns its key, once. */
export const createProject: Handler = async (request, ctx) => {
  const body = await readJson(request, CreateProjectSchema);
  const { catalog, clock } = ctx.services;
  const refuseExisting = () => {
    const existing = catalog.getProject(body.id);
    if (existing) {
      throw conflict('project_exists', `Project ${existing.id} already exists`, { project_id: existing.id, status: existing.status });
    }
  };
  refuseExisting();
  const now = clock.now().toISOString();
  const { key, record } = newApiKey(body.id, { scope: 'admin', description: null, buckets: null, branch: null, expiresAt: null }, now);
  const project = { id: body.id, name: body.name, settings: body.settings, status: 'active' as const, createdAt: now, updatedAt: now };
  await storeProject(ctx.services, project, record, refuseExisting);
  ctx.logFields.project_id = project.id;
  return json({ ...(await projectView(ctx.services, project)), api_key: key }, 201);
};
