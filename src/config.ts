import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import * as v from 'valibot';

const SIZE_UNITS: Record<string, number> = {
  B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3, TIB: 1024 ** 4,
};

/** `10GB`, `512MiB`, `1048576` → bytes; undefined when malformed. */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  if (!match) return undefined;
  const unit = SIZE_UNITS[(match[2] || 'B').toUpperCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return bytes > 0 ? bytes : undefined;
}

const Bool = v.pipe(
  v.string(),
  v.trim(),
  v.toLowerCase(),
  v.picklist(['true', 'false', '1', '0', 'yes', 'no'], 'must be true or false'),
  v.transform((s) => s === 'true' || s === '1' || s === 'yes'),
);
const Int = (min: number, max: number) =>
  v.pipe(v.string(), v.trim(), v.regex(/^\d+$/, 'must be a whole number'), v.transform(Number), v.minValue(min, `must be at least ${min}`), v.maxValue(max, `must be at most ${max}`));
const Bytes = v.pipe(
  v.string(),
  v.transform((s) => parseByteSize(s) ?? -1),
  v.minValue(1, 'must be a size such as 4GB, 512MB or a number of bytes'),
);

const MemoryLimit = v.pipe(
  v.string(),
  v.trim(),
  v.check((s) => parseByteSize(s) !== undefined, 'must be a size such as 4GB or 512MB'),
  // DuckDB refuses a bare number ("Failed to set config"), which would stop the start
  // without naming the variable: give it the unit it means.
  v.transform((s) => (/[A-Za-z]/.test(s) ? s : `${parseByteSize(s)}B`)),
);

const EnvSchema = v.object({
  ADMIN_API_KEY: v.optional(v.pipe(v.string(), v.trim(), v.minLength(16, 'must be at least 16 characters'), v.regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'))),
  DATA_DIR: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1, 'must not be empty')), './data'),
  DEBUG: v.optional(Bool, 'true'),
  HOST: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1, 'must not be empty')), '0.0.0.0'),
  PORT: v.optional(Int(0, 65535), '8000'),
  DUCKDB_THREADS: v.optional(Int(1, 1024), '4'),
  DUCKDB_MEMORY_LIMIT: v.optional(MemoryLimit, '4GB'),
  MAX_IMPORT_BYTES: v.optional(Bytes, '10GB'),
  MAX_CONCURRENT_IMPORTS: v.optional(Int(1, 1000), '4'),
  MAX_CONCURRENT_QUERIES: v.optional(Int(1, 1000), '4'),
  QUERY_MEMORY_LIMIT: v.optional(MemoryLimit, '1GB'),
  MAX_FILE_BYTES: v.optional(Bytes, '10GB'),
  FILE_RETENTION_DAYS: v.optional(Int(1, 36500), '15'),
  MAX_CONCURRENT_JOBS: v.optional(Int(1, 1000), '4'),
  MAX_QUEUED_JOBS: v.optional(Int(1, 1_000_000), '1000'),
  LOG_LEVEL: v.optional(v.pipe(v.string(), v.trim(), v.toLowerCase(), v.picklist(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'must be one of trace, debug, info, warn, error, fatal, silent'))),
});

export interface Config {
  adminApiKey: string | undefined;
  dataDir: string;
  debug: boolean;
  host: string;
  port: number;
  duckdbThreads: number;
  duckdbMemoryLimit: string;
  maxImportBytes: number;
  maxConcurrentImports: number;
  /** SQL queries and workspace queries running at once before 429 (§17). */
  maxConcurrentQueries: number;
  /** Memory limit of each SQL sandbox instance, in DuckDB's syntax (§17). */
  queryMemoryLimit: string;
  /** Largest file upload (§15). */
  maxFileBytes: number;
  /** Days a file that is not permanent is kept (§15). */
  fileRetentionDays: number;
  /** Asynchronous jobs running at once (§16). */
  maxConcurrentJobs: number;
  /** Waiting jobs before a submission answers 429 (§16). */
  maxQueuedJobs: number;
  logLevel: string;
}

export class ConfigError extends Error {}

/** Reads `.env` (if present) under the environment: a variable set in the environment wins. */
export function loadEnv(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Record<string, string | undefined> {
  let fromFile: Record<string, string> = {};
  try {
    fromFile = parseEnv(readFileSync(resolve(cwd, '.env'), 'utf8')) as Record<string, string>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`.env: ${(error as Error).message}`);
  }
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) merged[key] = value;
  // An empty value means "unset", as in most .env tooling.
  for (const key of Object.keys(merged)) if (merged[key] === '') delete merged[key];
  return merged;
}

/** Validates the environment; the error names every offending variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const picked = Object.fromEntries(Object.keys(EnvSchema.entries).map((k) => [k, env[k]]).filter(([, value]) => value !== undefined));
  const result = v.safeParse(EnvSchema, picked);
  if (!result.success) {
    // Quote what was set (not what a transform made of it), and never the admin key.
    const lines = result.issues.map((issue) => {
      const name = v.getDotPath(issue);
      const got = name === 'ADMIN_API_KEY' ? '' : ` (got ${JSON.stringify(name ? picked[name] : issue.input)})`;
      return `${name ?? 'environment'}: ${issue.message}${got}`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const c = result.output;
  return {
    adminApiKey: c.ADMIN_API_KEY,
    dataDir: resolve(c.DATA_DIR),
    debug: c.DEBUG,
    host: c.HOST,
    port: c.PORT,
    duckdbThreads: c.DUCKDB_THREADS,
    duckdbMemoryLimit: c.DUCKDB_MEMORY_LIMIT,
    maxImportBytes: c.MAX_IMPORT_BYTES,
    maxConcurrentImports: c.MAX_CONCURRENT_IMPORTS,
    maxConcurrentQueries: c.MAX_CONCURRENT_QUERIES,
    queryMemoryLimit: c.QUERY_MEMORY_LIMIT,
    maxFileBytes: c.MAX_FILE_BYTES,
    fileRetentionDays: c.FILE_RETENTION_DAYS,
    maxConcurrentJobs: c.MAX_CONCURRENT_JOBS,
    maxQueuedJobs: c.MAX_QUEUED_JOBS,
    logLevel: c.LOG_LEVEL ?? (c.DEBUG ? 'debug' : 'info'),
  };
}
