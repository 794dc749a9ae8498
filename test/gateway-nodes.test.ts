// The gateway as a node runs it: started by `startServer` (its URL, off, a region), fed by the
// change feed of another node on the same PostgreSQL, and in worker processes that share its port.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server.js';
import {
  allowLoopback,
  commitRoutes,
  createTestDatabase,
  eventually,
  gatewayCall,
  startHarness,
  startTestGateway,
  startTestServer,
  startUpstream,
  TEST_DB,
  TEST_MASTER_KEY,
  WS,
  type TestDatabase,
  type TestServer,
  type TestUpstream,
} from './support.js';

const TOKEN = 'gateway-nodes-bootstrap-token-0123456789';
const ROOT = resolve(import.meta.dirname, '..');

let upstreamA: TestUpstream;
let upstreamB: TestUpstream;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  upstreamA = await startUpstream((_req, res) => res.writeHead(200).end('A'));
  upstreamB = await startUpstream((_req, res) => res.writeHead(200).end('B'));
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(async () => {
  await upstreamA?.close();
  await upstreamB?.close();
});

async function server(env: Record<string, string> = {}): Promise<{ server: RunningServer; api: TestServer['api'] }> {
  const started = await startTestServer(env, TOKEN);
  cleanups.push(started.close);
  return { server: started.server, api: started.api };
}

async function route(api: Awaited<ReturnType<typeof server>>['api'], url: string) {
  expect((await api('PUT', `${WS}/environments/development/resources/route/hello`, { content: { match: { pathPrefix: '/hello' }, upstream: { url } } })).status).toBe(200);
  expect((await api('POST', `${WS}/environments/development/commits`, { message: 'hello' })).status).toBe(201);
}

describe(`stageline server and its gateway on ${TEST_DB}`, () => {
  it('serves the gateway on its own port and answers its URL', async () => {
    const { server: running, api } = await server({ STAGELINE_GATEWAY_DEFAULT_ENV: 'development' });
    expect(running.gatewayUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(running.gatewayUrl).not.toBe(running.url);
    await route(api, upstreamA.url);
    const res = await gatewayCall(running.gatewayUrl!, { path: '/hello' });
    expect(res.status).toBe(200);
    expect(res.text).toBe('A');
    // The API does not answer on the gateway's port, nor the gateway on the API's.
    expect((await gatewayCall(running.gatewayUrl!, { path: '/healthz' })).json.error.code).toBe('no_route');
  });

  it('runs no gateway with STAGELINE_GATEWAY=off', async () => {
    const { server: running } = await server({ STAGELINE_GATEWAY: 'off' });
    expect(running.gatewayUrl).toBeNull();
    expect(running.gateway).toBeNull();
  });

  it('serves only its region with STAGELINE_REGION', async () => {
    const { server: running, api } = await server({ STAGELINE_REGION: 'eu-west', STAGELINE_GATEWAY_DEFAULT_ENV: 'development' });
    await route(api, upstreamA.url);
    expect((await api('PATCH', `${WS}/environments/development`, { region: 'us-east' })).status).toBe(200);
    const res = await gatewayCall(running.gatewayUrl!, { path: '/hello' });
    expect(res.status).toBe(421);
    expect(res.json.error).toMatchObject({ code: 'wrong_region', details: [{ environment: 'development', region: 'us-east', nodeRegion: 'eu-west' }] });
  });

  it('runs the gateway in worker processes: both answer, a route change reaches both, a dead one comes back', async () => {
    const { server: running, api } = await server({ STAGELINE_GATEWAY_WORKERS: '2', STAGELINE_GATEWAY_DEFAULT_ENV: 'development' });
    expect(running.gateway).toBeNull();
    expect(running.workers!.pids()).toHaveLength(2);
    await route(api, upstreamA.url);
    const processes = async (expected: string) => {
      // Request ids carry a prefix per process: a new connection per request spreads them over the workers.
      const seen = new Set<string>();
      for (let i = 0; i < 40 && seen.size < 2; i++) {
        const res = await gatewayCall(running.gatewayUrl!, { path: '/hello', headers: { connection: 'close' } });
        expect(res.status).toBe(200);
        expect(res.text).toBe(expected);
        seen.add(upstreamRequestId(expected).slice(0, 15));
      }
      return seen;
    };
    await eventually(async () => expect((await processes('A')).size).toBe(2), 15_000);
    const set = await api('PUT', `${WS}/environments/development/resources/route/hello/override`, { override: { upstream: { url: upstreamB.url } } });
    expect(set.status).toBe(200);
    await eventually(async () => expect((await processes('B')).size).toBe(2), 15_000);

    const [victim] = running.workers!.pids();
    process.kill(victim!, 'SIGKILL');
    await eventually(() => {
      expect(running.workers!.restarts()).toBe(1);
      expect(running.workers!.pids()).toHaveLength(2);
      expect(running.workers!.pids()).not.toContain(victim);
    }, 20_000);
    await eventually(async () => expect((await processes('B')).size).toBe(2), 15_000);
  }, 60_000);

  it('with worker processes, a management call returns only once every worker serves its change (read-your-writes)', async () => {
    const { server: running, api } = await server({ STAGELINE_GATEWAY_WORKERS: '2', STAGELINE_GATEWAY_DEFAULT_ENV: 'development' });
    await route(api, upstreamA.url);
    await eventually(async () => expect((await gatewayCall(running.gatewayUrl!, { path: '/hello' })).text).toBe('A'), 15_000);
    // Each flip is checked on new connections right after the call returns, before any poll of the
    // workers' change feeds could have seen it: both workers must already serve it.
    for (let i = 0; i < 12; i++) {
      const next = i % 2 === 0 ? upstreamB : upstreamA;
      const set = await api('PUT', `${WS}/environments/development/resources/route/hello/override`, { override: { upstream: { url: next.url } } });
      expect(set.status).toBe(200);
      const answers = await Promise.all(Array.from({ length: 6 }, () => gatewayCall(running.gatewayUrl!, { path: '/hello', headers: { connection: 'close' } })));
      expect(answers.map((a) => a.text)).toEqual(Array(6).fill(i % 2 === 0 ? 'B' : 'A'));
    }
  }, 60_000);
});

describe('`stageline server` as a process', () => {
  it('logs no secret or key while its gateway injects one, and --region limits what it serves', async () => {
    const SECRET = 'sk_live_logs_9f8e7d6c5b4a3210';
    const database = await createTestDatabase();
    const dataDir = mkdtempSync(join(tmpdir(), 'stageline-gateway-logs-'));
    const output: string[] = [];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'server', '--region', 'eu-west'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        STAGELINE_PORT: '0',
        STAGELINE_HOST: '127.0.0.1',
        STAGELINE_LOG_LEVEL: 'debug',
        STAGELINE_DATA_DIR: dataDir,
        STAGELINE_DATABASE_URL: database.url,
        STAGELINE_BOOTSTRAP_TOKEN: TOKEN,
        STAGELINE_MASTER_KEY: TEST_MASTER_KEY,
        STAGELINE_GATEWAY_DEFAULT_ENV: 'development',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    const addressOf = (message: string) => {
      for (const line of output.join('').split('\n')) {
        if (!line.includes(message)) continue;
        return (JSON.parse(line) as { address: string }).address;
      }
      throw new Error(`no "${message}" yet`);
    };
    let api = '';
    let gatewayUrl = '';
    await eventually(() => {
      api = addressOf('"stageline is serving"');
      gatewayUrl = addressOf('"stageline gateway is serving"');
    }, 30_000);
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${api}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const dev = `${WS}/environments/development`;
    expect((await call('PUT', `${dev}/secrets/stripe_key`, { value: SECRET })).status).toBe(200);
    const routes = {
      pay: { match: { pathPrefix: '/pay' }, upstream: { url: upstreamA.url }, injectHeaders: { Authorization: 'Bearer {{ secrets.stripe_key }}' } },
      broken: { match: { pathPrefix: '/broken' }, upstream: { url: upstreamA.url }, injectHeaders: { 'x-a': '{{ secrets.stripe_key }}', 'x-b': '{{ secrets.absent }}' } },
      down: { match: { pathPrefix: '/down' }, upstream: { url: 'http://127.0.0.1:9' }, injectHeaders: { Authorization: 'Bearer {{ secrets.stripe_key }}' } },
    };
    for (const [key, content] of Object.entries(routes)) expect((await call('PUT', `${dev}/resources/route/${key}`, { content })).status).toBe(200);
    expect((await call('POST', `${dev}/commits`, { message: 'routes' })).status).toBe(201);
    const key = (await call('POST', `${dev}/api-keys`, { name: 'logs', kind: 'secret' })).body.key as string;

    const before = upstreamA.requests.length;
    expect((await gatewayCall(gatewayUrl, { path: '/pay', headers: { 'x-stageline-key': key } })).status).toBe(200);
    expect(upstreamA.requests.length).toBe(before + 1);
    expect(upstreamA.requests.at(-1)!.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect((await gatewayCall(gatewayUrl, { path: '/broken' })).json.error.code).toBe('route_invalid');
    expect((await gatewayCall(gatewayUrl, { path: '/down' })).json.error.code).toBe('upstream_unreachable');
    expect((await gatewayCall(gatewayUrl, { path: '/pay', headers: { 'x-stageline-key': `${key}x` } })).status).toBe(401);

    // --region eu-west: an environment of another region is not served here.
    expect((await call('PATCH', dev, { region: 'us-east' })).status).toBe(200);
    await eventually(async () => expect((await gatewayCall(gatewayUrl, { path: '/pay' })).status).toBe(421));

    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    const logs = output.join('');
    expect(logs).toContain('route/broken');
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(key);
    expect(logs).not.toContain(TOKEN);
  }, 60_000);
});

/** The x-request-id the upstream saw last for the route answering `side`. */
function upstreamRequestId(side: string): string {
  const upstream = side === 'A' ? upstreamA : upstreamB;
  return String(upstream.requests.at(-1)!.headers['x-request-id']);
}

describe.runIf(TEST_DB === 'postgres')('two nodes on one PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it("a route change made on node A reaches node B's gateway through the change feed", async () => {
    const a = await startHarness({ database, pollIntervalMs: 60_000 });
    const b = await startHarness({ database, pollIntervalMs: 60_000 });
    const gateway = await startTestGateway(b, { defaultEnvironment: 'development' });
    try {
      await commitRoutes(a, { hello: { match: { pathPrefix: '/hello' }, upstream: { url: upstreamA.url } } });
      await eventually(async () => expect((await gatewayCall(gateway.url, { path: '/hello' })).text).toBe('A'));
      // An override on A: B hears of it by LISTEN/NOTIFY (its poll is a minute away).
      expect((await a.call('PUT', `${WS}/environments/development/resources/route/hello/override`, { override: { upstream: { url: upstreamB.url } } })).status).toBe(200);
      await eventually(async () => expect((await gatewayCall(gateway.url, { path: '/hello' })).text).toBe('B'), 5000);
      // Production learns of its egress setting and its release from A too.
      await allowLoopback(a, 'production');
      expect((await a.call('POST', `${WS}/environments/production/promotions`, { message: 'ship' })).status).toBe(201);
      await eventually(async () => expect((await gatewayCall(gateway.url, { path: '/hello', headers: { 'x-stageline-env': 'production' } })).text).toBe('A'), 5000);
    } finally {
      await gateway.close();
      await b.close();
      await a.close();
    }
  });

  it("with STAGELINE_REDIS_URL the nodes' gateways count a route's limit together", async () => {
    const keyPrefix = `test-gw-core-${randomBytes(6).toString('hex')}`;
    const limits = { redisUrl: 'redis://127.0.0.1:6379', keyPrefix };
    // A database of its own: its first node gets the owner token.
    const fresh = await createTestDatabase();
    const a = await startHarness({ database: fresh, limits });
    const b = await startHarness({ database: fresh, limits });
    await Promise.all([a.runtime.limits.ready(), b.runtime.limits.ready()]);
    const gateways = [await startTestGateway(a, { defaultEnvironment: 'development' }), await startTestGateway(b, { defaultEnvironment: 'development' })];
    try {
      await commitRoutes(a, { limited: { match: { pathPrefix: '/limited' }, upstream: { url: upstreamA.url }, rateLimit: { requests: 3, windowSec: 60, per: 'route' } } });
      const statuses = [];
      for (const gateway of [...gateways, ...gateways]) {
        let res = await gatewayCall(gateway.url, { path: '/limited' });
        // B may not have heard of the new route yet.
        for (let i = 0; i < 50 && res.json?.error?.code === 'no_route'; i++) res = await gatewayCall(gateway.url, { path: '/limited' });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      for (const gateway of gateways) await gateway.close();
      await b.close();
      await a.close();
      await fresh.drop();
      const redis = new Redis('redis://127.0.0.1:6379');
      const keys = await redis.keys(`${keyPrefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
