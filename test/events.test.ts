// Outbound events against real local receivers, on both databases: promotions, rollbacks and
// kill switches arrive signed in the Standard Webhooks format (checked with the standardwebhooks
// package and by hand); retries keep the webhook-id; filters, rolled-back transactions,
// deleted subscriptions, the egress policy, two nodes, and secrets kept out of every answer.
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ACTOR } from '../src/domain/auth/permissions.js';
import type { CallContext } from '../src/services/context.js';
import { emitEvent } from '../src/services/events.js';
import { findWorkspace } from '../src/store/workspaces.js';
import { allowLoopback, commitDrafts, config, createStaging, eventually, memberToken, promote, startHarness, startUpstream, WS, type Harness, type SeenRequest, type TestUpstream } from './support.js';

const SUBS = `${WS}/event-subscriptions`;

let h: Harness;
const receivers: TestUpstream[] = [];

beforeAll(async () => {
  // Read by createNode: a fast dispatcher, and retries 20 ms then 1.2 s after the first failures.
  process.env.STAGELINE_EVENTS_INTERVAL_MS = '50';
  process.env.STAGELINE_EVENTS_RETRY_BASE_MS = '20';
  process.env.STAGELINE_EVENTS_MAX_ATTEMPTS = '3';
  h = await startHarness({ workflows: { start: false }, jobs: true });
  await createStaging(h);
  await allowLoopback(h, 'staging');
  await commitDrafts(h, { 'config/flags': config({ on: true }) }, 'first');
  expect((await promote(h, 'staging', { message: 'first' })).status).toBe(201);
});

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await h?.close();
});

/** A receiver answering `statusOf(n)` to its n-th request (200 unless told), after `delayMs`. */
async function receiver(statusOf: (n: number) => number = () => 200, delayMs = 0): Promise<TestUpstream> {
  let n = 0;
  const up = await startUpstream((_req, res) => {
    n += 1;
    const status = statusOf(n);
    setTimeout(() => res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `failure number ${n}`), delayMs);
  });
  receivers.push(up);
  return up;
}

async function subscribe(body: Record<string, unknown>) {
  const res = await h.call('POST', SUBS, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; secret: string; url: string };
}

const header = (seen: SeenRequest, name: string) => String(seen.headers[name]);
const bodyOf = (seen: SeenRequest) => JSON.parse(seen.body.toString('utf8'));

async function killSwitch(env: string, active: boolean) {
  const res = await h.call('PUT', `${WS}/environments/${env}/resources/config/flags/active`, { active });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

async function deliveries(id: string) {
  const res = await h.call('GET', `${SUBS}/${id}/deliveries`);
  expect(res.status).toBe(200);
  return res.body.data as any[];
}

describe('event subscriptions', () => {
  it('answer the signing secret once; reads, the audit log and the stored row never show it or the URL path', async () => {
    const up = await receiver();
    const url = `${up.url}/hooks/tok_privatepath?key=querytoken`;
    const created = await subscribe({ url, types: ['release.promoted'], description: 'CI' });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(created.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(created.url).toBe(`${up.url}/…`);

    const one = await h.call('GET', `${SUBS}/${created.id}`);
    const list = await h.call('GET', SUBS);
    const audit = await h.call('GET', `${WS}/audit-log?limit=500`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ id: created.id, url: `${up.url}/…`, types: ['release.promoted'], environments: null, description: 'CI', createdBy: expect.any(String), createdAt: expect.any(String) });
    expect(list.body.data.map((s: any) => s.id)).toContain(created.id);
    const actions = audit.body.data.map((e: any) => e.action);
    expect(actions).toContain('event_subscription.create');
    const row = await h.store.db.selectFrom('event_subscriptions').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
    for (const text of [JSON.stringify(one.body), JSON.stringify(list.body), JSON.stringify(audit.body), JSON.stringify(row)]) {
      expect(text).not.toContain(created.secret.slice(6));
      expect(text).not.toContain('tok_privatepath');
      expect(text).not.toContain('querytoken');
    }
    expect((await h.call('DELETE', `${SUBS}/${created.id}`)).status).toBe(204);
    expect((await h.call('GET', `${SUBS}/${created.id}`)).status).toBe(404);
  });

  it.each([
    [{ url: 'ftp://example.com/x', types: ['*'] }, 'url'],
    [{ url: 'not a url', types: ['*'] }, 'url'],
    [{ url: 'https://example.com', types: ['release.promote'] }, 'types.0'],
    [{ url: 'https://example.com', types: ['*', '__proto__'] }, 'types.1'],
    [{ url: 'https://example.com', types: [] }, 'types'],
    [{ url: 'https://example.com', types: ['*'], environments: ['staging', 'constructor'] }, 'environments.1'],
    [{ types: ['*'] }, 'url'],
  ])('refuse %j naming %s', async (body, field) => {
    const res = await h.call('POST', SUBS, body);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  });

  it('are in the OpenAPI document with operation ids, summaries and response schemas', async () => {
    const doc = (await h.call('GET', '/api/openapi.json')).body;
    const operations = [
      doc.paths['/api/workspaces/{ws}/event-subscriptions'].get,
      doc.paths['/api/workspaces/{ws}/event-subscriptions'].post,
      doc.paths['/api/workspaces/{ws}/event-subscriptions/{id}'].get,
      doc.paths['/api/workspaces/{ws}/event-subscriptions/{id}'].delete,
      doc.paths['/api/workspaces/{ws}/event-subscriptions/{id}/deliveries'].get,
    ];
    expect(operations.map((o) => o.operationId)).toEqual(['listEventSubscriptions', 'createEventSubscription', 'getEventSubscription', 'deleteEventSubscription', 'listEventDeliveries']);
    for (const o of operations) {
      expect(o.summary).toEqual(expect.any(String));
      expect(Object.keys(o.responses).some((code) => code.startsWith('2'))).toBe(true);
    }
  });

  it('are managed by workspace managers only', async () => {
    const developer = await memberToken(h, 'dev-events@example.com', 'developer');
    expect((await h.call('GET', SUBS, undefined, developer)).status).toBe(403);
    expect((await h.call('POST', SUBS, { url: 'https://example.com', types: ['*'] }, developer)).status).toBe(403);
  });
});

describe('event delivery', () => {
  it('sends promotion, rollback and kill-switch events with valid Standard Webhooks signatures', async () => {
    const up = await receiver();
    const sub = await subscribe({ url: `${up.url}/hook`, types: ['*'], environments: ['staging'] });
    await commitDrafts(h, { 'config/flags': config({ on: false }) }, 'second');
    expect((await promote(h, 'staging', { message: 'second' })).status).toBe(201);
    const rolled = await h.call('POST', `${WS}/environments/staging/rollbacks`, { release: 1, message: 'back' });
    expect(rolled.status, JSON.stringify(rolled.body)).toBe(201);
    await killSwitch('staging', false);
    await killSwitch('staging', true);
    await eventually(() => expect(up.requests).toHaveLength(4));

    const wh = new Webhook(sub.secret);
    const key = Buffer.from(sub.secret.slice('whsec_'.length), 'base64');
    for (const seen of up.requests) {
      const [id, timestamp, signature] = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((n) => header(seen, n)) as [string, string, string];
      const raw = seen.body.toString('utf8');
      expect(() => wh.verify(raw, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature })).not.toThrow();
      expect(signature).toBe(`v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${raw}`).digest('base64')}`);
      // Another body under the same headers does not verify.
      expect(() => wh.verify(raw.replace('staging', 'stagin'), { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature })).toThrow();
      expect(id).toMatch(/^evt_/);
      expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
    }
    const bodies = up.requests.map(bodyOf);
    const byType = (type: string) => bodies.filter((b) => b.type === type);
    expect(bodies.map((b) => b.type).sort()).toEqual(['release.promoted', 'release.rolled_back', 'resource.killswitch', 'resource.killswitch']);
    expect(byType('release.promoted')[0].data).toMatchObject({ environment: 'staging', release: 2, from: 1, source: 'development#2', cause: 'promotion', changed: 1 });
    expect(byType('release.rolled_back')[0].data).toMatchObject({ environment: 'staging', release: 3, rolledBackTo: 1, from: 2 });
    expect(byType('resource.killswitch').map((b) => b.data.active).sort()).toEqual([false, true]);
    expect(byType('resource.killswitch')[0].data).toMatchObject({ environment: 'staging', resource: 'config/flags', actor: { kind: 'user' } });
    for (const b of bodies) expect(new Date(b.timestamp).toISOString()).toBe(b.timestamp);

    // The receiver has answered; the log is written once its answer is read.
    await eventually(async () => expect((await deliveries(sub.id)).filter((d) => d.status === 'delivered')).toHaveLength(4));
    const log = await deliveries(sub.id);
    expect(log).toHaveLength(4);
    // Pages of the log, newest first, join up to the whole log.
    const first = await h.call('GET', `${SUBS}/${sub.id}/deliveries?limit=3`);
    const second = await h.call('GET', `${SUBS}/${sub.id}/deliveries?limit=3&cursor=${first.body.next}`);
    expect([...first.body.data, ...second.body.data].map((d: any) => d.id)).toEqual(log.map((d) => d.id));
    expect(second.body.next).toBe(null);
    expect((await h.call('GET', `${SUBS}/${sub.id}/deliveries?cursor=nonsense`)).status).toBe(400);
    expect(log.every((d) => d.status === 'delivered' && d.attempts === 1 && d.lastStatus === 200 && d.deliveredAt !== null && d.nextAttemptAt === null)).toBe(true);
    expect(new Set(log.map((d) => d.eventId))).toEqual(new Set(up.requests.map((r) => header(r, 'webhook-id'))));
    await h.call('DELETE', `${SUBS}/${sub.id}`);
  });

  it('retries a failing receiver with the same webhook-id, and logs every attempt; other types are not sent', async () => {
    const up = await receiver((n) => (n <= 2 ? 500 : 200));
    const sub = await subscribe({ url: up.url, types: ['resource.killswitch'] });
    await commitDrafts(h, { 'config/flags': config({ on: 'third' }) }, 'third');
    expect((await promote(h, 'staging', { message: 'third' })).status).toBe(201);
    await killSwitch('staging', false);
    await eventually(async () => expect((await deliveries(sub.id))[0]?.status).toBe('delivered'), 10_000);

    expect(up.requests).toHaveLength(3);
    expect(new Set(up.requests.map((r) => header(r, 'webhook-id'))).size).toBe(1);
    expect(new Set(up.requests.map((r) => r.body.toString('utf8'))).size).toBe(1);
    expect(up.requests.map((r) => bodyOf(r).type)).toEqual(['resource.killswitch', 'resource.killswitch', 'resource.killswitch']);
    const log = await deliveries(sub.id);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ type: 'resource.killswitch', status: 'delivered', attempts: 3, lastStatus: 200, lastError: null, eventId: header(up.requests[0]!, 'webhook-id') });
    await killSwitch('staging', true);
    await h.call('DELETE', `${SUBS}/${sub.id}`);
  });

  it('gives up after the maximum of attempts, logging the last status, error and answer', async () => {
    const up = await receiver(() => 503);
    const sub = await subscribe({ url: up.url, types: ['resource.killswitch'], environments: ['staging'] });
    await killSwitch('staging', false);
    await eventually(async () => expect((await deliveries(sub.id))[0]?.status).toBe('failed'), 10_000);
    const [entry] = await deliveries(sub.id);
    expect(entry).toMatchObject({ attempts: 3, lastStatus: 503, nextAttemptAt: null, deliveredAt: null, lastResponse: 'failure number 3' });
    expect(entry.lastError).toContain('503');
    expect(up.requests).toHaveLength(3);
    await killSwitch('staging', true);
    await h.call('DELETE', `${SUBS}/${sub.id}`);
  });

  it('never sends an event whose transaction rolled back', async () => {
    const up = await receiver();
    await subscribe({ url: up.url, types: ['gate.changed'] });
    const workspace = (await findWorkspace(h.store.db, 'default'))!;
    const ctx: CallContext = { workspace: { id: workspace.id, slug: workspace.slug, name: workspace.name }, actor: SYSTEM_ACTOR, requestId: null };
    await expect(
      h.store.transaction(async (tx) => {
        await emitEvent(h.deps, tx, ctx, { type: 'gate.changed', environment: 'staging', data: { attempt: 'rolled back' } });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    await h.store.transaction((tx) => emitEvent(h.deps, tx, ctx, { type: 'gate.changed', environment: 'staging', data: { attempt: 'committed' } }));
    await eventually(() => expect(up.requests).toHaveLength(1));
    // The committed event was made after the other and is sent oldest first: had the other existed, it would have gone first.
    expect(bodyOf(up.requests[0]!).data.attempt).toBe('committed');
    const stored = await h.store.db.selectFrom('events').select('data').where('type', '=', 'gate.changed').execute();
    expect(stored.map((e) => JSON.parse(e.data).attempt)).toEqual(['committed']);
  });

  it('stops delivering to a deleted subscription', async () => {
    const failing = await receiver(() => 500);
    const control = await receiver();
    const gone = await subscribe({ url: failing.url, types: ['resource.killswitch'] });
    await killSwitch('staging', false);
    await eventually(() => expect(failing.requests).toHaveLength(1));
    expect((await h.call('DELETE', `${SUBS}/${gone.id}`)).status).toBe(204);
    expect((await h.call('GET', `${SUBS}/${gone.id}/deliveries`)).status).toBe(404);
    const rows = await h.store.db.selectFrom('event_deliveries').select('id').where('subscription_id', '=', gone.id).execute();
    expect(rows).toHaveLength(0);
    // The deleted delivery's retry was due 20 ms after its first attempt; the control event
    // below is due later, and deliveries go out oldest first.
    await new Promise((r) => setTimeout(r, 60));
    const kept = await subscribe({ url: control.url, types: ['resource.killswitch'] });
    await killSwitch('staging', true);
    await eventually(() => expect(control.requests).toHaveLength(1));
    expect(failing.requests).toHaveLength(1);
    await h.call('DELETE', `${SUBS}/${kept.id}`);
  });

  it('records a receiver the egress policy refuses as failed, without sending or retrying', async () => {
    const up = await receiver();
    const sub = await subscribe({ url: up.url, types: ['resource.killswitch'], environments: ['production'] });
    expect((await promote(h, 'production', { message: 'to production' })).status).toBe(201);
    // Not production: filtered out by the subscription's environments.
    await killSwitch('staging', false);
    await killSwitch('staging', true);
    // Production refuses loopback addresses unless its egress setting allows them.
    await killSwitch('production', false);
    await eventually(async () => expect((await deliveries(sub.id))[0]?.status).toBe('failed'));
    const log = await deliveries(sub.id);
    expect(log).toHaveLength(1);
    const [entry] = log;
    expect(entry).toMatchObject({ attempts: 1, lastStatus: null, nextAttemptAt: null });
    expect(entry.lastError).toMatch(/egress|refus|not allowed|denied/i);
    expect(up.requests).toHaveLength(0);
    await h.call('DELETE', `${SUBS}/${sub.id}`);
  });

  it('is sent once per event when two nodes share the database', async () => {
    const second = await startHarness({ database: h.database, workflows: { start: false } });
    try {
      // A slow receiver keeps each attempt in flight across several rounds of both nodes.
      const up = await receiver(() => 200, 250);
      const sub = await subscribe({ url: up.url, types: ['resource.killswitch'], environments: ['staging'] });
      for (let i = 0; i < 6; i++) await killSwitch('staging', i % 2 === 1);
      await Promise.all([h.runtime.events.dispatch(), second.runtime.events.dispatch()]);
      await eventually(async () => expect((await deliveries(sub.id)).filter((d) => d.status === 'delivered')).toHaveLength(6), 10_000);
      expect(up.requests).toHaveLength(6);
      expect(new Set(up.requests.map((r) => header(r, 'webhook-id'))).size).toBe(6);
      await h.call('DELETE', `${SUBS}/${sub.id}`);
    } finally {
      await second.close();
    }
  });
});
