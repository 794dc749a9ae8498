// The activity log: runtime writes made with API keys (data records, feed read marks, workflow
// triggers), recorded in the write's own transaction by a plain insert, so they are not
// serialised per workspace the way the hash-chained audit log is. Kept for a retention period.
import { activityCutoff, activityVisibility, seesEnvironment, type ActivityAction } from '../domain/activity/entries.js';
import { decodeCursor, encodeCursor, TIME_POSITION } from '../domain/cursor.js';
import type { Environment } from '../domain/environments/chain.js';
import { forbidden } from '../domain/errors.js';
import { insertActivity, listActivity, pruneActivity, type ActivityEntry, type ActivityFilter } from '../store/activity.js';
import type { Db } from '../store/database.js';
import { newId, type CallContext, type Deps } from './context.js';

export interface ActivityRecord {
  action: ActivityAction;
  target: string;
  /** Ids, counts and digests only: never a record's value or a secret. */
  details: Record<string, unknown>;
}

/** Records a runtime write of `ctx`'s API key in `env`, inside the write's transaction `tx`. */
export async function recordActivity(deps: Deps, tx: Db, ctx: CallContext, env: Environment, entry: ActivityRecord): Promise<void> {
  await insertActivity(tx, ctx.workspace.id, {
    id: newId('act'),
    at: deps.now().toISOString(),
    environmentId: env.id,
    environment: env.slug,
    actor: { kind: 'api_key', id: ctx.actor.id, name: ctx.actor.name },
    action: entry.action,
    target: entry.target,
    requestId: ctx.requestId,
    details: entry.details,
  });
}

function entryView(entry: ActivityEntry) {
  return {
    id: entry.id,
    at: entry.at,
    environment: entry.environment,
    actor: { kind: entry.actor.kind, id: entry.actor.id, ...(entry.actor.name !== null ? { name: entry.actor.name } : {}) },
    action: entry.action,
    target: entry.target,
    requestId: entry.requestId,
    details: entry.details,
  };
}

/** Newest first; readable by whoever may read the audit log, environment by environment. */
export async function listActivityLog(deps: Deps, ctx: CallContext, filter: ActivityFilter, cursor: string | undefined, limit: number) {
  const visibility = activityVisibility(ctx.actor);
  if (filter.environment && !seesEnvironment(visibility, filter.environment)) throw forbidden('audit.read', filter.environment);
  const position = decodeCursor(cursor, TIME_POSITION);
  const rows = await listActivity(deps.store.db, ctx.workspace.id, filter, visibility, position, limit + 1);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { data: page.map(entryView), next: rows.length > limit && last ? encodeCursor({ at: last.at, id: last.id }) : null };
}

/** Deletes every entry past retention, `batch` rows per statement; answers how many went. */
export async function pruneActivityLog(deps: Deps, retentionDays: number, batch = 1000): Promise<number> {
  const cutoff = activityCutoff(deps.now(), retentionDays);
  let total = 0;
  for (;;) {
    const deleted = await pruneActivity(deps.store.db, cutoff, batch);
    total += deleted;
    if (deleted < batch) return total;
  }
}
