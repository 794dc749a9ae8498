// Browser tests of the dashboard: a real node (startTestServer) serving the built dashboard,
// driven by Debian's Chromium through playwright-core. Every page a test opens fails the test
// on a console error, an uncaught page error or a failed request; `expectAccessible` runs axe.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { WEB_ROOT } from '../../src/http/web.js';
import { startTestServer, type TestServer } from '../support.js';

export const CHROMIUM = process.env.STAGELINE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/**
 * Where screenshots go: test-results/screenshots (not versioned) unless STAGELINE_SCREENSHOTS
 * names another folder — `npm run screenshots` refreshes the ones in docs/screenshots.
 */
export const SCREENSHOTS = process.env.STAGELINE_SCREENSHOTS ?? join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
export const OWNER_TOKEN = 'test-dashboard-owner-token-0123456789';
export const VIEWPORT = { width: 1280, height: 720 };

export interface Dashboard {
  server: TestServer;
  url: string;
  browser: Browser;
  /** A JSON call to the API as the bootstrap owner. */
  api: TestServer['api'];
  /** A fresh browser context (its own storage: a second user) and a page in it, watched for errors. */
  newPage(): Promise<Page>;
  /** Problems seen on any page so far (console errors, page errors, failed requests). */
  problems: string[];
  close(): Promise<void>;
}

export async function startDashboard(env: Record<string, string> = {}): Promise<Dashboard> {
  if (!existsSync(join(WEB_ROOT, 'index.html'))) throw new Error('the dashboard is not built: run npm run build:web');
  const server = await startTestServer({ STAGELINE_GATEWAY_PORT: '0', ...env }, OWNER_TOKEN);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  return {
    server,
    url: server.server.url,
    browser,
    api: server.api,
    problems,
    async newPage() {
      const context = await browser.newContext({ viewport: VIEWPORT, baseURL: server.server.url });
      contexts.push(context);
      const page = await context.newPage();
      watch(page, problems);
      return page;
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {});
      await browser.close();
      await server.close();
    },
  };
}

/** Console errors, page errors and failed requests become problems (expected API 4xx answers are not console errors). */
function watch(page: Page, problems: string[]) {
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // The browser logs every 4xx/5xx fetch as a console error; a test that provokes an API error
    // on purpose checks the page shows it. A 5xx is always a problem.
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    problems.push(`console: ${text}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText ?? '';
    // A navigation or an unmount cancels requests in flight; that is not a failure.
    if (failure.includes('ERR_ABORTED')) return;
    problems.push(`request failed: ${request.method()} ${request.url()} ${failure}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 500) problems.push(`server error: ${response.status()} ${response.request().method()} ${response.url()}`);
  });
}

/** Fails the test if any page had a console error, page error, failed request or 5xx. */
export function expectNoProblems(dashboard: Dashboard) {
  expect(dashboard.problems).toEqual([]);
}

/** Signs in on the login page with the owner token (or email and password). */
export async function login(page: Page, as: { token: string } | { email: string; password: string } = { token: OWNER_TOKEN }) {
  await page.goto('/login');
  if ('token' in as) {
    await page.getByRole('button', { name: 'Sign in with an access token instead' }).click();
    await page.getByLabel('Access token').fill(as.token);
  } else {
    await page.getByLabel('Email').fill(as.email);
    await page.getByLabel('Password').fill(as.password);
  }
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(/\/w\/[^/]+\/[^/]+\//);
}

/** axe-core on the page as it is now: no serious or critical violations. */
export async function expectAccessible(page: Page, name: string) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
  expect(report, `accessibility of ${name}`).toEqual([]);
}

/** Saves a screenshot to <SCREENSHOTS>/<name>.png (docs/screenshots holds the ones the docs show). */
export async function screenshot(page: Page, name: string) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/** The dashboard path of a page in the default workspace. */
export const at = (env: string, page: string) => `/w/default/${env}/${page}`;
