// What the benchmark sections share: the admin key of their servers and a JSON call.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { Readable } from 'node:stream';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

/** One JSON call with the admin key; anything but 2xx throws with the answer. */
export async function api(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Table files the server at `url` has attached (its /metrics). */
async function openAttachments(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text();
  return Number(/^duckdb_storage_open_attachments (\d+)/m.exec(text)?.[1] ?? 0);
}

/**
 * Waits until the server at `url` has detached every table file (it keeps one attached for
 * a moment after its last request, and a write's checkpoint runs after its answer), at most
 * a minute.
 */
export async function settled(url: string): Promise<void> {
  for (let i = 0; i < 6000 && (await openAttachments(url)) > 0; i++) await new Promise((r) => setTimeout(r, 10));
}

/**
 * Runs a section when its file is the script node was started with
 * (`node --import tsx tests/bench/x-bench.ts`): one JSON line on stdout, exit code 1 when it fails.
 */
export function runWhenMain(moduleUrl: string, name: string, run: () => Promise<unknown>): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(resolve(process.argv[1])).href) return;
  run().then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error) => {
      process.stderr.write(`${name} bench failed: ${(error as Error).stack ?? error}\n`);
      process.exitCode = 1;
    },
  );
}

/** A SQL string literal (bench-generated paths and words only, never user input). */
export const sqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;
/** The middle value (the upper one of an even count). */
export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** POSTs a stream as the body (node:http) and resolves with the status and the parsed answer. */
export function postStream(url: string, body: Readable, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolveAnswer, reject) => {
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolveAnswer({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    body.on('error', reject).pipe(req);
  });
}

/** Whether `curl` runs here: the client of the bench's bulk transfers when it does (`curlTransfer`). */
export const hasCurl = (() => {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export interface CurlAnswer {
  status: number;
  /** Wall time from starting curl to its exit: curl's own start is in it, on the service's side of the ratio. */
  ms: number;
  /** Bytes of the answer's body. */
  bytes: number;
  /** The body as text, or '' when it was discarded. */
  text: string;
}

const CURL_MARK = '\n--curl-write-out--';

/**
 * One HTTP transfer by curl, the client the README's examples use. Reading the 51 MB CSV
 * export took a node:http client about 100 ms of CPU on the same two cores the server and
 * DuckDB share, which DuckDB's own statement, the reference, never pays; curl took 20 ms. `upload` is a file streamed as the body (`-T`, with its length,
 * no `Expect: 100-continue`); `discard` drops the body (it is still read to its end and
 * counted).
 */
export async function curlTransfer(url: string, options: { method?: string; headers?: Record<string, string>; upload?: string; discard?: boolean } = {}): Promise<CurlAnswer> {
  const headerArgs = Object.entries({ expect: '', ...options.headers }).flatMap(([name, value]) => ['-H', value === '' ? `${name}:` : `${name}: ${value}`]);
  const args = ['-sS', '-X', options.method ?? 'GET', ...headerArgs, ...(options.upload ? ['-T', options.upload] : []), '-o', options.discard ? '/dev/null' : '-', '-w', `${CURL_MARK}%{json}`, url];
  const started = performance.now();
  const stdout = await new Promise<string>((resolveOut, reject) =>
    execFile('curl', args, { maxBuffer: 64 << 20 }, (error, out) => (error ? reject(error) : resolveOut(out))),
  );
  const ms = performance.now() - started;
  const at = stdout.lastIndexOf(CURL_MARK);
  const info = JSON.parse(stdout.slice(at + CURL_MARK.length)) as { http_code: number; size_download: number };
  return { status: info.http_code, ms, bytes: info.size_download, text: stdout.slice(0, at) };
}

/** CPU time (user + system, ms) of this process's children that have exited (curl runs), from /proc; 0 elsewhere. */
export function exitedChildrenCpuMs(): number {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    // cutime and cstime (fields 16 and 17) in clock ticks, 100 per second on Linux.
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  } catch {
    return 0;
  }
}
