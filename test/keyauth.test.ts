// The runtime API's credential: one answer for a bad key on every /v1 route, keys of a deleted
// environment, recipient tokens on publishable-key feed calls, and CORS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRecipientToken } from '../src/domain/feeds/recipient-token.js';
import { findEnvironment } from '../src/store/environments.js';
import { findWorkspace } from '../src/store/workspaces.js';
import { commitDrafts, config, createApiKey, eventually, runtimeCall, startHarness, TEST_DB, WS, type Harness } from './support.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  await commitDrafts(h, { 'config/flags': { value: { on: true }, public: true } });
  await h.call('POST', `${WS}/environments/production/promotions`, { message: 'flags' });
});
afterAll(async () => h?.close());

type Call = { method: string; url: string; body?: unknown };
async function send(key: string | null, call: Call, headers: Record<string, string> = {}) {
  const response = await h.app.inject({
    method: call.method as 'GET',
    url: call.url,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(call.body !== undefined ? { payload: JSON.stringify(call.body) } : {}),
  });
  return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : null, headers: response.headers };
}

/** Every /v1 route, some with input that is also invalid: the key is judged first. */
const ROUTES: Call[] = [
  { method: 'GET', url: '/v1/resources' },
  { method: 'GET', url: '/v1/resources/config/flags' },
  { method: 'GET', url: '/v1/stream' },
  { method: 'GET', url: '/v1/feeds/user-1' },
  { method: 'GET', url: '/v1/feeds/user-1?limit=0&bogus=1' },
  { method: 'POST', url: '/v1/feeds/user-1/messages/msg_1/read' },
  { method: 'POST', url: '/v1/feeds/user-1/read-all' },
  { method: 'POST', url: '/v1/recipient-tokens', body: { recipient: 'user-1' } },
  { method: 'POST', url: '/v1/tools/crm/invoke', body: { input: {} } },
  { method: 'POST', url: '/v1/workflows/welcome/trigger', body: { nope: true } },
  { method: 'GET', url: '/v1/workflow-runs/run_1' },
  { method: 'GET', url: '/v1/data/users' },
  { method: 'GET', url: '/v1/data/users/u1' },
  { method: 'PUT', url: '/v1/data/users/u1', body: { name: 'x' } },
  { method: 'DELETE', url: '/v1/data/users/u1' },
];

describe('one key check for every /v1 route', () => {
  it.each(ROUTES)('$method $url: 401 unauthenticated without a key, with a malformed one and with an unknown one', async (call) => {
    for (const key of [null, 'nope', `sk_${'a'.repeat(32)}`]) {
      const res = await send(key, call);
      expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBe(401);
      expect(res.body.error.code).toBe('unauthenticated');
      expect(res.headers['x-request-id']).toMatch(/^req_/);
    }
  });
});

describe('keys of a deleted environment', () => {
  it('every key of a deleted branch is 401 on every /v1 route at once, used or not', async () => {
    const created = await h.call('POST', `${WS}/environments`, { slug: 'feature-x', name: 'Feature X', kind: 'branch', from: 'development' });
    expect(created.status).toBe(201);
    const used = await createApiKey(h, 'feature-x', 'secret');
    const usedPublishable = await createApiKey(h, 'feature-x', 'publishable');
    const unused = await createApiKey(h, 'feature-x', 'secret');
    // Cache both used keys on this node, on the hot path and the others.
    for (const key of [used, usedPublishable]) {
      expect((await runtimeCall(h, key, '/v1/resources')).status).toBe(200);
      expect((await runtimeCall(h, key, '/v1/feeds/user-1')).status).toBe(200);
    }
    expect((await h.call('DELETE', `${WS}/environments/feature-x`)).status).toBe(204);
    for (const key of [used, usedPublishable, unused]) {
      for (const call of ROUTES) {
        const res = await send(key, call);
        expect(res.status, `${call.method} ${call.url}: ${JSON.stringify(res.body)}`).toBe(401);
        expect(res.body.error.code).toBe('unauthenticated');
      }
    }
  });

  describe.runIf(TEST_DB === 'postgres')('on two nodes of one PostgreSQL', () => {
    let b: Harness;
    beforeAll(async () => {
      // No polling to speak of: node B learns of the deletion through LISTEN/NOTIFY.
      b = await startHarness({ database: h.database, pollIntervalMs: 600_000 });
    });
    afterAll(async () => b?.close());

    it('a key node B has cached is 401 there as soon as node A deletes its environment', async () => {
      expect((await h.call('POST', `${WS}/environments`, { slug: 'feature-y', name: 'Feature Y', kind: 'branch', from: 'development' })).status).toBe(201);
      const key = await createApiKey(h, 'feature-y', 'publishable');
      expect((await runtimeCall(b, key, '/v1/resources')).status).toBe(200);
      expect((await runtimeCall(b, key, '/v1/feeds/user-1')).status).toBe(200);
      expect((await h.call('DELETE', `${WS}/environments/feature-y`)).status).toBe(204);
      await eventually(async () => expect((await runtimeCall(b, key, '/v1/feeds/user-1')).status).toBe(401), 3000);
      expect((await runtimeCall(b, key, '/v1/resources')).status).toBe(401);
      expect((await runtimeCall(b, key, '/v1/resources/config/flags')).status).toBe(401);
    });

    it('once any route of a node finds the environment gone, the key is 401 on every route there, before the node hears of it', async () => {
      // Node C does not LISTEN and polls rarely: it learns of the deletion only from its own reads.
      const c = await startHarness({ database: h.database, pollIntervalMs: 600_000, listen: false });
      try {
        expect((await h.call('POST', `${WS}/environments`, { slug: 'feature-z', name: 'Feature Z', kind: 'branch', from: 'development' })).status).toBe(201);
        const key = await createApiKey(h, 'feature-z', 'publishable');
        expect((await runtimeCall(c, key, '/v1/resources')).status).toBe(200);
        expect((await h.call('DELETE', `${WS}/environments/feature-z`)).status).toBe(204);
        // The hot path answers from memory: the deletion has not reached C.
        expect((await runtimeCall(c, key, '/v1/resources')).status).toBe(200);
        // The feed route reads the environment from the database and finds it gone…
        const feed = await runtimeCall(c, key, '/v1/feeds/user-1');
        expect(feed.status).toBe(401);
        expect(feed.body.error.code).toBe('unauthenticated');
        // …and from then on the key is refused everywhere on C.
        expect((await runtimeCall(c, key, '/v1/resources')).status).toBe(401);
        expect((await runtimeCall(c, key, '/v1/resources/config/flags')).status).toBe(401);
      } finally {
        await c.close();
      }
    });
  });
});

describe('recipient tokens', () => {
  let prodSecret: string;
  let prodPublishable: string;
  let devSecret: string;
  let devPublishable: string;
  let prodId: string;

  beforeAll(async () => {
    prodSecret = await createApiKey(h, 'production', 'secret');
    prodPublishable = await createApiKey(h, 'production', 'publishable');
    devSecret = await createApiKey(h, 'development', 'secret');
    devPublishable = await createApiKey(h, 'development', 'publishable');
    const workspace = await findWorkspace(h.store.db, 'default');
    const production = (await findEnvironment(h.store.db, workspace!.id, 'production'))!;
    prodId = production.id;
    await h.runtime.channels.send(h.deps, production, 'in_app', { recipient: 'user-1', body: 'for user 1' }, { deliveryId: 'rt-1' });
    await h.runtime.channels.send(h.deps, production, 'in_app', { recipient: 'user-2', body: 'for user 2' }, { deliveryId: 'rt-2' });
  });

  async function issue(key: string, recipient: string, ttlSeconds?: number) {
    return send(key, { method: 'POST', url: '/v1/recipient-tokens', body: { recipient, ...(ttlSeconds ? { ttlSeconds } : {}) } });
  }
  const feed = (key: string, recipient: string, headers: Record<string, string> = {}, query = '') => send(key, { method: 'GET', url: `/v1/feeds/${recipient}${query}` }, headers);

  it('a publishable key cannot read any recipient’s production feed without a token', async () => {
    for (const call of [
      { method: 'GET', url: '/v1/feeds/user-1' },
      { method: 'POST', url: '/v1/feeds/user-1/read-all' },
      { method: 'POST', url: '/v1/feeds/user-1/messages/msg_1/read' },
    ]) {
      const res = await send(prodPublishable, call);
      expect(res.status, call.url).toBe(401);
      expect(res.body.error.message).toMatch(/recipient token/);
    }
  });

  it('a token issued with a secret key opens that recipient’s feed only, by header or ?token=', async () => {
    const issued = await issue(prodSecret, 'user-1');
    expect(issued.status).toBe(201);
    expect(Date.parse(issued.body.expiresAt) - Date.now()).toBeGreaterThan(3500_000);
    const byHeader = await feed(prodPublishable, 'user-1', { 'x-stageline-recipient-token': issued.body.token });
    expect(byHeader.status).toBe(200);
    expect(byHeader.body.data.map((m: any) => m.content.body)).toEqual(['for user 1']);
    expect((await feed(prodPublishable, 'user-1', {}, `?token=${issued.body.token}`)).status).toBe(200);
    const read = await send(prodPublishable, { method: 'POST', url: `/v1/feeds/user-1/read-all?token=${issued.body.token}` });
    expect(read.status).toBe(200);
    const other = await feed(prodPublishable, 'user-2', { 'x-stageline-recipient-token': issued.body.token });
    expect(other.status).toBe(401);
    expect(other.body.error.message).toMatch(/another recipient/);
  });

  it('a token of another environment, an expired one or a forged one is 401', async () => {
    const devToken = (await issue(devSecret, 'user-1')).body.token;
    expect((await feed(prodPublishable, 'user-1', { 'x-stageline-recipient-token': devToken })).status).toBe(401);
    const secret = await h.call('POST', `${WS}/environments/production/recipient-token-secret`);
    expect(secret.status).toBe(200);
    expect(secret.body).toMatchObject({ environment: 'production', environmentId: prodId, algorithm: 'HS256', version: 1 });
    const now = Math.floor(Date.now() / 1000);
    const expired = signRecipientToken(secret.body.secret, { sub: 'user-1', exp: now - 1 });
    const res = await feed(prodPublishable, 'user-1', { 'x-stageline-recipient-token': expired });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/expired/);
    const forged = signRecipientToken('rts_not-the-secret', { sub: 'user-1', exp: now + 60 });
    expect((await feed(prodPublishable, 'user-1', { 'x-stageline-recipient-token': forged })).status).toBe(401);
  });

  it('a backend signs tokens itself with the environment secret; bumping the version rotates it', async () => {
    const secret = (await h.call('POST', `${WS}/environments/production/recipient-token-secret`)).body.secret;
    const own = signRecipientToken(secret, { sub: 'user-2', exp: Math.floor(Date.now() / 1000) + 60 });
    expect((await feed(prodPublishable, 'user-2', { 'x-stageline-recipient-token': own })).status).toBe(200);
    expect((await h.call('PUT', `${WS}/environments/production/settings/feeds`, { value: { signingKeyVersion: 2 } })).status).toBe(200);
    await eventually(async () => expect((await feed(prodPublishable, 'user-2', { 'x-stageline-recipient-token': own })).status).toBe(401));
    const rotated = await h.call('POST', `${WS}/environments/production/recipient-token-secret`);
    expect(rotated.body.version).toBe(2);
    expect(rotated.body.secret).not.toBe(secret);
    const audit = await h.call('GET', `${WS}/audit-log?action=recipient_token_secret.read`);
    expect(JSON.stringify(audit.body)).not.toContain(secret);
    await h.call('DELETE', `${WS}/environments/production/settings/feeds`);
  });

  it('secret keys need no token; development needs none by default; the setting turns it off', async () => {
    expect((await feed(prodSecret, 'user-1')).status).toBe(200);
    expect((await feed(devPublishable, 'user-1')).status).toBe(200);
    expect((await h.call('PUT', `${WS}/environments/production/settings/feeds`, { value: { requireRecipientToken: false } })).status).toBe(200);
    await eventually(async () => expect((await feed(prodPublishable, 'user-1')).status).toBe(200));
    expect((await h.call('PUT', `${WS}/environments/development/settings/feeds`, { value: { requireRecipientToken: true } })).status).toBe(200);
    await eventually(async () => expect((await feed(devPublishable, 'user-1')).status).toBe(401));
    await h.call('DELETE', `${WS}/environments/production/settings/feeds`);
    await h.call('DELETE', `${WS}/environments/development/settings/feeds`);
    await eventually(async () => expect((await feed(prodPublishable, 'user-1')).status).toBe(401));
  });

  it('only a secret key issues tokens; a bad body names the field', async () => {
    const pk = await issue(prodPublishable, 'user-1');
    expect(pk.status).toBe(403);
    const bad = await send(prodSecret, { method: 'POST', url: '/v1/recipient-tokens', body: { recipient: 'user-1', ttlSeconds: 0 } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.error.details)).toContain('ttlSeconds');
  });

  it('the signing secret needs apikey.manage', async () => {
    const viewer = await h.call('POST', `${WS}/tokens`, { name: 'viewer', role: 'viewer' });
    expect(viewer.status).toBe(201);
    expect((await h.call('POST', `${WS}/environments/production/recipient-token-secret`, undefined, viewer.body.token)).status).toBe(403);
  });
});

describe('CORS', () => {
  const origin = 'https://app.example';
  let publishable: string;
  let secret: string;
  beforeAll(async () => {
    publishable = await createApiKey(h, 'production', 'publishable', 'cors pk');
    secret = await createApiKey(h, 'production', 'secret', 'cors sk');
  });
  const preflight = (url: string) =>
    h.app.inject({ method: 'OPTIONS', url, headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });

  it('answers preflights on the runtime API, allowing the Authorization header', async () => {
    for (const url of ['/v1/resources', '/v1/resources/config/flags', '/v1/feeds/user-1/read-all']) {
      const res = await preflight(url);
      expect(res.statusCode, url).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
      expect(String(res.headers['access-control-allow-methods'])).toContain('GET');
    }
  });

  it('an actual response names the origin only when the key’s environment allows it', async () => {
    const pk = await runtimeCall(h, publishable, '/v1/resources/config/flags', { origin });
    expect(pk.status).toBe(200);
    expect(pk.headers['access-control-allow-origin']).toBe('*');
    const sk = await runtimeCall(h, secret, '/v1/resources/config/flags', { origin });
    expect(sk.status).toBe(200);
    expect(sk.headers['access-control-allow-origin']).toBeUndefined();
    const none = await runtimeCall(h, publishable, '/v1/resources/config/flags');
    expect(none.headers['access-control-allow-origin']).toBeUndefined();

    expect((await h.call('PUT', `${WS}/environments/production/settings/cors`, { value: { origins: [origin] } })).status).toBe(200);
    await eventually(async () => expect((await runtimeCall(h, publishable, '/v1/resources', { origin: 'https://evil.example' })).headers['access-control-allow-origin']).toBeUndefined());
    const allowed = await runtimeCall(h, secret, '/v1/resources/config/flags', { origin });
    expect(allowed.headers['access-control-allow-origin']).toBe(origin);
    expect(String(allowed.headers.vary)).toContain('Origin');
    expect(String(allowed.headers['access-control-expose-headers'])).toContain('ETag');
    await h.call('DELETE', `${WS}/environments/production/settings/cors`);
  });

  it('an event stream carries the CORS and request id headers too', async () => {
    const { request } = await import('node:http');
    const app = await (await import('../src/http/app.js')).buildApp({ deps: h.deps, runtime: h.runtime });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const req = request(`${base}/v1/stream`, { headers: { authorization: `Bearer ${publishable}`, origin, accept: 'text/event-stream' } }, (res) => {
          resolve(res.headers);
          req.destroy();
        });
        req.on('error', reject);
        req.end();
      });
      expect(headers['content-type']).toMatch(/text\/event-stream/);
      expect(headers['access-control-allow-origin']).toBe('*');
      expect(headers['x-request-id']).toMatch(/^req_/);
    } finally {
      await app.close();
    }
  });

  it('a bad cors setting is refused naming the field', async () => {
    const res = await h.call('PUT', `${WS}/environments/production/settings/cors`, { value: { origins: ['app.example/path'] } });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.error.details)).toContain('value.origins.0');
  });

  it('the management API stays same-origin by default', async () => {
    const res = await h.app.inject({ method: 'OPTIONS', url: `${WS}/environments`, headers: { origin, 'access-control-request-method': 'GET' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const get = await h.app.inject({ method: 'GET', url: `${WS}/environments`, headers: { origin, authorization: `Bearer ${h.token}` } });
    expect(get.statusCode).toBe(200);
    expect(get.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('STAGELINE_CORS_ORIGINS opens the management API to the origins it lists, and only those', async () => {
    const { buildApp } = await import('../src/http/app.js');
    const { loadConfig } = await import('../src/config.js');
    expect(loadConfig({ STAGELINE_CORS_ORIGINS: 'https://admin.example, http://localhost:5173' }).corsOrigins).toEqual(['https://admin.example', 'http://localhost:5173']);
    expect(() => loadConfig({ STAGELINE_CORS_ORIGINS: 'admin.example/x' })).toThrow(/STAGELINE_CORS_ORIGINS/);
    const app = await buildApp({ deps: h.deps, runtime: h.runtime, corsOrigins: ['https://admin.example'] });
    try {
      const pre = await app.inject({ method: 'OPTIONS', url: `${WS}/environments`, headers: { origin: 'https://admin.example', 'access-control-request-method': 'PATCH' } });
      expect(pre.statusCode).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe('https://admin.example');
      const get = await app.inject({ method: 'GET', url: `${WS}/environments`, headers: { origin: 'https://admin.example', authorization: `Bearer ${h.token}` } });
      expect(get.statusCode).toBe(200);
      expect(get.headers['access-control-allow-origin']).toBe('https://admin.example');
      const other = await app.inject({ method: 'GET', url: `${WS}/environments`, headers: { origin: 'https://evil.example', authorization: `Bearer ${h.token}` } });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await app.close();
    }
  });
});
