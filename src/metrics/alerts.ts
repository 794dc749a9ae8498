// Alert evaluation: on the one node holding the `alerts` lease, each rule's figures over its
// window decide its state (ok | firing); a transition is recorded with one outbox row per
// channel, and the outbox is delivered with retries and backoff. Also what gates and health ask.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { SYSTEM_ACTOR } from '../domain/auth/permissions.js';
import { retryDelayMs, type RetryPolicy } from '../domain/workflows/progress.js';
import { newId, type CallContext, type Deps } from '../services/context.js';
import { emitEvent } from '../services/events.js';
import { ChannelError, type Channels } from '../runtime/channels/index.js';
import { Sweeper } from '../runtime/sweeper.js';
import {
  claimNotification,
  dueNotifications,
  firedSince,
  firingRules,
  insertAlertEvent,
  insertNotifications,
  isSilenced,
  listRules,
  listRulesToEvaluate,
  recordAttempt,
  transitionRule,
  type AlertEventRecord,
  type AlertState,
  type Comparison,
  type EvaluatedRule,
  type NotificationRecord,
} from '../store/alerts.js';
import { findEnvironmentById } from '../store/environments.js';
import { acquireLease, releaseLease } from '../store/leases.js';
import type { AlertMetric, AlertStates, Figures, MetricFamily } from './contract.js';
import { notify, openChannels, type AlertMessage } from './notify.js';

// ---------------------------------------------------------------------------------------------
// The rule itself (pure)

export const ALERT_METRICS = ['error_rate', 'p95_latency_ms', 'p99_latency_ms', 'request_rate', 'upstream_error_rate', 'workflow_failure_rate'] as const satisfies readonly AlertMetric[];

/** Metrics that are fractions 0–1 (thresholds too). */
export const RATE_METRICS: ReadonlySet<AlertMetric> = new Set(['error_rate', 'upstream_error_rate', 'workflow_failure_rate']);

export function familyOf(metric: AlertMetric): MetricFamily {
  return metric === 'workflow_failure_rate' ? 'workflow' : 'gateway';
}

/** The metric's value in the figures of a window; null when nothing was measured. */
export function metricValue(metric: AlertMetric, figures: Figures, windowMinutes: number): number | null {
  switch (metric) {
    case 'error_rate':
    case 'workflow_failure_rate':
      return figures.errorRate;
    case 'upstream_error_rate':
      return figures.upstreamErrorRate;
    case 'p95_latency_ms':
      return figures.p95Ms;
    case 'p99_latency_ms':
      return figures.p99Ms;
    case 'request_rate':
      return figures.requests / windowMinutes;
  }
}

export function holds(comparison: Comparison, value: number, threshold: number): boolean {
  switch (comparison) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

/**
 * The state a rule's figures call for: firing when the condition holds over at least
 * `minRequests` events; fewer events (an idle environment) or no measurement is ok.
 */
export function ruleState(rule: Pick<EvaluatedRule, 'metric' | 'comparison' | 'threshold' | 'windowMinutes' | 'minRequests'>, figures: Figures): { state: AlertState; value: number | null } {
  const value = metricValue(rule.metric, figures, rule.windowMinutes);
  const quiet = figures.requests < rule.minRequests || value === null;
  return { state: !quiet && holds(rule.comparison, value, rule.threshold) ? 'firing' : 'ok', value };
}

// ---------------------------------------------------------------------------------------------
// What other parts ask (soak gates, health)

export function alertStates(deps: Pick<Deps, 'store'>): AlertStates {
  return {
    async firing(workspaceId, environmentId, since, db = deps.store.db) {
      const scope = { workspaceId, environmentId };
      const now = await firingRules(db, scope);
      // A rule still firing has fired in any period that ends now.
      return { now, firedSince: now.length > 0 || (since !== undefined && (await firedSince(db, scope, since.toISOString()))) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The evaluator

export const ALERT_LEASE = 'alerts';
export const DEFAULT_ALERT_INTERVAL_MS = 30_000;
/** Up to 8 attempts, from 5 s doubling to 10 min between them (about 20 min in all). */
export const ALERT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 5_000, maxDelayMs: 10 * 60_000 };
/** A claimed notification is retried by anyone after this long (its sender died mid-send). */
const CLAIM_MS = 2 * 60_000;
const ERROR_CHARS = 500;

export interface AlertEvaluatorOptions {
  /** STAGELINE_ALERT_INTERVAL_MS; 0 never starts the timer (`run()` still evaluates on demand). */
  intervalMs?: number;
  retry?: RetryPolicy;
  /** Notifications sent per run. */
  batch?: number;
  logger?: FastifyBaseLogger;
}

export class AlertEvaluator {
  /** This node, as the lease knows it. */
  readonly holder = `node_${randomUUID()}`;
  private readonly sweeper: Sweeper;
  private readonly retry: RetryPolicy;
  private readonly intervalMs: number;

  constructor(
    private readonly deps: Deps,
    private readonly channels: Channels,
    private readonly options: AlertEvaluatorOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_ALERT_INTERVAL_MS;
    this.retry = options.retry ?? ALERT_RETRY;
    this.sweeper = new Sweeper(() => this.runOnce(), this.intervalMs, 'alert evaluation', options.logger);
  }

  start() {
    this.sweeper.start();
  }

  /** One evaluation and delivery, if this node holds the lease (joins one already running). */
  run(): Promise<void> {
    return this.sweeper.sweep();
  }

  async close() {
    await this.sweeper.close();
    await releaseLease(this.deps.store.db, ALERT_LEASE, this.holder).catch(() => {});
  }

  private async runOnce() {
    const metrics = this.deps.metrics;
    if (!metrics) return;
    // Longer than a run may take, so the holder keeps it between its runs.
    const ttlMs = Math.max(3 * this.intervalMs, 30_000);
    if (!(await acquireLease(this.deps.store.db, ALERT_LEASE, this.holder, this.deps.now(), ttlMs))) return;
    for (const rule of await listRulesToEvaluate(this.deps.store.db)) {
      try {
        const to = this.deps.now();
        const from = new Date(to.getTime() - rule.windowMinutes * 60_000);
        const figures = await metrics.figures({ workspaceId: rule.workspaceId, environmentId: rule.environmentId, family: familyOf(rule.metric), from, to });
        const { state, value } = ruleState(rule, figures);
        if (state !== rule.state) await this.transition(rule, state, value);
      } catch (error) {
        this.options.logger?.error({ err: error, rule: rule.id }, 'alert rule evaluation failed');
      }
    }
    await this.deliver();
  }

  /** Records a transition, its notifications and its event in one transaction; once, whoever races. */
  private async transition(rule: EvaluatedRule, to: AlertState, value: number | null) {
    const at = this.deps.now().toISOString();
    const scope = { workspaceId: rule.workspaceId, environmentId: rule.environmentId };
    await this.deps.store.transaction(async (tx) => {
      if (!(await transitionRule(tx, scope, rule.id, rule.state, to, at))) return;
      const silenced = await isSilenced(tx, scope, rule.id, at);
      const event: AlertEventRecord = { id: newId('alr'), ...scope, environment: rule.environment, ruleId: rule.id, rule: rule.name, state: to === 'firing' ? 'firing' : 'resolved', value, silenced, at };
      await insertAlertEvent(tx, event);
      const message: AlertMessage = {
        eventId: event.id,
        state: event.state,
        ruleId: rule.id,
        rule: rule.name,
        workspace: rule.workspaceSlug,
        environment: rule.environment,
        metric: rule.metric,
        comparison: rule.comparison,
        threshold: rule.threshold,
        value,
        windowMinutes: rule.windowMinutes,
        at,
      };
      await insertNotifications(
        tx,
        // Recorded, never sent when silenced: a silence suppresses the notification, not the transition.
        rule.channels.map((channel, index) => outboxRow(scope, rule, index, channel.type, message, silenced)),
      );
      const ctx: CallContext = { workspace: { id: rule.workspaceId, slug: rule.workspaceSlug, name: rule.workspaceName }, actor: SYSTEM_ACTOR, requestId: null };
      await emitEvent(this.deps, tx, ctx, {
        type: to === 'firing' ? 'alert.firing' : 'alert.resolved',
        environment: rule.environment,
        data: { alert: event.id, ruleId: rule.id, rule: rule.name, metric: rule.metric, comparison: rule.comparison, threshold: rule.threshold, value, silenced },
      });
    });
  }

  /** Sends what is due; each notification is claimed first, so no two senders send it. */
  private async deliver() {
    const now = this.deps.now();
    const due = await dueNotifications(this.deps.store.db, now.toISOString(), this.options.batch ?? 50);
    await Promise.all(
      due.map(async (n) => {
        if (!(await claimNotification(this.deps.store.db, n, new Date(now.getTime() + CLAIM_MS).toISOString()))) return;
        await this.attempt(n).catch((error: unknown) => this.options.logger?.error({ err: error, notification: n.id }, 'alert notification failed'));
      }),
    );
  }

  private async attempt(n: NotificationRecord) {
    const db = this.deps.store.db;
    const attempts = n.attempts + 1;
    const done = { attempts, nextAttemptAt: n.nextAttemptAt };
    const env = await findEnvironmentById(db, n.workspaceId, n.environmentId);
    const dataKey = await this.deps.keyring.existingDataKey(db, n.workspaceId);
    const channel = env && dataKey ? openChannels(dataKey, n, n.ruleId, n.channelsSealed)[n.channelIndex] : undefined;
    if (!env || !channel) {
      await recordAttempt(db, n, { ...done, status: 'failed', lastStatus: null, lastError: 'the environment or its receiver no longer exists', deliveredAt: null });
      return;
    }
    try {
      const result = await notify(this.deps, this.channels, env, channel, n.payload as unknown as AlertMessage, n.id);
      const status = /^HTTP (\d{3})$/.exec(result.detail)?.[1];
      await recordAttempt(db, n, { ...done, status: 'delivered', lastStatus: status ? Number(status) : null, lastError: null, deliveredAt: this.deps.now().toISOString() });
    } catch (error) {
      const failure = error instanceof ChannelError ? error : null;
      if (!failure) this.options.logger?.error({ err: error, notification: n.id }, 'alert notification failed');
      const transient = failure ? failure.transient : true;
      const lastError = (failure ? `${failure.code}: ${failure.message}` : 'internal error: see the node log').slice(0, ERROR_CHARS);
      const lastStatus = failure?.details.status ?? null;
      if (transient && attempts < this.retry.maxAttempts) {
        const wait = retryDelayMs(attempts, this.retry, failure?.details.retryAfterSeconds);
        await recordAttempt(db, n, { attempts, status: 'pending', nextAttemptAt: new Date(this.deps.now().getTime() + wait).toISOString(), lastStatus, lastError, deliveredAt: null });
      } else {
        await recordAttempt(db, n, { ...done, status: 'failed', lastStatus, lastError, deliveredAt: null });
      }
    }
  }
}

/** Something other than a rule's transition that the environment's receivers must hear of (a watch's breach). */
export interface EnvironmentNotice {
  workspace: { id: string; slug: string };
  environment: { id: string; slug: string };
  /** Stable per occurrence (a PagerDuty incident per notice): the watch id. */
  id: string;
  name: string;
  metric: AlertMetric;
  threshold: number;
  value: number;
  windowMinutes: number;
  summary: string;
  at: string;
}

/**
 * Queues `notice` for every distinct receiver of the environment's alert rules, in the outbox
 * alert transitions use (retries, backoff, delivery log); the evaluator on the lease holder sends
 * it. A silence of the environment (or of every rule naming a receiver) suppresses it.
 */
export async function notifyEnvironment(deps: Deps, notice: EnvironmentNotice): Promise<number> {
  const db = deps.store.db;
  const scope = { workspaceId: notice.workspace.id, environmentId: notice.environment.id };
  const rules = await listRules(db, scope.workspaceId, scope.environmentId);
  const dataKey = rules.length > 0 ? await deps.keyring.existingDataKey(db, scope.workspaceId) : null;
  if (!dataKey) return 0;
  const message: AlertMessage = {
    eventId: notice.id,
    state: 'firing',
    ruleId: notice.id,
    rule: notice.name,
    workspace: notice.workspace.slug,
    environment: notice.environment.slug,
    metric: notice.metric,
    comparison: '>',
    threshold: notice.threshold,
    value: notice.value,
    windowMinutes: notice.windowMinutes,
    at: notice.at,
    summary: notice.summary,
  };
  const seen = new Set<string>();
  const rows: NotificationRecord[] = [];
  for (const rule of rules) {
    const silenced = await isSilenced(db, scope, rule.id, notice.at);
    openChannels(dataKey, scope, rule.id, rule.channelsSealed).forEach((channel, index) => {
      const receiver = JSON.stringify(channel);
      if (seen.has(receiver)) return;
      seen.add(receiver);
      rows.push(outboxRow(scope, rule, index, channel.type, message, silenced));
    });
  }
  if (rows.length > 0) await insertNotifications(db, rows);
  return rows.length;
}

/** One outbox row: `message` to receiver `index` of `rule`, due now (or recorded as suppressed). */
function outboxRow(
  scope: { workspaceId: string; environmentId: string },
  rule: { id: string; channelsSealed: string },
  index: number,
  channelType: NotificationRecord['channelType'],
  message: AlertMessage,
  silenced: boolean,
): NotificationRecord {
  return {
    id: newId('ntf'),
    ...scope,
    eventId: message.eventId,
    ruleId: rule.id,
    channelIndex: index,
    channelType,
    channelsSealed: rule.channelsSealed,
    payload: { ...message },
    status: silenced ? 'suppressed' : 'pending',
    attempts: 0,
    nextAttemptAt: message.at,
    lastStatus: null,
    lastError: null,
    deliveredAt: null,
    createdAt: message.at,
  };
}
