// What the benchmark sections share: the admin key of their servers and a JSON call.
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
