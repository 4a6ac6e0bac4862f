// The data explorer (GET /ui) driven in the real Chromium the docs test uses: a person with
// a project key looks at tables, rows, a profile, snapshots and query results.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../src/routes.ts';
import { startServer, type RunningServer } from '../src/server.ts';
import { ADMIN_KEY, captureLogger, testConfig } from './helpers.ts';
import { CHROMIUM } from './setup/chromium.ts';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const skip = process.env.SKIP_BROWSER_TESTS === '1';

const PROJECT = 'explore';
const ORDERS = Array.from({ length: 250 }, (_, i) => ({ id: i + 1, customer: `c${i % 10}`, amount: (i * 37) % 1000 }));

describe.skipIf(skip)('GET /ui, the data explorer, in a real browser', () => {
  let root: string;
  let server: RunningServer;
  let browser: BrowserContext;
  let key: string;
  let branchesExist = false;
  const log = captureLogger();

  async function api(method: string, path: string, body?: unknown, auth = key, contentType = 'application/json'): Promise<any> {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** A page that records every request URL, console error and page error. */
  async function watchedPage(viewport?: { width: number; height: number }) {
    // Chromium reports every 4xx answer as a failed resource load: these are the ones the test expects.
    const expected = [`400 /projects/${PROJECT}/query`, ...(branchesExist ? [] : [`404 /projects/${PROJECT}/branches`])];
    const page = await browser.newPage();
    if (viewport) await page.setViewportSize(viewport);
    const problems: string[] = [];
    const requested: string[] = [];
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const status = /^Failed to load resource: the server responded with a status of (\d+) \(([^)]*)\)$/.exec(message.text());
      const path = new URL(message.location().url || server.url).pathname;
      if (status && expected.includes(`${status[1]} ${path}`)) return;
      problems.push(`console: ${message.text()} ${message.location().url}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
    page.on('request', (request) => requested.push(request.url()));
    return { page, problems, requested };
  }

  async function logIn(page: Page, secret = key): Promise<void> {
    const response = await page.goto(`${server.url}/ui`);
    expect(response?.status()).toBe(200);
    await page.fill('#key', secret);
    await page.click('form.login button[type=submit]');
  }

  const pageInfo = (page: Page) => page.locator('.pager .page-info').first().innerText();

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run the tests as root once (tests/setup/chromium.ts installs it) or apt-get install chromium`);
    root = await mkdtemp(join(tmpdir(), 'dsa-ui-'));
    server = await startServer(testConfig(join(root, 'data'), { HOST: '127.0.0.1', PORT: '0' }), log.logger);
    key = (await api('POST', '/projects', { id: PROJECT }, ADMIN_KEY)).api_key;
    const P = `/projects/${PROJECT}`;
    await api('POST', `${P}/buckets`, { name: 'in_c_sales', description: 'Sales data' });
    await api('POST', `${P}/buckets/in_c_sales/metadata`, { metadata: [{ key: 'owner', value: 'team-sales' }] });
    await api('POST', `${P}/buckets/in_c_sales/tables`, { name: 'orders', columns: [{ name: 'id', type: 'INTEGER' }, { name: 'customer', type: 'VARCHAR' }, { name: 'amount', type: 'DOUBLE' }], primary_key: ['id'] });
    await api('POST', `${P}/buckets/in_c_sales/tables/orders/import`, ['id,customer,amount', ...ORDERS.map((o) => `${o.id},${o.customer},${o.amount}`)].join('\n'), key, 'text/csv');
    await api('POST', `${P}/buckets/in_c_sales/tables/orders/snapshots`, { description: 'all 250 orders' });
    const wide = Array.from({ length: 1000 }, (_, i) => `c${i}`);
    await api('POST', `${P}/buckets/in_c_sales/tables`, { name: 'wide', columns: wide.map((name) => ({ name, type: 'VARCHAR' })) });
    await api('POST', `${P}/buckets/in_c_sales/tables/wide/import`, [wide.join(','), ...[1, 2, 3].map((r) => wide.map((c) => `${c}r${r}`).join(','))].join('\n'), key, 'text/csv');
    await api('POST', `${P}/buckets`, { name: 'in_c_big' });
    await api('POST', `${P}/buckets/in_c_big/tables`, { name: 'events', columns: [{ name: 'n', type: 'INTEGER' }, { name: 'label', type: 'VARCHAR' }] });
    await api('POST', `${P}/buckets/in_c_big/tables/events/import`, ['n,label', ...Array.from({ length: 10_000 }, (_, i) => `${i + 1},event ${i + 1}`)].join('\n'), key, 'text/csv');
    branchesExist = (await fetch(`${server.url}${P}/branches`, { headers: { authorization: `Bearer ${key}` } })).status === 200;
    browser = await chromium.launchPersistentContext(join(root, 'profile'), { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, acceptDownloads: true, viewport: { width: 1280, height: 800 } });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('serves the page without a key, with a strict CSP and no inline code, and only its two files', async () => {
    const page = await fetch(`${server.url}/ui`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>|<style|style=/);
    for (const [file, type] of [['app.js', /^text\/javascript/], ['app.css', /^text\/css/]] as const) {
      const asset = await fetch(`${server.url}/ui/assets/${file}`);
      expect(asset.status, file).toBe(200);
      expect(asset.headers.get('content-type')).toMatch(type);
      const text = await asset.text();
      expect(text.length).toBeGreaterThan(1000);
      // Nothing remote: no CDN, no web fonts.
      expect(text).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    }
    for (const name of ['main.ts', 'package.json', '..%2Fpackage.json', 'style.css']) {
      const refused = await fetch(`${server.url}/ui/assets/${name}`);
      expect(refused.status, name).toBe(404);
      expect((await refused.json()).detail.error).toBe('not_found');
    }
  });

  it('a project key: tables, paged rows, a filter and a sort, the profile, snapshots, an export, SQL and its errors', async () => {
    const { page, problems, requested } = await watchedPage();
    await logIn(page);
    await page.waitForSelector('[data-table="in_c_sales.orders"]');
    // Buckets with their metadata and tables with their row counts.
    const side = await page.innerText('nav.side');
    expect(side).toContain('in_c_sales');
    expect(side).toContain('team-sales');
    expect(side).toContain('250 rows');
    expect(side).toContain('10,000 rows');
    expect(await page.evaluate(() => sessionStorage.getItem('dsa.key'))).toBe(key);
    expect(await page.evaluate(() => document.cookie)).toBe('');

    // Rows, a page at a time.
    await page.click('[data-table="in_c_sales.orders"]');
    await page.waitForSelector('#matching');
    expect(await page.innerText('#matching')).toBe('250 matching rows');
    expect(await pageInfo(page)).toContain('Rows 1–100 of 250');
    await page.click('.pager .page-next');
    expect(await pageInfo(page)).toContain('Rows 101–200 of 250');
    expect(await page.locator('table.grid tbody tr').first().locator('td.rownum').innerText()).toBe('101');
    await page.click('.pager .page-last');
    expect(await pageInfo(page)).toContain('Rows 201–250 of 250');

    // A filter typed in the header, then a sort from the header (descending on the second click).
    await page.fill('input[aria-label="Filter customer"]', '=c7');
    await page.press('input[aria-label="Filter customer"]', 'Enter');
    await page.waitForFunction(() => document.querySelector('#matching')?.textContent === '25 matching rows');
    await page.click('th[data-column="amount"] button.sort');
    await page.waitForSelector('th[data-column="amount"] button.sort[aria-sort="ascending"]');
    await page.click('th[data-column="amount"] button.sort');
    await page.waitForSelector('th[data-column="amount"] button.sort[aria-sort="descending"]');
    const expected = ORDERS.filter((o) => o.customer === 'c7').sort((a, b) => b.amount - a.amount);
    const shown = await page.$$eval('table.grid tbody tr', (rows) => rows.map((row) => [...row.querySelectorAll('td:not(.spacer)')].map((td) => td.textContent)));
    expect(shown.map((cells) => Number(cells[3]))).toEqual(expected.map((o) => o.amount));
    expect(new Set(shown.map((cells) => cells[2]))).toEqual(new Set(['c7']));
    expect(await page.inputValue('input[aria-label="Filter customer"]')).toBe('=c7');

    // An export of what is shown, fetched with the key and saved from a Blob.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('button.export-csv')]);
    expect(download.suggestedFilename()).toBe('orders.csv');
    const csv = (await readFile((await download.path())!, 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('id,customer,amount');
    expect(csv.length).toBe(26);
    expect(download.url()).toMatch(/^blob:/);

    // The profile.
    await page.click('[data-tab="profile"]');
    await page.waitForSelector('#profile-info');
    expect(await page.innerText('#profile-info')).toContain('250 rows');
    const profile = await page.innerText('.profile table.grid');
    expect(profile).toContain('customer');
    expect(profile).toContain('distinct_count');

    // Snapshots: the one taken, restored (two clicks: it replaces the table).
    await api('POST', `/projects/${PROJECT}/buckets/in_c_sales/tables/orders/delete-rows`, { filters: [{ column: 'id', operator: 'gt', values: [100] }] });
    await page.click('[data-table="in_c_sales.orders"]');
    await page.waitForFunction(() => document.querySelector('#row-count')?.textContent === '100 rows');
    await page.click('[data-tab="snapshots"]');
    await page.waitForSelector('button.restore');
    expect(await page.innerText('table.snapshots')).toContain('all 250 orders');
    await page.click('button.restore');
    await page.click('button.restore.confirm');
    await page.waitForSelector('.status .notice:has-text("Restored")');
    await page.waitForFunction(() => document.querySelector('#row-count')?.textContent === '250 rows');
    expect((await api('GET', `/projects/${PROJECT}/buckets/in_c_sales/tables/orders`)).row_count).toBe(250);

    // The SQL console: rows, elapsed time and the truncation flag.
    await page.click('#sql-open');
    await page.fill('#sql', 'SELECT customer, count(*) AS n FROM in_c_sales.orders GROUP BY 1 ORDER BY 1');
    await page.click('#sql-run');
    await page.waitForSelector('#sql-rows');
    expect(await page.innerText('#sql-rows')).toBe('10 rows');
    expect(await page.innerText('#sql-meta')).toMatch(/\d+(\.\d+)? ms · complete/);
    const cells = await page.$$eval('.sql-result table.grid tbody tr', (rows) => rows.map((row) => [...row.querySelectorAll('td:not(.spacer):not(.rownum)')].map((td) => td.textContent)));
    expect(cells).toEqual(Array.from({ length: 10 }, (_, i) => [`c${i}`, '25']));
    await page.fill('#sql-limit', '3');
    await page.click('#sql-run');
    await page.waitForSelector('#sql-truncated.warn');
    expect(await page.innerText('#sql-rows')).toBe('3 rows');

    // A bad query shows its code and message.
    await page.fill('#sql', 'SELEC nothing FROM nowhere');
    await page.click('#sql-run');
    await page.waitForSelector('#sql-meta .error');
    expect(await page.innerText('#sql-meta .error-code')).toBe('invalid_query');
    expect((await page.innerText('#sql-meta .error-message')).length).toBeGreaterThan(0);

    // Everything from this service; the key in no URL and nowhere in the server's log.
    const origin = new URL(server.url).origin;
    expect(requested.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('blob:') && !url.startsWith('data:'))).toEqual([]);
    expect(requested).toContain(`${origin}/ui/assets/app.js`);
    expect(requested).toContain(`${origin}/projects/${PROJECT}/query`);
    for (const url of requested) expect(decodeURIComponent(url)).not.toContain(key);
    expect(log.lines.length).toBeGreaterThan(10);
    expect(log.lines.join('\n')).not.toContain(key);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('the branch switcher: a development branch when the service has them, hidden when it answers 404', async () => {
    // Which half runs follows the route table (§14 branches), never a silent skip.
    expect(branchesExist).toBe(routes.some((r) => r.method === 'GET' && r.path === '/projects/:id/branches'));
    const { page, problems } = await watchedPage();
    if (!branchesExist) {
      await logIn(page);
      await page.waitForSelector('[data-table="in_c_sales.orders"]');
      expect(await page.locator('#branch').count()).toBe(0);
      expect(problems).toEqual([]);
      await page.close();
      return;
    }
    const branch = await api('POST', `/projects/${PROJECT}/branches`, { name: 'experiment' });
    await api('POST', `/projects/${PROJECT}/branches/${branch.id}/buckets/in_c_sales/tables/orders/delete-rows`, { filters: [{ column: 'id', operator: 'gt', values: [10] }] });
    await logIn(page);
    await page.waitForSelector('#branch');
    await page.selectOption('#branch', branch.id);
    await page.waitForSelector('[data-table="in_c_sales.orders"] .badge.state-copied');
    expect(await page.innerText('[data-table="in_c_sales.orders"]')).toContain('10 rows');
    expect(await page.innerText('[data-table="in_c_sales.wide"]')).toContain('main');
    await page.click('[data-table="in_c_sales.orders"]');
    await page.waitForFunction(() => document.querySelector('#matching')?.textContent === '10 matching rows');
    await page.click('#sql-open');
    await page.fill('#sql', 'SELECT count(*) AS n FROM in_c_sales.orders');
    await page.click('#sql-run');
    await page.waitForSelector('#sql-rows');
    expect(await page.innerText('.sql-result tbody td:not(.rownum):not(.spacer)')).toBe('10');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('a 1,000-column table and a 10,000-row preview render only what is in view', async () => {
    const { page, problems } = await watchedPage();
    await logIn(page);
    await page.click('[data-table="in_c_sales.wide"]');
    await page.waitForSelector('#matching');
    expect(await page.innerText('.pager .col-info')).toBe('1,000 columns');
    const headers = await page.locator('table.grid thead th[data-column]').count();
    expect(headers).toBeGreaterThan(3);
    expect(headers).toBeLessThan(60);
    // Scrolled to the far right, the last columns are rendered and the first ones are not.
    await page.locator('.grid-scroll').evaluate((el) => {
      el.scrollLeft = el.scrollWidth;
    });
    await page.waitForSelector('th[data-column="c999"]');
    expect(await page.locator('th[data-column="c0"]').count()).toBe(0);
    expect(await page.innerText('table.grid tbody tr:nth-child(3) td:nth-last-child(1)')).toBe('c999r3');

    await page.click('[data-table="in_c_big.events"]');
    await page.waitForFunction(() => document.querySelector('#matching')?.textContent === '10,000 matching rows');
    await page.selectOption('#preview-limit', '10000');
    await page.waitForFunction(() => document.querySelector('.pager .page-info')?.textContent?.includes('of 10,000'));
    expect(await page.locator('table.grid tbody tr').count()).toBe(100);
    await page.click('.pager .page-last');
    expect(await pageInfo(page)).toContain('Rows 9901–10000 of 10,000');
    expect(await page.locator('table.grid tbody tr').last().innerText()).toContain('event 10000');
    expect(problems).toEqual([]);

    await page.click('[data-table="in_c_sales.orders"]');
    await page.waitForFunction(() => document.querySelector('#matching')?.textContent === '250 matching rows');
    const shot = process.env.UI_SCREENSHOT ?? join(root, 'explorer.png');
    await mkdir(dirname(shot), { recursive: true });
    await page.setViewportSize({ width: 1100, height: 640 });
    await page.screenshot({ path: shot });
    await page.close();
  });

  it('works at phone width, and an admin key picks the project from a list', async () => {
    const { page, problems } = await watchedPage({ width: 390, height: 844 });
    await logIn(page, ADMIN_KEY);
    await page.waitForSelector(`button.project-pick[data-project="${PROJECT}"]`);
    await page.click(`button.project-pick[data-project="${PROJECT}"]`);
    await page.waitForSelector('[data-table="in_c_sales.orders"]');
    await page.click('[data-table="in_c_sales.orders"]');
    await page.waitForSelector('#matching');
    // Nothing wider than the window: the grid scrolls inside its own box.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const grid = await page.locator('.grid-scroll').boundingBox();
    expect(grid!.width).toBeLessThanOrEqual(390);
    expect(await page.locator('nav.side').boundingBox().then((b) => b!.y)).toBeLessThan(grid!.y);
    expect(log.lines.join('\n')).not.toContain(ADMIN_KEY);
    expect(problems).toEqual([]);
    await page.close();
  });
});
