// The `duckdb-storage` CLI as people and scripts run it: the esbuild bundle (dist/cli.mjs)
// as a child process against the real server on port 0, every command in JSON mode, exit
// codes, config profiles, and the progress bar under a pseudo-terminal.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/program.ts';
import { StorageClient } from '../src/client/index.ts';
import { startServer, type RunningServer } from '../src/server.ts';
import { ADMIN_KEY, captureLogger, testConfig } from './helpers.ts';

const REPO = resolve(import.meta.dirname, '..');
const CLI = join(REPO, 'dist', 'cli.mjs');
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$/;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Leaf commands (`tables import`, …) of the command tree. */
function leafCommands(command: Command, prefix: string[] = []): string[] {
  const out: string[] = [];
  for (const sub of command.commands) {
    const path = [...prefix, sub.name()];
    if (sub.commands.length) out.push(...leafCommands(sub, path));
    else out.push(path.join(' '));
  }
  return out;
}

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/** `script` (util-linux) gives the CLI a pseudo-terminal; installed with apt when missing and we are root. */
function ensureScript(): void {
  if (spawnSync('script', ['--version']).status === 0) return;
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    const lock = ['-o', 'DPkg::Lock::Timeout=600'];
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', [...lock, 'update', '-qq'], { stdio: 'inherit', env });
    spawnSync('apt-get', [...lock, 'install', '-y', '-qq', 'bsdutils'], { stdio: 'inherit', env });
  }
  if (spawnSync('script', ['--version']).status !== 0) throw new Error('the pseudo-terminal test needs `script` (util-linux / bsdutils)');
}

describe('the duckdb-storage CLI', () => {
  let root: string;
  let home: string;
  let running: RunningServer;
  const invoked = new Set<string>();

  /** Runs the bundled CLI with a clean environment: HOME is a temporary folder, no DUCKDB_STORAGE_* unless given. */
  function cli(args: string[], options: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<Result> {
    const words = args.filter((a) => !a.startsWith('-'));
    invoked.add(words.slice(0, 2).join(' '));
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        cwd: options.cwd ?? root,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...options.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(options.input ?? '');
    });
  }

  /** JSON mode: exit 0 and the parsed stdout. */
  async function cliJson<T = any>(args: string[], options?: Parameters<typeof cli>[1]): Promise<T> {
    const result = await cli([...args, '--json'], options);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as T;
  }

  /** The same for commands whose API answer is 204: nothing on stdout. */
  async function cliQuiet(args: string[]): Promise<void> {
    const result = await cli([...args, '--json']);
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
  }

  const configFile = () => join(home, '.config', 'duckdb-storage', 'config.json');
  const storedConfig = async () => JSON.parse(await readFile(configFile(), 'utf8'));

  beforeAll(async () => {
    await promisify(execFile)(process.execPath, ['esbuild.config.mjs', '--only', 'cli'], { cwd: REPO });
    root = await mkdtemp(join(tmpdir(), 'dsa-cli-'));
    home = join(root, 'home');
    await mkdir(home);
    running = await startServer(testConfig(join(root, 'data'), { PORT: '0', HOST: '127.0.0.1' }), captureLogger().logger);
  });
  afterAll(async () => {
    await running?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('config set: writes the profile with mode 0600 in a 0700 folder and never prints the key', async () => {
    const result = await cli(['config', 'set', '--url', running.url, '--api-key-stdin'], { input: `${ADMIN_KEY}\n` });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Saved profile default');
    expect(result.stdout + result.stderr).not.toContain(ADMIN_KEY);
    expect((await stat(configFile())).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, '.config', 'duckdb-storage'))).mode & 0o777).toBe(0o700);
    expect(await storedConfig()).toEqual({ current: 'default', profiles: { default: { url: running.url, api_key: ADMIN_KEY } } });

    const shown = await cliJson(['config', 'show']);
    expect(shown).toEqual({ profile: 'default', url: running.url, url_source: 'profile', api_key: 'set (hidden)', api_key_source: 'profile', config_file: configFile() });
    const listed = await cliJson(['config', 'list']);
    expect(listed).toEqual({ current: 'default', profiles: [{ name: 'default', current: true, url: running.url, api_key: 'set (hidden)' }] });
    const human = await cli(['config', 'show']);
    expect(human.stdout).toContain(running.url);
    expect(human.stdout).not.toContain(ADMIN_KEY);
  });

  it('XDG_CONFIG_HOME moves the file; the environment alone is enough without one', async () => {
    const xdg = join(root, 'xdg');
    const saved = await cliJson(['config', 'set', '--url', 'http://127.0.0.1:1', '--api-key', 'k'], { env: { XDG_CONFIG_HOME: xdg } });
    expect(saved.config_file).toBe(join(xdg, 'duckdb-storage', 'config.json'));
    expect((await stat(join(xdg, 'duckdb-storage', 'config.json'))).mode & 0o777).toBe(0o600);

    const empty = join(root, 'empty-home');
    await mkdir(empty);
    const env = { HOME: empty, DUCKDB_STORAGE_URL: running.url, DUCKDB_STORAGE_API_KEY: ADMIN_KEY };
    const shown = await cliJson(['config', 'show'], { env });
    expect(shown.url_source).toBe('env');
    expect(shown.api_key_source).toBe('env');
    expect((await cliJson(['projects', 'list'], { env })).total).toBeGreaterThanOrEqual(0);
    expect(existsSync(join(empty, '.config'))).toBe(false);
  });

  it('service: info, health, init, remove, metrics, openapi', async () => {
    expect(await cliJson(['service', 'info'])).toEqual({ service: 'DuckDB Storage API', version: expect.any(String), health: '/health', docs: '/docs' });
    const health = await cliJson(['service', 'health']);
    expect(health.status).toBe('healthy');
    expect(health.storage_available).toBe(true);
    expect(health.details).toEqual({ data_dir: true, duckdb_dir: true, files_dir: true, snapshots_dir: true });
    const init = await cliJson(['service', 'init']);
    expect(init.success).toBe(true);
    expect(init.message).toContain('Backend initialized');
    expect(await cliJson(['service', 'remove'])).toEqual({ success: true, message: 'Backend removal acknowledged (no-op)', storage_paths: null });
    const metrics = await cli(['service', 'metrics']);
    expect(metrics.code).toBe(0);
    expect(metrics.stdout).toContain('duckdb_storage_http_requests_total');
    const openapi = await cliJson(['service', 'openapi']);
    expect(openapi.openapi).toMatch(/^3\.1/);
    expect(Object.keys(openapi.paths)).toContain('/projects/{id}/api-keys');
  });

  it('projects: create (key saved to a profile, or printed once), list, get, update, stats, delete', async () => {
    const created = await cliJson(['projects', 'create', 'cli_p', '--name', 'CLI project', '--settings', '{"owner":"bi"}', '--save-profile', 'p']);
    expect(created.id).toBe('cli_p');
    expect(created.name).toBe('CLI project');
    expect(created.settings).toEqual({ owner: 'bi' });
    expect(created.status).toBe('active');
    expect(created.db_path).toBe('project_cli_p');
    expect(created.bucket_count).toBe(0);
    expect(created.created_at).toMatch(ISO);
    expect(created).not.toHaveProperty('api_key');
    const profile = (await storedConfig()).profiles.p;
    expect(profile.url).toBe(running.url);
    expect(profile.api_key).toMatch(/^proj_cli_p_admin_[0-9a-f]{32}$/);
    expect((await stat(configFile())).mode & 0o777).toBe(0o600);

    // Without --save-profile, the key is shown: the API's JSON as it is.
    const other = await cliJson(['projects', 'create', 'cli_other']);
    expect(other.api_key).toMatch(/^proj_cli_other_admin_[0-9a-f]{32}$/);
    const human = await cli(['projects', 'create', 'cli_human', '--name', 'Human']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/api_key {2}proj_cli_human_admin_[0-9a-f]{32}/);
    expect(human.stdout).toContain('shown once');

    const list = await cliJson(['projects', 'list', '--limit', '1000']);
    expect(list.projects.map((p: { id: string }) => p.id)).toEqual(expect.arrayContaining(['cli_p', 'cli_other', 'cli_human']));
    expect(list.total).toBe(list.projects.length);

    const got = await cliJson(['projects', 'get', 'cli_p', '--profile', 'p']);
    expect(got.id).toBe('cli_p');
    expect(got.name).toBe('CLI project');
    const updated = await cliJson(['projects', 'update', 'cli_p', '--name', 'Renamed', '--clear-settings', '--profile', 'p']);
    expect(updated.name).toBe('Renamed');
    expect(updated.settings).toBeNull();
    expect(await cliJson(['projects', 'stats', 'cli_p', '--profile', 'p'])).toMatchObject({ id: 'cli_p', size_bytes: 0, table_count: 0, bucket_count: 0 });

    await cliQuiet(['projects', 'delete', 'cli_human']);
    const deleted = await cliJson(['projects', 'list', '--status', 'deleted']);
    expect(deleted.projects.map((p: { id: string }) => p.id)).toContain('cli_human');
  });

  it('buckets: create, list, get, delete', async () => {
    const bucket = await cliJson(['buckets', 'create', 'cli_p', 'in_c_sales', '--description', 'Sales', '--profile', 'p']);
    expect(bucket).toMatchObject({
      name: 'in_c_sales',
      table_count: 0,
      description: 'Sales',
      is_linked: false,
      source_project_id: null,
      source_bucket_name: null,
      shared_with: [],
      readonly_access: false,
      created_at: expect.stringMatching(ISO),
    });
    await cliJson(['buckets', 'create', 'cli_p', 'scratch', '--profile', 'p']);
    const list = await cliJson(['buckets', 'list', 'cli_p', '--profile', 'p']);
    expect(list.buckets.map((b: { name: string }) => b.name)).toEqual(['in_c_sales', 'scratch']);
    expect(list.total).toBe(2);
    expect((await cliJson(['buckets', 'get', 'cli_p', 'in_c_sales', '--profile', 'p'])).description).toBe('Sales');
    await cliQuiet(['buckets', 'delete', 'cli_p', 'scratch', '--no-cascade', '--profile', 'p']);
    expect((await cliJson(['buckets', 'list', 'cli_p', '--profile', 'p'])).total).toBe(1);
  });

  it('tables create: from column specs, and from a CSV file whose types DuckDB infers locally (with --import)', async () => {
    const table = await cliJson(['tables', 'create', 'cli_p', 'in_c_sales', 'orders', '--column', 'id:INTEGER:notnull', '--column', 'amount:DECIMAL(10,2)', '--column', 'status:VARCHAR', '--primary-key', 'id', '--profile', 'p']);
    expect(table.name).toBe('orders');
    expect(table.bucket).toBe('in_c_sales');
    expect(table.columns.map(({ name, type, nullable, ordinal_position }: { name: string; type: string; nullable: boolean; ordinal_position: number }) => ({ name, type, nullable, ordinal_position }))).toEqual([
      { name: 'id', type: 'INTEGER', nullable: false, ordinal_position: 1 },
      { name: 'amount', type: 'DECIMAL(10,2)', nullable: true, ordinal_position: 2 },
      { name: 'status', type: 'VARCHAR', nullable: true, ordinal_position: 3 },
    ]);
    expect(table.primary_key).toEqual(['id']);
    expect(table.row_count).toBe(0);

    const csv = join(root, 'people.csv');
    await writeFile(csv, 'id,name,score,joined,active,seen_at\n1,Ann,1.5,2026-01-02,true,2026-01-02 10:00:00\n2,Bob,2.25,2026-02-03,false,2026-02-03 11:30:00\n');
    const imported = await cliJson(['tables', 'create', 'cli_p', 'in_c_sales', 'people', '--from-csv', csv, '--primary-key', 'id', '--import', '--profile', 'p']);
    expect(imported.table.columns.map((c: { name: string; type: string }) => `${c.name} ${c.type}`)).toEqual([
      'id BIGINT',
      'name VARCHAR',
      'score DOUBLE',
      'joined DATE',
      'active BOOLEAN',
      'seen_at TIMESTAMP',
    ]);
    expect(imported.table.primary_key).toEqual(['id']);
    expect(imported.imported_rows).toBe(2);
    expect(imported.row_count).toBe(2);

    // A header that is not a valid column name is refused locally (exit 2), before any request.
    const bad = join(root, 'bad.csv');
    await writeFile(bad, 'id,first name\n1,Ann\n');
    const refused = await cli(['tables', 'create', 'cli_p', 'in_c_sales', 'bad', '--from-csv', bad, '--profile', 'p']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('"first name"');
    expect((await cliJson(['tables', 'list', 'cli_p', 'in_c_sales', '--profile', 'p'])).tables.map((t: { name: string }) => t.name)).toEqual(['orders', 'people']);
  });

  it('tables import, preview (aligned table and JSON), get, list', async () => {
    const csv = join(root, 'orders.csv');
    const lines = ['id,amount,status'];
    for (let id = 1; id <= 500; id++) lines.push(`${id},${(id / 4).toFixed(2)},${id % 2 ? 'open' : 'done'}`);
    await writeFile(csv, `${lines.join('\n')}\n`);
    const result = await cliJson(['tables', 'import', 'cli_p', 'in_c_sales', 'orders', csv, '--profile', 'p']);
    expect(result.imported_rows).toBe(500);
    expect(result.row_count).toBe(500);
    expect(result.table.name).toBe('orders');
    expect(result.table.row_count).toBe(500);

    const ndjson = join(root, 'more.ndjson');
    await writeFile(ndjson, '{"id": 1, "amount": "9.99", "status": "changed"}\n{"id": 501, "amount": "1.00", "status": "new"}\n');
    const incremental = await cliJson(['tables', 'import', 'cli_p', 'in_c_sales', 'orders', ndjson, '--incremental', '--profile', 'p']);
    expect(incremental.imported_rows).toBe(2);
    expect(incremental.row_count).toBe(501);

    const fromStdin = await cliJson(['tables', 'import', 'cli_p', 'in_c_sales', 'people', '-', '--delimiter', ';', '--profile', 'p'], {
      input: 'id;name;score;joined;active;seen_at\n3;Cid;3;2026-03-04;true;2026-03-04 00:00:00\n',
    });
    expect(fromStdin.imported_rows).toBe(1);
    expect(fromStdin.row_count).toBe(1);

    const preview = await cliJson(['tables', 'preview', 'cli_p', 'in_c_sales', 'orders', '--limit', '2', '--profile', 'p']);
    expect(preview.columns.map((c: { name: string }) => c.name)).toEqual(['id', 'amount', 'status']);
    expect(preview.rows).toEqual([
      { id: 1, amount: '9.99', status: 'changed' },
      { id: 2, amount: '0.50', status: 'done' },
    ]);
    expect(preview.total_row_count).toBe(501);
    expect(preview.preview_row_count).toBe(2);

    const filtered = await cliJson(['tables', 'preview', 'cli_p', 'in_c_sales', 'orders', '--columns', 'id,status', '--filter', 'status:in:new,changed', '--order-by', 'id:desc', '--profile', 'p']);
    expect(filtered.rows).toEqual([
      { id: 501, status: 'new' },
      { id: 1, status: 'changed' },
    ]);
    expect(filtered.total_row_count).toBe(2);

    // The human form is an aligned table: every line of the box has the same width.
    const human = await cli(['tables', 'preview', 'cli_p', 'in_c_sales', 'orders', '--limit', '3', '--profile', 'p']);
    expect(human.code).toBe(0);
    const box = human.stdout.trim().split('\n').slice(0, -1);
    expect(box.length).toBe(3 + 4);
    expect(new Set(box.map((l) => l.length)).size).toBe(1);
    expect(box[1]).toMatch(/│ id +│ amount +│ status +│/);
    expect(box[3]).toMatch(/│ 1 +│ 9\.99 +│ changed +│/);
    expect(human.stdout.trim().split('\n').at(-1)).toBe('3 of 501 row(s)');

    const got = await cliJson(['tables', 'get', 'cli_p', 'in_c_sales', 'orders', '--profile', 'p']);
    expect(got.row_count).toBe(501);
    expect(got.size_bytes).toBeGreaterThan(0);
    const list = await cliJson(['tables', 'list', 'cli_p', 'in_c_sales', '--profile', 'p']);
    expect(list.tables.map((t: { name: string; row_count: number }) => [t.name, t.row_count])).toEqual([
      ['orders', 501],
      ['people', 1],
    ]);
    expect(list.total).toBe(2);
  });

  it('tables export: into a file (format from its name) or to stdout, filtered', async () => {
    const out = join(root, 'export.csv');
    const saved = await cliJson(['tables', 'export', 'cli_p', 'in_c_sales', 'orders', '-o', out, '--profile', 'p']);
    const text = await readFile(out, 'utf8');
    expect(saved).toEqual({ path: out, bytes: Buffer.byteLength(text), content_type: expect.stringMatching(/^text\/csv/), filename: 'orders.csv' });
    expect(text.split('\n')[0]).toBe('id,amount,status');
    expect(text.trim().split('\n').length).toBe(502);

    const ndjsonOut = join(root, 'export.ndjson.gz');
    const gz = await cliJson(['tables', 'export', 'cli_p', 'in_c_sales', 'orders', '-o', ndjsonOut, '--limit', '3', '--profile', 'p']);
    expect(gz.filename).toBe('orders.ndjson.gz');
    expect((await readFile(ndjsonOut)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

    const piped = await cli(['tables', 'export', 'cli_p', 'in_c_sales', 'orders', '--format', 'ndjson', '--columns', 'id', '--filter', 'id:le:3', '--order-by', 'id:desc', '--profile', 'p']);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ id: 3 }, { id: 2 }, { id: 1 }]);

    const missing = await cli(['tables', 'export', 'cli_p', 'in_c_sales', 'nope', '-o', join(root, 'nope.csv'), '--profile', 'p']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('table_not_found');
    expect(existsSync(join(root, 'nope.csv'))).toBe(false);
  });

  it('tables delete-rows, truncate, delete', async () => {
    const deleted = await cliJson(['tables', 'delete-rows', 'cli_p', 'in_c_sales', 'orders', '--filter', 'status:eq:open', '--profile', 'p']);
    // 250 odd ids were open; id 1 became 'changed'.
    expect(deleted).toEqual({ deleted_rows: 249, row_count: 252 });
    const jsonFilters = await cliJson(['tables', 'delete-rows', 'cli_p', 'in_c_sales', 'orders', '--filters-json', '[{"column":"id","operator":"gt","values":[500]}]', '--profile', 'p']);
    expect(jsonFilters).toEqual({ deleted_rows: 1, row_count: 251 });
    expect(await cliJson(['tables', 'truncate', 'cli_p', 'in_c_sales', 'orders', '--profile', 'p'])).toEqual({ deleted_rows: 251, row_count: 0 });
    await cliQuiet(['tables', 'delete', 'cli_p', 'in_c_sales', 'people', '--profile', 'p']);
    expect((await cli(['tables', 'get', 'cli_p', 'in_c_sales', 'people', '--profile', 'p'])).stderr).toContain('table_not_found');
  });

  it('buckets share, shared, link, grant-readonly, revoke-readonly, unlink, unshare', async () => {
    await cliJson(['projects', 'create', 'cli_t', '--save-profile', 't']);
    expect(await cliJson(['buckets', 'share', 'cli_p', 'in_c_sales', 'cli_t', '--profile', 'p'])).toEqual({
      shared_with: ['cli_t'],
      is_linked: false,
      source_project_id: null,
      source_bucket_name: null,
    });
    expect(await cliJson(['buckets', 'shared', 'cli_t', '--profile', 't'])).toEqual({
      buckets: [{ source_project_id: 'cli_p', source_bucket_name: 'in_c_sales', description: 'Sales', table_count: 1, linked_as: null }],
      total: 1,
    });
    const linked = await cliJson(['buckets', 'link', 'cli_t', 'sales', 'cli_p.in_c_sales', '--profile', 't']);
    expect(linked.name).toBe('sales');
    expect(linked.is_linked).toBe(true);
    expect(linked.source_project_id).toBe('cli_p');
    expect(linked.source_bucket_name).toBe('in_c_sales');
    expect(linked.description).toBe('Linked from cli_p.in_c_sales');

    const granted = await cliJson(['buckets', 'grant-readonly', 'cli_p', 'in_c_sales', '--profile', 'p']);
    expect(granted.status).toBe('success');
    expect(granted.bucket_name).toBe('in_c_sales');
    expect((await cliJson(['buckets', 'get', 'cli_p', 'in_c_sales', '--profile', 'p'])).readonly_access).toBe(true);
    await cliQuiet(['buckets', 'revoke-readonly', 'cli_p', 'in_c_sales', '--profile', 'p']);
    expect((await cliJson(['buckets', 'get', 'cli_p', 'in_c_sales', '--profile', 'p'])).readonly_access).toBe(false);

    const inUse = await cli(['buckets', 'unshare', 'cli_p', 'in_c_sales', 'cli_t', '--profile', 'p']);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain('bucket_in_use');
    await cliQuiet(['buckets', 'unlink', 'cli_t', 'sales', '--profile', 't']);
    await cliQuiet(['buckets', 'unshare', 'cli_p', 'in_c_sales', 'cli_t', '--profile', 'p']);
    expect((await cliJson(['buckets', 'get', 'cli_p', 'in_c_sales', '--profile', 'p'])).shared_with).toEqual([]);
  });

  it('branches: create, list, get, changes, reset, merge, delete', async () => {
    await cliJson(['tables', 'create', 'cli_p', 'in_c_sales', 'branched', '--column', 'id:INTEGER', '--primary-key', 'id', '--profile', 'p']);
    const admin = new StorageClient({ url: running.url, apiKey: ADMIN_KEY });
    await admin.data.import('cli_p', 'in_c_sales', 'branched', 'id\n1\n2\n');
    const created = await cliJson(['branches', 'create', 'cli_p', '--name', 'Feature X', '--description', 'try', '--profile', 'p']);
    expect(created).toMatchObject({ name: 'Feature X', description: 'try', is_default: false });
    const list = await cliJson(['branches', 'list', 'cli_p', '--profile', 'p']);
    expect(list.branches.map((b: { id: string }) => b.id)).toEqual(['default', created.id]);
    expect((await cliJson(['branches', 'get', 'cli_p', created.id, '--profile', 'p'])).name).toBe('Feature X');
    // A write in the branch (through the client) gives it its own copy of the table.
    await admin.inBranch(created.id).data.import('cli_p', 'in_c_sales', 'branched', 'id\n3\n', { incremental: 'true' });
    const changes = await cliJson(['branches', 'changes', 'cli_p', created.id, '--profile', 'p']);
    expect(changes.tables).toEqual([{ bucket: 'in_c_sales', table: 'branched', state: 'copied', main_changed: false }]);
    const reset = await cliJson(['branches', 'reset', 'cli_p', created.id, 'in_c_sales', 'branched', '--profile', 'p']);
    expect(reset.row_count).toBe(2);
    await admin.inBranch(created.id).data.import('cli_p', 'in_c_sales', 'branched', 'id\n4\n', { incremental: 'true' });
    const merged = await cliJson(['branches', 'merge', 'cli_p', created.id, 'in_c_sales', 'branched', '--profile', 'p']);
    expect(merged.table.row_count).toBe(3);
    expect(merged.snapshot_id).toMatch(/^s_/);
    const again = await cli(['branches', 'merge', 'cli_p', created.id, 'in_c_sales', 'branched', '--profile', 'p']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('nothing_to_merge');
    await cliQuiet(['branches', 'delete', 'cli_p', created.id, '--profile', 'p']);
    expect((await cli(['branches', 'get', 'cli_p', created.id, '--profile', 'p'])).stderr).toContain('branch_not_found');
  });

  it('keys: create (saved or shown once), list, current, get, rotate, delete', async () => {
    const created = await cliJson(['keys', 'create', 'cli_p', '--scope', 'read', '--description', 'BI', '--buckets', 'in_c_sales', '--expires-in', '3600', '--profile', 'p']);
    expect(created.id).toMatch(/^k_/);
    expect(created.scope).toBe('read');
    expect(created.description).toBe('BI');
    expect(created.buckets).toEqual(['in_c_sales']);
    expect(created.branch).toBeNull();
    expect(created.key_prefix).toBe('proj_cli_p_read_...');
    expect(created.expires_at).toMatch(ISO);
    expect(created.api_key).toMatch(/^proj_cli_p_read_[0-9a-f]{32}$/);

    const list = await cliJson(['keys', 'list', 'cli_p', '--profile', 'p']);
    expect(list.api_keys.map((k: { id: string }) => k.id)).toContain(created.id);
    expect(list.total).toBe(list.api_keys.length);
    expect(JSON.stringify(list)).not.toContain(created.api_key);
    expect((await cliJson(['keys', 'get', 'cli_p', created.id, '--profile', 'p'])).description).toBe('BI');

    const reader = { DUCKDB_STORAGE_API_KEY: created.api_key };
    const current = await cliJson(['keys', 'current', 'cli_p', '--profile', 'p'], { env: reader });
    expect(current.id).toBe(created.id);
    expect(current.scope).toBe('read');
    expect(await cliJson(['keys', 'current', 'cli_p'])).toEqual({ id: null, scope: 'service_admin' });
    const scoped = await cli(['buckets', 'create', 'cli_p', 'nope', '--profile', 'p'], { env: reader });
    expect(scoped.code).toBe(1);
    expect(scoped.stderr).toContain('insufficient_scope');

    const rotated = await cliJson(['keys', 'rotate', 'cli_p', created.id, '--save-profile', 'reader', '--profile', 'p']);
    expect(rotated.id).toBe(created.id);
    expect(rotated.rotated_at).toMatch(ISO);
    expect(rotated).not.toHaveProperty('api_key');
    expect((await storedConfig()).profiles.reader.api_key).toMatch(/^proj_cli_p_read_[0-9a-f]{32}$/);
    expect((await cliJson(['keys', 'current', 'cli_p', '--profile', 'reader'])).id).toBe(created.id);
    const old = await cli(['keys', 'current', 'cli_p'], { env: reader });
    expect(old.code).toBe(1);
    expect(old.stderr).toContain('forbidden');

    await cliQuiet(['keys', 'delete', 'cli_p', created.id, '--profile', 'p']);
    expect((await cli(['keys', 'get', 'cli_p', created.id, '--profile', 'p'])).stderr).toContain('key_not_found');
  });

  it('sql query (aligned table, JSON, streamed to a file) and workspaces create, list, get, load, query, unload, delete', async () => {
    const csv = join(root, 'sql.csv');
    await writeFile(csv, 'id,amount,status\n1,1.50,open\n2,2.50,done\n3,3.00,open\n');
    await cliJson(['tables', 'import', 'cli_p', 'in_c_sales', 'orders', csv, '--profile', 'p']);
    const sql = 'SELECT status, count(*) AS n, sum(amount) AS total FROM in_c_sales.orders GROUP BY 1 ORDER BY 1';
    const result = await cliJson(['sql', 'query', 'cli_p', sql, '--profile', 'p']);
    expect(result.columns).toEqual([
      { name: 'status', type: 'VARCHAR' },
      { name: 'n', type: 'BIGINT' },
      { name: 'total', type: 'DECIMAL(38,2)' },
    ]);
    expect(result.rows).toEqual([
      { status: 'done', n: 1, total: '2.50' },
      { status: 'open', n: 2, total: '4.50' },
    ]);
    expect(result.row_count).toBe(2);
    expect(result.truncated).toBe(false);
    const human = await cli(['sql', 'query', 'cli_p', sql, '--profile', 'p']);
    expect(human.code).toBe(0);
    const box = human.stdout.trim().split('\n').slice(0, -1);
    expect(new Set(box.map((l) => l.length)).size).toBe(1);
    expect(box[3]).toMatch(/│ done +│ 1 +│ 2\.50 +│/);
    expect(human.stdout.trim().split('\n').at(-1)).toMatch(/^2 row\(s\) in \d+ ms$/);
    const out = join(root, 'query.ndjson');
    const saved = await cliJson(['sql', 'query', 'cli_p', 'SELECT id FROM in_c_sales.orders ORDER BY id', '--format', 'ndjson', '-o', out, '--profile', 'p']);
    expect(saved.filename).toBe('query.ndjson');
    expect((await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    const refused = await cli(['sql', 'query', 'cli_p', 'DROP TABLE in_c_sales.orders', '--profile', 'p']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: invalid_query: /);

    const ws = await cliJson(['workspaces', 'create', 'cli_p', '--name', 'nightly', '--ttl-hours', '2', '--profile', 'p']);
    expect(ws.id).toMatch(/^w_/);
    expect(ws.name).toBe('nightly');
    expect(ws.tables).toEqual([]);
    const list = await cliJson(['workspaces', 'list', 'cli_p', '--profile', 'p']);
    expect(list.workspaces.map((w: { id: string }) => w.id)).toEqual([ws.id]);
    expect(list.total).toBe(1);
    const loaded = await cliJson(['workspaces', 'load', 'cli_p', ws.id, 'in_c_sales.orders=o', '--profile', 'p']);
    expect(loaded.tables.map((t: { name: string; row_count: number }) => [t.name, t.row_count])).toEqual([['o', 3]]);
    const ran = await cliJson(['workspaces', 'query', 'cli_p', ws.id, 'CREATE TABLE s AS SELECT status, count(*) AS n FROM o GROUP BY 1; SELECT * FROM s ORDER BY status', '--profile', 'p']);
    expect(ran.results.map((r: { statement: number; row_count: number; changed_rows: number | null }) => [r.statement, r.row_count, r.changed_rows])).toEqual([
      [1, 0, null],
      [2, 2, null],
    ]);
    expect(ran.results[1].rows).toEqual([
      { status: 'done', n: 1 },
      { status: 'open', n: 2 },
    ]);
    const unloaded = await cliJson(['workspaces', 'unload', 'cli_p', ws.id, 's', 'in_c_sales', 'status_counts', '--primary-key', 'status', '--profile', 'p']);
    expect(unloaded.imported_rows).toBe(2);
    expect(unloaded.table.name).toBe('status_counts');
    expect(unloaded.table.primary_key).toEqual(['status']);
    expect((await cliJson(['workspaces', 'get', 'cli_p', ws.id, '--profile', 'p'])).tables.map((t: { name: string }) => t.name).sort()).toEqual(['o', 's']);
    await cliQuiet(['workspaces', 'delete', 'cli_p', ws.id, '--profile', 'p']);
    expect((await cli(['workspaces', 'get', 'cli_p', ws.id, '--profile', 'p'])).stderr).toContain('workspace_not_found');
  });

  it('columns add/alter/drop, tables set-primary-key/drop-primary-key/profile, metadata list/set/delete', async () => {
    const p = ['--profile', 'p'];
    await cliJson(['tables', 'create', 'cli_p', 'in_c_sales', 'schema_t', '--column', 'id:INTEGER', '--column', 'v:VARCHAR', ...p]);
    const csv = join(root, 'schema.csv');
    await writeFile(csv, 'id,v\n1,10\n2,20\n');
    await cliJson(['tables', 'import', 'cli_p', 'in_c_sales', 'schema_t', csv, ...p]);
    const added = await cliJson(['columns', 'add', 'cli_p', 'in_c_sales', 'schema_t', 'qty', 'INTEGER', '--not-null', '--default', '0', ...p]);
    expect(added.columns.map((c: { name: string; type: string; nullable: boolean; default: unknown }) => [c.name, c.type, c.nullable, c.default])).toEqual([
      ['id', 'INTEGER', true, null],
      ['v', 'VARCHAR', true, null],
      ['qty', 'INTEGER', false, 0],
    ]);
    const altered = await cliJson(['columns', 'alter', 'cli_p', 'in_c_sales', 'schema_t', 'v', '--rename', 'value', '--type', 'BIGINT', ...p]);
    expect(altered.columns[1]).toMatchObject({ name: 'value', type: 'BIGINT', nullable: true });
    const noChange = await cli(['columns', 'alter', 'cli_p', 'in_c_sales', 'schema_t', 'value', ...p]);
    expect(noChange.code).toBe(2);
    expect((await cliJson(['tables', 'set-primary-key', 'cli_p', 'in_c_sales', 'schema_t', 'id', ...p])).primary_key).toEqual(['id']);
    expect((await cliJson(['tables', 'drop-primary-key', 'cli_p', 'in_c_sales', 'schema_t', ...p])).primary_key).toEqual([]);
    expect((await cliJson(['columns', 'drop', 'cli_p', 'in_c_sales', 'schema_t', 'qty', ...p])).columns.map((c: { name: string }) => c.name)).toEqual(['id', 'value']);
    const profile = await cliJson(['tables', 'profile', 'cli_p', 'in_c_sales', 'schema_t', ...p]);
    expect(profile.row_count).toBe(2);
    expect(profile.columns.find((c: { name: string }) => c.name === 'value')).toMatchObject({ type: 'BIGINT', null_count: 0, distinct_count: 2, min: 10, max: 20 });
    const human = await cli(['tables', 'profile', 'cli_p', 'in_c_sales', 'schema_t', ...p]);
    expect(human.stdout).toMatch(/│ value +│ BIGINT +│ 0 +│ 2 +│ 10 +│ 20 +│/);

    for (const target of [['in_c_sales'], ['in_c_sales', 'schema_t'], ['in_c_sales', 'schema_t', 'id']]) {
      const set = await cliJson(['metadata', 'set', 'cli_p', ...target, '--entry', 'owner=bi', '--entry', 'note=a=b', '--provider', 'gov', ...p]);
      expect(set.metadata.map((m: { provider: string; key: string; value: string }) => [m.provider, m.key, m.value])).toEqual([
        ['gov', 'note', 'a=b'],
        ['gov', 'owner', 'bi'],
      ]);
      await cliQuiet(['metadata', 'delete', 'cli_p', ...target, '--key', 'note', '--provider', 'gov', ...p]);
      const list = await cliJson(['metadata', 'list', 'cli_p', ...target, ...p]);
      expect(list.metadata.map((m: { key: string }) => m.key)).toEqual(['owner']);
      const missing = await cli(['metadata', 'delete', 'cli_p', ...target, '--key', 'note', '--provider', 'gov', ...p]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('metadata_not_found');
    }
  });

  it('snapshots create, list, get, restore, settings, delete', async () => {
    const p = ['--profile', 'p'];
    const snapshot = await cliJson(['snapshots', 'create', 'cli_p', 'in_c_sales', 'schema_t', '--description', 'before', '--retention-days', '30', ...p]);
    expect(snapshot.id).toMatch(/^s_/);
    expect(snapshot).toMatchObject({ bucket: 'in_c_sales', table: 'schema_t', branch: 'default', description: 'before', kind: 'manual', reason: null, row_count: 2 });
    const forTable = await cliJson(['snapshots', 'list', 'cli_p', 'in_c_sales', 'schema_t', ...p]);
    expect(forTable.snapshots[0].id).toBe(snapshot.id);
    expect(forTable.total).toBe(forTable.snapshots.length);
    const manual = await cliJson(['snapshots', 'list', 'cli_p', '--kind', 'manual', ...p]);
    expect(manual.snapshots.map((x: { id: string }) => x.id)).toEqual([snapshot.id]);
    expect((await cliJson(['snapshots', 'get', 'cli_p', snapshot.id, ...p])).description).toBe('before');

    await cliJson(['tables', 'truncate', 'cli_p', 'in_c_sales', 'schema_t', ...p]);
    const restored = await cliJson(['snapshots', 'restore', 'cli_p', snapshot.id, '--overwrite', ...p]);
    expect(restored.snapshot_id).toBe(snapshot.id);
    expect(restored.table.row_count).toBe(2);
    expect(restored.auto_snapshot_id).toMatch(/^s_/);
    const copy = await cliJson(['snapshots', 'restore', 'cli_p', snapshot.id, '--table', 'schema_copy', ...p]);
    expect(copy.table.name).toBe('schema_copy');
    expect(copy.auto_snapshot_id).toBeNull();

    expect(await cliJson(['snapshots', 'settings', 'cli_p', ...p])).toEqual({ auto: { drop_table: true, truncate: true, drop_column: true, full_import: false }, manual_retention_days: 90, auto_retention_days: 7 });
    expect(await cliJson(['snapshots', 'settings', 'cli_p', '--auto', 'full_import=true', '--auto-retention-days', '3', ...p])).toEqual({
      auto: { drop_table: true, truncate: true, drop_column: true, full_import: true },
      manual_retention_days: 90,
      auto_retention_days: 3,
    });
    await cliQuiet(['snapshots', 'delete', 'cli_p', snapshot.id, ...p]);
    expect((await cli(['snapshots', 'get', 'cli_p', snapshot.id, ...p])).stderr).toContain('snapshot_not_found');
  });

  it('files upload, list, get, download, delete; jobs list, get, wait, cancel; tables export --async', async () => {
    const p = ['--profile', 'p'];
    const local = join(root, 'upload.csv');
    const content = 'id,amount,status\n1,1.00,a\n2,2.00,b\n';
    await writeFile(local, content);
    const file = await cliJson(['files', 'upload', 'cli_p', local, '--tags', 'daily,cli', ...p]);
    expect(file.id).toMatch(/^f_/);
    expect(file).toMatchObject({ name: 'upload.csv', size_bytes: content.length, content_type: 'text/csv', tags: ['daily', 'cli'], is_permanent: false });
    const fromStdin = await cliJson(['files', 'upload', 'cli_p', '-', '--name', 'notes.txt', '--permanent', ...p], { input: 'hello\n' });
    expect(fromStdin).toMatchObject({ name: 'notes.txt', size_bytes: 6, is_permanent: true, expires_at: null });
    const list = await cliJson(['files', 'list', 'cli_p', '--tags', 'cli', ...p]);
    expect(list.files.map((f: { id: string }) => f.id)).toEqual([file.id]);
    expect(list.total).toBe(1);
    expect((await cliJson(['files', 'get', 'cli_p', file.id, ...p])).sha256).toBe(file.sha256);
    const out = join(root, 'downloaded.csv');
    const saved = await cliJson(['files', 'download', 'cli_p', file.id, '-o', out, ...p]);
    expect(saved).toEqual({ path: out, bytes: content.length, content_type: 'text/csv', filename: 'upload.csv' });
    expect(await readFile(out, 'utf8')).toBe(content);
    const piped = await cli(['files', 'download', 'cli_p', fromStdin.id, ...p]);
    expect(piped).toEqual({ code: 0, stdout: 'hello\n', stderr: '' });
    await cliQuiet(['files', 'delete', 'cli_p', fromStdin.id, ...p]);
    expect((await cli(['files', 'get', 'cli_p', fromStdin.id, ...p])).stderr).toContain('file_not_found');

    // tables import runs as a job by default; its file is removed afterwards unless --keep-file.
    const imported = await cliJson(['tables', 'import', 'cli_p', 'in_c_sales', 'orders', local, '--keep-file', ...p]);
    expect(imported.imported_rows).toBe(2);
    expect(imported.row_count).toBe(2);
    const jobs = await cliJson(['jobs', 'list', 'cli_p', '--operation', 'import', '--status', 'success', ...p]);
    expect(jobs.total).toBeGreaterThanOrEqual(1);
    const job = jobs.jobs[0];
    expect(job).toMatchObject({ operation: 'import', status: 'success', branch: 'default', table: { bucket: 'in_c_sales', name: 'orders' } });
    expect(job.result.imported_rows).toBe(2);
    expect((await cliJson(['jobs', 'get', 'cli_p', job.id, '--wait', '1', ...p])).id).toBe(job.id);
    expect((await cliJson(['jobs', 'wait', 'cli_p', job.id, ...p])).status).toBe('success');
    const cancel = await cli(['jobs', 'cancel', 'cli_p', job.id, ...p]);
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toContain('job_finished');

    const failing = join(root, 'failing.csv');
    await writeFile(failing, 'id,amount,status\nnot-a-number,1,a\n');
    const failed = await cli(['tables', 'import', 'cli_p', 'in_c_sales', 'orders', failing, ...p]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^error: import_failed: /);
    expect((await cliJson(['tables', 'get', 'cli_p', 'in_c_sales', 'orders', ...p])).row_count).toBe(2);

    const exported = join(root, 'async-export.ndjson');
    const asyncExport = await cliJson(['tables', 'export', 'cli_p', 'in_c_sales', 'orders', '--async', '--columns', 'id', '--order-by', 'id', '-o', exported, ...p]);
    expect(asyncExport.filename).toBe('orders.ndjson');
    expect((await readFile(exported, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('config use and remove switch and forget profiles', async () => {
    expect(await cliJson(['config', 'use', 'p'])).toEqual({ current: 'p' });
    expect((await cliJson(['projects', 'get', 'cli_p'])).id).toBe('cli_p');
    expect((await cliJson(['config', 'show'])).profile).toBe('p');
    expect(await cliJson(['config', 'remove', 'reader'])).toEqual({ removed: 'reader' });
    expect(Object.keys((await storedConfig()).profiles).sort()).toEqual(['default', 'p', 't']);
    expect(await cliJson(['config', 'use', 'default'])).toEqual({ current: 'default' });
    const missing = await cli(['config', 'use', 'nope']);
    expect(missing.code).toBe(2);
    // No command ever printed a stored key.
    const config = await storedConfig();
    for (const name of ['config list', 'config show']) {
      const result = await cli(name.split(' '));
      for (const profile of Object.values(config.profiles) as { api_key: string }[]) expect(result.stdout + result.stderr).not.toContain(profile.api_key);
    }
  });

  it('a wrong key exits 1 and prints forbidden; API errors print code and message (JSON on stderr with --json)', async () => {
    const wrong = await cli(['projects', 'get', 'cli_p'], { env: { DUCKDB_STORAGE_API_KEY: 'proj_cli_p_admin_00000000000000000000000000000000' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toMatch(/^error: forbidden: /);

    const missing = await cli(['buckets', 'get', 'cli_p', 'missing', '--profile', 'p', '--json']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(JSON.parse(missing.stderr)).toEqual({
      status: 404,
      detail: { error: 'bucket_not_found', message: 'Bucket missing not found in project cli_p', details: { project_id: 'cli_p', bucket_name: 'missing' } },
    });

    const invalid = await cli(['buckets', 'create', 'cli_p', 'bad.name', '--profile', 'p']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('error: validation_error:');
    expect(invalid.stderr).toContain('  name: Bucket name must');
  });

  it('usage errors exit 2 without a request', async () => {
    const cases: string[][] = [
      ['nope'],
      ['tables'],
      ['tables', 'get', 'cli_p'],
      ['projects', 'list', '--limit', 'ten'],
      ['tables', 'preview', 'cli_p', 'in_c_sales', 'orders', '--filter', 'id:between:1'],
      ['tables', 'delete-rows', 'cli_p', 'in_c_sales', 'orders'],
      ['tables', 'import', 'cli_p', 'in_c_sales', 'orders', join(root, 'no-such-file.csv')],
      ['keys', 'create', 'cli_p', '--scope', 'owner'],
      ['projects', 'get', 'x', '--no-such-option'],
    ];
    for (const args of cases) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).not.toBe('');
    }
    const unconfigured = join(root, 'unconfigured');
    await mkdir(unconfigured);
    const none = await cli(['projects', 'list'], { env: { HOME: unconfigured } });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('config set');
  });

  it('--help on every command shows an example, and exits 0', async () => {
    let help = '';
    const capture = new Writable({
      write(chunk, _encoding, done) {
        help += String(chunk);
        done();
      },
    });
    const program = buildProgram({ env: {}, stdout: capture, stderr: capture, stdin: process.stdin });
    const leaves = leafCommands(program);
    expect(leaves.length).toBeGreaterThan(30);
    for (const path of leaves) {
      let command: Command = program;
      for (const name of path.split(' ')) command = command.commands.find((c) => c.name() === name)!;
      help = '';
      command.outputHelp();
      expect(help, path).toContain(`Usage: duckdb-storage ${path}`);
      expect(help, path).toMatch(/\nExamples?:\n {2}\$ duckdb-storage \S/);
    }
    // As a process: exit 0 with the help on stdout.
    const result = await cli(['tables', 'import', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('duckdb-storage tables import 123 in_c_sales orders orders.csv');
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Exit codes');
  });

  it('draws the upload bar to 100% and the job status line under a pseudo-terminal, and nothing when piped', async () => {
    ensureScript();
    const csv = join(root, 'big.csv');
    const lines = ['id,amount,status'];
    for (let id = 1; id <= 200_000; id++) lines.push(`${id},${id % 1000}.25,s${id % 7}`);
    await writeFile(csv, `${lines.join('\n')}\n`);
    const args = [CLI, 'tables', 'import', 'cli_p', 'in_c_sales', 'orders', csv, '--profile', 'p'];
    const command = [process.execPath, ...args].map(quote).join(' ');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TERM: 'xterm' };
    const tty = await promisify(execFile)('script', ['-qec', command, '/dev/null'], { env, cwd: root, maxBuffer: 64 * 1024 * 1024 });
    // The bar (shades_classic: █ for done, ░ for to do) started at 0% and ended full at 100%.
    expect(tty.stdout).toContain('Uploading [');
    expect(tty.stdout).toMatch(/\] 0% \|/);
    expect(tty.stdout).toMatch(/\[█{30}\] 100% \|/);
    // Then the import job's live status line, ending on its final state.
    expect(tty.stdout).toMatch(/Job j_[0-9a-z_]+ success · 200000 rows/);
    expect(tty.stdout).toContain('Imported 200000 row(s)');

    const piped = await cli(args.slice(1));
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).toBe('Imported 200000 row(s) into in_c_sales.orders; the table has 200000 row(s)\n');
  });

  it('ran every command as a child process', () => {
    const sink = new Writable({ write: (_c, _e, done) => done() });
    const leaves = leafCommands(buildProgram({ env: {}, stdout: sink, stderr: sink, stdin: process.stdin }));
    expect(leaves.filter((path) => !invoked.has(path))).toEqual([]);
  });
});
