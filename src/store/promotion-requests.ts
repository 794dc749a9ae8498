// Promotion requests into protected environments (promotions, merges and rollbacks waiting for
// approvals) and the decisions members make on them, as typed records scoped to a workspace.
import type { Selectable } from 'kysely';
import type { Db } from './database.js';
import type { PromotionApprovalTable, PromotionRequestTable } from './schema.js';

export type RequestStatus = 'pending' | 'applied' | 'rejected' | 'stale';
/** A promotion (or a branch merge) applies a plan from a source; a rollback returns to an earlier release. */
export type RequestKind = 'promotion' | 'rollback';

export interface PromotionRequest {
  id: string;
  workspaceId: string;
  /** The target environment. */
  environmentId: string;
  kind: RequestKind;
  /** A rollback's source is its target: the release it returns to is `sourceRelease`. */
  sourceEnvironmentId: string;
  sourceRelease: number;
  /** The target's head release the plan was made against. */
  targetRelease: number;
  /** What was asked, to plan it again when approved. */
  input: Record<string, unknown>;
  /** The plan as approvers saw it. */
  plan: unknown;
  planHash: string;
  status: RequestStatus;
  approvalsRequired: number;
  requestedBy: { id: string; name: string };
  createdAt: string;
  decidedAt: string | null;
  reason: string | null;
  /** The target release the approved request made. */
  release: number | null;
}

export interface Decision {
  requestId: string;
  actor: { id: string; name: string };
  decision: 'approve' | 'reject';
  comment: string | null;
  at: string;
}

type RequestRow = Selectable<PromotionRequestTable>;

function toRequest(row: RequestRow): PromotionRequest {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    environmentId: row.environment_id,
    kind: row.kind as RequestKind,
    sourceEnvironmentId: row.source_environment_id,
    sourceRelease: row.source_release,
    targetRelease: row.target_release,
    input: JSON.parse(row.input) as Record<string, unknown>,
    plan: JSON.parse(row.plan) as unknown,
    planHash: row.plan_hash,
    status: row.status as RequestStatus,
    approvalsRequired: row.approvals_required,
    requestedBy: { id: row.requested_by, name: row.requested_by_name },
    createdAt: row.created_at,
    decidedAt: row.decided_at,
    reason: row.reason,
    release: row.release,
  };
}

function toDecision(row: Selectable<PromotionApprovalTable>): Decision {
  return {
    requestId: row.request_id,
    actor: { id: row.actor_id, name: row.actor_name },
    decision: row.decision as Decision['decision'],
    comment: row.comment,
    at: row.at,
  };
}

export async function insertPromotionRequest(db: Db, request: PromotionRequest) {
  await db
    .insertInto('promotion_requests')
    .values({
      id: request.id,
      workspace_id: request.workspaceId,
      environment_id: request.environmentId,
      kind: request.kind,
      source_environment_id: request.sourceEnvironmentId,
      source_release: request.sourceRelease,
      target_release: request.targetRelease,
      input: JSON.stringify(request.input),
      plan: JSON.stringify(request.plan),
      plan_hash: request.planHash,
      status: request.status,
      approvals_required: request.approvalsRequired,
      requested_by: request.requestedBy.id,
      requested_by_name: request.requestedBy.name,
      created_at: request.createdAt,
      decided_at: request.decidedAt,
      reason: request.reason,
      release: request.release,
    })
    .execute();
}

export async function findPromotionRequest(db: Db, workspaceId: string, id: string): Promise<PromotionRequest | undefined> {
  const row = await db.selectFrom('promotion_requests').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return row && toRequest(row);
}

/** Requests newest first, keyset-paged on (created_at, id). */
export async function listPromotionRequests(
  db: Db,
  workspaceId: string,
  filter: { status?: RequestStatus; environmentId?: string },
  after: { createdAt: string; id: string } | null,
  limit: number,
): Promise<PromotionRequest[]> {
  let query = db.selectFrom('promotion_requests').selectAll().where('workspace_id', '=', workspaceId);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.environmentId) query = query.where('environment_id', '=', filter.environmentId);
  if (after) {
    query = query.where((eb) => eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]));
  }
  return (await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute()).map(toRequest);
}

export async function settlePromotionRequest(
  db: Db,
  workspaceId: string,
  id: string,
  fields: { status: Exclude<RequestStatus, 'pending'>; decidedAt: string; reason?: string | null; release?: number | null },
) {
  await db
    .updateTable('promotion_requests')
    .set({ status: fields.status, decided_at: fields.decidedAt, reason: fields.reason ?? null, release: fields.release ?? null })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .execute();
}

/** Records a decision on a request of this workspace; nothing is written for another's. */
export async function insertDecision(db: Db, workspaceId: string, decision: Decision) {
  const request = await db.selectFrom('promotion_requests').select('id').where('workspace_id', '=', workspaceId).where('id', '=', decision.requestId).executeTakeFirst();
  if (!request) throw new Error(`promotion request ${decision.requestId} is not in workspace ${workspaceId}`);
  await db
    .insertInto('promotion_approvals')
    .values({ request_id: request.id, actor_id: decision.actor.id, actor_name: decision.actor.name, decision: decision.decision, comment: decision.comment, at: decision.at })
    .execute();
}

/** The decisions on some requests of this workspace, oldest first. */
export async function listDecisions(db: Db, workspaceId: string, requestIds: string[]): Promise<Decision[]> {
  if (requestIds.length === 0) return [];
  const rows = await db
    .selectFrom('promotion_approvals')
    .innerJoin('promotion_requests', 'promotion_requests.id', 'promotion_approvals.request_id')
    .selectAll('promotion_approvals')
    .where('promotion_requests.workspace_id', '=', workspaceId)
    .where('promotion_approvals.request_id', 'in', requestIds)
    .orderBy('promotion_approvals.at')
    .execute();
  return rows.map(toDecision);
}

/** Pending requests into one environment, to mark stale once it moves. */
export async function pendingRequestsInto(db: Db, workspaceId: string, environmentId: string): Promise<PromotionRequest[]> {
  const rows = await db
    .selectFrom('promotion_requests')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .where('status', '=', 'pending')
    .execute();
  return rows.map(toRequest);
}

/** Pending requests merging one branch, to mark stale when it is deleted. */
export async function pendingRequestsFrom(db: Db, workspaceId: string, sourceEnvironmentId: string): Promise<PromotionRequest[]> {
  const rows = await db
    .selectFrom('promotion_requests')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('source_environment_id', '=', sourceEnvironmentId)
    .where('status', '=', 'pending')
    .execute();
  return rows.map(toRequest);
}
