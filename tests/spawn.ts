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
