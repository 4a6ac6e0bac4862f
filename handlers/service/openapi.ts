import type { Handler } from '../../src/context.ts';
import { json } from '../../src/http/respond.ts';
import { buildOpenApi } from '../../src/openapi.ts';
import { routes } from '../../src/routes.ts';

/**
 * GET /openapi.json — the OpenAPI 3.1 document of the route table as it is now. The
 * server URL is the mount point the request came through (`/storage` when embedded).
 */
export const getOpenApi: Handler = (request, ctx) => {
  const basePath = new URL(request.url).pathname.replace(/\/openapi\.json\/?$/, '');
  return json(buildOpenApi(routes, { version: ctx.services.version, basePath }));
};
