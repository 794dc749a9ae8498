import { describe, expect, it } from 'vitest';
import type { Environment } from '../domain/environments/chain.js';
import { compileEgress } from '../domain/egress/policy.js';
import type { RouteContent } from '../domain/resources/kinds.js';
import { templateScope } from '../domain/resolution/resolve.js';
import type { EgressFor } from '../services/context.js';
import { compileAllowList } from './clients.js';
import type { RouteLimiter, UpstreamPool, UpstreamTarget } from './contract.js';
import { compileSplit } from './splits.js';
import { compileTable, pickRoute, type CompiledRoute, type PrefixGroup, type RouteSource, type TableParts } from './table.js';
import { parseUpstreamUrl } from './upstream.js';

const environment: Environment = {
  id: 'env_prod',
  workspaceId: 'ws_1',
  slug: 'production',
  name: 'Production',
  kind: 'chain',
  position: 1,
  protected: false,
  approvalsRequired: 0,
  approvalsForRollback: false,
  obfuscateData: false,
  region: null,
  color: null,
  parentId: null,
  headRelease: 1,
  forkRelease: null,
  mergeBase: null,
  expiresAt: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

function egress(editable: boolean, setting?: { allow?: string[]; deny?: string[] }): EgressFor {
  return { policy: { environment: 'production', editable, rules: compileEgress(setting), listeners: [], localAddresses: [] }, key: `k${editable}`, invalid: false };
}

const pools: UpstreamTarget[] = [];
const parts: TableParts = {
  parseUpstreamUrl,
  pool: (_egress, target) => {
    pools.push(target);
    return { target } as unknown as UpstreamPool;
  },
  allowList: compileAllowList,
  limiter: () => ({ take: () => ({ allowed: true, headers: [] }) }) as RouteLimiter,
  split: (_route, primary, spec) => {
    const split = compileSplit(spec, primary);
    const names = 'blueGreen' in spec ? ['blue', 'green'] : ['primary', 'canary'];
    return { targets: split.targets.map((url, i) => ({ name: names[i]!, url })), splitter: split.choose };
  },
};

const scope = templateScope({ vars: { tenant: 't-1', count: 7 }, secrets: { stripe: 'sk_live_x' }, env: { slug: 'production', name: 'Production' } });

function active(key: string, content: Partial<RouteContent> & { match: RouteContent['match'] }): RouteSource {
  return { key, state: 'active', content: { upstream: { url: 'https://api.example/v1' }, ...content } as RouteContent };
}

function table(routes: RouteSource[], egressFor = egress(false)) {
  return compileTable({ environment, routes, scope, egress: egressFor }, parts);
}

const headers = (values: Record<string, string> = {}) => ({ header: (name: string) => values[name] });
const routeKey = (picked: CompiledRoute | PrefixGroup | undefined) => (picked && 'key' in picked ? picked.key : picked === undefined ? 'none' : `405 ${picked.allow}`);

describe('compileTable and pickRoute', () => {
  const t = table([
    active('root', { match: { pathPrefix: '/' } }),
    active('api', { match: { pathPrefix: '/api/' } }),
    active('api-write', { match: { pathPrefix: '/api', methods: ['POST', 'PUT'] } }),
    active('api-beta', { match: { pathPrefix: '/api', headers: { 'X-Beta': '1' } } }),
    active('users', { match: { pathPrefix: '/api/users', methods: ['GET'] } }),
    active('admin', { match: { pathPrefix: '/admin', headers: { 'x-admin': 'yes' } } }),
  ]);
  const pick = (method: string, path: string, values?: Record<string, string>) => routeKey(pickRoute(t.group(path), method, headers(values)));

  it.each([
    ['GET', '/api/orders', undefined, 'api'],
    ['POST', '/api/orders', undefined, 'api-write'],
    ['GET', '/api/orders', { 'x-beta': '1' }, 'api-beta'],
    ['GET', '/api/users/1', undefined, 'users'],
    ['DELETE', '/api/users/1', undefined, '405 GET'],
    ['GET', '/apix', undefined, 'root'],
    ['GET', '/admin/x', { 'x-admin': 'yes' }, 'admin'],
    // Only a route with headers holds /admin: without them the shorter prefix serves.
    ['GET', '/admin/x', undefined, 'root'],
  ])('%s %s %j takes %s', (method, path, values, expected) => {
    expect(pick(method, path, values)).toBe(expected);
  });

  it('answers nothing without a route for the path', () => {
    const noRoot = table([active('api', { match: { pathPrefix: '/api' } })]);
    expect(pickRoute(noRoot.group('/other'), 'GET', headers())).toBeUndefined();
  });

  it('lists every method of a group in Allow, or all when one route takes any', () => {
    const methods = table([active('a', { match: { pathPrefix: '/x', methods: ['GET'] } }), active('b', { match: { pathPrefix: '/x', methods: ['PUT', 'GET'] } })]);
    expect(routeKey(pickRoute(methods.group('/x'), 'DELETE', headers()))).toBe('405 GET, PUT');
  });
});

describe('compiling a route', () => {
  it('renders templates once: injected headers as flat lower-case pairs, numbers as text, the body typed', () => {
    const [route] = table([
      active('pay', {
        match: { pathPrefix: '/pay' },
        injectHeaders: { Authorization: 'Bearer {{ secrets.stripe }}', 'X-Count': '{{ vars.count }}' },
        injectBody: { tenant: '{{ vars.tenant }}', count: '{{ vars.count }}' },
      }),
    ]).routes;
    expect(route!.refusal).toBeNull();
    expect(route!.injectHeaders).toEqual(['authorization', 'Bearer sk_live_x', 'x-count', '7']);
    expect([...route!.injectedNames]).toEqual(['authorization', 'x-count']);
    expect(route!.injectBody).toEqual({ tenant: 't-1', count: 7 });
  });

  it('answers 502 route_invalid for a route whose template cannot render, naming the secret and no value', () => {
    const t = table([
      active('bad', { match: { pathPrefix: '/bad' }, injectHeaders: { 'x-key': '{{ secrets.absent }}' } }),
      active('good', { match: { pathPrefix: '/good' } }),
    ]);
    const bad = t.routes.find((r) => r.key === 'bad')!;
    expect(bad.refusal).toMatchObject({ status: 502, code: 'route_invalid' });
    expect(bad.refusal!.message).toContain('absent');
    expect(bad.refusal!.body).not.toContain('sk_live_x');
    expect(t.routes.find((r) => r.key === 'good')!.refusal).toBeNull();
    expect(t.problems.map((p) => p.route)).toEqual(['bad']);
  });

  it('refuses a header value that renders with a line break', () => {
    const crlf = compileTable(
      { environment, routes: [active('crlf', { match: { pathPrefix: '/c' }, injectHeaders: { 'x-a': '{{ vars.v }}' } })], scope: templateScope({ vars: { v: 'a\r\nb: c' }, env: { slug: 'p', name: 'P' } }), egress: egress(false) },
      parts,
    );
    expect(crlf.routes[0]!.refusal).toMatchObject({ code: 'route_invalid' });
    expect(crlf.routes[0]!.refusal!.message).toContain('injectHeaders.x-a');
  });

  it('refuses a URL that renders to something that is not an upstream URL', () => {
    const t = compileTable(
      { environment, routes: [active('u', { match: { pathPrefix: '/u' }, upstream: { url: '{{ vars.url }}' } })], scope: templateScope({ vars: { url: 'ftp://x' }, env: { slug: 'p', name: 'P' } }), egress: egress(false) },
      parts,
    );
    expect(t.routes[0]!.refusal).toMatchObject({ code: 'route_invalid' });
    expect(t.routes[0]!.refusal!.message).toContain('upstream.url');
  });

  it('keeps a switched-off route on its prefix with 503 route_inactive, and an invalid merge with 502', () => {
    const t = table([
      { key: 'off', state: 'inactive', content: { match: { pathPrefix: '/off' }, upstream: { url: 'https://a' } } },
      { key: 'broken', state: 'invalid', pathPrefix: '/broken', issues: [{ field: 'content.upstream.url', message: 'must be an http(s) URL' }] },
    ]);
    expect(routeKey(pickRoute(t.group('/off/x'), 'GET', headers()))).toBe('off');
    expect(t.routes.find((r) => r.key === 'off')!.refusal).toMatchObject({ status: 503, code: 'route_inactive' });
    expect(t.routes.find((r) => r.key === 'broken')!.refusal).toMatchObject({ status: 502, code: 'route_invalid' });
  });

  it('keeps the methods and headers of a switched-off route, so its siblings on the prefix keep their traffic', () => {
    for (const [first, second] of [['a-write', 'b-read'], ['z-write', 'b-read']]) {
      const t = table([
        { key: first!, state: 'inactive', content: { match: { pathPrefix: '/orders', methods: ['POST'] }, upstream: { url: 'https://a' } } },
        active(second!, { match: { pathPrefix: '/orders' } }),
        { key: 'beta', state: 'inactive', content: { match: { pathPrefix: '/orders', headers: { 'x-beta': 'yes' } }, upstream: { url: 'https://a' } } },
      ]);
      const pick = (method: string, values?: Record<string, string>) => pickRoute(t.group('/orders/1'), method, headers(values)) as CompiledRoute;
      expect(pick('GET').key).toBe(second);
      expect(pick('GET').refusal).toBeNull();
      expect(pick('POST').key).toBe(first);
      expect(pick('POST').refusal).toMatchObject({ status: 503, code: 'route_inactive' });
      expect(pick('GET', { 'x-beta': 'yes' }).key).toBe('beta');
    }
  });

  it('refuses upstreams the egress policy denies without making a pool', () => {
    pools.length = 0;
    const t = table([
      active('loop', { match: { pathPrefix: '/l' }, upstream: { url: 'http://127.0.0.1:9/x' } }),
      active('meta', { match: { pathPrefix: '/m' }, upstream: { url: 'http://metadata.google.internal/' } }),
      active('denied', { match: { pathPrefix: '/d' }, upstream: { url: 'https://api.example/' } }),
      active('named', { match: { pathPrefix: '/n' }, upstream: { url: 'https://other.example/' } }),
    ], egress(false, { deny: ['api.example'] }));
    const target = (key: string) => t.routes.find((r) => r.key === key)!.targets[0]!;
    for (const key of ['loop', 'meta', 'denied']) {
      expect(target(key).pool).toBeNull();
      expect(target(key).refusal).toMatchObject({ status: 502, code: 'egress_denied' });
    }
    expect(target('named').pool).not.toBeNull();
    expect(pools.map((p) => p.hostname)).toEqual(['other.example']);
  });

  it('answers 502 route_invalid for a route whose compilation fails unforeseen, and builds the others', () => {
    const failing: TableParts = { ...parts, limiter: () => { throw new Error('boom with sk_live_x'); } };
    const t = compileTable({ environment, routes: [active('limited', { match: { pathPrefix: '/l' }, rateLimit: { requests: 1, windowSec: 1 } }), active('ok', { match: { pathPrefix: '/ok' } })], scope, egress: egress(false) }, failing);
    expect(t.routes.find((r) => r.key === 'limited')!.refusal).toMatchObject({ status: 502, code: 'route_invalid' });
    expect(t.routes.find((r) => r.key === 'limited')!.refusal!.body).not.toContain('sk_live_x');
    expect(t.routes.find((r) => r.key === 'ok')!.refusal).toBeNull();
  });

  it('compiles splits into named targets', () => {
    const t = table([
      active('c', { match: { pathPrefix: '/c' }, upstream: { url: 'https://a.example' }, split: { canary: { url: 'https://b.example', weight: 100 } } }),
      active('bg', { match: { pathPrefix: '/bg' }, split: { blueGreen: { blue: 'https://blue.example', green: 'https://green.example', active: 'green' } } }),
    ]);
    const canary = t.routes.find((r) => r.key === 'c')!;
    expect(canary.targets.map((x) => [x.name, x.upstream.hostname])).toEqual([['primary', 'a.example'], ['canary', 'b.example']]);
    expect(canary.splitter!('client')).toMatchObject({ name: 'canary', target: 1 });
    const bg = t.routes.find((r) => r.key === 'bg')!;
    expect(bg.targets.map((x) => x.name)).toEqual(['blue', 'green']);
    expect(bg.splitter!('x')).toMatchObject({ name: 'green', target: 1 });
  });
});
