// The gateway's data path against real local upstreams: which environment a request is served
// in, which route it takes, what reaches the upstream, and the answers the gateway makes itself.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayRequestEvent } from '../src/gateway/contract.js';
import type { RunningGateway } from '../src/gateway/server.js';
import {
  allowLoopback,
  commitRoutes,
  createApiKey,
  createStaging,
  eventually,
  gatewayCall,
  promote,
  startHarness,
  startTestGateway,
  startUpstream,
  TEST_DB,
  WS,
  type Harness,
  type TestUpstream,
} from './support.js';

const PROD_SECRET = 'sk_live_prod_0123456789abcdef';
const DEV_SECRET = 'sk_test_dev_fedcba9876543210';

let h: Harness;
let a: TestUpstream;
let b: TestUpstream;
/** The upstream of staging's routes (internal addresses, denied there until allowed). */
let upstream: TestUpstream;
let gateway: RunningGateway;
const logLines: string[] = [];
const keys = { dev: '', prod: '', other: '' };

const last = (upstream: TestUpstream) => upstream.requests[upstream.requests.length - 1]!;
const pairs = (raw: string[]) => raw.flatMap((name, i) => (i % 2 === 0 ? [[name, raw[i + 1]!] as [string, string]] : []));
const call = (options: Parameters<typeof gatewayCall>[1] = {}) => gatewayCall(gateway.url, options);
/** A gateway where x-stageline-env alone selects development and branches (STAGELINE_GATEWAY_OPEN_EDITABLE=on). */
let open: RunningGateway;
const callOpen = (options: Parameters<typeof gatewayCall>[1] = {}) => gatewayCall(open.url, options);

beforeAll(async () => {
  h = await startHarness();
  a = await startUpstream();
  b = await startUpstream();
  upstream = await startUpstream();
  await allowLoopback(h, 'production');
  await h.call('PUT', `${WS}/variables/tenant_id`, { value: 'tenant-dev', overrides: { production: 'tenant-prod' } });
  await h.call('PUT', `${WS}/environments/production/secrets/stripe_key`, { value: PROD_SECRET });
  await h.call('PUT', `${WS}/environments/development/secrets/stripe_key`, { value: DEV_SECRET });
  await commitRoutes(
    h,
    {
      payments: {
        match: { pathPrefix: '/payments', methods: ['GET', 'POST'] },
        upstream: { url: `${a.url}/v1` },
        injectHeaders: { Authorization: 'Bearer {{ secrets.stripe_key }}', 'X-Tenant': '{{ vars.tenant_id }}' },
        injectBody: { tenant_id: '{{ vars.tenant_id }}', source: 'gateway' },
      },
      refunds: { match: { pathPrefix: '/payments/refunds' }, upstream: { url: `${b.url}/r` }, stripPrefix: true },
      'orders-write': { match: { pathPrefix: '/orders', methods: ['POST'] }, upstream: { url: b.url } },
      orders: { match: { pathPrefix: '/orders' }, upstream: { url: a.url } },
      'beta-orders': { match: { pathPrefix: '/orders', headers: { 'x-beta': 'yes' } }, upstream: { url: `${b.url}/beta` } },
      constructor: { match: { pathPrefix: '/__proto__' }, upstream: { url: `${a.url}/proto` }, injectHeaders: { constructor: 'c', toString: 's' } },
      toString: { match: { pathPrefix: '/constructor/toString' }, upstream: { url: `${a.url}/ctor` } },
    },
    'production',
  );
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  gateway = await startTestGateway(h, { logger });
  open = await startTestGateway(h, { openEditable: true });
  keys.dev = await createApiKey(h, 'development');
  keys.prod = await createApiKey(h, 'production', 'publishable');
  expect((await h.call('POST', '/api/workspaces', { slug: 'other', name: 'Other' })).status).toBe(201);
  const other = await h.call('POST', '/api/workspaces/other/environments/production/api-keys', { name: 'other', kind: 'secret' });
  keys.other = other.body.key;
});

afterAll(async () => {
  await gateway?.close();
  await open?.close();
  await a?.close();
  await b?.close();
  await upstream?.close();
  await h?.close();
});

describe(`gateway environments on ${TEST_DB}`, () => {
  it('serves the default environment (production) when the request names none', async () => {
    const res = await call({ path: '/payments/charges' });
    expect(res.status).toBe(200);
    expect(res.json.url).toBe('/v1/payments/charges');
    expect(res.json.headers.authorization).toBe(`Bearer ${PROD_SECRET}`);
    expect(res.json.headers['x-tenant']).toBe('tenant-prod');
  });

  it('serves the environment x-stageline-env names, with its own override of the upstream', async () => {
    const set = await h.call('PUT', `${WS}/environments/development/resources/route/payments/override`, { override: { upstream: { url: `${b.url}/dev` } } });
    expect(set.status).toBe(200);
    const before = a.requests.length;
    const res = await callOpen({ path: '/payments/charges', headers: { 'x-stageline-env': 'development' } });
    expect(res.status).toBe(200);
    expect(res.json.url).toBe('/dev/payments/charges');
    expect(res.json.headers.authorization).toBe(`Bearer ${DEV_SECRET}`);
    expect(res.json.headers['x-tenant']).toBe('tenant-dev');
    expect(a.requests.length).toBe(before);
    // Production is untouched by development's override.
    expect((await call({ path: '/payments/charges' })).json.url).toBe('/v1/payments/charges');
  });

  it('serves the environment of an API key in x-stageline-key and forwards neither selecting header', async () => {
    const res = await call({ path: '/payments/x', headers: { 'x-stageline-key': keys.dev } });
    expect(res.status).toBe(200);
    expect(res.json.url).toBe('/dev/payments/x');
    const both = await call({ path: '/payments/x', headers: { 'x-stageline-key': keys.dev, 'x-stageline-env': 'development' } });
    expect(both.status).toBe(200);
    expect(both.json.headers['x-stageline-key']).toBeUndefined();
    expect(both.json.headers['x-stageline-env']).toBeUndefined();
    // A publishable key selects its environment too (the secret is injected upstream, never sent back).
    const prod = await call({ path: '/payments/x', headers: { 'x-stageline-key': keys.prod } });
    expect(prod.json.url).toBe('/v1/payments/x');
  });

  it.each(['nowhere', '__proto__', 'constructor', 'toString', 'hasOwnProperty'])('answers 404 unknown_environment for x-stageline-env: %s', async (slug) => {
    const res = await call({ path: '/payments/x', headers: { 'x-stageline-env': slug } });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('unknown_environment');
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('answers 400 environment_mismatch when the key and the header name different environments', async () => {
    const res = await call({ path: '/payments/x', headers: { 'x-stageline-key': keys.dev, 'x-stageline-env': 'production' } });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'environment_mismatch' });
    expect(res.json.error.message).toContain('development');
  });

  it.each([
    ['an unknown key', 'sk_' + 'x'.repeat(32)],
    ['a malformed key', 'not-a-key'],
  ])('answers 401 unauthenticated for %s', async (_name, key) => {
    const res = await call({ path: '/payments/x', headers: { 'x-stageline-key': key } });
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe('unauthenticated');
  });

  it("answers 401 for a key of another workspace, and for a key once it is revoked", async () => {
    const other = await call({ path: '/payments/x', headers: { 'x-stageline-key': keys.other } });
    expect(other.status).toBe(401);
    expect(other.json.error.message).toContain('workspace');
    const key = await createApiKey(h, 'production', 'secret', 'to revoke');
    expect((await call({ path: '/payments/x', headers: { 'x-stageline-key': key } })).status).toBe(200);
    const list = await h.call('GET', `${WS}/environments/production/api-keys`);
    const id = list.body.data.find((k: any) => k.name === 'to revoke').id;
    expect((await h.call('DELETE', `${WS}/environments/production/api-keys/${id}`)).status).toBeLessThan(300);
    const revoked = await call({ path: '/payments/x', headers: { 'x-stageline-key': key } });
    expect(revoked.status).toBe(401);
  });

  it('serves STAGELINE_GATEWAY_DEFAULT_ENV when set', async () => {
    const dev = await startTestGateway(h, { defaultEnvironment: 'development' });
    try {
      const res = await gatewayCall(dev.url, { path: '/payments/x' });
      expect(res.json.url).toBe('/dev/payments/x');
    } finally {
      await dev.close();
    }
  });

  it('serves a branch environment by its slug', async () => {
    expect((await h.call('POST', `${WS}/environments`, { slug: 'feature-x', kind: 'branch', from: 'development' })).status).toBe(201);
    await h.call('PUT', `${WS}/environments/feature-x/resources/route/payments/override`, { override: { upstream: { url: `${a.url}/branch` } } });
    const res = await callOpen({ path: '/payments/x', headers: { 'x-stageline-env': 'feature-x' } });
    expect(res.status).toBe(200);
    expect(res.json.url).toBe('/branch/payments/x');
    // The branch has no secret of its own: it resolves its parent's.
    expect(res.json.headers.authorization).toBe(`Bearer ${DEV_SECRET}`);
  });

  it.each(['development', 'feature-x'])('answers 403 key_required for x-stageline-env: %s alone, and serves it with one of its keys', async (slug) => {
    const before = a.requests.length + b.requests.length;
    const res = await call({ path: '/payments/x', headers: { 'x-stageline-env': slug } });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe('key_required');
    expect(res.json.error.message).toContain('x-stageline-key');
    expect(a.requests.length + b.requests.length).toBe(before);
    // A non-editable environment is selected by the header alone.
    expect((await call({ path: '/payments/x', headers: { 'x-stageline-env': 'production' } })).status).toBe(200);
    if (slug === 'development') expect((await call({ path: '/payments/x', headers: { 'x-stageline-env': slug, 'x-stageline-key': keys.dev } })).status).toBe(200);
  });
});

describe('gateway routing', () => {
  it('takes the longest prefix and strips it where the route says so, query as is', async () => {
    const res = await call({ path: '/payments/refunds/42?expand=a%2Cb&x=%2F' });
    expect(res.status).toBe(200);
    expect(last(b).url).toBe('/r/42?expand=a%2Cb&x=%2F');
    const root = await call({ path: '/payments/refunds' });
    expect(root.status).toBe(200);
    expect(last(b).url).toBe('/r');
  });

  it('matches whole path segments only', async () => {
    expect((await call({ path: '/paymentsX' })).json.error.code).toBe('no_route');
    expect((await call({ path: '/payments' })).json.url).toBe('/v1/payments');
  });

  it('matches the normal form of the path, so no spelling reaches another route', async () => {
    const encoded = await call({ path: '/%70ayments/refunds/7' });
    expect(encoded.status).toBe(200);
    expect(last(b).url).toBe('/r/7');
    // Dot segments are resolved before matching and the upstream gets the resolved path.
    const dots = await call({ path: '/orders/../payments/refunds/8' });
    expect(dots.status).toBe(200);
    expect(last(b).url).toBe('/r/8');
    const escaped = await call({ path: '/payments%2Frefunds/9' });
    expect(escaped.status).toBe(400);
    expect(escaped.json.error.code).toBe('invalid_path');
  });

  it('answers 405 method_not_allowed with Allow for a method the route does not take', async () => {
    const res = await call({ method: 'DELETE', path: '/payments/x' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, POST');
    expect(res.json.error.code).toBe('method_not_allowed');
  });

  it('breaks a tie of prefixes by method, and by match.headers', async () => {
    const post = await call({ method: 'POST', path: '/orders/1', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(post.status).toBe(200);
    expect(last(b).url).toBe('/orders/1');
    const get = await call({ path: '/orders/1' });
    expect(get.json.url).toBe('/orders/1');
    expect(last(a).url).toBe('/orders/1');
    await call({ path: '/orders/1', headers: { 'x-beta': 'yes' } });
    expect(last(b).url).toBe('/beta/orders/1');
  });

  it('answers 404 no_route where no route matches', async () => {
    const res = await call({ path: '/nothing/here' });
    expect(res.status).toBe(404);
    expect(res.json.error).toMatchObject({ code: 'no_route' });
  });

  it.each([
    ['a target Node cannot parse', 'GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405],
    ['an Expect other than 100-continue', 'GET /orders HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n', 417],
  ])('answers %s before routing in the error shape with an x-request-id', async (_name, request, status) => {
    const { connect } = await import('node:net');
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(gateway.url).port), '127.0.0.1');
      let out = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (out += chunk));
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
      socket.write(Buffer.from(request, 'latin1'));
    });
    const [head, body] = text.split('\r\n\r\n') as [string, string];
    expect(Number(head.split(' ')[1])).toBe(status);
    expect(head).toMatch(/\r\nx-request-id: gw_[0-9a-f]+/i);
    expect(JSON.parse(body).error.code).toMatch(/^[a-z_]+$/);
  });

  it('answers 503 route_inactive while the kill switch is off, at once and without a restart', async () => {
    expect((await h.call('PUT', `${WS}/environments/production/resources/route/refunds/active`, { active: false })).status).toBe(200);
    const off = await call({ path: '/payments/refunds/1' });
    expect(off.status).toBe(503);
    expect(off.json.error.code).toBe('route_inactive');
    // The switched-off route keeps its prefix: the shorter one does not take its traffic.
    expect(a.requests.some((r) => r.url.startsWith('/v1/payments/refunds'))).toBe(false);
    expect((await h.call('PUT', `${WS}/environments/production/resources/route/refunds/active`, { active: true })).status).toBe(200);
    expect((await call({ path: '/payments/refunds/1' })).status).toBe(200);
  });

  it('routes prototype names as any other path, route key and header', async () => {
    const proto = await call({ path: '/__proto__/x', headers: ['__proto__', 'client', 'constructor', 'client-c', 'toString', 't', 'hasOwnProperty', 'h'] });
    expect(proto.status).toBe(200);
    expect(proto.json.url).toBe('/proto/__proto__/x');
    // The route's injected values replace the client's headers of the same names.
    const sent = pairs(proto.json.rawHeaders);
    expect(sent.filter(([name]) => name.toLowerCase() === 'constructor')).toEqual([['constructor', 'c']]);
    expect(sent.filter(([name]) => name.toLowerCase() === 'tostring')).toEqual([['tostring', 's']]);
    expect(sent).toContainEqual(['__proto__', 'client']);
    expect(sent).toContainEqual(['hasOwnProperty', 'h']);
    const ctor = await call({ path: '/constructor/toString/valueOf' });
    expect(ctor.json.url).toBe('/ctor/constructor/toString/valueOf');
    expect((await call({ path: '/toString' })).json.error.code).toBe('no_route');
    expect((await call({ path: '/hasOwnProperty/x' })).json.error.code).toBe('no_route');
  });
});

describe('what reaches the upstream', () => {
  it("sends the upstream's Host, the client's in x-forwarded-host and forwarded, and drops hop-by-hop headers", async () => {
    const res = await call({
      path: '/payments/h',
      headers: {
        host: 'shop.example:8443',
        authorization: 'Bearer client-token',
        connection: 'keep-alive, x-private',
        'x-private': 'hop',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'proxy-authorization': 'Basic abc',
        'x-forwarded-for': '198.51.100.7',
        'x-kept': 'yes',
      },
    });
    const seen = res.json.headers;
    expect(seen.host).toBe(new URL(a.url).host);
    expect(seen['x-forwarded-host']).toBe('shop.example:8443');
    expect(seen['x-forwarded-proto']).toBe('http');
    // The peer is not a trusted proxy: its x-forwarded-for is replaced, not extended.
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.forwarded).toBe('for=127.0.0.1;host="shop.example:8443";proto=http');
    expect(seen.authorization).toBe(`Bearer ${PROD_SECRET}`);
    expect(seen['x-kept']).toBe('yes');
    for (const dropped of ['x-private', 'keep-alive', 'te', 'proxy-authorization']) expect(seen[dropped]).toBeUndefined();
  });

  it('keeps a valid x-request-id and makes one otherwise, sent upstream and on answers', async () => {
    const kept = await call({ path: '/payments/r', headers: { 'x-request-id': 'trace-123' } });
    expect(kept.json.headers['x-request-id']).toBe('trace-123');
    const made = await call({ path: '/payments/r', headers: { 'x-request-id': 'bad id with spaces' } });
    expect(made.json.headers['x-request-id']).toMatch(/^gw_[0-9a-f]{12}[0-9a-z]{6,}$/);
    const error = await call({ path: '/nothing', headers: { 'x-request-id': 'trace-456' } });
    expect(error.headers['x-request-id']).toBe('trace-456');
  });

  it('merges injectBody into a JSON object body, its keys winning', async () => {
    const body = '{"amount":5,"tenant_id":"spoofed","__proto__":{"admin":true}}';
    const res = await call({ method: 'POST', path: '/payments/charges', headers: { 'content-type': 'application/json; charset=utf-8' }, body });
    expect(res.status).toBe(200);
    expect(res.json.body).toBe('{"amount":5,"tenant_id":"tenant-prod","__proto__":{"admin":true},"source":"gateway"}');
    expect(last(a).headers['content-length']).toBe(String(Buffer.byteLength(res.json.body)));
  });

  it('injects into an empty JSON body and leaves other bodies untouched', async () => {
    const empty = await call({ method: 'POST', path: '/payments/c', headers: { 'content-type': 'application/vnd.api+json', 'content-length': '0' } });
    expect(JSON.parse(empty.json.body)).toEqual({ tenant_id: 'tenant-prod', source: 'gateway' });
    const text = await call({ method: 'POST', path: '/payments/c', headers: { 'content-type': 'text/plain' }, body: '{"tenant_id":"mine"}' });
    expect(text.json.body).toBe('{"tenant_id":"mine"}');
  });

  it.each([
    ['a JSON array', '[1,2]', 400, 'invalid_body'],
    ['a JSON string', '"x"', 400, 'invalid_body'],
    ['not JSON', '{"a":', 400, 'invalid_body'],
    ['a body over the limit', JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) }), 413, 'payload_too_large'],
    ['a body nested too deeply to encode again', `{"a":${'['.repeat(400_000)}${']'.repeat(400_000)}}`, 400, 'invalid_body'],
  ])('refuses %s where the route injects into the body', async (_name, body, status, code) => {
    const before = a.requests.length;
    const res = await call({ method: 'POST', path: '/payments/c', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(code);
    expect(a.requests.length).toBe(before);
  });

  it('refuses an encoded JSON body it would have to inject into', async () => {
    const res = await call({ method: 'POST', path: '/payments/c', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: 'xx' });
    expect(res.status).toBe(415);
  });
});

describe('upstream failures', () => {
  let hang: TestUpstream;
  let reset: TestUpstream;
  let flaky: TestUpstream;
  let closedPort = 0;
  let flakyCalls = 0;

  beforeAll(async () => {
    hang = await startUpstream(() => {});
    reset = await startUpstream((req) => req.socket.destroy());
    // Every other request has its connection reset before an answer.
    flaky = await startUpstream((req, res) => (flakyCalls++ % 2 === 0 ? req.socket.destroy() : res.writeHead(200).end('second try')));
    const closed = await startUpstream();
    closedPort = closed.port;
    await closed.close();
    await commitRoutes(
      h,
      {
        slow: { match: { pathPrefix: '/slow' }, upstream: { url: hang.url, timeoutMs: 200 } },
        refused: { match: { pathPrefix: '/refused' }, upstream: { url: `http://127.0.0.1:${closedPort}` } },
        reset: { match: { pathPrefix: '/reset' }, upstream: { url: reset.url } },
        flaky: { match: { pathPrefix: '/flaky' }, upstream: { url: flaky.url }, retries: 1 },
      },
      'production',
    );
  });
  afterAll(async () => {
    await hang.close();
    await reset.close();
    await flaky.close();
  });

  it('sends an idempotent request again after a failed connection where the route has retries, never a POST', async () => {
    flakyCalls = 0;
    const get = await call({ path: '/flaky' });
    expect(get.status).toBe(200);
    expect(get.text).toBe('second try');
    expect(flakyCalls).toBe(2);
    flakyCalls = 0;
    const post = await call({ method: 'POST', path: '/flaky', headers: { 'content-type': 'text/plain' }, body: 'once' });
    expect(post.status).toBe(502);
    expect(flakyCalls).toBe(1);
  });

  it('answers 504 upstream_timeout when the upstream sends no response head in timeoutMs', async () => {
    const started = Date.now();
    const res = await call({ path: '/slow' });
    expect(res.status).toBe(504);
    expect(res.json.error.code).toBe('upstream_timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('answers 502 upstream_unreachable for a refused and for a reset connection', async () => {
    const refused = await call({ path: '/refused' });
    expect(refused.status).toBe(502);
    expect(refused.json.error.code).toBe('upstream_unreachable');
    const wasReset = await call({ path: '/reset' });
    expect(wasReset.status).toBe(502);
    expect(wasReset.json.error.code).toBe('upstream_unreachable');
  });
});

describe('egress and templates', () => {
  beforeAll(async () => {
    await createStaging(h);
    await commitRoutes(
      h,
      {
        internal: { match: { pathPrefix: '/internal' }, upstream: { url: upstream.url } },
        named: { match: { pathPrefix: '/named' }, upstream: { url: `http://localhost:${upstream.port}` } },
        itself: { match: { pathPrefix: '/itself' }, upstream: { url: `${gateway.url}/payments` } },
      },
      'staging',
      true,
    );
    // Committed in development only: no other environment would take a route it cannot resolve.
    await commitRoutes(h, { broken: { match: { pathPrefix: '/broken' }, upstream: { url: upstream.url }, injectHeaders: { 'x-key': '{{ secrets.missing_secret }}' } } });
  });

  it("refuses an address the environment's egress policy denies, before any connection", async () => {
    const res = await call({ path: '/internal', headers: { 'x-stageline-env': 'staging' } });
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('egress_denied');
    expect(res.json.error.message).toContain('staging');
    expect(upstream.connections()).toBe(0);
  });

  it('refuses a name that resolves to a denied address, at connect time', async () => {
    const res = await call({ path: '/named', headers: { 'x-stageline-env': 'staging' } });
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('egress_denied');
    expect(upstream.connections()).toBe(0);
  });

  it('refuses a route to the gateway itself, even in development', async () => {
    const res = await call({ path: '/itself', headers: { 'x-stageline-key': keys.dev } });
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('egress_denied');
    expect(res.json.error.message).toContain('listener of this Stageline node');
  });

  it('serves the same upstream once the egress setting allows it, without a restart', async () => {
    await allowLoopback(h, 'staging', ['localhost']);
    const res = await call({ path: '/internal/x', headers: { 'x-stageline-env': 'staging' } });
    expect(res.status).toBe(200);
    expect(res.json.url).toBe('/internal/x');
  });

  it('answers 502 route_invalid for a route whose template cannot render, and serves the other routes', async () => {
    const res = await call({ path: '/broken', headers: { 'x-stageline-key': keys.dev } });
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('route_invalid');
    expect(res.json.error.message).toContain('missing_secret');
    expect((await call({ path: '/internal', headers: { 'x-stageline-key': keys.dev } })).status).toBe(200);
  });

  it('a new route arrives with the next request after its promotion', async () => {
    await commitRoutes(h, { fresh: { match: { pathPrefix: '/fresh' }, upstream: { url: upstream.url } } }, 'staging', true);
    const res = await call({ path: '/fresh/1', headers: { 'x-stageline-env': 'staging' } });
    expect(res.status).toBe(200);
  });
});

describe('regions', () => {
  it('answers 421 wrong_region naming the region that serves the environment', async () => {
    const eu = await startTestGateway(h, { region: 'eu' });
    try {
      expect((await h.call('PATCH', `${WS}/environments/staging`, { region: 'us' })).status).toBe(200);
      await eventually(async () => {
        const res = await gatewayCall(eu.url, { path: '/internal', headers: { 'x-stageline-env': 'staging' } });
        expect(res.status).toBe(421);
        expect(res.json.error.code).toBe('wrong_region');
        expect(res.json.error.message).toContain('us');
      });
      // An environment of no region is served by every node.
      expect((await gatewayCall(eu.url, { path: '/payments/x' })).status).toBe(200);
      expect((await h.call('PATCH', `${WS}/environments/staging`, { region: 'eu' })).status).toBe(200);
      const served = await gatewayCall(eu.url, { path: '/internal', headers: { 'x-stageline-env': 'staging' } });
      expect(served.json).toMatchObject({ url: '/internal' });
    } finally {
      await eu.close();
    }
  });
});

describe('the per-request hook', () => {
  it('reports every request with its environment, route, status and what failed', async () => {
    const events: GatewayRequestEvent[] = [];
    const observed = await startTestGateway(h, { observer: (event) => events.push(event) });
    try {
      await gatewayCall(observed.url, { path: '/payments/x' });
      await gatewayCall(observed.url, { path: '/nothing' });
      await gatewayCall(observed.url, { path: '/refused' });
      await gatewayCall(observed.url, { path: '/payments/x', headers: { 'x-stageline-env': 'nowhere' } });
      await eventually(() => expect(events).toHaveLength(3));
      const production = (await h.call('GET', `${WS}/environments/production`)).body;
      expect(events.map(({ route, status, code, upstreamFailure, environmentId }) => ({ route, status, code, upstreamFailure, environmentId }))).toEqual([
        { route: 'payments', status: 200, code: null, upstreamFailure: null, environmentId: production.id },
        { route: null, status: 404, code: 'no_route', upstreamFailure: null, environmentId: production.id },
        { route: 'refused', status: 502, code: 'upstream_unreachable', upstreamFailure: 'unreachable', environmentId: production.id },
      ]);
      for (const event of events) expect(event.durationMs).toBeGreaterThanOrEqual(0);
    } finally {
      await observed.close();
    }
  });
});

describe('a gateway of a workspace that does not exist', () => {
  it('answers 503 unavailable naming it', async () => {
    const lost = await startTestGateway(h, { workspace: 'nowhere' });
    try {
      const res = await gatewayCall(lost.url, { path: '/payments/x' });
      expect(res.status).toBe(503);
      expect(res.json.error).toMatchObject({ code: 'unavailable', message: expect.stringContaining('nowhere') });
    } finally {
      await lost.close();
    }
  });
});

describe('logs', () => {
  it('carry no secret value', async () => {
    // Failures are logged (a build problem, a missing secret); the secrets must not be.
    await call({ path: '/broken', headers: { 'x-stageline-key': keys.dev } });
    expect(logLines.length).toBeGreaterThan(0);
    const all = logLines.join('\n');
    expect(all).not.toContain(PROD_SECRET);
    expect(all).not.toContain(DEV_SECRET);
    expect(all).not.toContain(keys.dev);
  });
});
