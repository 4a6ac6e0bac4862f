import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Scope } from './scopes.ts';

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * A new project key secret: `proj_{id}_{scope}_{32 hex}` from 128 CSPRNG bits (§11; the
 * key made with the project is `proj_{id}_admin_…`, the §2 format). Only the digest is kept.
 */
export function generateProjectKey(projectId: string, scope: Scope = 'admin'): { key: string; digest: string; prefix: string } {
  const key = `proj_${projectId}_${scope}_${randomBytes(16).toString('hex')}`;
  return { key, digest: sha256Hex(key), prefix: safeKeyPrefix(projectId, scope) };
}

/** What may be shown and logged in place of a project key: the secret up to its scope. */
export const safeKeyPrefix = (projectId: string, scope: Scope = 'admin') => `proj_${projectId}_${scope}_...`;

/** Constant-time comparison; both sides are hashed first so lengths never leak. */
export function equalsConstantTime(candidate: string, expected: string): boolean {
  const a = createHash('sha256').update(candidate, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

export const generateAdminKey = () => `admin_${randomBytes(24).toString('hex')}`;
