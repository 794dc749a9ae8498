// Workflow benchmark, in process on SQLite and PostgreSQL: one node (the runtime API through
// Fastify's request injection, the worker of createNode with its defaults but the poll interval).
//   W0 — baseline: single-row INSERTs (each its own transaction) of feed-message-like rows into
//        a scratch table of the same database, with as many in flight as W1 has triggers.
//   W1 — throughput: POST /v1/workflows/:key/trigger of a one-step `in_app` workflow, TRIGGER_
//        CONCURRENCY in flight, until every run has completed: runs/s, and runs/s ÷ W0 inserts/s.
//   W2 — latency: one trigger at a time, time from sending it to its message being readable in the
//        recipient's feed: p50 / p99.
// A report, not a test: it exits 0 whatever the numbers, non-zero only when something crashes.
//
//   BENCH_DB=sqlite|postgres|both (default both)   BENCH_QUICK=1 (fewer runs, for CI)
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/http/app.js';
import { generateKeyBytes, masterKeyFromBytes } from '../src/domain/secrets/envelope.js';
import { createNode, type Runtime } from '../src/runtime/index.js';
import { createApiKey } from '../src/services/api-keys.js';
import { authenticate, enterWorkspace } from '../src/services/auth.js';
import { bootstrap } from '../src/services/bootstrap.js';
import type { Deps } from '../src/services/context.js';
import { commit } from '../src/services/releases.js';
import { writeDraft } from '../src/services/resources.js';
import { putVariable } from '../src/services/variables.js';
import { openStore, type Store } from '../src/store/database.js';
import { listFeedMessages } from '../src/store/feeds.js';
import { Cleanup, cleanUpOnInterrupt, createDatabase, log, percentile, renderTable, runMain, selectedDatabases, type BenchDb, type Row } from './support.js';

const QUICK = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
const RUNS = QUICK ? 400 : 3_000;
const WARMUP_RUNS = QUICK ? 50 : 200;
const LATENCY_SAMPLES = QUICK ? 100 : 500;
const INSERTS = QUICK ? 2_000 : 10_000;
const TRIGGER_CONCURRENCY = 16;
const WORKER_POLL_MS = 200;
const COMPLETION_TIMEOUT_MS = 120_000;

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`benchmark sanity check failed: ${message}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface BenchNode {
  store: Store;
  deps: Deps;
  runtime: Runtime;
  app: FastifyInstance;
  key: string;
  environmentId: string;
  workspaceId: string;
}

/** One node with workflow `bench` (one in-app step reading a variable) committed in development and a secret key. */
async function startBenchNode(kind: BenchDb, cleanup: Cleanup): Promise<BenchNode> {
  const store = await openStore({ url: await (await createDatabase(kind, cleanup, 'workflows')).url, poolSize: 10 });
  cleanup.add('close store', () => store.close());
  const { deps, runtime } = await createNode({ store, masterKeys: [masterKeyFromBytes(generateKeyBytes())], workflows: { pollIntervalMs: WORKER_POLL_MS } });
  cleanup.add('close runtime', () => runtime.close());
  const boot = await bootstrap(deps, {});
  check(boot, `bootstrap did nothing on the fresh ${kind} database`);
  const ctx = await enterWorkspace(deps, await authenticate(deps, `Bearer ${boot.token}`), 'default', null);
  await putVariable(deps, ctx, 'app_url', { value: 'https://example.com', overrides: { development: 'https://dev.example.com' } });
  await writeDraft(deps, ctx, 'development', { kind: 'workflow', key: 'bench' }, {
    content: { name: 'Bench', steps: [{ type: 'channel', channel: 'in_app', template: { title: 'Hello', body: 'Hello {{ recipient.id }}, number {{ data.n }}: {{ vars.app_url }}' } }] },
  });
  await commit(deps, ctx, 'development', { message: 'bench workflow' });
  const created = await createApiKey(deps, ctx, 'development', { name: 'bench', kind: 'secret' });
  const app = await buildApp({ deps, runtime });
  cleanup.add('close app', () => app.close());
  const env = await store.db.selectFrom('environments').select(['id', 'workspace_id']).where('slug', '=', 'development').executeTakeFirstOrThrow();
  return { store, deps, runtime, app, key: created.key, environmentId: env.id, workspaceId: env.workspace_id };
}

async function trigger(node: BenchNode, recipient: string, n: number): Promise<string> {
  const res = await node.app.inject({
    method: 'POST',
    url: '/v1/workflows/bench/trigger',
    headers: { authorization: `Bearer ${node.key}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ recipients: [{ id: recipient }], data: { n } }),
  });
  check(res.statusCode === 202, `trigger answered ${res.statusCode}: ${res.body}`);
  return (JSON.parse(res.body) as { runId: string }).runId;
}

async function countRuns(node: BenchNode, status: string): Promise<number> {
  const row = await node.store.db
    .selectFrom('workflow_runs')
    .select(sql<number>`count(*)`.as('n'))
    .where('status', '=', status)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Runs `count` jobs with `concurrency` in flight. */
async function inFlight(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

/** W0: single-row INSERTs of feed-message-like rows, each its own transaction. */
async function insertBaseline(node: BenchNode): Promise<number> {
  await sql`create table bench_rows (id text primary key, workspace_id text not null, environment_id text not null, recipient text not null, content text not null, created_at text not null)`.execute(node.store.db);
  const content = JSON.stringify({ title: 'Hello', body: 'Hello r-000000, number 0: https://dev.example.com' });
  const insert = (i: number) =>
    sql`insert into bench_rows values (${`row_${i}_${randomBytes(8).toString('hex')}`}, ${node.workspaceId}, ${node.environmentId}, ${`r-${i}`}, ${content}, ${new Date().toISOString()})`.execute(node.store.db);
  await inFlight(200, TRIGGER_CONCURRENCY, async (i) => void (await insert(-i - 1)));
  const started = performance.now();
  await inFlight(INSERTS, TRIGGER_CONCURRENCY, async (i) => void (await insert(i)));
  const seconds = (performance.now() - started) / 1000;
  const count = await node.store.db.selectFrom('bench_rows' as never).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  check(Number((count as { n: number }).n) === INSERTS + 200, `baseline inserted ${JSON.stringify(count)}`);
  return INSERTS / seconds;
}

async function waitForCompleted(node: BenchNode, expected: number): Promise<void> {
  const deadline = Date.now() + COMPLETION_TIMEOUT_MS;
  for (;;) {
    const completed = await countRuns(node, 'completed');
    if (completed >= expected) return;
    check(Date.now() < deadline, `only ${completed} of ${expected} runs completed in ${COMPLETION_TIMEOUT_MS} ms (${await countRuns(node, 'failed')} failed)`);
    await sleep(5);
  }
}

/** W1: runs/s from the first trigger until every run has completed. */
async function throughput(node: BenchNode): Promise<{ runsPerSecond: number; acceptedPerSecond: number }> {
  await inFlight(WARMUP_RUNS, TRIGGER_CONCURRENCY, async (i) => void (await trigger(node, `warm-${i}`, i)));
  await waitForCompleted(node, WARMUP_RUNS);
  const started = performance.now();
  await inFlight(RUNS, TRIGGER_CONCURRENCY, async (i) => void (await trigger(node, `r-${i}`, i)));
  const accepted = performance.now();
  await waitForCompleted(node, WARMUP_RUNS + RUNS);
  const seconds = (performance.now() - started) / 1000;
  check((await countRuns(node, 'failed')) === 0, 'some runs failed');
  return { runsPerSecond: RUNS / seconds, acceptedPerSecond: RUNS / ((accepted - started) / 1000) };
}

/** W2: trigger → message readable in the feed, one run at a time. */
async function latency(node: BenchNode): Promise<number[]> {
  const scope = { workspaceId: node.workspaceId, environmentId: node.environmentId };
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const recipient = `lat-${i}`;
    const started = performance.now();
    await trigger(node, recipient, i);
    for (;;) {
      if ((await listFeedMessages(node.store.db, scope, recipient, { limit: 1 })).length > 0) break;
      check(performance.now() - started < 10_000, `the message of ${recipient} did not appear in 10 s`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    samples.push(performance.now() - started);
  }
  return samples;
}

async function benchDatabase(kind: BenchDb): Promise<Row[]> {
  const cleanup = new Cleanup();
  try {
    const node = await startBenchNode(kind, cleanup);
    log(`${kind}: W0 baseline, ${INSERTS} single-row INSERTs, ${TRIGGER_CONCURRENCY} in flight`);
    const insertsPerSecond = await insertBaseline(node);
    log(`${kind}: W1 throughput, ${RUNS} triggers after ${WARMUP_RUNS} warm-up, ${TRIGGER_CONCURRENCY} in flight`);
    const w1 = await throughput(node);
    log(`${kind}: W2 trigger -> feed latency, ${LATENCY_SAMPLES} runs one at a time`);
    const samples = await latency(node);
    return [
      { database: kind, measure: 'W0 baseline: single-row INSERTs', value: insertsPerSecond, unit: 'rows/s', target: null },
      { database: kind, measure: 'W1 triggers accepted (202)', value: w1.acceptedPerSecond, unit: 'runs/s', target: null },
      { database: kind, measure: 'W1 runs completed (in_app step)', value: w1.runsPerSecond, unit: 'runs/s', target: null },
      { database: kind, measure: 'W1 ratio runs completed / INSERTs', value: w1.runsPerSecond / insertsPerSecond, unit: 'x', target: null },
      { database: kind, measure: 'W2 trigger -> feed p50', value: percentile(samples, 50), unit: 'ms', target: null },
      { database: kind, measure: 'W2 trigger -> feed p99', value: percentile(samples, 99), unit: 'ms', target: null },
    ];
  } finally {
    await cleanup.runAll();
  }
}

async function main(): Promise<number> {
  const cleanup = new Cleanup();
  cleanUpOnInterrupt(cleanup);
  const rows: Row[] = [];
  let failed = false;
  const started = performance.now();
  for (const kind of selectedDatabases()) {
    try {
      rows.push(...(await benchDatabase(kind)));
    } catch (error) {
      failed = true;
      console.error(`${kind} crashed:`, error);
      rows.push({ database: kind, measure: `workflows (crashed: ${(error as Error).message.slice(0, 60)})`, value: null, unit: '', target: null, note: 'error' });
    }
  }
  await cleanup.runAll();
  console.log('');
  console.log(`Stageline workflow benchmark (${QUICK ? 'quick' : 'full'}: ${RUNS} runs, ${LATENCY_SAMPLES} latency samples, ${INSERTS} baseline INSERTs; node ${process.version})`);
  console.log('');
  console.log(renderTable(rows));
  console.log('');
  console.log(`${((performance.now() - started) / 1000).toFixed(0)} s`);
  return failed ? 1 : 0;
}

runMain(main);
