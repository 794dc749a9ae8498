// Outbound events (promotions, rollbacks, requests, gates, holds, kill switches, alerts, watches):
// written to the outbox in the caller's transaction, with one delivery row per matching event
// subscription, so an event exists (and is sent) exactly when the change that made it committed.
import type { EventType, OutboundEvent } from '../metrics/contract.js';
import type { Db } from '../store/database.js';
import { findEnvironment } from '../store/environments.js';
import { insertEvent, listSubscriptions, type EventSubscriptionRecord } from '../store/events.js';
import { newId, type CallContext, type Deps } from './context.js';

const TYPES = {
  'release.promoted': true,
  'release.rolled_back': true,
  'promotion_request.created': true,
  'promotion_request.approved': true,
  'promotion_request.rejected': true,
  'promotion_request.applied': true,
  'gate.changed': true,
  'environment.hold_set': true,
  'environment.hold_cleared': true,
  'resource.killswitch': true,
  'alert.firing': true,
  'alert.resolved': true,
  'watch.started': true,
  'watch.passed': true,
  'watch.breached': true,
} satisfies Record<EventType, true>;

/** Every event type (the contract's union, checked complete at compile time). */
export const EVENT_TYPES = Object.keys(TYPES) as EventType[];

/** Subscribes to every type, present and future. */
export const ALL_TYPES = '*';

/** Whether a subscription receives an event: its type is listed (or `*`), and so is its environment when the subscription names some. */
export function subscribes(sub: Pick<EventSubscriptionRecord, 'types' | 'environments'>, event: { type: string; environment: string | null }): boolean {
  if (!sub.types.includes(ALL_TYPES) && !sub.types.includes(event.type)) return false;
  if (sub.environments === null) return true;
  return event.environment !== null && sub.environments.includes(event.environment);
}

/**
 * Writes `event` in `tx` with a delivery for each subscription of the workspace that wants it.
 * The data is stored with who acted (`actor`), and sent with the environment's slug.
 */
export async function emitEvent(deps: Deps, tx: Db, ctx: CallContext, event: OutboundEvent): Promise<void> {
  const workspaceId = ctx.workspace.id;
  const env = event.environment === null ? undefined : await findEnvironment(tx, workspaceId, event.environment);
  const subscribers = (await listSubscriptions(tx, workspaceId)).filter((sub) => subscribes(sub, event));
  const { kind, id, name } = ctx.actor;
  await insertEvent(
    tx,
    {
      id: newId('evt'),
      workspaceId,
      type: event.type,
      environmentId: env?.id ?? null,
      environment: event.environment,
      data: { actor: { kind, id, name }, ...event.data },
      at: deps.now().toISOString(),
    },
    subscribers.map((sub) => ({ id: newId('evd'), subscriptionId: sub.id })),
  );
}
