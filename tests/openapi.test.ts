import { Validator } from '@seriousme/openapi-schema-validator';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Handler } from '../src/context.ts';
import { buildOpenApi, DATA_MEDIA_TYPES, documentedRoutes, openApiPath, wireSchema } from '../src/openapi.ts';
import { routes, type RouteDef } from '../src/routes.ts';
import { ProjectIdSchema } from '../src/http/schemas.ts';
import { makeApp, type TestApp } from './helpers.ts';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

async function expectValidOpenApi(doc: unknown) {
  const validator = new Validator();
  const result = await validator.validate(JSON.parse(JSON.stringify(doc)));
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  expect(validator.version).toBe('3.1');
}

describe('GET /openapi.json', () => {
  let t: TestApp;
  let doc: any;
  beforeAll(async () => {
    t = await makeApp();
    const { status, body, response } = await t.callJson('GET', '/openapi.json', { key: null });
    expect(status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    doc = body;
  });
  afterAll(() => t.close());

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe(t.services.version);
    expect(doc.servers).toEqual([{ url: '/' }]);
    await expectValidOpenApi(doc);
  });

  it('documents every route of the table, and nothing else', () => {
    const fromTable = documentedRoutes(routes).map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`).sort();
    const fromDoc = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, item]) => Object.keys(item).filter((k) => METHODS.includes(k)).map((method) => `${method} ${path}`))
      .sort();
    expect(fromDoc).toEqual(fromTable);
    expect(new Set(fromDoc).size).toBe(fromDoc.length);
    for (const path of ['/', '/health', '/openapi.json', '/docs', '/metrics', '/projects', '/projects/{id}/buckets/{bucket}/tables/{table}/preview']) {
      expect(doc.paths[path], path).toBeDefined();
    }
    // Only the page's static files are left out, and they are still served.
    const internal = routes.filter((r) => r.internal);
    expect(internal.map((r) => r.path)).toEqual(['/docs/assets/:file', '/ui/assets/:file']);
  });

  it('each operation carries its route: responses, auth, path and query parameters, body', () => {
    const operationIds = new Set<string>();
    for (const route of documentedRoutes(routes)) {
      const op = doc.paths[openApiPath(route.path)][route.method.toLowerCase()];
      const where = `${route.method} ${route.path}`;
      expect(Object.keys(op.responses).map(Number).sort(), where).toEqual([...route.responses].sort());
      expect(op.security, where).toEqual(route.auth === 'none' ? [] : [{ bearerAuth: [] }]);
      expect(op.summary, where).toBe(route.summary);
      expect(op.tags, where).toEqual([route.tag]);
      expect(operationIds.has(op.operationId), where).toBe(false);
      operationIds.add(op.operationId);

      const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
      const params = (op.parameters ?? []) as any[];
      expect(params.filter((p) => p.in === 'path').map((p) => p.name), where).toEqual(pathParams);
      for (const p of params.filter((p) => p.in === 'path')) expect(p.required).toBe(true);

      const queryNames = route.query ? Object.keys((route.query as unknown as v.ObjectSchema<v.ObjectEntries, undefined>).entries) : [];
      expect(params.filter((p) => p.in === 'query').map((p) => p.name).sort(), where).toEqual(queryNames.sort());

      if (route.path.endsWith('/import')) {
        expect(Object.keys(op.requestBody.content).sort(), where).toEqual([...DATA_MEDIA_TYPES].sort());
      } else if (route.method === 'POST' && route.path === '/projects/:id/files') {
        expect(Object.keys(op.requestBody.content), where).toEqual(['application/octet-stream']);
      } else if (route.body) {
        expect(op.requestBody.content['application/json'].schema, where).toEqual(wireSchema(route.body));
      } else {
        expect(op.requestBody, where).toBeUndefined();
      }

      for (const status of route.responses) {
        const response = op.responses[String(status)];
        expect(response.headers['X-Request-ID'], where).toBeDefined();
        if (status >= 400) {
          expect(response.content['application/json'].schema, `${where} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
        } else if (status === 204 || status === 304) {
          expect(response.content, where).toBeUndefined();
        } else if (route.path.endsWith('/export')) {
          expect(Object.keys(response.content).sort(), where).toEqual([...DATA_MEDIA_TYPES].sort());
        } else {
          // Every success body is described, never a bare `object` placeholder.
          const [media] = Object.values(response.content) as any[];
          expect(media.schema, where).not.toEqual({ type: 'object' });
        }
      }
    }
  });

  it('bodies and parameters come from the valibot schemas that validate requests', () => {
    const create = doc.paths['/projects'].post;
    const body = create.requestBody.content['application/json'].schema;
    expect(create.requestBody.required).toBe(true);
    expect(body.required).toEqual(['id']);
    expect(body.properties.id.pattern).toBe(ProjectIdSchema.pipe[1].requirement.source);
    // Everything optional: an empty body is accepted, so the body is not required.
    expect(doc.paths['/projects/{id}'].put.requestBody.required).toBe(false);

    const list = doc.paths['/projects'].get.parameters as any[];
    expect(list.find((p) => p.name === 'status').schema.enum).toEqual(['active', 'deleted']);
    expect(list.find((p) => p.name === 'limit').schema.default).toBe('100');
    const id = doc.paths['/projects/{id}'].get.parameters.find((p: any) => p.name === 'id');
    expect(id.schema.pattern).toBe('^[A-Za-z0-9_-]{1,64}$');

    const createTable = doc.paths['/projects/{id}/buckets/{bucket}/tables'].post.requestBody.content['application/json'].schema;
    expect(createTable.properties.columns.minItems).toBe(1);
    expect(createTable.properties.columns.maxItems).toBe(1000);
  });

  it('describes the main objects and the error body with examples', () => {
    const { schemas, securitySchemes } = doc.components;
    expect(securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const name of ['Error', 'Project', 'Bucket', 'Table', 'Preview']) expect(schemas[name].examples?.length, name).toBeGreaterThan(0);
    expect(schemas.Error.properties.detail.required).toEqual(['error', 'message']);
    expect(doc.paths['/projects'].post.responses['201'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ProjectCreated' });
    expect(doc.paths['/projects/{id}/buckets/{bucket}/tables/{table}'].get.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Table',
    });
    expect(doc.paths['/projects'].post.responses['401'].headers['WWW-Authenticate']).toBeDefined();
    expect(doc.paths['/metrics'].get.responses['200'].content['text/plain']).toBeDefined();
    expect(doc.paths['/docs'].get.responses['200'].content['text/html']).toBeDefined();
  });
});

describe('document generation from a route table', () => {
  const handler: Handler = () => new Response(null);
  const T = '/projects/:id/buckets/:bucket/tables/:table';
  const table: RouteDef[] = [
    { method: 'GET', path: '/', auth: 'none', scope: null, handler, summary: 'root', tag: 'service', responses: [200] },
    {
      method: 'POST', path: `${T}/import`, auth: 'project', scope: 'write', handler, summary: 'import', tag: 'data', responses: [200, 400, 429],
      query: v.object({ format: v.optional(v.picklist(['csv', 'ndjson', 'parquet'])), incremental: v.optional(v.picklist(['true', 'false']), 'false') }),
    },
    {
      method: 'POST', path: `${T}/export`, auth: 'project', scope: 'read', handler, summary: 'export', tag: 'data', responses: [200, 422],
      body: v.object({ format: v.optional(v.picklist(['csv', 'ndjson', 'parquet'])), gzip: v.optional(v.boolean()) }),
    },
    { method: 'GET', path: '/x/assets/:file', auth: 'none', scope: null, handler, summary: 'asset', tag: 'service', responses: [200], internal: true },
  ];
  const doc = buildOpenApi(table, { version: '9.9.9', basePath: '/storage' });

  it('the validator does catch a broken document', async () => {
    const broken = JSON.parse(JSON.stringify(doc));
    delete broken.paths['/'].get.responses['200'].description;
    const result = await new Validator().validate(broken);
    expect(result.valid).toBe(false);
  });

  it('follows a route table it was never told about', async () => {
    expect(Object.keys(doc.paths).sort()).toEqual(['/', `${openApiPath(T)}/export`, `${openApiPath(T)}/import`]);
    expect(doc.servers).toEqual([{ url: '/storage' }]);
    await expectValidOpenApi(doc);
  });

  it('documents import bodies and export responses as the raw data formats', () => {
    const imp = doc.paths[`${openApiPath(T)}/import`].post;
    expect(Object.keys(imp.requestBody.content)).toEqual([...DATA_MEDIA_TYPES]);
    expect(imp.parameters.map((p: any) => `${p.in}:${p.name}`)).toEqual(['path:id', 'path:bucket', 'path:table', 'query:format', 'query:incremental']);
    expect(imp.responses['429'].headers['Retry-After']).toBeDefined();
    const exp = doc.paths[`${openApiPath(T)}/export`].post;
    expect(Object.keys(exp.responses['200'].content)).toEqual(['text/csv', 'application/x-ndjson', 'application/vnd.apache.parquet']);
    expect(exp.responses['200'].headers['Content-Disposition']).toBeDefined();
    expect(exp.requestBody.content['application/json'].schema.properties.format.enum).toEqual(['csv', 'ndjson', 'parquet']);
  });
});

describe('the document under a mount point', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp({ basePath: '/storage' });
  });
  afterAll(() => t.close());

  it('names the mount point as its server', async () => {
    const { status, body } = await t.callJson('GET', '/openapi.json', { key: null });
    expect(status).toBe(200);
    expect(body.servers).toEqual([{ url: '/storage' }]);
    expect(body.paths['/health']).toBeDefined();
  });
});
