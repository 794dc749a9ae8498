// One resolver behind every reader: the same resource (an override, a kill switch, a variable and
// a secret a branch inherits from its parent) resolves alike through delivery, a tool invocation,
// a workflow trigger and a test run; a merge made invalid by a later promotion is refused alike;
// the test runner masks recipients' data where the environment obfuscates it.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, createApiKey, eventually, memberToken, promote, startHarness, WS, type Harness } from './support.js';

interface UpstreamCall {
  path: string;
  token: string | undefined;
  mode: string | undefined;
  body: unknown;
}

const calls: UpstreamCall[] = [];
let upstream: Server;
let base = '';
let h: Harness;
let branchKey = '';
let devKey = '';

const PARENT_TOKEN = 'parent-token-0123456789';

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

async function runtime(key: string, method: string, path: string, body?: unknown) {
  const res = await h.app.inject({
    method: method as 'GET',
    url: path,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

async function finished(key: string, runId: string): Promise<any> {
  let run: any;
  await eventually(async () => {
    run = (await runtime(key, 'GET', `/v1/workflow-runs/${runId}`)).body;
    expect(['completed', 'failed']).toContain(run.status);
  }, 10_000);
  return run;
}

/** The upstream calls made by `act`, which must make exactly `count`. */
async function callsOf(count: number, act: () => Promise<void>): Promise<UpstreamCall[]> {
  const before = calls.length;
  await act();
  await eventually(() => expect(calls.length).toBe(before + count));
  return calls.slice(before);
}

beforeAll(async () => {
  upstream = createServer(async (req, res) => {
    const raw = await readBody(req);
    calls.push({ path: req.url ?? '', token: req.headers['x-token'] as string | undefined, mode: req.headers['x-mode'] as string | undefined, body: raw ? JSON.parse(raw) : null });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  h = await startHarness({ workflows: { pollIntervalMs: 40, leaseMs: 5000, retry: { maxAttempts: 1, baseDelayMs: 20, maxDelayMs: 20 } } });
  expect((await h.call('PUT', `${WS}/variables/path`, { value: 'default-path', overrides: { development: 'dev-path' } })).status).toBe(200);
  expect((await h.call('PUT', `${WS}/environments/development/secrets/token`, { value: PARENT_TOKEN })).status).toBe(200);
  await commitDrafts(h, {
    'tool/echo': { method: 'POST', url: `${base}/{{ vars.path }}`, headers: { 'X-Token': '{{ secrets.token }}', 'X-Mode': 'base' }, body: { id: '{{ input.id }}' }, timeoutMs: 2000 },
    'workflow/sync': { name: 'Sync', steps: [{ type: 'tool', tool: 'echo', input: { id: '{{ recipient.id }}' } }] },
    'workflow/hello': {
      name: 'Hello',
      steps: [
        { type: 'channel', channel: 'in_app', template: { body: 'Hi {{ recipient.name }} <{{ recipient.email }}>' } },
        { type: 'tool', tool: 'echo', input: { id: '{{ recipient.email }}' } },
      ],
    },
  });
  // The branch has no value of its own for `path` or `token`: it inherits development's.
  expect((await h.call('POST', `${WS}/environments`, { slug: 'feat', kind: 'branch', from: 'development' })).status).toBe(201);
  expect((await h.call('PUT', `${WS}/environments/feat/resources/tool/echo/override`, { override: { headers: { 'X-Mode': 'override' } } })).status).toBe(200);
  branchKey = await createApiKey(h, 'feat', 'secret');
  devKey = await createApiKey(h, 'development', 'secret');
});

afterAll(async () => {
  await h?.close();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
});

describe('one resolver', () => {
  it('resolves the same tool alike through delivery, tool invoke, workflow trigger and test run', async () => {
    const delivered = await runtime(branchKey, 'GET', '/v1/resources/tool/echo');
    expect(delivered.status).toBe(200);
    expect(delivered.body.content).toMatchObject({ url: `${base}/dev-path`, headers: { 'X-Token': PARENT_TOKEN, 'X-Mode': 'override' }, body: { id: '{{ input.id }}' } });

    const [invoked] = await callsOf(1, async () => {
      expect((await runtime(branchKey, 'POST', '/v1/tools/echo/invoke', { input: { id: 'r1' } })).status).toBe(200);
    });
    const [triggered] = await callsOf(1, async () => {
      const res = await runtime(branchKey, 'POST', '/v1/workflows/sync/trigger', { recipients: [{ id: 'r1' }] });
      expect(res.status).toBe(202);
      expect((await finished(branchKey, res.body.runId)).status).toBe('completed');
    });
    const [tested] = await callsOf(1, async () => {
      const res = await h.call('POST', `${WS}/environments/feat/test-runs`, { workflow: 'sync', recipients: [{ id: 'r1' }] });
      expect(res.status).toBe(200);
      expect(res.body.run.status).toBe('completed');
    });
    const expected = { path: '/dev-path', token: PARENT_TOKEN, mode: 'override', body: { id: 'r1' } };
    expect([invoked, triggered, tested]).toEqual([expected, expected, expected]);
  });

  it("a new value of the parent's secret reaches the branch through every reader at once", async () => {
    const rotated = 'parent-token-rotated-9876543210';
    expect((await h.call('PUT', `${WS}/environments/development/secrets/token`, { value: rotated })).status).toBe(200);
    try {
      expect((await runtime(branchKey, 'GET', '/v1/resources/tool/echo')).body.content.headers['X-Token']).toBe(rotated);
      const [invoked] = await callsOf(1, async () => {
        expect((await runtime(branchKey, 'POST', '/v1/tools/echo/invoke', { input: { id: 'r2' } })).status).toBe(200);
      });
      const [tested] = await callsOf(1, async () => {
        expect((await h.call('POST', `${WS}/environments/feat/test-runs`, { workflow: 'sync', recipients: [{ id: 'r2' }] })).status).toBe(200);
      });
      expect([invoked!.token, tested!.token]).toEqual([rotated, rotated]);
    } finally {
      await h.call('PUT', `${WS}/environments/development/secrets/token`, { value: PARENT_TOKEN });
    }
  });

  it('the kill switch stops the tool alike for every reader, and nothing reaches the upstream', async () => {
    const path = `${WS}/environments/feat/resources/tool/echo/active`;
    expect((await h.call('PUT', path, { active: false })).status).toBe(200);
    try {
      const before = calls.length;
      expect((await runtime(branchKey, 'GET', '/v1/resources/tool/echo')).status).toBe(404);
      const invoked = await runtime(branchKey, 'POST', '/v1/tools/echo/invoke', { input: { id: 'r3' } });
      expect([invoked.status, invoked.body.error.code]).toEqual([409, 'tool_inactive']);
      const res = await runtime(branchKey, 'POST', '/v1/workflows/sync/trigger', { recipients: [{ id: 'r3' }] });
      const run = await finished(branchKey, res.body.runId);
      expect(run.status).toBe('failed');
      expect(run.steps[0].error).toContain('tool_inactive');
      const tested = await h.call('POST', `${WS}/environments/feat/test-runs`, { workflow: 'sync', recipients: [{ id: 'r3' }] });
      expect(tested.body.messages[0].error).toContain('tool_inactive');
      expect(calls.length).toBe(before);
    } finally {
      expect((await h.call('PUT', path, { active: true })).status).toBe(200);
    }
    expect((await runtime(branchKey, 'GET', '/v1/resources/tool/echo')).status).toBe(200);
  });

  it('an override that a promotion makes invalid is refused by delivery with config_invalid, alone and in the list', async () => {
    const prodKey = await createApiKey(h, 'production', 'secret');
    await commitDrafts(h, { 'config/limits': { value: { max: 5 }, schema: { type: 'object', properties: { max: { type: 'number' } } } } });
    expect((await promote(h, 'production', { resources: ['config/limits'] })).status).toBe(201);
    expect((await h.call('PUT', `${WS}/environments/production/resources/config/limits/override`, { override: { value: { max: 10 } } })).status).toBe(200);
    expect((await runtimeCall(prodKey, 'config/limits')).body.content.value).toEqual({ max: 10 });
    // The base now wants a string: production's override no longer makes a valid config.
    await commitDrafts(h, { 'config/limits': { value: { max: 'five' }, schema: { type: 'object', properties: { max: { type: 'string' } } } } });
    expect((await promote(h, 'production', { resources: ['config/limits'] })).status).toBe(201);
    const res = await runtimeCall(prodKey, 'config/limits');
    expect([res.status, res.body.error.code]).toEqual([409, 'config_invalid']);
    expect(res.body.error.details[0]).toMatchObject({ resource: 'config/limits', field: 'content.value.max' });
    const list = await runtime(prodKey, 'GET', '/v1/resources');
    expect(list.body.errors).toEqual([expect.objectContaining({ kind: 'config', key: 'limits', code: 'config_invalid' })]);
  });
});

describe('resolver.resolve', () => {
  it("answers a route as the environment's committed release runs it, override merged, and a switched-off one as inactive", async () => {
    const { findWorkspace } = await import('../src/store/workspaces.js');
    const { findEnvironment } = await import('../src/store/environments.js');
    const workspace = (await findWorkspace(h.store.db, 'default'))!;
    const feat = (await findEnvironment(h.store.db, workspace.id, 'feat'))!;
    const route = { match: { pathPrefix: '/payments' }, upstream: { url: 'https://api.example.com/v1' }, injectHeaders: { Authorization: 'Bearer {{ secrets.token }}' } };
    expect((await h.call('PUT', `${WS}/environments/feat/resources/route/payments`, { content: route })).status).toBe(200);
    expect((await h.call('POST', `${WS}/environments/feat/commits`, { message: 'route' })).status).toBe(201);
    expect((await h.call('PUT', `${WS}/environments/feat/resources/route/payments/override`, { override: { upstream: { url: 'http://localhost:3000' } } })).status).toBe(200);
    const resolved = await h.runtime.resolver.resolve(feat, 'route', 'payments');
    expect(resolved).toMatchObject({ ok: true, resource: { kind: 'route', key: 'payments', content: { ...route, upstream: { url: 'http://localhost:3000' } } } });
    expect((await h.call('PUT', `${WS}/environments/feat/resources/route/payments/active`, { active: false })).status).toBe(200);
    expect(await h.runtime.resolver.resolve(feat, 'route', 'payments')).toMatchObject({ ok: false, failure: { reason: 'inactive', id: 'route/payments' } });
    expect(await h.runtime.resolver.resolve(feat, 'route', 'nowhere')).toMatchObject({ ok: false, failure: { reason: 'missing', version: expect.stringMatching(/^feat#\d+$/) } });
  });
});

async function runtimeCall(key: string, id: string) {
  return runtime(key, 'GET', `/v1/resources/${id}`);
}

describe('the test runner and obfuscated data', () => {
  let developer = '';
  const REAL = { name: 'Ada Lovelace', email: 'ada@example.com' };

  beforeAll(async () => {
    expect((await runtime(devKey, 'PUT', '/v1/data/users/u_ada', REAL)).status).toBe(201);
    developer = await memberToken(h, 'developer@example.com', 'developer');
  });

  const obfuscate = async (on: boolean) => expect((await h.call('PATCH', `${WS}/environments/development`, { obfuscateData: on })).status).toBe(200);
  const testRun = (body: Record<string, unknown>, token?: string) => h.call('POST', `${WS}/environments/development/test-runs`, { workflow: 'hello', recipients: ['u_ada'], ...body }, token);

  it("masks recipients' values for a developer where the environment obfuscates data; the recipient still gets the real message", async () => {
    await obfuscate(true);
    try {
      const [sent] = await callsOf(1, async () => {
        const res = await testRun({}, developer);
        expect(res.status).toBe(200);
        expect(res.body.masked).toBe(true);
        expect(res.body.messages[0].message).toMatchObject({ recipient: 'u_ada', body: 'Hi A*** <a***@e***.com>' });
        expect(res.body.messages[1].message).toEqual({ tool: 'echo', input: { id: 'a***@e***.com' } });
        expect(JSON.stringify(res.body)).not.toContain(REAL.email);
        expect(JSON.stringify(res.body)).not.toContain('Lovelace');
      });
      expect(sent!.body).toEqual({ id: REAL.email });
      const feed = (await runtime(devKey, 'GET', '/v1/feeds/u_ada')).body.data;
      expect(feed[0].content.body).toBe(`Hi ${REAL.name} <${REAL.email}>`);
    } finally {
      await obfuscate(false);
    }
  });

  it('reveal needs data.reveal: 403 for a developer; an owner sees the real values, and the reveal is audited', async () => {
    await obfuscate(true);
    try {
      const refused = await testRun({ reveal: true }, developer);
      expect([refused.status, refused.body.error.code]).toEqual([403, 'forbidden']);
      const ownerMasked = await testRun({});
      expect(ownerMasked.body.masked).toBe(true);
      expect(ownerMasked.body.messages[0].message.body).toBe('Hi A*** <a***@e***.com>');
      const revealed = await testRun({ reveal: true });
      expect(revealed.status).toBe(200);
      expect(revealed.body.masked).toBe(false);
      expect(revealed.body.messages[0].message.body).toBe(`Hi ${REAL.name} <${REAL.email}>`);
      const entries = (await h.call('GET', `${WS}/audit-log?action=data.reveal`)).body.data;
      expect(entries).toEqual([expect.objectContaining({ environment: 'development', target: 'data/users', details: expect.objectContaining({ collection: 'users', ids: ['u_ada'], runId: revealed.body.run.id }) })]);
    } finally {
      await obfuscate(false);
    }
  });

  it('shows real values to a developer where the environment does not obfuscate data', async () => {
    const res = await testRun({}, developer);
    expect(res.status).toBe(200);
    expect(res.body.masked).toBe(false);
    expect(res.body.messages[0].message.body).toBe(`Hi ${REAL.name} <${REAL.email}>`);
  });
});
