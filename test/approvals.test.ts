// Promotion requests into protected environments: the plan they hold, approvals by members
// allowed to promote other than the requester, rejection, staleness, and their audit trail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createStaging, memberToken, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
let deployerA: string;
let deployerB: string;
let viewer: string;
let narrowed: string;

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  await h.call('PUT', `${WS}/variables/app_url`, { value: 'http://localhost:3000', overrides: { production: 'https://app.example.com' } });
  await h.call('PUT', `${WS}/environments/production/secrets/stripe_key`, { value: 'sk_live_abcdef123456' });
  await h.call('PUT', `${WS}/environments/staging/secrets/stripe_key`, { value: 'sk_test_staging9876' });
  await commitDrafts(h, { 'config/site': config('{{ vars.app_url }}'), 'config/pay': config('{{ secrets.stripe_key }}') });
  expect((await promote(h, 'staging')).status).toBe(201);
  deployerA = await memberToken(h, 'deployer-a@example.com', 'deployer');
  deployerB = await memberToken(h, 'deployer-b@example.com', 'deployer');
  viewer = await memberToken(h, 'viewer@example.com', 'viewer');
  narrowed = await memberToken(h, 'narrowed@example.com', 'developer', { production: 'viewer' });
  expect((await h.call('PATCH', `${WS}/environments/production`, { protected: true, approvalsRequired: 2 })).status).toBe(200);
});
afterAll(async () => h?.close());

async function request(body: Record<string, unknown> = {}, token?: string) {
  const res = await h.call('POST', `${WS}/environments/production/promotions`, body, token);
  expect(res.status).toBe(202);
  return res.body.request;
}

const approve = (id: string, token: string, body: Record<string, unknown> = {}) => h.call('POST', `${WS}/promotion-requests/${id}/approve`, body, token);
const productionRelease = async () => (await h.call('GET', `${WS}/environments/production`)).body.release as number;

describe('promotion requests', () => {
  it('hold the plan: the diff, what each reference resolves to in the target (secrets masked), missing references and a hash', async () => {
    const req = await request({ message: 'first production release' });
    expect(req.status).toBe('pending');
    expect(req.source.name).toBe('staging#1');
    expect(req.plan.summary).toEqual({ added: 2, changed: 0, removed: 0 });
    expect(req.plan.changes.map((c: any) => `${c.kind}/${c.key}:${c.status}`).sort()).toEqual(['config/pay:added', 'config/site:added']);
    expect(req.plan.references).toEqual([
      { reference: 'secrets.stripe_key', resources: ['config/pay'], secret: { hint: expect.any(String), version: 1, inheritedFrom: null } },
      { reference: 'vars.app_url', resources: ['config/site'], value: 'https://app.example.com' },
    ]);
    expect(JSON.stringify(req)).not.toContain('sk_live_abcdef123456');
    expect(req.plan.missingReferences).toEqual([]);
    expect(req.planHash).toMatch(/^[0-9a-f]{64}$/);
    const dry = await promote(h, 'production', { dryRun: true });
    expect(dry.body.planHash).toBe(req.planHash);
    await h.call('POST', `${WS}/promotion-requests/${req.id}/reject`, { reason: 'only inspecting the plan' });
  });

  it('apply once the required number of other members allowed to promote approve; the requester cannot approve', async () => {
    const before = await productionRelease();
    const req = await request({ message: 'ship it' });
    const self = await approve(req.id, h.token);
    expect(self.status).toBe(403);
    expect(self.body.error.message).toContain('requester');

    const first = await approve(req.id, deployerA, { comment: 'looks right', planHash: req.planHash });
    expect(first.status).toBe(200);
    expect(first.body.request.status).toBe('pending');
    expect(first.body.request.approvals).toHaveLength(1);
    expect(first.body.release).toBeUndefined();
    expect(await productionRelease()).toBe(before);

    const again = await approve(req.id, deployerA);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('already_approved');

    const second = await approve(req.id, deployerB);
    expect(second.status).toBe(200);
    expect(second.body.request.status).toBe('applied');
    expect(second.body.release.number).toBe(before + 1);
    expect(second.body.request.release.number).toBe(before + 1);
    expect(await productionRelease()).toBe(before + 1);

    const resolved = await h.call('GET', `${WS}/diff?from=staging&to=production`);
    expect(resolved.body.changes).toEqual([]);

    const late = await approve(req.id, deployerB);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('request_not_pending');

    const audit = await h.call('GET', `${WS}/audit-log?action=promotion_request.*&limit=50`);
    const mine = audit.body.data.filter((e: any) => e.details.request === req.id).map((e: any) => e.action);
    expect(mine.sort()).toEqual(['promotion_request.approve', 'promotion_request.approve', 'promotion_request.create']);
    const promotion = (await h.call('GET', `${WS}/audit-log?action=release.promote&limit=5`)).body.data[0];
    expect(promotion.details.request).toBe(req.id);
    expect(promotion.details.approvers).toHaveLength(2);
  });

  it('only members allowed to promote into the target may approve or reject', async () => {
    await commitDrafts(h, { 'config/site': config('v2 {{ vars.app_url }}') });
    await promote(h, 'staging');
    const req = await request();
    for (const token of [viewer, narrowed]) {
      const res = await approve(req.id, token);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
      expect(res.body.error.message).toContain('release.promote');
      expect((await h.call('POST', `${WS}/promotion-requests/${req.id}/reject`, { reason: 'no' }, token)).status).toBe(403);
    }
    // A narrowed member can still read the request.
    expect((await h.call('GET', `${WS}/promotion-requests/${req.id}`, undefined, narrowed)).status).toBe(200);
    await h.call('POST', `${WS}/promotion-requests/${req.id}/reject`, { reason: 'cleanup' });
  });

  it('reject with a mandatory reason; a rejected request applies nothing', async () => {
    const before = await productionRelease();
    const req = await request();
    const empty = await h.call('POST', `${WS}/promotion-requests/${req.id}/reject`, { reason: ' ' }, deployerA);
    expect(empty.status).toBe(400);
    expect(empty.body.error.details[0].field).toBe('reason');
    const rejected = await h.call('POST', `${WS}/promotion-requests/${req.id}/reject`, { reason: 'wrong stripe key' }, deployerA);
    expect(rejected.status).toBe(200);
    expect(rejected.body.status).toBe('rejected');
    expect(rejected.body.reason).toBe('wrong stripe key');
    expect(rejected.body.rejectedBy.name).toBe('deployer-a@example.com');
    expect((await approve(req.id, deployerB)).body.error.code).toBe('request_not_pending');
    expect(await productionRelease()).toBe(before);
    const entry = (await h.call('GET', `${WS}/audit-log?action=promotion_request.reject&limit=1`)).body.data[0];
    expect(entry.details).toMatchObject({ request: req.id, reason: 'wrong stripe key' });
  });

  it('is stale when what a reference resolves to changed since the plan', async () => {
    const before = await productionRelease();
    const req = await request();
    await approve(req.id, deployerA);
    expect((await h.call('PUT', `${WS}/variables/app_url`, { value: 'http://localhost:3000', overrides: { production: 'https://new.example.com' } })).status).toBe(200);
    const last = await approve(req.id, deployerB);
    expect(last.status).toBe(409);
    expect(last.body.error.code).toBe('request_stale');
    expect((await h.call('GET', `${WS}/promotion-requests/${req.id}`)).body.status).toBe('stale');
    expect(await productionRelease()).toBe(before);
    // Re-planning makes a fresh request that applies.
    const again = await request();
    expect(again.plan.references.find((r: any) => r.reference === 'vars.app_url').value).toBe('https://new.example.com');
    await approve(again.id, deployerA);
    expect((await approve(again.id, deployerB)).body.request.status).toBe('applied');
  });

  it('is marked stale when the target moves before the last approval, and applies nothing', async () => {
    const before = await productionRelease();
    const req = await request();
    expect((await approve(req.id, deployerA)).status).toBe(200);
    // A rollback of production (not a promotion: those need requests) moves the target.
    const rolled = await h.call('POST', `${WS}/environments/production/rollbacks`, { release: before - 1 });
    expect(rolled.status).toBe(201);
    const read = await h.call('GET', `${WS}/promotion-requests/${req.id}`);
    expect(read.body.status).toBe('stale');
    expect(read.body.reason).toContain(`moved from #${before} to #${before + 1}`);
    const last = await approve(req.id, deployerB);
    expect(last.status).toBe(409);
    expect(last.body.error.code).toBe('request_not_pending');
    expect(await productionRelease()).toBe(before + 1);
    const stale = (await h.call('GET', `${WS}/audit-log?action=promotion_request.stale&limit=1`)).body.data[0];
    expect(stale.details.request).toBe(req.id);
  });

  it('refuses an approval for a plan other than the one the request holds', async () => {
    await commitDrafts(h, { 'config/extra': config(1) });
    await promote(h, 'staging');
    const req = await request();
    const res = await approve(req.id, deployerA, { planHash: '0'.repeat(64) });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('plan_mismatch');
    expect((await h.call('GET', `${WS}/promotion-requests/${req.id}`)).body.approvals).toHaveLength(0);
    await h.call('POST', `${WS}/promotion-requests/${req.id}/reject`, { reason: 'cleanup' });
  });

  it('lists requests newest first, filtered by status and environment, with a cursor', async () => {
    const all = await h.call('GET', `${WS}/promotion-requests?limit=2`);
    expect(all.status).toBe(200);
    expect(all.body.data).toHaveLength(2);
    expect(all.body.next).toEqual(expect.any(String));
    const next = await h.call('GET', `${WS}/promotion-requests?limit=2&cursor=${encodeURIComponent(all.body.next)}`);
    expect(next.body.data[0].id).not.toBe(all.body.data[1].id);
    expect(next.body.data[0].createdAt <= all.body.data[1].createdAt).toBe(true);
    const applied = await h.call('GET', `${WS}/promotion-requests?status=applied&environment=production`);
    expect(applied.body.data.length).toBeGreaterThanOrEqual(2);
    expect(applied.body.data.every((r: any) => r.status === 'applied' && r.environment === 'production')).toBe(true);
    expect((await h.call('GET', `${WS}/promotion-requests?cursor=nope`)).status).toBe(400);
    expect((await h.call('GET', `${WS}/promotion-requests/prq_missing`)).status).toBe(404);
  });

  it('a request approved during a freeze needs break-glass from the last approver', async () => {
    await commitDrafts(h, { 'config/extra': config(2) });
    await promote(h, 'staging');
    const req = await request();
    await approve(req.id, deployerA);
    const freeze = await h.call('POST', `${WS}/environments/production/freezes`, { startsAt: new Date(Date.now() - 1000).toISOString(), endsAt: new Date(Date.now() + 3600_000).toISOString(), reason: 'launch' });
    try {
      const blocked = await approve(req.id, deployerB);
      expect(blocked.status).toBe(409);
      expect(blocked.body.error.code).toBe('environment_frozen');
      // The refused approval was rolled back with everything else.
      expect((await h.call('GET', `${WS}/promotion-requests/${req.id}`)).body.approvals).toHaveLength(1);
      const admin = await memberToken(h, 'admin-approver@example.com', 'admin');
      const glass = await approve(req.id, admin, { breakGlass: { reason: 'launch fix' } });
      expect(glass.status).toBe(200);
      expect(glass.body.request.status).toBe('applied');
    } finally {
      await h.call('DELETE', `${WS}/environments/production/freezes/${freeze.body.id}`);
    }
  });
});
