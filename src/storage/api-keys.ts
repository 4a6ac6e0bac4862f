import { generateProjectKey } from '../auth/keys.ts';
import { isLive } from '../auth/guards.ts';
import { conflict, errors, notFound } from '../http/errors.ts';
import type { Scope } from '../auth/scopes.ts';
import type { Services } from '../services.ts';
import { KeyGoneError, newKeyId, type ApiKeyRecord } from './catalog/keys.ts';

export interface KeySpec {
  scope: Scope;
  description: string | null;
  buckets: string[] | null;
  branch: string | null;
  expiresAt: string | null;
}

/** A fresh secret and the record that stores its digest (nothing written yet). */
export function newApiKey(projectId: string, spec: KeySpec, now: string): { key: string; record: ApiKeyRecord } {
  const { key, digest, prefix } = generateProjectKey(projectId, spec.scope);
  const record: ApiKeyRecord = {
    id: newKeyId(),
    projectId,
    digest,
    prefix,
    description: spec.description,
    scope: spec.scope,
    buckets: spec.buckets,
    branch: spec.branch,
    createdAt: now,
    expiresAt: spec.expiresAt,
    lastUsedAt: null,
    rotatedAt: null,
  };
  return { key, record };
}

/** Whether a development branch (§14) exists in the project. */
function branchExists(services: Services, projectId: string, branch: string): boolean {
  return services.branches.get(projectId, branch.toLowerCase()) !== undefined;
}

/** Creates a key after checking that its buckets and branch exist; returns the secret once. */
export async function createApiKey(services: Services, projectId: string, spec: KeySpec): Promise<{ key: string; record: ApiKeyRecord }> {
  const { catalog, keys } = services;
  let buckets = spec.buckets;
  if (buckets) {
    // Stored as the buckets are spelled in the catalog; a repeated name counts once.
    const spelled = new Map<string, string>();
    for (const name of buckets) {
      const bucket = catalog.getBucket(projectId, name);
      if (!bucket) throw errors.bucketNotFound(projectId, name);
      spelled.set(bucket.name.toLowerCase(), bucket.name);
    }
    buckets = [...spelled.values()];
  }
  if (spec.branch !== null && !branchExists(services, projectId, spec.branch)) {
    throw errors.branchNotFound(projectId, spec.branch);
  }
  const branch = spec.branch === null ? null : spec.branch.toLowerCase();
  const created = newApiKey(projectId, { ...spec, buckets, branch }, services.clock.now().toISOString());
  await keys.create(created.record, () => {
    if (!catalog.getActiveProject(projectId)) throw errors.projectNotFound(projectId);
    // A branch deleted meanwhile takes its keys with it: none may be made for it now.
    if (branch !== null && !branchExists(services, projectId, branch)) throw errors.branchNotFound(projectId, branch);
  });
  return created;
}

export const keyNotFound = (projectId: string, keyId: string) =>
  notFound('key_not_found', `API key ${keyId} not found in project ${projectId}`, { project_id: projectId, key_id: keyId.slice(0, 64) });

/** 404 `key_not_found` unless the project has this key. */
export function requireKey(services: Services, projectId: string, keyId: string): ApiKeyRecord {
  const key = services.keys.get(projectId, keyId);
  if (!key) throw keyNotFound(projectId, keyId);
  return key;
}

/**
 * Deletes a key; it stops working at once. The project's last live admin key is refused
 * (409 `last_admin_key`), checked under the catalog's writer lock so two revokes of the
 * last two admin keys cannot both succeed.
 */
export async function revokeApiKey(services: Services, key: ApiKeyRecord): Promise<void> {
  const { keys } = services;
  await keys.revoke(key, () => {
    if (!keys.get(key.projectId, key.id)) throw keyNotFound(key.projectId, key.id);
    const now = services.clock.now();
    if (key.scope !== 'admin' || !isLive(key, services, now)) return;
    const others = keys.list(key.projectId).filter((k) => k.id !== key.id && k.scope === 'admin' && isLive(k, services, now));
    if (!others.length) {
      throw conflict('last_admin_key', `API key ${key.id} is the last live admin key of project ${key.projectId}`, { project_id: key.projectId, key_id: key.id });
    }
  });
}

/** A new secret for the key; the old one stops working the moment this returns. */
export async function rotateApiKey(services: Services, key: ApiKeyRecord): Promise<{ key: string; record: ApiKeyRecord }> {
  const { key: secret, digest } = generateProjectKey(key.projectId, key.scope);
  try {
    const record = await services.keys.rotate(key, digest, services.clock.now().toISOString());
    return { key: secret, record };
  } catch (error) {
    if (error instanceof KeyGoneError) throw keyNotFound(key.projectId, key.id);
    throw error;
  }
}

/** The key object of §11 (never the secret). */
export function keyView(key: ApiKeyRecord) {
  return {
    id: key.id,
    description: key.description,
    scope: key.scope,
    buckets: key.buckets,
    branch: key.branch,
    key_prefix: key.prefix,
    created_at: key.createdAt,
    expires_at: key.expiresAt,
    last_used_at: key.lastUsedAt,
    rotated_at: key.rotatedAt,
  };
}
