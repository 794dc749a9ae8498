// Promotion gates: an environment's required CI checks, checklist and soak time turn a promotion
// into a request that applies by itself when its last gate passes (exactly once, with two
// nodes racing), never while a gate has failed, or on the approver's action where the gates
// say so. Soak time is made to pass by setting the source release's creation time back in the
// database, then running the gate sweep of both nodes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMasterKeys } from '../src/domain/secrets/envelope.js';
import { createNode } from '../src/runtime/index.js';
import { leaseHolder } from '../src/store/leases.js';
import { commitDrafts, config, createStaging, eventually, memberToken, promote, startHarness, TEST_MASTER_KEY, WS, type Harness } from './support.js';

let h: Harness;
let second: Harness;
let deployerA: string;
let deployerB: string;
let viewer: string;
let reporter: string;

const GATES = `${WS}/environments/production/gates`;
const checks = (env: string, n: number) => `${WS}/environments/${env}/releases/${n}/checks`;
const tick = (id: string, item: string, done: boolean, token: string) => h.call('POST', `${WS}/promotion-requests/${id}/checklist`, { item, done }, token);
const approve = (id: string, token: string) => h.call('POST', `${WS}/promotion-requests/${id}/approve`, {}, token);
const requestOf = async (id: string) => (await h.call('GET', `${WS}/promotion-requests/${id}`)).body;
const productionRelease = async () => (await h.call('GET', `${WS}/environments/production`)).body.release as number;
const gateStates = (request: any) => request.gates.map((g: any) => `${g.type}:${g.name}:${g.state}`);

/** A new staging release promoted from development; answers its number. */
async function newStagingRelease(value: unknown): Promise<number> {
  await commitDrafts(h, { 'config/site': config(value) });
  const res = await promote(h, 'staging');
  expect(res.status).toBe(201);
  return res.body.number;
}

async function auditOf(action: string) {
  return (await h.call('GET', `${WS}/audit-log?action=${action}&limit=100`)).body.data as any[];
}

beforeAll(async () => {
  h = await startHarness();
  second = await startHarness({ database: h.database });
  await createStaging(h);
  deployerA = await memberToken(h, 'deployer-a@example.com', 'deployer');
  deployerB = await memberToken(h, 'deployer-b@example.com', 'deployer');
  viewer = await memberToken(h, 'viewer@example.com', 'viewer');
  const created = await h.call('POST', `${WS}/tokens`, { name: 'ci', role: 'reporter' });
  expect(created.status).toBe(201);
  reporter = created.body.token;
});
afterAll(async () => {
  await second?.close();
  await h?.close();
});

describe('gate settings', () => {
  it('an environment without gates reads as ungated and promotes directly', async () => {
    const res = await h.call('GET', GATES);
    expect(res.body).toEqual({ environment: 'production', gated: false, checks: [], checklist: [], soakMinutes: 0, autoApply: false, watch: null });
  });

  it.each([
    { name: 'a negative soak time', body: { soakMinutes: -1 }, field: 'soakMinutes' },
    { name: 'a fractional soak time', body: { soakMinutes: 1.5 }, field: 'soakMinutes' },
    { name: 'a check named twice', body: { checks: ['ci', 'ci'] }, field: 'checks' },
    { name: 'an empty check name', body: { checks: [''] }, field: 'checks.0' },
    { name: 'a checklist that is not a list', body: { checklist: 'x' }, field: 'checklist' },
    { name: 'a watch of no minutes', body: { watch: { minutes: 0 } }, field: 'watch.minutes' },
    { name: 'an error rate above 1', body: { watch: { minutes: 5, maxErrorRate: 2 } }, field: 'watch.maxErrorRate' },
    { name: 'an unknown field', body: { soak: 1 }, field: 'soak' },
  ])('refuses $name with a 400 naming the field', async ({ body, field }) => {
    const res = await h.call('PUT', GATES, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  });

  it('takes environment.manage in that environment, and any names, __proto__ included', async () => {
    const denied = await h.call('PUT', GATES, { checks: ['ci'] }, deployerA);
    expect(denied.status).toBe(403);
    const res = await h.call('PUT', GATES, { checks: ['__proto__', 'constructor'], checklist: ['toString'] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ gated: true, checks: ['__proto__', 'constructor'], checklist: ['toString'], soakMinutes: 0, autoApply: false });
    expect((await h.call('GET', GATES, undefined, viewer)).body.checks).toEqual(['__proto__', 'constructor']);
    const entry = (await auditOf('gate.update'))[0];
    expect(entry.environment).toBe('production');
    expect(entry.details.checks).toEqual(['__proto__', 'constructor']);
    // All empty removes the gates again.
    expect((await h.call('PUT', GATES, {})).body.gated).toBe(false);
  });
});

describe('CI checks', () => {
  it('a reporter token reports checks and reads them, and can do nothing else', async () => {
    const n = await newStagingRelease('reporter');
    const reported = await h.call('POST', checks('staging', n), { name: 'ci/unit', status: 'pending', url: 'https://ci.example/run/1' }, reporter);
    expect(reported.status).toBe(201);
    expect(reported.body).toMatchObject({ environment: 'staging', release: n, name: 'ci/unit', status: 'pending', url: 'https://ci.example/run/1', reportedBy: { name: 'ci' }, applied: [] });
    expect((await h.call('POST', checks('staging', n), { name: 'ci/unit', status: 'failure' }, reporter)).status).toBe(201);
    expect((await h.call('POST', checks('staging', n), { name: 'ci/unit', status: 'success', summary: 'green' }, reporter)).status).toBe(201);
    expect((await h.call('POST', checks('staging', n), { name: 'ci/lint', status: 'success' }, reporter)).status).toBe(201);

    const read = await h.call('GET', checks('staging', n), undefined, reporter);
    expect(read.status).toBe(200);
    expect(read.body.data.map((c: any) => `${c.name}:${c.status}`)).toEqual(['ci/unit:success', 'ci/lint:success']);
    expect(read.body.history).toHaveLength(4);

    expect((await promote(h, 'staging', {})).status).toBe(201); // the owner can, for contrast
    for (const res of [
      await h.call('POST', `${WS}/environments/production/promotions`, {}, reporter),
      await h.call('POST', `${WS}/environments/production/promotions`, { dryRun: true }, reporter),
      await h.call('PUT', `${WS}/environments/development/resources/config/x`, { content: { value: 1 } }, reporter),
      await h.call('PUT', GATES, { checks: ['ci'] }, reporter),
    ]) {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
    const audit = (await auditOf('release.check')).filter((e) => e.target === `release/staging#${n}`);
    expect(audit.map((e) => `${e.actorKind}:${e.actorName}:${e.details.name}:${e.details.status}`).reverse()).toEqual([
      'service:ci:ci/unit:pending',
      'service:ci:ci/unit:failure',
      'service:ci:ci/unit:success',
      'service:ci:ci/lint:success',
    ]);
  });

  it('refuses a report without a valid status, on a missing release, or from a viewer', async () => {
    const bad = await h.call('POST', checks('staging', 1), { name: 'ci', status: 'passed' }, reporter);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: any) => d.field)).toContain('status');
    const badUrl = await h.call('POST', checks('staging', 1), { name: 'ci', status: 'success', url: 'javascript:alert(1)' }, reporter);
    expect(badUrl.status).toBe(400);
    expect((await h.call('POST', checks('staging', 999), { name: 'ci', status: 'success' }, reporter)).status).toBe(404);
    expect((await h.call('POST', checks('staging', 1), { name: 'ci', status: 'success' }, viewer)).status).toBe(403);
  });
});

describe('a gated promotion', () => {
  it('waits for the CI check, the checklist item and soak time, and applies exactly once when the last passes', async () => {
    expect((await h.call('PUT', GATES, { checks: ['ci/e2e'], checklist: ['Migrations applied'], soakMinutes: 1, autoApply: true })).status).toBe(200);
    const n = await newStagingRelease('gated');
    const before = await productionRelease();

    const dry = await h.call('POST', `${WS}/environments/production/promotions`, { dryRun: true }, deployerA);
    expect(dry.status).toBe(200);
    expect(dry.body.request).toBe(true);
    expect(gateStates(dry.body)).toEqual(['check:ci/e2e:pending', 'checklist:Migrations applied:pending', 'soak:1 min:pending']);

    const opened = await h.call('POST', `${WS}/environments/production/promotions`, { message: 'gated release' }, deployerA);
    expect(opened.status).toBe(202);
    const id = opened.body.request.id;
    expect(opened.body.request).toMatchObject({ status: 'pending', approvalsRequired: 0, autoApply: true, blocked: false, gateState: 'pending', hold: null });
    // The hold stub holds nothing: no hold gate.
    expect(gateStates(opened.body.request)).toEqual(['check:ci/e2e:pending', 'checklist:Migrations applied:pending', 'soak:1 min:pending']);

    const reported = await h.call('POST', checks('staging', n), { name: 'ci/e2e', status: 'success', url: 'https://ci.example/e2e/7' }, reporter);
    expect(reported.body.applied).toEqual([]);
    expect(gateStates(await requestOf(id))).toEqual(['check:ci/e2e:passed', 'checklist:Migrations applied:pending', 'soak:1 min:pending']);

    const unknown = await tick(id, 'Backups taken', true, deployerB);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].field).toBe('item');
    expect((await tick(id, 'Migrations applied', true, viewer)).status).toBe(403);
    const ticked = await tick(id, 'Migrations applied', true, deployerB);
    expect(ticked.status).toBe(200);
    expect(ticked.body.release).toBeUndefined();
    expect(ticked.body.request.gates[1]).toMatchObject({ type: 'checklist', state: 'passed', detail: 'ticked by deployer-b@example.com' });
    expect(ticked.body.request.status).toBe('pending');

    // Soak time: the staging release has now run there for two minutes.
    const env = (await h.call('GET', `${WS}/environments/staging`)).body;
    await h.store.db
      .updateTable('releases')
      .set({ created_at: new Date(Date.now() - 120_000).toISOString() })
      .where('environment_id', '=', env.id)
      .where('number', '=', n)
      .execute();
    expect(gateStates(await requestOf(id))).toEqual(['check:ci/e2e:passed', 'checklist:Migrations applied:passed', 'soak:1 min:passed']);
    // Both nodes' sweeps and a second tick race to apply it.
    await Promise.all([h.runtime.gates.sweep(), second.runtime.gates.sweep(), tick(id, 'Migrations applied', true, deployerA)]);

    const applied = await requestOf(id);
    expect(applied.status).toBe('applied');
    expect(applied.release.number).toBe(before + 1);
    expect(await productionRelease()).toBe(before + 1);
    const releases = (await h.call('GET', `${WS}/environments/production/releases?limit=5`)).body.data;
    expect(releases[0]).toMatchObject({ number: before + 1, source: `staging#${n}`, message: 'gated release', author: { id: 'system', name: 'stageline' } });
    const autoApplied = (await auditOf('promotion_request.auto_apply')).filter((e) => e.details.request === id);
    expect(autoApplied).toHaveLength(1);
    expect(autoApplied[0]).toMatchObject({ actorKind: 'system', actorName: 'stageline', environment: 'production' });
    expect(autoApplied[0].details.release).toBe(before + 1);
    expect((await auditOf('release.promote')).filter((e) => e.details.request === id)).toHaveLength(1);
    expect((await auditOf('promotion_request.checklist')).filter((e) => e.details.request === id).length).toBeGreaterThanOrEqual(1);

    // Nothing left for a later sweep to apply.
    await h.runtime.gates.sweep();
    expect(await productionRelease()).toBe(before + 1);
  });

  it('a failed check blocks the request, and a later success for the same name applies it', async () => {
    expect((await h.call('PUT', GATES, { checks: ['ci/e2e'], autoApply: true })).status).toBe(200);
    const n = await newStagingRelease('blocked');
    const before = await productionRelease();
    const opened = await promote(h, 'production', {});
    expect(opened.status).toBe(202);
    const id = opened.body.request.id;

    expect((await h.call('POST', checks('staging', n), { name: 'ci/e2e', status: 'failure', summary: '3 tests failed' }, reporter)).body.applied).toEqual([]);
    const blocked = await requestOf(id);
    expect(blocked).toMatchObject({ status: 'pending', blocked: true, gateState: 'failed' });
    expect(blocked.gates).toEqual([{ type: 'check', name: 'ci/e2e', state: 'failed', detail: '3 tests failed' }]);
    await h.runtime.gates.sweep();
    expect(await productionRelease()).toBe(before);

    const green = await h.call('POST', checks('staging', n), { name: 'ci/e2e', status: 'success' }, reporter);
    expect(green.status).toBe(201);
    expect(green.body.applied).toEqual([{ request: id, release: `production#${before + 1}` }]);
    expect(await requestOf(id)).toMatchObject({ status: 'applied', blocked: false, gateState: 'passed' });
    expect(await productionRelease()).toBe(before + 1);
  });

  it('without autoApply waits for the approver: an approval before the gates pass is recorded, approving again applies', async () => {
    expect((await h.call('PUT', GATES, { checks: ['ci/e2e'], autoApply: false })).status).toBe(200);
    const n = await newStagingRelease('approver');
    const before = await productionRelease();
    const opened = await h.call('POST', `${WS}/environments/production/promotions`, {}, deployerA);
    expect(opened.status).toBe(202);
    const id = opened.body.request.id;
    expect(opened.body.request.approvalsRequired).toBe(1);
    expect(gateStates(opened.body.request)).toEqual(['approvals:approvals:pending', 'check:ci/e2e:pending']);

    expect((await approve(id, deployerA)).status).toBe(403); // the requester
    const early = await approve(id, deployerB);
    expect(early.status).toBe(200);
    expect(early.body.release).toBeUndefined();
    expect(early.body.request.status).toBe('pending');
    expect(gateStates(early.body.request)).toEqual(['approvals:approvals:passed', 'check:ci/e2e:pending']);
    const waiting = await approve(id, deployerB);
    expect(waiting.status).toBe(409);
    expect(waiting.body.error.code).toBe('already_approved');

    const green = await h.call('POST', checks('staging', n), { name: 'ci/e2e', status: 'success' }, reporter);
    expect(green.body.applied).toEqual([]);
    await h.runtime.gates.sweep();
    expect(await productionRelease()).toBe(before);
    expect((await requestOf(id)).gateState).toBe('passed');

    const applied = await approve(id, deployerB);
    expect(applied.status).toBe(200);
    expect(applied.body.release.number).toBe(before + 1);
    expect(applied.body.request.status).toBe('applied');
    expect(await productionRelease()).toBe(before + 1);
    const promoted = (await auditOf('release.promote')).find((e) => e.details.request === id);
    expect(promoted.details.approvers).toHaveLength(1);
  });

  it('a protected, gated target applies by itself once both its approvals and its check have passed', async () => {
    expect((await h.call('PUT', GATES, { checks: ['ci/e2e'], autoApply: true })).status).toBe(200);
    expect((await h.call('PATCH', `${WS}/environments/production`, { protected: true, approvalsRequired: 1 })).status).toBe(200);
    const n = await newStagingRelease('protected and gated');
    const before = await productionRelease();
    const opened = await h.call('POST', `${WS}/environments/production/promotions`, {}, deployerA);
    const id = opened.body.request.id;
    expect(gateStates(opened.body.request)).toEqual(['approvals:approvals:pending', 'check:ci/e2e:pending']);
    const approved = await approve(id, deployerB);
    expect(approved.body.request.status).toBe('pending');
    expect(await productionRelease()).toBe(before);
    const green = await h.call('POST', checks('staging', n), { name: 'ci/e2e', status: 'success' }, reporter);
    expect(green.body.applied).toEqual([{ request: id, release: `production#${before + 1}` }]);
    expect(await productionRelease()).toBe(before + 1);
    const promoted = (await auditOf('release.promote')).find((e) => e.details.request === id);
    expect(promoted).toMatchObject({ actorKind: 'system', details: { approvers: [expect.stringMatching(/^usr_/)] } });
    expect((await h.call('PATCH', `${WS}/environments/production`, { protected: false, approvalsRequired: 0 })).status).toBe(200);
  });

  it('a request whose gates have all passed already applies when it is made (201)', async () => {
    expect((await h.call('PUT', GATES, { checks: ['ci/e2e'], autoApply: true })).status).toBe(200);
    const n = await newStagingRelease('checked before');
    expect((await h.call('POST', checks('staging', n), { name: 'ci/e2e', status: 'success' }, reporter)).body.applied).toEqual([]);
    const before = await productionRelease();
    const res = await promote(h, 'production', {});
    expect(res.status).toBe(201);
    expect(res.body.request).toMatchObject({ status: 'applied', gateState: 'passed', release: { number: before + 1 } });
    expect(res.body.release.number).toBe(before + 1);
    expect(await productionRelease()).toBe(before + 1);
  });

  it('the gate sweep runs by itself on the node holding the lease and applies a request when its soak time is up', async () => {
    expect((await h.call('PUT', GATES, { soakMinutes: 1, autoApply: true })).status).toBe(200);
    const n = await newStagingRelease('soaked');
    const before = await productionRelease();
    const opened = await promote(h, 'production', {});
    expect(opened.status).toBe(202);
    const id = opened.body.request.id;
    // A third node sweeping every 50 ms takes the lease once the others' is gone.
    const { runtime } = await createNode({ store: h.store, masterKeys: parseMasterKeys(TEST_MASTER_KEY), gatesIntervalMs: 50 });
    try {
      await h.store.db.deleteFrom('leases').where('name', '=', 'gates').execute();
      await eventually(async () => expect(await leaseHolder(h.store.db, 'gates', new Date())).toMatch(/^node_/));
      expect((await requestOf(id)).status).toBe('pending');
      const env = (await h.call('GET', `${WS}/environments/staging`)).body;
      await h.store.db.updateTable('releases').set({ created_at: new Date(Date.now() - 61_000).toISOString() }).where('environment_id', '=', env.id).where('number', '=', n).execute();
      await eventually(async () => expect((await requestOf(id)).status).toBe('applied'));
      expect(await productionRelease()).toBe(before + 1);
      const entry = (await auditOf('promotion_request.auto_apply')).find((e) => e.details.request === id);
      expect(entry.details.trigger).toBe('gate sweep');
    } finally {
      await runtime.close();
    }
    // Closing gave the lease up.
    expect(await leaseHolder(h.store.db, 'gates', new Date())).toBeNull();
  });

  it('an ungated environment promotes directly again once its gates are removed; a promotion validates its watch', async () => {
    expect((await h.call('PUT', GATES, {})).status).toBe(200);
    await newStagingRelease('ungated');
    for (const watch of [{ minutes: 0 }, { minutes: 5, maxRegression: 0.5 }, { minutes: 5, extra: 1 }]) {
      const res = await promote(h, 'production', { watch });
      expect(res.status).toBe(400);
      expect(res.body.error.details.some((d: any) => String(d.field).startsWith('watch'))).toBe(true);
    }
    const res = await promote(h, 'production', { watch: { minutes: 10, maxErrorRate: 0.05 } });
    expect(res.status).toBe(201);
  });
});
