// The data explorer (GET /ui): plain DOM on the service's own API. The key the person
// enters lives in sessionStorage only and travels in the Authorization header only.
import './style.css';
import { Api, ApiError, enc, projectOfKey } from './api.ts';
import { fill, formatBytes, h } from './dom.ts';
import { Grid, parseFilter, type SortKey } from './grid.ts';

const STORE = { key: 'dsa.key', project: 'dsa.project', branch: 'dsa.branch' };
const ROOT = new URL('./', location.href);

interface Branch {
  id: string;
  name: string;
  is_default: boolean;
}
interface Column {
  name: string;
  type: string;
  nullable?: boolean;
  default?: unknown;
  metadata?: Meta[];
}
interface Meta {
  key: string;
  value: string;
  provider: string;
}
interface Table {
  name: string;
  bucket: string;
  columns: Column[];
  row_count: number;
  size_bytes: number;
  primary_key: string[];
  branch_state?: string;
  metadata?: Meta[];
}
interface Bucket {
  name: string;
  description: string | null;
  is_linked: boolean;
  source_project_id: string | null;
  source_bucket_name: string | null;
  table_count: number;
  metadata?: Meta[];
}

interface State {
  api: Api;
  project: string;
  scope: string;
  /** A branch-restricted key's branch (§11), which it cannot leave. */
  keyBranch: string | null;
  branch: string;
  branches: Branch[] | null;
  buckets: Bucket[];
  tables: Map<string, Table[]>;
  table: Table | null;
  tab: 'rows' | 'columns' | 'profile' | 'snapshots' | 'sql';
  preview: { filters: Map<string, string>; sort: SortKey | null; limit: number };
  sql: { text: string; limit: number };
}

const app = document.getElementById('app')!;
let state: State | null = null;

function projectPath(s: State): string {
  const base = `projects/${enc(s.project)}`;
  return s.branch === 'default' ? base : `${base}/branches/${enc(s.branch)}`;
}
function tablePath(s: State, t: Table): string {
  return `${projectPath(s)}/buckets/${enc(t.bucket)}/tables/${enc(t.name)}`;
}

function errorBox(error: unknown): HTMLElement {
  if (error instanceof ApiError) return h('div', { class: 'error', role: 'alert' }, h('code', { class: 'error-code' }, error.code), ' ', h('span', { class: 'error-message' }, error.message), error.status ? h('span', { class: 'error-status' }, ` (HTTP ${error.status})`) : null);
  return h('div', { class: 'error', role: 'alert' }, h('code', { class: 'error-code' }, 'client_error'), ' ', String(error instanceof Error ? error.message : error));
}

// ── Login ────────────────────────────────────────────────────────────────────

function showLogin(message?: unknown): void {
  state = null;
  const key = h('input', { id: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'proj_… or the service admin key', required: true });
  const project = h('input', { id: 'project', type: 'text', autocomplete: 'off', placeholder: 'from the key, or pick one (admin key)' });
  const form = h(
    'form',
    { class: 'login card' },
    h('h1', {}, 'DuckDB Storage explorer'),
    h('p', { class: 'muted' }, 'The key stays in this tab (sessionStorage) and is sent only in the Authorization header.'),
    h('label', { for: 'key' }, 'API key'),
    key,
    h('label', { for: 'project' }, 'Project id (optional)'),
    project,
    h('button', { type: 'submit', class: 'primary' }, 'Open'),
    message ? errorBox(message) : null,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(STORE.key, key.value.trim());
    if (project.value.trim()) sessionStorage.setItem(STORE.project, project.value.trim());
    else sessionStorage.removeItem(STORE.project);
    sessionStorage.removeItem(STORE.branch);
    void start();
  });
  fill(app, h('div', { class: 'center' }, form));
  key.focus();
}

async function start(): Promise<void> {
  const key = sessionStorage.getItem(STORE.key);
  if (!key) return showLogin();
  const api = new Api(ROOT, key);
  const project = sessionStorage.getItem(STORE.project) ?? projectOfKey(key);
  fill(app, h('div', { class: 'center muted' }, 'Loading…'));
  try {
    if (!project) return await showProjectPicker(api);
    const current = await api.request<{ scope: string; branch?: string | null }>('GET', `projects/${enc(project)}/api-keys/current`);
    const keyBranch = current.branch ?? null;
    state = {
      api,
      project,
      scope: current.scope,
      keyBranch,
      branch: keyBranch ?? sessionStorage.getItem(STORE.branch) ?? 'default',
      branches: null,
      buckets: [],
      tables: new Map(),
      table: null,
      tab: 'rows',
      preview: { filters: new Map(), sort: null, limit: 1000 },
      sql: { text: '', limit: 1000 },
    };
    await loadBranches(state);
    renderShell(state);
    await loadBuckets(state);
  } catch (error) {
    sessionStorage.removeItem(STORE.project);
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) sessionStorage.removeItem(STORE.key);
    showLogin(error);
  }
}

async function showProjectPicker(api: Api): Promise<void> {
  const list = await api.request<{ projects: { id: string; name?: string | null }[]; total: number }>('GET', 'projects');
  const items = list.projects.map((p) =>
    h('li', {}, h('button', { type: 'button', class: 'link project-pick', 'data-project': p.id, onclick: () => { sessionStorage.setItem(STORE.project, p.id); void start(); } }, p.id, p.name && p.name !== p.id ? h('span', { class: 'muted' }, ` ${p.name}`) : null)),
  );
  fill(app, h('div', { class: 'center' }, h('div', { class: 'card picker' }, h('h1', {}, 'Pick a project'), items.length ? h('ul', { class: 'plain' }, items) : h('p', { class: 'muted' }, 'No projects yet.'), h('button', { type: 'button', onclick: logout }, 'Log out'))));
}

function logout(): void {
  sessionStorage.removeItem(STORE.key);
  sessionStorage.removeItem(STORE.project);
  sessionStorage.removeItem(STORE.branch);
  showLogin();
}

// ── Shell: header, buckets and tables, the main panel ────────────────────────

async function loadBranches(s: State): Promise<void> {
  if (s.keyBranch) {
    s.branches = [await s.api.request<Branch>('GET', `projects/${enc(s.project)}/branches/${enc(s.keyBranch)}`)];
    return;
  }
  try {
    s.branches = (await s.api.request<{ branches: Branch[] }>('GET', `projects/${enc(s.project)}/branches`)).branches;
  } catch (error) {
    // A service without development branches (404) simply has no switcher.
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) s.branches = null;
    else throw error;
  }
  if (!s.branches?.some((b) => b.id === s.branch)) s.branch = 'default';
}

const shell = { side: h('nav'), main: h('main'), status: h('div') };

function renderShell(s: State): void {
  const branchPicker = s.branches
    ? h(
        'label',
        { class: 'branch' },
        'Branch ',
        (() => {
          const select = h('select', { id: 'branch', disabled: s.keyBranch !== null }, s.branches.map((b) => h('option', { value: b.id, selected: b.id === s.branch }, b.is_default ? `${b.name} (default)` : b.name)));
          select.addEventListener('change', () => void switchBranch(s, select.value));
          return select;
        })(),
      )
    : null;
  shell.side = h('nav', { class: 'side', 'aria-label': 'Buckets and tables' });
  shell.main = h('main', { class: 'main' });
  shell.status = h('div', { class: 'status', role: 'status' });
  fill(
    app,
    h(
      'header',
      { class: 'top' },
      h('strong', { class: 'brand' }, 'Storage explorer'),
      h('span', { class: 'project' }, 'Project ', h('code', { id: 'project-id' }, s.project)),
      branchPicker,
      h('span', { class: 'badge', title: 'Scope of the key' }, s.scope),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', id: 'sql-open', onclick: () => openSql(s) }, 'SQL'),
      sessionStorage.getItem(STORE.project) && !projectOfKey(sessionStorage.getItem(STORE.key) ?? '') ? h('button', { type: 'button', onclick: () => { sessionStorage.removeItem(STORE.project); void start(); } }, 'Projects') : null,
      h('button', { type: 'button', id: 'logout', onclick: logout }, 'Log out'),
    ),
    shell.status,
    h('div', { class: 'body' }, shell.side, shell.main),
  );
  fill(shell.main, h('p', { class: 'muted' }, 'Pick a table on the left, or open the SQL console.'));
}

async function switchBranch(s: State, branch: string): Promise<void> {
  s.branch = branch;
  sessionStorage.setItem(STORE.branch, branch);
  s.table = null;
  s.tables.clear();
  fill(shell.main, h('p', { class: 'muted' }, 'Pick a table on the left, or open the SQL console.'));
  await loadBuckets(s);
}

async function loadBuckets(s: State): Promise<void> {
  fill(shell.side, h('p', { class: 'muted' }, 'Loading buckets…'));
  try {
    s.buckets = (await s.api.request<{ buckets: Bucket[] }>('GET', `${projectPath(s)}/buckets`)).buckets;
    const lists = await Promise.all(s.buckets.map((b) => s.api.request<{ tables: Table[] }>('GET', `${projectPath(s)}/buckets/${enc(b.name)}/tables`).then((r) => r.tables)));
    s.tables = new Map(s.buckets.map((b, i) => [b.name, lists[i]!]));
    renderSide(s);
  } catch (error) {
    fill(shell.side, errorBox(error));
  }
}

function metaList(entries: Meta[] | undefined): HTMLElement | null {
  if (!entries?.length) return null;
  return h('dl', { class: 'meta' }, entries.flatMap((m) => [h('dt', { title: m.provider }, m.key), h('dd', {}, m.value)]));
}

function renderSide(s: State): void {
  if (!s.buckets.length) return fill(shell.side, h('p', { class: 'muted' }, 'No buckets.'));
  fill(
    shell.side,
    s.buckets.map((b) =>
      h(
        'details',
        { class: 'bucket', open: true, 'data-bucket': b.name },
        h('summary', {}, h('span', { class: 'bucket-name' }, b.name), b.is_linked ? h('span', { class: 'badge linked', title: `Linked from ${b.source_project_id}.${b.source_bucket_name}` }, 'linked') : null, h('span', { class: 'muted' }, ` ${b.table_count}`)),
        b.description ? h('p', { class: 'muted small' }, b.description) : null,
        metaList(b.metadata),
        h(
          'ul',
          { class: 'plain tables' },
          (s.tables.get(b.name) ?? []).map((t) =>
            h(
              'li',
              {},
              h(
                'button',
                { type: 'button', class: `link table-link${s.table?.bucket === t.bucket && s.table.name === t.name ? ' active' : ''}`, 'data-table': `${t.bucket}.${t.name}`, onclick: () => void openTable(s, t) },
                t.name,
                h('span', { class: 'muted small' }, ` ${t.row_count.toLocaleString('en')} rows · ${formatBytes(t.size_bytes)}`),
                t.branch_state ? h('span', { class: `badge state-${t.branch_state}` }, t.branch_state) : null,
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

// ── A table ──────────────────────────────────────────────────────────────────

async function openTable(s: State, t: Table): Promise<void> {
  if (s.table?.bucket !== t.bucket || s.table.name !== t.name) s.preview = { filters: new Map(), sort: null, limit: s.preview.limit };
  s.table = t;
  shell.status.replaceChildren();
  if (s.tab === 'sql') s.tab = 'rows';
  renderSide(s);
  fill(shell.main, h('p', { class: 'muted' }, `Loading ${t.bucket}.${t.name}…`));
  try {
    s.table = await s.api.request<Table>('GET', tablePath(s, t));
  } catch (error) {
    return fill(shell.main, errorBox(error));
  }
  renderTable(s);
}

function renderTable(s: State): void {
  const t = s.table!;
  const body = h('div', { class: 'tab-body' });
  const tabs = (['rows', 'columns', 'profile', 'snapshots'] as const).map((tab) =>
    h('button', { type: 'button', role: 'tab', class: `tab${s.tab === tab ? ' active' : ''}`, 'data-tab': tab, 'aria-selected': String(s.tab === tab), onclick: () => { s.tab = tab; renderTable(s); } }, tab[0]!.toUpperCase() + tab.slice(1)),
  );
  fill(
    shell.main,
    h(
      'section',
      { class: 'table-head' },
      h('h2', {}, h('span', { class: 'muted' }, `${t.bucket}.`), t.name),
      h(
        'p',
        { class: 'facts' },
        h('span', { id: 'row-count' }, `${t.row_count.toLocaleString('en')} rows`),
        ` · ${t.columns.length.toLocaleString('en')} columns · ${formatBytes(t.size_bytes)}`,
        t.primary_key.length ? ` · key (${t.primary_key.join(', ')})` : ' · no primary key',
        t.branch_state ? h('span', { class: `badge state-${t.branch_state}` }, t.branch_state) : null,
      ),
      metaList(t.metadata),
    ),
    h('div', { class: 'tabs', role: 'tablist' }, tabs),
    body,
  );
  if (s.tab === 'rows') void renderRows(s, t, body);
  else if (s.tab === 'columns') renderColumns(t, body);
  else if (s.tab === 'profile') void renderProfile(s, t, body);
  else void renderSnapshots(s, t, body);
}

function previewBody(s: State): Record<string, unknown> {
  const filters = [...s.preview.filters].map(([column, text]) => parseFilter(column, text)).filter((f) => f !== null);
  return { limit: s.preview.limit, filters, order_by: s.preview.sort ? [s.preview.sort] : [] };
}

async function renderRows(s: State, t: Table, body: HTMLElement): Promise<void> {
  const limit = h('select', { id: 'preview-limit', 'aria-label': 'Rows to load' }, [100, 1000, 10000].map((n) => h('option', { value: n, selected: n === s.preview.limit }, `${n.toLocaleString('en')} rows`)));
  limit.addEventListener('change', () => {
    s.preview.limit = Number(limit.value);
    renderTable(s);
  });
  const grid = h('div', { class: 'rows' }, h('p', { class: 'muted' }, 'Loading rows…'));
  const exportStatus = h('span', { class: 'export-status muted' });
  const exportButton = (format: string) =>
    h('button', { type: 'button', class: `export export-${format}`, onclick: () => void download(s, t, format, exportStatus) }, format.toUpperCase());
  const filters = s.preview.filters.size
    ? h('span', { class: 'active-filters' }, `${s.preview.filters.size} filter(s) `, h('button', { type: 'button', class: 'link', onclick: () => { s.preview.filters.clear(); renderTable(s); } }, 'clear'))
    : null;
  fill(body, h('div', { class: 'toolbar' }, limit, filters, h('span', { class: 'spacer' }), 'Export ', ['csv', 'ndjson', 'parquet'].map(exportButton), exportStatus), grid);
  try {
    const result = await s.api.request<{ columns: Column[]; rows: Record<string, unknown>[]; total_row_count: number }>('POST', `${tablePath(s, t)}/preview`, previewBody(s));
    if (s.table !== t) return;
    const view = new Grid({
      columns: result.columns,
      rows: result.rows,
      total: result.total_row_count,
      sort: s.preview.sort,
      filters: s.preview.filters,
      onSort: (sort) => {
        s.preview.sort = sort;
        renderTable(s);
      },
      onFilter: (column, text) => {
        if (text.trim()) s.preview.filters.set(column, text);
        else s.preview.filters.delete(column);
        renderTable(s);
      },
    });
    fill(grid, h('p', { class: 'muted small', id: 'matching' }, `${result.total_row_count.toLocaleString('en')} matching rows`), view.el);
  } catch (error) {
    fill(grid, errorBox(error));
  }
}

/** The export with the current filters and sort, fetched with the key and saved as a Blob. */
async function download(s: State, t: Table, format: string, status: HTMLElement): Promise<void> {
  fill(status, 'downloading…');
  try {
    const { limit: _limit, ...rest } = previewBody(s);
    const { blob, name } = await s.api.download('POST', `${tablePath(s, t)}/export`, { format, ...rest }, `${t.name}.${format}`);
    const url = URL.createObjectURL(blob);
    const link = h('a', { href: url, download: name, class: 'hidden' });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    fill(status, `saved ${name} (${formatBytes(blob.size)})`);
  } catch (error) {
    fill(status, errorBox(error));
  }
}

function renderColumns(t: Table, body: HTMLElement): void {
  const rows = t.columns.map((c) =>
    h('tr', {}, h('td', {}, c.name, t.primary_key.includes(c.name) ? h('span', { class: 'badge key' }, 'key') : null), h('td', {}, h('code', {}, c.type)), h('td', {}, c.nullable === false ? 'NOT NULL' : 'nullable'), h('td', {}, c.default === null || c.default === undefined ? '' : String(c.default)), h('td', {}, metaList(c.metadata))),
  );
  fill(body, h('div', { class: 'scroll' }, h('table', { class: 'plain-table columns' }, h('thead', {}, h('tr', {}, ['Column', 'Type', 'Null', 'Default', 'Metadata'].map((x) => h('th', {}, x)))), h('tbody', {}, rows))));
}

async function renderProfile(s: State, t: Table, body: HTMLElement): Promise<void> {
  fill(body, h('p', { class: 'muted' }, 'Profiling…'));
  try {
    const profile = await s.api.request<{ row_count: number; profiled_at: string; columns: Record<string, unknown>[] }>('GET', `${tablePath(s, t)}/profile`);
    const fields = ['name', 'type', 'null_count', 'distinct_count', 'min', 'max', 'avg', 'std', 'q25', 'q50', 'q75'];
    const grid = new Grid({ columns: fields.map((name) => ({ name })), rows: profile.columns, pageSize: 100 });
    fill(body, h('p', { class: 'muted small', id: 'profile-info' }, `${profile.row_count.toLocaleString('en')} rows, profiled at ${profile.profiled_at}`), h('div', { class: 'profile' }, grid.el));
  } catch (error) {
    fill(body, errorBox(error));
  }
}

interface Snapshot {
  id: string;
  description: string | null;
  kind: string;
  reason: string | null;
  row_count: number;
  size_bytes: number;
  created_at: string;
  expires_at: string | null;
}

async function renderSnapshots(s: State, t: Table, body: HTMLElement): Promise<void> {
  const status = h('div', { class: 'snapshot-status' });
  const take = h('button', { type: 'button', id: 'snapshot-take', onclick: () => void takeSnapshot() }, 'Take snapshot');
  const list = h('div', {}, h('p', { class: 'muted' }, 'Loading snapshots…'));
  fill(body, h('div', { class: 'toolbar' }, take, status), list);

  async function takeSnapshot(): Promise<void> {
    try {
      const snap = await s.api.request<Snapshot>('POST', `${tablePath(s, t)}/snapshots`, {});
      fill(status, `Snapshot ${snap.id} taken.`);
      await load();
    } catch (error) {
      fill(status, errorBox(error));
    }
  }

  async function restore(snap: Snapshot, button: HTMLButtonElement): Promise<void> {
    // Two steps: a restore replaces the current table (an auto snapshot keeps it).
    if (!button.classList.contains('confirm')) {
      button.classList.add('confirm');
      button.textContent = 'Replace the table?';
      return;
    }
    try {
      const result = await s.api.request<{ table: Table; auto_snapshot_id: string | null }>('POST', `${projectPath(s)}/snapshots/${enc(snap.id)}/restore`, { overwrite: true });
      // Shown above the panel, which is drawn again with the restored table.
      fill(shell.status, h('span', { class: 'notice' }, `Restored ${snap.id} into ${result.table.bucket}.${result.table.name}${result.auto_snapshot_id ? `; the table before is snapshot ${result.auto_snapshot_id}` : ''}.`));
      s.table = result.table;
      await loadBuckets(s);
      renderTable(s);
    } catch (error) {
      fill(status, errorBox(error));
    }
  }

  async function load(): Promise<void> {
    try {
      const result = await s.api.request<{ snapshots: Snapshot[]; total: number }>('GET', `${tablePath(s, t)}/snapshots?limit=100`);
      if (!result.snapshots.length) return fill(list, h('p', { class: 'muted' }, 'No snapshots of this table.'));
      const rows = result.snapshots.map((snap) => {
        const button = h('button', { type: 'button', class: 'restore', 'data-snapshot': snap.id }) as HTMLButtonElement;
        button.textContent = 'Restore';
        button.addEventListener('click', () => void restore(snap, button));
        return h('tr', {}, h('td', {}, h('code', {}, snap.id)), h('td', {}, snap.created_at), h('td', {}, snap.kind, snap.reason ? ` (${snap.reason})` : ''), h('td', {}, snap.row_count.toLocaleString('en')), h('td', {}, formatBytes(snap.size_bytes)), h('td', {}, snap.description ?? ''), h('td', {}, button));
      });
      fill(list, h('div', { class: 'scroll' }, h('table', { class: 'plain-table snapshots' }, h('thead', {}, h('tr', {}, ['Id', 'Taken', 'Kind', 'Rows', 'Size', 'Description', ''].map((x) => h('th', {}, x)))), h('tbody', {}, rows))), result.total > 100 ? h('p', { class: 'muted small' }, `${result.total} in all; the newest 100 are shown.`) : null);
    } catch (error) {
      fill(list, errorBox(error));
    }
  }
  await load();
}

// ── SQL console ──────────────────────────────────────────────────────────────

function openSql(s: State): void {
  s.tab = 'sql';
  s.table = null;
  renderSide(s);
  const text = h('textarea', { id: 'sql', rows: 6, spellcheck: 'false', 'aria-label': 'SQL', placeholder: 'SELECT * FROM bucket.table LIMIT 10' });
  text.value = s.sql.text;
  const limit = h('input', { id: 'sql-limit', type: 'number', min: 1, max: 100000, value: s.sql.limit, 'aria-label': 'Row limit' });
  const meta = h('div', { class: 'sql-meta', id: 'sql-meta' });
  const result = h('div', { class: 'sql-result' });
  const run = async () => {
    s.sql = { text: text.value, limit: Number(limit.value) || 1000 };
    fill(meta, 'Running…');
    result.replaceChildren();
    try {
      const answer = await s.api.request<{ columns: { name: string; type: string }[]; rows: Record<string, unknown>[]; row_count: number; truncated: boolean; elapsed_ms: number }>('POST', `${projectPath(s)}/query`, { sql: s.sql.text, limit: s.sql.limit });
      fill(meta, h('span', { id: 'sql-rows' }, `${answer.row_count.toLocaleString('en')} rows`), ` · ${answer.elapsed_ms} ms · `, h('span', { id: 'sql-truncated', class: answer.truncated ? 'warn' : '' }, answer.truncated ? `truncated at ${s.sql.limit}` : 'complete'));
      fill(result, new Grid({ columns: answer.columns, rows: answer.rows }).el);
    } catch (error) {
      fill(meta, errorBox(error));
    }
  };
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) void run();
  });
  fill(
    shell.main,
    h('h2', {}, 'SQL console', s.branch !== 'default' ? h('span', { class: 'muted' }, ` (branch ${s.branch})`) : null),
    h('p', { class: 'muted small' }, 'Read-only: buckets are schemas, tables are bucket.table. Ctrl+Enter runs.'),
    text,
    h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'sql-run', class: 'primary', onclick: () => void run() }, 'Run'), h('label', {}, 'Limit ', limit)),
    meta,
    result,
  );
  text.focus();
}

void start();
