import { QuerySchema, queryProject } from '../../handlers/sql/query.ts';
import type { RouteDef } from '../routes.ts';

const P = '/projects/:id';

/** §17: read-only SQL and workspaces. */
export const sqlRoutes: RouteDef[] = [
  { method: 'POST', path: `${P}/query`, auth: 'project', scope: 'read', handler: queryProject, body: QuerySchema, summary: 'Run one read-only SQL statement over the project\'s tables (json, or streamed csv/ndjson/parquet)', tag: 'sql', responses: [200, 400, 401, 403, 404, 413, 415, 422, 429] },
];
