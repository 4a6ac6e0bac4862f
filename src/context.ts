import type { Logger } from 'pino';
import type { Principal } from './auth/guards.ts';
import type { Services } from './services.ts';
import type { StorageSession } from './storage/session.ts';

/** What a handler receives besides the request. Built per request by `app`. */
export interface HandlerContext {
  services: Services;
  requestId: string;
  /** Raw path parameters (validate before use). */
  params: Record<string, string>;
  /**
   * The branch the request addresses (§14): the raw `{branch}` of a route under
   * `P/branches/{branch}/…` until the project lookup validates it (then its id), absent
   * (main) elsewhere. Handlers read it here, never from the path.
   */
  branch?: string;
  /** Who called; `undefined` on routes without authentication. */
  principal?: Principal;
  /** The request's table attachments, released when the request ends. */
  storage: StorageSession;
  log: Logger;
  /** Filled by handlers for the request log line. */
  logFields: Record<string, unknown>;
}

export type Handler = (request: Request, ctx: HandlerContext) => Response | Promise<Response>;
