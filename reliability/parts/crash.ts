// Part 4, crash safety: a real node is killed (SIGKILL) at a named fault point inside a commit,
// promotion, rollback, branch merge, snapshot GC or workflow job, while other writes are being
// acknowledged; restarted without faults on the same database, it must show every environment at
// its old or its new release (never a mix), every acknowledged write, release numbers that are
// never reused, an audit entry exactly for what committed (and a chain that verifies), retained
// releases that read whole after a GC, and workflow steps recorded as done that are never sent again.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DB, emit, QUICK, runPart, say, scaled, zero } from '../contract.js';
import { Cleanup, HttpClient, startNode, type StagelineNode } from '../lib/nodes.js';
import {
  committed,
  configOf,
  copyOf,
  ENVS,
  GC_ENV,
  head,
  merged,
  ok,
  releaseSnapshots,
  seedDatabase,
  served,
  sorted,
  WS,
  type Content,
  type Env,
  type Seed,
} from '../lib/crash-seed.js';
import { canonicalJson } from '../../src/domain/canonical.js';
import { openStore } from '../../src/store/database.js';
import { getContents, loadSnapshot } from '../../src/store/releases.js';

const PART = 'crash';

type Op = 'commit' | 'promote' | 'rollback' | 'merge' | 'gc' | 'job';

interface Point {
  op: Op;
  /** The fault point's name (src/faults.ts). */
  name: string;
  /** Which pass through it kills. */
  hit: number;
}

// Where a crash matters (see the faultPoint lines in src/): before the transaction writes, with the
// snapshot written but no release row, with the release and head written but no audit entry, after
// the commit but before the answer; GC between its phases and inside its batches; jobs after the
// claim, after a step's side effect and after its record, before and after the run's completion.
const POINTS: Point[] = [
  ...(['commit', 'promote', 'rollback', 'merge'] as const).flatMap((op) =>
    ['before-write', 'after-snapshot', 'after-release', 'after-commit'].map((p) => ({ op, name: `${op}.${p}`, hit: 1 })),
  ),
  // The merge's second release is the branch's settled one.
  { op: 'merge', name: 'merge.after-snapshot', hit: 2 },
  { op: 'merge', name: 'merge.after-release', hit: 2 },
  { op: 'gc', name: 'gc.prune-batch', hit: 1 },
  { op: 'gc', name: 'gc.after-prune', hit: 1 },
  { op: 'gc', name: 'gc.after-mark', hit: 1 },
  { op: 'gc', name: 'gc.sweep-batch', hit: 1 },
  { op: 'gc', name: 'gc.sweep-batch', hit: 2 },
  { op: 'job', name: 'job.after-claim', hit: 1 },
  { op: 'job', name: 'job.after-side-effect', hit: 1 },
  { op: 'job', name: 'job.after-side-effect', hit: 3 },
  { op: 'job', name: 'job.after-step', hit: 2 },
  { op: 'job', name: 'job.before-finish', hit: 1 },
  { op: 'job', name: 'job.after-finish', hit: 1 },
];

const label = (p: Point) => (p.hit === 1 ? p.name : `${p.name}@${p.hit}`);

/** RELIABILITY_CRASH_POINTS=commit.,gc.sweep-batch runs only the points whose label starts with one of these. */
const ONLY = (process.env.RELIABILITY_CRASH_POINTS ?? '').split(',').filter(Boolean);
const SELECTED = ONLY.length === 0 ? POINTS : POINTS.filter((p) => ONLY.some((prefix) => label(p).startsWith(prefix)));

/** The violations of each invariant, summed over runs. */
const violations = {
  mixed: 0,
  phase: 0,
  lost: 0,
  monotonic: 0,
  audit: 0,
  chain: 0,
  gcWhole: 0,
  jobIncomplete: 0,
  jobRepeated: 0,
  jobKey: 0,
  jobDouble: 0,
};
let redeliveries = 0;
const runsOf: Record<Op, number> = { commit: 0, promote: 0, rollback: 0, merge: 0, gc: 0, job: 0 };
let gcDeleted = 0;
const notes: string[] = [];

function violation(kind: keyof typeof violations, run: string, message: string) {
  violations[kind] += 1;
  if (notes.length < 40) notes.push(`${run}: ${kind}: ${message}`);
  say(`  VIOLATION ${run}: ${kind}: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// The webhook receiver: every delivery, with its key and the phase it arrived in.

interface Delivery {
  key: string;
  tag: string;
  step: number;
  recipient: string;
  phase: 'before' | 'after';
}

class Receiver {
  readonly deliveries: Delivery[] = [];
  phase: 'before' | 'after' = 'before';
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { tag: string; step: number; recipient: string };
        this.deliveries.push({ key: String(req.headers['x-stageline-delivery'] ?? ''), tag: body.tag, step: Number(body.step), recipient: body.recipient, phase: this.phase });
      } catch {
        // Not one of ours.
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  async start(cleanup: Cleanup): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    cleanup.add('close the webhook receiver', () => new Promise<void>((resolve) => this.server.close(() => resolve())));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
}

// ---------------------------------------------------------------------------------------------
// Acknowledged writes made while the operation runs: each names its own variable or data record.

interface Acked {
  variables: string[];
  records: string[];
}

function writeWhileRunning(node: StagelineNode, seed: Seed, run: string): { stop: () => Promise<Acked> } {
  const acked: Acked = { variables: [], records: [] };
  const runtime = new HttpClient(node.url, seed.keys.development);
  let stopped = false;
  const loop = async (kind: 'variables' | 'records') => {
    for (let i = 0; !stopped && node.child.running; i++) {
      const name = `crash_${run.replace(/[^a-z0-9]/gi, '_')}_${kind[0]}${i}`.toLowerCase();
      try {
        if (kind === 'variables') await node.api.call('PUT', `${WS}/variables/${name}`, { value: `v${i}` }, [200, 201]);
        else await runtime.call('PUT', `/v1/data/notes/${name}`, { n: i }, [200, 201]);
        acked[kind].push(name);
      } catch {
        // Refused or cut by the kill: not acknowledged, so nothing is owed.
      }
    }
  };
  const loops = [loop('variables'), loop('records')];
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      runtime.close();
      return acked;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One run.

interface Expected {
  env: Env;
  /** The release number and content after the operation (the state before is the seed's head). */
  number: number;
  content: Content;
  action: string;
}

/** What the operation would make: one or two environments move by one release. */
function expectations(seed: Seed, op: Op): Expected[] {
  switch (op) {
    case 'commit':
      return [{ env: 'development', number: head(seed, 'development') + 1, content: committed(seed), action: 'release.commit' }];
    case 'promote':
      return [{ env: 'staging', number: head(seed, 'staging') + 1, content: seed.releases.development.get(head(seed, 'development'))!, action: 'release.promote' }];
    case 'rollback':
      return [{ env: 'production', number: head(seed, 'production') + 1, content: seed.releases.production.get(head(seed, 'production') - 1)!, action: 'release.rollback' }];
    case 'merge':
      return [
        { env: 'development', number: head(seed, 'development') + 1, content: merged(seed), action: 'release.merge' },
        { env: 'feature', number: head(seed, 'feature') + 1, content: merged(seed), action: 'release.settle' },
      ];
    default:
      return [];
  }
}

function drive(seed: Seed, node: StagelineNode, op: Op): Promise<unknown> {
  const call = (path: string, body: unknown) => node.api.call('POST', `${WS}${path}`, body, [200, 201, 202]);
  switch (op) {
    case 'commit':
      return call('/environments/development/commits', { message: 'crash run commit' });
    case 'promote':
      return call('/environments/staging/promotions', { from: 'development', message: 'crash run promotion' });
    case 'rollback':
      return call('/environments/production/rollbacks', { release: head(seed, 'production') - 1, message: 'crash run rollback' });
    case 'merge':
      return call('/environments/development/promotions', { from: 'feature', message: 'crash run merge' });
    default:
      return Promise.resolve();
  }
}

const BASE_ENV = { STAGELINE_GATEWAY: 'off', STAGELINE_GC_INTERVAL_MS: '0', STAGELINE_BRANCH_SWEEP_SECONDS: '0', STAGELINE_RETENTION_SWEEP_SECONDS: '0' };

function reached(text: string, point: Point): boolean {
  return text.includes(`fault point ${point.name} reached`);
}

async function waitExit(node: StagelineNode, ms: number): Promise<boolean> {
  const timer = new Promise<false>((resolve) => setTimeout(() => resolve(false), ms).unref());
  return Promise.race([node.child.exited.then(() => true), timer]);
}

interface RunResult {
  reached: boolean;
}

async function oneRun(seed: Seed, receiver: Receiver, point: Point, index: number): Promise<RunResult> {
  const run = `${index}:${label(point)}`;
  const cleanup = new Cleanup();
  try {
    const db = await copyOf(seed, cleanup, `r${index}`);
    const faults = `${point.name}:kill@${point.hit}`;
    const env = { ...BASE_ENV, ...(point.op === 'gc' ? GC_ENV : {}) };
    let wasReached = false;
    let acked: Acked = { variables: [], records: [] };
    const tag = `t${index}_${Date.now().toString(36)}`;
    const runs: string[] = [];
    receiver.phase = 'before';

    let node: StagelineNode | null = null;
    try {
      node = await startNode(cleanup, { name: `crash-${index}`, databaseUrl: db.url, faults, env, readyTimeoutMs: READY_MS });
    } catch (error) {
      // A GC point may fire during start-up (the first collection runs as the node starts).
      const text = (error as Error).message;
      if (!reached(text, point)) throw error;
      wasReached = true;
    }
    if (node) {
      const writer = point.op === 'gc' ? null : writeWhileRunning(node, seed, run);
      if (point.op === 'job') {
        const runtime = new HttpClient(node.url, seed.keys.development);
        for (let t = 0; t < 2 && node.child.running; t++) {
          try {
            const answer = await runtime.call<{ runId: string }>('POST', '/v1/workflows/hook/trigger', { recipients: [{ id: 'r0' }, { id: 'r1' }], data: { tag: `${tag}_${t}` } }, [202]);
            runs.push(answer.body.runId);
          } catch {
            // Cut by the kill: not acknowledged.
          }
        }
        runtime.close();
      } else {
        drive(seed, node, point.op).catch(() => {});
      }
      // Generous: on a loaded machine the operation may queue behind the concurrent writes (one writer on SQLite).
      const died = await waitExit(node, 20_000);
      if (writer) acked = await writer.stop();
      wasReached = died && reached(node.child.tail(200), point);
      if (!died) await node.stop();
    }
    receiver.phase = 'after';
    if (!wasReached) say(`  ${run}: the point was not reached`);

    // What the dead node left recorded (read straight from the database), and its job leases
    // expired as the lease time would (30 s), so the restarted node takes the runs over now.
    const recordedDone = new Set<string>();
    let nodesAfterKill = -1;
    {
      const store = await openStore({ url: db.url, poolSize: 1 });
      try {
        if (runs.length > 0) {
          const rows = await store.db.selectFrom('workflow_steps').select(['run_id', 'step', 'recipient', 'status']).where('run_id', 'in', runs).execute();
          for (const r of rows) if (r.status === 'completed') recordedDone.add(`${r.run_id}/${r.step}/${r.recipient}`);
          await store.db.updateTable('workflow_jobs').set({ lease_expires_at: new Date(0).toISOString() }).where('run_id', 'in', runs).where('lease_owner', 'is not', null).execute();
        }
        if (point.op === 'gc') nodesAfterKill = Number((await store.db.selectFrom('tree_nodes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      } finally {
        await store.close();
      }
    }
    if (point.op === 'gc' && nodesAfterKill >= 0 && nodesAfterKill < seedNodes) gcDeleted += 1;
    if (point.op === 'gc') say(`  ${run}: ${seedNodes} tree nodes seeded, ${nodesAfterKill} after the kill`);

    const again = await restart(cleanup, `crash-${index}-again`, db.url);
    await checkEnvironments(seed, again, point, run, wasReached);
    await checkAcked(seed, again, acked, run);
    if (point.op === 'gc') await checkWhole(db.url, run);
    if (point.op === 'job') await checkJobs(seed, again, receiver, runs, tag, recordedDone, run);
    await checkChain(again, run);
    await checkNextCommit(seed, again, point, run);
    await again.stop();
    return { reached: wasReached };
  } finally {
    await cleanup.runAll();
  }
}

let seedNodes = 0;
/** Start-up on a machine shared with other batteries can take many seconds; a node that never serves still fails the run. */
const READY_MS = 90_000;
let outsideKills = 0;

/**
 * The restart without faults. A node that died of a signal before serving, having printed
 * nothing, was killed from outside (nothing in it sends signals but an armed point, which
 * prints first): started again, and counted.
 */
async function restart(cleanup: Cleanup, name: string, databaseUrl: string): Promise<StagelineNode> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNode(cleanup, { name: attempt === 1 ? name : `${name}-${attempt}`, databaseUrl, env: BASE_ENV, readyTimeoutMs: READY_MS });
    } catch (error) {
      const message = (error as Error).message;
      if (attempt >= 3 || !/exited \(-1\) before answering \S+:\s*$/.test(message)) throw error;
      outsideKills += 1;
      say(`  ${name} died of a signal before serving, with no output: started again`);
    }
  }
}

/** Every environment at its old or its new release, numbers never reused, audit entries exactly for what committed. */
async function checkEnvironments(seed: Seed, node: StagelineNode, point: Point, run: string, wasReached: boolean) {
  const expected = expectations(seed, point.op);
  for (const env of ENVS) {
    const old = head(seed, env);
    const next = expected.find((e) => e.env === env);
    const now = await served(node.url, seed.keys[env]);
    const listed = await releaseSnapshots(node.api, env);
    const content = sorted(now.content);
    const matches = (c: Content) => canonicalJson(content) === canonicalJson(sorted(configOf(c)));
    const isOld = now.release === old && matches(seed.releases[env].get(old)!);
    const isNew = next !== undefined && now.release === next.number && matches(next.content);
    if (!isOld && !isNew) violation('mixed', run, `${env} serves #${now.release} with content matching neither #${old} before nor ${next ? `#${next.number} after` : 'any'}`);
    // Inside the transaction the old state must remain; once committed, the new one.
    const committedPoint = point.name.endsWith('.after-commit');
    if (wasReached && next && (committedPoint ? !isNew : !isOld)) violation('phase', run, `${env} is at #${now.release}, expected the ${committedPoint ? 'new' : 'old'} state after ${label(point)}`);
    // Numbers: every release seen before keeps its snapshot (a GC may prune it); only the next one is new.
    for (const [number, snapshot] of seed.snapshots[env]) {
      const after = listed.get(number);
      if (after === undefined ? point.op !== 'gc' || number === old : after !== snapshot) violation('monotonic', run, `${env}#${number} ${after === undefined ? 'is gone' : `now points at ${after}, was ${snapshot}`}`);
    }
    const extra = [...listed.keys()].filter((n) => !seed.snapshots[env].has(n));
    const allowed = isNew ? [next!.number] : [];
    if (extra.some((n) => !allowed.includes(n))) violation('monotonic', run, `${env} lists releases ${extra.join(', ')} beyond #${old} (serving #${now.release})`);
    if (Math.max(...listed.keys()) !== now.release) violation('monotonic', run, `${env} serves #${now.release} but lists #${Math.max(...listed.keys())}`);
    if (next) {
      const entries: { data: { target: string | null }[] } = await ok(node.api, 'GET', `${WS}/audit-log?environment=${env}&action=${next.action}&limit=50`);
      const count = entries.data.filter((e) => e.target === `release/${env}#${next.number}`).length;
      if (count !== (isNew ? 1 : 0)) violation('audit', run, `${count} ${next.action} entries for ${env}#${next.number}, which ${isNew ? 'committed' : 'did not commit'}`);
    }
  }
}

async function checkAcked(seed: Seed, node: StagelineNode, acked: Acked, run: string) {
  const runtime = new HttpClient(node.url, seed.keys.development);
  try {
    for (const name of acked.variables) {
      const answer = await node.api.call<{ value: unknown }>('GET', `${WS}/variables/${name}`, undefined, [200, 404]);
      if (answer.status !== 200) violation('lost', run, `variable ${name} was acknowledged and is gone`);
    }
    for (const name of acked.records) {
      const answer = await runtime.call('GET', `/v1/data/notes/${name}`, undefined, [200, 404]);
      if (answer.status !== 200) violation('lost', run, `record notes/${name} was acknowledged and is gone`);
    }
  } finally {
    runtime.close();
  }
}

async function checkChain(node: StagelineNode, run: string) {
  const verify: { valid: boolean; entries: number } = await ok(node.api, 'GET', `${WS}/audit-log/verify`);
  if (!verify.valid || verify.entries === 0) violation('chain', run, `the audit chain does not verify (${verify.entries} entries)`);
}

/** After the restart the next commit takes the next number: nothing left half-written holds it. */
async function checkNextCommit(seed: Seed, node: StagelineNode, point: Point, run: string) {
  const before = (await served(node.url, seed.keys.development)).release;
  await ok(node.api, 'PUT', `${WS}/environments/development/resources/config/after-crash`, { content: { value: run } });
  const answer = await node.api.call<{ number: number }>('POST', `${WS}/environments/development/commits`, { message: 'after the crash' }, [200, 201, 409, 500]);
  if (answer.status !== 201 || answer.body.number !== before + 1) violation('monotonic', run, `the commit after the restart answered ${answer.status} #${answer.body.number} (head was #${before}, after ${label(point)})`);
}

/** After a crash mid-GC every retained release's tree and contents are all there. */
async function checkWhole(url: string, run: string) {
  const store = await openStore({ url, poolSize: 1 });
  try {
    const releases = await store.db.selectFrom('releases').select(['workspace_id', 'environment_id', 'number', 'snapshot_id']).execute();
    for (const r of releases) {
      try {
        const snapshot = await loadSnapshot(store.db, r.workspace_id, r.snapshot_id);
        const hashes = [...snapshot.values()].map((e) => e.hash);
        const contents = await getContents(store.db, r.workspace_id, hashes);
        const missing = hashes.filter((h) => !contents.has(h));
        if (missing.length > 0) violation('gcWhole', run, `release ${r.environment_id}#${r.number} lacks ${missing.length} contents`);
      } catch (error) {
        violation('gcWhole', run, `release ${r.environment_id}#${r.number} does not read: ${(error as Error).message}`);
      }
    }
  } finally {
    await store.close();
  }
}

/**
 * Every acknowledged run completes; a step recorded as done before the kill is not sent again; a
 * step sent but not recorded may be sent again (at least once), with the same delivery key.
 */
async function checkJobs(seed: Seed, node: StagelineNode, receiver: Receiver, runs: string[], tag: string, recordedDone: Set<string>, run: string) {
  const runtime = new HttpClient(node.url, seed.keys.development);
  try {
    const views = new Map<string, { status: string; steps: { step: number; recipient: string; status: string }[] }>();
    const deadline = Date.now() + 20_000;
    for (const id of runs) {
      for (;;) {
        const view = (await runtime.call<{ status: string; steps: { step: number; recipient: string; status: string }[] }>('GET', `/v1/workflow-runs/${id}`)).body;
        views.set(id, view);
        if (view.status === 'completed' || view.status === 'failed' || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    // Deliveries land before the step's record: give the last ones a moment.
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const [t, id] of runs.entries()) {
      const view = views.get(id)!;
      if (view.status !== 'completed' || view.steps.some((s) => s.status !== 'completed')) violation('jobIncomplete', run, `run ${id} ended ${view.status} (${view.steps.map((s) => s.status).join(', ')})`);
      const seen = new Map<string, number>();
      for (const s of view.steps) seen.set(`${s.step}/${s.recipient}`, (seen.get(`${s.step}/${s.recipient}`) ?? 0) + 1);
      for (const [step, n] of seen) if (n > 1) violation('jobDouble', run, `run ${id} records step ${step} ${n} times`);
      const mine = receiver.deliveries.filter((d) => d.tag === `${tag}_${t}`);
      for (const step of [0, 1]) {
        for (const recipient of ['r0', 'r1']) {
          const of = mine.filter((d) => d.step === step && d.recipient === recipient);
          const keys = new Set(of.map((d) => d.key));
          if (of.length === 0) violation('jobIncomplete', run, `run ${id} step ${step} for ${recipient} was never delivered`);
          if (keys.size > 1) violation('jobKey', run, `run ${id} step ${step} for ${recipient} was delivered with ${keys.size} delivery keys`);
          const done = recordedDone.has(`${id}/${step}/${recipient}`);
          const before = of.filter((d) => d.phase === 'before').length;
          const after = of.filter((d) => d.phase === 'after').length;
          if (done && after > 0) violation('jobRepeated', run, `run ${id} step ${step} for ${recipient} was recorded done before the kill and sent again after it`);
          // Sent and not recorded (or retried after a receiver timeout): at least once, same key.
          if (!done && before + after > 1) redeliveries += before + after - 1;
          if (done && before > 1) redeliveries += before - 1;
        }
      }
    }
  } finally {
    runtime.close();
  }
}

// ---------------------------------------------------------------------------------------------

runPart(PART, async () => {
  const cleanup = new Cleanup();
  try {
    const receiver = new Receiver();
    const hookUrl = await receiver.start(cleanup);
    const started = Date.now();
    const seed = await seedDatabase(DB, cleanup, hookUrl);
    {
      const store = await openStore({ url: seed.url, poolSize: 1 });
      seedNodes = Number((await store.db.selectFrom('tree_nodes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      await store.close();
    }
    say(`  seeded in ${Date.now() - started} ms: ${ENVS.map((e) => `${e}#${head(seed, e)}`).join(', ')}, ${seedNodes} tree nodes`);

    const total = scaled(200, SELECTED.length);
    const covered = new Set<string>();
    const reachedPoints = new Set<string>();
    let reachedRuns = 0;
    let failedRuns = 0;
    const unreached = new Map<string, number>();
    for (let i = 0; i < total; i++) {
      const point = SELECTED[i % SELECTED.length]!;
      covered.add(label(point));
      runsOf[point.op] += 1;
      let result: RunResult;
      try {
        result = await oneRun(seed, receiver, point, i);
      } catch (error) {
        failedRuns += 1;
        say(`  run ${i}:${label(point)} could not be completed: ${(error as Error).message.split('\n')[0]}`);
        continue;
      }
      if (result.reached) {
        reachedRuns += 1;
        reachedPoints.add(label(point));
      } else unreached.set(label(point), (unreached.get(label(point)) ?? 0) + 1);
    }

    emit({ part: PART, measure: 'runs (a node killed at a fault point, restarted, checked)', value: `${total}`, goal: `${scaled(200, POINTS.length)}`, ok: total >= scaled(200, POINTS.length) });
    emit({ part: PART, measure: 'fault points covered', value: `${covered.size} of ${POINTS.length}`, goal: `${POINTS.length}`, ok: covered.size === POINTS.length });
    emit({
      part: PART,
      measure: 'runs where the point was reached (the node died there)',
      value: `${reachedRuns} of ${total}${unreached.size > 0 ? `; not reached: ${[...unreached].map(([p, n]) => `${p} ×${n}`).join(', ')}` : ''}`,
      goal: `${total}`,
      ok: reachedRuns === total && reachedPoints.size === SELECTED.length,
    });
    zero(PART, 'runs that could not be completed (a node that did not start or answer)', failedRuns, { total, unit: 'runs' });
    const of = { total, unit: 'runs' };
    zero(PART, 'environments at neither their old nor their new release (a mix)', violations.mixed, of);
    zero(PART, 'environments not at the state the point implies (old inside the transaction, new after commit)', violations.phase, of);
    zero(PART, 'acknowledged writes lost', violations.lost, of);
    zero(PART, 'release numbers reused, skipped or reassigned', violations.monotonic, of);
    zero(PART, 'audit entries not matching what committed', violations.audit, of);
    zero(PART, 'audit chains that do not verify after the restart', violations.chain, of);
    const gcRuns = runsOf.gc;
    zero(PART, 'retained releases not reading whole after a crash mid-GC', violations.gcWhole, { total: gcRuns, unit: 'GC runs' });
    emit({ part: PART, measure: 'GC runs that deleted tree nodes before the kill', value: `${gcDeleted}`, goal: '> 0', ok: gcDeleted > 0 });
    zero(PART, 'workflow runs not completed after the restart (or a step never delivered)', violations.jobIncomplete);
    zero(PART, 'workflow steps recorded done and sent again', violations.jobRepeated);
    zero(PART, 'redeliveries with a different delivery key', violations.jobKey);
    zero(PART, 'workflow steps with two completions recorded', violations.jobDouble);
    emit({ part: PART, measure: 'restarts killed from outside before serving (started again)', value: `${outsideKills}`, goal: '', ok: true });
    emit({ part: PART, measure: 'at-least-once redeliveries (sent, not recorded, sent again with the same key)', value: `${redeliveries}`, goal: '', ok: true });
    for (const note of notes) say(`  ${note}`);
    if (QUICK) say('  quick form: every point once');
  } finally {
    await cleanup.runAll();
  }
});
