// Promotion requests into protected environments and the decisions members make on them.
import type { Selectable } from 'kysely';
import type { Db } from './database.js';
import type { PromotionApprovalTable, PromotionRequestTable } from './schema.js';

export type PromotionRequestRow = Selectable<PromotionRequestTable>;
export type PromotionApprovalRow = Selectable<PromotionApprovalTable>;

export async function insertPromotionRequest(db: Db, row: PromotionRequestRow) {
  await db.insertInto('promotion_requests').values(row).execute();
}

export async function findPromotionRequest(db: Db, workspaceId: string, id: string): Promise<PromotionRequestRow | undefined> {
  return db.selectFrom('promotion_requests').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

/** Requests newest first, keyset-paged on (created_at, id). */
export async function listPromotionRequests(
  db: Db,
  workspaceId: string,
  filter: { status?: string; environmentId?: string },
  after: { createdAt: string; id: string } | null,
  limit: number,
): Promise<PromotionRequestRow[]> {
  let query = db.selectFrom('promotion_requests').selectAll().where('workspace_id', '=', workspaceId);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.environmentId) query = query.where('environment_id', '=', filter.environmentId);
  if (after) {
    query = query.where((eb) => eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]));
  }
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

export async function settlePromotionRequest(
  db: Db,
  workspaceId: string,
  id: string,
  fields: { status: string; decided_at: string; reason?: string | null; release?: number | null },
) {
  await db
    .updateTable('promotion_requests')
    .set({ status: fields.status, decided_at: fields.decided_at, reason: fields.reason ?? null, release: fields.release ?? null })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .execute();
}

export async function insertApproval(db: Db, row: PromotionApprovalRow) {
  await db.insertInto('promotion_approvals').values(row).execute();
}

export async function listApprovals(db: Db, requestIds: string[]): Promise<PromotionApprovalRow[]> {
  if (requestIds.length === 0) return [];
  return db.selectFrom('promotion_approvals').selectAll().where('request_id', 'in', requestIds).orderBy('at').execute();
}

/** A pending request as the staleness checks see it. */
export interface PendingPromotionRequest {
  id: string;
  /** The target's release the request was planned against. */
  targetRelease: number;
}

/** Pending requests into one environment, to mark stale once it moves. */
export async function pendingRequestsInto(db: Db, workspaceId: string, environmentId: string): Promise<PendingPromotionRequest[]> {
  const rows = await db
    .selectFrom('promotion_requests')
    .select(['id', 'target_release'])
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .where('status', '=', 'pending')
    .execute();
  return rows.map((row) => ({ id: row.id, targetRelease: row.target_release }));
}

/** Pending requests merging one branch, to mark stale when it is deleted. */
export async function pendingRequestsFrom(db: Db, workspaceId: string, sourceEnvironmentId: string): Promise<PendingPromotionRequest[]> {
  const rows = await db
    .selectFrom('promotion_requests')
    .select(['id', 'target_release'])
    .where('workspace_id', '=', workspaceId)
    .where('source_environment_id', '=', sourceEnvironmentId)
    .where('status', '=', 'pending')
    .execute();
  return rows.map((row) => ({ id: row.id, targetRelease: row.target_release }));
}
