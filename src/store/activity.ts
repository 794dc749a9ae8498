// The activity log table: runtime writes by API keys, one plain insert each (no chain head, no
// workspace lock), listed newest first by (at, id) and deleted in batches once past retention.
import type { Db } from './database.js';
import type { ActivityVisibility } from '../domain/activity/entries.js';

export interface ActivityEntry {
  id: string;
  at: string;
  environmentId: string;
  environment: string;
  /** API keys write runtime activity; a recipient's own one-click unsubscribe is the one other writer. */
  actor: { kind: 'api_key' | 'recipient'; id: string; name: string | null };
  action: string;
  target: string;
  requestId: string | null;
  details: Record<string, unknown>;
}

export interface ActivityFilter {
  environment?: string;
  actor?: string;
  action?: string;
  since?: string;
  until?: string;
}

/** The last entry of the previous page. */
export interface ActivityPosition {
  at: string;
  id: string;
}

export async function insertActivity(db: Db, workspaceId: string, entry: ActivityEntry): Promise<void> {
  await db
    .insertInto('activity_log')
    .values({
      id: entry.id,
      workspace_id: workspaceId,
      environment_id: entry.environmentId,
      environment: entry.environment,
      at: entry.at,
      actor_kind: entry.actor.kind,
      actor_id: entry.actor.id,
      actor_name: entry.actor.name,
      action: entry.action,
      target: entry.target,
      request_id: entry.requestId,
      details: JSON.stringify(entry.details),
    })
    .execute();
}

/** Up to `limit` entries newest first, after `after`, of the environments `visibility` shows. */
export async function listActivity(
  db: Db,
  workspaceId: string,
  filter: ActivityFilter,
  visibility: ActivityVisibility,
  after: ActivityPosition | null,
  limit: number,
): Promise<ActivityEntry[]> {
  let query = db.selectFrom('activity_log').selectAll().where('workspace_id', '=', workspaceId);
  if ('only' in visibility) query = query.where('environment', 'in', visibility.only);
  else if (visibility.hidden.length > 0) query = query.where('environment', 'not in', visibility.hidden);
  if (filter.environment) query = query.where('environment', '=', filter.environment);
  if (filter.actor) query = query.where('actor_id', '=', filter.actor);
  if (filter.action) {
    query = filter.action.endsWith('.*') ? query.where('action', 'like', `${filter.action.slice(0, -1)}%`) : query.where('action', '=', filter.action);
  }
  if (filter.since) query = query.where('at', '>=', filter.since);
  if (filter.until) query = query.where('at', '<', filter.until);
  if (after) query = query.where((eb) => eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb('id', '<', after.id)])]));
  const rows = await query.orderBy('at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  return rows.map((r) => ({
    id: r.id,
    at: r.at,
    environmentId: r.environment_id,
    environment: r.environment,
    actor: { kind: r.actor_kind as ActivityEntry['actor']['kind'], id: r.actor_id, name: r.actor_name },
    action: r.action,
    target: r.target,
    requestId: r.request_id,
    details: JSON.parse(r.details) as Record<string, unknown>,
  }));
}

/** Deletes up to `batch` entries written before `cutoff` (every workspace); answers how many. */
export async function pruneActivity(db: Db, cutoff: string, batch: number): Promise<number> {
  const result = await db
    .deleteFrom('activity_log')
    .where('id', 'in', (eb) => eb.selectFrom('activity_log').select('id').where('at', '<', cutoff).limit(batch))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
