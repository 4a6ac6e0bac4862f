import { randomUUID } from 'node:crypto';
import { IttyRouter, type IRequest } from 'itty-router';
import { authorizeRoute, requireAdmin, requireProjectAccess } from './auth/guards.ts';
import type { Handler, HandlerContext } from './context.ts';
import { errorBody, HttpError, validationError } from './http/errors.ts';
import { json } from './http/respond.ts';
import { callerForLog, keyIdForLog } from './logger.ts';
import { routes, type RouteDef } from './routes.ts';
import type { Services } from './services.ts';
import { TableGoneError } from './storage/registry.ts';
import { StorageSession } from './storage/session.ts';

export { routes, type RouteDef } from './routes.ts';

export interface AppOptions {
  /** Mount point inside a host server, e.g. `/storage`; routes answer below it. */
  basePath?: string;
}

export interface App {
  /**
   * `rawUrl` is the request target exactly as the client sent it, when the host server
   * knows it: URL parsing resolves `.`/`..` segments, which must not silently address a
   * different resource (`…/tables/..` would otherwise name the bucket).
   */
  fetch(request: Request, server?: { rawUrl?: string }): Promise<Response>;
  routes: readonly RouteDef[];
}

const REQUEST_ID = /^[\x20-\x7e]{1,128}$/;
/** A `.` or `..` path segment, also percent-encoded. */
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:\/|$)/i;
const CORS_HEADERS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'X-Request-ID, Content-Disposition, Retry-After, Location, ETag, Content-Range, Accept-Ranges',
};
const PREFLIGHT_HEADERS: Record<string, string> = {
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'Authorization, Content-Type, Content-Encoding, X-Request-ID, Range, If-Range, If-None-Match',
  'access-control-max-age': '86400',
};

function normalizeBase(base: string | undefined): string {
  if (!base) return '';
  const trimmed = `/${base}`.replace(/\/+/g, '/').replace(/\/$/, '');
  return trimmed === '/' ? '' : trimmed;
}

/**
 * The whole API as one fetch function: the route table on itty-router, authentication,
 * request ids, CORS, the error body and the request log line, all in this one place.
 */
export function createApp(services: Services, options: AppOptions = {}): App {
  const base = normalizeBase(options.basePath);
  const router = IttyRouter<IRequest, [HandlerContext]>({ base });
  for (const route of routes) {
    router[route.method.toLowerCase() as 'get'](route.path, (request, ctx: HandlerContext) => dispatch(route, request, ctx));
  }

  async function dispatch(route: RouteDef, request: IRequest, ctx: HandlerContext): Promise<Response> {
    ctx.params = request.params ?? {};
    // §14: the branch a route under P/branches/{branch}/… addresses; lookups validate it.
    if (ctx.params.branch !== undefined) ctx.branch = ctx.params.branch;
    ctx.logFields.route = route.path;
    if (route.auth === 'admin') ctx.principal = requireAdmin(request, services);
    else if (route.auth === 'project') {
      ctx.principal = requireProjectAccess(request, ctx.params.id ?? '', services);
      authorizeRoute(route, ctx.principal, ctx.params);
    }
    return route.handler(request, ctx);
  }

  function allowedMethods(pathname: string): string[] {
    const methods = new Set<string>();
    for (const [method, pattern] of router.routes as unknown as [string, RegExp][]) {
      if (pattern.test(pathname)) methods.add(method);
    }
    return [...methods];
  }

  function errorResponse(error: unknown, ctx: HandlerContext): Response {
    if (error instanceof TableGoneError) {
      error = new HttpError(404, 'table_not_found', 'Table not found', undefined);
    }
    if (error instanceof HttpError) {
      const response = json(errorBody(error.code, error.message, error.details), error.status, error.headers);
      if (error.status >= 500) ctx.log.error({ err: error.message, code: error.code }, 'request failed');
      return response;
    }
    ctx.log.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'unexpected error');
    const message = services.config.debug && error instanceof Error ? scrub(error.message) : 'Internal server error';
    return json(errorBody('internal_server_error', message, { request_id: ctx.requestId }), 500);
  }

  /** Error text for clients: host paths replaced by their role in the layout. */
  function scrub(message: string): string {
    return message.split(services.paths.dataDir).join('$DATA_DIR').slice(0, 500);
  }

  async function fetch(request: Request, server?: { rawUrl?: string }): Promise<Response> {
    const started = performance.now();
    const incoming = request.headers.get('x-request-id');
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const log = services.logger.child({ request_id: requestId });
    const ctx: HandlerContext = {
      services,
      requestId,
      params: {},
      storage: new StorageSession(services.registry),
      log,
      logFields: {},
    };
    let response: Response;
    try {
      if (request.method === 'OPTIONS') {
        response = new Response(null, { status: 204, headers: PREFLIGHT_HEADERS });
      } else if (server?.rawUrl && DOT_SEGMENT.test(server.rawUrl.split('?', 1)[0]!)) {
        throw validationError([{ path: '(path)', message: 'Path segments "." and ".." are not valid names' }], 'Path segments "." and ".." are not valid names');
      } else {
        response = (await router.fetch(request as never, ctx)) ?? notMatched(request);
      }
    } catch (error) {
      response = errorResponse(error, ctx);
    } finally {
      ctx.storage.releaseAll();
    }
    response.headers.set('x-request-id', requestId);
    for (const [name, value] of Object.entries(CORS_HEADERS)) response.headers.set(name, value);
    const fields: Record<string, unknown> = {
      method: request.method,
      route: ctx.logFields.route ?? null,
      status: response.status,
      duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      ...ctx.logFields,
    };
    if (ctx.principal?.kind === 'project' && !fields.project_id) fields.project_id = ctx.principal.projectId;
    const caller = callerForLog(request.headers.get('authorization'), ctx.principal);
    if (caller) fields.caller = caller;
    const keyId = keyIdForLog(ctx.principal);
    if (keyId) fields.key_id = keyId;
    log[response.status >= 500 ? 'error' : 'info'](fields, 'request');
    // Labelled by route pattern (bounded), never by the raw path.
    const routeLabel = typeof ctx.logFields.route === 'string' ? ctx.logFields.route : request.method === 'OPTIONS' ? '(preflight)' : '(unmatched)';
    services.metrics.observeRequest(request.method, routeLabel, response.status, (performance.now() - started) / 1000);
    return response;
  }

  function notMatched(request: Request): Response {
    const pathname = new URL(request.url).pathname;
    const allowed = allowedMethods(pathname);
    if (allowed.length) {
      const allow = [...allowed, 'OPTIONS'].join(', ');
      return json(errorBody('method_not_allowed', `Method ${request.method} is not allowed here`, { allowed }), 405, { allow });
    }
    return json(errorBody('not_found', 'No such endpoint', { path: pathname.slice(0, 200) }), 404);
  }

  return { fetch, routes };
}

export type { Handler };
