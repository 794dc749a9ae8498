// Promotion requests: a promotion (or merge) into a protected environment waits, with its plan,
// for approvals from members allowed to promote there other than the requester. The last
// approval applies it, unless what the plan showed no longer holds: then the request is stale.
import { authorize, type Actor } from '../domain/auth/permissions.js';
import { decodeCursor, encodeCursor, TIME_POSITION } from '../domain/cursor.js';
import { approvalsNeeded, type Environment } from '../domain/environments/chain.js';
import { conflict, notFound, StagelineError } from '../domain/errors.js';
import type { Db } from '../store/database.js';
import { findEnvironmentById } from '../store/environments.js';
import {
  findPromotionRequest,
  insertApproval,
  insertPromotionRequest,
  listApprovals,
  listPromotionRequests as listRequestRows,
  settlePromotionRequest,
  type PromotionApprovalRow,
  type PromotionRequestRow,
} from '../store/promotion-requests.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps } from './context.js';
import { applyPlan, assertResolvable, planPromotion, planView, type Plan, type PlanInput } from './promotion-plan.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';
import { releaseName } from './snapshots.js';

export type RequestStatus = 'pending' | 'applied' | 'rejected' | 'stale';

/** What a request remembers of the promotion asked for, to re-plan it when approved. */
interface StoredInput {
  from: string;
  release: number;
  resources?: string[];
  message?: string;
  force?: boolean;
  resolutions?: PlanInput['resolutions'];
}

function requestView(row: PromotionRequestRow, approvals: PromotionApprovalRow[], target: string) {
  const input = JSON.parse(row.input) as StoredInput;
  return {
    id: row.id,
    environment: target,
    status: row.status as RequestStatus,
    source: { environment: input.from, release: row.source_release, name: releaseName({ slug: input.from }, row.source_release) },
    targetRelease: row.target_release,
    resources: input.resources ?? 'all',
    message: input.message ?? null,
    planHash: row.plan_hash,
    plan: JSON.parse(row.plan) as unknown,
    approvalsRequired: row.approvals_required,
    approvals: approvals.filter((a) => a.decision === 'approve').map((a) => ({ actor: { id: a.actor_id, name: a.actor_name }, comment: a.comment, at: a.at })),
    rejectedBy: approvals.filter((a) => a.decision === 'reject').map((a) => ({ id: a.actor_id, name: a.actor_name }))[0] ?? null,
    requestedBy: { id: row.requested_by, name: row.requested_by_name },
    createdAt: row.created_at,
    decidedAt: row.decided_at,
    reason: row.reason,
    release: row.release !== null ? { number: row.release, name: releaseName({ slug: target }, row.release) } : null,
  };
}

/** Records a promotion into a protected environment as a request holding its plan. */
export async function openPromotionRequest(deps: Deps, tx: Db, ctx: CallContext, plan: Plan, input: PlanInput) {
  const at = deps.now().toISOString();
  const stored: StoredInput = {
    from: plan.source.slug,
    release: plan.sourceRelease.number,
    ...(input.resources ? { resources: input.resources } : {}),
    ...(input.message !== undefined ? { message: input.message } : {}),
    ...(input.force ? { force: true } : {}),
    ...(input.resolutions ? { resolutions: input.resolutions } : {}),
  };
  const row: PromotionRequestRow = {
    id: newId('prq'),
    workspace_id: plan.target.workspaceId,
    environment_id: plan.target.id,
    source_environment_id: plan.source.id,
    source_release: plan.sourceRelease.number,
    target_release: plan.target.headRelease,
    input: JSON.stringify(stored),
    plan: JSON.stringify(await planView(tx, plan)),
    plan_hash: plan.hash,
    status: 'pending',
    approvals_required: approvalsNeeded(plan.target),
    requested_by: ctx.actor.id,
    requested_by_name: ctx.actor.name,
    created_at: at,
    decided_at: null,
    reason: null,
    release: null,
  };
  await insertPromotionRequest(tx, row);
  await record(deps, tx, ctx, {
    action: 'promotion_request.create',
    environment: plan.target.slug,
    target: `promotion-request/${row.id}`,
    after: { planHash: row.plan_hash },
    details: {
      request: row.id,
      kind: plan.kind,
      source: releaseName(plan.source, plan.sourceRelease.number),
      targetRelease: row.target_release,
      resources: input.resources ?? 'all',
      approvalsRequired: row.approvals_required,
      planHash: row.plan_hash,
    },
  });
  return { request: requestView(row, [], plan.target.slug) };
}

async function requestOf(db: Db, ctx: CallContext, id: string) {
  const row = await findPromotionRequest(db, ctx.workspace.id, id);
  if (!row) throw notFound(`promotion request ${id}`);
  const target = await findEnvironmentById(db, ctx.workspace.id, row.environment_id);
  if (!target) throw notFound(`promotion request ${id}`);
  return { row, target };
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
  const rows = await listRequestRows(db, ctx.workspace.id, { ...(filter.status ? { status: filter.status } : {}), ...(env ? { environmentId: env.id } : {}) }, after, limit + 1);
  const page = rows.slice(0, limit);
  const approvals = await listApprovals(db, page.map((r) => r.id));
  const slugs = new Map<string, string>();
  for (const row of page) {
    if (!slugs.has(row.environment_id)) slugs.set(row.environment_id, (await findEnvironmentById(db, ctx.workspace.id, row.environment_id))?.slug ?? '?');
  }
  const last = page[page.length - 1];
  return {
    data: page.map((row) => requestView(row, approvals.filter((a) => a.request_id === row.id), slugs.get(row.environment_id)!)),
    next: rows.length > limit && last ? encodeCursor({ at: last.created_at, id: last.id }) : null,
  };
}

export async function getPromotionRequest(deps: Deps, ctx: CallContext, id: string) {
  const { row, target } = await requestOf(deps.store.db, ctx, id);
  authorize(ctx.actor, 'resource.read', target.slug);
  return requestView(row, await listApprovals(deps.store.db, [row.id]), target.slug);
}

function assertPending(row: PromotionRequestRow) {
  if (row.status !== 'pending') {
    throw conflict('request_not_pending', `promotion request ${row.id} is ${row.status}`, [{ status: row.status, reason: row.reason }]);
  }
}

function assertNotRequester(actor: Actor, row: PromotionRequestRow) {
  if (actor.id === row.requested_by) {
    throw new StagelineError(403, 'forbidden', 'the requester of a promotion cannot approve it: another member allowed to promote there must', [{ reason: 'requester' }]);
  }
}

/**
 * Approves a pending request. The approval that reaches the required count applies the
 * promotion, after re-planning it: a plan whose hash changed (the target moved, or a reference
 * resolves differently) marks the request stale instead.
 */
export async function approvePromotionRequest(
  deps: Deps,
  ctx: CallContext,
  id: string,
  input: { comment?: string; planHash?: string; breakGlass?: { reason: string } },
) {
  const outcome = await deps.store.transaction(async (tx) => {
    const found = await requestOf(tx, ctx, id);
    authorize(ctx.actor, 'release.promote', found.target.slug);
    // Every decision on a request runs under its target's lock, like promotions into it.
    const target = await lockedEnvironmentOf(deps, tx, ctx, found.target.slug);
    const row = (await findPromotionRequest(tx, ctx.workspace.id, id))!;
    assertPending(row);
    assertNotRequester(ctx.actor, row);
    if (input.planHash !== undefined && input.planHash !== row.plan_hash) {
      throw conflict('plan_mismatch', `promotion request ${id} holds plan ${row.plan_hash}, not ${input.planHash}`, [{ field: 'planHash', expected: row.plan_hash }]);
    }
    const approvals = (await listApprovals(tx, [row.id])).filter((a) => a.decision === 'approve');
    if (approvals.some((a) => a.actor_id === ctx.actor.id)) throw conflict('already_approved', `you have already approved promotion request ${id}`);
    const at = deps.now().toISOString();
    await insertApproval(tx, { request_id: row.id, actor_id: ctx.actor.id, actor_name: ctx.actor.name, decision: 'approve', comment: input.comment ?? null, at });
    const count = approvals.length + 1;
    await record(deps, tx, ctx, {
      action: 'promotion_request.approve',
      environment: target.slug,
      target: `promotion-request/${row.id}`,
      details: { request: row.id, approvals: count, approvalsRequired: row.approvals_required, ...(input.comment ? { comment: input.comment } : {}) },
    });
    if (count < row.approvals_required) return { applied: null, stale: null };

    const stale = await replan(tx, target, row);
    if ('reason' in stale) {
      await settlePromotionRequest(tx, ctx.workspace.id, row.id, { status: 'stale', decided_at: at, reason: stale.reason });
      await record(deps, tx, ctx, { action: 'promotion_request.stale', environment: target.slug, target: `promotion-request/${row.id}`, details: { request: row.id, reason: stale.reason } });
      return { applied: null, stale: stale.reason };
    }
    const stored = JSON.parse(row.input) as StoredInput;
    const applied = await applyPlan(deps, tx, ctx, stale.plan, {
      ...(stored.message !== undefined ? { message: stored.message } : {}),
      ...(stored.resources ? { resources: stored.resources } : {}),
      ...(input.breakGlass ? { breakGlass: input.breakGlass } : {}),
      request: { id: row.id, approvers: [...approvals.map((a) => a.actor_id), ctx.actor.id] },
    });
    await settlePromotionRequest(tx, ctx.workspace.id, row.id, { status: 'applied', decided_at: at, release: applied.number });
    return { applied, stale: null };
  });
  if (outcome.stale) {
    throw conflict('request_stale', `promotion request ${id} is stale: ${outcome.stale}`, [{ request: id }]);
  }
  return { request: await getPromotionRequest(deps, ctx, id), ...(outcome.applied ? { release: outcome.applied } : {}) };
}

/** Plans the request again under the target's lock; its hash must be the one approved. */
async function replan(tx: Db, target: Environment, row: PromotionRequestRow): Promise<{ plan: Plan } | { reason: string }> {
  if (target.headRelease !== row.target_release) {
    return { reason: `${target.slug} moved from #${row.target_release} to #${target.headRelease} since the plan: promote again to re-plan` };
  }
  const source = await findEnvironmentById(tx, target.workspaceId, row.source_environment_id);
  if (!source) return { reason: 'the source environment no longer exists' };
  const stored = JSON.parse(row.input) as StoredInput;
  let plan: Plan;
  try {
    plan = await planPromotion(tx, target, source, { ...stored, release: row.source_release });
    assertResolvable(target, plan.missing, stored.force);
  } catch (error) {
    if (error instanceof StagelineError && error.status === 409) return { reason: error.message };
    throw error;
  }
  if (plan.hash !== row.plan_hash) {
    return { reason: 'what the plan resolves to changed since it was made (a variable, a secret or the branch): promote again to re-plan' };
  }
  return { plan };
}

export async function rejectPromotionRequest(deps: Deps, ctx: CallContext, id: string, input: { reason: string }) {
  await deps.store.transaction(async (tx) => {
    const found = await requestOf(tx, ctx, id);
    authorize(ctx.actor, 'release.promote', found.target.slug);
    const target = await lockedEnvironmentOf(deps, tx, ctx, found.target.slug);
    const row = (await findPromotionRequest(tx, ctx.workspace.id, id))!;
    assertPending(row);
    const at = deps.now().toISOString();
    await insertApproval(tx, { request_id: row.id, actor_id: ctx.actor.id, actor_name: ctx.actor.name, decision: 'reject', comment: input.reason, at });
    await settlePromotionRequest(tx, ctx.workspace.id, row.id, { status: 'rejected', decided_at: at, reason: input.reason });
    await record(deps, tx, ctx, {
      action: 'promotion_request.reject',
      environment: target.slug,
      target: `promotion-request/${row.id}`,
      details: { request: row.id, reason: input.reason, byRequester: ctx.actor.id === row.requested_by },
    });
  });
  return getPromotionRequest(deps, ctx, id);
}
