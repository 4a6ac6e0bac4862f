import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Live values the gauges read when `/metrics` is scraped. */
export interface MetricSources {
  /** Table files attached to the DuckDB instance now. */
  openAttachments(): number;
  /** Table writes holding or waiting for a table's write lock now. */
  pendingTableWrites(): number;
  /** Imports running now. */
  activeImports(): number;
}

/**
 * The service's Prometheus metrics, on a registry of its own (never prom-client's global
 * one), so several apps in one process keep separate counts.
 *
 * Handlers count data-plane work through the counters:
 * `ctx.services.metrics.importedRows.inc(n)`, `importedBytes.inc(n)`, `exportedRows.inc(n)`.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Rows written to tables by imports (counted after the import committed). */
  readonly importedRows: Counter;
  /** Bytes of import bodies read (as received, before decompression). */
  readonly importedBytes: Counter;
  /** Rows streamed out by exports. */
  readonly exportedRows: Counter;
  /** Counts one finished request; `route` is the route pattern, never the raw path. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** The exposition text and its content type, for `GET /metrics`. */
  render(): Promise<{ body: string; contentType: string }>;
}

const PREFIX = 'duckdb_storage_';

export function createMetrics(sources: MetricSources, options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: PREFIX });

  const requests = new Counter({
    name: `${PREFIX}http_requests_total`,
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  });
  const duration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'Time to answer an HTTP request (until the response headers), by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  new Gauge({
    name: `${PREFIX}open_attachments`,
    help: 'Table files attached to the DuckDB instance',
    registers,
    collect() {
      this.set(sources.openAttachments());
    },
  });
  new Gauge({
    name: `${PREFIX}pending_table_writes`,
    help: 'Table writes holding or waiting for a table write lock',
    registers,
    collect() {
      this.set(sources.pendingTableWrites());
    },
  });
  new Gauge({
    name: `${PREFIX}active_imports`,
    help: 'Imports running now',
    registers,
    collect() {
      this.set(sources.activeImports());
    },
  });
  const importedRows = new Counter({ name: `${PREFIX}imported_rows_total`, help: 'Rows loaded into tables by imports', registers });
  const importedBytes = new Counter({ name: `${PREFIX}imported_bytes_total`, help: 'Bytes of import bodies received', registers });
  const exportedRows = new Counter({ name: `${PREFIX}exported_rows_total`, help: 'Rows streamed out by exports', registers });

  return {
    registry,
    importedRows,
    importedBytes,
    exportedRows,
    observeRequest(method, route, status, seconds) {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
    async render() {
      return { body: await registry.metrics(), contentType: registry.contentType };
    },
  };
}
