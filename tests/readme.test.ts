// The README's examples, run top to bottom on a fresh data folder against a real server.
//
// Convention (also in the README, "Tests of the documentation and operations"):
// - A fenced `sh` or `bash` block is run when the line just above its fence is
//   `<!-- readme-test -->`. Other blocks (installing, Docker, other languages) are not.
// - The marked blocks run in README order as one bash script (`set -euo pipefail`), so
//   variables set in one block (ADMIN_KEY, PROJECT_KEY, …) are there in the next. The
//   working folder is the server's root: the admin key is generated into ./data/admin.key,
//   and `BASE` points at the server (port 0).
// - `curl` is a wrapper around the real one: an answer that is not 2xx fails the run, unless
//   the line just before the command is `# expect: NNN` (then exactly NNN must come back).
//   A curl error (exit code ≠ 0, e.g. 23 when -OJ would overwrite a file) fails it too.
// New README sections join by carrying the marker; nothing here needs to change.
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { startServer, type RunningServer } from '../src/server.ts';
import { captureLogger } from './helpers.ts';
import { childEnv, run } from './spawn.ts';

const README = resolve(import.meta.dirname, '..', 'README.md');
const MARKER = '<!-- readme-test -->';

interface Block {
  line: number;
  text: string;
}

/** The marked shell blocks of a markdown text, in order. Throws on a marker without a shell block. */
export function runnableBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== MARKER) continue;
    const fence = lines[i + 1]?.trim() ?? '';
    if (!/^```(sh|bash)\b/.test(fence)) throw new Error(`README line ${i + 1}: ${MARKER} must be followed by a \`\`\`sh or \`\`\`bash block, not ${JSON.stringify(fence)}`);
    const body: string[] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j]!.trim() !== '```'; j++) body.push(lines[j]!);
    if (j === lines.length) throw new Error(`README line ${i + 2}: unterminated block`);
    blocks.push({ line: i + 3, text: body.join('\n') });
    i = j;
  }
  return blocks;
}

/** Strict bash, and a `curl` that checks every answer's status (see the convention above). */
const PRELUDE = [
  "set -euo pipefail",
  "README_EXPECT=",
  "curl() {",
  "  local expect=\"$README_EXPECT\" out code rc=0",
  "  README_EXPECT=",
  "  out=$(command curl -sS -w '\\n%{http_code}' \"$@\") || rc=$?",
  "  if [ \"$rc\" -ne 0 ]; then echo \"readme-test: curl exited $rc: curl $*\" >&2; return 1; fi",
  "  code=${out##*$'\\n'}",
  "  out=${out%$'\\n'*}",
  "  if [ -n \"$out\" ]; then printf '%s\\n' \"$out\"; fi",
  "  echo \"readme-test: $code <- curl $*\" >&2",
  "  if [ -n \"$expect\" ]; then",
  "    if [ \"$code\" != \"$expect\" ]; then echo \"readme-test: expected $expect, got $code: curl $*\" >&2; return 1; fi",
  "  elif [ \"${code:0:1}\" != 2 ]; then",
  "    echo \"readme-test: unannounced $code: curl $*\" >&2",
  "    return 1",
  "  fi",
  "}",
].join('\n');

/** The script: the prelude, then each block (its `# expect: NNN` lines set README_EXPECT). */
export function scriptOf(blocks: Block[]): string {
  const parts = blocks.map((block) => {
    const text = block.text.replace(/^(\s*)# expect: (\d{3})\s*$/gm, '$1README_EXPECT=$2 # expect: $2');
    return `echo "readme-test: block at README line ${block.line}" >&2\n${text}\n`;
  });
  return `${PRELUDE}\n${parts.join('\n')}\nif [ -n "$README_EXPECT" ]; then echo "readme-test: # expect: $README_EXPECT not followed by a curl" >&2; exit 1; fi\necho "readme-test: done" >&2\n`;
}

describe('the runner itself', () => {
  it('finds only marked shell blocks and refuses a marker on anything else', () => {
    const md = ['```sh', 'not me', '```', MARKER, '```sh', 'echo a', '```', 'text', MARKER, '```bash', 'echo b', '# expect: 404', 'curl x', '```'].join('\n');
    const blocks = runnableBlocks(md);
    expect(blocks.map((b) => b.text)).toEqual(['echo a', 'echo b\n# expect: 404\ncurl x']);
    expect(scriptOf(blocks)).toContain('README_EXPECT=404 # expect: 404\ncurl x');
    expect(() => runnableBlocks(`${MARKER}\n\`\`\`json\n{}\n\`\`\``)).toThrow(/must be followed/);
  });

  it('fails a run on an unannounced non-2xx answer, and on an announced status that did not come', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dsa-readme-self-'));
    try {
      const script = (body: string) => scriptOf([{ line: 1, text: body }]);
      const exitOf = async (body: string) => {
        await writeFile(join(root, 'run.sh'), script(body));
        return run('bash', [join(root, 'run.sh')], { env: childEnv({ BASE: running.url }), cwd: root }).exited;
      };
      expect(await exitOf('curl -s $BASE/health')).toBe(0);
      expect(await exitOf('curl -s $BASE/projects')).not.toBe(0); // 401, not announced
      expect(await exitOf('# expect: 401\ncurl -s $BASE/projects')).toBe(0);
      expect(await exitOf('# expect: 404\ncurl -s $BASE/health')).not.toBe(0);
      expect(await exitOf('# expect: 404')).not.toBe(0);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  let running: RunningServer;
  let serverRoot: string;
  beforeAll(async () => {
    serverRoot = await mkdtemp(join(tmpdir(), 'dsa-readme-srv-'));
    running = await startServer(parseConfig({ DATA_DIR: join(serverRoot, 'data'), HOST: '127.0.0.1', PORT: '0', DUCKDB_THREADS: '2', DUCKDB_MEMORY_LIMIT: '1GB' }), captureLogger().logger);
  });
  afterAll(async () => {
    await running?.stop();
    if (serverRoot) await rm(serverRoot, { recursive: true, force: true });
  });
});

describe('README examples', () => {
  let root: string;
  let running: RunningServer;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dsa-readme-'));
    // As a first user runs it: no ADMIN_API_KEY, so the key is generated into ./data/admin.key.
    running = await startServer(
      parseConfig({ DATA_DIR: join(root, 'data'), HOST: '127.0.0.1', PORT: '0', DUCKDB_THREADS: '2', DUCKDB_MEMORY_LIMIT: '1GB' }),
      captureLogger().logger,
    );
  });
  afterAll(async () => {
    await running?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('run top to bottom on a fresh data folder: every answer 2xx or announced', { timeout: 120_000 }, async () => {
    const blocks = runnableBlocks(await readFile(README, 'utf8'));
    expect(blocks.length, 'the README marks its example blocks').toBeGreaterThanOrEqual(6);
    await writeFile(join(root, 'readme.sh'), scriptOf(blocks));
    const child = run('bash', [join(root, 'readme.sh')], { env: childEnv({ BASE: running.url }), cwd: root });
    const code = await child.exited;
    const output = child.output();
    if (process.env.README_TEST_VERBOSE) console.log(output);
    expect(code, output).toBe(0);
    expect(child.stderr()).toContain('readme-test: done');
    // Every curl of the blocks ran (none was skipped by a shell mistake).
    const curls = blocks.flatMap((b) => b.text.split('\n')).filter((l) => !l.trim().startsWith('#') && /(^|\$\()\s*curl\s/.test(l.trim())).length;
    const answered = child.stderr().split('\n').filter((l) => / <- curl /.test(l)).length;
    expect(answered, output).toBe(curls);
    // And they did what they say: the projects were made, used and deleted at the end.
    expect(running.services.catalog.getProject('123')?.status).toBe('deleted');
    expect(running.services.catalog.getProject('456')?.status).toBe('deleted');
    expect((await readFile(join(root, 'orders-export.csv'), 'utf8')).split('\n')[0]).toBe('id,amount');
  });
});
