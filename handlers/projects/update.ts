import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { errors } from '../../src/http/errors.ts';
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
  // The project may have been deleted while the body was arriving: checked again under the catalog lock.
  const updated = await ctx.services.catalog.updateProject(project.id, body, ctx.services.clock.now().toISOString());
  if (!updated) throw errors.notFound(project.id);
  return json(await projectView(ctx.services, updated));
};
