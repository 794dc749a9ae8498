// Event subscriptions of a workspace: a receiver URL, the event types and environments it wants,
// and the Standard Webhooks signing secret answered once at creation; plus each one's delivery log.
import { randomBytes } from 'node:crypto';
import { authorize } from '../domain/auth/permissions.js';
import { decodeCursor, encodeCursor, TIME_POSITION } from '../domain/cursor.js';
import { invalid, notFound, type FieldIssue } from '../domain/errors.js';
import { decryptSecret, encryptSecret, KeyError } from '../domain/secrets/envelope.js';
import type { Db } from '../store/database.js';
import { listEnvironments } from '../store/environments.js';
import {
  deleteSubscription,
  findSubscription,
  insertSubscription,
  listDeliveries,
  listSubscriptions,
  type DeliveryLogRecord,
  type EventSubscriptionRecord,
} from '../store/events.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps } from './context.js';
import { ALL_TYPES, EVENT_TYPES } from './events.js';

/** Who manages subscriptions and reads their logs: they send the workspace's events anywhere. */
const PERMISSION = 'workspace.manage';
/** Bytes of a signing secret (Standard Webhooks asks for 24 to 64). */
const SECRET_BYTES = 32;

export interface SubscriptionInput {
  url: string;
  types: string[];
  environments?: string[] | undefined;
  description?: string | null | undefined;
}

/** The URL's origin, and `/…` when a path or query (which may hold a token) is hidden. */
export function urlHint(url: URL): string {
  return url.pathname === '/' && url.search === '' ? url.origin : `${url.origin}/…`;
}

function subscriptionView(sub: EventSubscriptionRecord) {
  const { id, urlHint: url, types, environments, description, createdBy, createdAt } = sub;
  return { id, url, types, environments, description, createdBy, createdAt };
}

function deliveryView(d: DeliveryLogRecord) {
  return {
    id: d.id,
    eventId: d.eventId,
    type: d.eventType,
    status: d.status,
    attempts: d.attempts,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    lastResponse: d.lastResponse,
    lastAttemptAt: d.lastAttemptAt,
    nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt : null,
    deliveredAt: d.deliveredAt,
    createdAt: d.createdAt,
  };
}

/** The sealed values of a subscription are bound to it (its id and what they are). */
const aad = (sub: Pick<EventSubscriptionRecord, 'workspaceId' | 'id'>, name: 'url' | 'secret') => ({
  workspaceId: sub.workspaceId,
  environmentId: '',
  name: `event-subscription/${sub.id}/${name}`,
  version: 1,
});

/** The receiver URL and signing secret of a subscription, unsealed (for the dispatcher only). */
export async function openSubscription(deps: Deps, db: Db, sub: EventSubscriptionRecord): Promise<{ url: string; secret: string }> {
  const dataKey = await deps.keyring.existingDataKey(db, sub.workspaceId);
  if (!dataKey) throw new KeyError(`workspace ${sub.workspaceId} has event subscriptions but no data key`);
  return { url: decryptSecret(dataKey, sub.urlSealed, aad(sub, 'url')), secret: decryptSecret(dataKey, sub.secretSealed, aad(sub, 'secret')) };
}

function receiverUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid([{ field: 'url', message: 'is not a URL', in: 'body' }]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid([{ field: 'url', message: 'must be an http or https URL', in: 'body' }]);
  return url;
}

/** Listed types, each known or `*`, without repeats. */
function eventTypes(types: string[]): string[] {
  const known = new Set<string>([ALL_TYPES, ...EVENT_TYPES]);
  const issues: FieldIssue[] = types.flatMap((type, i) => (known.has(type) ? [] : [{ field: `types.${i}`, message: `is not an event type (${ALL_TYPES} or one of ${EVENT_TYPES.join(', ')})`, in: 'body' as const }]));
  if (issues.length > 0) throw invalid(issues);
  return [...new Set(types)];
}

export async function listEventSubscriptions(deps: Deps, ctx: CallContext) {
  authorize(ctx.actor, PERMISSION);
  return { data: (await listSubscriptions(deps.store.db, ctx.workspace.id)).map(subscriptionView), next: null };
}

export async function getEventSubscription(deps: Deps, ctx: CallContext, id: string) {
  authorize(ctx.actor, PERMISSION);
  const sub = await findSubscription(deps.store.db, ctx.workspace.id, id);
  if (!sub) throw notFound(`event subscription ${id}`);
  return subscriptionView(sub);
}

/** Creates a subscription; the answer carries its signing secret, the only time it is shown. */
export async function createEventSubscription(deps: Deps, ctx: CallContext, input: SubscriptionInput) {
  authorize(ctx.actor, PERMISSION);
  const url = receiverUrl(input.url);
  const types = eventTypes(input.types);
  const at = deps.now().toISOString();
  return deps.store.transaction(async (tx) => {
    let environments: string[] | null = null;
    if (input.environments !== undefined) {
      const slugs = new Set((await listEnvironments(tx, ctx.workspace.id)).map((env) => env.slug));
      const issues = input.environments.flatMap((slug, i) => (slugs.has(slug) ? [] : [{ field: `environments.${i}`, message: `no environment ${slug}`, in: 'body' as const }]));
      if (issues.length > 0) throw invalid(issues);
      environments = [...new Set(input.environments)];
    }
    const secret = `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
    const dataKey = await deps.keyring.dataKey(tx, ctx.workspace.id, at);
    const ref = { workspaceId: ctx.workspace.id, id: newId('esub') };
    const sub: EventSubscriptionRecord = {
      ...ref,
      urlSealed: encryptSecret(dataKey, url.href, aad(ref, 'url')),
      urlHint: urlHint(url),
      secretSealed: encryptSecret(dataKey, secret, aad(ref, 'secret')),
      types,
      environments,
      description: input.description ?? null,
      createdBy: ctx.actor.id,
      createdAt: at,
    };
    await insertSubscription(tx, sub);
    const facts = { url: sub.urlHint, types, environments };
    await record(deps, tx, ctx, { action: 'event_subscription.create', target: `event-subscription/${sub.id}`, after: facts, details: { ...facts, description: sub.description } });
    return { ...subscriptionView(sub), secret };
  });
}

export async function deleteEventSubscription(deps: Deps, ctx: CallContext, id: string) {
  authorize(ctx.actor, PERMISSION);
  await deps.store.transaction(async (tx) => {
    const sub = await findSubscription(tx, ctx.workspace.id, id);
    if (!sub) throw notFound(`event subscription ${id}`);
    await deleteSubscription(tx, ctx.workspace.id, id);
    await record(deps, tx, ctx, { action: 'event_subscription.delete', target: `event-subscription/${id}`, before: { url: sub.urlHint, types: sub.types, environments: sub.environments } });
  });
}

/** A subscription's deliveries, newest first. */
export async function listEventDeliveries(deps: Deps, ctx: CallContext, id: string, cursor: string | undefined, limit: number) {
  authorize(ctx.actor, PERMISSION);
  const position = decodeCursor(cursor, TIME_POSITION);
  const sub = await findSubscription(deps.store.db, ctx.workspace.id, id);
  if (!sub) throw notFound(`event subscription ${id}`);
  const rows = await listDeliveries(deps.store.db, ctx.workspace.id, id, position, limit + 1);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { data: page.map(deliveryView), next: rows.length > limit && last ? encodeCursor({ at: last.createdAt, id: last.id }) : null };
}
