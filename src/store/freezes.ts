// Freeze windows of environments and the review items that break-glass changes open. Records
// leave this module in camelCase; every query names its workspace (and environment).
import type { Selectable } from 'kysely';
import type { FreezeWindow } from '../domain/environments/freeze.js';
import type { Db } from './database.js';
import type { FreezeWindowTable, ReviewItemTable } from './schema.js';

export interface FreezeRecord extends FreezeWindow {
  workspaceId: string;
  environmentId: string;
  createdBy: string;
  createdAt: string;
}

export interface ReviewItemRecord {
  id: string;
  workspaceId: string;
  /** The environment's slug at the time the item was opened. */
  environment: string;
  kind: string;
  summary: string;
  reason: string;
  openedBy: string;
  openedAt: string;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
}

type Scope = { workspaceId: string; environmentId: string };

function toFreeze(row: Selectable<FreezeWindowTable>): FreezeRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    environmentId: row.environment_id,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

function toReviewItem(row: Selectable<ReviewItemTable>): ReviewItemRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    environment: row.environment,
    kind: row.kind,
    summary: row.summary,
    reason: row.reason,
    openedBy: row.opened_by,
    openedAt: row.opened_at,
    acknowledgedBy: row.acknowledged_by,
    acknowledgedAt: row.acknowledged_at,
  };
}

export async function insertFreeze(db: Db, freeze: FreezeRecord) {
  await db
    .insertInto('freeze_windows')
    .values({
      id: freeze.id,
      workspace_id: freeze.workspaceId,
      environment_id: freeze.environmentId,
      starts_at: freeze.startsAt,
      ends_at: freeze.endsAt,
      reason: freeze.reason,
      created_by: freeze.createdBy,
      created_at: freeze.createdAt,
    })
    .execute();
}

/** Windows of one environment that have not ended by `now`. */
export async function listFreezes(db: Db, scope: Scope, now: string): Promise<FreezeRecord[]> {
  const rows = await db
    .selectFrom('freeze_windows')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('ends_at', '>', now)
    .orderBy('starts_at')
    .execute();
  return rows.map(toFreeze);
}

export async function findFreeze(db: Db, scope: Scope, id: string): Promise<FreezeRecord | undefined> {
  const row = await db
    .selectFrom('freeze_windows')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row && toFreeze(row);
}

export async function deleteFreeze(db: Db, scope: Scope, id: string) {
  await db
    .deleteFrom('freeze_windows')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .execute();
}

export async function insertReviewItem(db: Db, item: ReviewItemRecord) {
  await db
    .insertInto('review_items')
    .values({
      id: item.id,
      workspace_id: item.workspaceId,
      environment: item.environment,
      kind: item.kind,
      summary: item.summary,
      reason: item.reason,
      opened_by: item.openedBy,
      opened_at: item.openedAt,
      acknowledged_by: item.acknowledgedBy,
      acknowledged_at: item.acknowledgedAt,
    })
    .execute();
}

export async function listReviewItems(db: Db, workspaceId: string, open: boolean | undefined): Promise<ReviewItemRecord[]> {
  let query = db.selectFrom('review_items').selectAll().where('workspace_id', '=', workspaceId);
  if (open === true) query = query.where('acknowledged_at', 'is', null);
  if (open === false) query = query.where('acknowledged_at', 'is not', null);
  return (await query.orderBy('opened_at', 'desc').execute()).map(toReviewItem);
}

export async function findReviewItem(db: Db, workspaceId: string, id: string): Promise<ReviewItemRecord | undefined> {
  const row = await db.selectFrom('review_items').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return row && toReviewItem(row);
}

export async function acknowledgeReviewItem(db: Db, workspaceId: string, id: string, by: string, at: string) {
  await db.updateTable('review_items').set({ acknowledged_by: by, acknowledged_at: at }).where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}
