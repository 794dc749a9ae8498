// The release pages in a real browser: promote to staging from the plan (resolved variables,
// masked secrets, a resource left out, a stale plan refused), a promotion into a protected
// production requested by one member and approved by another in a second browser context, and
// rollbacks confirmed with the diff they apply — straight, and as a request where approvals are needed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at, expectAccessible, expectNoProblems, login, screenshot, startDashboard, type Dashboard } from './support.js';

const W = '/api/workspaces/default';
const A = { email: 'ana@example.com', password: 'ana has a long password' };
const B = { email: 'ben@example.com', password: 'ben has a long password' };

let d: Dashboard;

async function ok(method: string, path: string, body?: unknown) {
  const res = await d.api(method, path, body);
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
  return res.body;
}

beforeAll(async () => {
  d = await startDashboard();
  await ok('POST', `${W}/environments`, { slug: 'staging', name: 'Staging' });
  await ok('PUT', `${W}/variables/app_url`, { value: 'http://localhost:3000', overrides: { staging: 'https://staging.example.com', production: 'https://example.com' } });
  await ok('PUT', `${W}/environments/staging/secrets/stripe_key`, { value: 'sk_test_secret_value_7781' });
  await ok('PUT', `${W}/environments/development/resources/config/checkout`, { content: { value: { currency: 'EUR', url: '{{ vars.app_url }}/pay' } } });
  await ok('PUT', `${W}/environments/development/resources/tool/charge`, {
    content: { method: 'POST', url: 'https://api.example.com/charge', headers: { authorization: 'Bearer {{ secrets.stripe_key }}' } },
  });
  await ok('POST', `${W}/environments/development/commits`, { message: 'checkout and charge' });
  for (const member of [A, B]) await ok('POST', `${W}/members`, { ...member, role: 'deployer' });
}, 60_000);
afterAll(() => d?.close());

describe('releases', () => {
  it('promotes development to staging from the plan, leaving a resource out; a stale plan is refused', async () => {
    const page = await d.newPage();
    await login(page);
    // Before anything: empty states that say what to do next.
    await page.goto(at('development', 'requests'));
    await page.getByRole('heading', { name: 'No promotion requests yet' }).waitFor();
    await expectAccessible(page, 'requests (empty)');
    await page.goto(at('staging', 'releases'));
    await page.getByRole('heading', { name: 'Staging has no release yet' }).waitFor();
    expect(await page.getByRole('link', { name: 'Promote into Staging' }).count()).toBeGreaterThan(0);
    await expectAccessible(page, 'releases (empty)');

    await page.getByRole('link', { name: 'Promote', exact: true }).click();
    await page.waitForURL(`**${at('staging', 'promote')}`);
    await page.getByRole('heading', { name: 'Promote', level: 1 }).waitFor();
    // The plan: both resources, the variable as staging resolves it, the secret masked.
    await page.getByText('config/checkout', { exact: true }).first().waitFor();
    expect(await page.getByText('tool/charge', { exact: true }).count()).toBeGreaterThan(0);
    const refs = page.getByRole('table', { name: /Variables and secrets as Staging/ });
    expect(await refs.getByRole('row', { name: /vars\.app_url/ }).textContent()).toContain('https://staging.example.com');
    const secretRow = await refs.getByRole('row', { name: /secrets\.stripe_key/ }).textContent();
    expect(secretRow).toContain('••••7781');
    expect(await page.content()).not.toContain('sk_test_secret_value_7781');
    await expectAccessible(page, 'promote');
    await screenshot(page, 'releases-promote');

    // Leave the tool out, promote with a message.
    await page.getByLabel('Take tool/charge').uncheck();
    await expect.poll(() => page.locator('.plan-count').first().textContent()).toContain('1 of 2');
    await page.getByLabel('Message').fill('checkout to staging');
    const promote = page.getByRole('button', { name: 'Promote to Staging' });
    await expect.poll(() => promote.isEnabled()).toBe(true);
    await promote.click();
    await page.getByText('Staging now runs staging#1.').waitFor();
    const staging1 = await ok('GET', `${W}/environments/staging/releases/1`);
    expect(staging1).toMatchObject({ cause: 'promotion', source: 'development#1', message: 'checkout to staging' });
    expect(staging1.resources.map((r: { kind: string; key: string }) => `${r.kind}/${r.key}`)).toEqual(['config/checkout']);

    // What is left is the tool; someone promotes it behind this page's back: the plan is stale.
    await page.getByText('(1 of 1 resources taken)').waitFor();
    await ok('POST', `${W}/environments/staging/promotions`, { message: 'the rest, from the API' });
    await ok('PUT', `${W}/environments/development/resources/config/checkout`, { content: { value: { currency: 'USD', url: '{{ vars.app_url }}/pay' } } });
    await ok('POST', `${W}/environments/development/commits`, { message: 'dollars' });
    await page.getByRole('button', { name: 'Promote to Staging' }).click();
    await page.getByText('The plan is out of date').waitFor();
    expect(await page.getByRole('alert').filter({ hasText: 'out of date' }).textContent()).toContain('it changed since you looked');
    await page.getByRole('button', { name: 'Refresh the plan' }).click();
    // The fresh plan is development#2 against staging#2: the currency changes.
    await page.getByRole('row', { name: /\/value\/currency/ }).first().waitFor();
    expect(await page.locator('.facts').first().textContent()).toContain('development#2');
    await page.getByRole('button', { name: 'Promote to Staging' }).click();
    await page.getByText('Staging now runs staging#3.').waitFor();
    expect((await ok('GET', `${W}/environments/staging`)).release).toBe(3);
    expectNoProblems(d);
  });

  it('requests promotion into a protected production as one member and approves it as another in a second browser', async () => {
    await ok('PATCH', `${W}/environments/production`, { protected: true, approvalsRequired: 1 });
    await ok('PUT', `${W}/environments/production/gates`, { checklist: ['Migrations applied'] });
    await ok('PUT', `${W}/environments/production/secrets/stripe_key`, { value: 'sk_live_secret_value_9902' });

    const ana = await d.newPage();
    await login(ana, A);
    await ana.goto(at('production', 'promote'));
    const request = ana.getByRole('button', { name: 'Request promotion to Production' });
    await request.waitFor();
    expect(await ana.getByRole('list').filter({ hasText: 'Migrations applied' }).textContent()).toContain('not ticked');
    await expect.poll(() => request.isEnabled()).toBe(true);
    await ana.getByLabel('Message').fill('ship dollars');
    await request.click();
    await ana.getByText('Promotion requested.').waitFor();
    await ana.getByRole('link', { name: 'Open the request' }).click();
    await ana.getByRole('heading', { name: 'Promotion request: staging#3 → production' }).waitFor();
    // The requester cannot approve their own request: the API says so at the form.
    await ana.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => ana.getByRole('alert').filter({ hasText: 'requester' }).count()).toBe(1);
    expect(await ana.getByRole('alert').filter({ hasText: 'requester' }).textContent()).toContain('cannot approve it');
    await expectAccessible(ana, 'request (requester)');
    const pending = (await ok('GET', `${W}/promotion-requests?status=pending`)).data;
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ environment: 'production', approvals: [], requestedBy: { name: A.email } });

    // Ben, in his own browser context, finds it in the list, ticks the checklist and approves.
    const ben = await d.newPage();
    await login(ben, B);
    await ben.goto(at('production', 'requests'));
    const row = ben.getByRole('row', { name: /staging#3 → production/ });
    await row.waitFor();
    expect(await row.textContent()).toMatch(/pending.*ana@example\.com.*0 of 1/);
    await expectAccessible(ben, 'requests');
    await screenshot(ben, 'releases-requests');
    await row.getByRole('link').click();
    await ben.getByRole('heading', { name: 'Promotion request: staging#3 → production' }).waitFor();
    await ben.getByText('config/checkout', { exact: true }).first().waitFor();
    await ben.getByLabel('Done: Migrations applied').check();
    await expect.poll(() => ben.locator('.gate-checklist').textContent()).toContain(`ticked by ${B.email}`);
    await ben.evaluate('window.scrollTo(0, 0)');
    await screenshot(ben, 'releases-request');
    await ben.getByLabel('Comment').fill('dollars look right');
    await ben.getByRole('button', { name: 'Approve' }).click();
    await ben.getByText('Production got production#1.').waitFor();
    await expectAccessible(ben, 'request (applied)');

    const production = await ok('GET', `${W}/environments/production/releases/1`);
    expect(production).toMatchObject({ cause: 'promotion', source: 'staging#3', message: 'ship dollars', author: { name: B.email }, current: true });
    const applied = await ok('GET', `${W}/promotion-requests/${pending[0].id}`);
    expect(applied).toMatchObject({ status: 'applied', release: { number: 1 }, approvals: [{ actor: { name: B.email }, comment: 'dollars look right' }] });

    // The release appears in production's history, linked from the request.
    await ben.getByRole('link', { name: 'See release #1' }).click();
    await ben.getByRole('heading', { name: 'Release production#1' }).waitFor();
    await ben.getByRole('link', { name: 'config/checkout' }).waitFor();
    expectNoProblems(d);
  });

  it('rolls back production with a confirmation that names it and shows the diff; a protected rollback becomes a request', async () => {
    // production#2 changes the currency again (promoted while production is briefly unprotected).
    await ok('PATCH', `${W}/environments/production`, { protected: false });
    await ok('PUT', `${W}/environments/production/gates`, {});
    await ok('PUT', `${W}/environments/development/resources/config/checkout`, { content: { value: { currency: 'GBP', url: '{{ vars.app_url }}/pay' } } });
    await ok('POST', `${W}/environments/development/commits`, { message: 'pounds' });
    await ok('POST', `${W}/environments/staging/promotions`, { message: 'pounds' });
    await ok('POST', `${W}/environments/production/promotions`, { message: 'pounds to production' });
    await ok('PATCH', `${W}/environments/production`, { protected: true, approvalsRequired: 1 });

    const page = await d.newPage();
    await login(page);
    await page.goto(at('production', 'releases'));
    const latest = page.getByRole('row', { name: /Release production#2/ });
    await latest.waitFor();
    await expect.poll(() => latest.textContent()).toContain('config/checkout changed');
    expect(await latest.textContent()).toMatch(/promotion.*from staging#4.*pounds to production/);
    await expectAccessible(page, 'releases');
    await screenshot(page, 'releases-releases');

    await page.getByRole('button', { name: 'Roll back to #1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back Production to release #1' });
    await dialog.waitFor();
    // It names the environment, and shows the field it will change back.
    expect(await dialog.locator('.rollback-env').textContent()).toContain('Production');
    const currency = dialog.getByRole('row', { name: /\/value\/currency/ });
    await currency.waitFor();
    expect(await currency.textContent()).toMatch(/"GBP".*"USD"/);
    const confirm = dialog.getByRole('button', { name: 'Roll back Production to #1' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Type production to confirm').fill('production');
    await dialog.getByLabel('Rollback message').fill('pounds broke checkout');
    await expectAccessible(page, 'rollback confirmation');
    await screenshot(page, 'releases-rollback');
    await confirm.click();
    await page.getByText('Production now runs production#3, the snapshot of #1.').waitFor();

    const env = await ok('GET', `${W}/environments/production`);
    expect(env.release).toBe(3);
    const [one, three] = [await ok('GET', `${W}/environments/production/releases/1`), await ok('GET', `${W}/environments/production/releases/3`)];
    expect(three).toMatchObject({ cause: 'rollback', rolledBackTo: 1, message: 'pounds broke checkout', current: true });
    expect(three.snapshot).toBe(one.snapshot);

    // The new release and its diff to the one before.
    await page.getByRole('link', { name: 'See release #3' }).click();
    await page.getByRole('heading', { name: 'Release production#3' }).waitFor();
    await page.getByRole('heading', { name: 'Changes from #2' }).waitFor();
    await page.getByRole('row', { name: /\/value\/currency/ }).first().waitFor();
    await expectAccessible(page, 'release');
    await screenshot(page, 'releases-release');

    // Where rollbacks need approvals, confirming makes a request and says so.
    await ok('PATCH', `${W}/environments/staging`, { protected: true, approvalsRequired: 1, approvalsForRollback: true });
    await page.goto(at('staging', 'releases/1'));
    await page.getByRole('button', { name: 'Roll back to #1' }).click();
    const staged = page.getByRole('dialog', { name: 'Roll back Staging to release #1' });
    await staged.getByText('needs 1 approval for a rollback').waitFor();
    await staged.getByRole('row', { name: /\/value\/currency/ }).first().waitFor();
    await staged.getByRole('button', { name: 'Request rollback of Staging to #1' }).click();
    await page.getByText('A rollback request was made.').waitFor();
    const requests = (await ok('GET', `${W}/promotion-requests?status=pending&environment=staging`)).data;
    expect(requests).toMatchObject([{ kind: 'rollback', source: { release: 1 } }]);
    expect((await ok('GET', `${W}/environments/staging`)).release).toBe(4);

    // Rejecting it needs a reason: the API's field error shows under the comment.
    await page.getByRole('link', { name: 'Open the request' }).click();
    await page.getByRole('heading', { name: 'Rollback request: Roll back staging to #1' }).waitFor();
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.getByText('must give a reason').waitFor();
    expect(await page.getByLabel('Comment').getAttribute('aria-invalid')).toBe('true');
    await page.getByLabel('Comment').fill('staging is fine as it is');
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.getByText('staging is fine as it is').waitFor();
    await expectAccessible(page, 'request (rejected)');
    expect(await ok('GET', `${W}/promotion-requests/${requests[0].id}`)).toMatchObject({ status: 'rejected', reason: 'staging is fine as it is' });
    expect((await ok('GET', `${W}/environments/staging`)).release).toBe(4);
    expectNoProblems(d);
  });
});
