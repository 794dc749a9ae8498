// Recipient preferences and one-click unsubscribe, end to end: the runtime and members' APIs, the
// workflow engine consulting preferences at delivery time with a real SMTP server, `required`
// steps, and the signed, environment-bound List-Unsubscribe link (RFC 8058) on any node.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, createApiKey, eventually, memberToken, promote, startHarness, WS, type Harness } from './support.js';

const PUBLIC_URL = 'https://stageline.example.test';
const FAST = { pollIntervalMs: 40, leaseMs: 5000, retry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 40 }, publicUrl: PUBLIC_URL };

interface Mail {
  to: string[];
  raw: string;
}
const mails: Mail[] = [];
let smtp: SMTPServer;
let h: Harness;
const keys = { dev: '', prod: '', devPublishable: '' };

async function runtime(key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await h.app.inject({
    method: method as 'GET',
    url: path,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

const put = (key: string, recipient: string, preferences: unknown) => runtime(key, 'PUT', `/v1/recipients/${encodeURIComponent(recipient)}/preferences`, preferences);
const get = (key: string, recipient: string) => runtime(key, 'GET', `/v1/recipients/${encodeURIComponent(recipient)}/preferences`);

async function setting(env: string, name: string, value: unknown) {
  expect((await h.call('PUT', `${WS}/environments/${env}/settings/${name}`, { value })).status).toBe(200);
}

/** Triggers `workflow` for one inline recipient and waits for the run to end; answers the run. */
async function run(key: string, workflow: string, recipient: string): Promise<any> {
  const res = await runtime(key, 'POST', `/v1/workflows/${workflow}/trigger`, { recipients: [{ id: recipient, email: `${recipient}@example.com` }] });
  expect(res.status).toBe(202);
  let view: any;
  await eventually(async () => {
    view = (await runtime(key, 'GET', `/v1/workflow-runs/${res.body.runId}`)).body;
    expect(['completed', 'failed']).toContain(view.status);
  }, 10_000);
  return view;
}

const statuses = (view: any) => view.steps.map((s: any) => `${s.type}:${s.status}`);
const mailTo = (recipient: string) => mails.filter((m) => m.to.includes(`${recipient}@example.com`));

/** The one-click link of the newest email to `recipient`. */
function linkOf(recipient: string): string {
  const mail = mailTo(recipient).at(-1)!;
  const header = /^List-Unsubscribe: <([^>]+)>/im.exec(mail.raw.replace(/\r\n[ \t]+/g, ' '));
  expect(header, 'a List-Unsubscribe header').not.toBeNull();
  return header![1]!;
}

const pathOf = (link: string) => {
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
};

async function oneClick(path: string, payload = 'List-Unsubscribe=One-Click', on: Harness = h) {
  const res = await on.app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

beforeAll(async () => {
  smtp = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  h = await startHarness({ workflows: FAST });
  await setting('production', 'egress', { allow: ['127.0.0.1'] });
  for (const env of ['development', 'production']) {
    await setting(env, 'channel.email', { host: '127.0.0.1', port: (smtp.server.address() as AddressInfo).port, secure: false, from: `Acme <${env}@example.com>`, timeoutMs: 5000 });
  }
  keys.dev = await createApiKey(h, 'development', 'secret');
  keys.prod = await createApiKey(h, 'production', 'secret');
  keys.devPublishable = await createApiKey(h, 'development', 'publishable');
  const email = { type: 'channel', channel: 'email', template: { subject: 'News', text: 'Hello' } };
  await commitDrafts(h, {
    'workflow/digest': { name: 'Digest', steps: [email, { type: 'channel', channel: 'in_app', template: { body: 'News' } }] },
    'workflow/reset': { name: 'Password reset', steps: [{ ...email, required: true, template: { subject: 'Reset', text: 'Your code' } }] },
    'workflow/later': { name: 'Later', steps: [{ type: 'delay', seconds: 1 }, email] },
    'workflow/constructor': { name: 'Named like a prototype member', steps: [email] },
  });
  expect((await promote(h, 'production')).status).toBe(201);
});

afterAll(async () => {
  await h?.close();
  await new Promise<void>((resolve) => smtp?.close(() => resolve()));
});

describe('the preferences API', () => {
  it('reads and replaces a set with a secret key, counts versions and records each write as activity', async () => {
    expect((await get(keys.dev, 'ana')).body).toEqual({ recipient: 'ana', preferences: {}, version: 0, updatedAt: null });
    const set = { channels: { in_app: false }, workflows: { digest: { channels: { email: false } }, reset: true } };
    const written = await put(keys.dev, 'ana', set);
    expect(written.status).toBe(200);
    expect(written.body).toMatchObject({ recipient: 'ana', preferences: set, version: 1 });
    expect((await put(keys.dev, 'ana', {})).body.version).toBe(2);
    expect((await get(keys.dev, 'ana')).body.preferences).toEqual({});
    const activity = (await h.call('GET', `${WS}/activity?action=preferences.put&limit=50`)).body.data;
    expect(activity.filter((e: any) => e.target === 'recipient/ana')).toHaveLength(2);
    expect(activity[0]).toMatchObject({ environment: 'development', actor: { kind: 'api_key' } });
    // Each environment keeps its own.
    expect((await get(keys.prod, 'ana')).body.version).toBe(0);
  });

  it('refuses a bad set with 400 naming the field; prototype names are plain workflow keys or refused', async () => {
    const bad = await put(keys.dev, 'ana', { channels: { email: 'no' } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.error.details)).toContain('channels');
    expect((await put(keys.dev, 'ana', { channelTypes: {} })).status).toBe(400);
    const proto = await h.app.inject({
      method: 'PUT',
      url: '/v1/recipients/ana/preferences',
      headers: { authorization: `Bearer ${keys.dev}`, 'content-type': 'application/json' },
      payload: '{"workflows":{"__proto__":false}}',
    });
    // The JSON parser refuses a __proto__ key anywhere, before validation.
    expect(proto.statusCode).toBe(400);
    expect(JSON.parse(proto.body).error.code).toBe('invalid_json');
  });

  it('a publishable key without the recipient token can neither read nor change preferences, even in development', async () => {
    expect((await get(keys.devPublishable, 'bea')).status).toBe(401);
    expect((await put(keys.devPublishable, 'bea', { channels: { email: false } })).status).toBe(401);
    const token = (await runtime(keys.dev, 'POST', '/v1/recipient-tokens', { recipient: 'bea' })).body.token;
    const headers = { 'x-stageline-recipient-token': token };
    expect((await runtime(keys.devPublishable, 'PUT', '/v1/recipients/bea/preferences', { channels: { email: false } }, headers)).status).toBe(200);
    expect((await runtime(keys.devPublishable, 'GET', '/v1/recipients/bea/preferences', undefined, headers)).body.preferences).toEqual({ channels: { email: false } });
    // Bea's token is not Cid's.
    expect((await runtime(keys.devPublishable, 'GET', '/v1/recipients/cid/preferences', undefined, headers)).status).toBe(401);
  });

  it('members read with data.read (the defaults beside) and edit with preferences.write, audited; a viewer cannot', async () => {
    await setting('development', 'preferences', { defaults: { channels: { webhook: false } } });
    const support = await memberToken(h, 'support@example.com', 'support');
    const viewer = await memberToken(h, 'viewer@example.com', 'viewer');
    const path = `${WS}/environments/development/recipients/dora/preferences`;
    expect((await h.call('GET', path, undefined, viewer)).status).toBe(403);
    expect((await h.call('PUT', path, { channels: { email: false } }, viewer)).status).toBe(403);
    const written = await h.call('PUT', path, { channels: { email: false } }, support);
    expect(written.status).toBe(200);
    const read = await h.call('GET', path, undefined, support);
    expect(read.body).toMatchObject({ recipient: 'dora', environment: 'development', preferences: { channels: { email: false } }, defaults: { channels: { webhook: false } }, version: 1 });
    const audit = (await h.call('GET', `${WS}/audit-log?action=preferences.put`)).body.data;
    expect(audit[0]).toMatchObject({ action: 'preferences.put', target: 'recipient/dora', environment: 'development' });
    expect((await get(keys.dev, 'dora')).body.preferences).toEqual({ channels: { email: false } });
    await setting('development', 'preferences', {});
  });
});

describe('workflows respect preferences', () => {
  it('per channel, per workflow and per workflow × channel: the most specific rule wins', async () => {
    await put(keys.prod, 'p1', { channels: { email: false } });
    let view = await run(keys.prod, 'digest', 'p1');
    expect(statuses(view)).toEqual(['channel:email:skipped', 'channel:in_app:completed']);
    expect(view.steps[0].detail).toBe("not sent: the recipient opted out (the recipient's rule channels.email)");
    expect(mailTo('p1')).toHaveLength(0);

    await put(keys.prod, 'p1', { channels: { email: false }, workflows: { digest: { channels: { email: true } } } });
    view = await run(keys.prod, 'digest', 'p1');
    expect(statuses(view)).toEqual(['channel:email:completed', 'channel:in_app:completed']);
    expect(mailTo('p1')).toHaveLength(1);

    await put(keys.prod, 'p1', { workflows: { digest: false } });
    view = await run(keys.prod, 'digest', 'p1');
    expect(statuses(view)).toEqual(['channel:email:skipped', 'channel:in_app:skipped']);
    expect(view.steps[1].detail).toContain('workflows.digest)');
    expect(view.status).toBe('completed');

    // A workflow named like a prototype member is a key like any other.
    await put(keys.prod, 'p1', { workflows: { constructor: false } });
    expect(statuses(await run(keys.prod, 'constructor', 'p1'))).toEqual(['channel:email:skipped']);
    expect(statuses(await run(keys.prod, 'digest', 'p1'))).toEqual(['channel:email:completed', 'channel:in_app:completed']);
  });

  it("the environment's defaults apply beneath, and a recipient's own rule at the same level wins over them", async () => {
    await setting('production', 'preferences', { defaults: { channels: { in_app: false }, workflows: { digest: { channels: { email: false } } } } });
    let view = await run(keys.prod, 'digest', 'p2');
    expect(statuses(view)).toEqual(['channel:email:skipped', 'channel:in_app:skipped']);
    expect(view.steps[0].detail).toBe("not sent: the recipient opted out (the environment's default rule workflows.digest.channels.email)");
    await put(keys.prod, 'p2', { channels: { in_app: true }, workflows: { digest: { channels: { email: true } } } });
    view = await run(keys.prod, 'digest', 'p2');
    expect(statuses(view)).toEqual(['channel:email:completed', 'channel:in_app:completed']);
    // The recipient's own choice beats a default, even a more specific one.
    await put(keys.prod, 'p2', { channels: { email: true } });
    expect(statuses(await run(keys.prod, 'digest', 'p2'))[0]).toBe('channel:email:completed');
    await setting('production', 'preferences', {});
  });

  it('a delayed step reads preferences when it runs: an opt-out made after the trigger counts', async () => {
    const res = await runtime(keys.prod, 'POST', '/v1/workflows/later/trigger', { recipients: [{ id: 'p3', email: 'p3@example.com' }] });
    expect(res.status).toBe(202);
    expect((await put(keys.prod, 'p3', { workflows: { later: { channels: { email: false } } } })).status).toBe(200);
    let view: any;
    await eventually(async () => {
      view = (await runtime(keys.prod, 'GET', `/v1/workflow-runs/${res.body.runId}`)).body;
      expect(view.status).toBe('completed');
    }, 10_000);
    expect(statuses(view)).toEqual(['delay:completed', 'channel:email:skipped']);
    expect(mailTo('p3')).toHaveLength(0);
  });

  it('a required step is sent despite an opt-out, and its log says so', async () => {
    await put(keys.prod, 'p4', { channels: { email: false }, workflows: { reset: false } });
    const view = await run(keys.prod, 'reset', 'p4');
    expect(statuses(view)).toEqual(['channel:email:completed']);
    expect(view.steps[0].detail).toMatch(/^required step, sent although the recipient opted out \(the recipient's rule workflows\.reset\)/);
    expect(mailTo('p4')).toHaveLength(1);
  });
});

describe('one-click unsubscribe', () => {
  it('every email carries a signed List-Unsubscribe link with List-Unsubscribe-Post; the POST opts out of that workflow’s email, recorded', async () => {
    await run(keys.prod, 'digest', 'u1');
    const mail = mailTo('u1')[0]!;
    expect(mail.raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$/m);
    const link = linkOf('u1');
    expect(link.startsWith(`${PUBLIC_URL}/unsubscribe?token=u1.`)).toBe(true);
    const path = pathOf(link);

    // GET shows a page and changes nothing (scanners follow links).
    const page = await h.app.inject({ method: 'GET', url: path });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('email from “digest”');
    expect((await get(keys.prod, 'u1')).body.version).toBe(0);

    expect((await oneClick(path, '')).status).toBe(400);
    const done = await oneClick(path);
    expect(done).toEqual({ status: 200, body: { unsubscribed: true, workflow: 'digest', scope: 'workflow' } });
    expect((await get(keys.prod, 'u1')).body.preferences).toEqual({ workflows: { digest: { channels: { email: false } } } });
    expect(statuses(await run(keys.prod, 'digest', 'u1'))).toEqual(['channel:email:skipped', 'channel:in_app:completed']);
    // Again: nothing more changes.
    expect((await oneClick(path)).status).toBe(200);
    expect((await get(keys.prod, 'u1')).body.preferences).toEqual({ workflows: { digest: { channels: { email: false } } } });

    const activity = (await h.call('GET', `${WS}/activity?action=preferences.unsubscribe`)).body.data;
    expect(activity[0]).toMatchObject({ environment: 'production', actor: { kind: 'recipient', id: 'u1' }, target: 'recipient/u1', details: { workflow: 'digest', scope: 'workflow' } });
  });

  it('with the setting, it opts out of every email, over any email opt-in of the recipient and the defaults; a multipart body works too', async () => {
    await setting('production', 'preferences', { unsubscribe: 'email', defaults: { workflows: { constructor: { channels: { email: true } } } } });
    await put(keys.prod, 'u2', { workflows: { digest: true } });
    await run(keys.prod, 'digest', 'u2');
    const path = pathOf(linkOf('u2'));
    const boundary = 'b0undary';
    const res = await h.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`,
    });
    expect(res.statusCode).toBe(200);
    expect((await get(keys.prod, 'u2')).body.preferences).toEqual({ channels: { email: false }, workflows: { digest: { channels: { email: false, in_app: true, webhook: true } } } });
    expect(statuses(await run(keys.prod, 'digest', 'u2'))).toEqual(['channel:email:skipped', 'channel:in_app:completed']);
    expect(statuses(await run(keys.prod, 'constructor', 'u2'))).toEqual(['channel:email:skipped']);
    await setting('production', 'preferences', {});
  });

  it('concurrent unsubscribes of one recipient lose none; a write with a stale If-Match is refused', async () => {
    const { findEnvironment } = await import('../src/store/environments.js');
    const { unsubscribeUrl } = await import('../src/services/preferences.js');
    const env = (await findEnvironment(h.store.db, (await h.call('GET', WS)).body.id, 'production'))!;
    const links = Array.from({ length: 8 }, (_, i) => unsubscribeUrl(h.deps, PUBLIC_URL, env, 'u4', `wf-${i}`, null));
    const answers = await Promise.all([...links.map((link) => oneClick(pathOf(link))), put(keys.prod, 'u4-other', { channels: { in_app: false } })]);
    expect(answers.map((a) => a.status)).toEqual(Array(9).fill(200));
    const stored = (await get(keys.prod, 'u4')).body;
    expect(Object.keys(stored.preferences.workflows).sort()).toEqual(links.map((_, i) => `wf-${i}`));
    expect(stored.version).toBe(8);

    const stale = await runtime(keys.prod, 'PUT', '/v1/recipients/u4/preferences', {}, { 'if-match': '"7"' });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'preferences_changed', details: [{ field: 'If-Match' }] });
    const fresh = await h.app.inject({ method: 'GET', url: '/v1/recipients/u4/preferences', headers: { authorization: `Bearer ${keys.prod}` } });
    expect(fresh.headers.etag).toBe('"8"');
    expect((await runtime(keys.prod, 'PUT', '/v1/recipients/u4/preferences', {}, { 'if-match': '"8"' })).status).toBe(200);
    expect((await runtime(keys.prod, 'PUT', '/v1/recipients/u4/preferences', {}, { 'if-match': 'soon' })).status).toBe(400);
  });

  it('bumping preferences.signingKeyVersion revokes the links already sent', async () => {
    await run(keys.prod, 'digest', 'u5');
    const path = pathOf(linkOf('u5'));
    await setting('production', 'preferences', { signingKeyVersion: 2 });
    expect((await oneClick(path)).body.error.code).toBe('invalid_unsubscribe_link');
    await setting('production', 'preferences', {});
    expect((await oneClick(path)).status).toBe(200);
  });

  it('is bound to its environment and cannot be forged; it works on another node of the same database', async () => {
    await run(keys.dev, 'digest', 'u3');
    await run(keys.prod, 'digest', 'u3');
    const [devLink, prodLink] = mailTo('u3').map((m) => /^List-Unsubscribe: <([^>]+)>/im.exec(m.raw.replace(/\r\n[ \t]+/g, ' '))![1]!);
    expect(devLink).not.toBe(prodLink);
    const devPath = pathOf(devLink!);
    const [version, body, signature] = new URL(devLink!).searchParams.get('token')!.split('.') as [string, string, string];

    // A development link acts on development only.
    expect((await oneClick(devPath)).status).toBe(200);
    expect((await get(keys.dev, 'u3')).body.version).toBe(1);
    expect((await get(keys.prod, 'u3')).body.version).toBe(0);

    // Rewritten to name production (or another recipient), its signature no longer holds.
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as string[];
    const prodEnvironmentId = (await h.call('GET', `${WS}/environments/production`)).body.id;
    for (const forged of [
      [claims[0], prodEnvironmentId, claims[2], claims[3]],
      [claims[0], claims[1], 'someone-else', claims[3]],
    ]) {
      const path = `/unsubscribe?token=${version}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${signature}`;
      const res = await oneClick(path);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_unsubscribe_link');
    }
    expect((await oneClick(`/unsubscribe?token=${version}.${body}.${Buffer.alloc(32).toString('base64url')}`)).status).toBe(400);
    expect((await oneClick('/unsubscribe?token=not-a-token')).status).toBe(400);
    expect((await oneClick('/unsubscribe')).status).toBe(400);
    expect((await get(keys.prod, 'u3')).body.version).toBe(0);

    // Any node verifies it: nothing is stored per link.
    const other = await startHarness({ database: h.database, workflows: { start: false } });
    try {
      expect((await oneClick(pathOf(prodLink!), 'List-Unsubscribe=One-Click', other)).status).toBe(200);
    } finally {
      await other.close();
    }
    expect((await get(keys.prod, 'u3')).body.preferences).toEqual({ workflows: { digest: { channels: { email: false } } } });
  });
});
