import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createStaging, memberToken, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
let developer: string;
let secondAdmin: string;
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  await commitDrafts(h, { 'config/a': config(1) });
  await promote(h, 'staging');
  await promote(h, 'production');
  await commitDrafts(h, { 'config/a': config(2) });
  await promote(h, 'staging');
  await promote(h, 'production');
  developer = await memberToken(h, 'dev@example.com', 'developer');
  secondAdmin = await memberToken(h, 'admin2@example.com', 'admin');
});
afterAll(async () => h?.close());

describe('freeze windows', () => {
  it('a freeze blocks promotions and rollbacks into the environment, naming the window', async () => {
    const created = await h.call('POST', `${WS}/environments/production/freezes`, { startsAt: new Date(Date.now() - 1000).toISOString(), endsAt: inAnHour(), reason: 'Black Friday' });
    expect(created.status).toBe(201);
    expect(created.body.active).toBe(true);
    const promotion = await promote(h, 'production');
    expect(promotion.status).toBe(409);
    expect(promotion.body.error.code).toBe('environment_frozen');
    expect(promotion.body.error.message).toContain('Black Friday');
    expect((await h.call('POST', `${WS}/environments/production/rollbacks`, { release: 1 })).body.error.code).toBe('environment_frozen');
    // Other environments are not frozen.
    expect((await promote(h, 'staging', { expectedRelease: 2 })).status).toBe(201);
  });

  it('break-glass needs an owner or admin and a reason', async () => {
    expect((await promote(h, 'production', { breakGlass: { reason: '' } })).status).toBe(400);
    const byDeveloper = await h.call('POST', `${WS}/environments/production/promotions`, { breakGlass: { reason: 'hotfix' } }, developer);
    expect(byDeveloper.status).toBe(403);
    expect(byDeveloper.body.error.message).toBe('only an owner or admin can break glass: production is frozen');
    expect(byDeveloper.body.error.details).toEqual([{ rule: 'break_glass', environment: 'production' }]);
  });

  it('break-glass goes through, is audited, and opens a review item until someone else acknowledges it', async () => {
    const res = await promote(h, 'production', { breakGlass: { reason: 'payment outage hotfix' } });
    expect(res.status).toBe(201);
    const [entry] = (await h.call('GET', `${WS}/audit-log?action=release.promote&limit=1`)).body.data;
    expect(entry.details.breakGlass).toBe('payment outage hotfix');
    const open = (await h.call('GET', `${WS}/review-items?open=true`)).body.data;
    expect(open).toEqual([expect.objectContaining({ environment: 'production', kind: 'break_glass', reason: 'payment outage hotfix' })]);
    const self = await h.call('POST', `${WS}/review-items/${open[0].id}/acknowledge`);
    expect(self.status).toBe(403);
    expect(self.body.error.message).toBe('the person who broke glass cannot acknowledge it: someone else must');
    const other = await h.call('POST', `${WS}/review-items/${open[0].id}/acknowledge`, undefined, secondAdmin);
    expect(other.status).toBe(200);
    expect(other.body.acknowledgedAt).not.toBeNull();
    expect((await h.call('GET', `${WS}/review-items?open=true`)).body.data).toEqual([]);
    expect((await h.call('POST', `${WS}/review-items/${open[0].id}/acknowledge`, undefined, secondAdmin)).body.error.code).toBe('already_acknowledged');
  });

  it('a rollback can break glass too', async () => {
    const res = await h.call('POST', `${WS}/environments/production/rollbacks`, { release: 1, breakGlass: { reason: 'bad hotfix' } });
    expect(res.status).toBe(201);
    expect((await h.call('GET', `${WS}/review-items?open=true`)).body.data).toHaveLength(1);
  });

  it('a future window does not block yet; removing a window lifts it', async () => {
    const list = (await h.call('GET', `${WS}/environments/production/freezes`)).body.data;
    for (const freeze of list) expect((await h.call('DELETE', `${WS}/environments/production/freezes/${freeze.id}`)).status).toBe(204);
    await h.call('POST', `${WS}/environments/production/freezes`, { startsAt: inAnHour(), endsAt: new Date(Date.now() + 7200_000).toISOString(), reason: 'later' });
    expect((await promote(h, 'production')).status).toBe(201);
  });

  it('refuses a window that ends before it starts or is over, and developers cannot freeze', async () => {
    const now = Date.now();
    const bad = await h.call('POST', `${WS}/environments/production/freezes`, { startsAt: new Date(now + 2000).toISOString(), endsAt: new Date(now + 1000).toISOString(), reason: 'x' });
    expect(bad.body.error.details[0].field).toBe('endsAt');
    expect((await h.call('POST', `${WS}/environments/production/freezes`, { startsAt: new Date(now).toISOString(), endsAt: inAnHour(), reason: 'x' }, developer)).status).toBe(403);
  });
});
