// The change feed table: what runtimes must react to, in per-workspace commit order. Each event
// has its own id from the workspace's change counter (not the audit sequence number), and the
// oldest events are pruned: a reader resuming from before the retained window must start over.
import { sql } from 'kysely';
import type { Db, Store } from './database.js';

export interface ChangeEvent {
  workspaceId: string;
  /** The change id: 1, 2, 3… per workspace, in commit order. */
  seq: number;
  /** Null for a change that affects every environment of the workspace. */
  environmentId: string | null;
  type: string;
  payload: Record<string, unknown>;
  at: string;
}

export const CHANGE_CHANNEL = 'stageline_changes';

/**
 * Records a change in the mutation's transaction under the workspace's next change id. The id
 * comes from an UPDATE of the workspace row, which holds that row's lock until the transaction
 * ends (the audit append already holds it): a second writer gets the next id only once the
 * first has committed or rolled back, so ids commit in order, without gaps, and a reader that
 * has seen id N never meets a later commit with a lower one. On PostgreSQL it also queues a
 * NOTIFY with the workspace id and change id only; PostgreSQL delivers it to every node when
 * the transaction commits, and not at all if it rolls back.
 */
export async function insertChange(store: Store, tx: Db, fields: Omit<ChangeEvent, 'seq'>): Promise<ChangeEvent> {
  const { change_seq: seq } = await tx
    .updateTable('workspaces')
    .set((eb) => ({ change_seq: eb('change_seq', '+', 1) }))
    .where('id', '=', fields.workspaceId)
    .returning('change_seq')
    .executeTakeFirstOrThrow();
  const event: ChangeEvent = { ...fields, seq };
  await tx
    .insertInto('change_events')
    .values({
      workspace_id: event.workspaceId,
      seq: event.seq,
      environment_id: event.environmentId,
      type: event.type,
      payload: JSON.stringify(event.payload),
      at: event.at,
    })
    .execute();
  if (store.dialect === 'postgres') {
    await sql`select pg_notify(${CHANGE_CHANNEL}, ${`${event.workspaceId}:${event.seq}`})`.execute(tx);
  }
  return event;
}

export async function changesAfter(
  db: Db,
  workspaceId: string,
  afterSeq: number,
  options: { environmentId?: string; limit?: number } = {},
): Promise<ChangeEvent[]> {
  let query = db.selectFrom('change_events').selectAll().where('workspace_id', '=', workspaceId).where('seq', '>', afterSeq);
  if (options.environmentId) {
    const env = options.environmentId;
    query = query.where((eb) => eb.or([eb('environment_id', '=', env), eb('environment_id', 'is', null)]));
  }
  const rows = await query.orderBy('seq').limit(options.limit ?? 1000).execute();
  return rows.map((r) => ({
    workspaceId: r.workspace_id,
    seq: r.seq,
    environmentId: r.environment_id,
    type: r.type,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    at: r.at,
  }));
}

/** The id of the workspace's latest committed change. */
export async function latestSeq(db: Db, workspaceId: string): Promise<number> {
  const row = await db.selectFrom('workspaces').select('change_seq').where('id', '=', workspaceId).executeTakeFirst();
  return row?.change_seq ?? 0;
}

/**
 * The ids a reader may resume after: from `from` (every event after it is still stored) to
 * `latest`. With no event stored, only the latest id.
 */
export async function changeWindow(db: Db, workspaceId: string): Promise<{ from: number; latest: number }> {
  const latest = await latestSeq(db, workspaceId);
  const oldest = await db
    .selectFrom('change_events')
    .select('seq')
    .where('workspace_id', '=', workspaceId)
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
  return { from: oldest ? oldest.seq - 1 : latest, latest };
}

/** Workspaces with more than `keep` changes, with the id up to which their events may go. */
export async function changesToPrune(db: Db, keep: number): Promise<{ workspaceId: string; upTo: number }[]> {
  const rows = await db.selectFrom('workspaces').select(['id', 'change_seq']).where('change_seq', '>', keep).execute();
  return rows.map((r) => ({ workspaceId: r.id, upTo: r.change_seq - keep }));
}

/** Deletes up to `batch` of the workspace's oldest events with ids up to `upTo`; answers how many. */
export async function pruneChanges(db: Db, workspaceId: string, upTo: number, batch: number): Promise<number> {
  const result = await db
    .deleteFrom('change_events')
    .where('workspace_id', '=', workspaceId)
    .where('seq', 'in', (eb) =>
      eb.selectFrom('change_events').select('seq').where('workspace_id', '=', workspaceId).where('seq', '<=', upTo).orderBy('seq').limit(batch),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export interface ChangeListenerConnection {
  close(): Promise<void>;
}

/**
 * A dedicated PostgreSQL connection that LISTENs for change notifications. `onNotify` gets the
 * workspace id of each; `onLost` is called once if the connection fails, after which the
 * caller reconnects and catches up from the table.
 */
export async function listenForChanges(url: string, onNotify: (workspaceId: string) => void, onLost: (error: Error) => void): Promise<ChangeListenerConnection> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  let lost = false;
  // Until LISTEN is in place a failure only rejects: the caller retries that. Calling `onLost`
  // too would start a second reconnect, and each outage would double the listener connections.
  let listening = false;
  const fail = (error: Error) => {
    if (lost) return;
    lost = true;
    client.end().catch(() => {});
    if (listening) onLost(error);
  };
  client.on('error', fail);
  client.on('end', () => fail(new Error('the change listener connection ended')));
  client.on('notification', (message) => {
    const workspaceId = message.payload?.split(':')[0];
    if (workspaceId) onNotify(workspaceId);
  });
  try {
    await client.connect();
    await client.query(`LISTEN ${CHANGE_CHANNEL}`);
  } catch (error) {
    fail(error as Error);
    throw error;
  }
  if (lost) throw new Error('the change listener connection ended while it was set up');
  listening = true;
  return {
    async close() {
      lost = true;
      await client.end().catch(() => {});
    },
  };
}
