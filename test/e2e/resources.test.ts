// The resource pages in a real browser: the list, the draft editor (schema errors as you type,
// the server's errors on save), committing on Changes, one resource compared across the chain,
// override and kill switch per environment, and the workflow test runner.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { at, expectAccessible, expectNoProblems, login, screenshot, startDashboard, type Dashboard } from './support.js';

const WS = '/api/workspaces/default';
let d: Dashboard;
let page: Page;

const welcome = (body: string) => ({ name: 'Welcome', steps: [{ type: 'channel', channel: 'in_app', template: { body } }] });

async function ok(res: Promise<{ status: number; body: unknown }>, status = 200) {
  const answer = await res;
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  return answer.body as any;
}

/** Replaces the editor's text as a paste would (one line: no auto-closed brackets or indentation). */
async function setEditorText(text: string) {
  const content = page.getByRole('textbox', { name: /Draft content of/ });
  await content.click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

beforeAll(async () => {
  d = await startDashboard();
  await ok(d.api('POST', `${WS}/environments`, { slug: 'staging', name: 'Staging' }), 201);
  await ok(d.api('PUT', `${WS}/environments/development/resources/workflow/welcome`, { content: welcome('Welcome {{ recipient.name }}'), app: 'onboarding' }));
  await ok(d.api('PUT', `${WS}/environments/development/resources/config/flags`, { content: { value: { beta: false } } }));
  await ok(d.api('POST', `${WS}/environments/development/commits`, { message: 'first' }), 201);
  await ok(d.api('POST', `${WS}/environments/staging/promotions`, { message: 'to staging' }), 201);
  await ok(d.api('POST', `${WS}/environments/production/promotions`, { message: 'to production' }), 201);
  page = await d.newPage();
  await login(page);
}, 60_000);
afterAll(() => d?.close());

describe('resources', () => {
  it('lists the resources of the environment, filters them, and explains why production takes no new resource', async () => {
    await page.goto(at('development', 'resources'));
    const table = page.getByRole('table');
    await expect.poll(() => table.getByRole('row').count()).toBe(3);
    expect(await table.getByRole('row', { name: /workflow\/welcome/ }).textContent()).toContain('onboarding');
    await page.getByLabel('Kind').selectOption('config');
    await expect.poll(() => table.getByRole('row').count()).toBe(2);
    await page.getByLabel('Kind').selectOption('');
    await page.getByLabel('Search').fill('welc');
    await expect.poll(() => table.getByRole('row').count()).toBe(2);
    await page.getByLabel('Search').fill('');
    await expectAccessible(page, 'resources');
    await screenshot(page, 'resources-list');

    await page.goto(at('production', 'resources'));
    await expect.poll(() => page.getByRole('button', { name: 'New resource' }).isDisabled()).toBe(true);
    await expect.poll(() => page.locator('#new-resource-why').textContent()).toContain('Production is not editable');
    expectNoProblems(d);
  });

  it('edits a draft: schema errors at the field as one types, the server’s errors on save, then a valid draft saved and committed on Changes', async () => {
    await page.goto(at('development', 'resources'));
    await page.getByRole('link', { name: 'workflow/welcome' }).click();
    await page.getByRole('textbox', { name: /Draft content of workflow\/welcome/ }).waitFor();

    // A type error, found by the kind's JSON Schema while typing.
    await setEditorText('{"name": "Welcome", "steps": "oops"}');
    const problems = page.locator('.problems');
    await expect.poll(() => problems.textContent(), { timeout: 5000 }).toMatch(/Line 1, \/steps:.*array/);
    expect(await page.locator('.cm-lintRange-error').count()).toBeGreaterThan(0);
    await expectAccessible(page, 'resource editor with an error');
    await screenshot(page, 'resources-editor-error');

    // Valid for the schema, refused by the server (an email needs html or text): named at its field.
    await setEditorText(JSON.stringify({ name: 'Welcome', steps: [{ type: 'channel', channel: 'email', template: { subject: 'Hi' } }] }));
    await expect.poll(() => problems.textContent()).toContain('No problems found');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await expect.poll(() => page.locator('.server-errors').textContent()).toContain('/steps/0/template');
    expect(await page.locator('.cm-server-error-line').count()).toBeGreaterThan(0);

    await setEditorText(JSON.stringify(welcome('Hello again {{ recipient.name }}')));
    await expect.poll(() => problems.textContent()).toContain('No problems found');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Draft saved' }).count()).toBe(1);
    await expect.poll(() => page.getByText('Unsaved changes').count()).toBe(0);
    const saved = await ok(d.api('GET', `${WS}/environments/development/resources/workflow/welcome`));
    expect(saved.draft.content.steps[0].template.body).toBe('Hello again {{ recipient.name }}');
    expect(saved.app).toBe('onboarding');
    await screenshot(page, 'resources-editor');

    // YAML shows the same draft.
    await page.getByLabel('YAML').check();
    await expect.poll(() => page.locator('.cm-content').textContent()).toContain('name: Welcome');

    await page.getByRole('link', { name: 'Changes' }).click();
    await expect.poll(() => page.getByRole('table', { name: 'Fields of workflow/welcome' }).textContent()).toContain('/steps/0/template/body');
    await page.getByLabel('Commit message').fill('Friendlier welcome');
    await expectAccessible(page, 'changes');
    await screenshot(page, 'resources-changes');
    await page.getByRole('button', { name: 'Commit all 1' }).click();
    const link = page.getByRole('link', { name: 'development#2' });
    await link.waitFor();
    expect(await link.getAttribute('href')).toBe(at('development', 'releases/2'));
    const releases = await ok(d.api('GET', `${WS}/environments/development/releases`));
    expect(releases.data[0]).toMatchObject({ number: 2, message: 'Friendlier welcome' });
    expect((await ok(d.api('GET', `${WS}/environments/development/changes`))).data).toEqual([]);
    await expect.poll(() => page.getByText('Nothing to commit').count()).toBe(1);
    expectNoProblems(d);
  });

  it('compares the resource across environments, the difference marked at its field', async () => {
    await page.goto(at('development', 'resources/workflow/welcome?tab=compare'));
    const table = page.getByRole('table', { name: /in every environment/ });
    const committed = table.getByRole('row', { name: /^Committed/ });
    await expect.poll(() => committed.locator('.cell-differs').count()).toBe(1);
    expect(await committed.locator('.cell-differs').textContent()).toContain('differs from Development at /steps/0/template/body');
    // Staging and production run the same release: no mark between them.
    expect(await committed.locator('td').nth(2).getAttribute('class')).not.toContain('cell-differs');
    const resolved = table.getByRole('row', { name: /^Resolved/ });
    await expect.poll(() => resolved.locator('td').first().textContent()).toContain('Hello again');
    const pair = page.getByRole('table', { name: /Delivered content: Development → Staging/ });
    await expect.poll(() => pair.textContent()).toContain('/steps/0/template/body');
    await expectAccessible(page, 'compare');
    await screenshot(page, 'resources-compare');
    expectNoProblems(d);
  });

  it('sets an override and the kill switch in staging, and asks before switching production', async () => {
    await page.goto(at('development', 'resources/workflow/welcome?tab=controls'));
    await page.getByRole('button', { name: 'Edit override in Staging' }).click();
    const dialog = page.getByRole('dialog', { name: 'Override of workflow/welcome in Staging' });
    const field = dialog.getByLabel('Override (JSON)');
    await field.fill('{"steps": "x"}');
    await dialog.getByRole('button', { name: 'Save override in Staging' }).click();
    await expect.poll(() => dialog.locator('.field-error').textContent()).toContain('override.steps');
    await expectAccessible(page, 'override dialog');
    await field.fill('{"name": "Welcome (staging)"}');
    await dialog.getByRole('button', { name: 'Save override in Staging' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'override of workflow/welcome in Staging is saved' }).count()).toBe(1);
    expect((await ok(d.api('GET', `${WS}/environments/staging/resources/workflow/welcome`))).override).toEqual({ name: 'Welcome (staging)' });

    await page.getByRole('button', { name: 'Switch off in Staging' }).click();
    await page.getByRole('button', { name: 'Switch on in Staging' }).waitFor();
    expect((await ok(d.api('GET', `${WS}/environments/staging/resources/workflow/welcome`))).active).toBe(false);
    const row = page.getByRole('row', { name: /Staging/ });
    expect(await row.textContent()).toContain('switched off');
    expect(await row.textContent()).toContain('Welcome (staging)');

    await page.getByRole('button', { name: 'Switch off in Production' }).click();
    const confirm = page.getByRole('dialog', { name: 'Switch off workflow/welcome in Production' });
    expect(await confirm.textContent()).toContain('Production is production');
    await expectAccessible(page, 'production confirmation');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    expect((await ok(d.api('GET', `${WS}/environments/production/resources/workflow/welcome`))).active).toBe(true);
    await screenshot(page, 'resources-controls');
    expectNoProblems(d);
  });

  it('runs the workflow test and shows the rendered message', async () => {
    await page.goto(at('development', 'resources/workflow/welcome?tab=test'));
    await page.getByLabel('Recipient name').fill('Ada');
    await page.getByLabel('Data (JSON)').fill('{"plan": "pro"}');
    await page.getByRole('button', { name: 'Run test' }).click();
    const result = page.getByRole('region', { name: /Result/ });
    await expect.poll(() => result.textContent()).toContain('Hello again Ada');
    expect(await result.textContent()).toContain('channel:in_app');
    expect(await result.textContent()).toContain('completed');
    await result.scrollIntoViewIfNeeded();
    await expectAccessible(page, 'test run');
    await screenshot(page, 'resources-test-run');
    expectNoProblems(d);
  });

  it('starts a new resource as a draft in the editor', async () => {
    await page.goto(at('development', 'resources'));
    await page.getByRole('button', { name: 'New resource' }).click();
    const dialog = page.getByRole('dialog', { name: 'New resource' });
    await dialog.getByLabel('Kind').selectOption('route');
    await dialog.getByLabel('Key').fill('bad key');
    await dialog.getByRole('button', { name: 'Open the editor' }).click();
    await expect.poll(() => dialog.getByText(/must be 1-128/).count()).toBe(1);
    await dialog.getByLabel('Key').fill('payments');
    await dialog.getByRole('button', { name: 'Open the editor' }).click();
    await page.waitForURL('**/resources/route/payments?new=1');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Draft saved' }).count()).toBe(1);
    const created = await ok(d.api('GET', `${WS}/environments/development/resources/route/payments`));
    expect(created).toMatchObject({ committed: null, draft: { deleted: false, content: { match: { pathPrefix: '/example' } } } });
    expectNoProblems(d);
  });
});
