// The egress policy against real local listeners: every loopback form a URL can take is refused
// in production, reached in development, and reached in production once `egress` allows it;
// link-local and metadata addresses are refused before any socket exists; the node's own
// listener is refused everywhere; workflow deliveries refused by the policy fail for good.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { commitDrafts, createApiKey, createTestDatabase, eventually, promote, startHarness, TEST_DB, TEST_MASTER_KEY, WS, type Harness } from './support.js';

const FAST = { pollIntervalMs: 30, leaseMs: 5000, retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 60 } };

let h: Harness;
let v4: Server;
let v6: Server;
let port4 = 0;
let port6 = 0;
const hits: { server: string; path: string }[] = [];
const mails: string[] = [];
let smtp: SMTPServer;
let smtpPort = 0;
const keys = { dev: '', prod: '' };

function upstream(name: string) {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    hits.push({ server: name, path: req.url ?? '' });
    if (req.url === '/redirect') {
      res.writeHead(302, { location: `http://127.0.0.1:${port4}/redirected`, connection: 'close' }).end();
      return;
    }
    // Every answer closes its connection, so each call opens (and checks) a new one.
    res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify({ internal: name }));
  });
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

/** Names this test makes up; everything else goes to the system resolver (only `localhost` is asked). */
const names: Record<string, string[][]> = {};
async function resolve(host: string): Promise<string[]> {
  const answers = names[host];
  if (answers) return answers.length > 1 ? answers.shift()! : answers[0]!;
  const { lookup } = await import('node:dns/promises');
  return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
}

const LOOPBACK_FORMS = (): Record<string, string> => ({
  'v4': `http://127.0.0.1:${port4}/`,
  'v6': `http://[::1]:${port6}/`,
  'zero': `http://0.0.0.0:${port4}/`,
  'decimal': `http://2130706433:${port4}/`,
  'hex': `http://0x7f.1:${port4}/`,
  'octal': `http://017700000001:${port4}/`,
  'mapped': `http://[::ffff:127.0.0.1]:${port4}/`,
});

const NO_TRAFFIC = {
  'metadata': 'http://169.254.169.254/latest/meta-data/',
  'metadata-mapped': 'http://[::ffff:169.254.169.254]/latest/meta-data/',
  'metadata-v6': 'http://[fd00:ec2::254]/latest/meta-data/',
  'metadata-alibaba': 'http://100.100.100.200/latest/meta-data/',
  'metadata-name': 'http://metadata.google.internal/computeMetadata/v1/',
  'link-local': 'http://169.254.7.7/',
  'link-local-v6': 'http://[fe80::1]/',
  'resolves-metadata': 'http://rebound.example.test/',
};

async function setEgress(env: string, value: unknown) {
  const res = value === null ? await h.call('DELETE', `${WS}/environments/${env}/settings/egress`) : await h.call('PUT', `${WS}/environments/${env}/settings/egress`, { value });
  expect(res.status).toBe(value === null ? 204 : 200);
}

async function invoke(key: string, tool: string) {
  const res = await h.app.inject({ method: 'POST', url: `/v1/tools/${tool}/invoke`, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: '{}' });
  return { status: res.statusCode, body: JSON.parse(res.body) };
}

beforeAll(async () => {
  v4 = upstream('v4');
  v6 = upstream('v6');
  port4 = await listen(v4, '127.0.0.1');
  port6 = await listen(v6, '::1');
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
      stream.on('end', () => {
        mails.push(raw);
        callback();
      });
    },
  });
  await new Promise<void>((done) => smtp.listen(0, '127.0.0.1', done));
  smtpPort = (smtp.server.address() as AddressInfo).port;
  names['rebound.example.test'] = [['169.254.169.254']];

  h = await startHarness({ resolve, workflows: FAST });
  keys.dev = await createApiKey(h, 'development');
  keys.prod = await createApiKey(h, 'production');
  const tools: Record<string, unknown> = {};
  for (const [name, url] of Object.entries({ ...LOOPBACK_FORMS(), ...NO_TRAFFIC })) tools[`tool/${name}`] = { method: 'GET', url, timeoutMs: 3000 };
  tools['tool/localhost'] = { method: 'GET', url: `http://localhost:${port4}/`, timeoutMs: 3000 };
  tools['tool/internal-name'] = { method: 'GET', url: `http://api.internal.test:${port4}/`, timeoutMs: 3000 };
  tools['tool/moving'] = { method: 'GET', url: `http://moving.example.test:${port4}/`, timeoutMs: 3000 };
  tools['tool/redirect'] = { method: 'GET', url: `http://127.0.0.1:${port4}/redirect`, timeoutMs: 3000 };
  tools['workflow/hook'] = { name: 'Hook', steps: [{ type: 'channel', channel: 'webhook', template: { body: { n: '{{ data.n }}' } } }] };
  tools['workflow/mail'] = { name: 'Mail', steps: [{ type: 'channel', channel: 'email', template: { subject: 'Hello', text: 'Hi' } }] };
  await commitDrafts(h, tools);
  expect((await promote(h, 'production')).status).toBe(201);
  for (const env of ['development', 'production']) {
    expect((await h.call('PUT', `${WS}/environments/${env}/secrets/WEBHOOK_SECRET`, { value: 'whsec_0123456789abcdef' })).status).toBe(200);
    expect((await h.call('PUT', `${WS}/environments/${env}/settings/channel.webhook`, { value: { url: `http://127.0.0.1:${port4}/hook`, signingSecret: 'WEBHOOK_SECRET', timeoutMs: 2000 } })).status).toBe(200);
    expect((await h.call('PUT', `${WS}/environments/${env}/settings/channel.email`, { value: { host: 'localhost', port: smtpPort, secure: false, from: 'hello@example.com', timeoutMs: 2000 } })).status).toBe(200);
  }
});

afterAll(async () => {
  await h?.close();
  for (const server of [v4, v6]) {
    server?.closeAllConnections();
    await new Promise((done) => server?.close(done));
  }
  await new Promise<void>((done) => (smtp ? smtp.close(() => done()) : done()));
});

afterEach(() => vi.restoreAllMocks());

describe('loopback forms', () => {
  it.each(Object.keys(LOOPBACK_FORMS()))('%s is refused in production with 403 egress_denied naming the host, and nothing reaches the listener', async (form) => {
    const before = hits.length;
    const res = await invoke(keys.prod, form);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('egress_denied');
    const host = new URL(LOOPBACK_FORMS()[form]!).hostname.replace(/^\[|\]$/g, '');
    expect(res.body.error.message).toContain(`egress to ${host}`);
    expect(res.body.error.message).toContain('production');
    expect(JSON.stringify(res.body)).not.toContain('"internal":');
    expect(hits.length).toBe(before);
  });

  it.each(Object.keys(LOOPBACK_FORMS()))('%s is reached in development and its body answered', async (form) => {
    const before = hits.length;
    const res = await invoke(keys.dev, form);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 200, body: { internal: form === 'v6' ? 'v6' : 'v4' } });
    expect(hits.length).toBe(before + 1);
  });

  it('every form is reached in production once egress.allow names loopback, and refused again once it no longer does', async () => {
    await setEgress('production', { allow: ['127.0.0.1', '::1', '0.0.0.0'] });
    try {
      for (const form of Object.keys(LOOPBACK_FORMS())) {
        const res = await invoke(keys.prod, form);
        expect({ form, status: res.status, body: res.body.body }).toEqual({ form, status: 200, body: { internal: form === 'v6' ? 'v6' : 'v4' } });
      }
    } finally {
      await setEgress('production', null);
    }
    // The policy changed: connections of the allowing policy are not reused.
    expect((await invoke(keys.prod, 'v4')).body.error.code).toBe('egress_denied');
  });

  it('a host name that resolves to loopback is refused in production: the check is on the resolved address', async () => {
    const res = await invoke(keys.prod, 'localhost');
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: 'egress_denied', message: expect.stringContaining('egress to localhost (127.0.0.1) is denied in production: 127.0.0.1 is a loopback address') });
    names['api.internal.test'] = [['127.0.0.1']];
    expect((await invoke(keys.prod, 'internal-name')).body.error.message).toContain('egress to api.internal.test (127.0.0.1)');
    expect((await invoke(keys.dev, 'internal-name')).status).toBe(200);
  });

  it('a name is resolved and checked on every connection, so a new answer cannot slip past an earlier check', async () => {
    await setEgress('production', { allow: ['127.0.0.1'] });
    try {
      names['moving.example.test'] = [['127.0.0.1'], ['::ffff:127.0.0.2'], ['127.0.0.1', '10.1.2.3']];
      expect((await invoke(keys.prod, 'moving')).status).toBe(200);
      const moved = await invoke(keys.prod, 'moving');
      expect(moved.body.error).toMatchObject({ code: 'egress_denied', message: expect.stringContaining('moving.example.test (::ffff:127.0.0.2)') });
      // One denied address among the answers refuses the name.
      expect((await invoke(keys.prod, 'moving')).body.error.message).toContain('moving.example.test (10.1.2.3)');
    } finally {
      await setEgress('production', null);
    }
  });

  it('a redirect is answered as it came, not followed', async () => {
    const before = hits.length;
    const res = await invoke(keys.dev, 'redirect');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 302, headers: { location: `http://127.0.0.1:${port4}/redirected` } });
    expect(hits.slice(before).map((x) => x.path)).toEqual(['/redirect']);
  });
});

describe('link-local and metadata addresses', () => {
  it.each(Object.keys(NO_TRAFFIC))('%s is refused in development and production before any socket is opened', async (tool) => {
    const connects = vi.spyOn(net, 'connect');
    const tlsConnects = vi.spyOn(tls, 'connect');
    // The spies see connections: a call to the loopback upstream is one.
    expect((await invoke(keys.dev, 'v4')).status).toBe(200);
    expect(connects).toHaveBeenCalled();
    connects.mockClear();
    for (const key of [keys.dev, keys.prod]) {
      const res = await invoke(key, tool);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('egress_denied');
    }
    expect(connects).not.toHaveBeenCalled();
    expect(tlsConnects).not.toHaveBeenCalled();
  });

  it('the metadata address stays refused when all of link-local is allowed, and is reached only when named', async () => {
    await setEgress('development', { allow: ['169.254.0.0/16', '0.0.0.0/0'] });
    try {
      const res = await invoke(keys.dev, 'metadata');
      expect(res.body.error.message).toContain('169.254.169.254 is a cloud metadata address (169.254.169.254/32)');
    } finally {
      await setEgress('development', null);
    }
  });
});

describe('the egress setting', () => {
  it.each([
    [{ allow: ['10.0.0.0/33'] }, 'value.allow.0', 'prefix length'],
    [{ deny: ['10.0.0.0/8', '2130706433'] }, 'value.deny.1', 'CIDR'],
    [{ allow: ['10.0.0.1/8'] }, 'value.allow.0', 'the range is 10.0.0.0/8'],
    [{ allow: ['fd00::/129'] }, 'value.allow.0', 'prefix length'],
    [{ allow: 'x' }, 'value.allow', ''],
    [{ allowed: [] }, 'value.allowed', 'unknown field'],
  ])('%j is 400 naming %s', async (value, field, message) => {
    const res = await h.call('PUT', `${WS}/environments/production/settings/egress`, { value });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details).toEqual([expect.objectContaining({ field, message: expect.stringContaining(message) })]);
  });

  it('a deny entry refuses in development what the defaults allow', async () => {
    await setEgress('development', { allow: ['127.0.0.1'], deny: ['127.0.0.0/8'] });
    try {
      const res = await invoke(keys.dev, 'v4');
      expect(res.body.error).toMatchObject({ code: 'egress_denied', message: expect.stringContaining('matches "127.0.0.0/8" in egress.deny') });
    } finally {
      await setEgress('development', null);
    }
    expect((await invoke(keys.dev, 'v4')).status).toBe(200);
  });
});

describe('workflow deliveries', () => {
  async function run(key: string, workflow: string) {
    const triggered = await h.app.inject({
      method: 'POST',
      url: `/v1/workflows/${workflow}/trigger`,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ recipients: [{ id: 'r1', email: 'r1@example.com' }], data: { n: workflow } }),
    });
    expect(triggered.statusCode).toBe(202);
    const id = JSON.parse(triggered.body).runId;
    let body: any;
    await eventually(async () => {
      const res = await h.app.inject({ method: 'GET', url: `/v1/workflow-runs/${id}`, headers: { authorization: `Bearer ${key}` } });
      body = JSON.parse(res.body);
      expect(['completed', 'failed']).toContain(body.status);
    });
    return body;
  }

  it.each(['hook', 'mail'])('a %s step refused by the policy is a permanent failure with egress_denied, and nothing is sent', async (workflow) => {
    const before = { hits: hits.length, mails: mails.length };
    const refused = await run(keys.prod, workflow);
    expect(refused.status).toBe('failed');
    expect(refused.steps[0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect(refused.steps[0].error).toMatch(/^egress_denied: .*egress to (127\.0\.0\.1|localhost \(127\.0\.0\.1\)) is denied in production/);
    expect({ hits: hits.length, mails: mails.length }).toEqual(before);
    // The same step reaches its receiver from development.
    const sent = await run(keys.dev, workflow);
    expect(sent.status).toBe('completed');
    expect(workflow === 'hook' ? hits.length : mails.length).toBe((workflow === 'hook' ? before.hits : before.mails) + 1);
  });
});

describe("the node's own listener", () => {
  it('is refused in development, even where egress.allow names its address', async () => {
    const database = await createTestDatabase();
    const dataDir = mkdtempSync(join(tmpdir(), 'stageline-egress-'));
    const token = 'egress-test-bootstrap-token-0123456789';
    const server = await startServer(
      loadConfig({
        STAGELINE_PORT: '0',
        STAGELINE_HOST: '127.0.0.1',
        STAGELINE_LOG_LEVEL: 'silent',
        STAGELINE_DATA_DIR: dataDir,
        STAGELINE_DATABASE_URL: database.url,
        STAGELINE_BOOTSTRAP_TOKEN: token,
        STAGELINE_BRANCH_SWEEP_SECONDS: '0',
        ...(TEST_DB === 'postgres' ? { STAGELINE_MASTER_KEY: TEST_MASTER_KEY } : {}),
      }),
    );
    try {
      const api = async (method: string, path: string, body?: unknown, bearer = token) => {
        const res = await fetch(`${server.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
        return { status: res.status, body: (await res.json()) as any };
      };
      const own = new URL(server.url);
      expect((await api('PUT', `${WS}/environments/development/resources/tool/self`, { content: { method: 'GET', url: `${server.url}/healthz` } })).status).toBe(200);
      expect((await api('POST', `${WS}/environments/development/commits`, { message: 'self' })).status).toBe(201);
      const key = (await api('POST', `${WS}/environments/development/api-keys`, { name: 'dev', kind: 'secret' })).body.key;
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      for (const allow of [undefined, ['127.0.0.1']]) {
        if (allow) expect((await api('PUT', `${WS}/environments/development/settings/egress`, { value: { allow } })).status).toBe(200);
        const res = await api('POST', '/v1/tools/self/invoke', { input: {} }, key);
        expect(res.status).toBe(403);
        expect(res.body.error).toMatchObject({ code: 'egress_denied', message: expect.stringContaining(`127.0.0.1:${own.port} is a listener of this Stageline node`) });
      }
    } finally {
      await server.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
