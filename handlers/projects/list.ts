import * as v from 'valibot';
import type { Handler } from '../../src/context.ts';
import { readQuery } from '../../src/http/request.ts';
import { json } from '../../src/http/respond.ts';
import { queryInt } from '../../src/http/schemas.ts';
import { projectView } from '../../src/storage/projects.ts';

export const ListProjectsQuerySchema = v.object({
  status: v.optional(v.picklist(['active', 'deleted'], 'status must be active or deleted')),
  limit: v.optional(queryInt(1, 1000), '100'),
  offset: v.optional(queryInt(0, Number.MAX_SAFE_INTEGER), '0'),
});

/** GET /projects — newest first; `total` counts the filter without paging. */
export const listProjects: Handler = async (request, ctx) => {
  const query = readQuery(request, ListProjectsQuerySchema);
  const matching = ctx.services.catalog
    .listProjects()
    .filter((p) => !query.status || p.status === query.status)
    .sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1));
  const page = matching.slice(query.offset, query.offset + query.limit);
  const projects = await Promise.all(page.map((p) => projectView(ctx.services, p)));
  return json({ projects, total: matching.length });
};
