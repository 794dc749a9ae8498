// Promotion requests: a promotion (or merge) into a protected environment, or a rollback of one
// that asks for approvals of rollbacks, waits with its plan for approvals from members allowed
// to do it there other than the requester. The last approval applies it, unless what the plan
// showed no longer holds: then the request is stale.
import { authorize, type Permission } from '../domain/auth/permissions.js';
import { decodeCursor, encodeCursor, TIME_POSITION } from '../domain/cursor.js';
import { approvalsNeeded, type Environment } from '../domain/environments/chain.js';
import { conflict, notFound, StagelineError } from '../domain/errors.js';
import { approve, assertPending } from '../domain/releases/approvals.js';
import type { Db } from '../store/database.js';
import { findEnvironmentById } from '../store/environments.js';
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
import { newId, type CallContext, type Deps } from './context.js';
import { applyPlan, applyRollback, assertResolvable, planPromotion, planRollback, planView, type Plan, type PlanInput } from './promotion-plan.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';
import { releaseName } from './snapshots.js';

export type { RequestStatus } from '../store/promotion-requests.js';

/** What a request remembers of what was asked, to plan it again when approved. */
interface StoredInput {
  from: string;
  release: number;
  resources?: string[];
  message?: string;
  force?: boolean;
  resolutions?: PlanInput['resolutions'];
}

/** Deciding on a request takes the permission its kind needs in the target. */
function decisionPermission(request: PromotionRequest): Permission {
  return request.kind === 'rollback' ? 'release.rollback' : 'release.promote';
}

function requestView(request: PromotionRequest, decisions: Decision[], target: string) {
  const input = request.input as unknown as StoredInput;
  const approvals = decisions.filter((d) => d.decision === 'approve');
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
  };
}

/** Records a promotion (or a rollback) into a protected environment as a request holding its plan. */
export async function openPromotionRequest(deps: Deps, tx: Db, ctx: CallContext, plan: Plan, input: PlanInput) {
  const stored: StoredInput = {
    from: plan.source.slug,
    release: plan.sourceRelease.number,
    ...(input.resources ? { resources: input.resources } : {}),
    ...(input.message !== undefined ? { message: input.message } : {}),
    ...(input.force ? { force: true } : {}),
    ...(input.resolutions ? { resolutions: input.resolutions } : {}),
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
    approvalsRequired: approvalsNeeded(plan.target),
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
  return { request: requestView(request, [], plan.target.slug) };
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
  const slugs = new Map<string, string>();
  for (const request of page) {
    if (!slugs.has(request.environmentId)) slugs.set(request.environmentId, (await findEnvironmentById(db, ctx.workspace.id, request.environmentId))?.slug ?? '?');
  }
  const last = page[page.length - 1];
  return {
    data: page.map((request) => requestView(request, decisions.filter((d) => d.requestId === request.id), slugs.get(request.environmentId)!)),
    next: requests.length > limit && last ? encodeCursor({ at: last.createdAt, id: last.id }) : null,
  };
}

export async function getPromotionRequest(deps: Deps, ctx: CallContext, id: string) {
  const { request, target } = await requestOf(deps.store.db, ctx, id);
  authorize(ctx.actor, 'resource.read', target.slug);
  return requestView(request, await listDecisions(deps.store.db, ctx.workspace.id, [request.id]), target.slug);
}

/**
 * Approves a pending request. The approval that reaches the required count applies the
 * promotion (or rollback), after re-planning it: a plan whose hash changed (the target moved,
 * or a reference resolves differently) marks the request stale instead.
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
    const { approvals: count, complete } = approve({ ...request, requestedBy: request.requestedBy.id, approvedBy: approvals.map((a) => a.actor.id) }, ctx.actor.id, input.planHash);
    const at = deps.now().toISOString();
    await insertDecision(tx, ctx.workspace.id, { requestId: request.id, actor: { id: ctx.actor.id, name: ctx.actor.name }, decision: 'approve', comment: input.comment ?? null, at });
    await record(deps, tx, ctx, {
      action: 'promotion_request.approve',
      environment: target.slug,
      target: `promotion-request/${request.id}`,
      details: { request: request.id, approvals: count, approvalsRequired: request.approvalsRequired, ...(input.comment ? { comment: input.comment } : {}) },
    });
    if (!complete) return { applied: null, stale: null };

    const replanned = await replan(tx, target, request);
    if ('reason' in replanned) {
      await settlePromotionRequest(tx, ctx.workspace.id, request.id, { status: 'stale', decidedAt: at, reason: replanned.reason });
      await record(deps, tx, ctx, { action: 'promotion_request.stale', environment: target.slug, target: `promotion-request/${request.id}`, details: { request: request.id, reason: replanned.reason } });
      return { applied: null, stale: replanned.reason };
    }
    const stored = request.input as unknown as StoredInput;
    const approval = { id: request.id, approvers: [...approvals.map((a) => a.actor.id), ctx.actor.id] };
    const options = { ...(stored.message !== undefined ? { message: stored.message } : {}), ...(input.breakGlass ? { breakGlass: input.breakGlass } : {}), request: approval };
    const applied =
      replanned.plan.kind === 'rollback'
        ? await applyRollback(deps, tx, ctx, target, replanned.plan.sourceRelease, options)
        : await applyPlan(deps, tx, ctx, replanned.plan, { ...options, ...(stored.resources ? { resources: stored.resources } : {}) });
    await settlePromotionRequest(tx, ctx.workspace.id, request.id, { status: 'applied', decidedAt: at, release: applied.number });
    return { applied, stale: null };
  });
  if (outcome.stale) {
    throw conflict('request_stale', `promotion request ${id} is stale: ${outcome.stale}`, [{ request: id }]);
  }
  return { request: await getPromotionRequest(deps, ctx, id), ...(outcome.applied ? { release: outcome.applied } : {}) };
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
  });
  return getPromotionRequest(deps, ctx, id);
}
