import { errors, HttpError } from '../http/errors.ts';
import type { RouteDef } from '../routes.ts';
import { scopeCovers } from './scopes.ts';
import type { Catalog } from '../storage/catalog.ts';
import type { ApiKeyRecord, KeyCatalog } from '../storage/catalog/keys.ts';
import { equalsConstantTime, sha256Hex } from './keys.ts';

/**
 * Who called. A project principal carries its key when it came in with one (handlers
 * invoked directly in tests or by a host server may leave it out: then no restriction).
 */
export type Principal = { kind: 'admin' } | { kind: 'project'; projectId: string; key?: ApiKeyRecord };

/** What authentication needs to know. */
export interface AuthSources {
  adminKey: string;
  catalog: Catalog;
  keys: KeyCatalog;
  clock: { now(): Date };
}

const unauthorized = (message: string) =>
  new HttpError(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer' });

/** The bearer token of a request; 401 when the header is missing, malformed or empty. */
export function bearerToken(request: Request): string {
  const header = request.headers.get('authorization');
  if (!header) throw unauthorized('Missing Authorization header');
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) throw unauthorized('Authorization header must be "Bearer <key>"');
  return match[1]!;
}

/** A key is live while its project is active and it has not expired. */
export function isLive(key: ApiKeyRecord, sources: Pick<AuthSources, 'catalog'>, now: Date): boolean {
  if (key.expiresAt && Date.parse(key.expiresAt) <= now.getTime()) return false;
  return sources.catalog.getActiveProject(key.projectId) !== undefined;
}

/** Who holds the token: the admin, a live project key, or nobody (undefined). One map lookup. */
export function identify(token: string, sources: AuthSources): Principal | undefined {
  if (equalsConstantTime(token, sources.adminKey)) return { kind: 'admin' };
  const key = sources.keys.byDigestOf(sha256Hex(token));
  if (!key) return undefined;
  const now = sources.clock.now();
  if (!isLive(key, sources, now)) return undefined;
  sources.keys.touch(key, now);
  return { kind: 'project', projectId: key.projectId, key };
}

export function requireAdmin(request: Request, sources: AuthSources): Principal {
  const principal = identify(bearerToken(request), sources);
  if (principal?.kind !== 'admin') throw unauthorized('This endpoint needs the admin key');
  return principal;
}

/** The admin, or a live key of the project named in the path; else 403 `forbidden`. */
export function requireProjectAccess(request: Request, projectId: string, sources: AuthSources): Principal {
  const principal = identify(bearerToken(request), sources);
  if (principal?.kind === 'admin') return principal;
  if (principal?.kind === 'project' && principal.projectId.toLowerCase() === projectId.toLowerCase()) return principal;
  throw errors.forbidden('This key has no access to the project', { project_id: projectId });
}

/**
 * §11, in the contract's order: the key's bucket and branch restrictions (403 `forbidden`),
 * then its scope (403 `insufficient_scope`). Runs on raw path parameters, before any name
 * is validated or any object looked up, so a restricted key learns nothing about what
 * lies outside its reach.
 */
export function authorizeRoute(route: RouteDef, principal: Principal, params: Record<string, string>): void {
  if (principal.kind !== 'project' || !principal.key || !route.scope) return;
  const key = principal.key;
  if (key.branch !== null && route.branchRestrictedKeys !== 'allowed') {
    const branch = params.branch;
    if (route.branchRestrictedKeys === 'forbidden' || branch === undefined || branch.toLowerCase() !== key.branch.toLowerCase()) {
      throw errors.forbidden(`This key reaches only branch ${key.branch}`, { branch: key.branch });
    }
  }
  if (key.buckets !== null) {
    const bucket = params.bucket;
    if (bucket !== undefined && !key.buckets.some((allowed) => allowed.toLowerCase() === bucket.toLowerCase())) {
      throw errors.forbidden('This key has no access to the bucket', { bucket_name: bucket.slice(0, 100) });
    }
    if (bucket === undefined && route.bucketRestrictedKeys === 'forbidden') {
      throw errors.forbidden('A key restricted to buckets cannot use this route');
    }
  }
  if (!scopeCovers(key.scope, route.scope)) throw errors.insufficientScope(route.scope, key.scope);
  if (key.buckets !== null && params.bucket === undefined && route.bucketRestrictedKeys === 'insufficient_scope') {
    throw new HttpError(403, 'insufficient_scope', 'A key restricted to buckets cannot use this route', { required: 'unrestricted', scope: key.scope });
  }
}

/** The buckets the caller may see, or null for every bucket of the project. */
export function allowedBuckets(principal: Principal | undefined): string[] | null {
  return principal?.kind === 'project' && principal.key ? principal.key.buckets : null;
}

/** Whether a bucket name is within the caller's reach. */
export function mayReachBucket(principal: Principal | undefined, bucket: string): boolean {
  const allowed = allowedBuckets(principal);
  return allowed === null || allowed.some((name) => name.toLowerCase() === bucket.toLowerCase());
}
