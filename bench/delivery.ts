// Delivery benchmark: the runtime API of real server processes (`node dist/cli/main.js server`,
// each a child of this process) under load from autocannon, run in this process the same way
// for every server measured.
//   R1  — req/s of GET /v1/resources/config/<key> (a ~2 kB resolved resource) vs a plain
//         Fastify 5 hello-world child answering the same bytes; alternating runs, medians.
//   R2  — req/s of a ~100 kB resource vs the ~2 kB one on the same Stageline server.
//   R4  — req/s of the ~2 kB resource with 1,000 open SSE clients vs none, alternating
//         (A B B A …) on the same server; then one commit must reach every one of the clients.
//   P1a — commit → event latency on one node: a stream on /v1/stream of development, N commits
//         through the management API, time from sending POST …/commits to `event: release`.
//   P1b — the same across two nodes on one PostgreSQL database: commits on node A, the stream
//         and a read of the new value on node B.
//   P2  — commit of 1 resource -> event at an SSE client, and the read of the new value after
//         the event, in a 5,000-resource vs a 50-resource environment (two branches of one
//         node, commits alternating between them); the ratio of the medians, target <= 2.
// A report, not a test: it exits 0 whatever the numbers, non-zero only when something crashes.
// On a small machine the load generator needs a core of its own, and anything else running
// skews throughput: each run waits briefly for the machine to be quiet, logs the CPU of the
// server, the load generator and other processes, and the table adds the server's CPU time per
// request, which does not depend on how busy the machine was.
//
//   BENCH_DB     unset: R1/R2/R4/P1a on SQLite, P1b on PostgreSQL; sqlite: no P1b;
//                postgres: everything on PostgreSQL; both: single-node measures on both, and P1b
//   BENCH_QUICK=1     short runs (for CI, about a minute in all)
//   BENCH_CPU_PROF=1  servers run with --cpu-prof; the profiles are kept and their folder printed
//   BENCH_ONLY=R1,R4  only these measures (R1 also runs R2; P1a, P1b, P2), for investigating one
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Cleanup, cleanUpOnInterrupt, log, runMain, percentile, renderTable, statusOf, type BenchDb, type Row } from './support.js';
import {
  check,
  Child,
  connectMany,
  createPgDatabase,
  describeLoad,
  freePort,
  HttpClient,
  runLoad,
  shellFileLimit,
  sleep,
  SseClient,
  trueMedian,
  type LoadResult,
  type SseEvent,
} from './delivery-support.js';

const QUICK = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
const PROFILE = process.env.BENCH_CPU_PROF === '1' || process.env.BENCH_CPU_PROF === 'true';

const ONLY = new Set((process.env.BENCH_ONLY ?? '').toUpperCase().split(',').map((s) => s.trim()).filter(Boolean));
const wanted = (name: string) => ONLY.size === 0 || ONLY.has(name);

const CONNECTIONS = 50;
const LOAD_SECONDS = QUICK ? 3 : 10;
const WARMUP_SECONDS = QUICK ? 1 : 3;
const R1_ROUNDS = QUICK ? 2 : 4;
/** Before each run, wait up to this long for other processes of the machine to go quiet. */
const QUIET_WAIT_MS = QUICK ? 2_000 : 20_000;
const R1_RATIO_TARGET = 0.8;
const R2_RATIO_TARGET = 0.2;
const SMALL_BYTES = 2 * 1024;
const LARGE_BYTES = 100 * 1024;
const R4_CLIENTS = 1_000;
/** A: no stream open, B: R4_CLIENTS streams open. */
const R4_PATTERN = QUICK ? 'ABBA' : 'ABBAABBAABBA';
const R4_RATIO_TARGET = 0.9;
const P1_COMMITS = QUICK ? 30 : 100;
const P1_WARMUP = 5;
const P1A_P99_TARGET_MS = 200;
const P1B_P99_TARGET_MS = 100;
const EVENT_TIMEOUT_MS = 10_000;
const P2_SIZES = { small: 50, large: 5_000 } as const;
const P2_COMMITS = QUICK ? 10 : 40;
const P2_RATIO_TARGET = 2;
/** Drafts written at once while seeding (the client keeps 8 connections). */
const P2_SEED_CONCURRENCY = 8;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_MAIN = join(ROOT, 'dist', 'cli', 'main.js');
const HELLO_SERVER = fileURLToPath(new URL('./hello-server.ts', import.meta.url));
const WS = '/api/workspaces/default';
const DEV = `${WS}/environments/development`;
const PATHS = { small: '/v1/resources/config/bench-2k', large: '/v1/resources/config/bench-100k', x: '/v1/resources/config/x' };

interface Plan {
  singleNode: BenchDb[];
  p1b: boolean;
}

function selectedPlan(): Plan {
  const value = (process.env.BENCH_DB ?? '').toLowerCase();
  if (value === '') return { singleNode: ['sqlite'], p1b: true };
  if (value === 'sqlite') return { singleNode: ['sqlite'], p1b: false };
  if (value === 'postgres') return { singleNode: ['postgres'], p1b: true };
  if (value === 'both') return { singleNode: ['sqlite', 'postgres'], p1b: true };
  throw new Error(`BENCH_DB must be sqlite, postgres or both, not "${process.env.BENCH_DB}"`);
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

// ---------------------------------------------------------------------------------------------
// Servers and content

interface Secrets {
  masterKey: string;
  token: string;
}

interface StagelineNode {
  name: string;
  child: Child;
  base: string;
  /** The management API as the owner. */
  mgmt: HttpClient;
  stop(): Promise<void>;
}

let profileDir: string | null = null;

function profileArgs(): string[] {
  if (!PROFILE) return [];
  profileDir ??= mkdtempSync(join(tmpdir(), 'stageline-bench-profiles-'));
  return ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
}

async function startNode(cleanup: Cleanup, name: string, secrets: Secrets, options: { databaseUrl?: string; nofile?: number } = {}): Promise<StagelineNode> {
  const port = await freePort();
  const gatewayPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `stageline-bench-${name}-`));
  cleanup.add(`remove ${dataDir}`, async () => rmSync(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = {
    STAGELINE_PORT: String(port),
    STAGELINE_GATEWAY_PORT: String(gatewayPort),
    STAGELINE_HOST: '127.0.0.1',
    STAGELINE_DATA_DIR: dataDir,
    STAGELINE_BOOTSTRAP_TOKEN: secrets.token,
    STAGELINE_MASTER_KEY: secrets.masterKey,
    STAGELINE_LOG_LEVEL: 'warn',
    // The delivery API is measured here: the (idle) gateway stays in the node's process, as when
    // these figures were first taken, rather than adding a process of its own to the machine.
    STAGELINE_GATEWAY_WORKERS: '0',
    ...(options.databaseUrl ? { STAGELINE_DATABASE_URL: options.databaseUrl } : {}),
  };
  const started = performance.now();
  const child = Child.start(name, cleanup, process.execPath, [...profileArgs(), SERVER_MAIN, 'server'], env, options.nofile ? { nofile: options.nofile } : {});
  const base = `http://127.0.0.1:${port}`;
  await child.waitForHttp(`${base}/healthz`);
  log(`  ${name}: pid ${child.pid} serving on ${base} after ${fmt(performance.now() - started)} ms (open-file limit ${child.fileLimit()})`);
  const mgmt = new HttpClient(base, secrets.token);
  return {
    name,
    child,
    base,
    mgmt,
    async stop() {
      mgmt.close();
      await child.stop();
    },
  };
}

/** A config value whose served document is about `bytes` long (structured, not one blob). */
function configValue(bytes: number, seed: string): unknown {
  const items: unknown[] = [];
  let size = 0;
  const budget = bytes - 190; // the served envelope: kind, key, content.value, hash
  for (let i = 0; size < budget; i++) {
    const item = { id: `${seed}-${String(i).padStart(4, '0')}`, enabled: i % 3 !== 0, rollout: (i * 37) % 100, owner: `team-${i % 7}`, label: `feature ${i}` };
    items.push(item);
    size += JSON.stringify(item).length + 1;
  }
  return { name: seed, items };
}

async function putConfig(node: StagelineNode, key: string, value: unknown) {
  await node.mgmt.call('PUT', `${DEV}/resources/config/${key}`, { content: { value } });
}

async function commitDevelopment(node: StagelineNode, message: string) {
  return node.mgmt.call<{ number: number }>('POST', `${DEV}/commits`, { message });
}

async function createDevelopmentKey(node: StagelineNode, name: string): Promise<string> {
  const created = await node.mgmt.call<{ key: string }>('POST', `${DEV}/api-keys`, { name, kind: 'secret' });
  check(typeof created.body.key === 'string' && created.body.key.startsWith('sk_'), `api key answer ${created.text.slice(0, 200)}`);
  return created.body.key;
}

/** The 2 kB, 100 kB and `x` resources committed in development, and a development secret key. */
async function seedNode(node: StagelineNode): Promise<string> {
  await putConfig(node, 'bench-2k', configValue(SMALL_BYTES, 'small'));
  await putConfig(node, 'bench-100k', configValue(LARGE_BYTES, 'large'));
  await putConfig(node, 'x', { i: -1 });
  const first = await commitDevelopment(node, 'delivery benchmark content');
  check(first.body.number >= 1, `first commit answered ${first.text.slice(0, 200)}`);
  return createDevelopmentKey(node, 'delivery benchmark');
}

function releaseOf(event: SseEvent): number | null {
  if (event.event !== 'release') return null;
  const data = JSON.parse(event.data) as { release?: unknown };
  return typeof data.release === 'number' ? data.release : null;
}

/** Median server CPU time per answered request, in microseconds: insensitive to how busy the machine was. */
function cpuPerRequest(results: LoadResult[]): number {
  return trueMedian(results.map((r) => (r.serverCpu / r.rps) * 1e6));
}

/** How much CPU other processes of the machine took during the runs (2 cores = 200 %): a noise gauge. */
function otherCpuRow(database: string, name: string, results: LoadResult[]): Row {
  return { database, measure: `${name} other processes' CPU during runs (max)`, value: Math.max(...results.map((r) => r.otherCpu * 100)), unit: '%', target: null };
}

// ---------------------------------------------------------------------------------------------
// R1 + R2: read throughput vs a Fastify hello world, and 100 kB vs 2 kB

interface LoadTarget {
  label: string;
  url: string;
  server: Child;
  results: LoadResult[];
}

async function benchReads(kind: BenchDb, cleanup: Cleanup, node: StagelineNode, key: string): Promise<Row[]> {
  log(`${kind}: R1/R2 read throughput (${CONNECTIONS} connections, ${LOAD_SECONDS} s runs, ${R1_ROUNDS} rounds after ${WARMUP_SECONDS} s warm-up)`);
  const reader = new HttpClient(node.base, key);
  const small = await reader.call('GET', PATHS.small);
  const large = await reader.call('GET', PATHS.large);
  reader.close();
  const smallBytes = Buffer.byteLength(small.text);
  const largeBytes = Buffer.byteLength(large.text);
  log(`  served documents: ${smallBytes} bytes and ${largeBytes} bytes`);
  check(Math.abs(smallBytes - SMALL_BYTES) < 200 && Math.abs(largeBytes - LARGE_BYTES) < 400, `documents of ${smallBytes} and ${largeBytes} bytes`);

  const dir = mkdtempSync(join(tmpdir(), 'stageline-bench-hello-'));
  cleanup.add(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
  const bodyFile = join(dir, 'body.json');
  writeFileSync(bodyFile, small.text);
  const port = await freePort();
  const hello = Child.start('fastify-hello', cleanup, process.execPath, [...profileArgs(), '--import', 'tsx', HELLO_SERVER], {
    BENCH_PORT: String(port),
    BENCH_PATH: PATHS.small,
    BENCH_BODY_FILE: bodyFile,
  });
  const helloUrl = `http://127.0.0.1:${port}${PATHS.small}`;
  try {
    await hello.waitForHttp(helloUrl);
    const helloClient = new HttpClient(`http://127.0.0.1:${port}`, key);
    const same = await helloClient.call('GET', PATHS.small);
    helloClient.close();
    check(same.text === small.text, 'the hello server does not answer the same bytes');

    const headers = { authorization: `Bearer ${key}` };
    const targets: LoadTarget[] = [
      { label: 'fastify hello, 2 kB', url: helloUrl, server: hello, results: [] },
      { label: 'stageline, 2 kB', url: node.base + PATHS.small, server: node.child, results: [] },
      { label: 'stageline, 100 kB', url: node.base + PATHS.large, server: node.child, results: [] },
    ];
    for (const t of targets) {
      const warm = await runLoad({ url: t.url, headers, connections: CONNECTIONS, seconds: WARMUP_SECONDS, quietWaitMs: QUIET_WAIT_MS }, t.server);
      log(`  warm-up ${t.label}: ${describeLoad(warm)}`);
    }
    for (let round = 0; round < R1_ROUNDS; round++) {
      // A B C, then C B A …: drift (JIT, GC, thermal) hits every target alike.
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const result = await runLoad({ url: t.url, headers, connections: CONNECTIONS, seconds: LOAD_SECONDS, quietWaitMs: QUIET_WAIT_MS }, t.server);
        t.results.push(result);
        log(`  round ${round + 1} ${t.label}: ${describeLoad(result)}`);
      }
    }
    const [helloT, smallT, largeT] = targets.map((t) => trueMedian(t.results.map((r) => r.rps))) as [number, number, number];
    const [helloCost, smallCost, largeCost] = targets.map((t) => cpuPerRequest(t.results)) as [number, number, number];
    const p99 = (t: LoadTarget) => trueMedian(t.results.map((r) => r.p99));
    return [
      { database: kind, measure: `R1 Fastify hello world, ${smallBytes} B`, value: helloT, unit: 'req/s', target: null },
      { database: kind, measure: `R1 GET resource, ${smallBytes} B`, value: smallT, unit: 'req/s', target: null },
      { database: kind, measure: 'R1 GET resource, latency p99 (median of runs)', value: p99(targets[1]!), unit: 'ms', target: null },
      { database: kind, measure: 'R1 ratio Stageline / hello world', value: smallT / helloT, unit: 'x', target: { op: '>=', value: R1_RATIO_TARGET } },
      { database: kind, measure: 'R1 server CPU per request, hello world', value: helloCost, unit: 'us', target: null },
      { database: kind, measure: 'R1 server CPU per request, Stageline 2 kB', value: smallCost, unit: 'us', target: null },
      { database: kind, measure: `R2 GET resource, ${largeBytes} B`, value: largeT, unit: 'req/s', target: null },
      { database: kind, measure: 'R2 ratio 100 kB / 2 kB', value: largeT / smallT, unit: 'x', target: { op: '>=', value: R2_RATIO_TARGET } },
      { database: kind, measure: 'R2 server CPU per request, Stageline 100 kB', value: largeCost, unit: 'us', target: null },
      otherCpuRow(kind, 'R1/R2', targets.flatMap((t) => t.results)),
    ];
  } finally {
    await hello.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// R4: read throughput with 1,000 open event streams

async function benchStreams(kind: BenchDb, node: StagelineNode, key: string): Promise<Row[]> {
  log(`${kind}: R4 read throughput with ${fmt(R4_CLIENTS)} open SSE clients vs none (${R4_PATTERN}, ${LOAD_SECONDS} s runs)`);
  const limit = node.child.fileLimit();
  check(!(limit < R4_CLIENTS + 200), `the server's open-file limit is ${limit}`);
  const headers = { authorization: `Bearer ${key}` };
  const url = node.base + PATHS.small;
  const warm = await runLoad({ url, headers, connections: CONNECTIONS, seconds: WARMUP_SECONDS, quietWaitMs: QUIET_WAIT_MS }, node.child);
  log(`  warm-up: ${describeLoad(warm)}`);

  const without: LoadResult[] = [];
  const withStreams: LoadResult[] = [];
  let clients: SseClient[] = [];
  let dropped = 0;
  let missed = 0;
  const fanOut: number[] = [];
  let committed = 0;

  /** Closes the streams after checking none was dropped and a new release reaches them all. */
  const release = async () => {
    dropped += clients.filter((c) => c.closed).length;
    await putConfig(node, 'x', { i: 1_000_000 + committed });
    const answer = await commitDevelopment(node, `R4 fan-out ${++committed}`);
    const number = answer.body.number;
    const arrivals = await Promise.all(
      clients.map((c) =>
        c.waitFor((e) => releaseOf(e) === number, EVENT_TIMEOUT_MS).then(
          (e) => e.at,
          () => null,
        ),
      ),
    );
    const got = arrivals.filter((a): a is number => a !== null);
    missed += clients.length - got.length;
    const last = got.length > 0 ? Math.max(...got) - answer.sentAt : Number.NaN;
    if (got.length > 0) fanOut.push(last);
    log(`  release #${number} reached ${got.length}/${clients.length} streams, the last ${last.toFixed(1)} ms after the commit was sent`);
    for (const c of clients) c.close();
    clients = [];
    await sleep(500);
  };

  try {
    for (const [i, phase] of [...R4_PATTERN].entries()) {
      if (phase === 'B' && clients.length === 0) {
        const started = performance.now();
        clients = await connectMany(`${node.base}/v1/stream`, key, R4_CLIENTS);
        log(`  opened ${clients.length} streams in ${fmt(performance.now() - started)} ms`);
        await sleep(500);
      }
      if (phase === 'A' && clients.length > 0) await release();
      const result = await runLoad({ url, headers, connections: CONNECTIONS, seconds: LOAD_SECONDS, quietWaitMs: QUIET_WAIT_MS }, node.child);
      (phase === 'A' ? without : withStreams).push(result);
      log(`  run ${i + 1} (${phase === 'A' ? 'no streams' : `${clients.length} streams`}): ${describeLoad(result)}`);
    }
    if (clients.length > 0) await release();
  } finally {
    for (const c of clients) c.close();
  }
  const a = trueMedian(without.map((r) => r.rps));
  const b = trueMedian(withStreams.map((r) => r.rps));
  return [
    { database: kind, measure: 'R4 GET 2 kB, no SSE clients', value: a, unit: 'req/s', target: null },
    { database: kind, measure: `R4 GET 2 kB, ${fmt(R4_CLIENTS)} SSE clients open`, value: b, unit: 'req/s', target: null },
    { database: kind, measure: `R4 ratio ${fmt(R4_CLIENTS)} SSE clients / none`, value: b / a, unit: 'x', target: { op: '>=', value: R4_RATIO_TARGET } },
    { database: kind, measure: 'R4 server CPU per request, no SSE clients', value: cpuPerRequest(without), unit: 'us', target: null },
    { database: kind, measure: `R4 server CPU per request, ${fmt(R4_CLIENTS)} SSE clients`, value: cpuPerRequest(withStreams), unit: 'us', target: null },
    otherCpuRow(kind, 'R4', [...without, ...withStreams]),
    { database: kind, measure: 'R4 SSE clients dropped during load', value: dropped, unit: '', target: { op: '<=', value: 0 } },
    { database: kind, measure: 'R4 SSE clients missing a release', value: missed, unit: '', target: { op: '<=', value: 0 } },
    { database: kind, measure: `R4 commit -> event at all ${fmt(R4_CLIENTS)} (worst)`, value: fanOut.length ? Math.max(...fanOut) : null, unit: 'ms', target: null },
  ];
}

// ---------------------------------------------------------------------------------------------
// P1: commit -> event latency (one node, or commits on A and the stream on B)

interface EventLatency {
  latencies: number[];
  commitRequests: number[];
  stale: number;
}

async function commitToEvent(label: string, writer: StagelineNode, reader: StagelineNode, key: string): Promise<EventLatency> {
  const stream = await SseClient.connect(`${reader.base}/v1/stream`, key);
  const read = new HttpClient(reader.base, key);
  const out: EventLatency = { latencies: [], commitRequests: [], stale: 0 };
  try {
    for (let i = 0; i < P1_WARMUP + P1_COMMITS; i++) {
      await putConfig(writer, 'x', { i, label });
      const answer = await commitDevelopment(writer, `${label} commit ${i}`);
      const number = answer.body.number;
      const event = await stream.waitFor((e) => releaseOf(e) === number, EVENT_TIMEOUT_MS);
      // The node that sent the event must now serve the committed value.
      const served = await read.call<{ content?: { value?: { i?: unknown } } }>('GET', PATHS.x);
      if (served.body.content?.value?.i !== i) out.stale += 1;
      if (i < P1_WARMUP) continue;
      out.latencies.push(event.at - answer.sentAt);
      out.commitRequests.push(answer.doneAt - answer.sentAt);
    }
  } finally {
    stream.close();
    read.close();
  }
  const p = (q: number) => percentile(out.latencies, q).toFixed(1);
  log(`  ${label}: commit -> event p50 ${p(50)} ms, p99 ${p(99)} ms, max ${Math.max(...out.latencies).toFixed(1)} ms; commit request p50 ${percentile(out.commitRequests, 50).toFixed(1)} ms; stale reads ${out.stale}`);
  return out;
}

function eventRows(database: string, name: string, result: EventLatency, p99Target: number): Row[] {
  return [
    { database, measure: `${name} commit -> event p50`, value: percentile(result.latencies, 50), unit: 'ms', target: null },
    { database, measure: `${name} commit -> event p99`, value: percentile(result.latencies, 99), unit: 'ms', target: { op: '<', value: p99Target } },
    { database, measure: `${name} commit request p50 (writer)`, value: percentile(result.commitRequests, 50), unit: 'ms', target: null },
    { database, measure: `${name} reads of an older value after the event`, value: result.stale, unit: '', target: { op: '<=', value: 0 } },
  ];
}

async function benchP1a(kind: BenchDb, node: StagelineNode, key: string): Promise<Row[]> {
  log(`${kind}: P1a commit -> event on one node (${P1_COMMITS} commits after ${P1_WARMUP} warm-up)`);
  return eventRows(kind, 'P1a', await commitToEvent('P1a', node, node, key), P1A_P99_TARGET_MS);
}

async function benchP1b(cleanup: Cleanup, secrets: Secrets): Promise<Row[]> {
  log(`postgres: P1b commit on node A -> event on node B (${P1_COMMITS} commits after ${P1_WARMUP} warm-up)`);
  const databaseUrl = await createPgDatabase(cleanup, 'p1b');
  // One after the other: A migrates and initialises the database, B finds it ready.
  const a = await startNode(cleanup, 'stageline-pg-A', secrets, { databaseUrl });
  const b = await startNode(cleanup, 'stageline-pg-B', secrets, { databaseUrl });
  try {
    const key = await seedNode(a);
    const result = await commitToEvent('P1b', a, b, key);
    return eventRows('postgres', 'P1b A->B', result, P1B_P99_TARGET_MS);
  } finally {
    await b.stop();
    await a.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// P2: commit -> event, and event -> new value served, as the environment grows

interface SizedBranch {
  size: number;
  path: string;
  key: string;
  stream: SseClient;
  reader: HttpClient;
  events: number[];
  reads: number[];
}

/** A branch of development holding `size` config resources (development's own included), with a key and an open stream. */
async function sizedBranch(node: StagelineNode, size: number): Promise<SizedBranch> {
  const slug = `p2-${size}`;
  const created = await node.mgmt.call('POST', `${WS}/environments`, { slug, name: slug, kind: 'branch', from: 'development' });
  check(created.status === 201, `branch ${slug}: ${created.text.slice(0, 200)}`);
  const path = `${WS}/environments/${slug}`;
  const have = (await node.mgmt.call<{ data: unknown[] }>('GET', `${path}/resources`)).body.data.length;
  const keys = Array.from({ length: Math.max(0, size - have) }, (_, i) => `p2-${String(i).padStart(5, '0')}`);
  const started = performance.now();
  for (let i = 0; i < keys.length; i += P2_SEED_CONCURRENCY) {
    await Promise.all(keys.slice(i, i + P2_SEED_CONCURRENCY).map((k, j) => node.mgmt.call('PUT', `${path}/resources/config/${k}`, { content: { value: { n: i + j, label: `resource ${k}` } } })));
  }
  await node.mgmt.call('POST', `${path}/commits`, { message: `seed ${size}` });
  const key = (await node.mgmt.call<{ key: string }>('POST', `${path}/api-keys`, { name: slug, kind: 'secret' })).body.key;
  const reader = new HttpClient(node.base, key);
  // The first read builds the view: every later read is what a release leaves of it.
  await reader.call('GET', '/v1/resources');
  log(`  ${slug}: ${fmt(have + keys.length)} resources seeded in ${fmt(performance.now() - started)} ms`);
  return { size, path, key, stream: await SseClient.connect(`${node.base}/v1/stream`, key), reader, events: [], reads: [] };
}

async function benchP2(kind: BenchDb, node: StagelineNode): Promise<Row[]> {
  log(`${kind}: P2 commit of 1 resource -> event at ${fmt(P2_SIZES.small)} vs ${fmt(P2_SIZES.large)} resources (${P2_COMMITS} commits each after ${P1_WARMUP} warm-up, alternating)`);
  const branches = [await sizedBranch(node, P2_SIZES.small), await sizedBranch(node, P2_SIZES.large)];
  try {
    for (let i = 0; i < P1_WARMUP + P2_COMMITS; i++) {
      for (const b of i % 2 === 0 ? branches : [...branches].reverse()) {
        await node.mgmt.call('PUT', `${b.path}/resources/config/x`, { content: { value: { i } } });
        const answer = await node.mgmt.call<{ number: number }>('POST', `${b.path}/commits`, { message: `P2 ${i}` });
        const event = await b.stream.waitFor((e) => releaseOf(e) === answer.body.number, EVENT_TIMEOUT_MS);
        // What an SDK does on the event: read what changed.
        const read = await b.reader.call<{ content?: { value?: { i?: unknown } } }>('GET', PATHS.x);
        check(read.body.content?.value?.i === i, `P2 read after the event answered ${read.text.slice(0, 200)}`);
        if (i < P1_WARMUP) continue;
        b.events.push(event.at - answer.sentAt);
        b.reads.push(read.doneAt - read.sentAt);
      }
    }
  } finally {
    for (const b of branches) {
      b.stream.close();
      b.reader.close();
    }
  }
  const [small, large] = branches as [SizedBranch, SizedBranch];
  const p50 = (values: number[]) => percentile(values, 50);
  for (const b of branches) log(`  ${fmt(b.size)} resources: commit -> event p50 ${p50(b.events).toFixed(1)} ms, p99 ${percentile(b.events, 99).toFixed(1)} ms; read after the event p50 ${p50(b.reads).toFixed(1)} ms`);
  const label = (size: number) => `${fmt(size)} resources`;
  return [
    { database: kind, measure: `P2 commit -> event p50, ${label(small.size)}`, value: p50(small.events), unit: 'ms', target: null },
    { database: kind, measure: `P2 commit -> event p50, ${label(large.size)}`, value: p50(large.events), unit: 'ms', target: null },
    { database: kind, measure: `P2 ratio commit -> event ${fmt(large.size)} / ${fmt(small.size)}`, value: p50(large.events) / p50(small.events), unit: 'x', target: { op: '<=', value: P2_RATIO_TARGET } },
    { database: kind, measure: `P2 read of the new value after the event p50, ${label(small.size)}`, value: p50(small.reads), unit: 'ms', target: null },
    { database: kind, measure: `P2 read of the new value after the event p50, ${label(large.size)}`, value: p50(large.reads), unit: 'ms', target: null },
    { database: kind, measure: `P2 ratio read after the event ${fmt(large.size)} / ${fmt(small.size)}`, value: p50(large.reads) / p50(small.reads), unit: 'x', target: null },
  ];
}

// ---------------------------------------------------------------------------------------------

function crashRow(database: string, name: string, error: unknown): Row {
  console.error(`${database} ${name} crashed:`, error);
  return { database, measure: `${name} (crashed: ${(error as Error).message.split('\n')[0]!.slice(0, 60)})`, value: null, unit: '', target: null, note: 'error' };
}

async function singleNode(kind: BenchDb, cleanup: Cleanup, secrets: Secrets): Promise<{ rows: Row[]; failed: boolean }> {
  const rows: Row[] = [];
  let failed = false;
  const databaseUrl = kind === 'postgres' ? await createPgDatabase(cleanup, 'single') : undefined;
  const node = await startNode(cleanup, `stageline-${kind}`, secrets, { nofile: 4096, ...(databaseUrl ? { databaseUrl } : {}) });
  try {
    const key = await seedNode(node);
    for (const [id, name, run] of [
      ['R1', 'R1/R2', (c: Cleanup) => benchReads(kind, c, node, key)],
      ['R4', 'R4', () => benchStreams(kind, node, key)],
      ['P1A', 'P1a', () => benchP1a(kind, node, key)],
      ['P2', 'P2', () => benchP2(kind, node)],
    ] as const) {
      if (!wanted(id)) continue;
      try {
        rows.push(...(await run(cleanup)));
      } catch (error) {
        failed = true;
        rows.push(crashRow(kind, name, error));
        if (!node.child.running) throw new Error(`the server exited:\n${node.child.tail()}`);
      }
    }
  } finally {
    await node.stop();
  }
  return { rows, failed };
}

async function main(): Promise<number> {
  const plan = selectedPlan();
  if (!existsSync(SERVER_MAIN)) throw new Error(`${SERVER_MAIN} is missing: run "npm run build" (npm run bench:delivery does)`);
  const cleanup = new Cleanup();
  cleanUpOnInterrupt(cleanup);

  // One owner token and master key for every node: the two P1b nodes must share them.
  const secrets: Secrets = { masterKey: randomBytes(32).toString('base64'), token: `bench_${randomBytes(16).toString('hex')}` };
  const limit = shellFileLimit();
  log(`open-file limit: soft ${limit.soft}, hard ${limit.hard}; node ${process.version}; ${QUICK ? 'quick' : 'full'} run`);

  const rows: Row[] = [];
  let failed = false;
  const started = performance.now();
  try {
    for (const kind of ['R1', 'R4', 'P1A', 'P2'].some(wanted) ? plan.singleNode : []) {
      try {
        const result = await singleNode(kind, cleanup, secrets);
        rows.push(...result.rows);
        failed ||= result.failed;
      } catch (error) {
        failed = true;
        rows.push(crashRow(kind, 'R1/R2/R4/P1a', error));
      }
    }
    if (!wanted('P1B')) {
      // not asked for
    } else if (plan.p1b) {
      try {
        rows.push(...(await benchP1b(cleanup, secrets)));
      } catch (error) {
        failed = true;
        rows.push(crashRow('postgres', 'P1b', error));
      }
    } else {
      rows.push({ database: 'postgres', measure: 'P1b two nodes (skipped: BENCH_DB=sqlite)', value: null, unit: '', target: null, note: 'skipped' });
    }
  } finally {
    await cleanup.runAll();
  }
  if (profileDir) log(`CPU profiles of the servers (kept): ${profileDir}`);

  console.log('');
  console.log(
    `Stageline delivery benchmark (${QUICK ? 'quick' : 'full'}: ${CONNECTIONS} connections, ${LOAD_SECONDS} s runs, R1/R2 median of ${R1_ROUNDS}, ` +
      `R4 ${R4_PATTERN}, P1 ${P1_COMMITS} commits; node ${process.version})`,
  );
  console.log('');
  console.log(renderTable(rows));
  const statuses = rows.map(statusOf);
  const missedTargets = statuses.filter((s) => s === 'over' || s === 'under').length;
  console.log('');
  console.log(
    `${statuses.filter((s) => s === 'ok').length} within target, ${missedTargets} missed${failed ? ', some measures crashed' : ''}; ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  return failed ? 1 : 0;
}

runMain(main);
