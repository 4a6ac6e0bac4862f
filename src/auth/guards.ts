import { HttpError } from '../http/errors.ts';
import type { Catalog } from '../storage/catalog.ts';
import { equalsConstantTime, sha256Hex } from './keys.ts';

export type Principal = { kind: 'admin' } | { kind: 'project'; projectId: string };

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

/** Who holds the key: the admin, a live project key, or nobody (undefined). */
export function identify(token: string, adminKey: string, catalog: Catalog): Principal | undefined {
  if (equalsConstantTime(token, adminKey)) return { kind: 'admin' };
  const projectId = catalog.projectIdForKeyDigest(sha256Hex(token));
  if (projectId && catalog.getActiveProject(projectId)) return { kind: 'project', projectId };
  return undefined;
}

export function requireAdmin(request: Request, adminKey: string, catalog: Catalog): Principal {
  const principal = identify(bearerToken(request), adminKey, catalog);
  if (principal?.kind !== 'admin') throw unauthorized('This endpoint needs the admin key');
  return principal;
}

/** The admin, or a live key of the project named in the path; else 403 `forbidden`. */
export function requireProjectAccess(request: Request, projectId: string, adminKey: string, catalog: Catalog): Principal {
  const principal = identify(bearerToken(request), adminKey, catalog);
  if (principal?.kind === 'admin') return principal;
  if (principal?.kind === 'project' && principal.projectId.toLowerCase() === projectId.toLowerCase()) return principal;
  throw new HttpError(403, 'forbidden', 'This key has no access to the project', { project_id: projectId });
}
