import type { Transport } from '../transport.ts';
import type { BackendInit, BackendRemove, Health, ServiceInfo } from '../types.ts';

/** §3 service endpoints. */
export const serviceApi = (t: Transport) => ({
  /** GET / */
  info: () => t.json<ServiceInfo>('GET', '/', []),
  /** GET /health — a 503 `storage_unavailable` is thrown like any refusal. */
  health: () => t.json<Health>('GET', '/health', []),
  /** POST /backend/init (admin key) */
  init: () => t.json<BackendInit>('POST', '/backend/init', []),
  /** POST /backend/remove (admin key; deletes nothing) */
  remove: () => t.json<BackendRemove>('POST', '/backend/remove', []),
  /** GET /openapi.json */
  openapi: () => t.json<Record<string, unknown>>('GET', '/openapi.json', []),
  /** GET /docs — the HTML reference page. */
  docs: () => t.text('GET', '/docs', [], { headers: { accept: 'text/html' } }),
  /** GET /ui — the data explorer page (HTML). */
  ui: () => t.text('GET', '/ui', [], { headers: { accept: 'text/html' } }),
  /** GET /metrics (admin key) — Prometheus text. */
  metrics: () => t.text('GET', '/metrics', [], { headers: { accept: 'text/plain' } }),
});
