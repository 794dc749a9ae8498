// The ops pages in a real browser: the audit log read and its chain verified; monitoring with
// traffic sent through the gateway (table and charts); an alert rule created with a field error
// first; data records shown masked in an environment that obfuscates data, then revealed (audited);
// the activity log of those writes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCall, startUpstream, type TestUpstream } from '../support.js';
import { at, expectAccessible, expectNoProblems, login, screenshot, startDashboard, type Dashboard } from './support.js';

const WS = '/api/workspaces/default';
let d: Dashboard;
let upstream: TestUpstream;

async function ok(method: string, path: string, body?: unknown) {
  const res = await d.api(method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

beforeAll(async () => {
  upstream = await startUpstream((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  d = await startDashboard({ STAGELINE_GATEWAY_WORKERS: '0', STAGELINE_METRICS_FLUSH_MS: '200', STAGELINE_ALERT_INTERVAL_MS: '0' });
  await ok('POST', `${WS}/environments`, { slug: 'staging', name: 'Staging' });
}, 60_000);
afterAll(async () => {
  await d?.close();
  await upstream?.close();
});

describe('ops pages', () => {
  it('reads the audit log, filters it, opens an entry and verifies the chain', async () => {
    await ok('PUT', `${WS}/variables/app_url`, { value: 'https://example.com' });
    const page = await d.newPage();
    await login(page);
    await page.goto(at('development', 'audit'));
    const entries = page.getByRole('region', { name: 'Audit entries' });
    await entries.getByText('environment.create').first().waitFor();
    await expect.poll(() => entries.getByRole('row').count()).toBeGreaterThan(2);

    // A wildcard filter narrows the list to one family of actions.
    await page.getByLabel('Action').fill('variable.*');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/action=variable/);
    await expect.poll(async () => (await entries.locator('tbody code').allTextContents()).every((a) => a.startsWith('variable.'))).toBe(true);
    await expect.poll(() => entries.locator('tbody tr').count()).toBe(1);

    // The entry's detail shows its digests and details.
    await entries.getByRole('button', { name: /Details of entry/ }).first().click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Before and after' }).waitFor();
    expect(await dialog.getByRole('heading', { level: 2 }).textContent()).toMatch(/^Entry \d+: variable\./);
    await expectAccessible(page, 'audit entry');
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.isVisible()).toBe(false);

    await page.getByRole('button', { name: 'Verify chain' }).click();
    const outcome = page.getByRole('status').filter({ hasText: 'The chain verifies' });
    await outcome.waitFor();
    const server = (await d.api('GET', `${WS}/audit-log/verify`)).body;
    expect(server.valid).toBe(true);
    expect(await outcome.textContent()).toContain(`${server.entries} entries`);
    await page.getByRole('button', { name: 'Clear' }).click();
    await expect.poll(() => entries.locator('tbody tr').count()).toBeGreaterThan(2);
    await screenshot(page, 'ops-audit');

    // The signed checkpoint, its public key, and a verification against it.
    await page.getByRole('button', { name: 'Signed checkpoint' }).click();
    await page.getByRole('heading', { name: 'Latest checkpoint' }).waitFor();
    await page.getByText('BEGIN PUBLIC KEY').waitFor();
    await page.getByRole('button', { name: 'Verify against this checkpoint' }).click();
    await page.getByText('signature valid, and the log still extends it').waitFor();
    await expectAccessible(page, 'audit log');
    expectNoProblems(d);
  });

  it('shows gateway traffic of an environment in the side-by-side table and its charts', async () => {
    await ok('PUT', `${WS}/environments/staging/settings/egress`, { value: { allow: ['127.0.0.1/32'] } });
    await ok('PUT', `${WS}/environments/development/resources/route/orders`, { content: { match: { pathPrefix: '/orders' }, upstream: { url: upstream.url } } });
    await ok('POST', `${WS}/environments/development/commits`, { message: 'orders route' });
    await ok('POST', `${WS}/environments/staging/promotions`, { message: 'orders route' });
    const gateway = d.server.server.gatewayUrl!;
    for (let i = 0; i < 200; i++) {
      const res = await gatewayCall(gateway, { path: `/orders/${i}`, headers: { 'x-stageline-env': 'staging' } });
      expect(res.status).toBe(200);
    }
    // The node's counts reach the rollups (flushed every 200 ms) that analytics reads.
    await expect.poll(async () => (await d.api('GET', `${WS}/analytics?envs=staging`)).body.data[0].requests, { timeout: 10_000 }).toBe(200);

    const page = await d.newPage();
    await login(page);
    await page.goto(at('staging', 'monitoring'));
    const table = page.getByRole('table').filter({ has: page.getByRole('columnheader', { name: 'Requests' }) });
    const staging = table.getByRole('row').filter({ hasText: 'Staging' });
    await expect.poll(() => staging.getByRole('cell').first().textContent(), { timeout: 10_000 }).toBe('200');
    expect(await staging.getByRole('cell').nth(2).textContent()).toBe('0.00 %');
    expect(await table.getByRole('rowheader').allTextContents()).toEqual(['Development', 'Staging', 'Productionproduction']);

    // The charts chunk loads and draws a canvas per figure, with the promotion's marker listed.
    const chart = page.getByTestId('chart-staging-requests');
    await chart.locator('canvas').waitFor();
    expect(await chart.getAttribute('aria-label')).toMatch(/Requests per minute: latest/);
    expect(await page.getByTestId('chart-staging-p95').locator('canvas').count()).toBe(1);
    await page.getByRole('list', { name: 'Markers' }).getByText(/promotion #1/).first().waitFor();

    // Health of the current environment: its release and last hour.
    const health = page.getByRole('region', { name: 'Health of Staging' });
    await health.getByText('Release #1').waitFor();
    await health.getByText('Not on hold').waitFor();
    await page.getByRole('region', { name: 'Watch' }).getByText('No watch has run here').waitFor();

    // Unticking an environment takes it out of the table.
    await page.getByRole('group', { name: 'Environments' }).getByLabel('Production').uncheck();
    await expect.poll(() => table.getByRole('rowheader').allTextContents()).toEqual(['Development', 'Staging']);
    await expectAccessible(page, 'monitoring');
    await screenshot(page, 'ops-monitoring');
    await page.getByRole('region', { name: 'Charts of Staging' }).scrollIntoViewIfNeeded();
    await page.getByRole('heading', { name: 'Over time' }).evaluate((el) => el.scrollIntoView());
    await screenshot(page, 'ops-monitoring-charts');
    expectNoProblems(d);
  });

  it('creates an alert rule in the dashboard, with the field error shown under the field first', async () => {
    const page = await d.newPage();
    await login(page);
    await page.goto(at('staging', 'alerts'));
    await page.getByText('No alert rules in Staging').waitFor();
    await expectAccessible(page, 'alerts (empty)');
    await page.getByRole('button', { name: 'New alert rule' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'New alert rule in Staging' });
    await dialog.getByLabel('Name').fill('staging errors');
    await dialog.getByLabel('Threshold').fill('5');
    await dialog.getByLabel('Channel 1 URL').fill('https://hooks.slack.example/services/T000/B000/abcdefgh');
    await dialog.getByRole('button', { name: 'Create rule' }).click();
    // A rate above 1 is refused by the API, and said under the threshold.
    const thresholdError = dialog.locator('.field').filter({ has: page.getByLabel('Threshold') }).locator('.field-error');
    await expect.poll(() => thresholdError.textContent()).toMatch(/.+/);
    expect((await d.api('GET', `${WS}/alert-rules?environment=staging`)).body.data).toEqual([]);
    await expectAccessible(page, 'alert rule form');

    await dialog.getByLabel('Threshold').fill('0.05');
    await dialog.getByLabel('Window (minutes)').fill('10');
    await dialog.getByRole('button', { name: 'Create rule' }).click();
    await expect.poll(() => dialog.isVisible()).toBe(false);
    const row = page.getByRole('row').filter({ hasText: 'staging errors' });
    await row.waitFor();
    expect(await row.textContent()).toContain('Error rate (5xx) > 5 % over 10 min');
    const rules = (await d.api('GET', `${WS}/alert-rules?environment=staging`)).body.data;
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ name: 'staging errors', metric: 'error_rate', comparison: '>', threshold: 0.05, windowMinutes: 10, minRequests: 50 });
    expect(rules[0].channels[0].type).toBe('slack');
    // The receiver is a secret: the page shows the API's masked hint, never the URL.
    expect(rules[0].channels[0].url).not.toContain('hooks.slack.example');
    expect(await row.textContent()).not.toContain('hooks.slack.example');
    await page.getByText(/No alert has fired in Staging/).waitFor();
    await expectAccessible(page, 'alerts');
    await screenshot(page, 'ops-alerts');
    expectNoProblems(d);
  });

  it('shows data records masked where the environment obfuscates data, reveals them (audited), and lists the writes as activity', async () => {
    await ok('PATCH', `${WS}/environments/staging`, { obfuscateData: true });
    const key = (await ok('POST', `${WS}/environments/staging/api-keys`, { name: 'orders service', kind: 'secret' })).key as string;
    for (const [id, value] of [
      ['u1', { email: 'jane.doe@example.com', name: 'Jane', plan: 'pro' }],
      ['u2', { email: 'john.roe@example.com', name: 'John', plan: 'free' }],
    ] as const) {
      const res = await fetch(`${d.url}/v1/data/users/${id}`, { method: 'PUT', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(value) });
      expect(res.status).toBe(201);
    }

    const page = await d.newPage();
    await login(page);
    await page.goto(at('staging', 'data'));
    await page.getByText('Staging obfuscates data.').waitFor();
    await page.getByRole('button', { name: /^users/ }).click();
    const records = page.getByRole('region', { name: /users/ });
    await records.getByRole('button', { name: 'Open record u1' }).waitFor();
    const text = await records.locator('tbody').textContent();
    expect(text).toContain('j***@e***.com');
    expect(text).not.toContain('jane.doe');
    expect(text).not.toContain('Jane');
    await records.getByText('Masked', { exact: true }).waitFor();
    await expectAccessible(page, 'data (masked)');
    await screenshot(page, 'ops-data');

    const before = (await d.api('GET', `${WS}/audit-log?action=data.reveal`)).body.data.length;
    await records.getByRole('button', { name: 'Reveal values (audited)' }).click();
    await expect.poll(() => records.locator('tbody').textContent()).toContain('jane.doe@example.com');
    const reveals = (await d.api('GET', `${WS}/audit-log?action=data.reveal`)).body.data;
    expect(reveals.length).toBe(before + 1);
    expect(reveals[0]).toMatchObject({ environment: 'staging', target: 'data/users' });

    // The record's detail.
    await records.getByRole('button', { name: 'Open record u2' }).click();
    await page.getByRole('dialog', { name: 'users/u2' }).getByText('john.roe@example.com').waitFor();
    await page.keyboard.press('Escape');

    // The same writes in the activity log, with the key that made them.
    await page.getByRole('link', { name: 'Activity' }).click();
    await page.waitForURL(`**${at('staging', 'activity')}`);
    const activity = page.getByRole('region', { name: 'Activity entries' });
    await activity.getByText('data/users/u2').waitFor();
    expect(await activity.locator('tbody tr').count()).toBe(2);
    expect(await activity.locator('tbody').textContent()).toContain('orders service');
    await page.getByLabel('Action').selectOption('workflow.trigger');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await activity.getByText('No runtime writes match').waitFor();
    await page.getByLabel('Action').selectOption('data.*');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await activity.getByText('data/users/u1').waitFor();
    await expectAccessible(page, 'activity');
    await screenshot(page, 'ops-activity');
    expectNoProblems(d);
  });

  it("edits a recipient's preferences rule by rule beside the environment's defaults, and saves them (audited)", async () => {
    await ok('PUT', `${WS}/environments/staging/settings/preferences`, { value: { defaults: { workflows: { digest: { channels: { email: false } } } } } });
    const page = await d.newPage();
    await login(page);
    await page.goto(at('staging', 'preferences'));
    await page.getByLabel('Recipient id').fill('u_42');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.waitForURL(/recipient=u_42/);
    const section = page.getByRole('region', { name: /u_42/ });
    await section.getByText('No own rules yet').waitFor();
    // The default's rule is shown beside the recipient's (none yet).
    const digestEmail = section.getByRole('row', { name: /digest · email/ });
    expect(await digestEmail.textContent()).toContain('opted out');

    await section.getByLabel('All workflows · email for u_42').selectOption('out');
    await section.getByLabel('digest · email for u_42').selectOption('in');
    await section.getByLabel('Opt out of a workflow').fill('weekly-news');
    await section.getByRole('button', { name: 'Add rule' }).click();
    await section.getByRole('row', { name: /weekly-news · every channel/ }).waitFor();
    await expectAccessible(page, 'preferences');
    await screenshot(page, 'ops-preferences');
    await section.getByRole('button', { name: 'Save preferences' }).click();
    await section.getByText('Version 1').waitFor();

    const stored = (await d.api('GET', `${WS}/environments/staging/recipients/u_42/preferences`)).body;
    expect(stored.preferences).toEqual({ channels: { email: false }, workflows: { digest: { channels: { email: true } }, 'weekly-news': false } });
    expect((await d.api('GET', `${WS}/audit-log?action=preferences.put`)).body.data[0]).toMatchObject({ environment: 'staging', target: 'recipient/u_42' });
    expectNoProblems(d);
  });
});
