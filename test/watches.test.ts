// Watches after promotions, on both databases: a breach rolls back by itself and holds the
// environment; good figures pass; a quiet target is left alone; a watch survives a restart and
// runs on one node of two; holds are cleared by members; the health of an environment in one call.
import { afterEach, describe, expect, it } from 'vitest';
import { SYSTEM_ACTOR } from '../src/domain/auth/permissions.js';
import { StagelineError } from '../src/domain/errors.js';
import type { AlertStates, Figures, FiguresQuery, MetricsReader } from '../src/metrics/contract.js';
import { Watcher, WATCH_LEASE } from '../src/metrics/watches.js';
import { leaseHolder } from '../src/store/leases.js';
import type { CallContext } from '../src/services/context.js';
import { checkWatch, holdOf, startWatch, type WatchInput } from '../src/services/watches.js';
import { runningWatches } from '../src/store/watches.js';
import type { BreachNotice } from '../src/services/watches.js';
import { findEnvironment, lockEnvironment } from '../src/store/environments.js';
import { findWorkspace } from '../src/store/workspaces.js';
import {
  commitDrafts,
  config,
  createStaging,
  createTestDatabase,
  eventually,
  memberToken,
  promote,
  startHarness,
  WS,
  type Harness,
  type HarnessOptions,
  type TestDatabase,
} from './support.js';

/** Gateway figures with `errors` 5xx out of `requests`. */
function figures(requests: number, errors: number, p95Ms: number | null = 40): Figures {
  const errorRate = requests === 0 ? 0 : errors / requests;
  return {
    requests,
    status2xx: requests - errors,
    status3xx: 0,
    status4xx: 0,
    status5xx: errors,
    errors,
    upstreamErrors: 0,
    errorRate,
    successRate: requests === 0 ? 0 : (requests - errors) / requests,
    upstreamErrorRate: 0,
    p50Ms: p95Ms,
    p95Ms,
    p99Ms: p95Ms,
  };
}

/**
 * A metrics reader whose figures the test sets: windows starting before `cutoff` (the baseline,
 * the previous release) answer `baseline`, the others `current`.
 */
class TestReader implements MetricsReader {
  current = figures(0, 0);
  baseline = figures(200, 2);
  cutoff = new Date(0);
  queries: FiguresQuery[] = [];
  async figures(query: FiguresQuery): Promise<Figures> {
    this.queries.push(query);
    return query.from < this.cutoff ? this.baseline : this.current;
  }
  async flush() {}
  currentQueries() {
    return this.queries.filter((q) => q.from >= this.cutoff).length;
  }
}

interface Node {
  h: Harness;
  reader: TestReader;
  watcher: Watcher;
  notices: BreachNotice[];
}

const open: Node[] = [];
const databases: TestDatabase[] = [];

/** A node with a test reader and a fast watcher (the runtime's own, on its 15 s default, is stopped). */
async function startNode(options: HarnessOptions = {}, holder?: string): Promise<Node> {
  const h = await startHarness(options);
  await h.runtime.watches.close();
  const reader = new TestReader();
  h.deps.metrics = reader;
  const notices: BreachNotice[] = [];
  const watcher = new Watcher(h.deps, { intervalMs: 50, ...(holder ? { holder } : {}), notify: async (_deps, notice) => void notices.push(notice) });
  const node = { h, reader, watcher, notices };
  open.push(node);
  return node;
}

afterEach(async () => {
  for (const node of open.splice(0)) {
    await node.watcher.close();
    await node.h.close();
  }
  for (const database of databases.splice(0)) await database.drop();
});

async function systemContext(h: Harness): Promise<CallContext> {
  const workspace = (await findWorkspace(h.store.db, 'default'))!;
  return { workspace: { id: workspace.id, slug: workspace.slug, name: workspace.name }, actor: SYSTEM_ACTOR, requestId: null };
}

/** staging#1 then staging#2 promoted from development (config/a: 1, then 2). */
async function twoReleasesInStaging(h: Harness) {
  await createStaging(h);
  await commitDrafts(h, { 'config/a': config(1) });
  expect((await promote(h, 'staging')).status).toBe(201);
  await commitDrafts(h, { 'config/a': config(2) });
  expect((await promote(h, 'staging')).status).toBe(201);
}

/** Starts a watch of staging#2 (previous: #1), as the promotion flow does, in its own transaction. */
async function watchStaging(node: Node, watch: WatchInput, release = 2, previous = 1) {
  const ctx = await systemContext(node.h);
  await node.h.deps.store.transaction(async (tx) => {
    const env = (await lockEnvironment(node.h.store, tx, ctx.workspace.id, 'staging'))!;
    await startWatch(node.h.deps, tx, ctx, env, release, previous, watch);
  });
  const view = await node.h.call('GET', `${WS}/environments/staging/watch`);
  expect(view.status).toBe(200);
  for (const n of open) n.reader.cutoff = new Date(view.body.startedAt);
  return view.body;
}

const headOf = async (h: Harness, env = 'staging', token?: string) => (await h.call('GET', `${WS}/environments/${env}`, undefined, token)).body.release as number;
const releasesOf = async (h: Harness, token?: string) => (await h.call('GET', `${WS}/environments/staging/releases`, undefined, token)).body.data as any[];
const audit = async (h: Harness, action: string, token?: string) => (await h.call('GET', `${WS}/audit-log?action=${action}&limit=100`, undefined, token)).body.data as any[];
const watchView = async (h: Harness, token?: string) => (await h.call('GET', `${WS}/environments/staging/watch`, undefined, token)).body;

describe('a watched promotion', () => {
  it('whose figures go bad rolls back by itself within the window, holds the environment, notifies once and audits it', async () => {
    const node = await startNode();
    const { h, reader, watcher } = node;
    await twoReleasesInStaging(h);
    await watchStaging(node, { minutes: 30, maxErrorRate: 0.05 });
    reader.current = figures(200, 1);
    watcher.start();
    await eventually(() => expect(reader.currentQueries()).toBeGreaterThanOrEqual(2));
    expect(await headOf(h)).toBe(2);

    reader.current = figures(200, 40); // 20 % errors
    await eventually(async () => expect((await watchView(h)).status).toBe('breached'));

    const releases = await releasesOf(h);
    expect(releases).toHaveLength(3);
    expect(releases[0]).toMatchObject({ number: 3, cause: 'rollback', rolledBackTo: 1, author: { id: 'system' } });
    expect(await headOf(h)).toBe(3);
    const watch = await watchView(h);
    expect(watch).toMatchObject({
      release: 2,
      previousRelease: 1,
      rollbackRelease: 3,
      figures: { requests: 200, errorRate: 0.2 },
      baseline: { requests: 200, errorRate: 0.01 },
      breach: { rule: 'max_error_rate', value: 0.2, limit: 0.05 },
    });
    expect(Date.parse(watch.endedAt)).toBeLessThan(Date.parse(watch.endsAt));

    const env = (await findEnvironment(h.store.db, (await systemContext(h)).workspace.id, 'staging'))!;
    const hold = await holdOf(h.store.db, env);
    expect(hold).toEqual({ since: watch.endedAt, reason: expect.stringContaining('error rate 20.00 % is above 5.00 %'), release: 2 });

    const [breach, holdSet, rollback, start] = [await audit(h, 'watch.breach'), await audit(h, 'hold.set'), await audit(h, 'release.rollback'), await audit(h, 'watch.start')];
    expect([breach.length, holdSet.length, rollback.length, start.length]).toEqual([1, 1, 1, 1]);
    for (const entry of [...breach, ...holdSet, ...rollback]) expect(entry).toMatchObject({ actorKind: 'system', actorId: 'system', environment: 'staging' });
    expect(breach[0].details).toMatchObject({ release: 2, rolledBackTo: 1, rollbackRelease: 3, breach: { rule: 'max_error_rate' } });
    expect(node.notices).toHaveLength(1);
    expect(node.notices[0]).toMatchObject({ environment: { slug: 'staging' }, release: 2, rollbackRelease: 3, rolledBackTo: 1, breach: { rule: 'max_error_rate' } });
    // Only gateway figures of staging were read, the baseline from the previous release's last hour.
    const stagingId = env.id;
    expect(reader.queries.every((q) => q.environmentId === stagingId && q.family === 'gateway')).toBe(true);
    expect(reader.queries.length).toBeGreaterThan(0);
  });

  it('breaches on a regression against the baseline when it names no threshold (twice the baseline)', async () => {
    const node = await startNode();
    await twoReleasesInStaging(node.h);
    const started = await watchStaging(node, { minutes: 30 });
    expect(started.thresholds).toEqual({ maxErrorRate: null, maxP95Ms: null, maxRegression: 2, minRequests: 20 });
    node.reader.baseline = figures(400, 8); // 2 %
    node.reader.current = figures(100, 5); // 5 % > 4 %
    node.watcher.start();
    await eventually(async () => expect((await watchView(node.h)).status).toBe('breached'));
    expect((await watchView(node.h)).breach).toMatchObject({ rule: 'error_rate_regression', value: 0.05, limit: 0.04 });
    expect(await headOf(node.h)).toBe(3);
  });

  it('whose figures stay good passes when its time is up, with no rollback and no hold', async () => {
    const node = await startNode();
    const { h, reader, watcher } = node;
    await twoReleasesInStaging(h);
    await watchStaging(node, { minutes: 5, maxErrorRate: 0.05, maxP95Ms: 500 });
    reader.current = figures(300, 3, 120);
    watcher.start();
    await eventually(() => expect(reader.currentQueries()).toBeGreaterThanOrEqual(2));
    expect((await watchView(h)).status).toBe('running');
    // Five minutes later (the node's clock), the next check ends the watch.
    const offset = 6 * 60_000;
    h.deps.now = () => new Date(Date.now() + offset);
    await eventually(async () => expect((await watchView(h)).status).toBe('passed'));

    expect(await headOf(h)).toBe(2);
    expect(await releasesOf(h)).toHaveLength(2);
    const env = (await findEnvironment(h.store.db, (await systemContext(h)).workspace.id, 'staging'))!;
    expect(await holdOf(h.store.db, env)).toBeNull();
    expect(await audit(h, 'watch.pass')).toHaveLength(1);
    expect(await audit(h, 'watch.breach')).toHaveLength(0);
    expect(node.notices).toHaveLength(0);
    const watch = await watchView(h);
    expect(watch).toMatchObject({ figures: { requests: 300, errorRate: 0.01, p95Ms: 120 }, breach: null, rollbackRelease: null, secondsLeft: 0 });
  });

  it('leaves a quiet target alone: 19 requests, all failing, breach nothing', async () => {
    const node = await startNode();
    const { h, reader, watcher } = node;
    await twoReleasesInStaging(h);
    await watchStaging(node, { minutes: 30, maxErrorRate: 0.05 });
    reader.current = figures(19, 19);
    watcher.start();
    await eventually(() => expect(reader.currentQueries()).toBeGreaterThanOrEqual(3));
    // Rounds never overlap: once a fourth has begun, the third (and its verdict) is done.
    await eventually(() => expect(reader.currentQueries()).toBeGreaterThanOrEqual(4));
    expect((await watchView(h)).status).toBe('running');
    expect(await headOf(h)).toBe(2);
    // The twentieth request makes the same figures count.
    reader.current = figures(20, 20);
    await eventually(async () => expect((await watchView(h)).status).toBe('breached'));
    expect(await headOf(h)).toBe(3);
  });

  it('ends superseded once the environment moves on (a rollback), and a breach after that rolls nothing back', async () => {
    const node = await startNode();
    const { h, reader, watcher } = node;
    await twoReleasesInStaging(h);
    await watchStaging(node, { minutes: 30, maxErrorRate: 0.05 });
    expect((await h.call('POST', `${WS}/environments/staging/rollbacks`, { release: 1 })).status).toBe(201);
    reader.current = figures(200, 100);
    watcher.start();
    await eventually(async () => expect((await watchView(h)).status).toBe('superseded'));
    expect((await watchView(h)).reason).toBe('staging moved to #3');
    await watcher.check();
    expect(await releasesOf(h)).toHaveLength(3);
    expect(await audit(h, 'watch.breach')).toHaveLength(0);
    expect(await audit(h, 'watch.supersede')).toHaveLength(1);
  });

  it('is superseded at once by the watch of a newer promotion', async () => {
    const node = await startNode();
    const { h } = node;
    await twoReleasesInStaging(h);
    const first = await watchStaging(node, { minutes: 30 });
    await commitDrafts(h, { 'config/a': config(3) });
    expect((await promote(h, 'staging')).status).toBe(201);
    const second = await watchStaging(node, { minutes: 30 }, 3, 2);
    expect(second).toMatchObject({ status: 'running', release: 3, previousRelease: 2 });
    expect(second.id).not.toBe(first.id);
    const superseded = await audit(h, 'watch.supersede');
    expect(superseded).toHaveLength(1);
    expect(superseded[0].details).toMatchObject({ watch: first.id, reason: 'staging#3 was promoted' });
  });

  it('rolls a frozen environment back all the same, breaking glass as the system with a review item', async () => {
    const node = await startNode();
    const { h, reader, watcher } = node;
    await twoReleasesInStaging(h);
    await watchStaging(node, { minutes: 30, maxErrorRate: 0.05 });
    const freeze = await h.call('POST', `${WS}/environments/staging/freezes`, { startsAt: new Date(Date.now() - 1000).toISOString(), endsAt: new Date(Date.now() + 3600_000).toISOString(), reason: 'launch' });
    expect(freeze.status).toBe(201);
    reader.current = figures(100, 50);
    watcher.start();
    await eventually(async () => expect((await watchView(h)).status).toBe('breached'));
    expect(await headOf(h)).toBe(3);
    const reviews = (await h.call('GET', `${WS}/review-items`)).body.data;
    expect(reviews).toHaveLength(1);
    expect(reviews[0]).toMatchObject({ environment: 'staging', kind: 'break_glass', openedBy: 'system' });
  });

  it('refuses a watch with bad thresholds, naming the field', async () => {
    const node = await startNode();
    await twoReleasesInStaging(node.h);
    const error = await watchStaging(node, { minutes: 0, maxErrorRate: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StagelineError);
    expect((error as StagelineError).status).toBe(400);
    expect((error as StagelineError).details).toEqual([
      expect.objectContaining({ field: 'watch.minutes' }),
      expect.objectContaining({ field: 'watch.maxErrorRate' }),
    ]);
    expect((await node.h.call('GET', `${WS}/environments/staging/watch`)).status).toBe(404);
  });
});

describe('a watch across nodes', () => {
  it('resumes after a restart: the next node on the same database still rolls the breach back', async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const first = await startNode({ database });
    const token = first.h.token;
    await twoReleasesInStaging(first.h);
    const started = await watchStaging(first, { minutes: 30, maxErrorRate: 0.05 });
    first.reader.current = figures(100, 0);
    first.watcher.start();
    await eventually(() => expect(first.reader.currentQueries()).toBeGreaterThanOrEqual(1));
    open.splice(open.indexOf(first), 1);
    await first.watcher.close();
    await first.h.close();

    const second = await startNode({ database });
    second.reader.cutoff = new Date(started.startedAt);
    second.reader.current = figures(100, 30);
    second.watcher.start();
    await eventually(async () => expect((await watchView(second.h, token)).status).toBe('breached'));
    expect(await headOf(second.h, 'staging', token)).toBe(3);
    expect((await watchView(second.h, token)).id).toBe(started.id);
    expect(second.notices).toHaveLength(1);
  });

  it('runs on one node of two: one rollback, one breach, one notification', async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const a = await startNode({ database }, 'node-a');
    const b = await startNode({ database }, 'node-b');
    const token = a.h.token;
    await twoReleasesInStaging(a.h);
    await watchStaging(a, { minutes: 30, maxErrorRate: 0.05 });
    for (const node of [a, b]) node.reader.current = figures(100, 30);
    a.watcher.start();
    b.watcher.start();
    await eventually(async () => expect((await watchView(a.h)).status).toBe('breached'));
    // More rounds on both change nothing: the watch has ended, and it ended once.
    await Promise.all([a.watcher.check(), b.watcher.check()]);
    expect(await releasesOf(a.h)).toHaveLength(3);
    expect(await audit(a.h, 'watch.breach')).toHaveLength(1);
    expect(await audit(b.h, 'release.rollback', token)).toHaveLength(1);
    // The breach was acted on by the node holding the lease, and only by it.
    const holder = await leaseHolder(a.h.store.db, WATCH_LEASE, new Date());
    expect(holder === 'node-a' ? [a.notices.length, b.notices.length] : holder === 'node-b' ? [b.notices.length, a.notices.length] : holder).toEqual([1, 0]);
  });

  it('rolls back once when two checks race past the lease (the watch is re-read under the environment lock)', async () => {
    // One node's store, so that on PostgreSQL the two transactions run on separate connections
    // at once (two SQLite processes on one file are no supported deployment: docs/decisions.md).
    const node = await startNode();
    await twoReleasesInStaging(node.h);
    await watchStaging(node, { minutes: 30, maxErrorRate: 0.05 });
    node.reader.current = figures(100, 30);
    const [watch] = await runningWatches(node.h.store.db, 10);
    const notices = await Promise.all([checkWatch(node.h.deps, node.reader, watch!), checkWatch(node.h.deps, node.reader, watch!)]);
    expect(notices.filter((n) => n !== null)).toHaveLength(1);
    expect(await releasesOf(node.h)).toHaveLength(3);
    expect(await audit(node.h, 'watch.breach')).toHaveLength(1);
    expect(await audit(node.h, 'hold.set')).toHaveLength(1);
  });
});

describe('holds', () => {
  async function heldStaging() {
    const node = await startNode();
    await twoReleasesInStaging(node.h);
    await watchStaging(node, { minutes: 30, maxErrorRate: 0.05 });
    node.reader.current = figures(100, 30);
    await node.watcher.check();
    expect((await watchView(node.h)).status).toBe('breached');
    return node;
  }

  it('are cleared by a member with release.promote in the environment, audited; 404 once not held', async () => {
    const { h } = await heldStaging();
    const viewer = await memberToken(h, 'viewer@example.com', 'developer', { staging: 'viewer' });
    const deployer = await memberToken(h, 'deployer@example.com', 'viewer', { staging: 'deployer' });
    const refused = await h.call('DELETE', `${WS}/environments/staging/hold`, undefined, viewer);
    expect(refused.status).toBe(403);
    expect((await h.call('GET', `${WS}/environments/staging/health`)).body.hold).toMatchObject({ release: 2 });

    const cleared = await h.call('DELETE', `${WS}/environments/staging/hold`, undefined, deployer);
    expect(cleared.status).toBe(204);
    expect((await h.call('GET', `${WS}/environments/staging/health`)).body.hold).toBeNull();
    const entries = await audit(h, 'hold.clear');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ environment: 'staging', actorKind: 'user', actorName: 'deployer@example.com', details: { release: 2 } });

    const again = await h.call('DELETE', `${WS}/environments/staging/hold`, undefined, deployer);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('not_found');
  });

  it('answer 404 for an environment that does not exist, by name such as __proto__', async () => {
    const node = await startNode();
    for (const path of ['hold', 'watch', 'health']) {
      const res = await node.h.call(path === 'hold' ? 'DELETE' : 'GET', `${WS}/environments/__proto__/${path}`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });
});

describe('environment health', () => {
  it('answers exactly the DESIGN shape: release, figures vs previous, alerts, gates, drift, freeze, hold', async () => {
    const node = await startNode();
    const { h, reader } = node;
    await twoReleasesInStaging(h);
    await commitDrafts(h, { 'config/a': config(3), 'config/b': config('new') }); // development#3
    const releases = await releasesOf(h);
    reader.cutoff = new Date(releases[0].createdAt);
    reader.current = figures(120, 6, 210);
    reader.baseline = figures(600, 6, 90);
    const alerts: AlertStates = { firing: async () => ({ now: [{ rule: 'staging errors', since: '2026-01-01T00:00:00.000Z' }], firedSince: true }) };
    h.deps.alerts = alerts;
    await h.call('POST', `${WS}/environments/staging/freezes`, { startsAt: new Date(Date.now() - 1000).toISOString(), endsAt: new Date(Date.now() + 3600_000).toISOString(), reason: 'launch' });

    const res = await h.call('GET', `${WS}/environments/staging/health`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['alerts', 'drift', 'environment', 'figures', 'freeze', 'gates', 'hold', 'previous', 'release'].sort());
    expect(res.body).toEqual({
      environment: 'staging',
      release: { number: 2, since: releases[0].createdAt },
      figures: { release: 2, from: releases[0].createdAt, to: expect.any(String), requests: 120, errorRate: 0.05, successRate: 0.95, p95Ms: 210 },
      previous: { release: 1, from: releases[1].createdAt, to: releases[0].createdAt, requests: 600, errorRate: 0.01, successRate: 0.99, p95Ms: 90 },
      alerts: [{ rule: 'staging errors', since: '2026-01-01T00:00:00.000Z' }],
      gates: { config: null, pending: [] },
      drift: {
        from: 'development',
        release: 3,
        resources: [
          { kind: 'config', key: 'a', status: 'changed' },
          { kind: 'config', key: 'b', status: 'added' },
        ],
      },
      freeze: { id: expect.stringMatching(/^frz_/), startsAt: expect.any(String), endsAt: expect.any(String), reason: 'launch' },
      hold: null,
    });
  });

  it('lists pending promotion requests into a protected environment with their approvals; no metrics, no alerts: nulls and []', async () => {
    const node = await startNode();
    const { h } = node;
    h.deps.metrics = undefined;
    await twoReleasesInStaging(h);
    expect((await h.call('PATCH', `${WS}/environments/production`, { protected: true, approvalsRequired: 2 })).status).toBe(200);
    const requested = await promote(h, 'production');
    expect(requested.status).toBe(202);
    const res = await h.call('GET', `${WS}/environments/production/health`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ environment: 'production', release: null, figures: null, previous: null, alerts: [], freeze: null, hold: null });
    expect(res.body.gates.pending).toEqual([
      {
        id: requested.body.request.id,
        kind: 'promotion',
        status: 'pending',
        source: 'staging#2',
        targetRelease: 0,
        approvalsRequired: 2,
        approvals: 0,
        requestedBy: expect.objectContaining({ id: expect.any(String) }),
        createdAt: expect.any(String),
      },
    ]);
    expect(res.body.drift).toEqual({ from: 'staging', release: 2, resources: [{ kind: 'config', key: 'a', status: 'added' }] });
  });

  it('is listed in the OpenAPI document with operationIds', async () => {
    const { h } = await startNode();
    const doc = (await h.call('GET', '/api/openapi.json')).body;
    expect(doc.paths['/api/workspaces/{ws}/environments/{env}/health'].get.operationId).toBe('getEnvironmentHealth');
    expect(doc.paths['/api/workspaces/{ws}/environments/{env}/watch'].get.operationId).toBe('getWatch');
    expect(doc.paths['/api/workspaces/{ws}/environments/{env}/hold'].delete.operationId).toBe('clearHold');
  });
});
