import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadEnv, parseByteSize, parseConfig } from '../src/config.ts';
import { openServices } from '../src/services.ts';
import { captureLogger, testConfig } from './helpers.ts';
import { childEnv, run } from './spawn.ts';

const REPO = resolve(import.meta.dirname, '..');

function configError(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('parseConfig', () => {
  it('has the defaults of CONTRACT §10', () => {
    const config = parseConfig({});
    expect(config).toEqual({
      adminApiKey: undefined,
      dataDir: resolve('./data'),
      debug: true,
      host: '0.0.0.0',
      port: 8000,
      duckdbThreads: 4,
      duckdbMemoryLimit: '4GB',
      maxImportBytes: 10e9,
      maxConcurrentImports: 4,
      maxConcurrentQueries: 4,
      queryMemoryLimit: '1GB',
      maxFileBytes: 10e9,
      fileRetentionDays: 15,
      maxConcurrentJobs: 4,
      maxQueuedJobs: 1000,
      tableIdleDetachMs: 1000,
      maxOpenTables: 256,
      logLevel: 'debug',
    });
  });

  it('LOG_LEVEL defaults to info when DEBUG is off, and can be set', () => {
    expect(parseConfig({ DEBUG: 'false' }).logLevel).toBe('info');
    expect(parseConfig({ DEBUG: 'false' }).debug).toBe(false);
    expect(parseConfig({ DEBUG: 'true', LOG_LEVEL: 'WARN' }).logLevel).toBe('warn');
  });

  it('reads every variable', () => {
    const config = parseConfig({
      ADMIN_API_KEY: 'a-long-enough-admin-key',
      DATA_DIR: '/srv/storage',
      DEBUG: '0',
      HOST: '127.0.0.1',
      PORT: '9000',
      DUCKDB_THREADS: '2',
      DUCKDB_MEMORY_LIMIT: '512MiB',
      MAX_IMPORT_BYTES: '1GB',
      MAX_CONCURRENT_IMPORTS: '8',
      MAX_CONCURRENT_QUERIES: '3',
      QUERY_MEMORY_LIMIT: '256MB',
      MAX_FILE_BYTES: '2GiB',
      FILE_RETENTION_DAYS: '30',
      MAX_CONCURRENT_JOBS: '2',
      MAX_QUEUED_JOBS: '50',
      TABLE_IDLE_DETACH_MS: '250',
      MAX_OPEN_TABLES: '32',
      LOG_LEVEL: 'error',
    });
    expect(config).toEqual({
      adminApiKey: 'a-long-enough-admin-key',
      dataDir: '/srv/storage',
      debug: false,
      host: '127.0.0.1',
      port: 9000,
      duckdbThreads: 2,
      duckdbMemoryLimit: '512MiB',
      maxImportBytes: 1e9,
      maxConcurrentImports: 8,
      maxConcurrentQueries: 3,
      queryMemoryLimit: '256MB',
      maxFileBytes: 2 * 1024 ** 3,
      fileRetentionDays: 30,
      maxConcurrentJobs: 2,
      maxQueuedJobs: 50,
      tableIdleDetachMs: 250,
      maxOpenTables: 32,
      logLevel: 'error',
    });
  });

  it('refuses a malformed QUERY_MEMORY_LIMIT or MAX_CONCURRENT_QUERIES, naming the variable', () => {
    expect(() => parseConfig({ QUERY_MEMORY_LIMIT: 'lots' })).toThrow(/QUERY_MEMORY_LIMIT/);
    expect(() => parseConfig({ MAX_CONCURRENT_QUERIES: '0' })).toThrow(/MAX_CONCURRENT_QUERIES/);
    expect(parseConfig({ QUERY_MEMORY_LIMIT: '1048576' }).queryMemoryLimit).toBe('1048576B');
  });

  it('keeps table files warm for 1 s, at most 256 of them, unless told otherwise', () => {
    expect(parseConfig({})).toMatchObject({ tableIdleDetachMs: 1000, maxOpenTables: 256 });
    expect(parseConfig({ TABLE_IDLE_DETACH_MS: '0' }).tableIdleDetachMs).toBe(0);
    expect(() => parseConfig({ MAX_OPEN_TABLES: '0' })).toThrow(/MAX_OPEN_TABLES/);
    expect(() => parseConfig({ TABLE_IDLE_DETACH_MS: 'soon' })).toThrow(/TABLE_IDLE_DETACH_MS/);
  });

  it('ignores variables it does not know', () => {
    expect(parseConfig({ PATH: '/bin', SOMETHING_ELSE: 'x' }).port).toBe(8000);
  });

  for (const [variable, value] of [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['DUCKDB_MEMORY_LIMIT', 'lots'],
    ['DUCKDB_MEMORY_LIMIT', '4XB'],
    ['DUCKDB_MEMORY_LIMIT', '-4GB'],
    ['DUCKDB_THREADS', '0'],
    ['DEBUG', 'maybe'],
    ['MAX_IMPORT_BYTES', 'huge'],
    ['MAX_CONCURRENT_IMPORTS', 'x'],
    ['MAX_FILE_BYTES', '0'],
    ['FILE_RETENTION_DAYS', '0'],
    ['FILE_RETENTION_DAYS', '1.5'],
    ['MAX_CONCURRENT_JOBS', '0'],
    ['MAX_QUEUED_JOBS', 'many'],
    ['LOG_LEVEL', 'loud'],
    ['ADMIN_API_KEY', 'short'],
  ] as const) {
    it(`refuses ${variable}=${value} with a message naming the variable`, () => {
      const error = configError({ [variable]: value });
      expect(error.message).toContain(variable);
      // It quotes what was set, not what a conversion made of it; never the admin key.
      if (variable === 'ADMIN_API_KEY') expect(error.message).not.toContain(value);
      else expect(error.message).toContain(JSON.stringify(value));
    });
  }

  it('never repeats an invalid admin key', () => {
    const error = configError({ ADMIN_API_KEY: 'has a space in the middle of it' });
    expect(error.message).toContain('ADMIN_API_KEY');
    expect(error.message).not.toContain('has a space');
  });

  it('names every offending variable at once', () => {
    const error = configError({ PORT: 'abc', DUCKDB_MEMORY_LIMIT: 'lots' });
    expect(error.message).toContain('PORT');
    expect(error.message).toContain('DUCKDB_MEMORY_LIMIT');
  });

  it('a bare number of bytes is a memory limit DuckDB accepts', async () => {
    expect(parseConfig({ DUCKDB_MEMORY_LIMIT: '536870912' }).duckdbMemoryLimit).toBe('536870912B');
    const root = await mkdtemp(join(tmpdir(), 'dsa-config-'));
    try {
      const services = await openServices(testConfig(join(root, 'data'), { DUCKDB_MEMORY_LIMIT: '536870912' }), captureLogger().logger);
      const setting = await services.db.with(async (c) => (await c.runAndReadAll("SELECT current_setting('memory_limit')")).getRows()[0]![0]);
      expect(setting).toBe('512.0 MiB');
      await services.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('the catalog has its own one-thread DuckDB instance on metadata.duckdb; table files attach to the storage instance, which spills into the data folder', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dsa-config-'));
    try {
      const dataDir = join(root, 'data');
      const services = await openServices(testConfig(dataDir, { DUCKDB_THREADS: '3' }), captureLogger().logger);
      const settings = (db: typeof services.db) =>
        db.with(async (c) => (await c.runAndReadAll("SELECT current_setting('threads')::INTEGER AS threads, current_database() AS name, current_setting('temp_directory') AS temp")).getRowObjectsJS()[0]!);
      expect(services.catalog.store.db).not.toBe(services.db);
      expect(await settings(services.catalog.store.db)).toMatchObject({ threads: 1, name: 'metadata' });
      // DUCKDB_THREADS, at most one per core (tests/storage-threads.test.ts).
      expect(await settings(services.db)).toEqual({ threads: Math.min(3, availableParallelism()), name: 'memory', temp: join(dataDir, 'metadata.duckdb.tmp') });
      await services.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('parseByteSize reads decimal and binary units', () => {
    expect(parseByteSize('10GB')).toBe(10e9);
    expect(parseByteSize('512MiB')).toBe(512 * 1024 * 1024);
    expect(parseByteSize('1048576')).toBe(1048576);
    expect(parseByteSize('1.5kb')).toBe(1500);
    expect(parseByteSize('4 GB')).toBe(4e9);
    expect(parseByteSize('0')).toBeUndefined();
    expect(parseByteSize('GB')).toBeUndefined();
    expect(parseByteSize('4PB')).toBeUndefined();
  });
});

describe('loadEnv (.env in the working folder)', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'dsa-dotenv-'));
    await writeFile(
      join(cwd, '.env'),
      ['# comment', 'PORT=9001', 'DATA_DIR=/from/dotenv', 'LOG_LEVEL=warn', 'ADMIN_API_KEY="quoted-admin-key-123456"', ''].join('\n'),
    );
  });
  afterAll(() => rm(cwd, { recursive: true, force: true }));

  it('reads .env and the environment wins', () => {
    const env = loadEnv({ PORT: '9002', HOST: '10.0.0.1' }, cwd);
    expect(env.PORT).toBe('9002');
    expect(env.HOST).toBe('10.0.0.1');
    expect(env.DATA_DIR).toBe('/from/dotenv');
    expect(env.LOG_LEVEL).toBe('warn');
    expect(env.ADMIN_API_KEY).toBe('quoted-admin-key-123456');
    const config = parseConfig(env);
    expect(config.port).toBe(9002);
    expect(config.dataDir).toBe('/from/dotenv');
    expect(config.adminApiKey).toBe('quoted-admin-key-123456');
  });

  it('an empty variable counts as unset', () => {
    const env = loadEnv({ HOST: '' }, cwd);
    expect(env.HOST).toBeUndefined();
    expect(parseConfig(env).host).toBe('0.0.0.0');
  });

  it('no .env is fine', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'dsa-noenv-'));
    try {
      expect(loadEnv({ PORT: '1234' }, empty)).toEqual({ PORT: '1234' });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('an invalid value in .env is refused naming the variable', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'dsa-badenv-'));
    try {
      await writeFile(join(bad, '.env'), 'DUCKDB_MEMORY_LIMIT=plenty\n');
      expect(() => parseConfig(loadEnv({}, bad))).toThrow(/DUCKDB_MEMORY_LIMIT/);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });
});

describe('main refuses an invalid configuration at start', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-main-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('PORT=abc exits non-zero with the variable name on stderr, creating nothing', async () => {
    const dataDir = join(root, 'data');
    const child = run(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: REPO,
      env: childEnv({ PORT: 'abc', DATA_DIR: dataDir }),
    });
    const code = await child.exited;
    expect(code).not.toBe(0);
    expect(typeof code).toBe('number');
    expect(child.stderr()).toContain('PORT');
    expect(child.stderr()).toContain('"abc"');
    const { existsSync } = await import('node:fs');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a malformed DUCKDB_MEMORY_LIMIT in .env stops it the same way', async () => {
    const cwd = join(root, 'with-env');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(cwd);
    await writeFile(join(cwd, '.env'), 'DUCKDB_MEMORY_LIMIT=lots\n');
    const tsx = import.meta.resolve('tsx');
    const child = run(process.execPath, ['--import', tsx, join(REPO, 'src/main.ts')], {
      cwd,
      env: childEnv({ DATA_DIR: join(root, 'data2'), PORT: '0' }),
    });
    expect(await child.exited).not.toBe(0);
    expect(child.stderr()).toContain('DUCKDB_MEMORY_LIMIT');
  });
});

describe('docker-compose.yml', () => {
  it('has no literal default admin key: unset, the service generates one into /data/admin.key', async () => {
    const { readFile } = await import('node:fs/promises');
    const compose = await readFile(join(REPO, 'docker-compose.yml'), 'utf8');
    const entries = compose.split('\n').filter((line) => /^\s*-?\s*ADMIN_API_KEY\s*[:=]/.test(line) && !line.trim().startsWith('#'));
    expect(entries, 'the compose file passes ADMIN_API_KEY through').toHaveLength(1);
    const value = entries[0]!.replace(/^\s*-?\s*ADMIN_API_KEY\s*[:=]\s*/, '').trim().replace(/^(["'])(.*)\1$/, '$2');
    // Only the variable itself, with at most an empty default: `${ADMIN_API_KEY}` or `${ADMIN_API_KEY:-}`.
    expect(value).toMatch(/^\$\{ADMIN_API_KEY(:?-)?\}$/);
    // What compose passes when the variable is unset: an empty value, which the service
    // (main: parseConfig(loadEnv())) takes as unset, so it generates a key.
    expect(parseConfig(loadEnv({ ADMIN_API_KEY: '', DATA_DIR: '/data' }, tmpdir())).adminApiKey).toBeUndefined();
  });
});
