import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Live values the gauges read when `/metrics` is scraped. */
export interface MetricSources {
  /** Table files attached to the DuckDB instance now. */
  openAttachments(): number;
  /** Table writes holding or waiting for a table's write lock now. */
  pendingTableWrites(): number;
  /** Imports running now. */
  activeImports(): number;
  /** Jobs waiting in the queue now (§16). */
  waitingJobs?(): number;
  /** Jobs running now (§16). */
  runningJobs?(): number;
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
  /** Counts one job that reached a final state, and how long it ran. */
  observeJob(operation: string, status: string, seconds: number): void;
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
  new Gauge({
    name: `${PREFIX}jobs_waiting`,
    help: 'Asynchronous jobs waiting in the queue',
    registers,
    collect() {
      this.set(sources.waitingJobs?.() ?? 0);
    },
  });
  new Gauge({
    name: `${PREFIX}jobs_running`,
    help: 'Asynchronous jobs running now',
    registers,
    collect() {
      this.set(sources.runningJobs?.() ?? 0);
    },
  });
  const jobs = new Counter({
    name: `${PREFIX}jobs_total`,
    help: 'Asynchronous jobs that reached a final state, by operation and status',
    labelNames: ['operation', 'status'] as const,
    registers,
  });
  const jobDuration = new Histogram({
    name: `${PREFIX}job_duration_seconds`,
    help: 'Time from a job starting to its final state, by operation and status (0 for jobs cancelled while waiting)',
    labelNames: ['operation', 'status'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers,
  });
  const importedRows = new Counter({ name: `${PREFIX}imported_rows_total`, help: 'Rows loaded into tables by imports', registers });
  const importedBytes = new Counter({ name: `${PREFIX}imported_bytes_total`, help: 'Bytes of import bodies received', registers });
  const exportedRows = new Counter({ name: `${PREFIX}exported_rows_total`, help: 'Rows streamed out by exports', registers });

  return {
    registry,
    importedRows,
    importedBytes,
    exportedRows,
    observeJob(operation, status, seconds) {
      jobs.inc({ operation, status });
      jobDuration.observe({ operation, status }, seconds);
    },
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
