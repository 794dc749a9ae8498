// The dashboard's frame in a real browser: served from the API's origin with its headers,
// sign-in and sign-out, an ended session, the workspace and environment switcher that every
// page follows and that is remembered per user, production unmistakable, and the first-load budget.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB_ROOT } from '../../src/http/web.js';
import { OWNER_TOKEN, at, expectAccessible, expectNoProblems, login, screenshot, startDashboard, type Dashboard } from './support.js';

let d: Dashboard;
beforeAll(async () => {
  d = await startDashboard();
  const staging = await d.api('POST', '/api/workspaces/default/environments', { slug: 'staging', name: 'Staging' });
  expect(staging.status).toBe(201);
}, 60_000);
afterAll(() => d?.close());

describe('serving', () => {
  it('serves the page at / and at client-side routes with a strict CSP, never cached', async () => {
    for (const path of ['/', '/login', '/w/default/production/releases']) {
      const res = await fetch(d.url + path, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      const html = await res.text();
      expect(html).toMatch(/<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/);
      expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
      expect(html).not.toMatch(/<style|\sstyle="/);
    }
  });

  it('caches hashed assets for a year and sends them precompressed', async () => {
    const html = readFileSync(join(WEB_ROOT, 'index.html'), 'utf8');
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const br = await fetch(d.url + script, { headers: { 'accept-encoding': 'br' } });
    expect(br.status).toBe(200);
    expect(br.headers.get('content-encoding')).toBe('br');
    expect(br.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(br.headers.get('content-type')).toContain('javascript');
    expect(br.headers.get('vary')).toContain('accept-encoding');
    expect((await br.text()).length).toBeGreaterThan(1000);
  });

  it('keeps the APIs JSON: unknown API paths are 404 in the error shape, whatever they accept', async () => {
    for (const path of ['/api/nope', '/v1/nope', '/assets/nope.js', '/healthz/x']) {
      const res = await fetch(d.url + path, { headers: { accept: 'text/html' } });
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
    // A client that does not ask for HTML (curl, an SDK) gets the JSON 404 elsewhere too.
    const res = await fetch(d.url + '/w/default/x', { headers: { accept: 'application/json' } });
    expect(res.status).toBe(404);
    // A POST to a page path is not the page.
    expect((await fetch(d.url + '/login', { method: 'POST', headers: { accept: 'text/html' } })).status).toBe(404);
  });
});

describe('in the browser', () => {
  it('signs in with the owner token, follows the environment switcher, shows production unmistakably, signs out', async () => {
    const page = await d.newPage();
    await page.goto('/');
    await page.waitForURL('**/login');
    await expectAccessible(page, 'login');
    await screenshot(page, 'login');
    await login(page);
    expect(new URL(page.url()).pathname).toBe(at('development', 'resources'));
    await expect.poll(() => page.title()).toContain('Development');

    const switcher = page.locator('.topbar').getByLabel('Environment', { exact: true });
    await expect.poll(() => switcher.locator('option').allTextContents()).toEqual(['Development', 'Staging', 'Production — production']);
    expect(await page.locator('.production-banner').count()).toBe(0);

    // Switching keeps the page and changes the environment in the URL.
    await page.getByRole('link', { name: 'Releases' }).click();
    await page.waitForURL(`**${at('development', 'releases')}`);
    await switcher.selectOption('production');
    await expect.poll(() => new URL(page.url()).pathname).toBe(at('production', 'releases'));
    await expect.poll(() => page.locator('.production-banner').textContent()).toContain('production');
    expect(await page.locator('.current-env .env-prod-tag').textContent()).toBe('production');
    await expectAccessible(page, 'shell in production');

    // A reload keeps the place (it is in the URL); / goes back to the last place of this user.
    await page.goto('/');
    await page.waitForURL(`**${at('production', 'resources')}`);

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/login');
    await expect.poll(() => page.getByText('You are signed out.').isVisible()).toBe(true);
    expect(await page.evaluate<string | null>("localStorage.getItem('stageline.session')")).toBeNull();
    // A pasted access token is shared (CI, the CLI): signing out of the dashboard only forgets it.
    expect((await d.api('GET', '/api/auth/whoami')).status).toBe(200);
    expectNoProblems(d);
  });

  it('signs in with email and password; a wrong one is said at the form; an ended session returns to login', async () => {
    const member = await d.api('POST', '/api/workspaces/default/members', { email: 'dev@example.com', password: 'a long password 1', role: 'developer' });
    expect(member.status).toBe(201);
    const page = await d.newPage();
    await page.goto('/login');
    await page.getByLabel('Email').fill('dev@example.com');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/email or the password/i);
    await login(page, { email: 'dev@example.com', password: 'a long password 1' });
    await expect.poll(() => page.locator('.user-name').textContent()).toBe('dev@example.com');

    // Signing out of a password session revokes its token on the server.
    const first = JSON.parse((await page.evaluate<string | null>("localStorage.getItem('stageline.session')"))!).token as string;
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/login');
    expect((await fetch(`${d.url}/api/auth/whoami`, { headers: { authorization: `Bearer ${first}` } })).status).toBe(401);
    await login(page, { email: 'dev@example.com', password: 'a long password 1' });

    // The session is revoked elsewhere: the next API call answers 401 and the page returns to login.
    const token = JSON.parse((await page.evaluate<string | null>("localStorage.getItem('stageline.session')"))!).token as string;
    expect((await fetch(`${d.url}/api/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(204);
    await page.goto(at('development', 'members'));
    await page.waitForURL('**/login');
    await expect.poll(() => page.getByText('Your session has ended').isVisible()).toBe(true);
    expectNoProblems(d);
  });

  it('an unknown environment in the address is said, with the switcher still there', async () => {
    const page = await d.newPage();
    await login(page);
    await page.goto(at('nowhere', 'resources'));
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('There is no environment "nowhere"');
    expectNoProblems(d);
  });

  it('first load of / stays within 250 kB of compressed JavaScript', async () => {
    // A new browser (empty cache) of a signed-in user opening /.
    const page = await d.newPage();
    await page.addInitScript(`localStorage.setItem('stageline.session', ${JSON.stringify(JSON.stringify({ token: OWNER_TOKEN, expiresAt: null, kind: 'token' }))})`);
    const scripts: { url: string; bytes: number }[] = [];
    page.on('response', (response) => {
      if (response.request().resourceType() !== 'script') return;
      const length = Number(response.headers()['content-length']);
      scripts.push({ url: response.url(), bytes: Number.isFinite(length) ? length : Number.NaN });
    });
    await page.goto('/', { waitUntil: 'networkidle' });
    await page.waitForURL(`**${at('development', 'resources')}`);
    const total = scripts.reduce((sum, s) => sum + s.bytes, 0);
    console.log(`first load of /: ${scripts.length} scripts, ${(total / 1024).toFixed(1)} kB compressed (budget 250 kB)`);
    expect(scripts.length).toBeGreaterThan(0);
    expect(Number.isFinite(total)).toBe(true);
    expect(total).toBeLessThanOrEqual(250 * 1024);
  });
});
