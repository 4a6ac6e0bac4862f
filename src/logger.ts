import pino, { type DestinationStream, type Logger } from 'pino';
import type { Principal } from './auth/guards.ts';
import { safeKeyPrefix } from './auth/keys.ts';

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

const PROJECT_KEY = /^proj_([A-Za-z0-9_-]{1,64})_admin_[0-9a-f]{32}$/;

/**
 * Who a request claimed to be, safe to log: `admin` for the admin key, the safe prefix
 * `proj_{id}_admin_...` for anything shaped like a project key (even a refused one), else
 * nothing. Never the key itself.
 */
export function callerForLog(authorization: string | null, principal?: Principal): string | undefined {
  if (principal?.kind === 'admin') return 'admin';
  if (principal?.kind === 'project') return safeKeyPrefix(principal.projectId);
  const token = /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
  const claimed = token && PROJECT_KEY.exec(token)?.[1];
  return claimed ? safeKeyPrefix(claimed) : undefined;
}
