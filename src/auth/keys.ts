import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A new project key: `proj_{id}_admin_{32 hex}` from 128 CSPRNG bits. */
export function generateProjectKey(projectId: string): { key: string; digest: string; prefix: string } {
  const key = `proj_${projectId}_admin_${randomBytes(16).toString('hex')}`;
  return { key, digest: sha256Hex(key), prefix: safeKeyPrefix(projectId) };
}

/** What may be logged in place of a project key. */
export const safeKeyPrefix = (projectId: string) => `proj_${projectId}_admin_...`;

/** Constant-time comparison; both sides are hashed first so lengths never leak. */
export function equalsConstantTime(candidate: string, expected: string): boolean {
  const a = createHash('sha256').update(candidate, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

export const generateAdminKey = () => `admin_${randomBytes(24).toString('hex')}`;
