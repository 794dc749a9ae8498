// Promotion gates of an environment: required CI checks of the source release, a manual
// checklist, a minimum soak time in the source, and whether a request applies by itself once
// every gate has passed. Also the CI checks reported on releases, the state of a request's
// gates, and the periodic sweep that applies requests whose soak time ran out.
import type { FastifyBaseLogger } from 'fastify';
import { authorize, SYSTEM_ACTOR } from '../domain/auth/permissions.js';
import type { Environment } from '../domain/environments/chain.js';
import { evaluateGates, isGated, latestChecks, type CheckStatus, type Gate, type SoakFacts } from '../domain/releases/gates.js';
import type { Db } from '../store/database.js';
import { findEnvironmentById } from '../store/environments.js';
import { findGates, insertCheck, listChecks, listTicks, pendingGatedRequests, pendingRequestsOfSource, saveGates, type CheckRecord } from '../store/gates.js';
import { acquireLease } from '../store/leases.js';
import type { PromotionRequest } from '../store/promotion-requests.js';
import { findRelease, type Release } from '../store/releases.js';
import { findWorkspaceById } from '../store/workspaces.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps, type WorkspaceRef } from './context.js';
import { emitEvent } from './events.js';
import { advanceRequest } from './promotion-requests.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';
import { releaseName, releaseOf } from './snapshots.js';
import { holdOf, type Hold, type WatchInput } from './watches.js';

export interface GateConfig {
  checks: string[];
  checklist: string[];
  soakMinutes: number;
  autoApply: boolean;
  /** The watch a promotion into this environment gets when it names none. */
  watch: WatchInput | null;
}

/**
 * The environment's gates, or null when it has none set. A config may hold only a default
 * watch: `isGated` (src/domain/releases/gates.ts) says whether promotions into it wait.
 */
export async function gatesOf(db: Db, target: Environment): Promise<GateConfig | null> {
  const stored = await findGates(db, { workspaceId: target.workspaceId, environmentId: target.id });
  if (!stored) return null;
  const { updatedAt: _, ...config } = stored;
  return config;
}

const UNGATED: GateConfig = { checks: [], checklist: [], soakMinutes: 0, autoApply: false, watch: null };

function gatesView(env: Environment, config: GateConfig | null) {
  const gates = config ?? UNGATED;
  return { environment: env.slug, gated: isGated(gates), ...gates };
}

export async function getGates(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  return gatesView(env, await gatesOf(deps.store.db, env));
}

/** Replaces an environment's gates (all empty, no soak and no watch removes them). */
export async function setGates(deps: Deps, ctx: CallContext, slug: string, input: GateConfig) {
  authorize(ctx.actor, 'environment.manage', slug);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const before = await gatesOf(tx, env);
    const empty = !isGated(input) && !input.autoApply && input.watch === null;
    await saveGates(tx, { workspaceId: env.workspaceId, environmentId: env.id }, empty ? null : { ...input, updatedAt: deps.now().toISOString() });
    const after = empty ? null : input;
    await record(deps, tx, ctx, {
      action: 'gate.update',
      environment: slug,
      target: `environment/${slug}/gates`,
      before,
      after,
      details: { checks: input.checks, checklist: input.checklist, soakMinutes: input.soakMinutes, autoApply: input.autoApply, watch: input.watch },
    });
    await emitEvent(deps, tx, ctx, { type: 'gate.changed', environment: slug, data: { gated: isGated(input), checks: input.checks, checklist: input.checklist, soakMinutes: input.soakMinutes, autoApply: input.autoApply } });
    return gatesView(env, after);
  });
}

// ---------------------------------------------------------------------------------------------
// CI checks on releases

function checkView(env: Environment, check: CheckRecord) {
  return {
    id: check.id,
    environment: env.slug,
    release: check.release,
    name: check.name,
    status: check.status,
    url: check.url,
    summary: check.summary,
    reportedBy: check.reportedBy,
    at: check.at,
  };
}

/**
 * Records CI's report on release `number` of an environment, then re-evaluates the promotion
 * requests whose source is that release: the report that passes their last gate applies them.
 */
export async function reportCheck(
  deps: Deps,
  ctx: CallContext,
  slug: string,
  number: number,
  input: { name: string; status: CheckStatus; url?: string; summary?: string },
) {
  authorize(ctx.actor, 'checks.report', slug);
  return deps.store.transaction(async (tx) => {
    // The source's lock orders the reports of its releases (their seq).
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    await releaseOf(tx, env, number);
    // The targets this report may apply into are locked before the audit entry locks the
    // workspace row, which every mutation takes last.
    const waiting = await pendingRequestsOfSource(tx, env.workspaceId, env.id, number);
    const targets = [...new Set(waiting.map((r) => r.environmentId))].sort();
    for (const id of targets) {
      const target = await findEnvironmentById(tx, env.workspaceId, id);
      if (target) await lockedEnvironmentOf(deps, tx, ctx, target.slug);
    }
    const check = await insertCheck(tx, { workspaceId: env.workspaceId, environmentId: env.id }, {
      id: newId('chk'),
      release: number,
      name: input.name,
      status: input.status,
      url: input.url ?? null,
      summary: input.summary ?? null,
      reportedBy: { id: ctx.actor.id, name: ctx.actor.name },
      at: deps.now().toISOString(),
    });
    await record(deps, tx, ctx, {
      action: 'release.check',
      environment: slug,
      target: `release/${releaseName(env, number)}`,
      details: { release: number, name: input.name, status: input.status, ...(input.url ? { url: input.url } : {}) },
    });
    const applied = [];
    for (const { id } of waiting) {
      const release = await advanceRequest(deps, tx, ctx.workspace, id, `check ${input.name} ${input.status}`, ctx.requestId);
      if (release) applied.push({ request: id, release: release.name });
    }
    return { ...checkView(env, check), applied };
  });
}

/** The latest report of each check name on a release, and every report. */
export async function listReleaseChecks(deps: Deps, ctx: CallContext, slug: string, number: number) {
  authorize(ctx.actor, 'resource.read', slug);
  const db = deps.store.db;
  const env = await environmentOf(db, ctx, slug);
  await releaseOf(db, env, number);
  const history = await listChecks(db, { workspaceId: env.workspaceId, environmentId: env.id }, number);
  const latest = latestChecks(history);
  return {
    data: [...latest.values()].sort((a, b) => a.seq - b.seq).map((c) => checkView(env, c)),
    history: history.map((c) => checkView(env, c)),
  };
}

// ---------------------------------------------------------------------------------------------
// The state of a promotion's gates

/** How long `release` has run in `source`, and whether an alert fired there meanwhile. */
async function soakFacts(deps: Deps, db: Db, source: Environment, release: Release): Promise<SoakFacts> {
  const next = await findRelease(db, source.workspaceId, source.id, release.number + 1);
  // Without an alerting part on this node, no alert fires.
  const alerts = deps.alerts ? await deps.alerts.firing(source.workspaceId, source.id, new Date(release.createdAt), db) : null;
  return { since: release.createdAt, replacedAt: next?.createdAt ?? null, alerted: alerts !== null && (alerts.firedSince || alerts.now.length > 0) };
}

export interface GateStatus {
  gates: Gate[];
  hold: Hold | null;
  config: GateConfig | null;
}

/**
 * The gates of promoting `release` of `source` into `target` with `approvals` given of
 * `approvalsRequired`, and `ticks` of the request's checklist (none for a plan). A rollback
 * waits for approvals only.
 */
export async function gateStatus(
  deps: Deps,
  db: Db,
  target: Environment,
  promotion: { kind: 'promotion' | 'rollback'; source: Environment | null; release: Release | null; approvalsRequired: number; approvals: number; ticks: Map<string, { done: boolean; by: string }> },
): Promise<GateStatus> {
  const approvals = { required: promotion.approvalsRequired, given: promotion.approvals };
  if (promotion.kind === 'rollback') return { gates: evaluateGates(null, { approvals, checks: [], ticks: new Map(), soak: null, hold: null, now: deps.now() }), hold: null, config: null };
  const config = await gatesOf(db, target);
  const gated = isGated(config) ? config : null;
  const { source, release } = promotion;
  const checks = gated && gated.checks.length > 0 && source && release ? await listChecks(db, { workspaceId: source.workspaceId, environmentId: source.id }, release.number) : [];
  const soak = gated && gated.soakMinutes > 0 && source && release ? await soakFacts(deps, db, source, release) : null;
  const hold = await holdOf(db, target);
  const gates = evaluateGates(gated, { approvals, checks, ticks: promotion.ticks, soak, hold, now: deps.now() });
  return { gates, hold, config };
}

/** The gates of a stored request, with its approvals and checklist ticks. */
export async function requestGateStatus(deps: Deps, db: Db, target: Environment, request: PromotionRequest, approvals: number): Promise<GateStatus> {
  const source = request.kind === 'promotion' ? ((await findEnvironmentById(db, request.workspaceId, request.sourceEnvironmentId)) ?? null) : null;
  const release = source ? ((await findRelease(db, source.workspaceId, source.id, request.sourceRelease)) ?? null) : null;
  const ticks = new Map<string, { done: boolean; by: string }>();
  for (const tick of (await listTicks(db, request.workspaceId, [request.id])).get(request.id) ?? []) ticks.set(tick.item, { done: tick.done, by: tick.actor.name });
  return gateStatus(deps, db, target, { kind: request.kind, source, release, approvalsRequired: request.approvalsRequired, approvals, ticks });
}

// ---------------------------------------------------------------------------------------------
// The sweep: soak time runs out without anyone calling

export const GATES_LEASE = 'gates';

/**
 * Re-evaluates every pending request into an autoApply environment on the node holding the `gates`
 * lease, applying those whose last gate passed (soak time ran out, a hold was cleared) and that
 * apply by themselves. Each request in its own transaction, so one failing does not stop the rest.
 */
export async function sweepGates(deps: Deps, holder: string, leaseMs: number, logger?: FastifyBaseLogger): Promise<string[]> {
  if (!(await acquireLease(deps.store.db, GATES_LEASE, holder, deps.now(), leaseMs))) return [];
  const applied: string[] = [];
  const workspaces = new Map<string, WorkspaceRef | null>();
  for (const { workspaceId, id } of await pendingGatedRequests(deps.store.db, 500)) {
    if (!workspaces.has(workspaceId)) {
      const found = await findWorkspaceById(deps.store.db, workspaceId);
      workspaces.set(workspaceId, found ? { id: found.id, slug: found.slug, name: found.name } : null);
    }
    const workspace = workspaces.get(workspaceId);
    if (!workspace) continue;
    try {
      const release = await deps.store.transaction((tx) => advanceRequest(deps, tx, workspace, id, 'gate sweep', null));
      if (release) applied.push(id);
    } catch (error) {
      logger?.error({ err: error, request: id }, 'gate sweep could not advance a promotion request');
    }
  }
  return applied;
}

/** The context an automatic application runs in: the system actor, recorded as such in the audit log. */
export function systemContext(workspace: WorkspaceRef, requestId: string | null): CallContext {
  return { workspace, actor: SYSTEM_ACTOR, requestId };
}
