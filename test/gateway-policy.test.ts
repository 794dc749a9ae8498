// A route's policy through the gateway: client allow-lists (IPv4, IPv6, x-forwarded-for only
// from trusted proxies), each limit tier with its headers, canary and blue-green splits.
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway/server.js';
import {
  allowLoopback,
  commitRoutes,
  gatewayCall,
  startHarness,
  startTestGateway,
  startUpstream,
  TEST_DB,
  WS,
  type Harness,
  type TestUpstream,
} from './support.js';

let h: Harness;
let primary: TestUpstream;
let canary: TestUpstream;
let blue: TestUpstream;
let green: TestUpstream;
/** Listens on `::` (IPv6 and IPv4-mapped), trusts no proxy. */
let dual: RunningGateway;
/** Trusts 127.0.0.1 as a proxy: its x-forwarded-for names the client. */
let behindProxy: RunningGateway;
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

const named = (name: string) => (_req: unknown, res: import('node:http').ServerResponse) => res.writeHead(200, { 'content-type': 'text/plain' }).end(name);

beforeAll(async () => {
  h = await startHarness();
  primary = await startUpstream(named('primary'));
  canary = await startUpstream(named('canary'));
  // Blue answers slowly, so requests are in flight on it when green takes over.
  blue = await startUpstream((_req, res) => setTimeout(() => res.writeHead(200).end('blue'), 40));
  green = await startUpstream(named('green'));
  await allowLoopback(h, 'production');
  await commitRoutes(
    h,
    {
      v4: { match: { pathPrefix: '/v4' }, upstream: { url: primary.url }, clients: ['127.0.0.0/8'] },
      v6: { match: { pathPrefix: '/v6' }, upstream: { url: primary.url }, clients: ['::1/128', '2001:db8::/32'] },
      partner: { match: { pathPrefix: '/partner' }, upstream: { url: primary.url }, clients: ['203.0.113.0/24'] },
      window: { match: { pathPrefix: '/window' }, upstream: { url: primary.url }, rateLimit: { requests: 3, windowSec: 60 } },
      daily: { match: { pathPrefix: '/daily' }, upstream: { url: primary.url }, rateLimit: { requests: 100, windowSec: 60, dailyQuota: 2 } },
      burst: { match: { pathPrefix: '/burst' }, upstream: { url: primary.url }, rateLimit: { requests: 3, windowSec: 2, burst: 3 } },
      shared: { match: { pathPrefix: '/shared' }, upstream: { url: primary.url }, rateLimit: { requests: 2, windowSec: 60, per: 'route' } },
      canary: { match: { pathPrefix: '/canary' }, upstream: { url: primary.url }, split: { canary: { url: canary.url, weight: 20 } } },
      switch: { match: { pathPrefix: '/switch' }, upstream: { url: blue.url }, split: { blueGreen: { blue: blue.url, green: green.url, active: 'blue' } } },
    },
    'production',
  );
  dual = await startTestGateway(h, { host: '::' });
  behindProxy = await startTestGateway(h, { trustedProxies: ['127.0.0.1'] });
});

afterAll(async () => {
  agent.destroy();
  await dual?.close();
  await behindProxy?.close();
  for (const upstream of [primary, canary, blue, green]) await upstream?.close();
  await h?.close();
});

const at = (gateway: RunningGateway, host: string) => `http://${host.includes(':') ? `[${host}]` : host}:${gateway.address.port}`;

describe(`client allow-lists on ${TEST_DB}`, () => {
  it('let an IPv4 client in by an IPv4 block and refuse it where only IPv6 is listed', async () => {
    expect((await gatewayCall(at(dual, '127.0.0.1'), { path: '/v4' })).status).toBe(200);
    const refused = await gatewayCall(at(dual, '127.0.0.1'), { path: '/v6' });
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({ code: 'client_not_allowed', details: [{ route: 'v6', address: '127.0.0.1' }] });
  });

  it('let an IPv6 client in by an IPv6 block and refuse it where only IPv4 is listed', async () => {
    expect((await gatewayCall(at(dual, '::1'), { path: '/v6' })).status).toBe(200);
    const refused = await gatewayCall(at(dual, '::1'), { path: '/v4' });
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('client_not_allowed');
  });

  it('ignore x-forwarded-for from a peer that is not a trusted proxy', async () => {
    const spoofed = await gatewayCall(at(dual, '127.0.0.1'), { path: '/partner', headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(spoofed.status).toBe(403);
    expect(spoofed.json.error.details[0].address).toBe('127.0.0.1');
  });

  it('believe x-forwarded-for from a trusted proxy, and extend it upstream', async () => {
    const before = primary.requests.length;
    const res = await gatewayCall(behindProxy.url, { path: '/partner', headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(res.status).toBe(200);
    expect(primary.requests.length).toBe(before + 1);
    expect(primary.requests.at(-1)!.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    // Single-address client headers a client could forge never reach the upstream.
    const forged = await gatewayCall(behindProxy.url, { path: '/partner', headers: { 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '10.0.0.1', 'true-client-ip': '10.0.0.1', 'cf-connecting-ip': '10.0.0.1' } });
    expect(forged.status).toBe(200);
    const seen = primary.requests.at(-1)!.headers;
    expect([seen['x-real-ip'], seen['true-client-ip'], seen['cf-connecting-ip']]).toEqual([undefined, undefined, undefined]);
    const outside = await gatewayCall(behindProxy.url, { path: '/partner', headers: { 'x-forwarded-for': '198.51.100.1' } });
    expect(outside.status).toBe(403);
  });

  it('follow the environment: an override lists other clients', async () => {
    const set = await h.call('PUT', `${WS}/environments/production/resources/route/partner/override`, { override: { clients: ['127.0.0.1'] } });
    expect(set.status).toBe(200);
    expect((await gatewayCall(at(dual, '127.0.0.1'), { path: '/partner' })).status).toBe(200);
    expect((await gatewayCall(at(dual, '::1'), { path: '/partner' })).status).toBe(403);
  });
});

describe('limits through the gateway', () => {
  const limitHeaders = (res: { headers: Record<string, unknown> }) => ({
    policy: res.headers['ratelimit-policy'],
    limit: res.headers['x-ratelimit-limit'],
    remaining: res.headers['x-ratelimit-remaining'],
  });

  it('window: answers the limit headers on every response, then 429 with Retry-After naming the tier', async () => {
    const client = { 'x-forwarded-for': '192.0.2.10' };
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await gatewayCall(behindProxy.url, { path: '/window', headers: client }));
    expect(seen.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(seen.map((r) => limitHeaders(r).remaining)).toEqual(['2', '1', '0']);
    expect(limitHeaders(seen[0]!)).toMatchObject({ policy: '"window";q=3;w=60', limit: '3' });
    expect(seen[0]!.headers.ratelimit).toMatch(/^"window";r=2;t=\d+$/);
    const refused = await gatewayCall(behindProxy.url, { path: '/window', headers: client });
    expect(refused.status).toBe(429);
    expect(refused.json.error).toMatchObject({ code: 'rate_limited', details: [{ route: 'window', limit: 'window' }] });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limitHeaders(refused).remaining).toBe('0');
    // Another client has its own counter.
    expect((await gatewayCall(behindProxy.url, { path: '/window', headers: { 'x-forwarded-for': '192.0.2.11' } })).status).toBe(200);
  });

  it('daily: refuses past the quota with the daily tier and a Retry-After up to the next UTC day', async () => {
    const client = { 'x-forwarded-for': '192.0.2.20' };
    expect((await gatewayCall(behindProxy.url, { path: '/daily', headers: client })).status).toBe(200);
    expect((await gatewayCall(behindProxy.url, { path: '/daily', headers: client })).status).toBe(200);
    const refused = await gatewayCall(behindProxy.url, { path: '/daily', headers: client });
    expect(refused.status).toBe(429);
    expect(refused.json.error.details[0].limit).toBe('daily');
    expect(refused.headers['ratelimit-policy']).toContain('"daily";q=2;w=86400');
    const retry = Number(refused.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(86_400);
  });

  it('burst: refuses requests packed across the edge of two windows with the burst tier', async () => {
    const client = { 'x-forwarded-for': '192.0.2.30' };
    // 1 request, then 2 late in the window: the window is used up and the bucket holds 1.
    expect((await gatewayCall(behindProxy.url, { path: '/burst', headers: client })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    expect((await gatewayCall(behindProxy.url, { path: '/burst', headers: client })).status).toBe(200);
    expect((await gatewayCall(behindProxy.url, { path: '/burst', headers: client })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    // A new window admits 3 again; the bucket does not.
    let refused = null;
    for (let i = 0; i < 3 && refused === null; i++) {
      const res = await gatewayCall(behindProxy.url, { path: '/burst', headers: client });
      if (res.status === 429) refused = res;
    }
    expect(refused).not.toBeNull();
    expect(refused!.json.error.details[0].limit).toBe('burst');
    expect(Number(refused!.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('per: route counts every client together', async () => {
    expect((await gatewayCall(behindProxy.url, { path: '/shared', headers: { 'x-forwarded-for': '192.0.2.40' } })).status).toBe(200);
    expect((await gatewayCall(behindProxy.url, { path: '/shared', headers: { 'x-forwarded-for': '192.0.2.41' } })).status).toBe(200);
    expect((await gatewayCall(behindProxy.url, { path: '/shared', headers: { 'x-forwarded-for': '192.0.2.42' } })).status).toBe(429);
  });

  it('keeps counting across a rebuild of the table that leaves the limits as they are', async () => {
    const client = { 'x-forwarded-for': '192.0.2.10' };
    // A change to another route rebuilds production's table.
    await h.call('PUT', `${WS}/environments/production/resources/route/v4/override`, { override: { clients: ['127.0.0.1'] } });
    expect((await gatewayCall(behindProxy.url, { path: '/window', headers: client })).status).toBe(429);
  });
});

/** Runs `count` requests with at most `concurrency` at a time. */
async function many<T>(count: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await one(i);
      }
    }),
  );
  return out;
}

const clientAddress = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

describe('splits', () => {
  it('sends a canary its weight of clients within 2 points over 10,000, each client always to the same side', async () => {
    const results = await many(10_000, 32, async (i) => {
      const res = await gatewayCall(behindProxy.url, { path: '/canary', headers: { 'x-forwarded-for': clientAddress(i) }, agent });
      expect(res.status).toBe(200);
      expect(res.headers['x-stageline-target']).toBe(res.text);
      return res.text;
    });
    const share = results.filter((side) => side === 'canary').length / results.length;
    expect(share).toBeGreaterThanOrEqual(0.18);
    expect(share).toBeLessThanOrEqual(0.22);
    // Sticky: the same clients again, in another order, land where they did.
    const sample = Array.from({ length: 500 }, (_, k) => (k * 7919) % 10_000);
    const again = await many(sample.length, 16, async (k) => (await gatewayCall(behindProxy.url, { path: '/canary', headers: { 'x-forwarded-for': clientAddress(sample[k]!) }, agent })).text);
    expect(again).toEqual(sample.map((i) => results[i]));
  });

  it('switches blue-green by override with no failed request under load; requests in flight finish on blue', async () => {
    const statuses: number[] = [];
    const sides: { side: string; startedAfterSwitch: boolean; endedAfterSwitch: boolean }[] = [];
    let switched = false;
    let stop = false;
    const load = Promise.all(
      Array.from({ length: 16 }, async () => {
        while (!stop) {
          const startedAfterSwitch = switched;
          const res = await gatewayCall(behindProxy.url, { path: '/switch', agent });
          statuses.push(res.status);
          sides.push({ side: res.text, startedAfterSwitch, endedAfterSwitch: switched });
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    const set = await h.call('PUT', `${WS}/environments/production/resources/route/switch/override`, { override: { split: { blueGreen: { active: 'green' } } } });
    expect(set.status).toBe(200);
    switched = true;
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await load;
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(sides.filter((s) => !s.startedAfterSwitch && s.side === 'blue').length).toBeGreaterThan(0);
    expect(sides.filter((s) => s.startedAfterSwitch).map((s) => s.side)).toEqual(sides.filter((s) => s.startedAfterSwitch).map(() => 'green'));
    expect(sides.filter((s) => s.startedAfterSwitch).length).toBeGreaterThan(0);
    // Requests that were on blue when the switch was made finished there.
    expect(sides.filter((s) => !s.startedAfterSwitch && s.endedAfterSwitch && s.side === 'blue').length).toBeGreaterThan(0);
  });
});
