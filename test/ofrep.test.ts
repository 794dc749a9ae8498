// The OpenFeature Remote Evaluation Protocol on the runtime API: config resources as flags.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, createApiKey, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
const keys: Record<'development' | 'production', { secret: string; publishable: string }> = {} as never;

const beta = {
  value: false,
  flag: {
    variants: { on: true, off: false },
    defaultVariant: 'off',
    rules: [{ if: { attribute: 'email', endsWith: '@example.com' }, variant: 'on' }],
    rollout: { variants: { on: 50, off: 50 }, by: 'targetingKey' },
  },
};

async function evaluate(key: string, flag: string, body: unknown = { context: {} }, headers: Record<string, string> = {}) {
  const response = await h.app.inject({
    method: 'POST',
    url: `/ofrep/v1/evaluate/flags/${flag}`,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });
  return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : null, headers: response.headers };
}

async function bulk(key: string, body: unknown = { context: {} }, headers: Record<string, string> = {}) {
  const response = await h.app.inject({
    method: 'POST',
    url: '/ofrep/v1/evaluate/flags',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });
  return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : null, headers: response.headers };
}

beforeAll(async () => {
  h = await startHarness();
  for (const env of ['development', 'production'] as const) keys[env] = { secret: await createApiKey(h, env, 'secret'), publishable: await createApiKey(h, env, 'publishable') };
  await h.call('PUT', `${WS}/variables/checkout_host`, { value: 'dev.example', overrides: { production: 'pay.example' } });
  await commitDrafts(h, {
    'config/beta': beta,
    'config/checkout-url': { value: 'https://{{ vars.checkout_host }}/pay' },
    'config/banner': { value: 'Hello', public: true },
    'config/kill-me': { value: 'on', flag: { variants: { a: 'A', b: 'B' }, defaultVariant: 'b', rules: [{ if: { attribute: 'plan', equals: 'pro' }, variant: 'a' }] } },
  });
  const promoted = await promote(h, 'production', { message: 'flags' });
  if (promoted.status !== 201) throw new Error(`promotion: ${promoted.status} ${JSON.stringify(promoted.body)}`);
});
afterAll(async () => h?.close());

describe('one flag', () => {
  it('a plain config is its resolved value, variant default, reason STATIC', async () => {
    const res = await evaluate(keys.production.secret, 'checkout-url');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ key: 'checkout-url', value: 'https://pay.example/pay', reason: 'STATIC', variant: 'default', metadata: { hash: expect.stringMatching(/^[0-9a-f]{64}$/) } });
  });

  it('a matching rule gives its variant with TARGETING_MATCH', async () => {
    const res = await evaluate(keys.production.secret, 'beta', { context: { targetingKey: 'u1', email: 'ana@example.com' } });
    expect(res.body).toMatchObject({ key: 'beta', value: true, variant: 'on', reason: 'TARGETING_MATCH' });
  });

  it('the rollout splits on the targeting key, the same answer for the same key', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const first = await evaluate(keys.production.secret, 'beta', { context: { targetingKey: `user-${i}` } });
      const again = await evaluate(keys.production.secret, 'beta', { context: { targetingKey: `user-${i}` } });
      expect(first.body.reason).toBe('SPLIT');
      expect(again.body.variant).toBe(first.body.variant);
      seen.add(first.body.variant);
    }
    expect([...seen].sort()).toEqual(['off', 'on']);
  });

  it('without rule match or rollout attribute the default variant answers with DEFAULT', async () => {
    const res = await evaluate(keys.production.secret, 'beta', {});
    expect(res.body).toMatchObject({ value: false, variant: 'off', reason: 'DEFAULT' });
  });

  it("an override of flag.defaultVariant flips the flag in that environment only", async () => {
    const set = await h.call('PUT', `${WS}/environments/production/resources/config/beta/override`, { override: { flag: { defaultVariant: 'on' } } });
    expect(set.status).toBe(200);
    try {
      expect((await evaluate(keys.production.secret, 'beta', { context: {} })).body).toMatchObject({ value: true, variant: 'on', reason: 'DEFAULT' });
      expect((await evaluate(keys.development.secret, 'beta', { context: {} })).body).toMatchObject({ value: false, variant: 'off' });
    } finally {
      await h.call('DELETE', `${WS}/environments/production/resources/config/beta/override`);
    }
    expect((await evaluate(keys.production.secret, 'beta', { context: { targetingKey: 'u1' } })).body.reason).toBe('SPLIT');
  });

  it('a switched-off flag answers its default with DISABLED, whatever the context', async () => {
    await h.call('PUT', `${WS}/environments/production/resources/config/kill-me/active`, { active: false });
    try {
      const res = await evaluate(keys.production.secret, 'kill-me', { context: { plan: 'pro' } });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ key: 'kill-me', value: 'B', variant: 'b', reason: 'DISABLED' });
    } finally {
      await h.call('PUT', `${WS}/environments/production/resources/config/kill-me/active`, { active: true });
    }
    expect((await evaluate(keys.production.secret, 'kill-me', { context: { plan: 'pro' } })).body).toMatchObject({ value: 'A', reason: 'TARGETING_MATCH' });
  });

  it('a key no resource has is 404 FLAG_NOT_FOUND', async () => {
    const res = await evaluate(keys.production.secret, 'nothing-here');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ key: 'nothing-here', errorCode: 'FLAG_NOT_FOUND', errorDetails: expect.any(String) });
  });

  it('a route is never a flag, even with the key of a route', async () => {
    await commitDrafts(h, { 'route/only-a-route': { match: { pathPrefix: '/r' }, upstream: { url: 'https://example.com' } } });
    const res = await evaluate(keys.development.secret, 'only-a-route');
    expect(res.status).toBe(404);
    expect(res.body.errorCode).toBe('FLAG_NOT_FOUND');
  });

  it('a publishable key reads public configs, and a private one exactly like a missing one', async () => {
    expect((await evaluate(keys.production.publishable, 'banner')).body).toMatchObject({ value: 'Hello', reason: 'STATIC' });
    const hidden = await evaluate(keys.production.publishable, 'checkout-url');
    const missing = await evaluate(keys.production.publishable, 'checkout-urx');
    expect(hidden.status).toBe(404);
    expect({ ...hidden.body, key: 'x', errorDetails: hidden.body.errorDetails.replace('checkout-url', 'K') }).toEqual({ ...missing.body, key: 'x', errorDetails: missing.body.errorDetails.replace('checkout-urx', 'K') });
  });

  it('a switched-off private config stays hidden from a publishable key', async () => {
    await h.call('PUT', `${WS}/environments/production/resources/config/checkout-url/active`, { active: false });
    try {
      expect((await evaluate(keys.production.publishable, 'checkout-url')).status).toBe(404);
      expect((await evaluate(keys.production.secret, 'checkout-url')).body.reason).toBe('DISABLED');
    } finally {
      await h.call('PUT', `${WS}/environments/production/resources/config/checkout-url/active`, { active: true });
    }
  });

  it.each([
    ['a list', { context: [1] }],
    ['a string', { context: 'u1' }],
    ['a numeric targeting key', { context: { targetingKey: 42 } }],
  ])('a context that is %s is 400 INVALID_CONTEXT', async (_name, body) => {
    const res = await evaluate(keys.production.secret, 'beta', body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ key: 'beta', errorCode: 'INVALID_CONTEXT', errorDetails: expect.any(String) });
  });

  it('a config that cannot be resolved now (a missing secret) is 400 GENERAL, and a failure entry in bulk', async () => {
    const draft = await h.call('PUT', `${WS}/environments/development/resources/config/needs-secret`, { content: { value: '{{ secrets.not_set }}' } });
    expect(draft.status).toBe(200);
    expect((await h.call('POST', `${WS}/environments/development/commits`, { message: 'needs a secret' })).status).toBe(201);
    const res = await evaluate(keys.development.secret, 'needs-secret');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ key: 'needs-secret', errorCode: 'GENERAL', errorDetails: expect.stringContaining('not_set') });
    const all = await bulk(keys.development.secret);
    expect(all.body.flags.find((f: { key: string }) => f.key === 'needs-secret')).toEqual(res.body);
  });

  it('a body that is not a JSON object is 400 in the runtime API error shape', async () => {
    const list = await evaluate(keys.production.secret, 'beta', [1]);
    expect(list.status).toBe(400);
    expect(list.body.error.code).toBe('invalid_request');
    const broken = await h.app.inject({ method: 'POST', url: '/ofrep/v1/evaluate/flags', headers: { authorization: `Bearer ${keys.production.secret}`, 'content-type': 'application/json' }, payload: '{"context":' });
    expect(broken.statusCode).toBe(400);
    expect(JSON.parse(broken.body).error.code).toBe('invalid_json');
  });

  it('a key no resource key can be is simply not found', async () => {
    const res = await evaluate(keys.production.secret, `${'k'.repeat(90)}%20~`);
    expect(res.status).toBe(404);
    expect(res.body.errorCode).toBe('FLAG_NOT_FOUND');
  });

  it('a missing or unknown key is 401 in the runtime API error shape', async () => {
    const none = await h.app.inject({ method: 'POST', url: '/ofrep/v1/evaluate/flags/beta', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(none.statusCode).toBe(401);
    expect(JSON.parse(none.body).error.code).toBe('unauthenticated');
    expect((await evaluate('sk_not_a_key_0123456789', 'beta')).status).toBe(401);
  });

  it('a revoked key is refused', async () => {
    const created = await h.call('POST', `${WS}/environments/production/api-keys`, { name: 'short-lived', kind: 'secret' });
    expect((await evaluate(created.body.key, 'banner')).status).toBe(200);
    expect((await h.call('DELETE', `${WS}/environments/production/api-keys/${created.body.id}`)).status).toBeLessThan(300);
    expect((await evaluate(created.body.key, 'banner')).status).toBe(401);
  });
});

describe('every flag (bulk)', () => {
  it('evaluates every config the key sees, sorted by key, with an ETag', async () => {
    const res = await bulk(keys.production.secret, { context: { targetingKey: 'u1', email: 'ana@example.com' } });
    expect(res.status).toBe(200);
    expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(res.body.flags.map((f: { key: string }) => f.key)).toEqual(['banner', 'beta', 'checkout-url', 'kill-me']);
    expect(res.body.flags[1]).toMatchObject({ key: 'beta', value: true, reason: 'TARGETING_MATCH' });
  });

  it('a publishable key gets public configs only', async () => {
    const res = await bulk(keys.production.publishable);
    expect(res.body.flags.map((f: { key: string }) => f.key)).toEqual(['banner']);
  });

  it('If-None-Match with the current tag is 304; another context or a change is a new tag', async () => {
    const context = { context: { targetingKey: 'u7' } };
    const first = await bulk(keys.production.secret, context);
    const etag = first.headers.etag as string;
    const same = await bulk(keys.production.secret, context, { 'if-none-match': etag });
    expect(same.status).toBe(304);
    expect(same.body).toBeNull();
    const other = await bulk(keys.production.secret, { context: { targetingKey: 'u7', email: 'x@example.com' } }, { 'if-none-match': etag });
    expect(other.status).toBe(200);
    expect(other.headers.etag).not.toBe(etag);
    await h.call('PUT', `${WS}/environments/production/resources/config/banner/override`, { override: { value: 'Hi' } });
    try {
      const changed = await bulk(keys.production.secret, context, { 'if-none-match': etag });
      expect(changed.status).toBe(200);
      expect(changed.body.flags[0]).toMatchObject({ key: 'banner', value: 'Hi' });
    } finally {
      await h.call('DELETE', `${WS}/environments/production/resources/config/banner/override`);
    }
  });

  it('a bad context fails the whole request with 400 INVALID_CONTEXT', async () => {
    const res = await bulk(keys.production.secret, { context: { targetingKey: false } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ errorCode: 'INVALID_CONTEXT', errorDetails: expect.stringContaining('targetingKey') });
  });

  it("a key of one environment evaluates that environment's flags only", async () => {
    const dev = await bulk(keys.development.secret);
    const prod = await bulk(keys.production.secret);
    expect(dev.body.flags.find((f: { key: string }) => f.key === 'checkout-url').value).toBe('https://dev.example/pay');
    expect(prod.body.flags.find((f: { key: string }) => f.key === 'checkout-url').value).toBe('https://pay.example/pay');
  });
});

describe('browsers', () => {
  it('a preflight is answered for the OFREP paths', async () => {
    const res = await h.app.inject({
      method: 'OPTIONS',
      url: '/ofrep/v1/evaluate/flags',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,if-none-match' },
    });
    expect(res.statusCode).toBe(204);
    expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toContain('if-none-match');
  });

  it("the answer names the origin only when the environment's cors setting allows it", async () => {
    const call = (origin: string) =>
      h.app.inject({ method: 'POST', url: '/ofrep/v1/evaluate/flags', headers: { authorization: `Bearer ${keys.development.publishable}`, 'content-type': 'application/json', origin }, payload: '{}' });
    // Without a setting a publishable key may be used from any origin (as on /v1).
    expect((await call('https://app.example')).headers['access-control-allow-origin']).toBe('*');
    expect((await h.call('PUT', `${WS}/environments/development/settings/cors`, { value: { origins: ['https://app.example'] } })).status).toBe(200);
    const allowed = await call('https://app.example');
    expect(allowed.statusCode).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example');
    expect((await call('https://evil.example')).headers['access-control-allow-origin']).toBeUndefined();
  });
});
