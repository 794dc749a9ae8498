import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Environment } from '../src/domain/environments/chain.js';
import { ChannelError, Channels, signWebhook, verifyWebhookSignature } from '../src/runtime/channels/index.js';
import { findEnvironment } from '../src/store/environments.js';
import { findWorkspace } from '../src/store/workspaces.js';
import { createApiKey, createStaging, runtimeCall, startHarness, WS, type Harness } from './support.js';

let h: Harness;
const channels = new Channels();

async function environment(slug: string): Promise<Environment> {
  const workspace = await findWorkspace(h.store.db, 'default');
  const env = await findEnvironment(h.store.db, workspace!.id, slug);
  if (!env) throw new Error(`no environment ${slug}`);
  return env;
}

async function putSetting(env: string, name: string, value: unknown) {
  const res = await h.call('PUT', `${WS}/environments/${env}/settings/${name}`, { value });
  if (res.status !== 200) throw new Error(`setting ${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

async function putSecret(env: string, name: string, value: string) {
  const res = await h.call('PUT', `${WS}/environments/${env}/secrets/${name}`, { value });
  if (res.status !== 200) throw new Error(`secret ${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** The ChannelError a send fails with. */
async function failure(sending: Promise<unknown>): Promise<ChannelError> {
  try {
    await sending;
  } catch (error) {
    if (error instanceof ChannelError) return error;
    throw error;
  }
  throw new Error('the send succeeded');
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  // The SMTP servers and receivers of these tests listen on loopback, which only development
  // reaches by default.
  for (const env of ['staging', 'production']) await putSetting(env, 'egress', { allow: ['127.0.0.1'] });
});
afterAll(async () => {
  await channels.close();
  await h?.close();
});

describe('email', () => {
  const accounts: Record<string, string> = { 'dev-mailer': 'dev-password', 'prod-mailer': 'prod-password' };
  const logins = new Map<string, { user: string; password: string }>();
  const mails: { user: string | undefined; password: string | undefined; from: string; to: string[]; raw: string }[] = [];
  let smtp: SMTPServer;
  let port: number;

  beforeAll(async () => {
    smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authOptional: true,
      logger: false,
      onAuth(auth, session, callback) {
        if (auth.username && auth.password && accounts[auth.username] === auth.password) {
          logins.set(session.id, { user: auth.username, password: auth.password });
          callback(null, { user: auth.username });
        } else {
          callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
        }
      },
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith('bounce@')) callback(Object.assign(new Error('No such user'), { responseCode: 550 }));
        else if (address.address.startsWith('later@')) callback(Object.assign(new Error('Mailbox busy, try later'), { responseCode: 451 }));
        else callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const login = logins.get(session.id);
          mails.push({
            user: login?.user,
            password: login?.password,
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    port = (smtp.server.address() as AddressInfo).port;
    const setting = (user: string, from: string) => ({ host: '127.0.0.1', port, secure: false, from, replyTo: 'support@example.com', auth: { user, passwordSecret: 'SMTP_PASSWORD' }, timeoutMs: 5000 });
    await putSetting('development', 'channel.email', setting('dev-mailer', 'Dev <dev@example.com>'));
    await putSetting('production', 'channel.email', setting('prod-mailer', 'Acme <hello@example.com>'));
    await putSecret('development', 'SMTP_PASSWORD', 'dev-password');
    await putSecret('production', 'SMTP_PASSWORD', 'prod-password');
  });
  afterAll(async () => new Promise<void>((resolve) => smtp.close(() => resolve())));

  it('delivers the rendered email through the SMTP server of the environment', async () => {
    const result = await channels.send(
      h.deps,
      await environment('development'),
      'email',
      { to: 'Ada <ada@example.com>', subject: 'Welcome Ada', html: '<p>Hi Ada</p>', text: 'Hi Ada' },
      { deliveryId: 'run1.step0' },
    );
    expect(result).toMatchObject({ channel: 'email', messageId: '<run1.step0@example.com>' });
    expect(result.detail).toMatch(/^250/);
    const mail = mails.at(-1)!;
    expect(mail.from).toBe('dev@example.com');
    expect(mail.to).toEqual(['ada@example.com']);
    expect(mail.raw).toContain('Subject: Welcome Ada');
    expect(mail.raw).toContain('<p>Hi Ada</p>');
    expect(mail.raw).toContain('Message-ID: <run1.step0@example.com>');
    expect(mail.raw).toMatch(/^Reply-To: support@example.com/m);
  });

  it('logs in with the password secret of the environment it sends for', async () => {
    await channels.send(h.deps, await environment('development'), 'email', { to: 'a@example.com', subject: 'From development', text: 'x' }, { deliveryId: 'dev-login' });
    await channels.send(h.deps, await environment('production'), 'email', { to: 'a@example.com', subject: 'From production', text: 'x' }, { deliveryId: 'prod-login' });
    const dev = mails.find((m) => m.raw.includes('Subject: From development'))!;
    const prod = mails.find((m) => m.raw.includes('Subject: From production'))!;
    expect([dev.user, dev.password]).toEqual(['dev-mailer', 'dev-password']);
    expect([prod.user, prod.password]).toEqual(['prod-mailer', 'prod-password']);
    expect(prod.raw).toMatch(/^From: Acme <hello@example.com>/m);
  });

  it('a rotated password secret is used from the next send on; a wrong one is a permanent auth failure', async () => {
    const production = await environment('production');
    await putSecret('production', 'SMTP_PASSWORD', 'not-the-password');
    const refused = await failure(channels.send(h.deps, production, 'email', { to: 'a@example.com', subject: 'refused', text: 'x' }, { deliveryId: 'wrong-password' }));
    expect(refused).toMatchObject({ code: 'auth_failed', transient: false });
    expect(refused.message).not.toContain('not-the-password');
    await putSecret('production', 'SMTP_PASSWORD', 'prod-password');
    await channels.send(h.deps, production, 'email', { to: 'a@example.com', subject: 'after rotation', text: 'x' }, { deliveryId: 'rotated' });
    expect(mails.at(-1)!.raw).toContain('Subject: after rotation');
  });

  it('a recipient refused with 5xx is permanent, with 4xx transient', async () => {
    const development = await environment('development');
    const bounced = await failure(channels.send(h.deps, development, 'email', { to: 'bounce@example.com', subject: 's', text: 'x' }, { deliveryId: 'bounce' }));
    expect(bounced).toMatchObject({ channel: 'email', code: 'smtp_rejected', transient: false, details: { status: 550 } });
    const deferred = await failure(channels.send(h.deps, development, 'email', { to: 'later@example.com', subject: 's', text: 'x' }, { deliveryId: 'later' }));
    expect(deferred).toMatchObject({ code: 'smtp_deferred', transient: true, details: { status: 451 } });
  });

  it('an unreachable SMTP server is transient', async () => {
    await putSetting('staging', 'channel.email', { host: '127.0.0.1', port: await closedPort(), from: 'staging@example.com', timeoutMs: 2000 });
    const error = await failure(channels.send(h.deps, await environment('staging'), 'email', { to: 'a@example.com', subject: 's', text: 'x' }, { deliveryId: 'closed' }));
    expect(error).toMatchObject({ code: 'unavailable', transient: true });
  });

  it('a password secret without a value in the environment is permanent and names it, never using another environment’s value', async () => {
    await putSetting('staging', 'channel.email', { host: '127.0.0.1', port, from: 'staging@example.com', auth: { user: 'dev-mailer', passwordSecret: 'SMTP_PASSWORD' } });
    const count = mails.length;
    const error = await failure(channels.send(h.deps, await environment('staging'), 'email', { to: 'a@example.com', subject: 's', text: 'x' }, { deliveryId: 'no-secret' }));
    expect(error).toMatchObject({ code: 'secret_missing', transient: false, details: { secret: 'SMTP_PASSWORD' } });
    expect(error.message).toContain('staging');
    expect(error.message).not.toContain('dev-password');
    expect(mails.length).toBe(count);
  });

  it('an environment without the setting is permanent channel_not_configured naming the setting', async () => {
    await h.call('POST', `${WS}/environments`, { slug: 'qa' });
    const error = await failure(channels.send(h.deps, await environment('qa'), 'email', { to: 'a@example.com', subject: 's', text: 'x' }, { deliveryId: 'qa' }));
    expect(error).toMatchObject({ channel: 'email', code: 'channel_not_configured', transient: false, details: { setting: 'channel.email' } });
    expect(error.message).toContain('channel.email');
  });

  it('refuses a message without a valid recipient before connecting', async () => {
    const error = await failure(channels.send(h.deps, await environment('development'), 'email', { to: 'nobody', subject: 's', text: 'x' }, { deliveryId: 'bad-to' }));
    expect(error).toMatchObject({ code: 'invalid_message', transient: false });
  });
});

describe('webhook', () => {
  const DEV_SECRET = 'whsec_development_0123456789';
  const received: { headers: Record<string, string | string[] | undefined>; body: string; valid: boolean }[] = [];
  let answer = { status: 200, delayMs: 0 };
  let receiver: Server;
  let url: string;

  beforeAll(async () => {
    // A receiver as users write one: verify the raw body first, refuse what does not verify.
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const valid = verifyWebhookSignature(DEV_SECRET, req.headers['x-stageline-timestamp'] as string | undefined, body, req.headers['x-stageline-signature'] as string | undefined, 300);
        received.push({ headers: req.headers, body, valid });
        if (!valid) {
          res.writeHead(401).end('bad signature');
          return;
        }
        setTimeout(() => {
          if (!res.destroyed) res.writeHead(answer.status, { 'retry-after': '30' }).end(`answered ${answer.status}`);
        }, answer.delayMs);
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/stageline?token=abc`;
    await putSetting('development', 'channel.webhook', { url, signingSecret: 'WEBHOOK_SECRET', headers: { 'X-Team': 'growth', 'Content-Type': 'text/plain' } });
    await putSecret('development', 'WEBHOOK_SECRET', DEV_SECRET);
    await putSecret('production', 'WEBHOOK_SECRET', 'whsec_production_other');
  });
  afterAll(async () => {
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('posts the JSON payload signed with the environment’s signing secret', async () => {
    answer = { status: 204, delayMs: 0 };
    const payload = { event: 'welcome', user: 'u_1', tags: ['a', 'b'] };
    const result = await channels.send(h.deps, await environment('development'), 'webhook', { payload, headers: { 'X-Step': 'welcome' } }, { deliveryId: 'run7.step4' });
    expect(result).toEqual({ channel: 'webhook', messageId: 'run7.step4', detail: 'HTTP 204' });
    const hit = received.at(-1)!;
    expect(hit.valid).toBe(true);
    expect(JSON.parse(hit.body)).toEqual(payload);
    expect(hit.headers['content-type']).toBe('application/json');
    expect(hit.headers['x-stageline-delivery']).toBe('run7.step4');
    expect(hit.headers['x-team']).toBe('growth');
    expect(hit.headers['x-step']).toBe('welcome');
    expect(hit.headers['x-stageline-signature']).toBe(signWebhook(DEV_SECRET, hit.headers['x-stageline-timestamp'] as string, hit.body));
  });

  it('a receiver refuses a tampered body, another secret, and an old timestamp', async () => {
    const hit = received.find((r) => r.headers['x-stageline-delivery'] === 'run7.step4')!;
    const timestamp = hit.headers['x-stageline-timestamp'] as string;
    const signature = hit.headers['x-stageline-signature'] as string;
    const tampered = hit.body.replace('u_1', 'u_2');
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-stageline-timestamp': timestamp, 'x-stageline-signature': signature }, body: tampered });
    expect(res.status).toBe(401);
    expect(received.at(-1)!.valid).toBe(false);
    expect(verifyWebhookSignature('whsec_production_other', timestamp, hit.body, signature, 300)).toBe(false);
    expect(verifyWebhookSignature(DEV_SECRET, timestamp, hit.body, signature, 300, (Number(timestamp) + 301) * 1000)).toBe(false);
    expect(verifyWebhookSignature(DEV_SECRET, timestamp, hit.body, `v1=${'0'.repeat(64)}, ${signature}`, 300)).toBe(true);
  });

  it('a 503 answer is transient, a 429 transient with its Retry-After, a 400 permanent', async () => {
    const development = await environment('development');
    answer = { status: 503, delayMs: 0 };
    expect(await failure(channels.send(h.deps, development, 'webhook', { payload: {} }, { deliveryId: 'd503' }))).toMatchObject({
      code: 'receiver_error',
      transient: true,
      details: { status: 503, response: 'answered 503' },
    });
    answer = { status: 429, delayMs: 0 };
    expect(await failure(channels.send(h.deps, development, 'webhook', { payload: {} }, { deliveryId: 'd429' }))).toMatchObject({
      code: 'rate_limited',
      transient: true,
      details: { status: 429, retryAfterSeconds: 30 },
    });
    answer = { status: 400, delayMs: 0 };
    const rejected = await failure(channels.send(h.deps, development, 'webhook', { payload: {} }, { deliveryId: 'd400' }));
    expect(rejected).toMatchObject({ code: 'rejected', transient: false, details: { status: 400 } });
    // The URL's query may hold a token: messages name the origin only.
    expect(rejected.message).not.toContain('token=abc');
  });

  it('a receiver slower than timeoutMs is a transient timeout', async () => {
    answer = { status: 200, delayMs: 1500 };
    await putSetting('development', 'channel.webhook', { url, signingSecret: 'WEBHOOK_SECRET', timeoutMs: 200 });
    const started = Date.now();
    const error = await failure(channels.send(h.deps, await environment('development'), 'webhook', { payload: {} }, { deliveryId: 'slow' }));
    expect(error).toMatchObject({ code: 'timeout', transient: true });
    expect(Date.now() - started).toBeLessThan(1400);
    await putSetting('development', 'channel.webhook', { url, signingSecret: 'WEBHOOK_SECRET' });
  });

  it('a closed port is transient', async () => {
    await putSetting('staging', 'channel.webhook', { url: `http://127.0.0.1:${await closedPort()}/hook`, signingSecret: 'WEBHOOK_SECRET' });
    await putSecret('staging', 'WEBHOOK_SECRET', 'whsec_staging');
    const error = await failure(channels.send(h.deps, await environment('staging'), 'webhook', { payload: {} }, { deliveryId: 'closed-port' }));
    expect(error).toMatchObject({ channel: 'webhook', code: 'unavailable', transient: true });
  });

  it('a missing setting is permanent', async () => {
    const error = await failure(channels.send(h.deps, await environment('production'), 'webhook', { payload: {} }, { deliveryId: 'unset' }));
    expect(error).toMatchObject({ code: 'channel_not_configured', transient: false, details: { setting: 'channel.webhook' } });
  });
});

describe('in-app feed', () => {
  let devKey: string;
  let devPublishable: string;
  let prodKey: string;
  const ids: string[] = [];

  async function post(key: string | null, path: string) {
    const response = await h.app.inject({ method: 'POST', url: path, headers: key ? { authorization: `Bearer ${key}` } : {} });
    return { status: response.statusCode, body: JSON.parse(response.body) };
  }

  beforeAll(async () => {
    devKey = await createApiKey(h, 'development');
    devPublishable = await createApiKey(h, 'development', 'publishable');
    prodKey = await createApiKey(h, 'production');
    const development = await environment('development');
    const start = Date.parse('2030-01-01T00:00:00.000Z');
    for (let i = 1; i <= 3; i++) {
      const deps = { ...h.deps, now: () => new Date(start + i * 1000) };
      const result = await channels.send(deps, development, 'in_app', { recipient: 'user 1', title: `T${i}`, body: `message ${i}`, data: { n: i } }, { deliveryId: `feed-${i}`, runId: 'run_1' });
      expect(result.channel).toBe('in_app');
      ids.push(result.messageId);
    }
  });

  it('lists a recipient’s messages newest first with the unread count', async () => {
    const res = await runtimeCall(h, devKey, '/v1/feeds/user%201');
    expect(res.status).toBe(200);
    expect(res.body.data.map((m: any) => m.content.body)).toEqual(['message 3', 'message 2', 'message 1']);
    expect(res.body.data[0]).toEqual({ id: ids[2], recipient: 'user 1', content: { title: 'T3', body: 'message 3', data: { n: 3 } }, createdAt: '2030-01-01T00:00:03.000Z', readAt: null });
    expect(res.body).toMatchObject({ next: null, unread: 3 });
  });

  it('pages with a cursor', async () => {
    const first = await runtimeCall(h, devKey, '/v1/feeds/user%201?limit=2');
    expect(first.body.data.map((m: any) => m.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.next).toEqual(expect.any(String));
    const second = await runtimeCall(h, devKey, `/v1/feeds/user%201?limit=2&cursor=${first.body.next}`);
    expect(second.body.data.map((m: any) => m.id)).toEqual([ids[0]]);
    expect(second.body.next).toBeNull();
    const bad = await runtimeCall(h, devKey, '/v1/feeds/user%201?cursor=bm9wZQ');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('cursor');
  });

  it('the same delivery stores its message once', async () => {
    const again = await channels.send(h.deps, await environment('development'), 'in_app', { recipient: 'user 1', body: 'message 1' }, { deliveryId: 'feed-1' });
    expect(again.messageId).toBe(ids[0]);
    expect((await runtimeCall(h, devKey, '/v1/feeds/user%201')).body.data).toHaveLength(3);
  });

  it('a key of another environment sees nothing of the feed and cannot mark it read', async () => {
    const res = await runtimeCall(h, prodKey, '/v1/feeds/user%201');
    expect(res.body).toEqual({ data: [], next: null, unread: 0 });
    expect((await post(prodKey, `/v1/feeds/user%201/messages/${ids[1]}/read`)).status).toBe(404);
    expect((await post(prodKey, '/v1/feeds/user%201/read-all')).body).toEqual({ updated: 0, unread: 0 });
    expect((await runtimeCall(h, devKey, '/v1/feeds/user%201')).body.unread).toBe(3);
  });

  it('marks one message read, filters by unread, and marks all read', async () => {
    const marked = await post(devPublishable, `/v1/feeds/user%201/messages/${ids[1]}/read`);
    expect(marked.status).toBe(200);
    expect(marked.body).toMatchObject({ id: ids[1], readAt: expect.any(String) });
    const unread = await runtimeCall(h, devPublishable, '/v1/feeds/user%201?unread=true');
    expect(unread.body.data.map((m: any) => m.id)).toEqual([ids[2], ids[0]]);
    expect(unread.body.unread).toBe(2);
    expect((await runtimeCall(h, devKey, '/v1/feeds/user%201?unread=false')).body.data.map((m: any) => m.id)).toEqual([ids[1]]);
    // Marking again keeps the first read time.
    expect((await post(devKey, `/v1/feeds/user%201/messages/${ids[1]}/read`)).body.readAt).toBe(marked.body.readAt);
    expect((await post(devKey, '/v1/feeds/user%201/read-all')).body).toEqual({ updated: 2, unread: 0 });
    expect((await runtimeCall(h, devKey, '/v1/feeds/user%201')).body.unread).toBe(0);
  });

  it('needs an API key', async () => {
    expect((await runtimeCall(h, 'nope', '/v1/feeds/user%201')).status).toBe(401);
    expect((await post(null, '/v1/feeds/user%201/read-all')).status).toBe(401);
  });

  it('a disabled in-app channel is permanent and stores nothing', async () => {
    await putSetting('staging', 'channel.in_app', { enabled: false });
    const error = await failure(channels.send(h.deps, await environment('staging'), 'in_app', { recipient: 'user 1', body: 'x' }, { deliveryId: 'disabled' }));
    expect(error).toMatchObject({ channel: 'in_app', code: 'channel_disabled', transient: false });
    const stagingKey = await createApiKey(h, 'staging');
    expect((await runtimeCall(h, stagingKey, '/v1/feeds/user%201')).body.data).toEqual([]);
  });

  it('is described in the OpenAPI document', async () => {
    const doc = (await h.call('GET', '/api/openapi.json')).body;
    expect(doc.paths['/v1/feeds/{recipient}'].get.tags).toEqual(['feeds']);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/feeds/{recipient}/messages/{id}/read', '/v1/feeds/{recipient}/read-all']));
  });
});
