// Gateway benchmark: the gateway of real server processes (`node dist/cli/main.js server`, each a
// child of this process) against nginx with one worker, both proxying to the same private nginx
// upstream, under load from wrk (or this process's own clients where each answer is checked).
//   G1 — routing only (one injected header): req/s ÷ nginx's (proxy_pass to an upstream block
//        with keep-alive, one added header), c32 and c64, one gateway process (the default: a
//        process of its own beside the API's; the gateway in the API's process is shown too).
//   G2 — injected secret headers, an in-memory limit that does not trip, an allow-list of 1,000
//        CIDRs and a canary split, ÷ the same gateway's routing only.
//   G3 — a limit counted in Redis (STAGELINE_REDIS_URL, a route key unique to the run) ÷ the same
//        limit counted in memory.
//   G4 — added latency at a fixed rate (a quarter of the gateway's G1 maximum), open loop, the
//        requests to the upstream directly and through the gateway interleaved on one schedule:
//        p50/p99 through the gateway minus p50/p99 directly, within each run, median over runs.
//   G5 — 1,000 override changes flipping a route's upstream between two upstreams under load:
//        every answer must be 200 from one of the two (a catch-all route to a decoy catches a
//        lost route); then one more change must be served within a bound.
//   G6 — routing only with metrics recorded (the default) ÷ the same on a node started with
//        STAGELINE_METRICS=off (the gateway then has no observer).
//   W  — STAGELINE_GATEWAY_WORKERS=2 vs 1: req/s and CPU per request over all the processes.
// Ratios compare targets measured side by side in the same run (rounds A B … then … B A, medians);
// no absolute time is a pass/fail. Each req/s ratio is followed by the same ratio computed from the
// servers' CPU time per request (no target): on a machine shared with other work, where req/s
// follows the share of the cores a server got, that one says more about the code.
// A report, not a test: it exits 0 whatever the numbers, non-zero only when something crashes or
// G5's counts cannot be taken. Each run waits briefly for the machine to be quiet and logs the CPU
// of the server, the upstream, wrk, this process and the rest of the machine.
//
//   BENCH_QUICK=1     short runs (for CI, 1–2 minutes in all)
//   BENCH_DB          sqlite (default) or postgres: the database of the gateway nodes
//   BENCH_ONLY=G1,G5  only these measures (G1–G6, W)
//   STAGELINE_BENCH_REDIS_URL  the Redis of G3 (redis://127.0.0.1:6379 by default)
//   BENCH_NODE_FLAGS  flags for the servers' node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them
// Needs nginx and wrk (apt-get install nginx wrk); the system's nginx is never touched.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Cleanup, cleanUpOnInterrupt, log, percentile, renderTable, runMain, statusOf, type BenchDb, type Row, type Target } from './support.js';
import { check, Child, createPgDatabase, freePort, HttpClient, sleep, trueMedian, waitForQuiet } from './delivery-support.js';
import {
  CheckedLoad,
  describeRun,
  findExecutable,
  fixedRateRun,
  jsonBody,
  loadRun,
  processTree,
  startNginx,
  tempDir,
  waitForAnswer,
  Wrk,
  type LoadRun,
  type LoadTarget,
  type Measured,
  type NginxServer,
  type RateRun,
  type RateStream,
} from './gateway-support.js';

const QUICK = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
const ONLY = new Set((process.env.BENCH_ONLY ?? '').toUpperCase().split(',').map((s) => s.trim()).filter(Boolean));
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const wanted = (name: string) => ONLY.size === 0 || ONLY.has(name);

const CONNECTIONS = QUICK ? [64] : [32, 64];
const LOAD_SECONDS = QUICK ? 3 : 8;
const WARMUP_SECONDS = QUICK ? 1 : 3;
/** Rounds over every target, forward then backward (A B C, C B A, …). */
const ROUNDS = QUICK ? 2 : 4;
/** Before each run, wait up to this long for other processes of the machine to go quiet. */
const QUIET_WAIT_MS = QUICK ? 1_000 : 10_000;
const G1_TARGET = 0.35;
const G2_TARGET = 0.8;
const G3_TARGET = 0.6;
const G6_TARGET = 0.95;
/** G4: runs, each sending to the upstream directly and through the gateway, interleaved. */
const G4_RUNS = QUICK ? 2 : 4;
const G4_SECONDS = QUICK ? 4 : 10;
const G4_CONNECTIONS = 32;
const G4_P50_TARGET_MS = 1;
const G4_P99_TARGET_MS = 5;
const G5_CHANGES = 1_000;
const G5_LOOPS = 16;
/** G5's last change must be served, by this many answers in a row, within this long. */
const G5_STREAK = 200;
const G5_LIVE_TIMEOUT_MS = 10_000;
/** W: A = one worker, B = two. */
const W_PATTERN = QUICK ? 'ABBA' : 'ABBAABBA';
const W_CONNECTIONS = 64;
const BODY_BYTES = 512;
/** A route counts as served once this many new connections in a row got it (every worker process has it). */
const SERVED_IN_A_ROW = 10;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_MAIN = join(ROOT, 'dist', 'cli', 'main.js');
const DEV = '/api/workspaces/default/environments/development';
const ENV_HEADER = { 'x-stageline-env': 'development' };
const REDIS_URL = process.env.STAGELINE_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The upstreams, all served by one nginx process; each names itself in `x-upstream`. */
const UPSTREAMS = ['a', 'b', 'canary', 'decoy'] as const;
type UpstreamName = (typeof UPSTREAMS)[number];

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function selectedDatabase(): BenchDb {
  const value = (process.env.BENCH_DB ?? 'sqlite').toLowerCase();
  if (value === 'sqlite' || value === 'postgres') return value;
  throw new Error(`BENCH_DB must be sqlite or postgres, not "${process.env.BENCH_DB}"`);
}

// ---------------------------------------------------------------------------------------------
// The upstreams and the baseline proxy

/** Values the routes inject and the upstream checks: a request without them gets a 403. */
interface Injected {
  token: string;
  signing: string;
  tenant: string;
}

interface Upstreams {
  nginx: NginxServer;
  url: Record<UpstreamName, string>;
}

async function startUpstreams(cleanup: Cleanup, nginx: string, injected: Injected): Promise<Upstreams> {
  const body = jsonBody(BODY_BYTES);
  const ports = await Promise.all(UPSTREAMS.map(() => freePort()));
  const added = `if ($http_x_bench_added != "1") { return 403 'x-bench-added missing'; }`;
  const servers = UPSTREAMS.map((name, i) =>
    [
      '  server {',
      `    listen 127.0.0.1:${ports[i]};`,
      `    add_header x-upstream ${name} always;`,
      `    location / { return 200 '${body}'; }`,
      // Routing only and the limited route add one header (nginx's proxy adds the same).
      `    location /r/ { ${added} return 200 '${body}'; }`,
      `    location /l/ { ${added} return 200 '${body}'; }`,
      // The policy route injects two secrets and a variable.
      '    location /p/ {',
      `      if ($http_authorization != "Bearer ${injected.token}") { return 403 'authorization missing'; }`,
      `      if ($http_x_bench_signature != "${injected.signing}") { return 403 'x-bench-signature missing'; }`,
      `      if ($http_x_bench_tenant != "${injected.tenant}") { return 403 'x-bench-tenant missing'; }`,
      `      return 200 '${body}';`,
      '    }',
      '  }',
    ].join('\n'),
  );
  const url = Object.fromEntries(UPSTREAMS.map((name, i) => [name, `http://127.0.0.1:${ports[i]}`])) as Record<UpstreamName, string>;
  const server = await startNginx(cleanup, 'nginx-upstream', nginx, ['  default_type application/json;', ...servers].join('\n'), `${url.decoy}/`);
  log(`  nginx upstream: pid ${server.child.pid}, ${UPSTREAMS.map((n) => `${n} ${url[n]}`).join(', ')}; ${Buffer.byteLength(body)}-byte body`);
  return { nginx: server, url };
}

async function startBaselineProxy(cleanup: Cleanup, nginx: string, upstream: string): Promise<{ nginx: NginxServer; url: string }> {
  const port = await freePort();
  const body = [
    '  upstream backend {',
    `    server ${new URL(upstream).host};`,
    '    keepalive 64;',
    '  }',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    location / {',
    '      proxy_pass http://backend;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '      proxy_set_header x-bench-added 1;',
    '    }',
    '  }',
  ].join('\n');
  const url = `http://127.0.0.1:${port}`;
  const server = await startNginx(cleanup, 'nginx-proxy', nginx, body, `${url}/r/ready`);
  log(`  nginx proxy: pid ${server.child.pid} on ${url}`);
  return { nginx: server, url };
}

// ---------------------------------------------------------------------------------------------
// Gateway nodes

interface Secrets {
  masterKey: string;
  token: string;
}

interface GatewayNode {
  name: string;
  child: Child;
  /** The gateway's origin. */
  gateway: string;
  mgmt: HttpClient;
  measured: Measured;
  stop(): Promise<void>;
}

async function startGateway(cleanup: Cleanup, name: string, kind: BenchDb, secrets: Secrets, extra: Record<string, string> = {}): Promise<GatewayNode> {
  const port = await freePort();
  const gatewayPort = await freePort();
  const dataDir = tempDir(cleanup, name);
  const env: Record<string, string> = {
    STAGELINE_PORT: String(port),
    STAGELINE_GATEWAY_PORT: String(gatewayPort),
    STAGELINE_HOST: '127.0.0.1',
    STAGELINE_DATA_DIR: dataDir,
    STAGELINE_BOOTSTRAP_TOKEN: secrets.token,
    STAGELINE_MASTER_KEY: secrets.masterKey,
    STAGELINE_LOG_LEVEL: 'warn',
    // The load selects development by x-stageline-env alone (no key per request to look up).
    STAGELINE_GATEWAY_OPEN_EDITABLE: 'on',
    ...(kind === 'postgres' ? { STAGELINE_DATABASE_URL: await createPgDatabase(cleanup, name.replace(/-/g, '_')) } : {}),
    ...extra,
  };
  const started = performance.now();
  const child = Child.start(name, cleanup, process.execPath, [...NODE_FLAGS, SERVER_MAIN, 'server'], env, { nofile: 8192 });
  const base = `http://127.0.0.1:${port}`;
  const gateway = `http://127.0.0.1:${gatewayPort}`;
  await child.waitForHttp(`${base}/healthz`);
  // Any answer will do (no route is configured yet): the gateway's listener is up.
  await waitForAnswer(`${gateway}/`, ENV_HEADER, () => true, 30_000).catch((error: Error) => {
    throw new Error(`${name}: the gateway does not answer on STAGELINE_GATEWAY_PORT: ${error.message}\n${child.tail()}`);
  });
  const extras = Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(' ');
  log(`  ${name}: pid ${child.pid}${extras ? ` (${extras})` : ''}, management ${base}, gateway ${gateway}, up after ${fmt(performance.now() - started)} ms`);
  const mgmt = new HttpClient(base, secrets.token);
  return {
    name,
    child,
    gateway,
    mgmt,
    measured: { name, pids: () => processTree(child.pid) },
    async stop() {
      mgmt.close();
      await child.stop();
    },
  };
}

/** 1,000 CIDRs, IPv4 and IPv6, with the one that admits the load generator (127.0.0.1) in the middle. */
function allowList(): string[] {
  const list: string[] = [];
  for (let i = 0; i < 600; i++) list.push(`10.${i % 256}.${Math.floor(i / 256) * 16}.0/20`);
  for (let i = 0; i < 399; i++) list.push(`2001:db8:${(i * 13 + 1).toString(16)}::/48`);
  list.splice(500, 0, '127.0.0.1/32');
  check(new Set(list).size === 1000, 'the allow-list has duplicates');
  return list;
}

interface Routes {
  /** The limited route's key is unique to the run, so Redis counters of an earlier run never count. */
  limitKey: string;
}

/**
 * Secrets, a variable and the benchmark's routes committed in development; resolves once the
 * gateway serves every route.
 *   /r     routing only, one injected header         /p     secrets, limit, allow-list, canary
 *   /l     a limit that does not trip (its key is    /swap  flipped between a and b by G5
 *          unique to the run)                        /      everything else, to the decoy upstream
 * (a request that lost its route lands on the decoy, whose answers no check accepts).
 */
async function seedGateway(node: GatewayNode, upstreams: Upstreams, injected: Injected, routes: Routes): Promise<void> {
  const { mgmt } = node;
  await mgmt.call('PUT', `${DEV}/secrets/bench_token`, { value: injected.token });
  await mgmt.call('PUT', `${DEV}/secrets/bench_signing`, { value: injected.signing });
  await mgmt.call('PUT', '/api/workspaces/default/variables/bench_tenant', { value: injected.tenant });
  const limit = { requests: 1_000_000_000, windowSec: 60 };
  const contents: Record<string, unknown> = {
    'bench-route': { match: { pathPrefix: '/r' }, upstream: { url: upstreams.url.a }, injectHeaders: { 'x-bench-added': '1' } },
    'bench-policy': {
      match: { pathPrefix: '/p' },
      upstream: { url: upstreams.url.a },
      injectHeaders: {
        Authorization: 'Bearer {{ secrets.bench_token }}',
        'x-bench-signature': '{{ secrets.bench_signing }}',
        'x-bench-tenant': '{{ vars.bench_tenant }}',
      },
      rateLimit: limit,
      clients: allowList(),
      split: { canary: { url: upstreams.url.canary, weight: 10 } },
    },
    [routes.limitKey]: { match: { pathPrefix: '/l' }, upstream: { url: upstreams.url.a }, injectHeaders: { 'x-bench-added': '1' }, rateLimit: limit },
    'bench-swap': { match: { pathPrefix: '/swap' }, upstream: { url: upstreams.url.a } },
    'bench-decoy': { match: { pathPrefix: '/' }, upstream: { url: upstreams.url.decoy } },
  };
  for (const [key, content] of Object.entries(contents)) await mgmt.call('PUT', `${DEV}/resources/route/${key}`, { content });
  await mgmt.call('POST', `${DEV}/commits`, { message: 'gateway benchmark routes' });
  const served = (path: string, names: string[]) =>
    waitForAnswer(`${node.gateway}${path}`, ENV_HEADER, (status, headers) => status === 200 && names.includes(String(headers['x-upstream'])), 15_000, SERVED_IN_A_ROW);
  await served('/r/ready', ['a']);
  await served('/p/ready', ['a', 'canary']);
  await served('/l/ready', ['a']);
  await served('/swap/ready', ['a']);
  await served('/elsewhere', ['decoy']);
}

// ---------------------------------------------------------------------------------------------
// Rows

function row(database: string, measure: string, value: number | null, unit: string, target: Target | null = null): Row {
  return { database, measure, value, unit, target };
}

function crashRow(database: string, name: string, error: unknown): Row {
  console.error(`${name} crashed:`, error);
  return { database, measure: `${name} (crashed: ${(error as Error).message.split('\n')[0]!.slice(0, 70)})`, value: null, unit: '', target: null, note: 'error' };
}

function skippedRow(database: string, measure: string): Row {
  return { database, measure, value: null, unit: '', target: null, note: 'skipped' };
}

const medianRps = (runs: LoadRun[]) => trueMedian(runs.map((r) => r.rps));
const medianCpu = (runs: LoadRun[]) => trueMedian(runs.map((r) => r.cpuPerRequestUs));

// ---------------------------------------------------------------------------------------------
// G1–G3: throughput, every target in every round

interface ThroughputTarget extends LoadTarget {
  id: 'direct' | 'nginx' | 'route' | 'inproc' | 'policy' | 'limit' | 'redis' | 'nometrics';
}

/** Rounds over `targets` at each concurrency (A B C, then C B A, …); the runs of each target per concurrency. */
async function rounds(wrk: Wrk, targets: ThroughputTarget[], upstream: Measured, connections: number[], pattern: number): Promise<Map<string, LoadRun[]>> {
  const runs = new Map<string, LoadRun[]>();
  for (const c of connections) {
    for (const t of targets) {
      const warm = await loadRun(wrk, t, upstream, c, WARMUP_SECONDS, QUIET_WAIT_MS);
      log(`  warm-up c${c} ${t.label}: ${describeRun(warm)}`);
      runs.set(`${t.id}@${c}`, []);
    }
    for (let round = 0; round < pattern; round++) {
      // Drift (JIT, GC, the neighbours' load) hits every target alike.
      for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
        const run = await loadRun(wrk, t, upstream, c, LOAD_SECONDS, QUIET_WAIT_MS);
        runs.get(`${t.id}@${c}`)!.push(run);
        log(`  round ${round + 1} c${c} ${t.label}: ${describeRun(run)}`);
      }
    }
  }
  return runs;
}

interface BenchContext {
  kind: BenchDb;
  cleanup: Cleanup;
  wrk: Wrk;
  secrets: Secrets;
  injected: Injected;
  upstreams: Upstreams;
  proxy: { nginx: NginxServer; url: string };
  gateway: GatewayNode;
  routes: Routes;
}

async function redisCommands(redis: Redis): Promise<number> {
  const info = await redis.info('stats');
  const match = /total_commands_processed:(\d+)/.exec(info);
  return match ? Number(match[1]) : Number.NaN;
}

async function benchThroughput(ctx: BenchContext): Promise<{ rows: Row[]; gatewayMax: number | null }> {
  const { kind, upstreams, gateway } = ctx;
  const rows: Row[] = [];
  const db = kind;
  const targets: ThroughputTarget[] = [];
  const gw = (id: ThroughputTarget['id'], label: string, node: GatewayNode, path: string): ThroughputTarget => ({ id, label, url: `${node.gateway}${path}`, headers: ENV_HEADER, server: node.measured });
  if (wanted('G1')) {
    targets.push({ id: 'direct', label: 'upstream directly', url: `${upstreams.url.a}/r/item`, headers: { ...ENV_HEADER, 'x-bench-added': '1' }, server: { name: 'upstream', pids: () => [] } });
    targets.push({ id: 'nginx', label: 'nginx proxy', url: `${ctx.proxy.url}/r/item`, headers: ENV_HEADER, server: ctx.proxy.nginx });
  }
  if (wanted('G1') || wanted('G2') || wanted('G6')) targets.push(gw('route', 'gateway routing only', gateway, '/r/item'));
  let metricsOff: GatewayNode | null = null;
  if (wanted('G6')) {
    metricsOff = await startGateway(ctx.cleanup, 'gateway-metrics-off', kind, ctx.secrets, { STAGELINE_METRICS: 'off' });
    await seedGateway(metricsOff, upstreams, ctx.injected, ctx.routes);
    targets.push(gw('nometrics', 'gateway routing only, metrics off', metricsOff, '/r/item'));
  }
  // For comparison, the gateway in the API's process (STAGELINE_GATEWAY_WORKERS=0): it then shares
  // the heap and the event loop of the API and the node's jobs (docs/decisions.md).
  let inProcessNode: GatewayNode | null = null;
  if (wanted('G1')) {
    inProcessNode = await startGateway(ctx.cleanup, 'gateway-in-process', kind, ctx.secrets, { STAGELINE_GATEWAY_WORKERS: '0' });
    await seedGateway(inProcessNode, upstreams, ctx.injected, ctx.routes);
    targets.push(gw('inproc', 'gateway routing only, in the API process', inProcessNode, '/r/item'));
  }
  if (wanted('G2')) targets.push(gw('policy', 'gateway secrets+limit+1,000 CIDRs+canary', gateway, '/p/item'));

  let redisNode: GatewayNode | null = null;
  let redis: Redis | null = null;
  if (wanted('G3')) {
    targets.push(gw('limit', 'gateway limit in memory', gateway, '/l/item'));
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, retryStrategy: () => null });
    redis.on('error', () => {});
    const client = redis;
    const disconnect = ctx.cleanup.add('disconnect from Redis', async () => client.disconnect());
    const reachable = await redis.connect().then(
      () => true,
      (error: Error) => {
        log(`  G3: Redis at ${REDIS_URL} is unreachable (${error.message}): skipped`);
        return false;
      },
    );
    if (reachable) {
      redisNode = await startGateway(ctx.cleanup, 'gateway-redis', kind, ctx.secrets, { STAGELINE_REDIS_URL: REDIS_URL });
      await seedGateway(redisNode, upstreams, ctx.injected, ctx.routes);
      targets.push(gw('redis', 'gateway limit in Redis', redisNode, '/l/item'));
    } else {
      await disconnect();
      redis = null;
      rows.push(skippedRow(`${db}+redis`, `G3 (skipped: no Redis at ${REDIS_URL})`));
    }
  }
  if (targets.length === 0) return { rows, gatewayMax: null };
  log(`${db}: G1–G3 throughput (wrk -t1, c${CONNECTIONS.join('/c')}, ${LOAD_SECONDS} s runs, ${ROUNDS} rounds after ${WARMUP_SECONDS} s warm-ups): ${targets.map((t) => t.label).join(', ')}`);
  const upstream: Measured = upstreams.nginx;
  const before = redis ? await redisCommands(redis) : Number.NaN;
  let runs: Map<string, LoadRun[]>;
  try {
    runs = await rounds(ctx.wrk, targets, upstream, CONNECTIONS, ROUNDS);
  } finally {
    await redisNode?.stop();
    await inProcessNode?.stop();
    await metricsOff?.stop();
  }
  const after = redis ? await redisCommands(redis) : Number.NaN;

  const has = (id: string) => targets.some((t) => t.id === id);
  let gatewayMax: number | null = null;
  for (const c of CONNECTIONS) {
    const r = (id: string) => runs.get(`${id}@${c}`) ?? [];
    if (has('direct')) rows.push(row(db, `G1 c${c} upstream directly`, medianRps(r('direct')), 'req/s'));
    if (has('nginx')) {
      rows.push(row(db, `G1 c${c} nginx proxy (1 worker)`, medianRps(r('nginx')), 'req/s'));
      rows.push(row(db, `G1 c${c} nginx server CPU per request`, medianCpu(r('nginx')), 'us'));
    }
    if (has('route')) {
      gatewayMax = medianRps(r('route'));
      rows.push(row(db, `G1 c${c} gateway routing only (its own process, the default)`, gatewayMax, 'req/s'));
      rows.push(row(db, `G1 c${c} gateway server CPU per request (all its processes)`, medianCpu(r('route')), 'us'));
      rows.push(row(db, `G1 c${c} gateway latency p99 (median of runs)`, trueMedian(r('route').map((x) => x.p99Ms)), 'ms'));
    }
    if (has('nginx') && has('route')) {
      rows.push(row(db, `G1 c${c} ratio gateway / nginx`, medianRps(r('route')) / medianRps(r('nginx')), 'x', { op: '>=', value: G1_TARGET }));
      rows.push(row(db, `G1 c${c} the same from CPU per request (nginx / gateway)`, medianCpu(r('nginx')) / medianCpu(r('route')), 'x'));
    }
    if (has('nginx') && has('inproc')) {
      rows.push(row(db, `G1 c${c} gateway in the API's process (STAGELINE_GATEWAY_WORKERS=0)`, medianRps(r('inproc')), 'req/s'));
      rows.push(row(db, `G1 c${c} its server CPU per request`, medianCpu(r('inproc')), 'us'));
      rows.push(row(db, `G1 c${c} ratio gateway in the API's process / nginx (no target)`, medianRps(r('inproc')) / medianRps(r('nginx')), 'x'));
    }
    if (has('policy')) {
      rows.push(row(db, `G2 c${c} gateway with every policy`, medianRps(r('policy')), 'req/s'));
      rows.push(row(db, `G2 c${c} server CPU per request`, medianCpu(r('policy')), 'us'));
      rows.push(row(db, `G2 c${c} ratio policies / routing only`, medianRps(r('policy')) / medianRps(r('route')), 'x', { op: '>=', value: G2_TARGET }));
      rows.push(row(db, `G2 c${c} the same from CPU per request`, medianCpu(r('route')) / medianCpu(r('policy')), 'x'));
    }
    if (has('limit')) {
      rows.push(row(db, `G3 c${c} gateway limit in memory`, medianRps(r('limit')), 'req/s'));
      rows.push(row(db, `G3 c${c} server CPU per request, memory`, medianCpu(r('limit')), 'us'));
    }
    if (has('redis')) {
      rows.push(row(`${db}+redis`, `G3 c${c} gateway limit in Redis`, medianRps(r('redis')), 'req/s'));
      rows.push(row(`${db}+redis`, `G3 c${c} server CPU per request, Redis`, medianCpu(r('redis')), 'us'));
      rows.push(row(`${db}+redis`, `G3 c${c} ratio Redis / memory`, medianRps(r('redis')) / medianRps(r('limit')), 'x', { op: '>=', value: G3_TARGET }));
      rows.push(row(`${db}+redis`, `G3 c${c} the same from CPU per request`, medianCpu(r('limit')) / medianCpu(r('redis')), 'x'));
    }
  }
  for (const c of has('nometrics') ? CONNECTIONS : []) {
    const r = (id: string) => runs.get(`${id}@${c}`) ?? [];
    rows.push(row(db, `G6 c${c} gateway routing only, metrics off`, medianRps(r('nometrics')), 'req/s'));
    rows.push(row(db, `G6 c${c} server CPU per request, metrics off`, medianCpu(r('nometrics')), 'us'));
    rows.push(row(db, `G6 c${c} ratio metrics on / off`, medianRps(r('route')) / medianRps(r('nometrics')), 'x', { op: '>=', value: G6_TARGET }));
    rows.push(row(db, `G6 c${c} the same from CPU per request (off / on)`, medianCpu(r('nometrics')) / medianCpu(r('route')), 'x'));
  }
  if (has('redis')) {
    // A limit that quietly fell back to local counters would look fast: count what reached Redis.
    const answered = CONNECTIONS.flatMap((c) => runs.get(`redis@${c}`) ?? []).reduce((n, x) => n + x.ok, 0);
    const perRequest = (after - before) / answered;
    if (!(perRequest >= 0.5)) log(`  G3: only ${perRequest.toFixed(2)} Redis commands per limited request: are the counters in Redis?`);
    rows.push(row(`${db}+redis`, 'G3 Redis commands per limited request (whole server)', perRequest, ''));
  }
  const all = [...runs.values()].flat();
  rows.push(row(db, "G1-G3 other processes' CPU during runs (max)", Math.max(...all.map((x) => x.otherCpu * 100)), '%'));
  return { rows, gatewayMax };
}

// ---------------------------------------------------------------------------------------------
// G4: added latency at a fixed rate

async function benchLatency(kind: BenchDb, wrk: Wrk, upstreams: Upstreams, gateway: GatewayNode, knownMax: number | null): Promise<Row[]> {
  let max = knownMax;
  if (max === null) {
    const run = await loadRun(wrk, { label: 'gateway routing only', url: `${gateway.gateway}/r/item`, headers: ENV_HEADER, server: gateway.measured }, upstreams.nginx, 64, LOAD_SECONDS, QUIET_WAIT_MS);
    log(`  G4: the gateway's maximum: ${describeRun(run)}`);
    max = run.rps;
  }
  const rate = Math.max(100, Math.round(max / 4));
  log(
    `${kind}: G4 added latency at ${fmt(rate)} req/s each to the upstream and through the gateway (a quarter of the gateway's ${fmt(max)} req/s), ` +
      `interleaved on one open-loop schedule, ${G4_CONNECTIONS} keep-alive connections each, ${G4_RUNS} runs of ${G4_SECONDS} s`,
  );
  const direct: RateStream = { label: 'directly', origin: upstreams.url.a, path: '/r/item', headers: { ...ENV_HEADER, 'x-bench-added': '1' }, expect: ['x-upstream', 'a'], server: upstreams.nginx };
  const through: RateStream = { label: 'gateway', origin: gateway.gateway, path: '/r/item', headers: ENV_HEADER, expect: ['x-upstream', 'a'], server: gateway.measured };
  const runs: { direct: RateRun; through: RateRun }[] = [];
  let lowest = Number.POSITIVE_INFINITY;
  for (let i = -1; i < G4_RUNS; i++) {
    const warm = i < 0;
    if (!warm) {
      const { quiet, busy } = await waitForQuiet(QUIET_WAIT_MS);
      if (!quiet) log(`  (the machine is busy: other processes use ${Math.round(busy * 100)}% CPU; measuring anyway)`);
    }
    // Which stream goes first in each pair alternates from run to run.
    const order = i % 2 === 0 ? [direct, through] : [through, direct];
    const result = await fixedRateRun(order, rate, warm ? 2 : G4_SECONDS, G4_CONNECTIONS);
    const [d, g] = [direct, through].map((s) => result.streams.find((r) => r.label === s.label)!) as [RateRun, RateRun];
    const describe = (r: RateRun) => `${r.label} p50 ${r.p50Ms.toFixed(3)} ms p99 ${r.p99Ms.toFixed(3)} ms (${fmt(r.achievedRate)} req/s, ${r.bad} bad)`;
    log(
      `  ${warm ? 'warm-up' : `run ${i + 1}`}: ${describe(d)}; ${describe(g)}; schedule lag max ${result.maxLagMs.toFixed(1)} ms; ` +
        `cpu: client ${Math.round(result.clientCpu * 100)}%, upstream ${Math.round(d.serverCpu * 100)}%, gateway ${Math.round(g.serverCpu * 100)}%`,
    );
    for (const r of [d, g]) check(r.bad <= r.sent / 1000, `${r.bad} of ${r.sent} fixed-rate requests ${r.label} failed`);
    if (warm) continue;
    runs.push({ direct: d, through: g });
    lowest = Math.min(lowest, d.achievedRate / rate, g.achievedRate / rate);
  }
  const med = (pick: (r: { direct: RateRun; through: RateRun }) => number) => trueMedian(runs.map(pick));
  return [
    row(kind, 'G4 fixed rate, each (a quarter of the G1 c64 maximum)', rate, 'req/s'),
    row(kind, 'G4 lowest achieved share of that rate', lowest * 100, '%', { op: '>=', value: 95 }),
    row(kind, 'G4 upstream directly p50', med((r) => r.direct.p50Ms), 'ms'),
    row(kind, 'G4 upstream directly p99', med((r) => r.direct.p99Ms), 'ms'),
    row(kind, 'G4 through the gateway p50', med((r) => r.through.p50Ms), 'ms'),
    row(kind, 'G4 through the gateway p99', med((r) => r.through.p99Ms), 'ms'),
    // Differences within a run (the same moments of the same machine), then the median over runs.
    row(kind, 'G4 added latency p50', med((r) => r.through.p50Ms - r.direct.p50Ms), 'ms', { op: '<=', value: G4_P50_TARGET_MS }),
    row(kind, 'G4 added latency p99', med((r) => r.through.p99Ms - r.direct.p99Ms), 'ms', { op: '<=', value: G4_P99_TARGET_MS }),
  ];
}

// ---------------------------------------------------------------------------------------------
// G5: route-table swaps under load

async function benchSwaps(kind: BenchDb, upstreams: Upstreams, gateway: GatewayNode): Promise<Row[]> {
  log(`${kind}: G5 ${fmt(G5_CHANGES)} override changes of route/bench-swap (upstream a <-> b) under ${G5_LOOPS} checking keep-alive loops`);
  const path = `${DEV}/resources/route/bench-swap/override`;
  const flip = (name: 'a' | 'b') => gateway.mgmt.call('PUT', path, { override: { upstream: { url: upstreams.url[name] } } });
  const servedBy = (name: string) =>
    waitForAnswer(`${gateway.gateway}/swap/ready`, ENV_HEADER, (status, headers) => status === 200 && headers['x-upstream'] === name, G5_LIVE_TIMEOUT_MS);
  // First, without load: the gateway follows an override at all.
  await flip('b');
  await servedBy('b');
  await flip('a');
  await servedBy('a');

  const load = new CheckedLoad(gateway.gateway, '/swap/item', ENV_HEADER, 'x-upstream', new Set(['a', 'b']), G5_LOOPS);
  const changeMs: number[] = [];
  let live = false;
  let liveAfterMs = Number.NaN;
  const started = performance.now();
  let tally;
  try {
    await sleep(300);
    for (let i = 1; i <= G5_CHANGES; i++) {
      const answer = await flip(i % 2 === 1 ? 'b' : 'a');
      changeMs.push(answer.doneAt - answer.sentAt);
    }
    // An even number of flips ends where it started: one more change, which must be served.
    const probe = await flip('b');
    live = await load.waitForStreak('b', G5_STREAK, G5_LIVE_TIMEOUT_MS);
    liveAfterMs = live ? Math.max(0, load.streakStartedAt - probe.sentAt) : Number.NaN;
  } finally {
    tally = await load.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const answers = tally.ok + tally.failed + tally.misrouted;
  log(
    `  ${fmt(answers)} answers in ${seconds.toFixed(1)} s (${[...tally.byUpstream].map(([k, v]) => `${k || 'unnamed'} ${fmt(v)}`).join(', ')}), ` +
      `${tally.failed} failed, ${tally.misrouted} misrouted, ${fmt(tally.switches)} switches seen; override PUT p50 ${percentile(changeMs, 50).toFixed(1)} ms p99 ${percentile(changeMs, 99).toFixed(1)} ms`,
  );
  for (const sample of tally.samples) log(`    ${sample}`);
  check(answers > 0, 'no answer at all during the swaps');
  return [
    row(kind, 'G5 override changes under load', changeMs.length, '', { op: '>=', value: G5_CHANGES }),
    row(kind, 'G5 override change request p50', percentile(changeMs, 50), 'ms'),
    row(kind, 'G5 answers checked', answers, ''),
    row(kind, 'G5 answers per second during the changes', answers / seconds, 'req/s'),
    row(kind, 'G5 failed answers (not 200, or none)', tally.failed, '', { op: '<=', value: 0 }),
    row(kind, 'G5 misrouted answers (200 from neither a nor b)', tally.misrouted, '', { op: '<=', value: 0 }),
    row(kind, 'G5 upstream switches seen by the clients', tally.switches, ''),
    row(kind, `G5 last change served (${G5_STREAK} in a row) after`, live ? liveAfterMs : null, 'ms', { op: '<=', value: G5_LIVE_TIMEOUT_MS }),
  ];
}

// ---------------------------------------------------------------------------------------------
// W: gateway workers

async function benchWorkers(ctx: BenchContext): Promise<Row[]> {
  const { kind, cleanup, secrets } = ctx;
  log(`${kind}: W STAGELINE_GATEWAY_WORKERS=1 vs 2 (c${W_CONNECTIONS}, ${W_PATTERN} ${LOAD_SECONDS} s runs)`);
  const one = await startGateway(cleanup, 'gateway-1-worker', kind, secrets, { STAGELINE_GATEWAY_WORKERS: '1' });
  const two = await startGateway(cleanup, 'gateway-2-workers', kind, secrets, { STAGELINE_GATEWAY_WORKERS: '2' });
  try {
    await seedGateway(one, ctx.upstreams, ctx.injected, ctx.routes);
    await seedGateway(two, ctx.upstreams, ctx.injected, ctx.routes);
    const counts = [one, two].map((n) => processTree(n.child.pid).length);
    log(`  processes: ${one.name} ${counts[0]}, ${two.name} ${counts[1]}`);
    check(counts[1]! >= 3, `${two.name} runs ${counts[1]} processes, not a primary and two workers`);
    const target = (node: GatewayNode): LoadTarget => ({ label: node.name, url: `${node.gateway}/r/item`, headers: ENV_HEADER, server: node.measured });
    const upstream = ctx.upstreams.nginx;
    const runs: Record<'A' | 'B', LoadRun[]> = { A: [], B: [] };
    for (const node of [one, two]) log(`  warm-up ${node.name}: ${describeRun(await loadRun(ctx.wrk, target(node), upstream, W_CONNECTIONS, WARMUP_SECONDS, QUIET_WAIT_MS))}`);
    for (const phase of W_PATTERN as Iterable<'A' | 'B'>) {
      const node = phase === 'A' ? one : two;
      const run = await loadRun(ctx.wrk, target(node), upstream, W_CONNECTIONS, LOAD_SECONDS, QUIET_WAIT_MS);
      runs[phase].push(run);
      log(`  ${node.name}: ${describeRun(run)}`);
    }
    return [
      row(kind, `W c${W_CONNECTIONS} 1 worker`, medianRps(runs.A), 'req/s'),
      row(kind, `W c${W_CONNECTIONS} 2 workers`, medianRps(runs.B), 'req/s'),
      row(kind, 'W ratio 2 workers / 1', medianRps(runs.B) / medianRps(runs.A), 'x'),
      row(kind, 'W server CPU per request, 1 worker (all processes)', medianCpu(runs.A), 'us'),
      row(kind, 'W server CPU per request, 2 workers (all processes)', medianCpu(runs.B), 'us'),
      row(kind, "W other processes' CPU during runs (max)", Math.max(...[...runs.A, ...runs.B].map((x) => x.otherCpu * 100)), '%'),
    ];
  } finally {
    await two.stop();
    await one.stop();
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const kind = selectedDatabase();
  if (!existsSync(SERVER_MAIN)) throw new Error(`${SERVER_MAIN} is missing: run "npm run build" (npm run bench:gateway does)`);
  const nginx = findExecutable('nginx');
  const wrkPath = findExecutable('wrk');
  if (!nginx || !wrkPath) throw new Error(`the gateway benchmark needs nginx and wrk (missing: ${[nginx ? '' : 'nginx', wrkPath ? '' : 'wrk'].filter(Boolean).join(', ')}): apt-get install nginx wrk`);
  const cleanup = new Cleanup();
  cleanUpOnInterrupt(cleanup);
  const secrets: Secrets = { masterKey: randomBytes(32).toString('base64'), token: `bench_${randomBytes(16).toString('hex')}` };
  const injected: Injected = { token: randomBytes(16).toString('hex'), signing: randomBytes(16).toString('hex'), tenant: `tenant-${randomBytes(4).toString('hex')}` };
  const routes: Routes = { limitKey: `bench-limit-${randomBytes(4).toString('hex')}` };
  log(`node ${process.version}; ${QUICK ? 'quick' : 'full'} run on ${kind}; ${nginx}, ${wrkPath}`);

  const rows: Row[] = [];
  let failed = false;
  const started = performance.now();
  try {
    const wrk = Wrk.create(cleanup, wrkPath);
    const upstreams = await startUpstreams(cleanup, nginx, injected);
    const proxy = await startBaselineProxy(cleanup, nginx, upstreams.url.a);
    const gateway = await startGateway(cleanup, 'gateway', kind, secrets);
    await seedGateway(gateway, upstreams, injected, routes);
    const ctx: BenchContext = { kind, cleanup, wrk, secrets, injected, upstreams, proxy, gateway, routes };
    let gatewayMax: number | null = null;
    const sections: [string, () => Promise<Row[]>][] = [
      // G6 is measured in the same rounds as G1–G3.
      [
        'G1-G3',
        async () => {
          const result = await benchThroughput(ctx);
          gatewayMax = result.gatewayMax;
          return result.rows;
        },
      ],
      ['G4', () => benchLatency(kind, wrk, upstreams, gateway, gatewayMax)],
      ['G5', () => benchSwaps(kind, upstreams, gateway)],
      ['W', () => benchWorkers(ctx)],
    ];
    for (const [name, run] of sections) {
      if (name === 'G1-G3' ? !['G1', 'G2', 'G3', 'G6'].some(wanted) : !wanted(name)) continue;
      try {
        rows.push(...(await run()));
      } catch (error) {
        failed = true;
        rows.push(crashRow(kind, name, error));
        if (!gateway.child.running) throw new Error(`the gateway exited:\n${gateway.child.tail()}`);
      }
    }
  } catch (error) {
    failed = true;
    rows.push(crashRow(kind, 'setup', error));
  } finally {
    await cleanup.runAll();
  }

  console.log('');
  console.log(
    `Stageline gateway benchmark (${QUICK ? 'quick' : 'full'}: wrk -t1 c${CONNECTIONS.join('/c')}, ${LOAD_SECONDS} s runs, median of ${ROUNDS} rounds; ` +
      `G4 ${G4_RUNS} runs of ${G4_SECONDS} s; G5 ${fmt(G5_CHANGES)} changes; ${kind}; node ${process.version})`,
  );
  console.log('');
  console.log(renderTable(rows));
  const statuses = rows.map(statusOf);
  const missed = statuses.filter((s) => s === 'over' || s === 'under').length;
  console.log('');
  console.log(`${statuses.filter((s) => s === 'ok').length} within target, ${missed} missed${failed ? ', some measures crashed' : ''}; ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return failed ? 1 : 0;
}

runMain(main);
