// In-app feed messages of one environment: stored by the in-app channel, listed newest first
// per recipient (keyset pages on created_at, id), and marked read.
import { sql } from 'kysely';
import type { Db } from './database.js';

type Scope = { workspaceId: string; environmentId: string };

export interface FeedMessage {
  id: string;
  recipient: string;
  runId: string | null;
  workflow: string | null;
  /** The rendered message: {title?, body, actionUrl?, data?}. */
  content: Record<string, unknown>;
  createdAt: string;
  readAt: string | null;
}

/** A position in a feed: the last message of the previous page. */
export interface FeedPosition {
  createdAt: string;
  id: string;
}

function toMessage(r: { id: string; recipient: string; run_id: string | null; workflow: string | null; content: string; created_at: string; read_at: string | null }): FeedMessage {
  return { id: r.id, recipient: r.recipient, runId: r.run_id, workflow: r.workflow, content: JSON.parse(r.content) as Record<string, unknown>, createdAt: r.created_at, readAt: r.read_at };
}

function feedOf(db: Db, scope: Scope, recipient: string) {
  return db
    .selectFrom('feed_messages')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('recipient', '=', recipient);
}

/** Stores a message; one whose id is already stored is left as it is. Answers whether it was new. */
export async function insertFeedMessage(db: Db, scope: Scope, message: Omit<FeedMessage, 'readAt'>): Promise<boolean> {
  const result = await db
    .insertInto('feed_messages')
    .values({
      id: message.id,
      workspace_id: scope.workspaceId,
      environment_id: scope.environmentId,
      recipient: message.recipient,
      run_id: message.runId,
      workflow: message.workflow,
      content: JSON.stringify(message.content),
      created_at: message.createdAt,
      read_at: null,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Up to `limit` messages of a recipient, newest first, after `after` when given. */
export async function listFeedMessages(db: Db, scope: Scope, recipient: string, options: { limit: number; after?: FeedPosition; unread?: boolean }): Promise<FeedMessage[]> {
  let query = feedOf(db, scope, recipient).selectAll();
  if (options.unread !== undefined) query = query.where('read_at', options.unread ? 'is' : 'is not', null);
  const after = options.after;
  if (after) {
    query = query.where((eb) => eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]));
  }
  const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
  return rows.map(toMessage);
}

export async function countUnread(db: Db, scope: Scope, recipient: string): Promise<number> {
  const row = await feedOf(db, scope, recipient)
    .where('read_at', 'is', null)
    .select(sql<number>`count(*)`.as('count'))
    .executeTakeFirst();
  return Number(row?.count ?? 0);
}

export async function findFeedMessage(db: Db, scope: Scope, recipient: string, id: string): Promise<FeedMessage | undefined> {
  const row = await feedOf(db, scope, recipient).selectAll().where('id', '=', id).executeTakeFirst();
  return row && toMessage(row);
}

/** Marks one unread message read; a message already read keeps its time. */
export async function markFeedMessageRead(db: Db, scope: Scope, recipient: string, id: string, at: string): Promise<void> {
  await db
    .updateTable('feed_messages')
    .set({ read_at: at })
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('recipient', '=', recipient)
    .where('id', '=', id)
    .where('read_at', 'is', null)
    .execute();
}

/** Marks every unread message of a recipient read; answers how many were. */
export async function markFeedRead(db: Db, scope: Scope, recipient: string, at: string): Promise<number> {
  const result = await db
    .updateTable('feed_messages')
    .set({ read_at: at })
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('recipient', '=', recipient)
    .where('read_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
