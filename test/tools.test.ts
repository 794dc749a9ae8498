// Tool invocation: committed tools with per-environment overrides and secrets, called against a
// real local upstream that records what it receives.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, createApiKey, promote, startHarness, WS, type Harness } from './support.js';

interface Received {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: string;
}

let h: Harness;
let upstream: Server;
let base: string;
let closedPort: number;
const received: Received[] = [];
const keys = { devSecret: '', devPublishable: '', prodSecret: '' };
const DEV_TOKEN = 'crm-dev-secret-0123456789';
const PROD_TOKEN = 'crm-prod-secret-9876543210';

function answer(req: IncomingMessage, res: ServerResponse, body: string) {
  const url = new URL(req.url ?? '/', 'http://upstream');
  received.push({ method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body });
  if (url.pathname === '/hang') return; // never answers
  if (url.pathname === '/status/503') {
    res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'down' }));
  } else if (url.pathname === '/text') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('plain answer');
  } else if (url.pathname === '/big') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2048' }).end('x'.repeat(2048));
  } else if (url.pathname === '/big-chunked') {
    // No content-length: the limit must hold while the body streams.
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('x'.repeat(800));
    setTimeout(() => res.end('y'.repeat(800)), 20);
  } else {
    res
      .writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes', 'set-cookie': 'session=abc' })
      .end(JSON.stringify({ path: url.pathname, received: body ? JSON.parse(body) : null }));
  }
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function invoke(key: string | null, tool: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await h.app.inject({ method: 'POST', url: `/v1/tools/${tool}/invoke`, headers, payload: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null, text: res.body };
}

const last = () => received[received.length - 1]!;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => answer(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  base = `http://127.0.0.1:${await listen(upstream)}`;
  const closed = createServer();
  closedPort = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));

  h = await startHarness();
  // Production calls the test's loopback upstream only because its egress setting allows it.
  expect((await h.call('PUT', `${WS}/environments/production/settings/egress`, { value: { allow: ['127.0.0.1'] } })).status).toBe(200);
  await h.call('PUT', `${WS}/variables/region`, { value: 'eu', overrides: { development: 'sandbox-eu', production: 'eu-1' } });
  await h.call('PUT', `${WS}/environments/development/secrets/crm_token`, { value: DEV_TOKEN });
  await h.call('PUT', `${WS}/environments/production/secrets/crm_token`, { value: PROD_TOKEN });
  keys.devSecret = await createApiKey(h, 'development', 'secret');
  keys.devPublishable = await createApiKey(h, 'development', 'publishable');
  keys.prodSecret = await createApiKey(h, 'production', 'secret');
  const auth = { Authorization: 'Bearer {{ secrets.crm_token }}' };
  await commitDrafts(h, {
    // The base is the real API; development points at the sandbox through its override.
    'tool/crm-sync': {
      method: 'POST',
      url: `${base}/prod/sync`,
      headers: { ...auth, 'X-Env': '{{ env.slug }}' },
      query: { id: '{{ input.id }}', region: '{{ vars.region }}' },
      body: { id: '{{ input.id }}', greeting: 'Hi {{ input.name }}', region: '{{ vars.region }}', note: "{{ input.note | default: 'none' }}" },
      timeoutMs: 5000,
    },
    'tool/down': { method: 'GET', url: `${base}/status/503` },
    'tool/text': { method: 'GET', url: `${base}/text` },
    'tool/slow': { method: 'GET', url: `${base}/hang`, headers: auth, timeoutMs: 200 },
    'tool/offline': { method: 'GET', url: `http://127.0.0.1:${closedPort}/x`, headers: auth },
    'tool/big': { method: 'GET', url: `${base}/big`, maxResponseBytes: 1024 },
    'tool/big-chunked': { method: 'GET', url: `${base}/big-chunked`, maxResponseBytes: 1024 },
  });
  const override = await h.call('PUT', `${WS}/environments/development/resources/tool/crm-sync/override`, { override: { url: `${base}/dev/sync` } });
  expect(override.status).toBe(200);
  expect((await promote(h, 'production')).status).toBe(201);
  // Committed in development only, after the promotion: production never has it.
  await commitDrafts(h, { 'tool/needs-secret': { method: 'GET', url: `${base}/needs`, headers: { Authorization: 'Bearer {{ secrets.missing_token }}' } } });
});

afterAll(async () => {
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
  await h?.close();
});

describe('per-environment profiles', () => {
  it('a development key calls the development URL with the development secret and the rendered input', async () => {
    const res = await invoke(keys.devSecret, 'crm-sync', { input: { id: 42, name: 'Ada' } });
    expect(res.status).toBe(200);
    expect(last()).toMatchObject({
      method: 'POST',
      path: '/dev/sync',
      query: { id: '42', region: 'sandbox-eu' },
      headers: { authorization: `Bearer ${DEV_TOKEN}`, 'x-env': 'development', 'content-type': 'application/json' },
    });
    // `{{ input.id }}` alone keeps the input's type.
    expect(JSON.parse(last().body)).toEqual({ id: 42, greeting: 'Hi Ada', region: 'sandbox-eu', note: 'none' });
    expect(res.body).toMatchObject({ status: 201, body: { path: '/dev/sync', received: { id: 42 } }, headers: { 'x-upstream': 'yes', 'content-type': 'application/json' } });
    expect(res.body.durationMs).toEqual(expect.any(Number));
    expect(res.text).not.toContain(PROD_TOKEN);
  });

  it('the same tool promoted to production calls the production URL with the production secret', async () => {
    const res = await invoke(keys.prodSecret, 'crm-sync', { input: { id: 'c-7', name: 'Grace', note: 'vip' } });
    expect(res.status).toBe(200);
    expect(last()).toMatchObject({
      path: '/prod/sync',
      query: { id: 'c-7', region: 'eu-1' },
      headers: { authorization: `Bearer ${PROD_TOKEN}`, 'x-env': 'production' },
    });
    expect(JSON.parse(last().body)).toEqual({ id: 'c-7', greeting: 'Hi Grace', region: 'eu-1', note: 'vip' });
    expect(res.text).not.toContain(DEV_TOKEN);
  });

  it('passes response headers on lower-cased, without cookies or hop-by-hop headers', async () => {
    const res = await invoke(keys.devSecret, 'crm-sync', { input: { id: 1, name: 'A' } });
    const names = Object.keys(res.body.headers);
    expect(names).toContain('x-upstream');
    for (const dropped of ['set-cookie', 'connection', 'keep-alive', 'transfer-encoding']) expect(names).not.toContain(dropped);
    expect(names.every((n) => n === n.toLowerCase())).toBe(true);
  });
});

describe('answers', () => {
  it('an upstream error status is answered as data', async () => {
    const res = await invoke(keys.devSecret, 'down');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 503, body: { error: 'down' } });
  });

  it('a text response is answered as text', async () => {
    const res = await invoke(keys.devSecret, 'text', { input: {} });
    expect(res.body).toMatchObject({ status: 200, body: 'plain answer' });
  });
});

describe('what runs', () => {
  it('a draft edit of a committed tool is not used', async () => {
    const draft = await h.call('PUT', `${WS}/environments/development/resources/tool/crm-sync`, {
      content: { method: 'POST', url: `${base}/draft/sync`, headers: { 'X-Draft': 'yes' } },
    });
    expect(draft.status).toBe(200);
    const res = await invoke(keys.devSecret, 'crm-sync', { input: { id: 5, name: 'B' } });
    expect(res.status).toBe(200);
    expect(last().path).toBe('/dev/sync');
    expect(last().headers['x-draft']).toBeUndefined();
    expect(last().headers.authorization).toBe(`Bearer ${DEV_TOKEN}`);
  });

  it('a tool that exists only as a draft is not found', async () => {
    expect((await h.call('PUT', `${WS}/environments/development/resources/tool/draft-only`, { content: { method: 'GET', url: `${base}/draft` } })).status).toBe(200);
    const before = received.length;
    const res = await invoke(keys.devSecret, 'draft-only');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    expect(received.length).toBe(before);
  });

  it('a switched-off tool is 409 tool_inactive and the upstream receives nothing', async () => {
    const path = `${WS}/environments/production/resources/tool/crm-sync/active`;
    expect((await h.call('PUT', path, { active: false })).status).toBe(200);
    const before = received.length;
    const res = await invoke(keys.prodSecret, 'crm-sync', { input: { id: 1, name: 'A' } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('tool_inactive');
    expect(received.length).toBe(before);
    // The switch is per environment: development still runs it.
    expect((await invoke(keys.devSecret, 'crm-sync', { input: { id: 1, name: 'A' } })).status).toBe(200);
    await h.call('PUT', path, { active: true });
    expect((await invoke(keys.prodSecret, 'crm-sync', { input: { id: 1, name: 'A' } })).status).toBe(200);
  });

  it('an unknown tool is 404, and a tool of another environment does not exist for a key', async () => {
    const unknown = await invoke(keys.devSecret, 'nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    expect((await invoke(keys.prodSecret, 'needs-secret')).status).toBe(404);
  });
});

describe('failures', () => {
  it('an upstream that does not answer within timeoutMs is 504 upstream_timeout', async () => {
    const started = Date.now();
    const res = await invoke(keys.devSecret, 'slow');
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe('upstream_timeout');
    expect(res.body.error.message).toContain('tool/slow');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(last().path).toBe('/hang');
    expect(res.text).not.toContain(DEV_TOKEN);
  });

  it('an upstream that refuses the connection is 502 upstream_unreachable naming the host only', async () => {
    const res = await invoke(keys.devSecret, 'offline');
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('upstream_unreachable');
    expect(res.body.error.message).toContain(`127.0.0.1:${closedPort}`);
    expect(res.text).not.toContain(DEV_TOKEN);
    expect(res.text).not.toContain('/x');
  });

  it.each(['big', 'big-chunked'])('a response over maxResponseBytes (%s) is 502 upstream_response_too_large', async (tool) => {
    const res = await invoke(keys.devSecret, tool);
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('upstream_response_too_large');
    expect(res.body.error.details).toEqual([expect.objectContaining({ maxResponseBytes: 1024 })]);
  });

  it('a secret with no value in the environment is 409 naming it, and nothing is sent', async () => {
    const before = received.length;
    const res = await invoke(keys.devSecret, 'needs-secret');
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('unresolved_reference');
    expect(res.body.error.message).toContain('missing_token');
    expect(res.body.error.details).toEqual([{ reference: 'secrets.missing_token' }]);
    expect(received.length).toBe(before);
  });

  it('an input field the templates need and the call lacks is 400 naming it', async () => {
    const before = received.length;
    const res = await invoke(keys.devSecret, 'crm-sync', { input: { name: 'no id' } });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'input.id' })]);
    expect(received.length).toBe(before);
  });
});

describe('credentials and input', () => {
  it('a publishable key is 403 and the upstream receives nothing', async () => {
    const before = received.length;
    const res = await invoke(keys.devPublishable, 'crm-sync', { input: { id: 1, name: 'A' } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect(res.body.error.message).toContain('secret key');
    expect(received.length).toBe(before);
  });

  it('no key or a management token is 401', async () => {
    expect((await invoke(null, 'crm-sync')).body.error.code).toBe('unauthenticated');
    expect((await invoke(h.token, 'crm-sync')).status).toBe(401);
  });

  it('a key path parameter that is not a resource key is 400 naming key', async () => {
    const res = await invoke(keys.devSecret, '-bad!');
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'key', in: 'path' })]);
  });

  it.each([
    ['an array', { input: [1, 2] }, 'input'],
    ['a string', { input: 'x' }, 'input'],
    ['an unknown field', { input: {}, extra: 1 }, 'extra'],
  ])('input that is %s is 400 naming the field', async (_name, body, field) => {
    const res = await invoke(keys.devSecret, 'text', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details).toEqual([expect.objectContaining({ field })]);
  });

  it('a body over the server limit is 413', async () => {
    const res = await invoke(keys.devSecret, 'text', { input: { blob: 'x'.repeat(1024 * 1024 + 10) } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('the route is in the OpenAPI document under tools', async () => {
    const doc = (await h.call('GET', '/api/openapi.json')).body;
    const operation = doc.paths['/v1/tools/{key}/invoke']?.post;
    expect(operation.tags).toEqual(['tools']);
    expect(operation.security).toEqual([{ apiKey: [] }]);
  });
});
