// Promotion requests: a promotion (or merge) into a protected or gated environment, or a rollback
// of one that asks for approvals of rollbacks, waits with its plan for its gates: approvals from
// members allowed to do it there other than the requester, CI checks, checklist items, soak time.
// The approval, check, tick or sweep that passes the last gate applies it (by itself only where
// the gates say autoApply), unless what the plan showed no longer holds: then the request is stale.
import { authorize, type Permission } from '../domain/auth/permissions.js';
import { decodeCursor, encodeCursor, TIME_POSITION } from '../domain/cursor.js';
import { approvalsNeeded, type Environment } from '../domain/environments/chain.js';
import { conflict, invalid, notFound, StagelineError } from '../domain/errors.js';
import { approve, assertPending } from '../domain/releases/approvals.js';
import { verdict } from '../domain/releases/gates.js';
import type { Db } from '../store/database.js';
import { findEnvironmentById, lockEnvironment } from '../store/environments.js';
import { saveTick } from '../store/gates.js';
import {
  findPromotionRequest,
  insertDecision,
  insertPromotionRequest,
  listDecisions,
  listPromotionRequests as listRequests,
  settlePromotionRequest,
  type Decision,
  type PromotionRequest,
  type RequestStatus,
} from '../store/promotion-requests.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps, type WorkspaceRef } from './context.js';
import { emitEvent } from './events.js';
import { gatesOf, requestGateStatus, systemContext, type GateConfig, type GateStatus } from './gates.js';
import { applyPlan, applyRollback, assertResolvable, planPromotion, planRollback, planView, type Plan, type PlanInput } from './promotion-plan.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';
import { releaseName } from './snapshots.js';
import { startWatch, type WatchInput } from './watches.js';

export type { RequestStatus } from '../store/promotion-requests.js';

/** What a request remembers of what was asked, to plan it again when approved. */
interface StoredInput {
  from: string;
  release: number;
  resources?: string[];
  message?: string;
  force?: boolean;
  resolutions?: PlanInput['resolutions'];
  /** The promotion's own watch; null: none, even where the gates name a default one. */
  watch?: WatchInput | null;
}

/** Deciding on a request takes the permission its kind needs in the target. */
function decisionPermission(request: PromotionRequest): Permission {
  return request.kind === 'rollback' ? 'release.rollback' : 'release.promote';
}

function requestView(request: PromotionRequest, decisions: Decision[], target: string, status: GateStatus) {
  const input = request.input as unknown as StoredInput;
  const approvals = decisions.filter((d) => d.decision === 'approve');
  const state = verdict(status.gates);
  return {
    id: request.id,
    kind: request.kind,
    environment: target,
    status: request.status,
    source: { environment: input.from, release: request.sourceRelease, name: releaseName({ slug: input.from }, request.sourceRelease) },
    targetRelease: request.targetRelease,
    resources: input.resources ?? 'all',
    message: input.message ?? null,
    planHash: request.planHash,
    plan: request.plan,
    approvalsRequired: request.approvalsRequired,
    approvals: approvals.map((a) => ({ actor: a.actor, comment: a.comment, at: a.at })),
    rejectedBy: decisions.find((d) => d.decision === 'reject')?.actor ?? null,
    requestedBy: request.requestedBy,
    createdAt: request.createdAt,
    decidedAt: request.decidedAt,
    reason: request.reason,
    release: request.release !== null ? { number: request.release, name: releaseName({ slug: target }, request.release) } : null,
    gates: status.gates,
    /** passed: every gate passed; failed: a gate failed and the request waits until it passes again. */
    gateState: state,
    /** A pending request with a failed gate: it applies only once that gate passes again. */
    blocked: request.status === 'pending' && state === 'failed',
    autoApply: request.kind === 'promotion' && (status.config?.autoApply ?? false),
    watch: input.watch ?? null,
    hold: status.hold,
  };
}

async function viewOf(deps: Deps, db: Db, request: PromotionRequest, decisions: Decision[], target: Environment) {
  const status = await requestGateStatus(deps, db, target, request, decisions.filter((d) => d.decision === 'approve').length);
  return requestView(request, decisions, target.slug, status);
}

/**
 * Approvals a request needs: a protected target's (or a rollback's) as set on it; a target only
 * gated needs none when its requests apply by themselves, else the approve that applies it.
 */
function approvalsFor(plan: Plan, gates: GateConfig | null): number {
  if (plan.kind === 'rollback' || plan.target.protected) return approvalsNeeded(plan.target);
  return gates?.autoApply ? 0 : 1;
}

/**
 * Records a promotion (or a rollback) into a protected or gated environment as a request holding
 * its plan; one whose gates have all passed already and that applies by itself is applied at once.
 */
export async function openPromotionRequest(deps: Deps, tx: Db, ctx: CallContext, plan: Plan, input: PlanInput & { watch?: WatchInput | null }) {
  const gates = plan.kind === 'rollback' ? null : await gatesOf(tx, plan.target);
  const stored: StoredInput = {
    from: plan.source.slug,
    release: plan.sourceRelease.number,
    ...(input.resources ? { resources: input.resources } : {}),
    ...(input.message !== undefined ? { message: input.message } : {}),
    ...(input.force ? { force: true } : {}),
    ...(input.resolutions ? { resolutions: input.resolutions } : {}),
    ...(input.watch !== undefined ? { watch: input.watch } : {}),
  };
  const request: PromotionRequest = {
    id: newId('prq'),
    workspaceId: plan.target.workspaceId,
    environmentId: plan.target.id,
    kind: plan.kind === 'rollback' ? 'rollback' : 'promotion',
    sourceEnvironmentId: plan.source.id,
    sourceRelease: plan.sourceRelease.number,
    targetRelease: plan.target.headRelease,
    input: { ...stored },
    plan: await planView(tx, plan),
    planHash: plan.hash,
    status: 'pending',
    approvalsRequired: approvalsFor(plan, gates),
    requestedBy: { id: ctx.actor.id, name: ctx.actor.name },
    createdAt: deps.now().toISOString(),
    decidedAt: null,
    reason: null,
    release: null,
  };
  await insertPromotionRequest(tx, request);
  await record(deps, tx, ctx, {
    action: 'promotion_request.create',
    environment: plan.target.slug,
    target: `promotion-request/${request.id}`,
    after: { planHash: request.planHash },
    details: {
      request: request.id,
      kind: plan.kind,
      source: releaseName(plan.source, plan.sourceRelease.number),
      targetRelease: request.targetRelease,
      resources: input.resources ?? 'all',
      approvalsRequired: request.approvalsRequired,
      planHash: request.planHash,
    },
  });
  await emitEvent(deps, tx, ctx, {
    type: 'promotion_request.created',
    environment: plan.target.slug,
    data: { request: request.id, kind: request.kind, source: releaseName(plan.source, plan.sourceRelease.number), approvalsRequired: request.approvalsRequired },
  });
  const release = await advanceLocked(deps, tx, ctx.workspace, plan.target, request, 'request opened', ctx.requestId);
  const current = release ? (await findPromotionRequest(tx, ctx.workspace.id, request.id))! : request;
  return { request: await viewOf(deps, tx, current, [], plan.target), ...(release ? { release } : {}) };
}

async function requestOf(db: Db, ctx: CallContext, id: string) {
  const request = await findPromotionRequest(db, ctx.workspace.id, id);
  if (!request) throw notFound(`promotion request ${id}`);
  const target = await findEnvironmentById(db, ctx.workspace.id, request.environmentId);
  if (!target) throw notFound(`promotion request ${id}`);
  return { request, target };
}

export async function listPromotionRequests(
  deps: Deps,
  ctx: CallContext,
  filter: { status?: RequestStatus; environment?: string },
  cursor: string | undefined,
  limit: number,
) {
  authorize(ctx.actor, 'workspace.read');
  const position = decodeCursor(cursor, TIME_POSITION);
  const after = position && { createdAt: position.at, id: position.id };
  const db = deps.store.db;
  const env = filter.environment ? await environmentOf(db, ctx, filter.environment) : undefined;
  const requests = await listRequests(db, ctx.workspace.id, { ...(filter.status ? { status: filter.status } : {}), ...(env ? { environmentId: env.id } : {}) }, after, limit + 1);
  const page = requests.slice(0, limit);
  const decisions = await listDecisions(db, ctx.workspace.id, page.map((r) => r.id));
  const targets = new Map<string, Environment | undefined>();
  const data = [];
  for (const request of page) {
    if (!targets.has(request.environmentId)) targets.set(request.environmentId, await findEnvironmentById(db, ctx.workspace.id, request.environmentId));
    const target = targets.get(request.environmentId);
    if (target) data.push(await viewOf(deps, db, request, decisions.filter((d) => d.requestId === request.id), target));
  }
  const last = page[page.length - 1];
  return {
    data,
    next: requests.length > limit && last ? encodeCursor({ at: last.createdAt, id: last.id }) : null,
  };
}

export async function getPromotionRequest(deps: Deps, ctx: CallContext, id: string) {
  const { request, target } = await requestOf(deps.store.db, ctx, id);
  authorize(ctx.actor, 'resource.read', target.slug);
  return viewOf(deps, deps.store.db, request, await listDecisions(deps.store.db, ctx.workspace.id, [request.id]), target);
}

/**
 * Approves a pending request. The approval that reaches the required count applies the
 * promotion (or rollback) once every other gate has passed, after re-planning it: a plan whose
 * hash changed (the target moved, or a reference resolves differently) marks the request stale
 * instead. An approval before the other gates pass is recorded and the request stays pending;
 * once they pass, an approver approving again applies it.
 */
export async function approvePromotionRequest(
  deps: Deps,
  ctx: CallContext,
  id: string,
  input: { comment?: string; planHash?: string; breakGlass?: { reason: string } },
) {
  const outcome = await deps.store.transaction(async (tx) => {
    const found = await requestOf(tx, ctx, id);
    authorize(ctx.actor, decisionPermission(found.request), found.target.slug);
    // Every decision on a request runs under its target's lock, like promotions into it.
    const target = await lockedEnvironmentOf(deps, tx, ctx, found.target.slug);
    const request = (await findPromotionRequest(tx, ctx.workspace.id, id))!;
    const approvals = (await listDecisions(tx, ctx.workspace.id, [request.id])).filter((d) => d.decision === 'approve');
    const approvers = approvals.map((a) => a.actor.id);
    const state = { ...request, requestedBy: request.requestedBy.id, approvedBy: approvers };
    // An approver who already approved a request that waited for its other gates applies it now.
    const again = approvers.includes(ctx.actor.id) && approvers.length >= request.approvalsRequired;
    let count = approvers.length;
    if (again) {
      assertPending(request);
      if (input.planHash !== undefined && input.planHash !== request.planHash) {
        throw conflict('plan_mismatch', `promotion request ${request.id} holds plan ${request.planHash}, not ${input.planHash}`, [{ field: 'planHash', expected: request.planHash }]);
      }
    } else {
      count = approve(state, ctx.actor.id, input.planHash).approvals;
      approvers.push(ctx.actor.id);
      await insertDecision(tx, ctx.workspace.id, { requestId: request.id, actor: { id: ctx.actor.id, name: ctx.actor.name }, decision: 'approve', comment: input.comment ?? null, at: deps.now().toISOString() });
      await record(deps, tx, ctx, {
        action: 'promotion_request.approve',
        environment: target.slug,
        target: `promotion-request/${request.id}`,
        details: { request: request.id, approvals: count, approvalsRequired: request.approvalsRequired, ...(input.comment ? { comment: input.comment } : {}) },
      });
      await emitEvent(deps, tx, ctx, { type: 'promotion_request.approved', environment: target.slug, data: { request: request.id, approvals: count, approvalsRequired: request.approvalsRequired } });
    }
    const status = await requestGateStatus(deps, tx, target, request, count);
    if (verdict(status.gates) !== 'passed') {
      if (again) {
        throw conflict('already_approved', `you have already approved promotion request ${request.id}; it waits for its gates: ${waitingFor(status)}`, status.gates.filter((g) => g.state !== 'passed'));
      }
      return { applied: null, stale: null };
    }
    return applyRequest(deps, tx, ctx, target, request, approvers, status.config, input.breakGlass ? { breakGlass: input.breakGlass } : {});
  });
  if (outcome.stale) {
    throw conflict('request_stale', `promotion request ${id} is stale: ${outcome.stale}`, [{ request: id }]);
  }
  return { request: await getPromotionRequest(deps, ctx, id), ...(outcome.applied ? { release: outcome.applied } : {}) };
}

function waitingFor(status: GateStatus): string {
  return status.gates
    .filter((g) => g.state !== 'passed')
    .map((g) => `${g.type} ${g.name} ${g.state}`)
    .join(', ');
}

/**
 * Applies a request whose gates have all passed, under its target's lock: re-planned (stale when
 * its plan no longer holds), applied, settled, and followed by the watch its promotion asked for
 * (or the target's default watch).
 */
async function applyRequest(
  deps: Deps,
  tx: Db,
  ctx: CallContext,
  target: Environment,
  request: PromotionRequest,
  approvers: string[],
  gates: GateConfig | null,
  options: { breakGlass?: { reason: string }; trigger?: string },
): Promise<{ applied: Awaited<ReturnType<typeof applyRollback>> | null; stale: string | null }> {
  const at = deps.now().toISOString();
  const replanned = await replan(tx, target, request);
  if ('reason' in replanned) {
    await settlePromotionRequest(tx, ctx.workspace.id, request.id, { status: 'stale', decidedAt: at, reason: replanned.reason });
    await record(deps, tx, ctx, { action: 'promotion_request.stale', environment: target.slug, target: `promotion-request/${request.id}`, details: { request: request.id, reason: replanned.reason } });
    return { applied: null, stale: replanned.reason };
  }
  const stored = request.input as unknown as StoredInput;
  const approval = { id: request.id, approvers };
  const applyOptions = { ...(stored.message !== undefined ? { message: stored.message } : {}), ...(options.breakGlass ? { breakGlass: options.breakGlass } : {}), request: approval };
  const applied =
    replanned.plan.kind === 'rollback'
      ? await applyRollback(deps, tx, ctx, target, replanned.plan.sourceRelease, applyOptions)
      : await applyPlan(deps, tx, ctx, replanned.plan, { ...applyOptions, ...(stored.resources ? { resources: stored.resources } : {}) });
  await settlePromotionRequest(tx, ctx.workspace.id, request.id, { status: 'applied', decidedAt: at, release: applied.number });
  if (options.trigger) {
    await record(deps, tx, ctx, {
      action: 'promotion_request.auto_apply',
      environment: target.slug,
      target: `promotion-request/${request.id}`,
      details: { request: request.id, release: applied.number, trigger: options.trigger, approvers },
    });
  }
  await emitEvent(deps, tx, ctx, { type: 'promotion_request.applied', environment: target.slug, data: { request: request.id, kind: request.kind, release: applied.number } });
  if (request.kind === 'promotion') {
    const watch = stored.watch !== undefined ? stored.watch : (gates?.watch ?? null);
    if (watch) await startWatch(deps, tx, ctx, target, applied.number, target.headRelease, watch);
  }
  return { applied, stale: null };
}

/**
 * Re-evaluates a request whose gates may have changed (a check reported, an item ticked, soak
 * time run out) in the caller's transaction, under its target's lock, and applies it as the
 * system when every gate has passed and its target's gates apply by themselves. Answers the
 * release it made, or null. The lock and the status read under it apply a request exactly once,
 * however many nodes race for it.
 */
export async function advanceRequest(deps: Deps, tx: Db, workspace: WorkspaceRef, id: string, trigger: string, requestId: string | null) {
  const found = await findPromotionRequest(tx, workspace.id, id);
  if (!found || found.status !== 'pending') return null;
  const target = await findEnvironmentById(tx, workspace.id, found.environmentId);
  if (!target) return null;
  const locked = await lockEnvironment(deps.store, tx, workspace.id, target.slug);
  const request = await findPromotionRequest(tx, workspace.id, id);
  if (!locked || !request || request.status !== 'pending') return null;
  return advanceLocked(deps, tx, workspace, locked, request, trigger, requestId);
}

async function advanceLocked(deps: Deps, tx: Db, workspace: WorkspaceRef, target: Environment, request: PromotionRequest, trigger: string, requestId: string | null) {
  if (request.kind !== 'promotion') return null;
  const approvals = (await listDecisions(tx, workspace.id, [request.id])).filter((d) => d.decision === 'approve');
  const status = await requestGateStatus(deps, tx, target, request, approvals.length);
  if (!status.config?.autoApply || verdict(status.gates) !== 'passed') return null;
  try {
    const { applied } = await applyRequest(deps, tx, systemContext(workspace, requestId), target, request, approvals.map((a) => a.actor.id), status.config, { trigger });
    return applied;
  } catch (error) {
    // A freeze refuses before anything is written: the request waits, and the sweep tries again after it.
    if (error instanceof StagelineError && error.code === 'environment_frozen') return null;
    throw error;
  }
}

/** Ticks (or unticks) an item of the target's checklist on a pending request; the last gate to pass applies it where the gates say so. */
export async function tickChecklist(deps: Deps, ctx: CallContext, id: string, input: { item: string; done: boolean }) {
  const release = await deps.store.transaction(async (tx) => {
    const found = await requestOf(tx, ctx, id);
    authorize(ctx.actor, 'release.promote', found.target.slug);
    const target = await lockedEnvironmentOf(deps, tx, ctx, found.target.slug);
    const request = (await findPromotionRequest(tx, ctx.workspace.id, id))!;
    assertPending(request);
    const gates = request.kind === 'promotion' ? await gatesOf(tx, target) : null;
    if (!gates || !gates.checklist.includes(input.item)) {
      throw invalid([{ field: 'item', message: `${target.slug} has no checklist item ${JSON.stringify(input.item)}`, in: 'body' }]);
    }
    const at = deps.now().toISOString();
    await saveTick(tx, { workspaceId: target.workspaceId, environmentId: target.id }, request.id, { item: input.item, done: input.done, actor: { id: ctx.actor.id, name: ctx.actor.name }, at });
    await record(deps, tx, ctx, {
      action: 'promotion_request.checklist',
      environment: target.slug,
      target: `promotion-request/${request.id}`,
      details: { request: request.id, item: input.item, done: input.done },
    });
    return advanceLocked(deps, tx, ctx.workspace, target, request, `checklist ${input.item}`, ctx.requestId);
  });
  return { request: await getPromotionRequest(deps, ctx, id), ...(release ? { release } : {}) };
}

/** Plans the request again under the target's lock; its hash must be the one approved. */
async function replan(tx: Db, target: Environment, request: PromotionRequest): Promise<{ plan: Plan } | { reason: string }> {
  const again = request.kind === 'rollback' ? 'roll back' : 'promote';
  if (target.headRelease !== request.targetRelease) {
    return { reason: `${target.slug} moved from #${request.targetRelease} to #${target.headRelease} since the plan: ${again} again to re-plan` };
  }
  const stored = request.input as unknown as StoredInput;
  let plan: Plan;
  try {
    if (request.kind === 'rollback') {
      plan = await planRollback(tx, target, request.sourceRelease);
    } else {
      const source = await findEnvironmentById(tx, target.workspaceId, request.sourceEnvironmentId);
      if (!source) return { reason: 'the source environment no longer exists' };
      plan = await planPromotion(tx, target, source, { ...stored, release: request.sourceRelease });
      assertResolvable(target, plan.missing, stored.force);
    }
  } catch (error) {
    if (error instanceof StagelineError && error.status === 409) return { reason: error.message };
    throw error;
  }
  if (plan.hash !== request.planHash) {
    return { reason: `what the plan resolves to changed since it was made (a variable, a secret or the branch): ${again} again to re-plan` };
  }
  return { plan };
}

export async function rejectPromotionRequest(deps: Deps, ctx: CallContext, id: string, input: { reason: string }) {
  await deps.store.transaction(async (tx) => {
    const found = await requestOf(tx, ctx, id);
    authorize(ctx.actor, decisionPermission(found.request), found.target.slug);
    const target = await lockedEnvironmentOf(deps, tx, ctx, found.target.slug);
    const request = (await findPromotionRequest(tx, ctx.workspace.id, id))!;
    assertPending(request);
    const at = deps.now().toISOString();
    await insertDecision(tx, ctx.workspace.id, { requestId: request.id, actor: { id: ctx.actor.id, name: ctx.actor.name }, decision: 'reject', comment: input.reason, at });
    await settlePromotionRequest(tx, ctx.workspace.id, request.id, { status: 'rejected', decidedAt: at, reason: input.reason });
    await record(deps, tx, ctx, {
      action: 'promotion_request.reject',
      environment: target.slug,
      target: `promotion-request/${request.id}`,
      details: { request: request.id, reason: input.reason, byRequester: ctx.actor.id === request.requestedBy.id },
    });
    await emitEvent(deps, tx, ctx, { type: 'promotion_request.rejected', environment: target.slug, data: { request: request.id } });
  });
  return getPromotionRequest(deps, ctx, id);
}
