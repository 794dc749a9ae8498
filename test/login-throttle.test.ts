import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrustedProxies } from '../src/config.js';
import { startHarness, WS, type Harness } from './support.js';

const PASSWORD = 'correct horse battery';
const EMAIL = 'dev@example.com';

let h: Harness;
let proxied: Harness;
beforeAll(async () => {
  h = await startHarness();
  // A second node on the same database that sits behind a proxy at 10.0.0.5.
  proxied = await startHarness({ database: h.database, trustedProxies: ['10.0.0.0/24'] });
  const added = await h.call('POST', `${WS}/members`, { email: EMAIL, password: PASSWORD, role: 'developer' });
  if (added.status !== 201) throw new Error(JSON.stringify(added.body));
});
afterAll(async () => {
  await proxied?.close();
  await h?.close();
});

let nextClient = 1;
/** A client address of its own, so each test starts with fresh counters. */
const freshClient = () => `198.51.100.${nextClient++}`;

async function login(app: Harness['app'], client: string, email: string, password: string, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: client, headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify({ email, password }) });
  return { status: res.statusCode, body: res.json(), retryAfter: res.headers['retry-after'] === undefined ? null : Number(res.headers['retry-after']) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('login throttling', () => {
  it('after 5 wrong passwords the account is blocked from that address with 429 rate_limited and Retry-After', async () => {
    const client = freshClient();
    for (let i = 0; i < 5; i++) expect((await login(h.app, client, EMAIL, 'wrong password!!')).status).toBe(401);
    const refused = await login(h.app, client, EMAIL, 'wrong password!!');
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limited' });
    expect(refused.retryAfter).toBe(1);
    // Refused without checking: even the right password waits.
    expect((await login(h.app, client, EMAIL, PASSWORD)).status).toBe(429);
  });

  it('every failure after the block grows the next one', async () => {
    const client = freshClient();
    for (let i = 0; i < 5; i++) await login(h.app, client, EMAIL, 'wrong password!!');
    const seen: number[] = [];
    for (let round = 0; round < 3; round++) {
      const refused = await login(h.app, client, EMAIL, 'wrong password!!');
      expect(refused.status).toBe(429);
      seen.push(refused.retryAfter!);
      await sleep(refused.retryAfter! * 1000 + 100);
      expect((await login(h.app, client, EMAIL, 'wrong password!!')).status).toBe(401);
    }
    // Refused attempts count as well: 5 failures → 1 s, then 7 attempts → 2 s, then 9 → 5 s.
    expect(seen).toEqual([1, 2, 5]);
    const last = await login(h.app, client, EMAIL, 'wrong password!!');
    expect(last.retryAfter).toBeGreaterThan(5);
  }, 20_000);

  it('a success resets the account counter: five more failures pass before the next block', async () => {
    const client = freshClient();
    for (let i = 0; i < 5; i++) await login(h.app, client, EMAIL, 'wrong password!!');
    const blocked = await login(h.app, client, EMAIL, PASSWORD);
    expect(blocked.status).toBe(429);
    await sleep(blocked.retryAfter! * 1000 + 100);
    expect((await login(h.app, client, EMAIL, PASSWORD)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await login(h.app, client, EMAIL, 'wrong password!!')).status).toBe(401);
    expect((await login(h.app, client, EMAIL, 'wrong password!!')).status).toBe(429);
  });

  it('an unknown email gets the same answer and the same throttle as a wrong password', async () => {
    const client = freshClient();
    const wrong = await login(h.app, client, EMAIL, 'wrong password!!');
    const unknown = await login(h.app, client, 'nobody@example.com', 'wrong password!!');
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(unknown.body.error.code).toBe('unauthenticated');
    for (let i = 0; i < 4; i++) await login(h.app, client, 'nobody@example.com', 'wrong password!!');
    const refused = await login(h.app, client, 'nobody@example.com', 'wrong password!!');
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limited');
  });

  it('an unknown email takes about as long as a wrong password (a dummy hash is checked)', async () => {
    const median = async (email: string) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        expect((await login(h.app, freshClient(), email, 'wrong password!!')).status).toBe(401);
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[2]!;
    };
    const known = await median(EMAIL);
    const unknown = await median('nobody@example.com');
    expect(unknown / known).toBeGreaterThan(0.5);
    expect(unknown / known).toBeLessThan(2);
  });

  it('parallel guesses cannot slip past the count: at most one beyond the free five is checked', async () => {
    const client = freshClient();
    const answers = await Promise.all(Array.from({ length: 20 }, () => login(h.app, client, EMAIL, 'wrong password!!')));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(6);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(14);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
  });

  it('another address is not blocked by someone else guessing the account', async () => {
    const attacker = freshClient();
    for (let i = 0; i < 6; i++) await login(h.app, attacker, EMAIL, 'wrong password!!');
    expect((await login(h.app, attacker, EMAIL, PASSWORD)).status).toBe(429);
    expect((await login(h.app, freshClient(), EMAIL, PASSWORD)).status).toBe(200);
  });

  it('x-forwarded-for is ignored unless the peer is a trusted proxy', async () => {
    const client = freshClient();
    // Untrusted peer: rotating the header does not give fresh counters.
    for (let i = 0; i < 5; i++) await login(h.app, client, EMAIL, 'wrong password!!', { 'x-forwarded-for': `203.0.113.${i}` });
    expect((await login(h.app, client, EMAIL, PASSWORD, { 'x-forwarded-for': '203.0.113.99' })).status).toBe(429);
    // Behind a trusted proxy each forwarded client has its own counters.
    for (let i = 0; i < 5; i++) await login(proxied.app, '10.0.0.5', EMAIL, 'wrong password!!', { 'x-forwarded-for': '203.0.113.7' });
    expect((await login(proxied.app, '10.0.0.5', EMAIL, PASSWORD, { 'x-forwarded-for': '203.0.113.7' })).status).toBe(429);
    expect((await login(proxied.app, '10.0.0.5', EMAIL, PASSWORD, { 'x-forwarded-for': '203.0.113.8' })).status).toBe(200);
  });
});

describe('login throttling on Redis', () => {
  const REDIS_URL = 'redis://127.0.0.1:6379';
  const keyPrefix = `stageline-test-${randomBytes(6).toString('hex')}`;
  let a: Harness;
  let b: Harness;
  let redis: Redis;
  beforeAll(async () => {
    a = await startHarness({ limits: { redisUrl: REDIS_URL, keyPrefix } });
    b = await startHarness({ database: a.database, limits: { redisUrl: REDIS_URL, keyPrefix } });
    await Promise.all([a.runtime.limits.ready(), b.runtime.limits.ready()]);
    expect(a.runtime.limits.shared).toBe(true);
    await a.call('POST', `${WS}/members`, { email: EMAIL, password: PASSWORD, role: 'developer' });
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    if (redis) {
      const keys = await redis.keys(`${keyPrefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await b?.close();
    await a?.close();
  });

  it('failures counted on one node block the account on another, with the counters in Redis', async () => {
    const client = '198.51.100.200';
    for (let i = 0; i < 5; i++) expect((await login(a.app, client, EMAIL, 'wrong password!!')).status).toBe(401);
    const refused = await login(b.app, client, EMAIL, PASSWORD);
    expect(refused.status).toBe(429);
    expect(refused.retryAfter).toBe(1);
    expect((await redis.keys(`${keyPrefix}:login:*`)).length).toBeGreaterThan(0);
    await sleep(1100);
    expect((await login(b.app, client, EMAIL, PASSWORD)).status).toBe(200);
  });
});

describe('STAGELINE_TRUSTED_PROXIES', () => {
  it('takes comma-separated addresses and CIDRs', () => {
    expect(parseTrustedProxies(' 10.0.0.0/8, 127.0.0.1 ,::1,2001:db8::/32')).toEqual(['10.0.0.0/8', '127.0.0.1', '::1', '2001:db8::/32']);
    expect(parseTrustedProxies(undefined)).toEqual([]);
  });

  it.each(['10.0.0.0/33', 'proxy.internal', '10.0.0.1/8/8', '::1/129'])('refuses %s', (entry) => {
    expect(() => parseTrustedProxies(entry)).toThrow(/STAGELINE_TRUSTED_PROXIES/);
  });
});
