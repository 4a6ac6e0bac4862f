import pino, { type DestinationStream, type Logger } from 'pino';
import type { Principal } from './auth/guards.ts';
import { safeKeyPrefix } from './auth/keys.ts';
import type { Scope } from './auth/scopes.ts';

/**
 * JSON lines on stdout. Authorization headers and anything named like a key are redacted
 * should they ever be passed to a log call.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'duckdb-storage-api' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['authorization', 'api_key', 'apiKey', 'adminKey', 'key', '*.authorization', '*.api_key'], censor: '[redacted]' },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

const PROJECT_KEY = /^proj_([A-Za-z0-9_-]{1,64})_(admin|write|read)_[0-9a-f]{32}$/;

/**
 * Who a request claimed to be, safe to log: `admin` for the admin key, the safe prefix
 * `proj_{id}_{scope}_...` for anything shaped like a project key (even a refused one), else
 * nothing. Never the key itself; the key's id goes into its own field (`keyIdForLog`).
 */
export function callerForLog(authorization: string | null, principal?: Principal): string | undefined {
  if (principal?.kind === 'admin') return 'admin';
  if (principal?.kind === 'project') return principal.key?.prefix ?? safeKeyPrefix(principal.projectId);
  const token = /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
  const claimed = token ? PROJECT_KEY.exec(token) : null;
  return claimed ? safeKeyPrefix(claimed[1]!, claimed[2] as Scope) : undefined;
}

/** The id of the key that authenticated the request, when it was a project key. */
export const keyIdForLog = (principal?: Principal): string | undefined => (principal?.kind === 'project' ? principal.key?.id : undefined);
