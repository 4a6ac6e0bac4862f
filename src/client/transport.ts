import { StorageApiError } from './errors.ts';
import { uploadBody, type ProgressCallback, type UploadSource } from './streams.ts';

export interface ClientOptions {
  /** Base URL of the service, e.g. `http://localhost:8000` (a path prefix is kept). */
  url: string;
  /** A project key or the service admin key; sent as `Authorization: Bearer …`. */
  apiKey?: string;
  /** Headers sent with every request (e.g. `x-request-id` or a proxy's own). */
  headers?: Record<string, string>;
  /** A fetch implementation; the global one by default. */
  fetch?: typeof fetch;
  /**
   * A development branch (§14): project routes go to `P/branches/{branch}/…` in place of
   * `P/…`. Routes of the project itself, its keys and its branches stay where they are.
   */
  branch?: string;
}

/** Project routes that have no twin under a branch. */
const NOT_IN_BRANCHES = /^\/projects\/:id\/(?:stats|api-keys|branches)(?:\/|$)/;
const PROJECT_ROUTE = '/projects/:id/';

/** `P/…` → `P/branches/{branch}/…`, the path values shifted to match. */
export function branchRoute(route: string, params: readonly string[], branch: string | undefined): { route: string; params: readonly string[] } {
  if (branch === undefined || branch === 'default' || !route.startsWith(PROJECT_ROUTE) || NOT_IN_BRANCHES.test(route)) return { route, params };
  return { route: `/projects/:id/branches/:branch/${route.slice(PROJECT_ROUTE.length)}`, params: [params[0]!, branch, ...params.slice(1)] };
}

/** Query values as a caller writes them: numbers and booleans are sent as text, lists joined with commas. */
export type QueryValue = string | number | boolean | readonly string[];

export interface RequestSpec {
  query?: Record<string, QueryValue | null | undefined>;
  /** A JSON body. */
  json?: unknown;
  /** A streamed body (imports, uploads). */
  upload?: { source: UploadSource; contentType?: string; contentEncoding?: string; onProgress?: ProgressCallback; size?: number | null };
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** What a request reached, for tests and logging: the route pattern, not the filled-in path. */
export interface RequestTrace {
  method: string;
  route: string;
}

/**
 * Fills `:name` segments of a route pattern with the given values, in order, each
 * percent-encoded (a name can never add a path segment).
 */
export function fillRoute(route: string, params: readonly string[]): string {
  let index = 0;
  const path = route.replace(/:[A-Za-z_]+/g, (name) => {
    const value = params[index++];
    if (typeof value !== 'string' || value === '') throw new TypeError(`Missing value for ${name} in ${route}`);
    return encodeURIComponent(value);
  });
  if (index !== params.length) throw new TypeError(`${route} takes ${index} path values, got ${params.length}`);
  return path;
}

function queryString(query: RequestSpec['query']): string {
  if (!query) return '';
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    search.set(name, Array.isArray(value) ? value.join(',') : String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** One HTTP exchange with the service; every client method goes through `send`. */
export class Transport {
  readonly baseUrl: string;
  readonly options: ClientOptions;
  readonly #apiKey: string | undefined;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;
  /** Called before each request (the client's route-coverage test listens here). */
  onRequest?: (trace: RequestTrace) => void;

  constructor(options: ClientOptions) {
    this.options = options;
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#headers = options.headers ?? {};
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Sends a request and returns the 2xx response; anything else is thrown as StorageApiError. */
  async send(method: string, projectRoute: string, projectParams: readonly string[], spec: RequestSpec = {}): Promise<Response> {
    const { route, params } = branchRoute(projectRoute, projectParams, this.options.branch);
    const url = this.baseUrl + fillRoute(route, params) + queryString(spec.query);
    this.onRequest?.({ method, route });
    const headers: Record<string, string> = { accept: 'application/json', ...this.#headers, ...spec.headers };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: spec.signal };
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(spec.json);
    } else if (spec.upload) {
      const { source, contentType, contentEncoding, onProgress, size } = spec.upload;
      headers['content-type'] = contentType ?? 'application/octet-stream';
      if (contentEncoding) headers['content-encoding'] = contentEncoding;
      init.body = uploadBody(source, onProgress, size);
      // Node's fetch needs this for a streamed body (the request goes out while it is read).
      init.duplex = 'half';
    }
    let response: Response;
    try {
      response = await this.#fetch(url, init);
    } catch (error) {
      if (spec.signal?.aborted) throw error;
      const reason = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
      throw new StorageApiError(0, 'connection_failed', `Cannot reach ${this.baseUrl}: ${reason}`, null, null, { cause: error });
    }
    if (!response.ok) throw await StorageApiError.fromResponse(response);
    return response;
  }

  async json<T>(method: string, route: string, params: readonly string[], spec?: RequestSpec): Promise<T> {
    const response = await this.send(method, route, params, spec);
    return (await response.json()) as T;
  }

  /** For 204 answers. */
  async empty(method: string, route: string, params: readonly string[], spec?: RequestSpec): Promise<void> {
    const response = await this.send(method, route, params, spec);
    await response.body?.cancel();
  }

  async text(method: string, route: string, params: readonly string[], spec?: RequestSpec): Promise<string> {
    const response = await this.send(method, route, params, spec);
    return response.text();
  }
}
