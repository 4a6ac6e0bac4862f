/** What a finished job (§16) says about its failure: the §1 error object, or null. */
export interface FailedJob {
  id: string;
  status: string;
  error: { error: string; message: string; details?: unknown } | null;
}

/**
 * The one error the client throws for a refused request: the §1 error body (`error` code,
 * `message`, `details`) with the HTTP status and the request id. Status 0 means no HTTP
 * answer carries the failure: a server that cannot be reached (`connection_failed`), a
 * download cut half-way (`stream_failed`), or a job that ended in error (the job's own code,
 * e.g. `import_failed`, with `job` set) or was cancelled (`job_cancelled`).
 */
export class StorageApiError extends Error {
  override readonly name = 'StorageApiError';

  constructor(
    /** HTTP status; 0 when no answer arrived. */
    readonly status: number,
    /** The contract's stable machine code (`bucket_not_found`, `forbidden`, …). */
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> | null = null,
    /** The `X-Request-ID` of the answer, to find the request in the server's log. */
    readonly requestId: string | null = null,
    options?: { cause?: unknown; job?: FailedJob },
  ) {
    super(message, options);
    this.job = options?.job ?? null;
  }

  /** The job whose failure this is, when it is one. */
  readonly job: FailedJob | null;

  /** A job that ended in `error` (its error object) or `cancelled`. */
  static fromJob(job: FailedJob): StorageApiError {
    if (job.status === 'cancelled' || !job.error) {
      return new StorageApiError(0, 'job_cancelled', `Job ${job.id} was cancelled`, { job_id: job.id }, null, { job });
    }
    const details = job.error.details && typeof job.error.details === 'object' ? (job.error.details as Record<string, unknown>) : null;
    return new StorageApiError(0, job.error.error, job.error.message, details, null, { job });
  }

  /** Builds the error from a non-2xx answer, whatever its body looks like. */
  static async fromResponse(response: Response): Promise<StorageApiError> {
    const requestId = response.headers.get('x-request-id');
    const text = await response.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const detail = (parsed as { detail?: unknown } | undefined)?.detail;
    if (detail && typeof detail === 'object' && typeof (detail as { error?: unknown }).error === 'string') {
      const { error, message, details } = detail as { error: string; message?: unknown; details?: unknown };
      return new StorageApiError(
        response.status,
        error,
        typeof message === 'string' ? message : error,
        details && typeof details === 'object' ? (details as Record<string, unknown>) : null,
        requestId,
      );
    }
    // Not the contract's body (a proxy in between, say): keep the status and a short excerpt.
    const excerpt = text.trim().slice(0, 200) || response.statusText || 'no body';
    return new StorageApiError(response.status, `http_${response.status}`, `HTTP ${response.status}: ${excerpt}`, null, requestId);
  }
}
