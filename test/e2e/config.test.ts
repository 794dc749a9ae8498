// The configuration pages in a real browser: a secret is set and only ever shown masked, an API
// key and a service token are shown once and revoked, a member gets a per-environment role, a
// variable gets a production value, a setting refuses a bad value at its field and takes a good one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { at, expectAccessible, expectNoProblems, login, screenshot, startDashboard, type Dashboard } from './support.js';

let d: Dashboard;
beforeAll(async () => {
  d = await startDashboard();
  expect((await d.api('POST', '/api/workspaces/default/environments', { slug: 'staging', name: 'Staging' })).status).toBe(201);
}, 60_000);
afterAll(() => d?.close());

const W = '/api/workspaces/default';

async function open(page: Page, env: string, path: string, heading: string) {
  await page.goto(at(env, path));
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

/** Everything the page holds as text, including the values of its inputs. */
async function everythingOnThePage(page: Page): Promise<string> {
  // A string, so that this file needs no DOM types (the test project compiles for Node).
  return page.evaluate<string>("document.documentElement.outerHTML + [...document.querySelectorAll('input, textarea')].map((el) => el.value).join('\\n')");
}

describe('configuration pages', () => {
  it('sets a secret and shows it only masked: the page and the API never hold the value after saving', async () => {
    const value = 'sk_live_do_not_show_me_0123456789';
    const page = await d.newPage();
    await login(page);
    await open(page, 'production', 'secrets', 'Secrets');
    await page.getByRole('heading', { name: 'No secrets in Production yet' }).waitFor();
    await expectAccessible(page, 'secrets (empty)');

    await page.getByRole('button', { name: 'Set a secret' }).first().click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('stripe_key');
    const input = dialog.getByLabel('Value');
    expect(await input.getAttribute('type')).toBe('password');
    await input.fill(value);
    await dialog.getByRole('button', { name: 'Save secret' }).click();
    await page.getByRole('status').filter({ hasText: 'stripe_key is set in Production (version 1)' }).waitFor();

    const row = page.getByRole('row', { name: /stripe_key/ }).first();
    await expect.poll(() => row.textContent()).toContain('••••6789');
    expect(await everythingOnThePage(page)).not.toContain(value);
    // The API's read is metadata and a hint only.
    const read = await d.api('GET', `${W}/environments/production/secrets/stripe_key`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ name: 'stripe_key', hint: '••••6789', version: 1 });
    expect(JSON.stringify(read.body)).not.toContain(value);
    expect(JSON.stringify((await d.api('GET', `${W}/environments/production/secrets`)).body)).not.toContain(value);

    // Across environments: set in production only.
    const across = page.getByRole('table').nth(1);
    const acrossRow = across.getByRole('row', { name: /stripe_key/ });
    await expect.poll(() => acrossRow.getByRole('cell').allTextContents()).toEqual(['✗ not set', '✗ not set', '✓ set (v1)']);

    // Replacing asks for a new value; the old one is never offered.
    await page.getByRole('button', { name: 'Replace stripe_key' }).click();
    expect(await page.getByRole('dialog').getByLabel('Value').inputValue()).toBe('');
    await page.getByRole('dialog').getByLabel('Value').fill('short');
    await page.getByRole('dialog').getByRole('button', { name: 'Replace value' }).click();
    await page.getByRole('status').filter({ hasText: 'version 2' }).waitFor();
    await expect.poll(() => row.textContent()).toContain('v2');
    expect(await everythingOnThePage(page)).not.toContain('short</');
    await expectAccessible(page, 'secrets');
    await screenshot(page, 'config-secrets');

    // Delete asks first and names what it does.
    await page.getByRole('button', { name: 'Delete stripe_key' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete stripe_key from Production' }).click();
    await page.getByRole('heading', { name: 'No secrets in Production yet' }).waitFor();
    expect((await d.api('GET', `${W}/environments/production/secrets/stripe_key`)).status).toBe(404);
    expectNoProblems(d);
  });

  it('creates an API key, shows it once (gone after a reload), rotates it and revokes it', async () => {
    const page = await d.newPage();
    await login(page);
    await open(page, 'development', 'api-keys', 'API keys');
    await page.getByRole('heading', { name: 'No API keys in Development yet' }).waitFor();
    await expectAccessible(page, 'API keys (empty)');

    await page.getByRole('button', { name: 'Create API key' }).first().click();
    await page.getByRole('dialog').getByLabel('Name').fill('checkout-server');
    await page.getByRole('dialog').getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByRole('dialog', { name: 'API key checkout-server created' });
    const key = await shown.getByLabel('Secret key').inputValue();
    expect(key).toMatch(/^sk_/);
    await expect.poll(() => shown.getByText('shown only this once').isVisible()).toBe(true);
    await expect.poll(() => shown.getByRole('button', { name: 'Copy secret key' }).isVisible()).toBe(true);
    await expectAccessible(page, 'API key shown once');
    await screenshot(page, 'config-api-key-once');

    // The key works for its environment, and the list holds only its prefix.
    expect((await fetch(`${d.url}/v1/resources`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    const listed = (await d.api('GET', `${W}/environments/development/api-keys`)).body.data as { name: string; prefix: string; key?: string }[];
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ name: 'checkout-server', kind: 'secret', status: 'active' });
    expect(listed[0]!.key).toBeUndefined();
    expect(key.startsWith(listed[0]!.prefix)).toBe(true);

    await shown.getByRole('button', { name: 'I have copied the key' }).click();
    await expect.poll(() => shown.isVisible()).toBe(false);
    expect(await everythingOnThePage(page)).not.toContain(key);
    await page.reload();
    await page.getByRole('row', { name: /checkout-server/ }).waitFor();
    expect(await everythingOnThePage(page)).not.toContain(key);
    expect(await page.getByRole('row', { name: /checkout-server/ }).textContent()).toContain(`${listed[0]!.prefix}…`);

    // Rotating shows the new key once; with no grace the old one stops at once.
    await page.getByRole('button', { name: 'Rotate checkout-server' }).click();
    const rotate = page.getByRole('dialog', { name: 'Rotate checkout-server?' });
    await rotate.getByLabel('The old key').selectOption({ label: 'Stops at once' });
    await rotate.getByRole('button', { name: 'Rotate key' }).click();
    const again = page.getByRole('dialog', { name: 'New key for checkout-server' });
    const rotated = await again.getByLabel('Secret key').inputValue();
    expect(rotated).toMatch(/^sk_/);
    expect(rotated).not.toBe(key);
    await again.getByRole('button', { name: 'I have copied the key' }).click();
    await expect.poll(() => again.isVisible()).toBe(false);
    expect(await everythingOnThePage(page)).not.toContain(rotated);
    expect((await fetch(`${d.url}/v1/resources`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(401);
    expect((await fetch(`${d.url}/v1/resources`, { headers: { authorization: `Bearer ${rotated}` } })).status).toBe(200);

    await page.getByRole('button', { name: 'Revoke checkout-server' }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke checkout-server?' });
    await confirm.getByRole('button', { name: 'Revoke checkout-server' }).click();
    await page.getByRole('status').filter({ hasText: 'checkout-server is revoked' }).waitFor();
    await expect.poll(() => page.getByRole('button', { name: 'Revoke checkout-server' }).count()).toBe(0);
    const statuses = ((await d.api('GET', `${W}/environments/development/api-keys`)).body.data as { status: string }[]).map((k) => k.status);
    expect(statuses).toHaveLength(2);
    expect(statuses).not.toContain('active');
    expect((await fetch(`${d.url}/v1/resources`, { headers: { authorization: `Bearer ${rotated}` } })).status).toBe(401);
    await expectAccessible(page, 'API keys');
    await screenshot(page, 'config-api-keys');
    expectNoProblems(d);
  });

  it('adds a member with a per-environment role, changes it, and refuses to remove the last owner', async () => {
    const page = await d.newPage();
    await login(page);
    await open(page, 'development', 'members', 'Members & roles');
    await page.getByRole('row', { name: /admin/ }).waitFor();

    await page.getByRole('button', { name: 'Add member' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add a member' });
    await dialog.getByLabel('Email').fill('ops@example.com');
    await dialog.getByLabel('Password (optional)').fill('a long password 1');
    await dialog.getByLabel('Workspace role').selectOption('developer');
    await dialog.getByLabel('Production role').selectOption('viewer');
    await expectAccessible(page, 'add member');
    await dialog.getByRole('button', { name: 'Add member' }).click();
    await page.getByRole('status').filter({ hasText: 'ops@example.com is a member, as developer' }).waitFor();
    const row = page.getByRole('row', { name: /ops@example\.com/ });
    await expect.poll(() => row.textContent()).toMatch(/Production.*: viewer/);

    const members = (await d.api('GET', `${W}/members`)).body.data as { id: string; email: string; role: string; environmentRoles: Record<string, string> }[];
    expect(members.find((m) => m.email === 'ops@example.com')).toMatchObject({ role: 'developer', environmentRoles: { production: 'viewer' } });

    // Widen staging for them.
    await page.getByRole('button', { name: 'Change roles of ops@example.com' }).click();
    const edit = page.getByRole('dialog', { name: 'Roles of ops@example.com' });
    await edit.getByLabel('Staging role').selectOption('deployer');
    await edit.getByRole('button', { name: 'Save roles' }).click();
    await expect.poll(() => row.textContent()).toMatch(/Staging: deployer/);
    const after = (await d.api('GET', `${W}/members`)).body.data as { email: string; environmentRoles: Record<string, string> }[];
    expect(after.find((m) => m.email === 'ops@example.com')!.environmentRoles).toEqual({ production: 'viewer', staging: 'deployer' });

    // The last owner stays: the API's refusal is shown in the dialog.
    const owner = members.find((m) => m.role === 'owner')!;
    await page.getByRole('button', { name: `Remove ${owner.email}` }).click();
    const confirm = page.getByRole('dialog', { name: `Remove ${owner.email}?` });
    await confirm.getByRole('button', { name: `Remove ${owner.email}` }).click();
    await expect.poll(() => confirm.getByRole('alert').textContent()).toMatch(/last owner/i);
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    expect((await d.api('GET', `${W}/members`)).body.data).toHaveLength(2);
    await expectAccessible(page, 'members');
    await screenshot(page, 'config-members');
    expectNoProblems(d);
  });

  it('creates a variable with a production override and shows the value every environment sees', async () => {
    const page = await d.newPage();
    await login(page);
    await open(page, 'development', 'variables', 'Variables');
    await page.getByRole('heading', { name: 'No variables yet' }).waitFor();
    await expectAccessible(page, 'variables (empty)');

    await page.getByRole('button', { name: 'Add variable' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'Add a variable' });
    await dialog.getByLabel('Name').fill('app_url');
    await dialog.getByLabel('Default', { exact: true }).fill('http://localhost:3000');
    await dialog.getByLabel('Override in Production').check();
    await dialog.getByLabel('Value in Production').fill('https://app.example');
    await expectAccessible(page, 'variable editor');
    await dialog.getByRole('button', { name: 'Add variable' }).click();
    await page.getByRole('status').filter({ hasText: 'app_url is saved' }).waitFor();

    // Default, development, staging, production (then updated, actions).
    const cells = async () => (await page.getByRole('row', { name: /app_url/ }).getByRole('cell').allTextContents()).slice(0, 4);
    await expect.poll(cells).toEqual(['http://localhost:3000', 'http://localhost:3000default', 'http://localhost:3000default', 'https://app.exampleoverride']);
    expect((await d.api('GET', `${W}/variables/app_url`)).body).toMatchObject({ name: 'app_url', value: 'http://localhost:3000', overrides: { production: 'https://app.example' } });

    // A JSON value that does not parse is said at its field, and nothing is sent.
    await page.getByRole('button', { name: 'Edit app_url' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit app_url' });
    await edit.getByLabel('Value type').selectOption('json');
    await edit.getByLabel('Value in Production').fill('not json');
    await edit.getByRole('button', { name: 'Save variable' }).click();
    await expect.poll(() => edit.getByRole('alert').first().textContent()).toContain('is not valid JSON');
    await edit.getByRole('button', { name: 'Cancel' }).click();
    await expectAccessible(page, 'variables');
    await screenshot(page, 'config-variables');
    expectNoProblems(d);
  });

  it('edits a setting: an invalid value is refused at its field, then a valid one is saved', async () => {
    const page = await d.newPage();
    await login(page);
    await open(page, 'staging', 'settings', 'Settings');
    await page.getByRole('button', { name: /^CORS/ }).click();
    await page.getByRole('heading', { name: /CORS/ }).waitFor();
    const origins = page.getByLabel('Allowed origins');
    await origins.fill('https://app.example\nnot an origin');
    await page.getByRole('button', { name: 'Save CORS' }).click();
    await expect.poll(() => page.locator('.field-error').filter({ hasText: 'line 2' }).textContent()).toContain('must be "*" or an origin');
    expect(await origins.getAttribute('aria-invalid')).toBe('true');
    expect((await d.api('GET', `${W}/environments/staging/settings/cors`)).status).toBe(404);
    await expectAccessible(page, 'settings with a field error');
    await screenshot(page, 'config-settings-error');

    await origins.fill('https://app.example\nhttp://localhost:5173');
    await page.getByRole('button', { name: 'Save CORS' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(await origins.getAttribute('aria-invalid')).toBeNull();
    expect((await d.api('GET', `${W}/environments/staging/settings/cors`)).body.value).toEqual({ origins: ['https://app.example', 'http://localhost:5173'] });
    // Only staging has it.
    expect((await d.api('GET', `${W}/environments/production/settings/cors`)).status).toBe(404);
    await expect.poll(() => page.getByRole('button', { name: /^CORS/ }).textContent()).toContain('set');

    // The email channel form names a missing required field under it.
    await page.getByRole('button', { name: /^Email channel/ }).click();
    await page.getByLabel('SMTP host').fill('smtp.example.com');
    await page.getByRole('button', { name: 'Save Email channel' }).click();
    await expect.poll(() => page.getByLabel('Port', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    const portError = await page.getByLabel('Port', { exact: true }).getAttribute('aria-describedby');
    expect(await page.locator(`[id="${portError!.split(' ')[0]}"]`).textContent()).toBe('is required');
    expect(await page.getByLabel('SMTP host').getAttribute('aria-invalid')).toBeNull();
    await expectAccessible(page, 'settings');
    await screenshot(page, 'config-settings');
    expectNoProblems(d);
  });

  it('creates a service token with a per-environment role, shows it once and revokes it', async () => {
    const page = await d.newPage();
    await login(page);
    await open(page, 'development', 'tokens', 'Service tokens');
    await page.getByRole('heading', { name: 'No service tokens yet' }).waitFor();
    await expectAccessible(page, 'service tokens (empty)');

    await page.getByRole('button', { name: 'Create service token' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'Create a service token' });
    await dialog.getByLabel('Name').fill('github-actions');
    await dialog.getByLabel('Role', { exact: true }).selectOption('deployer');
    await dialog.getByLabel('Production role').selectOption('viewer');
    await dialog.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByRole('dialog', { name: 'Service token github-actions created' });
    const token = await shown.getByLabel('Service token').inputValue();
    const whoami = await fetch(`${d.url}/api/auth/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(await whoami.json()).toMatchObject({ kind: 'service', name: 'github-actions' });
    await shown.getByRole('button', { name: 'I have copied the token' }).click();
    await expect.poll(() => shown.isVisible()).toBe(false);
    expect(await everythingOnThePage(page)).not.toContain(token);
    const listed = (await d.api('GET', `${W}/tokens`)).body.data as { name: string; role: string; environmentRoles: Record<string, string> }[];
    expect(listed.find((t) => t.name === 'github-actions')).toMatchObject({ role: 'deployer', environmentRoles: { production: 'viewer' } });

    await page.getByRole('button', { name: 'Revoke github-actions' }).click();
    await page.getByRole('dialog', { name: 'Revoke github-actions?' }).getByRole('button', { name: 'Revoke github-actions' }).click();
    await expect.poll(() => page.getByRole('row', { name: /github-actions/ }).textContent()).toContain('revoked');
    expect((await fetch(`${d.url}/api/auth/whoami`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    await expectAccessible(page, 'service tokens');
    await screenshot(page, 'config-tokens');
    expectNoProblems(d);
  });
});
