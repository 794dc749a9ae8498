// Workflow runs end to end: triggers through the runtime API, the durable queue and its worker,
// real channels (an SMTP server, a webhook receiver checking signatures, the in-app feed) and a
// real tool upstream; the test runner; restarts and several worker nodes on one database.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../src/runtime/channels/index.js';
import { commitDrafts, createApiKey, createTestDatabase, eventually, memberToken, promote, startHarness, TEST_DB, WS, type Harness } from './support.js';

const WEBHOOK_SECRETS = { development: 'whsec-dev-0123456789', production: 'whsec-prod-9876543210' };
const CRM_TOKENS = { development: 'crm-dev-token-0123456789', production: 'crm-prod-token-9876543210' };
/** Small delays so that retries and polls take milliseconds. */
const FAST = { pollIntervalMs: 40, leaseMs: 5000, retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 60 } };

interface Mail {
  from: string;
  to: string[];
  raw: string;
}
interface Hook {
  env: string;
  deliveryId: string;
  verified: boolean;
  body: any;
  headers: IncomingMessage['headers'];
  status: number;
}
interface ToolCall {
  path: string;
  authorization: string | undefined;
  body: any;
}

const mails: Mail[] = [];
const hooks: Hook[] = [];
const toolCalls: ToolCall[] = [];
/** Statuses the webhook receiver answers next, one per request; 200 when empty. */
const hookPlan: number[] = [];

let smtp: SMTPServer;
let receiver: Server;
let upstream: Server;
let hookBase: string;
let toolBase: string;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

async function startServers() {
  smtp = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: true,
    logger: false,
    onAuth(auth, _session, callback) {
      const ok = (auth.username === 'dev-mailer' && auth.password === 'dev-pass') || (auth.username === 'prod-mailer' && auth.password === 'prod-pass');
      callback(ok ? null : Object.assign(new Error('bad login'), { responseCode: 535 }), ok ? { user: auth.username } : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          // Quoted-printable soft line breaks and escapes undone, so assertions read the content.
          raw: Buffer.concat(chunks)
            .toString('utf8')
            .replace(/=\r?\n/g, '')
            .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));

  receiver = createServer(async (req, res) => {
    const raw = await readBody(req);
    const env = (req.url ?? '').split('/')[2] as keyof typeof WEBHOOK_SECRETS;
    const header = (name: string) => req.headers[name] as string | undefined;
    const verified = verifyWebhookSignature(WEBHOOK_SECRETS[env] ?? 'none', header('x-stageline-timestamp'), raw, header('x-stageline-signature'));
    const status = hookPlan.shift() ?? 200;
    hooks.push({ env, deliveryId: header('x-stageline-delivery') ?? '', verified, body: JSON.parse(raw.toString('utf8')), headers: req.headers, status });
    res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
  });
  hookBase = await listen(receiver);

  upstream = createServer(async (req, res) => {
    const raw = (await readBody(req)).toString('utf8');
    toolCalls.push({ path: req.url ?? '', authorization: req.headers.authorization, body: raw ? JSON.parse(raw) : null });
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ synced: true }));
  });
  toolBase = await listen(upstream);
}

async function stopServers() {
  await new Promise<void>((resolve) => smtp?.close(() => resolve()));
  for (const server of [receiver, upstream]) {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
}

/** A runtime API call with an API key. */
async function runtime(h: Harness, key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await h.app.inject({
    method: method as 'GET',
    url: path,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null, headers: res.headers, text: res.body };
}

const trigger = (h: Harness, key: string, workflow: string, body: unknown, headers?: Record<string, string>) => runtime(h, key, 'POST', `/v1/workflows/${workflow}/trigger`, body, headers);

/** Polls the run until it has finished; answers its view. */
async function finished(h: Harness, key: string, runId: string, timeoutMs = 10_000): Promise<any> {
  let run: any;
  await eventually(async () => {
    run = (await runtime(h, key, 'GET', `/v1/workflow-runs/${runId}`)).body;
    expect(['completed', 'failed']).toContain(run.status);
  }, timeoutMs);
  return run;
}

async function feed(h: Harness, key: string, recipient: string) {
  return (await runtime(h, key, 'GET', `/v1/feeds/${encodeURIComponent(recipient)}`)).body.data as any[];
}

function setting(h: Harness, env: string, name: string, value: unknown) {
  return h.call('PUT', `${WS}/environments/${env}/settings/${name}`, { value }).then((res) => expect(res.status).toBe(200));
}

function secret(h: Harness, env: string, name: string, value: string) {
  return h.call('PUT', `${WS}/environments/${env}/secrets/${name}`, { value }).then((res) => expect(res.status).toBe(200));
}

const welcome = {
  name: 'Welcome',
  steps: [
    { type: 'channel', channel: 'in_app', template: { title: 'Welcome', body: 'Welcome {{ recipient.name }}: {{ vars.app_url }}', data: { plan: '{{ data.plan }}' } } },
    {
      type: 'channel',
      channel: 'email',
      layout: 'default',
      template: { subject: 'Welcome {{ recipient.name }}', html: '<p>Hi {{ recipient.name }}, plan {{ data.plan }}</p>', text: 'Hi {{ recipient.name }}' },
    },
    { type: 'channel', channel: 'webhook', template: { body: { event: 'welcome', user: '{{ recipient.id }}', seats: '{{ data.seats }}' }, headers: { 'X-Crm-Token': '{{ secrets.crm_token }}' } } },
  ],
};

beforeAll(startServers);
afterAll(stopServers);

describe('workflows', () => {
  let h: Harness;
  const keys = { dev: '', prod: '', prodPublishable: '' };

  beforeAll(async () => {
    h = await startHarness({ workflows: FAST });
    await h.call('PUT', `${WS}/variables/app_url`, { value: 'https://example.com', overrides: { development: 'https://dev.example.com', production: 'https://app.example.com' } });
    await h.call('PUT', `${WS}/variables/company`, { value: 'Acme', overrides: { development: 'Acme Sandbox', production: 'Acme Inc' } });
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    // The test's servers listen on loopback, which only development reaches by default.
    await setting(h, 'production', 'egress', { allow: ['127.0.0.1'] });
    for (const env of ['development', 'production'] as const) {
      const dev = env === 'development';
      await secret(h, env, 'SMTP_PASSWORD', dev ? 'dev-pass' : 'prod-pass');
      await secret(h, env, 'WEBHOOK_SECRET', WEBHOOK_SECRETS[env]);
      await secret(h, env, 'crm_token', CRM_TOKENS[env]);
      await setting(h, env, 'channel.email', {
        host: '127.0.0.1',
        port: smtpPort,
        secure: false,
        from: dev ? 'Dev <dev@example.com>' : 'Acme <hello@example.com>',
        auth: { user: dev ? 'dev-mailer' : 'prod-mailer', passwordSecret: 'SMTP_PASSWORD' },
        timeoutMs: 5000,
      });
      await setting(h, env, 'channel.webhook', { url: `${hookBase}/hooks/${env}`, signingSecret: 'WEBHOOK_SECRET', timeoutMs: 2000 });
    }
    keys.dev = await createApiKey(h, 'development', 'secret');
    keys.prod = await createApiKey(h, 'production', 'secret');
    keys.prodPublishable = await createApiKey(h, 'production', 'publishable');
    await commitDrafts(h, {
      'layout/default': { html: '<html><body>{{ content }}<footer>{{ vars.company }}</footer></body></html>', text: '{{ content }}\n-- {{ vars.company }}' },
      'workflow/welcome': welcome,
      'tool/crm-sync': { method: 'POST', url: `${toolBase}/prod/sync`, headers: { Authorization: 'Bearer {{ secrets.crm_token }}' }, body: { id: '{{ input.id }}', plan: '{{ input.plan }}' }, timeoutMs: 2000 },
      'workflow/crm': { name: 'CRM sync', steps: [{ type: 'tool', tool: 'crm-sync', input: { id: '{{ recipient.id }}', plan: '{{ data.plan }}' } }] },
      'workflow/hook': { name: 'Hook', steps: [{ type: 'channel', channel: 'webhook', template: { body: { n: '{{ data.n }}' } } }, { type: 'channel', channel: 'in_app', template: { body: 'after the hook' } }] },
      'workflow/slow': { name: 'Slow', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'before' } }, { type: 'delay', seconds: 60 }, { type: 'channel', channel: 'in_app', template: { body: 'after' } }] },
      'workflow/leaky': { name: 'Leaky', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'token {{ secrets.crm_token }}' } }] },
    });
    // Development's profile of the tool calls the sandbox.
    expect((await h.call('PUT', `${WS}/environments/development/resources/tool/crm-sync/override`, { override: { url: `${toolBase}/dev/sync` } })).status).toBe(200);
    expect((await promote(h, 'production')).status).toBe(201);
    for (const [key, env] of [
      [keys.dev, 'dev'],
      [keys.prod, 'prod'],
    ] as const) {
      expect((await runtime(h, key, 'PUT', '/v1/data/users/u_ada', { name: 'Ada', email: `ada@${env}.example.com` })).status).toBe(201);
      expect((await runtime(h, key, 'PUT', '/v1/data/users/u_noemail', { name: 'Nobody' })).status).toBe(201);
    }
  });

  afterAll(async () => {
    await h?.close();
  });

  describe('a trigger', () => {
    it('runs the committed workflow: the in-app message, the email in its layout with the environment’s vars, a signed webhook', async () => {
      const res = await trigger(h, keys.prod, 'welcome', { recipients: ['u_ada'], data: { plan: 'pro', seats: 5 } });
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ runId: expect.stringMatching(/^run_/), status: 'queued' });
      const run = await finished(h, keys.prod, res.body.runId);
      expect(run).toMatchObject({ workflow: 'welcome', environment: 'production', release: 1, source: 'api', status: 'completed', error: null, recipients: ['u_ada'] });
      expect(run.steps.map((s: any) => [s.type, s.status, s.attempts])).toEqual([
        ['channel:in_app', 'completed', 1],
        ['channel:email', 'completed', 1],
        ['channel:webhook', 'completed', 1],
      ]);
      expect(run.messageIds).toHaveLength(3);

      const [message] = await feed(h, keys.prod, 'u_ada');
      expect(message.id).toBe(run.steps[0].messageIds[0]);
      expect(message.content).toEqual({ title: 'Welcome', body: 'Welcome Ada: https://app.example.com', data: { plan: 'pro' } });

      const mail = mails.find((m) => m.raw.includes(run.steps[1].messageIds[0]))!;
      expect(mail.from).toBe('hello@example.com');
      expect(mail.to).toEqual(['ada@prod.example.com']);
      expect(mail.raw).toContain('Subject: Welcome Ada');
      expect(mail.raw).toContain('<html><body><p>Hi Ada, plan pro</p><footer>Acme Inc</footer></body></html>');
      expect(mail.raw).toContain('-- Acme Inc');

      const hook = hooks.find((x) => x.deliveryId === run.steps[2].messageIds[0])!;
      expect(hook).toMatchObject({ env: 'production', verified: true, body: { event: 'welcome', user: 'u_ada', seats: 5 } });
      expect(hook.headers['x-crm-token']).toBe(CRM_TOKENS.production);
    });

    it('renders with each environment’s own values and sends through its own channels', async () => {
      const res = await trigger(h, keys.dev, 'welcome', { recipients: [{ id: 'inline-1', name: 'Grace', email: 'grace@example.com' }], data: { plan: 'trial', seats: 1 } });
      expect(res.status).toBe(202);
      const run = await finished(h, keys.dev, res.body.runId);
      expect(run.status).toBe('completed');
      expect((await feed(h, keys.dev, 'inline-1'))[0].content.body).toBe('Welcome Grace: https://dev.example.com');
      const mail = mails.find((m) => m.raw.includes(run.steps[1].messageIds[0]))!;
      expect(mail.from).toBe('dev@example.com');
      expect(mail.raw).toContain('<footer>Acme Sandbox</footer>');
      const hook = hooks.find((x) => x.deliveryId === run.steps[2].messageIds[0])!;
      expect(hook).toMatchObject({ env: 'development', verified: true });
      expect(hook.headers['x-crm-token']).toBe(CRM_TOKENS.development);
      // The production feed never sees a development message.
      expect(await feed(h, keys.prod, 'inline-1')).toEqual([]);
    });

    it('escapes recipient and data values in the email’s html, not the body its layout wraps; text, subject and in-app are not escaped', async () => {
      const name = '<b>Grace</b> & Co';
      const res = await trigger(h, keys.dev, 'welcome', { recipients: [{ id: 'inline-html', name, email: 'grace@example.com' }], data: { plan: '<i>pro</i> & more', seats: 1 } });
      expect(res.status).toBe(202);
      const run = await finished(h, keys.dev, res.body.runId);
      expect(run.status).toBe('completed');
      const mail = mails.find((m) => m.raw.includes(run.steps[1].messageIds[0]))!;
      expect(mail.raw).toContain('<html><body><p>Hi &lt;b&gt;Grace&lt;/b&gt; &amp; Co, plan &lt;i&gt;pro&lt;/i&gt; &amp; more</p><footer>Acme Sandbox</footer></body></html>');
      expect(mail.raw).not.toContain('<p>Hi <b>');
      expect(mail.raw).toContain(`Subject: Welcome ${name}`);
      expect(mail.raw).toContain(`Hi ${name}\r\n-- Acme Sandbox`);
      expect((await feed(h, keys.dev, 'inline-html'))[0].content.body).toBe(`Welcome ${name}: https://dev.example.com`);
    });

    it('a tool step calls the environment’s profile: the sandbox with its token in development, the real URL in production', async () => {
      for (const [key, env] of [
        [keys.dev, 'development'],
        [keys.prod, 'production'],
      ] as const) {
        const res = await trigger(h, key, 'crm', { recipients: ['u_ada'], data: { plan: 'pro' } });
        const run = await finished(h, key, res.body.runId);
        expect(run.status).toBe('completed');
        expect(run.steps[0]).toMatchObject({ type: 'tool', status: 'completed', detail: 'tool/crm-sync answered HTTP 201' });
        expect(toolCalls.at(-1)).toEqual({
          path: env === 'development' ? '/dev/sync' : '/prod/sync',
          authorization: `Bearer ${CRM_TOKENS[env]}`,
          body: { id: 'u_ada', plan: 'pro' },
        });
      }
    });

    it('an inactive workflow is 409 workflow_inactive and nothing is queued or sent', async () => {
      const path = `${WS}/environments/production/resources/workflow/welcome/active`;
      expect((await h.call('PUT', path, { active: false })).status).toBe(200);
      try {
        const before = { mails: mails.length, hooks: hooks.length, feed: (await feed(h, keys.prod, 'u_ada')).length };
        const runsBefore = await h.store.db.selectFrom('workflow_runs').select('id').execute();
        const res = await trigger(h, keys.prod, 'welcome', { recipients: ['u_ada'], data: { plan: 'pro', seats: 1 } });
        expect(res.status).toBe(409);
        expect(res.body.error.code).toBe('workflow_inactive');
        await new Promise((r) => setTimeout(r, 150));
        expect((await h.store.db.selectFrom('workflow_runs').select('id').execute()).length).toBe(runsBefore.length);
        expect({ mails: mails.length, hooks: hooks.length, feed: (await feed(h, keys.prod, 'u_ada')).length }).toEqual(before);
      } finally {
        await h.call('PUT', path, { active: true });
      }
    });

    it('an unknown workflow is 404, one only in development does not exist for a production key', async () => {
      expect((await trigger(h, keys.prod, 'nope', { recipients: ['u_ada'] })).status).toBe(404);
      await commitDrafts(h, { 'workflow/dev-only': { name: 'Dev only', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'x' } }] } });
      expect((await trigger(h, keys.prod, 'dev-only', { recipients: ['u_ada'] })).body.error.code).toBe('not_found');
      expect((await trigger(h, keys.dev, 'dev-only', { recipients: ['u_ada'] })).status).toBe(202);
    });

    it('a recipient id without a users record in the key’s environment is 400 naming it', async () => {
      // u_dev_only exists in development only.
      expect((await runtime(h, keys.dev, 'PUT', '/v1/data/users/u_dev_only', { name: 'Dev' })).status).toBe(201);
      const res = await trigger(h, keys.prod, 'welcome', { recipients: ['u_ada', 'u_dev_only'] });
      expect(res.status).toBe(400);
      expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'recipients.1' })]);
      expect(res.body.error.message).toContain('production');
    });

    it.each([
      ['no recipients', { recipients: [] }, 'recipients'],
      ['the same recipient twice', { recipients: ['u_ada', { id: 'u_ada' }] }, 'recipients.1.id'],
      ['an inline recipient without an id', { recipients: [{ name: 'x' }] }, 'recipients.0'],
      ['an unknown field', { recipients: ['u_ada'], extra: 1 }, 'extra'],
      ['data that is not an object', { recipients: ['u_ada'], data: [1] }, 'data'],
    ])('%s is 400 naming the field', async (_name, body, field) => {
      const res = await trigger(h, keys.prod, 'welcome', body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
    });

    it('a publishable key may neither trigger nor read runs; no key is 401', async () => {
      const res = await trigger(h, keys.prodPublishable, 'welcome', { recipients: ['u_ada'] });
      expect(res.status).toBe(403);
      expect(res.body.error.message).toContain('secret key');
      expect((await runtime(h, keys.prodPublishable, 'GET', '/v1/workflow-runs/run_x')).status).toBe(403);
      expect((await h.app.inject({ method: 'POST', url: '/v1/workflows/welcome/trigger' })).statusCode).toBe(401);
    });

    it('a run of another environment is 404 for a key', async () => {
      const res = await trigger(h, keys.dev, 'hook', { recipients: ['u_ada'], data: { n: 0 } });
      await finished(h, keys.dev, res.body.runId);
      expect((await runtime(h, keys.prod, 'GET', `/v1/workflow-runs/${res.body.runId}`)).status).toBe(404);
      expect((await runtime(h, keys.dev, 'GET', `/v1/workflow-runs/${res.body.runId}`)).status).toBe(200);
    });

    it('is in the activity log with the API key as actor, and not in the audit chain', async () => {
      const auditBefore = (await h.call('GET', `${WS}/audit-log/verify`)).body.entries;
      const res = await trigger(h, keys.prod, 'hook', { recipients: ['u_ada'], data: { n: 1 } });
      const [entry] = (await h.call('GET', `${WS}/activity?action=workflow.trigger`)).body.data;
      expect(entry).toMatchObject({ actor: { kind: 'api_key' }, environment: 'production', target: 'workflow/hook', details: { runId: res.body.runId, recipients: 1, release: 1 } });
      expect((await h.call('GET', `${WS}/audit-log/verify`)).body).toMatchObject({ valid: true, entries: auditBefore });
      await finished(h, keys.prod, res.body.runId);
    });
  });

  describe('idempotency', () => {
    it('the same key twice makes one run and one message', async () => {
      const body = { recipients: ['u_ada'], data: { n: 'idem-1' }, idempotencyKey: 'order-1' };
      const first = await trigger(h, keys.prod, 'hook', body);
      expect(first.status).toBe(202);
      await finished(h, keys.prod, first.body.runId);
      const second = await trigger(h, keys.prod, 'hook', body);
      expect(second.status).toBe(200);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(second.body).toEqual({ runId: first.body.runId, status: 'completed' });
      await new Promise((r) => setTimeout(r, 150));
      expect(hooks.filter((x) => x.body.n === 'idem-1')).toHaveLength(1);
      expect(await h.store.db.selectFrom('feed_messages').select('id').where('run_id', '=', first.body.runId).execute()).toHaveLength(1);
      expect(await h.store.db.selectFrom('workflow_runs').select('id').where('idempotency_key', '=', 'order-1').execute()).toHaveLength(1);
    });

    it('concurrent triggers with one key answer one run; the header works as the body field', async () => {
      const body = { recipients: ['u_ada'], data: { n: 'idem-2' } };
      const answers = await Promise.all(Array.from({ length: 6 }, () => trigger(h, keys.prod, 'hook', body, { 'idempotency-key': 'order-2' })));
      const ids = new Set(answers.map((a) => a.body.runId));
      expect(ids.size).toBe(1);
      expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 202]);
      await finished(h, keys.prod, [...ids][0]!);
      expect(hooks.filter((x) => x.body.n === 'idem-2')).toHaveLength(1);
    });

    it('a key reused for a different trigger is 409, and keys are per environment', async () => {
      const first = await trigger(h, keys.prod, 'hook', { recipients: ['u_ada'], data: { n: 'idem-3' }, idempotencyKey: 'order-3' });
      const other = await trigger(h, keys.prod, 'hook', { recipients: ['u_ada'], data: { n: 'different' }, idempotencyKey: 'order-3' });
      expect(other.status).toBe(409);
      expect(other.body.error.code).toBe('idempotency_key_reused');
      const dev = await trigger(h, keys.dev, 'hook', { recipients: ['u_ada'], data: { n: 'idem-3' }, idempotencyKey: 'order-3' });
      expect(dev.status).toBe(202);
      expect(dev.body.runId).not.toBe(first.body.runId);
      await finished(h, keys.prod, first.body.runId);
      await finished(h, keys.dev, dev.body.runId);
    });
  });

  describe('failures', () => {
    it('a transient failure is retried with the same delivery id: 503 then 200 is two attempts and one delivery', async () => {
      hookPlan.push(503);
      const res = await trigger(h, keys.prod, 'hook', { recipients: ['u_ada'], data: { n: 'retry-1' } });
      const run = await finished(h, keys.prod, res.body.runId);
      expect(run.status).toBe('completed');
      expect(run.steps[0]).toMatchObject({ status: 'completed', attempts: 2, error: null });
      const received = hooks.filter((x) => x.body.n === 'retry-1');
      expect(received.map((x) => x.status)).toEqual([503, 200]);
      expect(new Set(received.map((x) => x.deliveryId)).size).toBe(1);
      expect(run.steps[1]).toMatchObject({ type: 'channel:in_app', status: 'completed' });
    });

    it('a transient failure that lasts fails the step after maxAttempts', async () => {
      hookPlan.push(503, 503, 503);
      const res = await trigger(h, keys.prod, 'hook', { recipients: ['u_ada'], data: { n: 'retry-2' } });
      const run = await finished(h, keys.prod, res.body.runId);
      expect(run.status).toBe('failed');
      expect(run.steps[0]).toMatchObject({ status: 'failed', attempts: 3 });
      expect(run.steps[0].error).toContain('gave up after 3 attempts');
      expect(hooks.filter((x) => x.body.n === 'retry-2')).toHaveLength(3);
    });

    it('a permanent failure fails the step and the run at once; later steps are skipped', async () => {
      hookPlan.push(400);
      const res = await trigger(h, keys.prod, 'hook', { recipients: ['u_ada'], data: { n: 'permanent' } });
      const run = await finished(h, keys.prod, res.body.runId);
      expect(run.status).toBe('failed');
      expect(run.steps[0]).toMatchObject({ status: 'failed', attempts: 1 });
      expect(run.steps[0].error).toContain('rejected');
      expect(run.steps[1]).toMatchObject({ status: 'skipped', attempts: 0 });
      expect(run.error).toMatch(/^step 0 \(channel:webhook\) for u_ada failed/);
      expect(hooks.filter((x) => x.body.n === 'permanent')).toHaveLength(1);
    });

    it('one recipient failing does not stop the others', async () => {
      const res = await trigger(h, keys.prod, 'welcome', { recipients: ['u_noemail', 'u_ada'], data: { plan: 'pro', seats: 2 } });
      const run = await finished(h, keys.prod, res.body.runId);
      expect(run.status).toBe('failed');
      const of = (recipient: string) => run.steps.filter((s: any) => s.recipient === recipient).map((s: any) => s.status);
      expect(of('u_noemail')).toEqual(['completed', 'failed', 'skipped']);
      expect(of('u_ada')).toEqual(['completed', 'completed', 'completed']);
      expect(run.steps.find((s: any) => s.status === 'failed').error).toContain('has no email address');
    });

    it('in-app content cannot carry secrets: the step fails and nothing is stored', async () => {
      const res = await trigger(h, keys.prod, 'leaky', { recipients: [{ id: 'leak-1' }] });
      const run = await finished(h, keys.prod, res.body.runId);
      expect(run.status).toBe('failed');
      expect(run.steps[0].error).toContain('secrets is not available in in-app templates');
      expect(JSON.stringify(run)).not.toContain(CRM_TOKENS.production);
      expect(await feed(h, keys.prod, 'leak-1')).toEqual([]);
    });

    it('a data field a template needs and the trigger lacks fails the step naming it', async () => {
      const res = await trigger(h, keys.prod, 'crm', { recipients: ['u_ada'] });
      const run = await finished(h, keys.prod, res.body.runId);
      expect(run.steps[0].status).toBe('failed');
      expect(run.steps[0].error).toContain('data.plan');
    });
  });

  describe('delays', () => {
    it('a delay reschedules the job instead of sleeping: the run waits with the next time shown', async () => {
      const res = await trigger(h, keys.prod, 'slow', { recipients: [{ id: 'slow-1' }] });
      let run: any;
      await eventually(async () => {
        run = (await runtime(h, keys.prod, 'GET', `/v1/workflow-runs/${res.body.runId}`)).body;
        expect(run.steps[1].status).toBe('waiting');
      });
      expect(run.status).toBe('running');
      expect(Date.parse(run.steps[1].nextAttemptAt) - Date.now()).toBeGreaterThan(50_000);
      expect(run.steps[2].status).toBe('pending');
      const job = await h.store.db.selectFrom('workflow_jobs').selectAll().where('run_id', '=', res.body.runId).executeTakeFirstOrThrow();
      expect(job).toMatchObject({ status: 'queued', run_at: run.steps[1].nextAttemptAt, lease_owner: null });
      expect((await feed(h, keys.prod, 'slow-1')).map((m) => m.content.body)).toEqual(['before']);
    });

    it('the kill switch stops a run already queued', async () => {
      const res = await trigger(h, keys.prod, 'slow', { recipients: [{ id: 'slow-2' }] });
      await eventually(async () => expect((await runtime(h, keys.prod, 'GET', `/v1/workflow-runs/${res.body.runId}`)).body.steps[1].status).toBe('waiting'));
      const path = `${WS}/environments/production/resources/workflow/slow/active`;
      await h.call('PUT', path, { active: false });
      try {
        // Make the delay due now.
        await h.store.db.updateTable('workflow_jobs').set({ run_at: new Date().toISOString() }).where('run_id', '=', res.body.runId).execute();
        await h.store.db.updateTable('workflow_steps').set({ wake_at: new Date().toISOString() }).where('run_id', '=', res.body.runId).execute();
        const run = await finished(h, keys.prod, res.body.runId);
        expect(run.status).toBe('failed');
        expect(run.error).toContain('switched off');
        expect((await feed(h, keys.prod, 'slow-2')).map((m) => m.content.body)).toEqual(['before']);
      } finally {
        await h.call('PUT', path, { active: true });
      }
    });
  });

  describe('the test runner', () => {
    it('runs the draft while the API runs the committed version', async () => {
      const draft = structuredClone(welcome);
      draft.steps[0]!.template.body = 'Draft hello {{ recipient.name }}';
      expect((await h.call('PUT', `${WS}/environments/development/resources/workflow/welcome`, { content: draft })).status).toBe(200);
      try {
        const test = await h.call('POST', `${WS}/environments/development/test-runs`, { workflow: 'welcome', recipients: ['u_ada'], data: { plan: 'test', seats: 3 } });
        expect(test.status).toBe(200);
        expect(test.body.version).toBe('draft');
        expect(test.body.run).toMatchObject({ source: 'test', status: 'completed', environment: 'development' });
        expect(test.body.messages.map((m: any) => [m.type, m.status])).toEqual([
          ['channel:in_app', 'completed'],
          ['channel:email', 'completed'],
          ['channel:webhook', 'completed'],
        ]);
        expect(test.body.messages[0].message).toMatchObject({ recipient: 'u_ada', body: 'Draft hello Ada' });
        expect(test.body.messages[1].message.html).toContain('<footer>Acme Sandbox</footer>');
        // Secrets are sent, but a member never sees their values.
        expect(test.body.messages[2].message.headers).toEqual({ 'X-Crm-Token': '[secret crm_token]' });
        expect(JSON.stringify(test.body)).not.toContain(CRM_TOKENS.development);
        expect(hooks.find((x) => x.deliveryId === test.body.messages[2].messageIds[0])!.headers['x-crm-token']).toBe(CRM_TOKENS.development);
        expect((await feed(h, keys.dev, 'u_ada'))[0].content.body).toBe('Draft hello Ada');

        const api = await trigger(h, keys.dev, 'welcome', { recipients: ['u_ada'], data: { plan: 'api', seats: 1 } });
        await finished(h, keys.dev, api.body.runId);
        expect((await feed(h, keys.dev, 'u_ada'))[0].content.body).toBe('Welcome Ada: https://dev.example.com');
        // Nothing committed changed.
        const resource = (await h.call('GET', `${WS}/environments/development/resources/workflow/welcome`)).body;
        expect(resource.committed.content.steps[0].template.body).toBe(welcome.steps[0]!.template.body);
        const [entry] = (await h.call('GET', `${WS}/audit-log?action=workflow.test_run`)).body.data;
        expect(entry).toMatchObject({ environment: 'development', target: 'workflow/welcome', details: { runId: test.body.run.id, version: 'draft' } });
      } finally {
        await h.call('DELETE', `${WS}/environments/development/resources/workflow/welcome`);
      }
    });

    it('skips delays and reports them; answers the run synchronously', async () => {
      const test = await h.call('POST', `${WS}/environments/development/test-runs`, { workflow: 'slow', recipients: [{ id: 'tester' }] });
      expect(test.status).toBe(200);
      expect(test.body.run.status).toBe('completed');
      expect(test.body.messages.map((m: any) => m.status)).toEqual(['completed', 'skipped', 'completed']);
      expect(test.body.messages[1].detail).toBe('delay of 60 s skipped in a test run');
      expect((await feed(h, keys.dev, 'tester')).map((m) => m.content.body).sort()).toEqual(['after', 'before']);
    });

    it('production is not editable: a draft test run is 409, the committed version runs with useCommitted', async () => {
      const refused = await h.call('POST', `${WS}/environments/production/test-runs`, { workflow: 'slow', recipients: [{ id: 'p-tester' }] });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('environment_not_editable');
      const test = await h.call('POST', `${WS}/environments/production/test-runs`, { workflow: 'slow', recipients: [{ id: 'p-tester' }], useCommitted: true });
      expect(test.status).toBe(200);
      expect(test.body.version).toBe('committed');
      expect(await feed(h, keys.prod, 'p-tester')).toHaveLength(2);
    });

    it('needs draft.write in the environment; a run for the caller when no recipient is named', async () => {
      const viewer = await memberToken(h, 'viewer@example.com', 'viewer');
      expect((await h.call('POST', `${WS}/environments/development/test-runs`, { workflow: 'slow' }, viewer)).status).toBe(403);
      const developer = await memberToken(h, 'dev@example.com', 'developer');
      const test = await h.call('POST', `${WS}/environments/development/test-runs`, { workflow: 'slow' }, developer);
      expect(test.status).toBe(200);
      expect(test.body.run.recipients).toEqual([expect.stringMatching(/^usr_/)]);
    });

    it('reports a failure without retrying it', async () => {
      hookPlan.push(503);
      const test = await h.call('POST', `${WS}/environments/development/test-runs`, { workflow: 'hook', recipients: ['u_ada'], data: { n: 'test-fail' } });
      expect(test.status).toBe(200);
      expect(test.body.run.status).toBe('failed');
      expect(test.body.messages).toEqual([expect.objectContaining({ status: 'failed', error: expect.stringContaining('receiver_error') })]);
      expect(hooks.filter((x) => x.body.n === 'test-fail')).toHaveLength(1);
    });
  });

  it('the routes are in the OpenAPI document under workflows', async () => {
    const doc = (await h.call('GET', '/api/openapi.json')).body;
    expect(doc.paths['/v1/workflows/{key}/trigger'].post.tags).toEqual(['workflows']);
    expect(doc.paths['/v1/workflow-runs/{id}'].get.security).toEqual([{ apiKey: [] }]);
    expect(doc.paths['/api/workspaces/{ws}/environments/{env}/test-runs'].post.tags).toEqual(['workflows']);
  });
});

describe('the queue across restarts and nodes', () => {
  const inApp = (body: string) => ({ type: 'channel', channel: 'in_app', template: { body } });

  it('a restart resumes a run: a delay waits out a closed node, the next node completes it without resending', async () => {
    const database = await createTestDatabase();
    const a = await startHarness({ database, workflows: FAST });
    let aOpen = true;
    let b: Harness | undefined;
    try {
      await commitDrafts(a, { 'workflow/two': { name: 'Two', steps: [inApp('first'), { type: 'delay', seconds: 1 }, inApp('second')] } });
      const key = await createApiKey(a, 'development');
      const res = await trigger(a, key, 'two', { recipients: [{ id: 'r-1' }] });
      await eventually(async () => expect((await runtime(a, key, 'GET', `/v1/workflow-runs/${res.body.runId}`)).body.steps[1].status).toBe('waiting'));
      await a.close();
      aOpen = false;
      b = await startHarness({ database, workflows: FAST });
      const run = await finished(b, key, res.body.runId);
      expect(run.status).toBe('completed');
      expect(run.steps.map((s: any) => [s.status, s.attempts])).toEqual([
        ['completed', 1],
        ['completed', 1],
        ['completed', 1],
      ]);
      expect((await feed(b, key, 'r-1')).map((m) => m.content.body)).toEqual(['second', 'first']);
    } finally {
      if (aOpen) await a.close();
      await b?.close();
      await database.drop();
    }
  });

  it('a job whose lease expired (its node died mid-run) is taken over; one with a live lease is not', async () => {
    // This node queues runs but runs none of them.
    const database = await createTestDatabase();
    const a = await startHarness({ database, workflows: { ...FAST, start: false } });
    let b: Harness | undefined;
    try {
      await commitDrafts(a, { 'workflow/one': { name: 'One', steps: [inApp('hello')] } });
      const key = await createApiKey(a, 'development');
      const dead = (await trigger(a, key, 'one', { recipients: [{ id: 'dead' }] })).body.runId;
      const live = (await trigger(a, key, 'one', { recipients: [{ id: 'live' }] })).body.runId;
      const lease = (runId: string, expires: Date) =>
        a.store.db
          .updateTable('workflow_jobs')
          .set({ status: 'running', lease_owner: 'wrk_gone.1', lease_expires_at: expires.toISOString() })
          .where('run_id', '=', runId)
          .execute();
      await lease(dead, new Date(Date.now() - 1000));
      await lease(live, new Date(Date.now() + 60_000));
      b = await startHarness({ database, workflows: FAST });
      expect((await finished(b, key, dead)).status).toBe('completed');
      await new Promise((r) => setTimeout(r, 200));
      expect((await runtime(b, key, 'GET', `/v1/workflow-runs/${live}`)).body.status).toBe('queued');
      expect(await feed(b, key, 'live')).toEqual([]);
      await lease(live, new Date(Date.now() - 1));
      expect((await finished(b, key, live)).status).toBe('completed');
      const job = await b.store.db.selectFrom('workflow_jobs').selectAll().execute();
      expect(job).toEqual([]);
    } finally {
      await b?.close();
      await a.close();
      await database.drop();
    }
  });

  it.runIf(TEST_DB === 'postgres')('two worker nodes on one PostgreSQL database run each job exactly once', async () => {
    const RUNS = 40;
    const queuer = await startHarness({ workflows: { start: false } });
    const workers: Harness[] = [];
    try {
      await setting(queuer, 'development', 'channel.webhook', { url: `${hookBase}/hooks/development`, signingSecret: 'WEBHOOK_SECRET', timeoutMs: 2000 });
      await secret(queuer, 'development', 'WEBHOOK_SECRET', WEBHOOK_SECRETS.development);
      await commitDrafts(queuer, { 'workflow/fan': { name: 'Fan', steps: [{ type: 'channel', channel: 'webhook', template: { body: { fan: '{{ data.i }}' } } }] } });
      const key = await createApiKey(queuer, 'development');
      for (let i = 0; i < 2; i++) workers.push(await startHarness({ database: queuer.database, workflows: { ...FAST, pollIntervalMs: 15, concurrency: 4 } }));
      const runIds: string[] = [];
      for (let i = 0; i < RUNS; i++) runIds.push((await trigger(queuer, key, 'fan', { recipients: [{ id: `fan-${i}` }], data: { i } })).body.runId);
      for (const id of runIds) expect((await finished(queuer, key, id, 20_000)).status).toBe('completed');
      const received = hooks.filter((x) => typeof x.body.fan === 'number');
      expect(received).toHaveLength(RUNS);
      expect(new Set(received.map((x) => x.deliveryId)).size).toBe(RUNS);
      expect(new Set(received.map((x) => x.body.fan))).toEqual(new Set(Array.from({ length: RUNS }, (_, i) => i)));
      expect(received.every((x) => x.verified)).toBe(true);
    } finally {
      for (const w of workers) await w.close();
      await queuer.close();
    }
  });
});
