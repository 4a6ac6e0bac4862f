import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/server.ts';
import { captureLogger, testConfig } from './helpers.ts';
import { CHROMIUM } from './setup/chromium.ts';

// As the machines run it: headless, no sandbox (root), and no background traffic.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const skip = process.env.SKIP_BROWSER_TESTS === '1';

describe.skipIf(skip)('GET /docs in a real browser', () => {
  let root: string;
  let server: RunningServer;
  let browser: BrowserContext;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run the tests as root once (tests/setup/chromium.ts installs it) or apt-get install chromium`);
    root = await mkdtemp(join(tmpdir(), 'dsa-docs-'));
    server = await startServer(testConfig(join(root, 'data'), { HOST: '127.0.0.1', PORT: '0' }), captureLogger().logger);
    // A fresh profile folder for every run.
    browser = await chromium.launchPersistentContext(join(root, 'profile'), { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('renders every documented endpoint with assets from the service only, without errors', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    const requested: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
    page.on('request', (request) => requested.push(request.url()));

    const response = await page.goto(`${server.url}/docs`);
    expect(response?.status()).toBe(200);
    await page.waitForSelector('.opblock-summary-path', { timeout: 30_000 });

    const doc = await (await fetch(`${server.url}/openapi.json`)).json();
    const expected = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      // Branch twins are listed in the document and summed up on the page, not rendered one by one.
      .flatMap(([path, item]) => Object.entries(item as Record<string, Record<string, unknown>>).filter(([, op]) => !op['x-branch-twin-of']).map(([method]) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(await page.innerText('body')).toContain('/projects/{id}/branches/{branch}/');
    const rendered = await page.$$eval('.opblock', (blocks) =>
      blocks.map((block) => {
        const method = block.querySelector('.opblock-summary-method')?.textContent?.trim() ?? '';
        const path = block.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '';
        return `${method} ${path}`;
      }),
    );
    expect(rendered.sort()).toEqual(expected);

    const text = (await page.innerText('body')).replace(/\u200b/g, '');
    for (const path of ['/health', '/openapi.json', '/projects/{id}/buckets/{bucket}/tables', '/metrics']) expect(text).toContain(path);
    expect(text).toContain('DuckDB Storage API');
    expect(await page.locator('.btn.authorize').count()).toBe(1);

    // An operation opens with its body schema rendered from the document.
    const createTable = page.locator('.opblock-post', { has: page.locator('[data-path="/projects/{id}/buckets/{bucket}/tables"]') });
    await createTable.locator('.opblock-summary').click();
    await createTable.locator('.opblock-body').waitFor({ timeout: 10_000 });
    const opened = await createTable.innerText();
    expect(opened).toContain('primary_key');
    expect(opened).toContain('table_exists');

    // Everything came from this service: page, script, styles, document.
    const origin = new URL(server.url).origin;
    expect(requested.filter((url) => !url.startsWith(origin) && !url.startsWith('data:'))).toEqual([]);
    expect(requested).toContain(`${origin}/docs/assets/swagger-ui-bundle.js`);
    expect(requested).toContain(`${origin}/openapi.json`);
    expect(problems).toEqual([]);

    await page.screenshot({ path: join(root, 'docs.png') });
    if (process.env.DOCS_SCREENSHOT) await page.screenshot({ path: process.env.DOCS_SCREENSHOT, fullPage: false });
    await page.close();
  });

  it('serves the page and its assets without a key, and nothing outside its asset list', async () => {
    const page = await fetch(`${server.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);

    const css = await fetch(`${server.url}/docs/assets/swagger-ui.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect((await css.text()).length).toBeGreaterThan(1000);

    for (const name of ['package.json', 'index.html', '..%2Fpackage.json', 'swagger-initializer.js']) {
      const refused = await fetch(`${server.url}/docs/assets/${name}`);
      expect(refused.status, name).toBe(404);
      expect((await refused.json()).detail.error).toBe('not_found');
    }
  });
});
