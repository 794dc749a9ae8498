// Rollbacks: the dry run's per-resource plan, and approvals for rollbacks of protected
// environments (off by default, so a rollback stays the instant incident tool).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createStaging, memberToken, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
let deployer: string;
let viewer: string;

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  await h.call('PUT', `${WS}/variables/site`, { value: 'https://example.com' });
  await commitDrafts(h, { 'config/a': config(1) }); // development#1
  await commitDrafts(h, { 'config/a': config(2), 'config/b': config('{{ vars.site }}') }); // development#2
  for (const release of [1, 2]) {
    expect((await promote(h, 'staging', { release })).status).toBe(201);
    expect((await promote(h, 'production', { release })).status).toBe(201);
  }
  deployer = await memberToken(h, 'deployer@example.com', 'deployer');
  viewer = await memberToken(h, 'viewer@example.com', 'viewer');
});
afterAll(async () => h?.close());

const rollback = (env: string, body: Record<string, unknown>, token?: string) => h.call('POST', `${WS}/environments/${env}/rollbacks`, body, token);
const headOf = async (env: string) => (await h.call('GET', `${WS}/environments/${env}`)).body.release as number;
const auditCount = async () => (await h.call('GET', `${WS}/audit-log?limit=500`)).body.data.length as number;

describe('rollback dry run', () => {
  it('answers the per-resource diff against the current release in the shape of a promotion plan, and writes nothing', async () => {
    const [head, entries] = [await headOf('staging'), await auditCount()];
    const res = await rollback('staging', { release: 1, dryRun: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      dryRun: true,
      kind: 'rollback',
      source: { environment: 'staging', release: 1, name: 'staging#1' },
      target: { environment: 'staging', release: head, protected: false },
      summary: { added: 0, changed: 1, removed: 1 },
      missingReferences: [],
      planHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(res.body.changes.map((c: { kind: string; key: string; status: string }) => `${c.kind}/${c.key}:${c.status}`).sort()).toEqual(['config/a:changed', 'config/b:removed']);
    const promotionPlan = await promote(h, 'staging', { dryRun: true, release: 1 });
    expect(Object.keys(res.body).sort()).toEqual(Object.keys(promotionPlan.body).sort());
    expect(await headOf('staging')).toBe(head);
    expect(await auditCount()).toBe(entries);
  });

  it('refuses the current release and needs the rollback permission', async () => {
    const head = await headOf('staging');
    const current = await rollback('staging', { release: head, dryRun: true });
    expect(current.status).toBe(400);
    expect(current.body.error.details[0].field).toBe('release');
    expect((await rollback('staging', { release: 1, dryRun: true }, viewer)).status).toBe(403);
  });
});

describe('approvals for rollback', () => {
  it('is off by default, shown in GET and changed with PATCH', async () => {
    expect((await h.call('GET', `${WS}/environments/production`)).body.approvalsForRollback).toBe(false);
    const patched = await h.call('PATCH', `${WS}/environments/production`, { protected: true });
    expect(patched.body.approvalsForRollback).toBe(false);
    expect((await h.call('PATCH', `${WS}/environments/production`, { approvalsForRollback: 'yes' })).body.error.details[0].field).toBe('approvalsForRollback');
  });

  it('off: a rollback of a protected environment is instant', async () => {
    const head = await headOf('production');
    const res = await rollback('production', { release: head - 1 });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ cause: 'rollback', rolledBackTo: head - 1, number: head + 1 });
  });

  it('on: a rollback becomes a promotion request, applied as a rollback once another member approves', async () => {
    expect((await h.call('PATCH', `${WS}/environments/production`, { approvalsForRollback: true })).body.approvalsForRollback).toBe(true);
    const head = await headOf('production');
    const res = await rollback('production', { release: 2, message: 'back to the good one' });
    expect(res.status).toBe(202);
    const request = res.body.request;
    expect(request).toMatchObject({ kind: 'rollback', status: 'pending', environment: 'production', source: { environment: 'production', release: 2, name: 'production#2' }, targetRelease: head, approvalsRequired: 1 });
    expect(request.plan).toMatchObject({ kind: 'rollback', summary: { added: 1, changed: 1, removed: 0 } });
    expect(await headOf('production')).toBe(head);

    expect((await h.call('POST', `${WS}/promotion-requests/${request.id}/approve`, {})).status).toBe(403);
    const approved = await h.call('POST', `${WS}/promotion-requests/${request.id}/approve`, { planHash: request.planHash }, deployer);
    expect(approved.status).toBe(200);
    expect(approved.body.release).toMatchObject({ cause: 'rollback', rolledBackTo: 2, number: head + 1, message: 'back to the good one' });
    expect(approved.body.request).toMatchObject({ status: 'applied', release: { number: head + 1 } });
    const [entry] = (await h.call('GET', `${WS}/audit-log?action=release.rollback&limit=1`)).body.data;
    expect(entry.details).toMatchObject({ rolledBackTo: 2, request: request.id, approvers: [expect.stringMatching(/./)] });
    const resources = (await h.call('GET', `${WS}/environments/production/releases/${head + 1}`)).body.resources;
    expect(resources.map((r: { kind: string; key: string }) => `${r.kind}/${r.key}`).sort()).toEqual(['config/a', 'config/b']);
  });

  it('on: the dry run says approvals are needed; a viewer cannot approve; a request is stale once the environment moves', async () => {
    expect((await rollback('production', { release: 1, dryRun: true })).body.approvalsRequired).toBe(1);
    const request = (await rollback('production', { release: 1 })).body.request;
    expect((await h.call('POST', `${WS}/promotion-requests/${request.id}/approve`, {}, viewer)).status).toBe(403);
    // The environment moves: instant rollbacks again, then one made while the request waited.
    await h.call('PATCH', `${WS}/environments/production`, { approvalsForRollback: false });
    expect((await rollback('production', { release: 2 })).status).toBe(201);
    const stale = (await h.call('GET', `${WS}/promotion-requests/${request.id}`)).body;
    expect(stale.status).toBe('stale');
    expect(stale.reason).toContain('roll back again to re-plan');
    expect((await h.call('POST', `${WS}/promotion-requests/${request.id}/approve`, {}, deployer)).body.error.code).toBe('request_not_pending');
  });
});
