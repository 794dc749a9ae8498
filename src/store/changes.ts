// The change feed table: what runtimes must react to, in per-workspace commit order.
import { sql } from 'kysely';
import type { Db, Store } from './database.js';

export interface ChangeEvent {
  workspaceId: string;
  seq: number;
  /** Null for a change that affects every environment of the workspace. */
  environmentId: string | null;
  type: string;
  payload: Record<string, unknown>;
  at: string;
}

export const CHANGE_CHANNEL = 'stageline_changes';

/**
 * Records a change in the mutation's transaction. On PostgreSQL it also queues a NOTIFY with
 * the workspace id and sequence only; PostgreSQL delivers it to every node when the
 * transaction commits, and not at all if it rolls back.
 */
export async function insertChange(store: Store, tx: Db, event: ChangeEvent) {
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

/** The workspace's latest sequence number (its audit head). */
export async function latestSeq(db: Db, workspaceId: string): Promise<number> {
  const row = await db.selectFrom('workspaces').select('audit_seq').where('id', '=', workspaceId).executeTakeFirst();
  return row?.audit_seq ?? 0;
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
  const fail = (error: Error) => {
    if (lost) return;
    lost = true;
    client.end().catch(() => {});
    onLost(error);
  };
  client.on('error', fail);
  client.on('end', () => fail(new Error('the change listener connection ended')));
  client.on('notification', (message) => {
    const workspaceId = message.payload?.split(':')[0];
    if (workspaceId) onNotify(workspaceId);
  });
  await client.connect();
  await client.query(`LISTEN ${CHANGE_CHANNEL}`);
  return {
    async close() {
      lost = true;
      await client.end().catch(() => {});
    },
  };
}
