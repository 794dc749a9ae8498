// Part 8 — dependency faults: what real nodes do when what they depend on fails under them.
//   pg       (postgres) PostgreSQL restarted (`pg_ctl restart -m fast`, then `-m immediate`) under
//            a steady load of reads, commits and two event streams on two nodes; then the
//            listener connections are cut while commits go on. Nodes must come back by themselves,
//            LISTEN must resume, every release must reach the other node's stream exactly once
//            and in order, and no request may hang.
//   redis    Redis killed and started again under a gateway with one route per `onStoreDown`
//            policy: each policy must answer as docs/gateway.md says while Redis is down, and the
//            limits must be enforced again once it is back.
//   delivery An SMTP server and a webhook receiver that hang past the timeout, reset the
//            connection and answer 500/451 before answering: retries must follow the backoff of
//            DEFAULT_RETRY, each delivery must arrive once after its success, and the run's
//            steps must record every attempt.
//   sqlite   (sqlite) another process holding the write lock past the busy timeout, then the
//            database on a small tmpfs written until it is full: clear errors in the error
//            shape, a node that stays up and works again, and an intact file.
// The PostgreSQL and Redis this part restarts are its own (reliability/lib/deps-services.ts),
// never the shared ones.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { sleep, SseClient, type SseEvent } from '../../bench/delivery-support.js';
import { cleanUpOnInterrupt } from '../../bench/support.js';
import { DEFAULT_RETRY } from '../../src/domain/workflows/progress.js';
import { gatewayCall } from '../../test/support.js';
import { DB, emit, fmt, QUICK, runPart, say, scaled, zero } from '../contract.js';
import { startPrivatePostgres, startPrivateRedis } from '../lib/deps-services.js';
import { Cleanup, HttpClient, newDatabase, ROOT, startNode, type StagelineNode } from '../lib/nodes.js';

const PART = 'dependencies';
const DEV = '/api/workspaces/default/environments/development';
/** Every status: the probes judge answers themselves. */
const ANY = Array.from({ length: 500 }, (_, i) => i + 100);
/** The longest a request may take while a dependency fails (no hang): the API has no timeout of its own, this is the budget. */
const REQUEST_BUDGET_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Probes: one request, its answer judged

interface Probe {
  label: string;
  status: number;
  ms: number;
  startedAt: number;
  doneAt: number;
  /** A non-2xx answer in `{"error":{code,message}}`. */
  shaped: boolean;
  code: string | null;
  body: any;
  error: string | null;
}

async function probe(client: HttpClient, label: string, method: string, path: string, body?: unknown): Promise<Probe> {
  const startedAt = performance.now();
  try {
    const answer = await client.call<any>(method, path, body, ANY);
    const doneAt = performance.now();
    const error = answer.body?.error;
    const shaped = typeof error?.code === 'string' && typeof error?.message === 'string';
    return { label, status: answer.status, ms: doneAt - startedAt, startedAt, doneAt, shaped, code: shaped ? error.code : null, body: answer.body, error: null };
  } catch (error) {
    const doneAt = performance.now();
    return { label, status: 0, ms: doneAt - startedAt, startedAt, doneAt, shaped: false, code: null, body: null, error: (error as Error).message };
  }
}

const ok = (p: Probe) => p.status >= 200 && p.status < 300;
/**
 * A failure answered well: 503 (a dependency is unavailable) in the error shape, or a 409 that
 * follows from an earlier refused write (nothing to commit). A bare 500 `internal_error` says
 * nothing of the cause, so it does not count.
 */
const clearFailure = (p: Probe) => !ok(p) && p.shaped && (p.status === 503 || p.status === 409);

function statusSummary(probes: Probe[]): string {
  const counts = new Map<string, number>();
  for (const p of probes) {
    const key = p.status === 0 ? 'transport error' : `${p.status}${p.code ? ` ${p.code}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].map(([k, n]) => `${k}: ${n}`).join(', ');
}

async function must(client: HttpClient, method: string, path: string, body?: unknown): Promise<any> {
  return (await client.call<any>(method, path, body, [200, 201, 202])).body;
}

/** Runs one section; a section that cannot go on reports that as a missed figure and the part goes on. */
async function section(global: Cleanup, name: string, body: (cleanup: Cleanup) => Promise<void>): Promise<void> {
  const started = performance.now();
  say(`-- ${name}`);
  // Its own nodes and servers go when it ends (and on SIGINT through the part's cleanup).
  const local = new Cleanup();
  const done = global.add(name, () => local.runAll());
  try {
    await body(local);
  } catch (error) {
    say(`-- ${name} failed: ${(error as Error).stack ?? String(error)}`);
    emit({ part: PART, measure: `${name}: the section ran to its end`, value: `failed: ${(error as Error).message.slice(0, 160)}`, goal: 'ran', ok: false });
  } finally {
    await done();
  }
  say(`-- ${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------------------------
// An event stream that resumes with ?lastEventId= when the server closes it, as a client does

class ResumingStream {
  private clients: SseClient[] = [];
  private watcher: NodeJS.Timeout | null = null;
  private stopped = false;
  reconnects = 0;

  private constructor(
    private readonly url: string,
    private readonly key: string,
  ) {}

  static async open(url: string, key: string): Promise<ResumingStream> {
    const stream = new ResumingStream(url, key);
    stream.clients.push(await SseClient.connect(url, key));
    stream.watcher = setInterval(() => void stream.watch(), 100);
    return stream;
  }

  private reconnecting = false;
  private async watch() {
    const current = this.clients.at(-1)!;
    if (this.stopped || !current.closed || this.reconnecting) return;
    this.reconnecting = true;
    try {
      const last = this.events().at(-1)?.id ?? current.events[0]?.id ?? '0';
      this.clients.push(await SseClient.connect(`${this.url}?lastEventId=${last}`, this.key, 5_000));
      this.reconnects += 1;
    } catch {
      // The next tick tries again.
    } finally {
      this.reconnecting = false;
    }
  }

  /** Every event received except the `ready` of each connection. */
  events(): SseEvent[] {
    return this.clients.flatMap((c) => c.events.filter((e) => e.event !== 'ready'));
  }

  async waitFor(match: (e: SseEvent) => boolean, timeoutMs: number): Promise<SseEvent | null> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.events().find(match);
      if (found) return found;
      if (performance.now() > deadline) return null;
      await sleep(10);
    }
  }

  close() {
    this.stopped = true;
    if (this.watcher) clearInterval(this.watcher);
    for (const c of this.clients) c.close();
  }
}

function releaseOf(event: SseEvent): number | null {
  if (event.event !== 'release') return null;
  const data = JSON.parse(event.data) as { release?: unknown; environment?: unknown };
  return typeof data.release === 'number' && data.environment === 'development' ? data.release : null;
}

async function developmentReleases(client: HttpClient): Promise<number[]> {
  const numbers: number[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page: any = await must(client, 'GET', `${DEV}/releases?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    const items: any[] = page.data;
    for (const r of items) numbers.push(r.number);
    cursor = page.next ?? null;
    if (!cursor || items.length === 0) break;
  }
  return numbers.sort((a, b) => a - b);
}

/** What one stream shows of the development releases after `from`: duplicates, misorders, missing, extra. */
function compareStream(stream: ResumingStream, truth: number[], from: number) {
  const seen = stream.events().map(releaseOf).filter((n): n is number => n !== null && n > from);
  const expected = truth.filter((n) => n > from);
  const counts = new Map<number, number>();
  for (const n of seen) counts.set(n, (counts.get(n) ?? 0) + 1);
  const duplicates = [...counts.values()].reduce((sum, c) => sum + Math.max(0, c - 1), 0);
  let misordered = 0;
  for (let i = 1; i < seen.length; i++) if (seen[i]! <= seen[i - 1]!) misordered += 1;
  const missing = expected.filter((n) => !counts.has(n)).length;
  const extra = [...counts.keys()].filter((n) => !expected.includes(n)).length;
  const ids = stream.events().map((e) => Number(e.id));
  let idOrder = 0;
  for (let i = 1; i < ids.length; i++) if (!(ids[i]! > ids[i - 1]!)) idOrder += 1;
  return { seen: seen.length, expected: expected.length, duplicates, misordered, missing, extra, idOrder };
}

async function seed(node: StagelineNode, label: string): Promise<string> {
  await must(node.api, 'PUT', `${DEV}/resources/config/x`, { content: { value: { i: -1 } } });
  await must(node.api, 'POST', `${DEV}/commits`, { message: `${label} seed` });
  return (await must(node.api, 'POST', `${DEV}/api-keys`, { name: label, kind: 'secret' })).key as string;
}

// ---------------------------------------------------------------------------------------------
// 1. PostgreSQL restarted under load (postgres)

async function postgresRestart(cleanup: Cleanup): Promise<void> {
  const pgServer = await startPrivatePostgres(cleanup);
  say(`  private PostgreSQL on ${pgServer.port}`);
  const url = await pgServer.createDatabase('stageline_deps');
  const env = { STAGELINE_GATEWAY: 'off' };
  const a = await startNode(cleanup, { name: 'pg-a', databaseUrl: url, env });
  const b = await startNode(cleanup, { name: 'pg-b', databaseUrl: url, env });
  const key = await seed(a, 'pg');
  const firstRelease = (await developmentReleases(a.api)).at(-1)!;
  const streamB = await ResumingStream.open(`${b.url}/v1/stream`, key);
  const streamA = await ResumingStream.open(`${a.url}/v1/stream`, key);
  const readA = new HttpClient(a.url, key);
  const readB = new HttpClient(b.url, key);
  cleanup.add('close pg clients', async () => {
    streamA.close();
    streamB.close();
    readA.close();
    readB.close();
  });

  const probes: Probe[] = [];
  let running = true;
  let i = 0;
  const writer = async () => {
    while (running) {
      i += 1;
      probes.push(await probe(a.api, 'a write', 'PUT', `${DEV}/resources/config/x`, { content: { value: { i } } }));
      probes.push(await probe(a.api, 'a commit', 'POST', `${DEV}/commits`, { message: `load ${i}` }));
      await sleep(30);
    }
  };
  const reader = async (client: HttpClient, label: string, path: string) => {
    while (running) {
      probes.push(await probe(client, label, 'GET', path));
      await sleep(20);
    }
  };
  const load = Promise.all([
    writer(),
    reader(readA, 'a read', '/v1/resources/config/x'),
    reader(readB, 'b read', '/v1/resources/config/x'),
    reader(b.api, 'b mgmt read', `${DEV}/releases?limit=5`),
  ]);

  const phases: { mode: 'fast' | 'immediate'; at: number; readyAt: number }[] = [];
  const settle = scaled(6_000, 3_500);
  await sleep(1_500);
  for (const mode of ['fast', 'immediate'] as const) {
    const at = performance.now();
    const downMs = await pgServer.restart(mode);
    phases.push({ mode, at, readyAt: performance.now() });
    say(`  pg_ctl restart -m ${mode}: accepting connections again after ${Math.round(downMs)} ms`);
    await sleep(settle);
  }
  running = false;
  await load;
  for (const node of [a, b]) if (!node.child.running) say(`  ${node.name} exited; its last lines:\n${node.child.tail(40)}`);
  const up = [a, b].filter((n) => n.child.running).length;
  emit({ part: PART, measure: 'pg: nodes still running after the restarts', value: `${up} of 2`, goal: '2 of 2', ok: up === 2 });
  if (up < 2) throw new Error('a node died when PostgreSQL restarted');

  for (const phase of phases) {
    for (const node of ['a', 'b']) {
      // A request still under way when the next restart began belongs to that one.
      const next = phases[phases.indexOf(phase) + 1]?.at ?? Number.POSITIVE_INFINITY;
      const mine = probes.filter((p) => p.label.startsWith(node) && p.startedAt >= phase.at && p.doneAt < next);
      const failures = mine.filter((p) => !ok(p));
      const lastFailure = failures.length ? Math.max(...failures.map((p) => p.doneAt)) : phase.at;
      const recovery = Math.max(0, lastFailure - phase.readyAt);
      const succeededAfter = mine.some((p) => ok(p) && p.startedAt > lastFailure);
      emit({
        part: PART,
        measure: `pg restart -m ${phase.mode}: node ${node} fails no request later than this after PostgreSQL accepts again (${failures.length} failed of ${mine.length})`,
        value: `${fmt(recovery)} ms${succeededAfter ? '' : ', no success after'}`,
        goal: '≤ 3,000 ms, then succeeds',
        ok: recovery <= 3_000 && succeededAfter,
      });
    }
  }
  const failed = probes.filter((p) => !ok(p));
  say(`  load: ${fmt(probes.length)} requests; failures ${statusSummary(failed)}`);
  for (const node of [a, b]) for (const line of node.child.tail(200).split('\n').filter((l) => l.includes('unhandled error')).slice(0, 3)) say(`  ${node.name}: ${line.slice(0, 400)}`);
  for (const p of failed.filter((f) => !clearFailure(f)).slice(0, 5)) say(`  unclear failure: ${p.label} ${p.status} ${p.error ?? JSON.stringify(p.body).slice(0, 200)}`);
  zero(PART, 'pg restarts: failures not a 503/409 in the error shape (transport errors, 500 internal_error, other 4xx)', failed.filter((p) => !clearFailure(p)).length, { total: failed.length, unit: 'failed requests' });
  const maxMs = Math.max(...probes.map((p) => p.ms));
  emit({ part: PART, measure: `pg restarts: longest request of ${fmt(probes.length)}`, value: `${fmt(maxMs)} ms`, goal: `≤ ${fmt(REQUEST_BUDGET_MS)} ms`, ok: maxMs <= REQUEST_BUDGET_MS });

  // LISTEN resumed: a commit on A reaches B's stream well inside the 2 s poll interval.
  const latencies: number[] = [];
  for (let n = 0; n < 5; n++) {
    await must(a.api, 'PUT', `${DEV}/resources/config/x`, { content: { value: { listen: n } } });
    const sent = performance.now();
    const number = (await must(a.api, 'POST', `${DEV}/commits`, { message: `listen ${n}` })).number as number;
    const event = await streamB.waitFor((e) => releaseOf(e) === number, 10_000);
    latencies.push(event ? event.at - sent : Number.POSITIVE_INFINITY);
  }
  const worst = Math.max(...latencies);
  emit({ part: PART, measure: 'pg after restarts: commit on node A -> event on node B (worst of 5; the poll alone takes up to 2,000 ms)', value: Number.isFinite(worst) ? `${fmt(worst)} ms` : 'never arrived', goal: '≤ 1,000 ms', ok: worst <= 1_000 });

  // Catch-up: cut the LISTEN connections (PostgreSQL up) and commit through A at once.
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  // Each node holds one listener connection, however many times it reconnected.
  const listeners = Number((await admin.query(`select count(*) as n from pg_stat_activity where datname = current_database() and query ilike 'listen%'`)).rows[0].n);
  emit({ part: PART, measure: 'pg after restarts: LISTEN connections held by the 2 nodes', value: String(listeners), goal: '2', ok: listeners === 2 });
  const cut = await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen%'`);
  await admin.end();
  const burst: number[] = [];
  for (let n = 0; n < scaled(20, 8); n++) {
    await must(a.api, 'PUT', `${DEV}/resources/config/x`, { content: { value: { gap: n } } });
    burst.push((await must(a.api, 'POST', `${DEV}/commits`, { message: `gap ${n}` })).number as number);
  }
  const last = await streamB.waitFor((e) => releaseOf(e) === burst.at(-1), 10_000);
  say(`  cut ${cut.rowCount} listener connection(s); ${burst.length} commits through A; the last reached B ${last ? 'in time' : 'never'}`);
  await sleep(2_500);

  const truth = await developmentReleases(a.api);
  for (const [name, stream] of [
    ['B', streamB],
    ['A', streamA],
  ] as const) {
    const c = compareStream(stream, truth, firstRelease);
    say(`  stream ${name}: ${c.seen} release events of ${c.expected} releases; ${stream.reconnects} reconnects`);
    zero(PART, `pg: releases missing from node ${name}'s stream`, c.missing, { total: c.expected, unit: 'releases' });
    zero(PART, `pg: releases duplicated, out of order or unknown on node ${name}'s stream (event ids out of order: ${c.idOrder})`, c.duplicates + c.misordered + c.extra + c.idOrder);
  }
  const stillUp = [a, b].filter((n) => n.child.running).length;
  emit({ part: PART, measure: 'pg: nodes still running at the end', value: `${stillUp} of 2`, goal: '2 of 2', ok: stillUp === 2 });
}

// ---------------------------------------------------------------------------------------------
// 2. Redis stopped and started under the gateway's limits

async function redisOutage(cleanup: Cleanup): Promise<void> {
  const redis = await startPrivateRedis(cleanup);
  say(`  private Redis on ${redis.port}`);
  const upstream = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  cleanup.add('close upstream', () => new Promise((resolve) => upstream.close(() => resolve())));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  const node = await startNode(cleanup, { name: 'redis-node', databaseUrl: await newDatabase(DB, cleanup, 'deps_redis'), redisUrl: redis.url });
  const key = await seed(node, 'redis');
  const L = 5;
  const policies = ['open', 'closed', 'local'] as const;
  for (const policy of policies) {
    await must(node.api, 'PUT', `${DEV}/resources/route/${policy}`, {
      content: { match: { pathPrefix: `/${policy}` }, upstream: { url: upstreamUrl, timeoutMs: 2000 }, rateLimit: { requests: L, windowSec: 600, per: 'route', onStoreDown: policy } },
    });
  }
  await must(node.api, 'POST', `${DEV}/commits`, { message: 'limited routes' });
  const call = async (policy: string) => {
    const started = performance.now();
    const res = await gatewayCall(node.gatewayUrl, { path: `/${policy}/x`, headers: { 'x-stageline-key': key } }).catch((error: Error) => ({ status: 0, text: error.message, json: null, headers: {} }) as any);
    return { status: res.status as number, code: (res.json?.error?.code ?? null) as string | null, retryAfter: res.headers?.['retry-after'] as string | undefined, ms: performance.now() - started };
  };
  // The routes serve once the gateway has the release and its Redis connection: the `closed`
  // route answers 200 (and counts one) only then.
  const deadline = performance.now() + 15_000;
  while ((await call('closed')).status !== 200) {
    if (performance.now() > deadline) throw new Error('the gateway never served the routes');
    await sleep(100);
  }
  const round = async (policy: string, times: number) => {
    const answers = [];
    for (let n = 0; n < times; n++) answers.push(await call(policy));
    return answers;
  };
  const admittedUp = { open: 0, closed: 1, local: 0 } as Record<string, number>;
  for (const policy of policies) admittedUp[policy]! += (await round(policy, 2 * L - (policy === 'closed' ? 1 : 0))).filter((x) => x.status === 200).length;
  emit({ part: PART, measure: `redis up: admitted of ${2 * L} per route (limit ${L}; open/closed/local)`, value: policies.map((p) => admittedUp[p]).join('/'), goal: `${L}/${L}/${L}`, ok: policies.every((p) => admittedUp[p] === L) });

  await redis.kill();
  const downAt = performance.now();
  const N = scaled(40, 15);
  const down: Record<string, Awaited<ReturnType<typeof call>>[]> = {};
  for (const policy of policies) down[policy] = await round(policy, N);
  const maxDown = Math.max(...Object.values(down).flat().map((x) => x.ms));
  const summary = (answers: Awaited<ReturnType<typeof call>>[]) => {
    const counts = new Map<string, number>();
    for (const x of answers) counts.set(`${x.status}${x.code ? ` ${x.code}` : ''}`, (counts.get(`${x.status}${x.code ? ` ${x.code}` : ''}`) ?? 0) + 1);
    return [...counts.entries()].map(([k, n]) => `${k} ×${n}`).join(', ');
  };
  const open = down.open!;
  emit({ part: PART, measure: `redis down, onStoreDown open: answers to ${N} requests`, value: summary(open), goal: `200 ×${N}`, ok: open.every((x) => x.status === 200) });
  const closed = down.closed!;
  emit({
    part: PART,
    measure: `redis down, onStoreDown closed: answers to ${N} requests`,
    value: summary(closed),
    goal: `503 limit_store_unavailable ×${N}, Retry-After`,
    ok: closed.every((x) => x.status === 503 && x.code === 'limit_store_unavailable' && x.retryAfter !== undefined),
  });
  // One gateway node: its share is the whole limit, counted afresh in memory.
  const local = down.local!;
  const localAdmitted = local.filter((x) => x.status === 200).length;
  emit({
    part: PART,
    measure: `redis down, onStoreDown local (1 node): admitted of ${N}, the rest 429`,
    value: `${localAdmitted} admitted; ${summary(local)}`,
    goal: `${L} admitted`,
    ok: localAdmitted === L && local.every((x) => x.status === 200 || x.status === 429),
  });
  emit({ part: PART, measure: 'redis down: longest gateway answer', value: `${fmt(maxDown)} ms`, goal: '≤ 1,500 ms (1 s command timeout)', ok: maxDown <= 1_500 });
  // Down long enough for ioredis to back off between reconnects and the node to skip Redis more than once.
  await sleep(Math.max(0, downAt + scaled(5_000, 2_500) - performance.now()));
  say(`  redis was down ${fmt(performance.now() - downAt)} ms`);

  await redis.start();
  const back = performance.now();
  let recovered = Number.POSITIVE_INFINITY;
  let closedAdmitted = 0;
  while (performance.now() - back < 15_000) {
    const x = await call('closed');
    if (x.status === 200) {
      closedAdmitted += 1;
      recovered = performance.now() - back;
      break;
    }
    await sleep(50);
  }
  emit({ part: PART, measure: 'redis back: onStoreDown closed route answers 200 again after', value: Number.isFinite(recovered) ? `${fmt(recovered)} ms` : 'never (15 s)', goal: '≤ 5,000 ms', ok: recovered <= 5_000 });
  // Redis came back empty: each route counts from zero on it again.
  const after: Record<string, number> = {};
  for (const policy of policies) {
    const answers = await round(policy, 2 * L - (policy === 'closed' ? closedAdmitted : 0));
    after[policy] = answers.filter((x) => x.status === 200).length + (policy === 'closed' ? closedAdmitted : 0);
  }
  emit({ part: PART, measure: `redis back: admitted of ${2 * L} per route (open/closed/local)`, value: policies.map((p) => after[p]).join('/'), goal: `${L}/${L}/${L}`, ok: policies.every((p) => after[p] === L) });
  emit({ part: PART, measure: 'redis: node still running', value: node.child.running ? 'yes' : 'no', goal: 'yes', ok: node.child.running });
}

// ---------------------------------------------------------------------------------------------
// 3. SMTP and webhook receivers that time out, reset and fail before they answer

type Mode = 'hang' | 'reset' | 'fail';
/** Attempts that fail before the one that succeeds. */
const FAILURES = 2;
const CHANNEL_TIMEOUT_MS = 1_000;

interface Attempt {
  at: number;
  /** When the attempt ended from the receiver's side (answered, reset, or the sender gave up). */
  endedAt: number;
  outcome: 'ok' | 'failed';
}

async function delivery(cleanup: Cleanup): Promise<void> {
  // Webhooks: the mode is in the body; the attempt number per delivery id.
  const hookAttempts = new Map<string, Attempt[]>();
  const hookDelivered = new Map<string, number>();
  const hooks = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = String(req.headers['x-stageline-delivery'] ?? '');
      const mode = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { mode: Mode }).mode;
      const list = hookAttempts.get(id) ?? [];
      hookAttempts.set(id, list);
      const attempt: Attempt = { at: performance.now(), endedAt: 0, outcome: 'failed' };
      list.push(attempt);
      const end = () => (attempt.endedAt ||= performance.now());
      if (list.length > FAILURES) {
        attempt.outcome = 'ok';
        hookDelivered.set(id, (hookDelivered.get(id) ?? 0) + 1);
        res.writeHead(200).end('ok', end);
      } else if (mode === 'hang') {
        req.socket.once('close', end);
        setTimeout(() => res.destroyed || res.writeHead(200).end('too late'), CHANNEL_TIMEOUT_MS * 3).unref();
      } else if (mode === 'reset') {
        end();
        req.socket.resetAndDestroy();
      } else {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}', end);
      }
    });
  });
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  cleanup.add('close webhook receiver', async () => {
    hooks.closeAllConnections();
    await new Promise((resolve) => hooks.close(resolve));
  });

  // Email: the mode is the recipient's local part; attempts per address, deliveries per Message-ID.
  const mailAttempts = new Map<string, Attempt[]>();
  const mailDelivered = new Map<string, number>();
  const sessions = new Map<string, Attempt>();
  const smtp: SMTPServer = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    onRcptTo(address, session, callback) {
      const to = address.address;
      const list = mailAttempts.get(to) ?? [];
      mailAttempts.set(to, list);
      const attempt: Attempt = { at: performance.now(), endedAt: 0, outcome: 'failed' };
      list.push(attempt);
      sessions.set(session.id, attempt);
      if (list.length > FAILURES) {
        attempt.outcome = 'ok';
        callback();
        return;
      }
      const mode = to.split('-')[0] as Mode;
      if (mode === 'hang') return; // never answered: the sender's timeout ends it
      if (mode === 'reset') {
        attempt.endedAt = performance.now();
        for (const connection of (smtp as unknown as { connections: Set<{ id: string; _socket: { resetAndDestroy?: () => void; destroy: () => void } }> }).connections) {
          if (connection.id === session.id) (connection._socket.resetAndDestroy ?? connection._socket.destroy).call(connection._socket);
        }
        return;
      }
      attempt.endedAt = performance.now();
      callback(Object.assign(new Error('Mailbox busy, try later'), { responseCode: 451 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const id = /^message-id:\s*(\S+)/im.exec(Buffer.concat(chunks).toString('utf8'))?.[1] ?? `none-${session.id}`;
        mailDelivered.set(id, (mailDelivered.get(id) ?? 0) + 1);
        const attempt = sessions.get(session.id);
        if (attempt) attempt.endedAt ||= performance.now();
        callback();
      });
    },
    onClose(session) {
      const attempt = sessions.get(session.id);
      if (attempt) attempt.endedAt ||= performance.now();
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  cleanup.add('close SMTP server', () => new Promise((resolve) => smtp.close(() => resolve())));
  const smtpPort = (smtp.server.address() as { port: number }).port;
  const hookUrl = `http://127.0.0.1:${(hooks.address() as { port: number }).port}/hook`;

  const node = await startNode(cleanup, { name: 'delivery-node', databaseUrl: await newDatabase(DB, cleanup, 'deps_delivery'), env: { STAGELINE_GATEWAY: 'off' } });
  const api = node.api;
  await must(api, 'PUT', `${DEV}/secrets/WEBHOOK_SECRET`, { value: 'deps-webhook-secret' });
  await must(api, 'PUT', `${DEV}/settings/channel.webhook`, { value: { url: hookUrl, signingSecret: 'WEBHOOK_SECRET', timeoutMs: CHANNEL_TIMEOUT_MS } });
  await must(api, 'PUT', `${DEV}/settings/channel.email`, { value: { host: '127.0.0.1', port: smtpPort, secure: false, from: 'Deps <deps@example.com>', timeoutMs: CHANNEL_TIMEOUT_MS } });
  await must(api, 'PUT', `${DEV}/resources/workflow/hook`, { content: { name: 'Hook', steps: [{ type: 'channel', channel: 'webhook', template: { body: { mode: '{{ data.mode }}', n: '{{ data.n }}' } } }] } });
  await must(api, 'PUT', `${DEV}/resources/workflow/mail`, { content: { name: 'Mail', steps: [{ type: 'channel', channel: 'email', template: { subject: 'Hi {{ data.n }}', text: 'Hello {{ recipient.id }}' } }] } });
  await must(api, 'POST', `${DEV}/commits`, { message: 'delivery workflows' });
  const key = (await must(api, 'POST', `${DEV}/api-keys`, { name: 'delivery', kind: 'secret' })).key as string;
  const runtime = new HttpClient(node.url, key);
  cleanup.add('close delivery client', async () => runtime.close());

  const modes: Mode[] = ['hang', 'reset', 'fail'];
  const perMode = scaled(3, 1);
  interface Case {
    channel: 'webhook' | 'email';
    mode: Mode;
    runId: string;
    address: string;
  }
  const cases: Case[] = [];
  const tag = randomBytes(3).toString('hex');
  for (const channel of ['webhook', 'email'] as const) {
    for (const mode of modes) {
      for (let n = 0; n < perMode; n++) {
        const address = `${mode}-${tag}-${n}@example.com`;
        const res = await must(runtime, 'POST', `/v1/workflows/${channel === 'webhook' ? 'hook' : 'mail'}/trigger`, { recipients: [{ id: `r-${mode}-${n}`, email: address }], data: { mode, n } });
        cases.push({ channel, mode, runId: res.runId as string, address });
      }
    }
  }
  // Two failures, then success: about 1–2 s + 2–4 s of backoff and the timeouts.
  const runs = new Map<string, any>();
  const deadline = performance.now() + 60_000;
  while (runs.size < cases.length && performance.now() < deadline) {
    for (const c of cases) {
      if (runs.has(c.runId)) continue;
      const run = await must(runtime, 'GET', `/v1/workflow-runs/${c.runId}`);
      if (run.status === 'completed' || run.status === 'failed') runs.set(c.runId, run);
    }
    await sleep(250);
  }
  // Anything sent after success would land now.
  await sleep(3_000);

  let badDelay = 0;
  let delays = 0;
  let wrongLog = 0;
  let duplicates = 0;
  let undelivered = 0;
  const gaps: string[] = [];
  for (const c of cases) {
    const run = runs.get(c.runId);
    const deliveryId = `${c.runId}.s0.r0`;
    const attempts = c.channel === 'webhook' ? (hookAttempts.get(deliveryId) ?? []) : (mailAttempts.get(c.address) ?? []);
    const delivered = c.channel === 'webhook' ? (hookDelivered.get(deliveryId) ?? 0) : [...mailDelivered.entries()].filter(([id]) => id.includes(deliveryId)).reduce((s, [, n]) => s + n, 0);
    if (delivered === 0) undelivered += 1;
    if (delivered > 1) duplicates += delivered - 1;
    // Attempt n+1 comes min(max, base·2^(n-1)) · [½, 1] after attempt n ended.
    for (let n = 1; n < attempts.length; n++) {
      const exp = Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** (n - 1));
      const ended = attempts[n - 1]!.endedAt || attempts[n - 1]!.at;
      const gap = attempts[n]!.at - ended;
      delays += 1;
      // 150 ms early for the sender noticing the failure after the receiver; late by up to the
      // worker's 1 s poll plus 500 ms for the claim and the connection on a busy machine.
      if (gap < exp / 2 - 150 || gap > exp + 1_500) {
        badDelay += 1;
        gaps.push(`${c.channel}/${c.mode} attempt ${n + 1}: ${Math.round(gap)} ms (window ${exp / 2}–${exp})`);
      }
    }
    if (QUICK || gaps.length < 3) say(`  ${c.channel}/${c.mode}: ${attempts.length} attempts, gaps ${attempts.slice(1).map((x, n) => Math.round(x.at - (attempts[n]!.endedAt || attempts[n]!.at))).join(', ')} ms; delivered ${delivered}; run ${run?.status ?? 'unfinished'}`);
    const step = run?.steps?.[0];
    const logRight = run?.status === 'completed' && step?.status === 'completed' && step?.attempts === attempts.length && attempts.length === FAILURES + 1 && step?.error === null && (run?.messageIds ?? []).some((id: string) => id.includes(deliveryId));
    if (!logRight) {
      wrongLog += 1;
      say(`  run log of ${c.channel}/${c.mode}: ${JSON.stringify({ status: run?.status, step, messageIds: run?.messageIds, seen: attempts.length })}`);
    }
  }
  for (const g of gaps) say(`  off backoff: ${g}`);
  zero(PART, `delivery: retry delays outside min(max, ${DEFAULT_RETRY.baseDelayMs} ms·2^(n-1))·[½, 1] (−150 ms, +1.5 s: the worker's 1 s poll and the claim)`, badDelay, { total: delays, unit: 'retries' });
  zero(PART, 'delivery: messages/webhooks delivered more than once (by delivery id / Message-ID)', duplicates, { total: cases.length, unit: 'deliveries' });
  zero(PART, 'delivery: deliveries never made', undelivered, { total: cases.length, unit: 'deliveries' });
  zero(PART, `delivery: runs whose log disagrees (status, attempts = ${FAILURES + 1} seen, message id)`, wrongLog, { total: cases.length, unit: 'runs (hang, reset, 500/451 × webhook, email)' });
  emit({ part: PART, measure: 'delivery: node still running', value: node.child.running ? 'yes' : 'no', goal: 'yes', ok: node.child.running });
}

// ---------------------------------------------------------------------------------------------
// 4. SQLite: a foreign write lock past the busy timeout, then a full disk (sqlite)

/** Holds `BEGIN IMMEDIATE` on `file` for `ms` in another process; resolves once the lock is held. */
function holdWriteLock(cleanup: Cleanup, file: string, ms: number): Promise<{ released: Promise<void> }> {
  const script = `const D=require('better-sqlite3');const d=new D(process.argv[1]);d.pragma('busy_timeout = 10000');d.exec('BEGIN IMMEDIATE');process.stdout.write('locked\\n');setTimeout(()=>{d.exec('ROLLBACK');d.close();process.stdout.write('released\\n');},Number(process.argv[2]));`;
  const child = spawn(process.execPath, ['-e', script, file, String(ms)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.add('stop lock holder', async () => void (child.exitCode === null && child.kill('SIGKILL')));
  const released = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => chunk.includes('locked') && resolve({ released }));
    child.once('exit', (code) => reject(new Error(`the lock holder exited ${code} before locking`)));
  });
}

async function sqliteFaults(cleanup: Cleanup): Promise<void> {
  // -- busy
  const dir = mkdtempSync(join(tmpdir(), 'stageline-rel-busy-'));
  cleanup.add(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'stageline.db');
  const node = await startNode(cleanup, { name: 'busy-node', databaseUrl: file, env: { STAGELINE_GATEWAY: 'off' } });
  const key = await seed(node, 'busy');
  const read = new HttpClient(node.url, key);
  cleanup.add('close busy client', async () => read.close());
  // Held three times the busy timeout: a node that waits for it synchronously freezes that long.
  const holdMs = scaled(15_000, 11_000);
  const lock = await holdWriteLock(cleanup, file, holdMs);
  const lockedAt = performance.now();
  const during: Probe[] = [];
  const writes = Array.from({ length: 3 }, async (_, n) => {
    during.push(await probe(node.api, `busy write ${n}`, 'PUT', `${DEV}/resources/config/busy-${n}`, { content: { value: { n } } }));
  });
  const reads = (async () => {
    while (performance.now() - lockedAt < holdMs - 500) {
      during.push(await probe(read, 'busy read', 'GET', '/v1/resources/config/x'));
      await sleep(200);
    }
  })();
  await Promise.all([...writes, reads]);
  await lock.released;
  const writesDuring = during.filter((p) => p.label.startsWith('busy write'));
  const readsDuring = during.filter((p) => p.label === 'busy read');
  say(`  busy: writes ${statusSummary(writesDuring)} in ${writesDuring.map((p) => Math.round(p.ms)).join(', ')} ms; reads ${statusSummary(readsDuring)}, longest ${fmt(Math.max(...readsDuring.map((p) => p.ms)))} ms`);
  const heldWrites = writesDuring.filter((p) => p.startedAt < lockedAt + holdMs - 5_500);
  zero(PART, 'sqlite busy: writes under a foreign write lock held past busy_timeout not answered 503/409 in the error shape', heldWrites.filter((p) => !(clearFailure(p) && (p.status === 503 || p.status === 409))).length, { total: heldWrites.length, unit: 'writes' });
  const longest = Math.max(...during.map((p) => p.ms));
  emit({ part: PART, measure: `sqlite busy: longest request while the lock was held (${during.length} requests; busy_timeout 5,000 ms)`, value: `${fmt(longest)} ms`, goal: `≤ ${fmt(REQUEST_BUDGET_MS)} ms`, ok: longest <= REQUEST_BUDGET_MS });
  // Nothing half-written: a refused draft is not there; after the lock, the same write succeeds.
  let halfWritten = 0;
  for (const p of writesDuring.filter((w) => !ok(w))) {
    const n = p.label.split(' ').at(-1);
    const draft = await probe(node.api, 'check', 'GET', `${DEV}/resources/config/busy-${n}`);
    if (draft.status !== 404) halfWritten += 1;
  }
  zero(PART, 'sqlite busy: refused writes found written afterwards', halfWritten, { total: writesDuring.filter((w) => !ok(w)).length, unit: 'refused writes' });
  const afterLock = await probe(node.api, 'after lock', 'PUT', `${DEV}/resources/config/busy-after`, { content: { value: { after: true } } });
  emit({ part: PART, measure: 'sqlite busy: a write after the lock is released', value: String(afterLock.status), goal: '200', ok: afterLock.status === 200 });
  await node.stop();

  // -- full disk
  const mount = mkdtempSync(join(tmpdir(), 'stageline-rel-full-'));
  let mounted = false;
  const unmount = cleanup.add(`unmount ${mount}`, async () => {
    if (mounted) spawn('umount', ['-l', mount]);
    mounted = false;
    await sleep(100);
    rmSync(mount, { recursive: true, force: true });
  });
  const sizeMb = 24;
  const mountRun = await new Promise<number>((resolve) => spawn('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', mount], { stdio: 'inherit' }).once('exit', (code) => resolve(code ?? 1)));
  if (mountRun !== 0) throw new Error('mount -t tmpfs is not allowed here: the full-disk check needs it');
  mounted = true;
  say(`  full disk: SQLite on a ${sizeMb} MiB tmpfs (mount -t tmpfs worked)`);
  mkdirSync(join(mount, 'db'));
  const fullFile = join(mount, 'db', 'stageline.db');
  // A filler to free afterwards: the freed space must let writes through again.
  const filler = join(mount, 'filler');
  writeFileSync(filler, Buffer.alloc(4 * 1024 * 1024));
  const full = await startNode(cleanup, { name: 'full-node', databaseUrl: fullFile, env: { STAGELINE_GATEWAY: 'off' } });
  await seed(full, 'full');
  const writesFull: Probe[] = [];
  let committed = 0;
  let firstFailure: Probe | null = null;
  for (let n = 0; n < 400 && !firstFailure; n++) {
    const blob = randomBytes(96 * 1024).toString('base64');
    const put = await probe(full.api, 'fill put', 'PUT', `${DEV}/resources/config/fill-${n}`, { content: { value: { n, blob } } });
    writesFull.push(put);
    if (!ok(put)) {
      firstFailure = put;
      break;
    }
    if (n % 4 === 3) {
      const c = await probe(full.api, 'fill commit', 'POST', `${DEV}/commits`, { message: `fill ${n}` });
      writesFull.push(c);
      if (ok(c)) committed += 1;
      else firstFailure = c;
    }
  }
  // A few more attempts on the full disk: every one must fail clearly too.
  for (let n = 0; n < 5 && firstFailure; n++) {
    writesFull.push(await probe(full.api, 'full put', 'PUT', `${DEV}/resources/config/full-${n}`, { content: { value: { blob: randomBytes(96 * 1024).toString('base64') } } }));
    writesFull.push(await probe(full.api, 'full commit', 'POST', `${DEV}/commits`, { message: `full ${n}` }));
  }
  const failedFull = writesFull.filter((p) => !ok(p));
  say(`  full disk: ${committed} commits before it filled; failures ${statusSummary(failedFull)}${firstFailure ? `; first: ${JSON.stringify(firstFailure.body ?? firstFailure.error).slice(0, 200)}` : ''}`);
  for (const line of full.child.tail(200).split('\n').filter((l) => l.includes('unhandled error')).slice(0, 2)) say(`  ${full.name}: ${line.slice(0, 500)}`);
  emit({ part: PART, measure: 'sqlite full disk: the disk filled', value: firstFailure ? `after ${committed} commits` : 'never', goal: 'filled', ok: firstFailure !== null });
  const named = (p: Probe) => p.shaped && p.status >= 400 && /disk|storage|space|full/i.test(`${p.code} ${p.body?.error?.message}`);
  // A commit after a refused write answers 409 nothing_to_commit: right, since nothing was written.
  const consequent = (p: Probe) => p.status === 409 && p.code === 'nothing_to_commit';
  zero(PART, 'sqlite full disk: failures without the error shape naming the full disk (409 nothing_to_commit after a refused write aside)', failedFull.filter((p) => !named(p) && !consequent(p)).length, { total: failedFull.length, unit: 'failed writes' });
  const health = await probe(full.api, 'health', 'GET', '/healthz');
  emit({ part: PART, measure: 'sqlite full disk: the node is up while the disk is full', value: full.child.running ? `running, /healthz ${health.status}` : 'exited', goal: 'running', ok: full.child.running });
  unlinkSync(filler);
  const again = await probe(full.api, 'again put', 'PUT', `${DEV}/resources/config/again`, { content: { value: { again: true } } });
  const againCommit = await probe(full.api, 'again commit', 'POST', `${DEV}/commits`, { message: 'after space was freed' });
  emit({ part: PART, measure: 'sqlite full disk: write + commit after space was freed', value: `${again.status} + ${againCommit.status}`, goal: '200 + 201', ok: ok(again) && ok(againCommit) });
  // Every release reads back, and the file is intact.
  const releases = await developmentReleases(full.api);
  let unreadable = 0;
  for (const n of releases) {
    const r = await probe(full.api, 'release', 'GET', `${DEV}/releases/${n}`);
    if (!ok(r)) unreadable += 1;
  }
  for (const n of [0, 1, 2, 3]) {
    const r = await probe(full.api, 'content', 'GET', `${DEV}/resources/config/fill-${n}`);
    if (!ok(r)) unreadable += 1;
  }
  await full.stop();
  const check = new SQLite(fullFile, { readonly: true });
  const integrity = (check.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
  const orphans = (check.prepare(`select count(*) as n from releases r where not exists (select 1 from snapshots s where s.id = r.snapshot_id)`).get() as { n: number }).n;
  check.close();
  emit({ part: PART, measure: 'sqlite full disk: PRAGMA integrity_check after', value: integrity.slice(0, 120), goal: 'ok', ok: integrity === 'ok' });
  zero(PART, 'sqlite full disk: releases that do not read back (API) or lack their snapshot (file)', unreadable + orphans, { total: releases.length, unit: 'releases' });
  await unmount();
}

runPart(PART, async () => {
  const cleanup = new Cleanup();
  cleanUpOnInterrupt(cleanup);
  try {
    const only = process.env.RELIABILITY_DEPS_ONLY?.split(',');
    const wanted = (name: string) => !only || only.includes(name);
    if (DB === 'postgres' && wanted('pg')) await section(cleanup, 'postgres restart under load', postgresRestart);
    if (wanted('redis')) await section(cleanup, 'redis outage under gateway limits', redisOutage);
    if (wanted('delivery')) await section(cleanup, 'smtp and webhook receivers failing', delivery);
    if (DB === 'sqlite' && wanted('sqlite')) await section(cleanup, 'sqlite busy and full disk', sqliteFaults);
  } finally {
    await cleanup.runAll();
  }
});
