import type { Download } from './types.ts';

/** `attachment; filename="orders.csv"` → `orders.csv` (also the RFC 5987 `filename*` form). */
export function dispositionFilename(header: string | null): string | null {
  if (!header) return null;
  const extended = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
  if (extended) {
    try {
      return decodeURIComponent(extended[1]!.trim());
    } catch {
      /* fall through to the plain form */
    }
  }
  const plain = /filename\s*=\s*"((?:[^"\\]|\\.)*)"|filename\s*=\s*([^;]+)/.exec(header);
  if (!plain) return null;
  return plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : plain[2]!.trim();
}

export function asDownload(response: Response): Download {
  if (!response.body) throw new TypeError('The answer has no body to download');
  const length = response.headers.get('content-length');
  return {
    body: response.body,
    contentType: response.headers.get('content-type'),
    filename: dispositionFilename(response.headers.get('content-disposition')),
    size: length !== null && /^\d+$/.test(length) ? Number(length) : null,
    response,
  };
}
