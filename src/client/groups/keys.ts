import type { Transport } from '../transport.ts';
import type { ApiKey, ApiKeyList, CreateApiKeyInput, CreatedApiKey, CurrentKey } from '../types.ts';

const K = '/projects/:id/api-keys';

/** §11 API keys. The secret is in the answers of `create` and `rotate`, and never again. */
export const keysApi = (t: Transport) => ({
  create: (projectId: string, body: CreateApiKeyInput) => t.json<CreatedApiKey>('POST', K, [projectId], { json: body }),
  list: (projectId: string) => t.json<ApiKeyList>('GET', K, [projectId]),
  /** The calling key (works for every scope). */
  current: (projectId: string) => t.json<CurrentKey>('GET', `${K}/current`, [projectId]),
  get: (projectId: string, keyId: string) => t.json<ApiKey>('GET', `${K}/:key_id`, [projectId, keyId]),
  /** Revokes the key at once. */
  delete: (projectId: string, keyId: string) => t.empty('DELETE', `${K}/:key_id`, [projectId, keyId]),
  /** A new secret; the old one stops working at once. */
  rotate: (projectId: string, keyId: string) => t.json<CreatedApiKey>('POST', `${K}/:key_id/rotate`, [projectId, keyId]),
});
