import pino, { type DestinationStream, type Logger } from 'pino';

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
