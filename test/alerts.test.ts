// Alerts end to end with real receivers: a local HTTP server standing in for Slack, PagerDuty and
// a webhook endpoint, and a local SMTP server. Figures come from an in-test MetricsReader whose
// numbers each test sets; evaluation runs on demand (`run()`), except where the timer is tested.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlertEvaluator } from '../src/metrics/alerts.js';
import type { Figures, FiguresQuery, MetricsReader } from '../src/metrics/contract.js';
import { verifyWebhookSignature } from '../src/runtime/channels/index.js';
import { createStaging, eventually, memberToken, startHarness, WS, type Harness } from './support.js';

const SLACK_TOKEN = 'T0000/B0000/slack-token-xxxxxxxxxxxx';
const PD_KEY = 'pd-routing-key-0123456789abcdef';
const HOOK_SECRET = 'hook-secret-0123456789abcdef';
/** Retries at test speed: up to 8 attempts, 1–4 ms apart. */
const FAST_RETRY = { maxAttempts: 8, baseDelayMs: 1, maxDelayMs: 4 };

const ZERO: Figures = {
  requests: 0,
  status2xx: 0,
  status3xx: 0,
  status4xx: 0,
  status5xx: 0,
  errors: 0,
  upstreamErrors: 0,
  errorRate: 0,
  successRate: 0,
  upstreamErrorRate: 0,
  p50Ms: null,
  p95Ms: null,
  p99Ms: null,
};

/** Figures the test sets per environment id and family; every query is recorded. */
class TestMetrics implements MetricsReader {
  readonly figuresOf = new Map<string, Partial<Figures>>();
  readonly queries: FiguresQuery[] = [];
  /** How long a read takes: long enough that two evaluators racing both read before either writes. */
  delayMs = 0;
  async figures(query: FiguresQuery): Promise<Figures> {
    this.queries.push(query);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return { ...ZERO, ...this.figuresOf.get(`${query.environmentId}/${query.family}`) };
  }
  async flush() {}
}

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: any;
}

let h: Harness;
let evaluator: AlertEvaluator;
const metrics = new TestMetrics();
const received: Received[] = [];
/** Answers 500 to this many requests of a path before answering 200. */
const failures = new Map<string, number>();
let receiver: Server;
let base: string;
let smtp: SMTPServer;
const mails: { to: string[]; raw: string }[] = [];
const envIds = new Map<string, string>();

const at = (path: string) => received.filter((r) => r.path === path);

function setFigures(env: string, figures: Partial<Figures>, family = 'gateway') {
  metrics.figuresOf.set(`${envIds.get(env)}/${family}`, figures);
}

async function runs(n: number, e = evaluator) {
  for (let i = 0; i < n; i++) await e.run();
}

async function createRule(body: Record<string, unknown>) {
  const res = await h.call('POST', `${WS}/alert-rules`, { metric: 'error_rate', comparison: '>', threshold: 0.1, windowMinutes: 5, minRequests: 10, channels: [], ...body });
  if (res.status !== 201) throw new Error(`rule: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const alerts = async (query = '') => (await h.call('GET', `${WS}/alerts${query}`)).body;

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  const envs = (await h.call('GET', `${WS}/environments`)).body.data as { id: string; slug: string }[];
  for (const env of envs) envIds.set(env.slug, env.id);
  // Receivers listen on loopback, which staging reaches only when its egress policy allows it.
  expect((await h.call('PUT', `${WS}/environments/staging/settings/egress`, { value: { allow: ['127.0.0.1'] } })).status).toBe(200);
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '';
      received.push({ path, headers: req.headers, raw, body: JSON.parse(raw) });
      const failing = failures.get(path) ?? 0;
      if (failing > 0) failures.set(path, failing - 1);
      res.writeHead(failing > 0 ? 500 : 202, { 'content-type': 'application/json' }).end('{"status":"success"}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  smtp = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  const email = { host: '127.0.0.1', port: smtpPort, secure: false, from: 'Stageline <alerts@example.com>', timeoutMs: 5000 };
  expect((await h.call('PUT', `${WS}/environments/staging/settings/channel.email`, { value: email })).status).toBe(200);
  // The node's own evaluator runs every 30 s; these tests drive one of their own.
  await h.runtime.alerts.close();
  h.deps.metrics = metrics;
  evaluator = new AlertEvaluator(h.deps, h.runtime.channels, { intervalMs: 0, retry: FAST_RETRY });
});

afterAll(async () => {
  await evaluator?.close();
  await h?.close();
  await new Promise<void>((resolve) => receiver?.close(() => resolve()));
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
});

beforeEach(() => {
  metrics.figuresOf.clear();
  metrics.delayMs = 0;
});
afterEach(async () => {
  for (const rule of (await h.call('GET', `${WS}/alert-rules`)).body.data) await h.call('DELETE', `${WS}/alert-rules/${rule.id}`);
});

describe('evaluation and notifications', () => {
  it('an alert fires once and resolves once on every receiver', async () => {
    const rule = await createRule({
      environment: 'staging',
      name: 'errors',
      channels: [
        { type: 'slack', url: `${base}/slack/${SLACK_TOKEN}` },
        { type: 'pagerduty', routingKey: PD_KEY, url: `${base}/pagerduty` },
        { type: 'email', to: 'oncall@example.com' },
        { type: 'webhook', url: `${base}/hook`, secret: HOOK_SECRET },
      ],
    });
    setFigures('staging', { requests: 100, errors: 30, errorRate: 0.3 });
    await runs(3);
    const slack = `/slack/${SLACK_TOKEN}`;
    expect(at(slack)).toHaveLength(1);
    expect(at(slack)[0]!.body.text).toContain('[FIRING] errors in default/staging');
    expect(at(slack)[0]!.body.text).toContain('30.00%');
    expect(at('/pagerduty')).toHaveLength(1);
    const trigger = at('/pagerduty')[0]!.body;
    expect(trigger).toMatchObject({ routing_key: PD_KEY, event_action: 'trigger', payload: { severity: 'critical', source: 'stageline/default/staging', custom_details: { value: 0.3, threshold: 0.1 } } });
    expect(mails).toHaveLength(1);
    expect(mails[0]!.to).toEqual(['oncall@example.com']);
    expect(mails[0]!.raw).toContain('[FIRING] errors');
    expect(at('/hook')).toHaveLength(1);
    const hook = at('/hook')[0]!;
    expect(verifyWebhookSignature(HOOK_SECRET, hook.headers['x-stageline-timestamp'] as string, hook.raw, hook.headers['x-stageline-signature'] as string)).toBe(true);
    expect(verifyWebhookSignature('another-secret-0123456789', hook.headers['x-stageline-timestamp'] as string, hook.raw, hook.headers['x-stageline-signature'] as string)).toBe(false);
    expect(hook.body).toMatchObject({ type: 'alert.firing', data: { rule: 'errors', environment: 'staging', value: 0.3 } });

    expect((await h.call('GET', `${WS}/alert-rules/${rule.id}`)).body).toMatchObject({ state: 'firing' });
    const states = await h.deps.alerts!.firing(await workspaceId(), envIds.get('staging')!);
    expect(states.now).toEqual([{ rule: 'errors', since: expect.any(String) }]);
    expect(states.firedSince).toBe(true);

    setFigures('staging', { requests: 100, errors: 0, errorRate: 0 });
    await runs(3);
    expect(at(slack)).toHaveLength(2);
    expect(at(slack)[1]!.body.text).toContain('[RESOLVED] errors');
    expect(at('/pagerduty')).toHaveLength(2);
    const resolve = at('/pagerduty')[1]!.body;
    expect(resolve).toEqual({ routing_key: PD_KEY, dedup_key: trigger.dedup_key, event_action: 'resolve' });
    expect(trigger.dedup_key).toBe(`stageline-${rule.id}`);
    expect(mails).toHaveLength(2);
    expect(at('/hook')).toHaveLength(2);
    expect(at('/hook')[1]!.body.type).toBe('alert.resolved');

    const history = await alerts('?environment=staging');
    expect(history.data.map((a: any) => [a.rule, a.state, a.value])).toEqual([
      ['errors', 'resolved', 0],
      ['errors', 'firing', 0.3],
    ]);
    for (const alert of history.data) {
      expect(alert.notifications.map((n: any) => [n.type, n.status, n.attempts])).toEqual([
        ['slack', 'delivered', 1],
        ['pagerduty', 'delivered', 1],
        ['email', 'delivered', 1],
        ['webhook', 'delivered', 1],
      ]);
    }
    expect(history.data[0].notifications[0].lastStatus).toBe(202);
    const after = await h.deps.alerts!.firing(await workspaceId(), envIds.get('staging')!, new Date(history.data[1].at));
    expect(after).toEqual({ now: [], firedSince: true });
    const later = await h.deps.alerts!.firing(await workspaceId(), envIds.get('staging')!, new Date(Date.now() + 1000));
    expect(later).toEqual({ now: [], firedSince: false });

    // One page at a time, newest first.
    const first = await alerts('?environment=staging&limit=1');
    expect(first.data.map((a: any) => a.state)).toEqual(['resolved']);
    const second = await alerts(`?environment=staging&limit=1&cursor=${first.next}`);
    expect(second.data.map((a: any) => a.state)).toEqual(['firing']);
    expect(second.next).toBeNull();
    expect((await alerts(`?rule=errors&state=firing`)).data).toHaveLength(1);
  });

  it('fewer events than minRequests keep an idle environment quiet', async () => {
    const rule = await createRule({ environment: 'staging', name: 'idle', minRequests: 10, channels: [{ type: 'slack', url: `${base}/slack/idle` }] });
    setFigures('staging', { requests: 9, errors: 9, errorRate: 1 });
    await runs(3);
    expect(metrics.queries.filter((q) => q.environmentId === envIds.get('staging')).length).toBeGreaterThanOrEqual(3);
    expect((await h.call('GET', `${WS}/alert-rules/${rule.id}`)).body.state).toBe('ok');
    // The tenth request makes the same error rate count.
    setFigures('staging', { requests: 10, errors: 10, errorRate: 1 });
    await runs(1);
    expect(at('/slack/idle')).toHaveLength(1);
    expect((await alerts(`?rule=${rule.id}`)).data.map((a: any) => a.state)).toEqual(['firing']);
  });

  it('reads each metric from its family over the rule window', async () => {
    await createRule({ environment: 'staging', name: 'runs', metric: 'workflow_failure_rate', threshold: 0.5, windowMinutes: 15, minRequests: 2, channels: [{ type: 'slack', url: `${base}/slack/runs` }] });
    await createRule({ environment: 'staging', name: 'traffic', metric: 'request_rate', comparison: '<', threshold: 1, windowMinutes: 10, minRequests: 0, channels: [{ type: 'slack', url: `${base}/slack/traffic` }] });
    await createRule({ environment: 'staging', name: 'slow', metric: 'p95_latency_ms', threshold: 500, minRequests: 1, channels: [{ type: 'slack', url: `${base}/slack/slow` }] });
    setFigures('staging', { requests: 4, errors: 3, errorRate: 0.75 }, 'workflow');
    // 5 requests over 10 minutes: 0.5 a minute; p95 of 800 ms.
    setFigures('staging', { requests: 5, p95Ms: 800 });
    metrics.queries.length = 0;
    await runs(1);
    expect(at('/slack/runs')).toHaveLength(1);
    expect(at('/slack/traffic')).toHaveLength(1);
    expect(at('/slack/traffic')[0]!.body.text).toContain('0.5/min');
    expect(at('/slack/slow')).toHaveLength(1);
    const windows = metrics.queries.map((q) => [q.family, Math.round((q.to.getTime() - q.from.getTime()) / 60_000)]).sort();
    expect(windows).toEqual([
      ['gateway', 10],
      ['gateway', 5],
      ['workflow', 15],
    ]);
  });

  it('a receiver failing twice gets the notification on the third attempt', async () => {
    failures.set('/slack/flaky', 2);
    await createRule({ environment: 'staging', name: 'flaky', channels: [{ type: 'slack', url: `${base}/slack/flaky` }] });
    setFigures('staging', { requests: 50, errorRate: 0.5 });
    await eventually(async () => {
      await evaluator.run();
      const [alert] = (await alerts('?rule=flaky')).data;
      expect(alert.notifications[0]).toMatchObject({ status: 'delivered', attempts: 3 });
    });
    expect(at('/slack/flaky').map((r) => r.body.text)).toHaveLength(3);
    await runs(3);
    expect(at('/slack/flaky')).toHaveLength(3);
  });

  it('a receiver that keeps failing is given up after the last attempt, with its status recorded', async () => {
    failures.set('/slack/down', 100);
    await createRule({ environment: 'staging', name: 'down', channels: [{ type: 'slack', url: `${base}/slack/down` }] });
    setFigures('staging', { requests: 50, errorRate: 0.5 });
    await eventually(async () => {
      await evaluator.run();
      const [alert] = (await alerts('?rule=down')).data;
      expect(alert.notifications[0]).toMatchObject({ status: 'failed', attempts: 8, lastStatus: 500 });
    });
    const [alert] = (await alerts('?rule=down')).data;
    expect(alert.notifications[0].error).toMatch(/^receiver_error: .*answered 500/);
    expect(alert.notifications[0].error).not.toContain('/slack/down');
    expect(at('/slack/down')).toHaveLength(8);
  });

  it('a silence suppresses notifications, not transitions; its end re-sends nothing still firing', async () => {
    const rule = await createRule({ environment: 'staging', name: 'quiet', channels: [{ type: 'slack', url: `${base}/slack/quiet` }] });
    const endsAt = new Date(Date.now() + 3600_000).toISOString();
    const silence = await h.call('POST', `${WS}/alert-silences`, { environment: 'staging', rule: 'quiet', endsAt, reason: 'maintenance' });
    expect(silence.status).toBe(201);
    expect(silence.body).toMatchObject({ ruleId: rule.id, rule: 'quiet', active: true, reason: 'maintenance' });
    setFigures('staging', { requests: 50, errorRate: 0.5 });
    await runs(2);
    const [fired] = (await alerts('?rule=quiet')).data;
    expect(fired).toMatchObject({ state: 'firing', silenced: true, notifications: [{ type: 'slack', status: 'suppressed', attempts: 0 }] });
    expect((await h.deps.alerts!.firing(await workspaceId(), envIds.get('staging')!)).now.map((f) => f.rule)).toEqual(['quiet']);
    expect((await h.call('DELETE', `${WS}/alert-silences/${silence.body.id}`)).status).toBe(204);
    expect((await h.call('GET', `${WS}/alert-silences?environment=staging`)).body.data).toEqual([]);
    await runs(2);
    expect(at('/slack/quiet')).toHaveLength(0);
    setFigures('staging', { requests: 50, errorRate: 0 });
    await runs(1);
    expect(at('/slack/quiet').map((r) => r.body.text.slice(0, 10))).toEqual(['[RESOLVED]']);
  });

  it('a silence of the whole environment covers every rule in it, and only there', async () => {
    await createRule({ environment: 'staging', name: 'a', channels: [{ type: 'slack', url: `${base}/slack/env-a` }] });
    await createRule({ environment: 'development', name: 'b', channels: [{ type: 'slack', url: `${base}/slack/env-b` }] });
    const silence = await h.call('POST', `${WS}/alert-silences`, { environment: 'staging', endsAt: new Date(Date.now() + 60_000).toISOString(), reason: 'load test' });
    expect(silence.status).toBe(201);
    setFigures('staging', { requests: 50, errorRate: 0.5 });
    setFigures('development', { requests: 50, errorRate: 0.5 });
    await runs(1);
    expect(at('/slack/env-a')).toHaveLength(0);
    expect(at('/slack/env-b')).toHaveLength(1);
    await h.call('DELETE', `${WS}/alert-silences/${silence.body.id}`);
  });

  it('a receiver production’s egress policy refuses is recorded as failed, not retried', async () => {
    await createRule({ environment: 'production', name: 'prod', channels: [{ type: 'slack', url: `${base}/slack/prod` }, { type: 'pagerduty', routingKey: PD_KEY, url: `${base}/pd-prod` }] });
    setFigures('production', { requests: 50, errorRate: 0.5 });
    await runs(3);
    const [alert] = (await alerts('?environment=production')).data;
    expect(alert.notifications).toHaveLength(2);
    for (const n of alert.notifications) {
      expect(n).toMatchObject({ status: 'failed', attempts: 1, lastStatus: null, nextAttemptAt: null });
      expect(n.error).toMatch(/^egress_denied: /);
    }
    expect(at('/slack/prod')).toHaveLength(0);
    expect(at('/pd-prod')).toHaveLength(0);
  });

  it('two nodes evaluating one database send each notification once', async () => {
    await evaluator.close();
    const other = await startHarness({ database: h.database });
    other.deps.metrics = metrics;
    await other.runtime.alerts.close();
    const a = new AlertEvaluator(h.deps, h.runtime.channels, { intervalMs: 0, retry: FAST_RETRY });
    const b = new AlertEvaluator(other.deps, other.runtime.channels, { intervalMs: 0, retry: FAST_RETRY });
    try {
      await createRule({ environment: 'staging', name: 'shared', channels: [{ type: 'slack', url: `${base}/slack/shared` }, { type: 'webhook', url: `${base}/hook/shared`, secret: HOOK_SECRET }] });
      setFigures('staging', { requests: 50, errorRate: 0.5 });
      metrics.delayMs = 50;
      for (let i = 0; i < 5; i++) await Promise.all([a.run(), b.run()]);
      setFigures('staging', { requests: 50, errorRate: 0 });
      for (let i = 0; i < 5; i++) await Promise.all([a.run(), b.run()]);
      expect(at('/slack/shared').map((r) => r.body.text.slice(0, 10))).toEqual(['[FIRING] s', '[RESOLVED]']);
      expect(at('/hook/shared')).toHaveLength(2);
      expect((await alerts('?rule=shared')).data.map((x: any) => x.state)).toEqual(['resolved', 'firing']);
      // The lease holder leaving lets the other node take over.
      await a.close();
      setFigures('staging', { requests: 50, errorRate: 0.5 });
      await b.run();
      expect(at('/slack/shared')).toHaveLength(3);
    } finally {
      await a.close();
      await b.close();
      await other.close();
      evaluator = new AlertEvaluator(h.deps, h.runtime.channels, { intervalMs: 0, retry: FAST_RETRY });
    }
  });

  it('the node evaluates on its interval', async () => {
    await evaluator.close();
    const timed = new AlertEvaluator(h.deps, h.runtime.channels, { intervalMs: 100, retry: FAST_RETRY });
    try {
      await createRule({ environment: 'staging', name: 'timed', channels: [{ type: 'slack', url: `${base}/slack/timed` }] });
      setFigures('staging', { requests: 50, errorRate: 0.5 });
      timed.start();
      await eventually(() => expect(at('/slack/timed')).toHaveLength(1));
      setFigures('staging', { requests: 50, errorRate: 0 });
      await eventually(() => expect(at('/slack/timed')).toHaveLength(2));
    } finally {
      await timed.close();
      evaluator = new AlertEvaluator(h.deps, h.runtime.channels, { intervalMs: 0, retry: FAST_RETRY });
    }
  });
});

async function workspaceId(): Promise<string> {
  const { findWorkspace } = await import('../src/store/workspaces.js');
  return (await findWorkspace(h.store.db, 'default'))!.id;
}

describe('rules', () => {
  const valid = { environment: 'staging', name: 'r', metric: 'error_rate', comparison: '>', threshold: 0.1, windowMinutes: 5, minRequests: 10, channels: [] };

  it.each([
    ['an ftp receiver url', { channels: [{ type: 'slack', url: 'ftp://hooks.example/x' }] }, 'channels.0.url'],
    ['a url that is no url', { channels: [{ type: 'webhook', url: 'not a url', secret: HOOK_SECRET }] }, 'channels.0.url'],
    ['a PagerDuty channel without a routing key', { channels: [{ type: 'pagerduty' }] }, 'channels.0.routingKey'],
    ['a webhook with a short secret', { channels: [{ type: 'webhook', url: `http://x.example/`, secret: 'short' }] }, 'channels.0.secret'],
    ['an unknown channel type', { channels: [{ type: 'sms', to: '+1' }] }, 'channels.0.type'],
    ['an email channel without an address', { channels: [{ type: 'email', to: 'nobody' }] }, 'channels.0.to'],
    ['an unknown metric', { metric: 'cpu' }, 'metric'],
    ['an unknown comparison', { comparison: '==' }, 'comparison'],
    ['an error rate given as a percentage', { threshold: 5 }, 'threshold'],
    ['a window of no minutes', { windowMinutes: 0 }, 'windowMinutes'],
    ['a negative minimum', { minRequests: -1 }, 'minRequests'],
    ['an empty name', { name: '' }, 'name'],
    ['an unknown field', { severity: 'high' }, 'severity'],
  ])('refuses %s naming the field', async (_name, change, field) => {
    const res = await h.call('POST', `${WS}/alert-rules`, { ...valid, ...change });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(JSON.stringify(res.body.error.details)).toContain(field);
  });

  it('an unknown environment is 404, __proto__ included', async () => {
    for (const environment of ['nowhere', '__proto__', 'constructor']) {
      const res = await h.call('POST', `${WS}/alert-rules`, { ...valid, environment });
      expect(res.status).toBe(404);
    }
    expect((await h.call('GET', `${WS}/alerts?environment=__proto__`)).status).toBe(404);
    expect((await h.call('GET', `${WS}/alert-rules/__proto__`)).status).toBe(404);
  });

  it('names such as __proto__ are names like any other, unique per environment', async () => {
    const proto = await h.call('POST', `${WS}/alert-rules`, { ...valid, name: '__proto__' });
    expect(proto.status).toBe(201);
    expect(proto.body.name).toBe('__proto__');
    expect((await h.call('POST', `${WS}/alert-rules`, { ...valid, name: 'constructor' })).status).toBe(201);
    const again = await h.call('POST', `${WS}/alert-rules`, { ...valid, name: '__proto__' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('alert_rule_exists');
    expect((await h.call('POST', `${WS}/alert-rules`, { ...valid, environment: 'development', name: '__proto__' })).status).toBe(201);
    const silence = await h.call('POST', `${WS}/alert-silences`, { environment: 'staging', rule: '__proto__', endsAt: new Date(Date.now() + 60_000).toISOString(), reason: 'x' });
    expect(silence.status).toBe(201);
    expect(silence.body.ruleId).toBe(proto.body.id);
    expect((await h.call('POST', `${WS}/alert-silences`, { environment: 'staging', rule: 'toString', endsAt: new Date(Date.now() + 60_000).toISOString(), reason: 'x' })).status).toBe(400);
    await h.call('DELETE', `${WS}/alert-silences/${silence.body.id}`);
  });

  it('reads show receivers masked, and the audit log never holds their secrets', async () => {
    const rule = await createRule({
      environment: 'staging',
      name: 'masked',
      channels: [
        { type: 'slack', url: `https://hooks.slack.example/services/${SLACK_TOKEN}` },
        { type: 'pagerduty', routingKey: PD_KEY },
        { type: 'email', to: 'oncall@example.com' },
        { type: 'webhook', url: `https://hooks.example/alerts?token=${SLACK_TOKEN}`, secret: HOOK_SECRET },
      ],
    });
    const expected = [
      { type: 'slack', url: '••••xxxx' },
      { type: 'pagerduty', routingKey: '••••cdef' },
      { type: 'email', to: 'oncall@example.com' },
      { type: 'webhook', url: '••••xxxx', secret: '••••cdef' },
    ];
    expect(rule.channels).toEqual(expected);
    expect((await h.call('GET', `${WS}/alert-rules/${rule.id}`)).body.channels).toEqual(expected);
    expect((await h.call('GET', `${WS}/alert-rules?environment=staging`)).body.data.find((r: any) => r.id === rule.id).channels).toEqual(expected);
    const patched = await h.call('PATCH', `${WS}/alert-rules/${rule.id}`, { threshold: 0.2, channels: [{ type: 'pagerduty', routingKey: `${PD_KEY}-2` }] });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ threshold: 0.2, name: 'masked', channels: [{ type: 'pagerduty', routingKey: '••••ef-2' }] });
    expect((await h.call('DELETE', `${WS}/alert-rules/${rule.id}`)).status).toBe(204);
    expect((await h.call('GET', `${WS}/alert-rules/${rule.id}`)).status).toBe(404);

    const log = (await h.call('GET', `${WS}/audit-log?limit=500`)).body.data.filter((e: any) => e.target === `alert-rule/${rule.id}`);
    expect(log.map((e: any) => e.action)).toEqual(['alert_rule.delete', 'alert_rule.update', 'alert_rule.create']);
    expect(log[2].details).toEqual({ name: 'masked', metric: 'error_rate', comparison: '>', threshold: 0.1, windowMinutes: 5, minRequests: 10, channels: ['slack', 'pagerduty', 'email', 'webhook'] });
    const text = JSON.stringify(log);
    for (const secret of [SLACK_TOKEN, PD_KEY, HOOK_SECRET, 'hooks.slack.example']) expect(text).not.toContain(secret);
    // The database holds them sealed, not in clear.
    const rows = await h.store.db.selectFrom('alert_rules').selectAll().execute();
    for (const secret of [SLACK_TOKEN, PD_KEY, HOOK_SECRET]) expect(JSON.stringify(rows)).not.toContain(secret);
  });

  it('writing rules and silences needs alert.manage in that environment; reading needs membership', async () => {
    const viewer = await memberToken(h, 'alert-viewer@example.com', 'viewer');
    const deployer = await memberToken(h, 'alert-deployer@example.com', 'deployer');
    const support = await memberToken(h, 'alert-support@example.com', 'support', { staging: 'developer' });
    const refused = await h.call('POST', `${WS}/alert-rules`, { ...valid, name: 'v' }, viewer);
    expect(refused.status).toBe(403);
    expect(refused.body.error.details).toEqual([{ permission: 'alert.manage', environment: 'staging' }]);
    const created = await h.call('POST', `${WS}/alert-rules`, { ...valid, name: 'd' }, deployer);
    expect(created.status).toBe(201);
    expect((await h.call('POST', `${WS}/alert-rules`, { ...valid, name: 's' }, support)).status).toBe(201);
    expect((await h.call('POST', `${WS}/alert-rules`, { ...valid, environment: 'production', name: 's' }, support)).status).toBe(403);
    expect((await h.call('GET', `${WS}/alert-rules/${created.body.id}`, undefined, viewer)).status).toBe(200);
    expect((await h.call('GET', `${WS}/alerts?environment=staging`, undefined, viewer)).status).toBe(200);
    expect((await h.call('PATCH', `${WS}/alert-rules/${created.body.id}`, { threshold: 0.3 }, viewer)).status).toBe(403);
    expect((await h.call('DELETE', `${WS}/alert-rules/${created.body.id}`, undefined, viewer)).status).toBe(403);
    expect((await h.call('POST', `${WS}/alert-silences`, { environment: 'staging', endsAt: new Date(Date.now() + 60_000).toISOString(), reason: 'x' }, viewer)).status).toBe(403);
  });

  it('a silence must end in the future, after it starts', async () => {
    const past = await h.call('POST', `${WS}/alert-silences`, { environment: 'staging', endsAt: new Date(Date.now() - 1000).toISOString(), reason: 'x' });
    expect(past.status).toBe(400);
    expect(past.body.error.details[0].field).toBe('endsAt');
    const inverted = await h.call('POST', `${WS}/alert-silences`, {
      environment: 'staging',
      startsAt: new Date(Date.now() + 7200_000).toISOString(),
      endsAt: new Date(Date.now() + 3600_000).toISOString(),
      reason: 'x',
    });
    expect(inverted.status).toBe(400);
  });

  it('every alert operation is documented with an operationId', async () => {
    const doc = (await h.call('GET', '/api/openapi.json')).body;
    const ids = Object.values(doc.paths as Record<string, Record<string, { operationId?: string }>>)
      .flatMap((ops) => Object.values(ops).map((op) => op.operationId))
      .filter((id): id is string => id !== undefined && /Alert/.test(id));
    expect(ids.sort()).toEqual(['createAlertRule', 'createAlertSilence', 'deleteAlertRule', 'deleteAlertSilence', 'getAlertRule', 'listAlertRules', 'listAlertSilences', 'listAlerts', 'updateAlertRule']);
  });
});
