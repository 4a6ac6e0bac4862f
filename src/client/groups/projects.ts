import type { Transport } from '../transport.ts';
import type { CreatedProject, CreateProjectInput, ListProjectsQuery, Project, ProjectList, ProjectStats, UpdateProjectInput } from '../types.ts';

const P = '/projects/:id';

/** §4 projects. */
export const projectsApi = (t: Transport) => ({
  /** POST /projects (admin key) — the answer holds the project's first key, shown once. */
  create: (body: CreateProjectInput) => t.json<CreatedProject>('POST', '/projects', [], { json: body }),
  /** GET /projects (admin key) */
  list: (query: ListProjectsQuery = {}) => t.json<ProjectList>('GET', '/projects', [], { query }),
  get: (projectId: string) => t.json<Project>('GET', P, [projectId]),
  /** PUT /projects/{id} — an absent field stays, `null` clears it. */
  update: (projectId: string, body: UpdateProjectInput) => t.json<Project>('PUT', P, [projectId], { json: body }),
  delete: (projectId: string) => t.empty('DELETE', P, [projectId]),
  stats: (projectId: string) => t.json<ProjectStats>('GET', `${P}/stats`, [projectId]),
});
