import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { scopedProject } from '../../src/http/lookup.ts';
import { readJson } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { branchView, createBranch as storeBranch } from '../../src/storage/branches.ts';

export const CreateBranchSchema = v.object({
  name: v.pipe(v.string(), v.minLength(1, 'A branch needs a name'), v.maxLength(255, 'At most 255 characters')),
  description: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(4096, 'At most 4096 characters'))), null),
});

/** POST /projects/{id}/branches — a new branch sees main's data; nothing is copied. */
export const createBranch: Handler = async (request, ctx) => {
  const project = scopedProject(ctx);
  const body = await readJson(request, CreateBranchSchema);
  const branch = await storeBranch(ctx.services, project, { name: body.name, description: body.description });
  return json(branchView(project, branch), 201);
};
