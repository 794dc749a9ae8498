// Metrics end to end on both databases: real gateway traffic to real upstreams counted per
// environment and status class, percentiles from merged histograms, two nodes' rollups merged,
// delivery reads, workflow runs and tool calls, analytics, /metrics, retention and markers.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayRequestEvent } from '../src/gateway/contract.js';
import type { RunningGateway } from '../src/gateway/server.js';
import { bucketOf } from '../src/metrics/histogram.js';
import { pruneMetrics } from '../src/metrics/rollups.js';
import { addRollups, listRollups } from '../src/store/metrics.js';
import { findWorkspace } from '../src/store/workspaces.js';
import { listEnvironments } from '../src/store/environments.js';
import type { RunningServer } from '../src/server.js';
import {
  allowLoopback,
  commitDrafts,
  commitRoutes,
  createApiKey,
  eventually,
  gatewayCall,
  memberToken,
  promote,
  startHarness,
  startTestGateway,
  startTestServer,
  startUpstream,
  WS,
  type Harness,
  type TestUpstream,
} from './support.js';

const FAST = { pollIntervalMs: 40, leaseMs: 5000, retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 } };

let h: Harness;
let h2: Harness;
let upstream: TestUpstream;
let closedPort: number;
let gateway: RunningGateway;
let gateway2: RunningGateway;
/** Latencies the gateways measured, per node and environment id. */
const measured = { a: new Map<string, number[]>(), b: new Map<string, number[]>() };
const envIds = new Map<string, string>();
let workspaceId = '';

function observing(h: Harness, into: Map<string, number[]>) {
  const recorder = h.runtime.metrics.recorder!;
  return (event: GatewayRequestEvent) => {
    const list = into.get(event.environmentId) ?? [];
    list.push(event.durationMs);
    into.set(event.environmentId, list);
    recorder.gatewayObserver(event);
  };
}

/** Nearest-rank percentile. */
function exact(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

/** The requests each environment is sent: path → expected status. */
const PLAN = {
  production: [
    ...Array.from({ length: 12 }, (_, i) => ['/api/ok', 200, i] as const),
    ...Array.from({ length: 2 }, () => ['/api/moved', 302, 0] as const),
    ...Array.from({ length: 4 }, () => ['/api/missing', 404, 0] as const),
    ...Array.from({ length: 3 }, () => ['/api/fail', 500, 0] as const),
    ['/dead/x', 502, 0] as const,
    ['/no-route-here', 404, 0] as const,
  ],
  development: [...Array.from({ length: 5 }, (_, i) => ['/api/ok', 200, i] as const), ['/api/fail', 500, 0] as const, ['/api/slow', 200, 0] as const],
};

async function send(base: string, env: 'production' | 'development', plan: readonly (readonly [string, number, number])[]) {
  for (const [path, status, i] of plan) {
    const headers: Record<string, string> = env === 'development' ? { 'x-stageline-env': 'development' } : {};
    const res = await gatewayCall(base, { path: `${path}?i=${i}`, headers });
    expect(res.status, `${env} ${path}`).toBe(status);
  }
}

const classCounts = (plan: readonly (readonly [string, number, number])[]) => {
  const counts = { requests: plan.length, status2xx: 0, status3xx: 0, status4xx: 0, status5xx: 0 };
  for (const [, status] of plan) counts[`status${Math.floor(status / 100)}xx` as 'status2xx'] += 1;
  return counts;
};

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const delay = path === '/api/slow' ? 120 : Number(new URL(req.url ?? '/', 'http://x').searchParams.get('i') ?? 0) * 3;
    setTimeout(() => {
      if (path === '/api/ok' || path === '/api/slow') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      else if (path === '/api/moved') res.writeHead(302, { location: '/api/ok' }).end();
      else if (path === '/api/fail') res.writeHead(500).end('fail');
      else res.writeHead(404).end('no');
    }, delay);
  });
  const closed: Server = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));

  h = await startHarness({ workflows: FAST });
  h2 = await startHarness({ database: h.database, workflows: { start: false } });
  await allowLoopback(h, 'production');
  await commitRoutes(
    h,
    {
      api: { match: { pathPrefix: '/api' }, upstream: { url: upstream.url } },
      dead: { match: { pathPrefix: '/dead' }, upstream: { url: `http://127.0.0.1:${closedPort}` } },
    },
    'production',
  );
  for (const env of (await h.call('GET', `${WS}/environments`)).body.data) envIds.set(env.slug, env.id);
  workspaceId = (await findWorkspace(h.store.db, 'default'))!.id;
  gateway = await startTestGateway(h, { openEditable: true, observer: observing(h, measured.a) });
  gateway2 = await startTestGateway(h2, { openEditable: true, observer: observing(h2, measured.b) });
});

afterAll(async () => {
  await gateway?.close();
  await gateway2?.close();
  await h2?.close();
  await h?.close();
  await upstream?.close();
});

const figures = (node: Harness, env: string, family: 'gateway' | 'delivery' | 'workflow' | 'workflow_step' | 'tool', subject = '') =>
  node.deps.metrics!.figures({ workspaceId, environmentId: envIds.get(env)!, family, subject, from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000) });

describe('gateway traffic', () => {
  it('counts equal the requests sent, per environment and status class, before and after a flush', async () => {
    await send(gateway.url, 'production', PLAN.production);
    await send(gateway.url, 'development', PLAN.development);
    // Before the flush the node's own unflushed minute answers; after it, the rows do.
    for (const phase of ['memory', 'flushed']) {
      if (phase === 'flushed') await h.deps.metrics!.flush();
      for (const env of ['production', 'development'] as const) {
        const f = await figures(h, env, 'gateway');
        expect({ requests: f.requests, status2xx: f.status2xx, status3xx: f.status3xx, status4xx: f.status4xx, status5xx: f.status5xx }, `${env} ${phase}`).toEqual(classCounts(PLAN[env]));
      }
      const prod = await figures(h, 'production', 'gateway');
      expect([prod.errors, prod.upstreamErrors]).toEqual([4, 1]);
      expect((await figures(h, 'production', 'gateway', 'api')).requests).toBe(21);
      expect((await figures(h, 'production', 'gateway', 'dead')).upstreamErrors).toBe(1);
    }
    const rows = await listRollups(h.store.db, { workspaceId, environmentIds: [envIds.get('production')!], family: 'gateway', subject: '', resolution: 'minute', from: '2000-01-01', to: '2100-01-01' });
    expect(rows.reduce((n, r) => n + r.counters[0]!, 0)).toBe(PLAN.production.length);
  });

  it('p50/p95/p99 are within one bucket of the exact percentiles of the measured latencies', async () => {
    for (const env of ['production', 'development']) {
      const latencies = measured.a.get(envIds.get(env)!)!;
      const f = await figures(h, env, 'gateway');
      for (const [q, value] of [
        [0.5, f.p50Ms],
        [0.95, f.p95Ms],
        [0.99, f.p99Ms],
      ] as const) {
        expect(Math.abs(bucketOf(value!) - bucketOf(exact(latencies, q))), `${env} p${q * 100}`).toBeLessThanOrEqual(1);
      }
    }
  });

  it('analytics answers the side-by-side table and series; the route narrows it', async () => {
    const res = await h.call('GET', `${WS}/analytics?envs=production,development&step=5`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((d: any) => d.environment)).toEqual(['development', 'production']);
    const prod = res.body.data.find((d: any) => d.environment === 'production');
    const n = PLAN.production.length;
    expect(prod).toMatchObject({ requests: n, errorRate: 4 / n, successRate: 14 / n, upstreamErrorRate: 1 / n });
    expect(Object.keys(prod).sort()).toEqual(['environment', 'errorRate', 'p50Ms', 'p95Ms', 'p99Ms', 'requests', 'requestsPerMinute', 'successRate', 'upstreamErrorRate']);
    expect(prod.requestsPerMinute).toBeCloseTo(n / ((Date.parse(res.body.to) - Date.parse(res.body.from)) / 60_000), 2);
    const points = res.body.series.find((s: any) => s.environment === 'production').points;
    expect(points).toHaveLength(Math.ceil((Date.parse(res.body.to) - Date.parse(res.body.from)) / 300_000));
    expect(points.reduce((sum: number, p: any) => sum + p.requests, 0)).toBe(n);
    const route = await h.call('GET', `${WS}/analytics?envs=production&route=api`);
    expect(route.body.data[0].requests).toBe(21);
    expect(route.body.data[0].upstreamErrorRate).toBe(0);
    // Two days: read from hour rows, the same counts.
    const days = await h.call('GET', `${WS}/analytics?envs=production&from=${new Date(Date.now() - 2 * 86_400_000).toISOString()}`);
    expect(days.status).toBe(200);
    expect(days.body.step % 60).toBe(0);
    expect(days.body.data[0].requests).toBe(n);
  });

  it("two nodes flush their own rows and analytics merges both, percentiles from the merged histogram", async () => {
    await send(gateway2.url, 'production', PLAN.production.slice(0, 10));
    await h2.deps.metrics!.flush();
    const nodes = await h.store.db.selectFrom('metric_rollups').select('node_id').distinct().execute();
    expect(nodes).toHaveLength(2);
    const res = await h.call('GET', `${WS}/analytics?envs=production`);
    expect(res.body.data[0].requests).toBe(PLAN.production.length + 10);
    const all = [...measured.a.get(envIds.get('production')!)!, ...measured.b.get(envIds.get('production')!)!];
    expect(Math.abs(bucketOf(res.body.data[0].p95Ms) - bucketOf(exact(all, 0.95)))).toBeLessThanOrEqual(1);
    // Node B reads node A's rows too.
    expect((await figures(h2, 'production', 'gateway')).requests).toBe(PLAN.production.length + 10);
  });

  it('a minute flushed twice adds up in one row', async () => {
    const recorder = h.runtime.metrics.recorder!;
    const env = envIds.get('development')!;
    recorder.record(workspaceId, env, 'gateway', 'twice', 200, false, false, 1);
    await h.deps.metrics!.flush();
    recorder.record(workspaceId, env, 'gateway', 'twice', 500, true, false, 2);
    await h.deps.metrics!.flush();
    const rows = await listRollups(h.store.db, { workspaceId, environmentIds: [env], family: 'gateway', subject: 'twice', resolution: 'minute', from: '2000-01-01', to: '2100-01-01' });
    // Unless the minute turned between the two records.
    const total = rows.reduce((n, r) => n + r.counters[0]!, 0);
    expect(total).toBe(2);
    expect(rows.length).toBeLessThanOrEqual(2);
    expect(rows.reduce((n, r) => n + Object.values(r.buckets).reduce((a, b) => a + b, 0), 0)).toBe(2);
  });
});

describe('delivery, workflows and tools', () => {
  it('counts delivery reads per resource, a missing resource in the total only', async () => {
    await commitDrafts(h, { 'config/site': { value: { title: 'x' } } });
    const key = await createApiKey(h, 'development');
    for (const path of ['/v1/resources/config/site', '/v1/resources/config/site', '/v1/resources/config/site', '/v1/resources/config/nope', '/v1/resources']) {
      await h.app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${key}` } });
    }
    expect((await figures(h, 'development', 'delivery')).requests).toBe(5);
    const site = await figures(h, 'development', 'delivery', 'config/site');
    expect([site.requests, site.status2xx]).toEqual([3, 3]);
    expect((await figures(h, 'development', 'delivery', 'config/nope')).requests).toBe(0);
  });

  it('counts tool calls (errors included) and workflow runs started, completed and failed with step outcomes by channel', async () => {
    await commitDrafts(h, {
      'tool/ok': { method: 'GET', url: `${upstream.url}/api/ok` },
      'tool/broken': { method: 'GET', url: `${upstream.url}/api/fail` },
      'workflow/hello': { name: 'Hello', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'hi' } }] },
      'workflow/flaky': { name: 'Flaky', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'hi' } }, { type: 'tool', tool: 'broken' }] },
    });
    const key = await createApiKey(h, 'development');
    const call = (url: string, body: unknown) => h.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    expect((await call('/v1/tools/ok/invoke', {})).statusCode).toBe(200);
    expect((await call('/v1/tools/ok/invoke', {})).statusCode).toBe(200);
    expect((await call('/v1/tools/broken/invoke', {})).statusCode).toBe(200);
    const ok = await figures(h, 'development', 'tool', 'ok');
    expect([ok.requests, ok.errors, ok.status2xx]).toEqual([2, 0, 2]);
    expect(ok.p50Ms).not.toBeNull();
    expect((await figures(h, 'development', 'tool', 'broken')).errors).toBe(1);

    const runs = [];
    for (const workflow of ['hello', 'hello', 'flaky']) {
      const res = await call(`/v1/workflows/${workflow}/trigger`, { recipients: [{ id: 'u_1' }] });
      expect(res.statusCode, res.body).toBe(202);
      runs.push(JSON.parse(res.body).runId);
    }
    await eventually(async () => {
      const f = await figures(h, 'development', 'workflow');
      expect([f.requests, f.errors]).toEqual([3, 1]);
      expect((await figures(h, 'development', 'workflow', 'flaky')).errors).toBe(1);
    }, 10_000);
    const inApp = await figures(h, 'development', 'workflow_step', 'in_app');
    expect([inApp.requests, inApp.errors]).toEqual([3, 0]);
    const toolSteps = await figures(h, 'development', 'workflow_step', 'tool');
    expect(toolSteps.errors).toBe(1);
    // Tool calls of the queued run are counted too (one per attempt).
    expect((await figures(h, 'development', 'tool', 'broken')).requests).toBe(1 + FAST.retry.maxAttempts);
  });
});

describe('analytics requests', () => {
  const q = (query: string, token?: string) => h.call('GET', `${WS}/analytics?${query}`, undefined, token);

  it.each([
    ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
    ['from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
    ['from=yesterday', 'from'],
    ['step=abc', 'step'],
    ['step=0', 'step'],
    [`from=${new Date(Date.now() - 2 * 86_400_000).toISOString()}&step=5`, 'step'],
    [`from=${new Date(Date.now() - 20 * 3_600_000).toISOString()}&step=1`, 'step'],
    ['envs=,', 'envs'],
    ['envs=a,b,c,d,e,f,g,h,i,j,k', 'envs'],
    ['route=', 'route'],
    ['bogus=1', ''],
  ])('answers 400 naming the field for %s', async (query, field) => {
    const res = await q(query);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    if (field) expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  });

  it('answers 404 for an environment that does not exist, even a prototype name', async () => {
    for (const env of ['nowhere', '__proto__', 'constructor']) expect((await q(`envs=${env}`)).status).toBe(404);
  });

  it('support and viewer members may read it; the default is the chain', async () => {
    for (const role of ['support', 'viewer']) {
      const token = await memberToken(h, `${role}-analytics@example.com`, role);
      const res = await q('', token);
      expect(res.status).toBe(200);
      expect(res.body.data.map((d: any) => d.environment)).toEqual(['development', 'production']);
    }
  });

  it('is in the OpenAPI document with an operationId', async () => {
    const doc = (await h.call('GET', '/api/openapi.json')).body;
    expect(doc.paths['/api/workspaces/{ws}/analytics'].get.operationId).toBe('readAnalytics');
    expect(doc.paths['/metrics'].get.operationId).toBe('scrapeMetrics');
  });

  it('shows promotion, rollback and override markers on the time axis', async () => {
    const from = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await commitDrafts(h, { 'config/banner': { value: { text: 'a' } } });
    const promoted = await promote(h, 'production');
    expect(promoted.status).toBe(201);
    const release = promoted.body.release?.number ?? promoted.body.number;
    const rolled = await h.call('POST', `${WS}/environments/production/rollbacks`, { release: release - 1 });
    expect(rolled.status).toBe(201);
    expect((await h.call('PUT', `${WS}/environments/production/resources/route/api/override`, { override: { upstream: { timeoutMs: 9000 } } })).status).toBe(200);
    const res = await q(`envs=production&from=${from}`);
    // The window starts at its minute: earlier markers of that minute are in it too.
    const markers = res.body.markers.filter((m: any) => m.at >= from);
    const kinds = markers.map((m: any) => [m.environment, m.kind]);
    expect(kinds).toEqual([
      ['production', 'promotion'],
      ['production', 'rollback'],
      ['production', 'override'],
    ]);
    expect(markers[0].release).toBe(release);
    expect(markers[2].release).toBe(markers[1].release);
    const dev = await q(`envs=development&from=${from}`);
    expect(dev.body.markers.filter((m: any) => m.at >= from).map((m: any) => m.kind)).toEqual(['commit']);
  });
});

describe('/metrics', () => {
  const scrape = (authorization?: string) => h.app.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} });

  it('answers 401 without a token, and to a token that is neither the metrics token nor a member', async () => {
    expect((await scrape()).statusCode).toBe(401);
    expect((await scrape('Bearer not-a-token')).statusCode).toBe(401);
  });

  it("a member sees its workspace's series labelled by workspace, environment and route, and process metrics", async () => {
    const res = await scrape(`Bearer ${h.token}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    expect(text).toContain('stageline_gateway_requests_total{workspace="default",environment="production",route="api",class="2xx"} 12');
    expect(text).toContain('stageline_gateway_requests_total{workspace="default",environment="production",route="api",class="5xx"} 3');
    expect(text).toContain('stageline_gateway_upstream_errors_total{workspace="default",environment="production",route="dead"} 1');
    // The request no route matched is the environment's remainder.
    expect(text).toContain('stageline_gateway_requests_total{workspace="default",environment="production",route="",class="4xx"} 1');
    expect(text).toMatch(/stageline_gateway_request_duration_ms_count\{workspace="default",environment="production",route="api"\} 21\n/);
    expect(text).toMatch(/stageline_gateway_request_duration_ms_bucket\{workspace="default",environment="production",route="api",le="\+Inf"\} 21\n/);
    expect(text).toContain('stageline_delivery_reads_total{workspace="default",environment="development",resource="config/site",class="2xx"} 3');
    expect(text).toContain('stageline_workflow_runs_failed_total{workspace="default",environment="development",workflow="flaky"} 1');
    expect(text).toContain('stageline_tool_calls_total{workspace="default",environment="development",tool="ok",class="2xx"} 2');
    expect(text).toContain('stageline_process_cpu_user_seconds_total');
  });

  it("a service token of another workspace sees none of this workspace's series", async () => {
    expect((await h.call('POST', '/api/workspaces', { slug: 'other' })).status).toBe(201);
    const token = await h.call('POST', '/api/workspaces/other/tokens', { name: 'scraper', role: 'viewer' });
    expect(token.status).toBe(201);
    const res = await scrape(`Bearer ${token.body.token}`);
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('workspace="default"');
    expect(res.body).toContain('stageline_process_cpu_user_seconds_total');
  });

  it('the metrics token sees every workspace; open serves without one', async () => {
    const access = h.runtime.metrics.access;
    try {
      access.token = 'metrics-token-0123456789';
      expect((await scrape('Bearer metrics-token-0123456789')).body).toContain('workspace="default"');
      expect((await scrape('Bearer metrics-token-wrong')).statusCode).toBe(401);
      access.token = null;
      access.open = true;
      expect((await scrape()).body).toContain('workspace="default"');
    } finally {
      access.token = null;
      access.open = false;
    }
  });
});

describe('retention', () => {
  it('deletes minute rows past 7 days and hour rows past 90, keeping younger ones', async () => {
    const now = new Date();
    const ago = (days: number) => new Date(now.getTime() - days * 86_400_000).toISOString();
    const row = (bucketStart: string) => ({ bucketStart, workspaceId, environmentId: envIds.get('development')!, family: 'gateway', subject: 'old', counters: [1, 1, 0, 0, 0, 0, 0, 1, 2], buckets: { '40': 1 } });
    await h.store.transaction(async (tx) => {
      await addRollups(h.store, tx, 'node_retention', 'minute', [row(ago(8)), row(ago(6))]);
      await addRollups(h.store, tx, 'node_retention', 'hour', [row(ago(91)), row(ago(89))]);
    });
    const deleted = await pruneMetrics(h.store, now, { minuteDays: 7, hourDays: 90 });
    expect(deleted).toEqual({ minute: 1, hour: 1 });
    const left = await h.store.db.selectFrom('metric_rollups').select(['resolution', 'bucket_start']).where('node_id', '=', 'node_retention').orderBy('resolution').execute();
    expect(left).toEqual([
      { resolution: 'hour', bucket_start: ago(89) },
      { resolution: 'minute', bucket_start: ago(6) },
    ]);
  });
});

describe('nodes started from the configuration', () => {
  const TOKEN = 'metrics-nodes-bootstrap-token-0123456789';

  async function server(env: Record<string, string>) {
    const started = await startTestServer({ STAGELINE_GATEWAY_DEFAULT_ENV: 'development', STAGELINE_METRICS_FLUSH_MS: '200', ...env }, TOKEN);
    const { api } = started;
    expect((await api('PUT', `${WS}/environments/development/resources/route/hello`, { content: { match: { pathPrefix: '/api' }, upstream: { url: upstream.url } } })).status).toBe(200);
    expect((await api('POST', `${WS}/environments/development/commits`, { message: 'hello' })).status).toBe(201);
    return { running: started.server, close: started.close };
  }

  /** Sends `n` requests that reach the upstream (waiting first until the route is served: those answers count as 4xx). */
  const served = async (url: string, n: number) => {
    await eventually(async () => expect((await gatewayCall(url, { path: '/api/ok' })).status).toBe(200), 10_000);
    for (let i = 1; i < n; i++) expect((await gatewayCall(url, { path: '/api/ok', headers: { connection: 'close' } })).status).toBe(200);
  };

  /** Development's 2xx gateway answers as every node's rows say. */
  async function answered2xx(running: RunningServer): Promise<number> {
    const workspace = (await findWorkspace(running.deps.store.db, 'default'))!;
    const env = (await listEnvironments(running.deps.store.db, workspace.id)).find((e) => e.slug === 'development')!;
    const f = await running.deps.metrics!.figures({ workspaceId: workspace.id, environmentId: env.id, family: 'gateway', from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000) });
    return f.status2xx;
  }

  it('a gateway worker process counts its own traffic and flushes its own rows on its interval', async () => {
    const { running, close } = await server({ STAGELINE_GATEWAY_WORKERS: '1' });
    try {
      await served(running.gatewayUrl!, 4);
      await eventually(async () => expect(await answered2xx(running)).toBe(4), 10_000);
      // The worker's rows, not the primary's: the primary's gateway counter is empty.
      expect(running.runtime.metrics.recorder!.series().filter((s) => s.family === 'gateway')).toHaveLength(0);
    } finally {
      await close();
    }
  }, 60_000);

  it("/metrics on the main process counts its gateway workers' traffic, summed over the workers", async () => {
    const { running, close } = await server({ STAGELINE_GATEWAY_WORKERS: '2' });
    try {
      await served(running.gatewayUrl!, 6);
      const res = await fetch(`${running.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      // Served by whichever worker took each connection: the scrape adds them up.
      expect(await res.text()).toMatch(/stageline_gateway_requests_total\{workspace="default",environment="development",route="hello",class="2xx"\} 6\n/);
      // A worker that is gone is left out, not waited for past the scrape's bound.
      process.kill(running.workers!.pids()[0]!, 'SIGKILL');
      const started = Date.now();
      expect((await fetch(`${running.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await close();
    }
  }, 60_000);

  it('an in-process gateway records by default and not with STAGELINE_METRICS=off', async () => {
    for (const [metrics, expected] of [
      ['on', 3],
      ['off', 0],
    ] as const) {
      const { running, close } = await server({ STAGELINE_METRICS: metrics });
      try {
        expect(running.runtime.metrics.recorder === null).toBe(metrics === 'off');
        await served(running.gatewayUrl!, 3);
        await running.deps.metrics!.flush();
        expect(await answered2xx(running), metrics).toBe(expected);
      } finally {
        await close();
      }
    }
  }, 60_000);
});

describe('figures over long windows', () => {
  it('read whole hours from hour rows and the edges from minute rows, counting each minute once', async () => {
    const hour0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 10 * 3_600_000;
    const environmentId = 'env_long_window';
    const counts = (n: number) => [n, n, 0, 0, 0, 0, 0, n, n];
    const minutes = Array.from({ length: 5 * 60 }, (_, m) => ({
      bucketStart: new Date(hour0 + m * 60_000).toISOString(),
      workspaceId,
      environmentId,
      family: 'gateway',
      subject: '',
      counters: counts(1),
      buckets: { '100': 1 },
    }));
    const hours = Array.from({ length: 5 }, (_, i) => ({ ...minutes[0]!, bucketStart: new Date(hour0 + i * 3_600_000).toISOString(), counters: counts(60), buckets: { '100': 60 } }));
    await h.store.transaction(async (tx) => {
      await addRollups(h.store, tx, 'node_long', 'minute', minutes);
      await addRollups(h.store, tx, 'node_long', 'hour', hours);
    });
    const read = (from: number, to: number) => h.deps.metrics!.figures({ workspaceId, environmentId, family: 'gateway', from: new Date(from), to: new Date(to) });
    // 30 minutes of hour 0, hours 1–3 whole, 15 minutes of hour 4.
    expect((await read(hour0 + 30 * 60_000, hour0 + 4 * 3_600_000 + 15 * 60_000)).requests).toBe(30 + 180 + 15);
    // Shorter than three hours: minute rows only.
    expect((await read(hour0 + 30 * 60_000, hour0 + 2 * 3_600_000)).requests).toBe(90);
    const whole = await read(hour0, hour0 + 5 * 3_600_000);
    expect(whole.requests).toBe(300);
    expect(bucketOf(whole.p50Ms!)).toBe(100);
  });
});
