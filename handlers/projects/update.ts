import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { projectFromPath } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { SettingsSchema } from '../../src/http/schemas.ts';
import { projectView } from '../../src/storage/projects.ts';

export const UpdateProjectSchema = v.object({
  name: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(255)))),
  settings: v.optional(SettingsSchema),
});

/** PUT /projects/{id} — an absent field stays, an explicit null clears it. */
export const updateProject: Handler = async (request, ctx) => {
  const project = projectFromPath(ctx);
  const body = await readJson(request, UpdateProjectSchema);
  const updated = await ctx.services.catalog.updateProject(project.id, body, new Date().toISOString());
  return json(await projectView(ctx.services, updated));
};
