// Sends the outbox's due event deliveries as Standard Webhooks, on the one node holding the
// 'events' lease: oldest first, retried on a widening schedule, each attempt logged on its row.
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { EventsConfig } from '../config.js';
import { defaultEnvironment, type Environment } from '../domain/environments/chain.js';
import type { Deps } from '../services/context.js';
import { openSubscription } from '../services/event-subscriptions.js';
import { findEnvironmentById, listEnvironments } from '../store/environments.js';
import { claimDelivery, dueDeliveries, recordAttempt, type AttemptOutcome, type DueDelivery, type EventRecord } from '../store/events.js';
import { acquireLease, releaseLease } from '../store/leases.js';
import { ChannelError } from './channels/types.js';
import { postToReceiver } from './channels/webhook.js';
import { Sweeper } from './sweeper.js';

export const EVENTS_LEASE = 'events';
/** Deliveries read per scan; a full batch is followed by another scan at once. */
const BATCH = 50;
/** Attempts in flight at once on the holder. */
const CONCURRENCY = 10;
/** A Retry-After is honoured up to this long. */
const MAX_RETRY_AFTER_MS = 60 * 60_000;
/**
 * The wait after the n-th failed attempt, in units of the base: with the default 5 s base,
 * Svix's schedule — 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h between the last attempts.
 */
const SCHEDULE = [1, 60, 360, 1440, 3600, 7200];

/** How long after failed attempt number `attempts` (1-based) the next one is due. */
export function retryDelayMs(attempts: number, baseMs: number, retryAfterSeconds?: number): number {
  const scheduled = baseMs * SCHEDULE[Math.min(Math.max(attempts, 1), SCHEDULE.length) - 1]!;
  const asked = retryAfterSeconds === undefined ? 0 : Math.min(retryAfterSeconds * 1000, MAX_RETRY_AFTER_MS);
  return Math.max(scheduled, asked);
}

/** The body of an event's webhook: the same bytes on every attempt. */
export function eventBody(event: Pick<EventRecord, 'type' | 'at' | 'data' | 'environment'>): string {
  return JSON.stringify({ type: event.type, timestamp: event.at, data: { ...event.data, environment: event.environment } });
}

/** `webhook-signature` of Standard Webhooks: `v1,` + base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under the secret's bytes. */
export function standardSignature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export class EventDispatcher {
  /** This node's name in the lease. */
  readonly holder = `evs_${randomBytes(6).toString('hex')}`;
  private readonly sweeper: Sweeper;
  private readonly leaseMs: number;
  private stopped = false;

  constructor(
    private readonly deps: Deps,
    private readonly config: EventsConfig,
    private readonly logger?: FastifyBaseLogger,
  ) {
    this.sweeper = new Sweeper(() => this.round(), config.intervalMs, 'event delivery', logger);
    // Long enough to outlast a round of slow receivers; a node that died is replaced after it.
    this.leaseMs = Math.max(30_000, config.intervalMs * 3, config.timeoutMs * 2);
  }

  start() {
    this.sweeper.start();
  }

  /** One round now (a round running is joined): tests, and callers that cannot wait for the timer. */
  dispatch(): Promise<void> {
    return this.sweeper.sweep();
  }

  async close() {
    this.stopped = true;
    await this.sweeper.close();
    await releaseLease(this.deps.store.db, EVENTS_LEASE, this.holder).catch(() => {});
  }

  private async round() {
    const db = this.deps.store.db;
    while (!this.stopped) {
      const now = this.deps.now();
      if (!(await acquireLease(db, EVENTS_LEASE, this.holder, now, this.leaseMs))) return;
      const due = await dueDeliveries(db, now.toISOString(), BATCH);
      // Claimed before sending: should the lease change hands mid-round, no row goes out twice.
      const until = new Date(now.getTime() + this.config.timeoutMs + 30_000).toISOString();
      let next = 0;
      const lane = async () => {
        while (next < due.length && !this.stopped) {
          const item = due[next++]!;
          if (await claimDelivery(db, item.delivery, until)) await this.attempt(item);
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, due.length) }, lane));
      if (due.length < BATCH) return;
    }
  }

  /** The environment whose egress policy an event goes out under: its own, else the chain's last. */
  private async egressEnvironment(event: EventRecord): Promise<Environment | undefined> {
    const db = this.deps.store.db;
    const own = event.environmentId ? await findEnvironmentById(db, event.workspaceId, event.environmentId) : undefined;
    return own ?? defaultEnvironment(await listEnvironments(db, event.workspaceId));
  }

  private async attempt({ delivery, event, subscription }: DueDelivery) {
    const attempts = delivery.attempts + 1;
    let result: Omit<AttemptOutcome, 'at' | 'status' | 'nextAttemptAt'> & { kind: 'delivered' | 'retry' | 'failed'; retryAfterSeconds?: number | undefined };
    try {
      const env = await this.egressEnvironment(event);
      if (!env) throw new ChannelError('webhook', 'egress_denied', `workspace ${event.workspaceId} has no environment whose egress policy could apply`, false);
      const { url, secret } = await openSubscription(this.deps, this.deps.store.db, subscription);
      const body = eventBody(event);
      const timestamp = Math.floor(this.deps.now().getTime() / 1000);
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'Stageline-Events/1',
        'webhook-id': event.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': standardSignature(secret, event.id, timestamp, body),
      };
      const answer = await postToReceiver(this.deps, env, url, headers, body, this.config.timeoutMs);
      const ok = answer.status >= 200 && answer.status < 300;
      result = {
        kind: ok ? 'delivered' : 'retry',
        lastStatus: answer.status,
        lastError: ok ? null : `the receiver ${subscription.urlHint} answered ${answer.status}`,
        lastResponse: answer.snippet || null,
        retryAfterSeconds: answer.retryAfterSeconds,
      };
    } catch (error) {
      // A destination the egress policy refuses needs a change of policy or URL: retrying only repeats the refusal.
      const refused = error instanceof ChannelError && error.code === 'egress_denied';
      if (!(error instanceof ChannelError)) this.logger?.error({ err: error, delivery: delivery.id }, 'event delivery failed');
      const message = error instanceof Error ? error.message : String(error);
      result = { kind: refused ? 'failed' : 'retry', lastStatus: null, lastError: message.slice(0, 500), lastResponse: null };
    }
    const { kind, retryAfterSeconds, ...logged } = result;
    const more = kind === 'retry' && attempts < this.config.maxAttempts;
    const now = this.deps.now();
    const nextAttemptAt = more ? new Date(now.getTime() + retryDelayMs(attempts, this.config.retryBaseMs, retryAfterSeconds)).toISOString() : null;
    const status = kind === 'delivered' ? 'delivered' : more ? 'pending' : 'failed';
    if (status === 'failed') this.logger?.warn({ delivery: delivery.id, event: event.id, attempts }, 'event delivery failed for good');
    await recordAttempt(this.deps.store.db, delivery, { ...logged, status, at: now.toISOString(), nextAttemptAt });
  }
}
