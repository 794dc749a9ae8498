// Health-gated promotion: the watch that follows a promotion, and the hold a breach sets. The
// watcher (src/metrics/watches.ts) calls `checkWatch` for each running watch: a breach rolls the
// environment back, holds it and ends the watch, all in one transaction under its lock.
import { authorize, SYSTEM_ACTOR } from '../domain/auth/permissions.js';
import type { Environment } from '../domain/environments/chain.js';
import { invalid, notFound } from '../domain/errors.js';
import {
  baselineStart,
  findBreach,
  MIN_REQUESTS,
  watchIssues,
  watchStep,
  watchThresholds,
  type Breach,
  type WatchFigures,
} from '../domain/releases/watch.js';
import type { Figures, MetricsReader } from '../metrics/contract.js';
import type { Db } from '../store/database.js';
import { findEnvironmentById } from '../store/environments.js';
import { deleteHold, endWatch, findHold, findWatch, insertWatch, currentWatch, putHold, runningWatchesOf, type WatchOutcome, type WatchRecord } from '../store/watches.js';
import { findWorkspaceById } from '../store/workspaces.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps } from './context.js';
import { emitEvent } from './events.js';
import { applyRollback } from './promotion-plan.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';
import { releaseName, releaseOf } from './snapshots.js';

/** A promotion's `watch` (or the environment's default one, from its gates). */
export interface WatchInput {
  minutes: number;
  /** Absolute ceiling of the error rate (a fraction 0–1). */
  maxErrorRate?: number;
  maxP95Ms?: number;
  /** How many times the previous release's baseline error rate (or p95) counts as a breach. */
  maxRegression?: number;
}

export interface Hold {
  since: string;
  reason: string;
  /** The release the breach rolled back from. */
  release: number | null;
}

const scopeOf = (env: Environment) => ({ workspaceId: env.workspaceId, environmentId: env.id });

/**
 * Starts watching `release` of `target`, just applied by a promotion in transaction `tx`;
 * `previousRelease` is the release it replaced (the baseline, and where a breach rolls back to).
 * A watch still running on the environment ends superseded.
 */
export async function startWatch(
  deps: Deps,
  tx: Db,
  ctx: CallContext,
  target: Environment,
  release: number,
  previousRelease: number,
  watch: WatchInput,
): Promise<void> {
  const issues = watchIssues(watch);
  if (issues.length > 0) throw invalid(issues);
  const now = deps.now();
  for (const running of await runningWatchesOf(tx, scopeOf(target))) {
    await supersede(deps, tx, ctx, target, running, `${releaseName(target, release)} was promoted`);
  }
  const previous = previousRelease > 0 ? await releaseOf(tx, target, previousRelease) : null;
  const row: WatchRecord = {
    id: newId('wat'),
    workspaceId: target.workspaceId,
    environmentId: target.id,
    release,
    previousRelease,
    thresholds: watchThresholds(watch),
    baselineFrom: previous ? baselineStart(previous.createdAt, now).toISOString() : null,
    startedAt: now.toISOString(),
    endsAt: new Date(now.getTime() + watch.minutes * 60_000).toISOString(),
    status: 'running',
    endedAt: null,
    outcome: null,
  };
  await insertWatch(tx, row);
  const details = { watch: row.id, release, previousRelease, minutes: watch.minutes, endsAt: row.endsAt, ...row.thresholds };
  await record(deps, tx, ctx, { action: 'watch.start', environment: target.slug, target: `watch/${row.id}`, details });
  await emitEvent(deps, tx, ctx, { type: 'watch.started', environment: target.slug, data: details });
}

/** The environment's hold, or null: while held, nothing is promoted into it. */
export async function holdOf(db: Db, target: Environment): Promise<Hold | null> {
  const hold = await findHold(db, scopeOf(target));
  return hold ? { since: hold.since, reason: hold.reason, release: hold.release } : null;
}

/** Clears the hold a breach set, so promotions into the environment go ahead again. */
export async function clearHold(deps: Deps, ctx: CallContext, slug: string): Promise<void> {
  authorize(ctx.actor, 'release.promote', slug);
  await deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const hold = await holdOf(tx, env);
    if (!hold || !(await deleteHold(tx, scopeOf(env)))) throw notFound(`hold on ${slug}`);
    const details = { since: hold.since, reason: hold.reason, release: hold.release };
    await record(deps, tx, ctx, { action: 'hold.clear', environment: slug, target: `environment/${slug}`, before: details, details });
    await emitEvent(deps, tx, ctx, { type: 'environment.hold_cleared', environment: slug, data: { release: hold.release, since: hold.since } });
  });
}

// ---------------------------------------------------------------------------------------------
// Figures

export function watchFigures(figures: Figures): WatchFigures {
  return { requests: figures.requests, errorRate: figures.errorRate, p95Ms: figures.p95Ms };
}

/** The target's gateway figures since the watch started (to its end), and the baseline's. */
export async function figuresOf(metrics: MetricsReader, watch: WatchRecord, now: Date): Promise<{ figures: WatchFigures; baseline: WatchFigures | null }> {
  const scope = { workspaceId: watch.workspaceId, environmentId: watch.environmentId, family: 'gateway' as const };
  const to = new Date(Math.min(now.getTime(), Date.parse(watch.endsAt)));
  const [current, baseline] = await Promise.all([
    metrics.figures({ ...scope, from: new Date(watch.startedAt), to }),
    watch.baselineFrom ? metrics.figures({ ...scope, from: new Date(watch.baselineFrom), to: new Date(watch.startedAt) }) : null,
  ]);
  return { figures: watchFigures(current), baseline: baseline && watchFigures(baseline) };
}

// ---------------------------------------------------------------------------------------------
// The watcher's use cases

/** What the alert channels are told of a breach (src/metrics/watches.ts notifyBreach). */
export interface BreachNotice {
  workspace: { id: string; slug: string };
  environment: { id: string; slug: string };
  watch: string;
  release: number;
  /** The release the rollback made (null when there was nothing to roll back to). */
  rollbackRelease: number | null;
  rolledBackTo: number | null;
  breach: Breach;
  figures: WatchFigures;
  baseline: WatchFigures | null;
  at: string;
}

/**
 * One check of a running watch: superseded once its release is no longer the head, breached
 * when the figures say so, passed once its time is up. Answers the breach it acted on, if any.
 */
export async function checkWatch(deps: Deps, metrics: MetricsReader, watch: WatchRecord): Promise<BreachNotice | null> {
  const env = await findEnvironmentById(deps.store.db, watch.workspaceId, watch.environmentId);
  if (!env) return null;
  const now = deps.now();
  const step = watchStep(watch, env.headRelease, now);
  if (step === 'superseded') {
    await systemTransaction(deps, watch, async (tx, ctx, locked, current) => {
      if (locked.headRelease !== current.release) await supersede(deps, tx, ctx, locked, current, `${locked.slug} moved to #${locked.headRelease}`);
    });
    return null;
  }
  const { figures, baseline } = await figuresOf(metrics, watch, now);
  const breach = findBreach(watch.thresholds, figures, baseline);
  if (breach) return breachWatch(deps, watch, { figures, baseline, breach });
  if (step === 'evaluate_and_end') {
    await systemTransaction(deps, watch, async (tx, ctx, locked, current) => {
      if (locked.headRelease !== current.release) return supersede(deps, tx, ctx, locked, current, `${locked.slug} moved to #${locked.headRelease}`);
      const outcome: WatchOutcome = { figures, baseline, breach: null, rollbackRelease: null };
      if (!(await endWatch(tx, current.workspaceId, current.id, 'passed', deps.now().toISOString(), outcome))) return;
      const details = { watch: current.id, release: current.release, figures, baseline };
      await record(deps, tx, ctx, { action: 'watch.pass', environment: locked.slug, target: `watch/${current.id}`, details });
      await emitEvent(deps, tx, ctx, { type: 'watch.passed', environment: locked.slug, data: details });
    });
  }
  return null;
}

/**
 * Rolls the environment back to the release before the watched one, holds it and ends the watch
 * as breached, in one transaction under the environment's lock. A frozen environment is rolled
 * back all the same (glass broken by the system, with its review item): a freeze must not keep
 * a failing release live.
 */
async function breachWatch(deps: Deps, watch: WatchRecord, found: { figures: WatchFigures; baseline: WatchFigures | null; breach: Breach }) {
  return systemTransaction(deps, watch, async (tx, ctx, env, current): Promise<BreachNotice | null> => {
    if (env.headRelease !== current.release) {
      await supersede(deps, tx, ctx, env, current, `${env.slug} moved to #${env.headRelease}`);
      return null;
    }
    const at = deps.now().toISOString();
    const { breach } = found;
    const because = `watch of ${releaseName(env, current.release)} breached: ${breach.message}`;
    let rollback: { number: number } | null = null;
    if (current.previousRelease > 0) {
      const earlier = await releaseOf(tx, env, current.previousRelease);
      rollback = await applyRollback(deps, tx, ctx, env, earlier, { message: because, breakGlass: { reason: because } });
    }
    const outcome: WatchOutcome = { ...found, rollbackRelease: rollback?.number ?? null };
    if (!(await endWatch(tx, current.workspaceId, current.id, 'breached', at, outcome))) return null;
    const details = {
      watch: current.id,
      release: current.release,
      rolledBackTo: rollback ? current.previousRelease : null,
      rollbackRelease: rollback?.number ?? null,
      breach,
      figures: found.figures,
      baseline: found.baseline,
    };
    await record(deps, tx, ctx, { action: 'watch.breach', environment: env.slug, target: `watch/${current.id}`, details });
    const hold = { since: at, reason: because, release: current.release };
    await putHold(tx, { workspaceId: env.workspaceId, environmentId: env.id, ...hold, watchId: current.id });
    await record(deps, tx, ctx, { action: 'hold.set', environment: env.slug, target: `environment/${env.slug}`, after: hold, details: { ...hold, watch: current.id } });
    await emitEvent(deps, tx, ctx, { type: 'watch.breached', environment: env.slug, data: details });
    await emitEvent(deps, tx, ctx, { type: 'environment.hold_set', environment: env.slug, data: { ...hold, watch: current.id } });
    return {
      workspace: { id: ctx.workspace.id, slug: ctx.workspace.slug },
      environment: { id: env.id, slug: env.slug },
      watch: current.id,
      release: current.release,
      rollbackRelease: rollback?.number ?? null,
      rolledBackTo: details.rolledBackTo,
      breach,
      figures: found.figures,
      baseline: found.baseline,
      at,
    };
  });
}

async function supersede(deps: Deps, tx: Db, ctx: CallContext, env: Environment, watch: WatchRecord, reason: string) {
  const outcome: WatchOutcome = { figures: null, baseline: null, breach: null, rollbackRelease: null, reason };
  if (!(await endWatch(tx, watch.workspaceId, watch.id, 'superseded', deps.now().toISOString(), outcome))) return;
  await record(deps, tx, ctx, { action: 'watch.supersede', environment: env.slug, target: `watch/${watch.id}`, details: { watch: watch.id, release: watch.release, reason } });
}

/**
 * Runs `work` as the system in one transaction holding the watched environment's lock, with the
 * watch re-read under it; skipped when the watch is gone or no longer running (another node).
 */
async function systemTransaction<T>(
  deps: Deps,
  watch: WatchRecord,
  work: (tx: Db, ctx: CallContext, env: Environment, current: WatchRecord) => Promise<T>,
): Promise<T | null> {
  const [workspace, env] = await Promise.all([findWorkspaceById(deps.store.db, watch.workspaceId), findEnvironmentById(deps.store.db, watch.workspaceId, watch.environmentId)]);
  if (!workspace || !env) return null;
  const ctx: CallContext = { workspace: { id: workspace.id, slug: workspace.slug, name: workspace.name }, actor: SYSTEM_ACTOR, requestId: null };
  return deps.store.transaction(async (tx) => {
    const locked = await lockedEnvironmentOf(deps, tx, ctx, env.slug);
    const current = await findWatch(tx, watch.workspaceId, watch.id);
    if (!current || current.status !== 'running') return null;
    return work(tx, ctx, locked, current);
  });
}

// ---------------------------------------------------------------------------------------------
// Reading

/** The environment's running watch (or its latest) with live figures vs thresholds and baseline. */
export async function watchOf(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const watch = await currentWatch(deps.store.db, scopeOf(env));
  if (!watch) throw notFound(`watch of ${slug}`);
  const now = deps.now();
  const live = watch.status === 'running' && deps.metrics ? await figuresOf(deps.metrics, watch, now) : null;
  const figures = live?.figures ?? watch.outcome?.figures ?? null;
  const baseline = live ? live.baseline : (watch.outcome?.baseline ?? null);
  return {
    id: watch.id,
    environment: env.slug,
    release: watch.release,
    previousRelease: watch.previousRelease,
    status: watch.status,
    startedAt: watch.startedAt,
    endsAt: watch.endsAt,
    endedAt: watch.endedAt,
    secondsLeft: watch.status === 'running' ? Math.max(0, Math.ceil((Date.parse(watch.endsAt) - now.getTime()) / 1000)) : 0,
    thresholds: { ...watch.thresholds, minRequests: MIN_REQUESTS },
    figures,
    baseline,
    // What the figures would breach now (running) or did breach (ended).
    breach: live ? (figures ? findBreach(watch.thresholds, figures, baseline) : null) : (watch.outcome?.breach ?? null),
    rollbackRelease: watch.outcome?.rollbackRelease ?? null,
    reason: watch.outcome?.reason ?? null,
  };
}
