// The explorer's only way to the service: fetch with the key in the Authorization header.
// The key is never put into a URL, a cookie or anything the server logs.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const enc = encodeURIComponent;

export class Api {
  constructor(
    /** The service root: the folder the page is served from (`/ui` → `/`, `/storage/ui` → `/storage/`). */
    private readonly root: URL,
    private readonly key: string,
  ) {}

  async request<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body);
    if (response.status === 204) return null as T;
    const text = await response.text();
    let data: any = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) throw errorOf(response.status, data, text);
    return data as T;
  }

  /** A streamed export as a Blob and the file name the service gave it. */
  async download(method: string, path: string, body: unknown, fallbackName: string): Promise<{ blob: Blob; name: string }> {
    const response = await this.send(method, path, body);
    if (!response.ok) {
      const text = await response.text();
      let data: any = null;
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
      throw errorOf(response.status, data, text);
    }
    const disposition = response.headers.get('content-disposition') ?? '';
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
    return { blob: await response.blob(), name };
  }

  private async send(method: string, path: string, body: unknown): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(new URL(path.replace(/^\/+/, ''), this.root), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (error) {
      throw new ApiError(0, 'network_error', error instanceof Error ? error.message : String(error));
    }
  }
}

function errorOf(status: number, data: any, text: string): ApiError {
  const detail = data?.detail;
  if (detail && typeof detail.error === 'string') return new ApiError(status, detail.error, String(detail.message ?? ''));
  return new ApiError(status, `http_${status}`, text.slice(0, 200));
}

/** `proj_{project id}_{scope}_{32 hex}` (§11): the project a key belongs to, when it says. */
export function projectOfKey(key: string): string | null {
  const match = /^proj_([A-Za-z0-9_-]{1,64})_(admin|write|read)_[0-9a-f]{32}$/.exec(key);
  return match ? match[1]! : null;
}
