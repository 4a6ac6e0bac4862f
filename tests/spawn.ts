// Helpers for tests that run the service as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** Variables of CONTRACT §10: removed from a child's environment unless a test sets them. */
export const CONFIG_VARS = [
  'ADMIN_API_KEY',
  'DATA_DIR',
  'DEBUG',
  'HOST',
  'PORT',
  'DUCKDB_THREADS',
  'DUCKDB_MEMORY_LIMIT',
  'MAX_IMPORT_BYTES',
  'MAX_CONCURRENT_IMPORTS',
  'MAX_FILE_BYTES',
  'FILE_RETENTION_DAYS',
  'MAX_CONCURRENT_JOBS',
  'MAX_QUEUED_JOBS',
  'LOG_LEVEL',
];

export function childEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARS) delete env[name];
  return { ...env, ...vars };
}

/** A port that was free a moment ago: listen on 0, note the port, close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Child {
  process: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** Resolves once `predicate` holds for the output; rejects when the child exits first or on timeout. */
  waitFor(predicate: (output: string) => boolean, timeoutMs?: number): Promise<void>;
}

export function run(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd: string }): Child {
  const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    notify();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
    notify();
  });
  let exitValue: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => {
      exitValue = code ?? signal ?? -1;
      notify();
      resolve(exitValue);
    });
  });
  const output = () => out + err;
  return {
    process: child,
    output,
    stderr: () => err,
    exited,
    waitFor(predicate, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting; output so far:\n${output()}`));
        }, timeoutMs);
        function check() {
          if (predicate(output())) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          } else if (exitValue !== undefined) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`exited with ${exitValue} first; output:\n${output()}`));
          }
        }
        waiters.add(check);
        check();
      });
    },
  };
}

/** JSON log lines of an output (other lines skipped). */
export function logRecords(output: string): Record<string, unknown>[] {
  const records: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    try {
      const value = JSON.parse(line);
      if (value && typeof value === 'object') records.push(value);
    } catch {
      /* not a log line */
    }
  }
  return records;
}

export interface SourceServer {
  child: Child;
  url: string;
}

const REPO_ROOT = new URL('..', import.meta.url).pathname;

/**
 * The service run from source (tsx) in a child process on a free port over `dataDir`,
 * resolved once `/health` answers 200. `vars` add to or override the test defaults (a
 * quiet log, two DuckDB threads, 1 GB); the crash tests' pause point is passed only when given.
 */
export async function startSourceServer(dataDir: string, adminKey: string, vars: Record<string, string> = {}): Promise<SourceServer> {
  const port = await freePort();
  const env = childEnv({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', ADMIN_API_KEY: adminKey, LOG_LEVEL: 'warn', DUCKDB_THREADS: '2', DUCKDB_MEMORY_LIMIT: '1GB', ...vars });
  if (!vars.DSA_TEST_PAUSE_AT) delete env.DSA_TEST_PAUSE_AT;
  const child = run(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, cwd: REPO_ROOT });
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  void child.exited.then(() => (exited = true));
  for (let attempt = 0; attempt < 600; attempt++) {
    if (exited) throw new Error(`server exited on start:\n${child.output()}`);
    try {
      const response = await fetch(`${url}/health`);
      await response.body?.cancel();
      if (response.status === 200) return { child, url };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.process.kill('SIGKILL');
  throw new Error(`server did not become healthy:\n${child.output()}`);
}
