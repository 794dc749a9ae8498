// Outbound events: the workspace's event subscriptions, the outbox of events written in the
// transactions that made them, and one delivery row per (event, subscription) with its attempts.
import type { Selectable } from 'kysely';
import type { Db } from './database.js';
import type { EventDeliveryTable, EventSubscriptionTable, EventTable } from './schema.js';

export interface EventSubscriptionRecord {
  id: string;
  workspaceId: string;
  /** Sealed with the workspace data key; open with the keyring. */
  urlSealed: string;
  urlHint: string;
  secretSealed: string;
  /** Event types, or `['*']`. */
  types: string[];
  /** Environment slugs; null: every environment, and events of no environment. */
  environments: string[] | null;
  description: string | null;
  createdBy: string;
  createdAt: string;
}

export interface EventRecord {
  id: string;
  workspaceId: string;
  type: string;
  environmentId: string | null;
  environment: string | null;
  data: Record<string, unknown>;
  at: string;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface DeliveryRecord {
  id: string;
  workspaceId: string;
  subscriptionId: string;
  eventId: string;
  status: DeliveryStatus;
  /** Attempts made so far. */
  attempts: number;
  /** When the next attempt is due (pending only). */
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  /** The receiver's HTTP status of the last attempt; null when it gave none. */
  lastStatus: number | null;
  lastError: string | null;
  /** The start of the receiver's answer to the last attempt (bounded). */
  lastResponse: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

/** A delivery log line: the delivery and its event's type. */
export interface DeliveryLogRecord extends DeliveryRecord {
  eventType: string;
}

/** A due delivery with what sending it needs. */
export interface DueDelivery {
  delivery: DeliveryRecord;
  event: EventRecord;
  subscription: EventSubscriptionRecord;
}

/** The outcome of one attempt, as stored. */
export interface AttemptOutcome {
  status: DeliveryStatus;
  at: string;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  lastResponse: string | null;
}

function toSubscription(row: Selectable<EventSubscriptionTable>): EventSubscriptionRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    urlSealed: row.url_sealed,
    urlHint: row.url_hint,
    secretSealed: row.secret_sealed,
    types: JSON.parse(row.types) as string[],
    environments: row.environments === null ? null : (JSON.parse(row.environments) as string[]),
    description: row.description,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

function toEvent(row: Selectable<EventTable>): EventRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    type: row.type,
    environmentId: row.environment_id,
    environment: row.environment,
    data: JSON.parse(row.data) as Record<string, unknown>,
    at: row.at,
  };
}

function toDelivery(row: Selectable<EventDeliveryTable>): DeliveryRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    subscriptionId: row.subscription_id,
    eventId: row.event_id,
    status: row.status as DeliveryStatus,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastAttemptAt: row.last_attempt_at,
    lastStatus: row.last_status,
    lastError: row.last_error,
    lastResponse: row.last_response,
    deliveredAt: row.delivered_at,
    createdAt: row.created_at,
  };
}

export async function insertSubscription(db: Db, sub: EventSubscriptionRecord) {
  await db
    .insertInto('event_subscriptions')
    .values({
      id: sub.id,
      workspace_id: sub.workspaceId,
      url_sealed: sub.urlSealed,
      url_hint: sub.urlHint,
      secret_sealed: sub.secretSealed,
      types: JSON.stringify(sub.types),
      environments: sub.environments === null ? null : JSON.stringify(sub.environments),
      description: sub.description,
      created_by: sub.createdBy,
      created_at: sub.createdAt,
    })
    .execute();
}

export async function listSubscriptions(db: Db, workspaceId: string): Promise<EventSubscriptionRecord[]> {
  const rows = await db.selectFrom('event_subscriptions').selectAll().where('workspace_id', '=', workspaceId).orderBy('created_at').orderBy('id').execute();
  return rows.map(toSubscription);
}

export async function findSubscription(db: Db, workspaceId: string, id: string): Promise<EventSubscriptionRecord | undefined> {
  const row = await db.selectFrom('event_subscriptions').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return row && toSubscription(row);
}

/** Deletes a subscription and its deliveries, sent or not: nothing more goes to it. */
export async function deleteSubscription(db: Db, workspaceId: string, id: string) {
  await db.deleteFrom('event_deliveries').where('workspace_id', '=', workspaceId).where('subscription_id', '=', id).execute();
  await db.deleteFrom('event_subscriptions').where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}

/** Writes an event and its deliveries (due at once) in the caller's transaction. */
export async function insertEvent(db: Db, event: EventRecord, deliveries: { id: string; subscriptionId: string }[]) {
  await db
    .insertInto('events')
    .values({
      id: event.id,
      workspace_id: event.workspaceId,
      type: event.type,
      environment_id: event.environmentId,
      environment: event.environment,
      data: JSON.stringify(event.data),
      at: event.at,
    })
    .execute();
  if (deliveries.length === 0) return;
  await db
    .insertInto('event_deliveries')
    .values(
      deliveries.map((d) => ({
        id: d.id,
        workspace_id: event.workspaceId,
        subscription_id: d.subscriptionId,
        event_id: event.id,
        status: 'pending',
        attempts: 0,
        next_attempt_at: event.at,
        created_at: event.at,
      })),
    )
    .execute();
}

/** One subscription's deliveries, newest first, after `position`. */
export async function listDeliveries(db: Db, workspaceId: string, subscriptionId: string, position: { at: string; id: string } | null, limit: number): Promise<DeliveryLogRecord[]> {
  let query = db
    .selectFrom('event_deliveries as d')
    .innerJoin('events as e', (join) => join.onRef('e.id', '=', 'd.event_id').onRef('e.workspace_id', '=', 'd.workspace_id'))
    .selectAll('d')
    .select('e.type as event_type')
    .where('d.workspace_id', '=', workspaceId)
    .where('d.subscription_id', '=', subscriptionId);
  if (position) {
    query = query.where((eb) => eb.or([eb('d.created_at', '<', position.at), eb.and([eb('d.created_at', '=', position.at), eb('d.id', '<', position.id)])]));
  }
  const rows = await query.orderBy('d.created_at', 'desc').orderBy('d.id', 'desc').limit(limit).execute();
  return rows.map(({ event_type, ...row }) => ({ ...toDelivery(row), eventType: event_type }));
}

/**
 * Pending deliveries due by `now` across workspaces, oldest event first: the dispatcher's scan
 * (each row is then claimed by its workspace and id).
 */
export async function dueDeliveries(db: Db, now: string, limit: number): Promise<DueDelivery[]> {
  const rows = await db
    .selectFrom('event_deliveries as d')
    .innerJoin('events as e', (join) => join.onRef('e.id', '=', 'd.event_id').onRef('e.workspace_id', '=', 'd.workspace_id'))
    .innerJoin('event_subscriptions as s', (join) => join.onRef('s.id', '=', 'd.subscription_id').onRef('s.workspace_id', '=', 'd.workspace_id'))
    .selectAll('d')
    .select([
      'e.type as e_type',
      'e.environment_id as e_environment_id',
      'e.environment as e_environment',
      'e.data as e_data',
      'e.at as e_at',
      's.url_sealed as s_url_sealed',
      's.url_hint as s_url_hint',
      's.secret_sealed as s_secret_sealed',
      's.types as s_types',
      's.environments as s_environments',
      's.description as s_description',
      's.created_by as s_created_by',
      's.created_at as s_created_at',
    ])
    .where('d.status', '=', 'pending')
    .where('d.next_attempt_at', '<=', now)
    .orderBy('d.created_at')
    .orderBy('d.id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    delivery: toDelivery(row),
    event: toEvent({ id: row.event_id, workspace_id: row.workspace_id, type: row.e_type, environment_id: row.e_environment_id, environment: row.e_environment, data: row.e_data, at: row.e_at }),
    subscription: toSubscription({
      id: row.subscription_id,
      workspace_id: row.workspace_id,
      url_sealed: row.s_url_sealed,
      url_hint: row.s_url_hint,
      secret_sealed: row.s_secret_sealed,
      types: row.s_types,
      environments: row.s_environments,
      description: row.s_description,
      created_by: row.s_created_by,
      created_at: row.s_created_at,
    }),
  }));
}

/**
 * Takes a due delivery for one attempt by moving its due time to `until` (when a node that died
 * mid-attempt lets it be taken again). Only one of several nodes that read the same row wins:
 * the update matches only the attempt count and due time they read.
 */
export async function claimDelivery(db: Db, delivery: DeliveryRecord, until: string): Promise<boolean> {
  const result = await db
    .updateTable('event_deliveries')
    .set({ next_attempt_at: until })
    .where('workspace_id', '=', delivery.workspaceId)
    .where('id', '=', delivery.id)
    .where('status', '=', 'pending')
    .where('attempts', '=', delivery.attempts)
    .where('next_attempt_at', '=', delivery.nextAttemptAt)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Records the attempt after the `attempts` already made (no row when the subscription went meanwhile). */
export async function recordAttempt(db: Db, delivery: DeliveryRecord, outcome: AttemptOutcome) {
  await db
    .updateTable('event_deliveries')
    .set({
      status: outcome.status,
      attempts: delivery.attempts + 1,
      next_attempt_at: outcome.nextAttemptAt,
      last_attempt_at: outcome.at,
      last_status: outcome.lastStatus,
      last_error: outcome.lastError,
      last_response: outcome.lastResponse,
      delivered_at: outcome.status === 'delivered' ? outcome.at : null,
    })
    .where('workspace_id', '=', delivery.workspaceId)
    .where('id', '=', delivery.id)
    .where('attempts', '=', delivery.attempts)
    .execute();
}
