// Freeze windows of environments and the review items that break-glass changes open.
import type { Selectable } from 'kysely';
import type { Db } from './database.js';
import type { FreezeWindowTable, ReviewItemTable } from './schema.js';

export type FreezeRow = Selectable<FreezeWindowTable>;
export type ReviewItemRow = Selectable<ReviewItemTable>;

export async function insertFreeze(db: Db, row: FreezeRow) {
  await db.insertInto('freeze_windows').values(row).execute();
}

/** Windows of one environment that have not ended by `now`. */
export async function listFreezes(db: Db, workspaceId: string, environmentId: string, now: string): Promise<FreezeRow[]> {
  return db
    .selectFrom('freeze_windows')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .where('ends_at', '>', now)
    .orderBy('starts_at')
    .execute();
}

export async function findFreeze(db: Db, workspaceId: string, environmentId: string, id: string) {
  return db
    .selectFrom('freeze_windows')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function deleteFreeze(db: Db, workspaceId: string, id: string) {
  await db.deleteFrom('freeze_windows').where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}

export async function insertReviewItem(db: Db, row: ReviewItemRow) {
  await db.insertInto('review_items').values(row).execute();
}

export async function listReviewItems(db: Db, workspaceId: string, open: boolean | undefined): Promise<ReviewItemRow[]> {
  let query = db.selectFrom('review_items').selectAll().where('workspace_id', '=', workspaceId);
  if (open === true) query = query.where('acknowledged_at', 'is', null);
  if (open === false) query = query.where('acknowledged_at', 'is not', null);
  return query.orderBy('opened_at', 'desc').execute();
}

export async function findReviewItem(db: Db, workspaceId: string, id: string) {
  return db.selectFrom('review_items').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

export async function acknowledgeReviewItem(db: Db, workspaceId: string, id: string, by: string, at: string) {
  await db.updateTable('review_items').set({ acknowledged_by: by, acknowledged_at: at }).where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}
