// The whole loop of issue 11 through a real `startServer` node, its gateway and real local
// receivers: gateway traffic becomes per-environment metrics; a watched promotion whose upstream
// starts failing rolls production back by itself, holds it, fires its alert once (Slack-style
// receiver), sends signed events, writes the audit log; clearing the hold lets promotions in again.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server.js';
import { eventually, gatewayCall, startTestServer, startUpstream, TEST_DB, WS, type TestServer, type TestUpstream } from './support.js';

const TOKEN = 'observability-bootstrap-token-0123456789';

interface Receiver {
  url: string;
  received: { headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

async function receiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let node: TestServer;
let running: RunningServer;
let good: TestUpstream;
let bad: TestUpstream;
let slack: Receiver;
let hooks: Receiver;
let signingSecret: string;

const api = (method: string, path: string, body?: unknown) => node.api(method, path, body);

async function ok(method: string, path: string, body?: unknown, status = [200, 201]) {
  const res = await api(method, path, body);
  if (!status.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** `n` gateway requests to production (the default environment); answers their statuses. */
async function traffic(n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await gatewayCall(running.gatewayUrl!, { path: '/orders/1' })).status);
  return statuses;
}

beforeAll(async () => {
  good = await startUpstream((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('good'));
  bad = await startUpstream((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('bad'));
  slack = await receiver();
  hooks = await receiver();
  node = await startTestServer(
    {
      STAGELINE_GATEWAY_WORKERS: '0',
      STAGELINE_METRICS_FLUSH_MS: '200',
      STAGELINE_ALERT_INTERVAL_MS: '200',
      STAGELINE_WATCH_INTERVAL_MS: '200',
      STAGELINE_GATES_INTERVAL_MS: '200',
      STAGELINE_EVENTS_INTERVAL_MS: '100',
    },
    TOKEN,
  );
  running = node.server;
  // development → staging → production, production may call loopback upstreams and receivers.
  await ok('POST', `${WS}/environments`, { slug: 'staging', name: 'Staging' });
  for (const env of ['staging', 'production']) await ok('PUT', `${WS}/environments/${env}/settings/egress`, { value: { allow: ['127.0.0.1/32'] } });
  signingSecret = (await ok('POST', `${WS}/event-subscriptions`, { url: hooks.url, types: ['*'] })).secret;
  expect(signingSecret).toMatch(/^whsec_/);
});

afterAll(async () => {
  await node?.close();
  for (const closer of [good, bad, slack, hooks]) await closer?.close();
});

async function release(upstream: string, message: string, watch?: Record<string, unknown>) {
  await ok('PUT', `${WS}/environments/development/resources/route/orders`, { content: { match: { pathPrefix: '/orders' }, upstream: { url: upstream } } });
  await ok('POST', `${WS}/environments/development/commits`, { message });
  await ok('POST', `${WS}/environments/staging/promotions`, { message });
  return ok('POST', `${WS}/environments/production/promotions`, { message, ...(watch ? { watch } : {}) });
}

describe(`metrics, alerts, watches, holds and events on ${TEST_DB}`, () => {
  it('rolls a watched promotion back by itself when its upstream fails, holds production, alerts once and tells subscribers', async () => {
    const first = await release(good.url, 'orders v1');
    expect(first.number).toBeGreaterThan(0);
    expect(await traffic(30)).toEqual(Array(30).fill(200));

    // An alert on production's error rate, quiet under 10 requests. Its threshold is low: the
    // watch may roll back while the failing traffic is still being sent (a route table update
    // lands within milliseconds), so how many requests fail is not fixed, only that some do.
    await ok('POST', `${WS}/alert-rules`, {
      environment: 'production',
      name: 'orders errors',
      metric: 'error_rate',
      comparison: '>',
      threshold: 0.01,
      windowMinutes: 1,
      minRequests: 10,
      channels: [{ type: 'slack', url: slack.url }],
    });

    // v2 points at the failing upstream and is watched for 5 minutes.
    const second = await release(bad.url, 'orders v2', { minutes: 5, maxErrorRate: 0.1 });
    expect(second.number).toBe(first.number + 1);
    expect((await api('GET', `${WS}/environments/production/watch`)).body).toMatchObject({ status: 'running', release: second.number });
    const failing = await traffic(30);
    expect(failing.filter((s) => s === 500).length).toBeGreaterThan(0);

    // The watcher sees the breach: production rolls back to v1's content and goes on hold.
    await eventually(async () => {
      const watch = (await api('GET', `${WS}/environments/production/watch`)).body;
      expect(watch.status).toBe('breached');
    }, 15_000);
    const health = (await api('GET', `${WS}/environments/production/health`)).body;
    expect(health.hold).toMatchObject({ release: second.number });
    expect(health.release.number).toBe(second.number + 1);
    expect(await traffic(5)).toEqual(Array(5).fill(200));

    // The environment's receiver heard of the automatic rollback, and the rule fired once (its
    // evaluation runs on its own timer: on a loaded machine it may come a little later).
    await eventually(() => {
      const texts = slack.received.map((r) => JSON.parse(r.body).text as string);
      expect(texts.filter((t) => t.startsWith('[ROLLED BACK]'))).toHaveLength(1);
    }, 15_000);
    await eventually(() => {
      const texts = slack.received.map((r) => JSON.parse(r.body).text as string);
      expect(texts.filter((t) => t.startsWith('[FIRING] orders errors'))).toHaveLength(1);
    }, 45_000);
    const alerts = (await api('GET', `${WS}/alerts?environment=production`)).body.data;
    expect(alerts.filter((a: any) => a.state === 'firing')).toHaveLength(1);

    // While held, nothing is promoted into production; clearing the hold lets it in again.
    const held = await api('POST', `${WS}/environments/production/promotions`, { message: 'again' });
    expect(held.status).toBe(409);
    expect(held.body.error.code).toBe('environment_on_hold');
    expect((await api('DELETE', `${WS}/environments/production/hold`)).status).toBe(204);
    expect((await api('GET', `${WS}/environments/production/health`)).body.hold).toBeNull();

    // The audit log has the automatic rollback.
    const audit = (await api('GET', `${WS}/audit-log?environment=production`)).body.data;
    expect(audit.some((e: any) => e.action === 'release.rollback')).toBe(true);

    // Subscribers got the promotion, the breach and the rollback, each signed (Standard Webhooks).
    await eventually(() => {
      const types = hooks.received.map((r) => JSON.parse(r.body).type);
      expect(types).toEqual(expect.arrayContaining(['release.promoted', 'watch.breached', 'release.rolled_back', 'environment.hold_set']));
    }, 15_000);
    for (const delivery of hooks.received) {
      const id = String(delivery.headers['webhook-id']);
      const timestamp = String(delivery.headers['webhook-timestamp']);
      expect(id).toMatch(/^evt_/);
      expect(timestamp).toMatch(/^\d+$/);
      expect(String(delivery.headers['webhook-signature']).split(' ')).toContain(standardSignature(signingSecret, id, timestamp, delivery.body));
    }

    // Analytics: production's requests counted, side by side with staging's (none), with markers.
    await eventually(async () => {
      const from = new Date(Date.now() - 10 * 60_000).toISOString();
      const to = new Date(Date.now() + 60_000).toISOString();
      const analytics = (await api('GET', `${WS}/analytics?envs=staging,production&from=${from}&to=${to}`)).body;
      const production = analytics.data.find((d: any) => d.environment === 'production');
      expect(production.requests).toBe(65);
      expect(analytics.data.find((d: any) => d.environment === 'staging').requests).toBe(0);
      expect(analytics.markers.map((m: any) => m.kind)).toEqual(expect.arrayContaining(['promotion', 'rollback']));
    }, 10_000);
  }, 150_000);
});

/** Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body"> with the secret after whsec_. */
function standardSignature(secret: string, id: string, timestamp: string, body: string): string {
  return `v1,${createHmac('sha256', Buffer.from(secret.replace(/^whsec_/, ''), 'base64')).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}
