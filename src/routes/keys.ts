import { CreateApiKeySchema, createKey } from '../../handlers/keys/create.ts';
import { getCurrentKey } from '../../handlers/keys/current.ts';
import { deleteKey } from '../../handlers/keys/delete.ts';
import { getKey } from '../../handlers/keys/get.ts';
import { listKeys } from '../../handlers/keys/list.ts';
import { rotateKey } from '../../handlers/keys/rotate.ts';
import type { RouteDef } from '../routes.ts';

const K = '/projects/:id/api-keys';

/** §11 API keys. `current` comes before `:key_id`, which would otherwise match it. */
export const keyRoutes: RouteDef[] = [
  { method: 'POST', path: K, auth: 'project', scope: 'admin', handler: createKey, body: CreateApiKeySchema, summary: 'Create an API key (the secret is shown once)', tag: 'api-keys', responses: [201, 401, 403, 404, 413, 415, 422] },
  { method: 'GET', path: K, auth: 'project', scope: 'admin', handler: listKeys, summary: "List the project's API keys", tag: 'api-keys', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: `${K}/current`, auth: 'project', scope: 'read', branchRestrictedKeys: 'allowed', handler: getCurrentKey, summary: 'The calling key', tag: 'api-keys', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: `${K}/:key_id`, auth: 'project', scope: 'admin', handler: getKey, summary: 'Get an API key', tag: 'api-keys', responses: [200, 401, 403, 404, 422] },
  { method: 'DELETE', path: `${K}/:key_id`, auth: 'project', scope: 'admin', handler: deleteKey, summary: 'Revoke an API key', tag: 'api-keys', responses: [204, 401, 403, 404, 409, 422] },
  { method: 'POST', path: `${K}/:key_id/rotate`, auth: 'project', scope: 'admin', handler: rotateKey, summary: 'Rotate an API key (new secret, old one dead at once)', tag: 'api-keys', responses: [200, 401, 403, 404, 422] },
];
