// What the benchmark sections share: the admin key of their servers and a JSON call.

export const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

/** One JSON call with the admin key; anything but 2xx throws with the answer. */
export async function api(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
