import type { GenericSchema } from 'valibot';
import type { Handler } from './context.ts';
import { getHealth } from '../handlers/service/health.ts';
import { initBackend } from '../handlers/service/init.ts';
import { removeBackend } from '../handlers/service/remove.ts';
import { getRoot } from '../handlers/service/root.ts';
import { CreateProjectSchema, createProject } from '../handlers/projects/create.ts';
import { deleteProject } from '../handlers/projects/delete.ts';
import { getProject } from '../handlers/projects/get.ts';
import { ListProjectsQuerySchema, listProjects } from '../handlers/projects/list.ts';
import { getProjectStats } from '../handlers/projects/stats.ts';
import { UpdateProjectSchema, updateProject } from '../handlers/projects/update.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One endpoint: how it is reached, who may call it, what it accepts, and its handler. */
export interface RouteDef {
  method: Method;
  /** itty-router pattern; `:id` is always the project id of project-scoped routes. */
  path: string;
  auth: 'none' | 'admin' | 'project';
  handler: Handler;
  summary: string;
  tag: string;
  body?: GenericSchema<unknown, unknown>;
  query?: GenericSchema<unknown, unknown>;
  /** Status codes the contract documents for this route (success first). */
  responses: number[];
}

const P = '/projects/:id';

/** The route table: the single list of endpoints (routing, auth matrix and docs read it). */
export const routes: RouteDef[] = [
  { method: 'GET', path: '/', auth: 'none', handler: getRoot, summary: 'Service information', tag: 'service', responses: [200] },
  { method: 'GET', path: '/health', auth: 'none', handler: getHealth, summary: 'Health of the storage folders', tag: 'service', responses: [200, 503] },
  { method: 'POST', path: '/backend/init', auth: 'admin', handler: initBackend, summary: 'Create and check the storage folders', tag: 'service', responses: [200, 401, 500] },
  { method: 'POST', path: '/backend/remove', auth: 'admin', handler: removeBackend, summary: 'Acknowledge backend removal (deletes nothing)', tag: 'service', responses: [200, 401] },

  { method: 'POST', path: '/projects', auth: 'admin', handler: createProject, body: CreateProjectSchema, summary: 'Create a project and its key', tag: 'projects', responses: [201, 401, 409, 413, 415, 422] },
  { method: 'GET', path: '/projects', auth: 'admin', handler: listProjects, query: ListProjectsQuerySchema, summary: 'List projects', tag: 'projects', responses: [200, 401, 422] },
  { method: 'GET', path: P, auth: 'project', handler: getProject, summary: 'Get a project', tag: 'projects', responses: [200, 401, 403, 404, 422] },
  { method: 'PUT', path: P, auth: 'project', handler: updateProject, body: UpdateProjectSchema, summary: 'Update a project', tag: 'projects', responses: [200, 401, 403, 404, 413, 415, 422] },
  { method: 'DELETE', path: P, auth: 'project', handler: deleteProject, summary: 'Delete a project', tag: 'projects', responses: [204, 401, 403, 404, 422] },
  { method: 'GET', path: `${P}/stats`, auth: 'project', handler: getProjectStats, summary: 'Live project statistics', tag: 'projects', responses: [200, 401, 403, 404, 422] },
];
