// The gateway as a node runs it: started by `startServer` (its URL, off, a region), fed by the
// change feed of another node on the same PostgreSQL, and in worker processes that share its port.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import {
  allowLoopback,
  commitRoutes,
  createTestDatabase,
  eventually,
  gatewayCall,
  startHarness,
  startTestGateway,
  startUpstream,
  TEST_DB,
  TEST_MASTER_KEY,
  WS,
  type TestDatabase,
  type TestUpstream,
} from './support.js';

const TOKEN = 'gateway-nodes-bootstrap-token-0123456789';

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

async function server(env: Record<string, string> = {}): Promise<{ server: RunningServer; api: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }> }> {
  const database = await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'stageline-gateway-'));
  const running = await startServer(
    loadConfig({
      STAGELINE_PORT: '0',
      STAGELINE_HOST: '127.0.0.1',
      STAGELINE_LOG_LEVEL: 'silent',
      STAGELINE_DATA_DIR: dataDir,
      STAGELINE_DATABASE_URL: database.url,
      STAGELINE_BOOTSTRAP_TOKEN: TOKEN,
      STAGELINE_BRANCH_SWEEP_SECONDS: '0',
      STAGELINE_MASTER_KEY: TEST_MASTER_KEY,
      ...env,
    }),
  );
  cleanups.push(async () => {
    await running.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${running.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: await res.json() };
  };
  return { server: running, api };
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
});
