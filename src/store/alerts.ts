// Alert rules and their state, silences, the transition history and the notification outbox.
// Records leave this module in camelCase; every query names its workspace (and environment).
import type { Selectable } from 'kysely';
import type { AlertMetric } from '../metrics/contract.js';
import type { Db } from './database.js';
import type { AlertEventTable, AlertNotificationTable, AlertRuleTable, AlertSilenceTable } from './schema.js';

export type Comparison = '>' | '>=' | '<' | '<=';
export type AlertState = 'ok' | 'firing';
export type ChannelType = 'slack' | 'pagerduty' | 'email' | 'webhook';

/** A channel as it is shown: secrets replaced by hints. */
export interface MaskedChannel {
  type: ChannelType;
  url?: string;
  routingKey?: string;
  to?: string;
  secret?: string;
}

/** What a rule watches and when it fires. */
export interface AlertCondition {
  name: string;
  metric: AlertMetric;
  comparison: Comparison;
  threshold: number;
  windowMinutes: number;
  minRequests: number;
}

export interface AlertRuleRecord extends AlertCondition {
  id: string;
  workspaceId: string;
  environmentId: string;
  channels: MaskedChannel[];
  channelsSealed: string;
  state: AlertState;
  stateSince: string;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/** A rule with the slugs the evaluator names it by. */
export interface EvaluatedRule extends AlertRuleRecord {
  workspaceSlug: string;
  workspaceName: string;
  environment: string;
}

export interface SilenceRecord {
  id: string;
  workspaceId: string;
  environmentId: string;
  ruleId: string | null;
  startsAt: string;
  endsAt: string;
  reason: string;
  createdBy: string;
  createdAt: string;
}

export interface AlertEventRecord {
  id: string;
  workspaceId: string;
  environmentId: string;
  environment: string;
  ruleId: string;
  rule: string;
  state: 'firing' | 'resolved';
  value: number | null;
  silenced: boolean;
  at: string;
}

export type NotificationStatus = 'pending' | 'delivered' | 'failed' | 'suppressed';

export interface NotificationRecord {
  id: string;
  workspaceId: string;
  environmentId: string;
  eventId: string;
  ruleId: string;
  channelIndex: number;
  channelType: ChannelType;
  channelsSealed: string;
  payload: Record<string, unknown>;
  status: NotificationStatus;
  attempts: number;
  nextAttemptAt: string;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

type Scope = { workspaceId: string; environmentId: string };

function toRule(row: Selectable<AlertRuleTable>): AlertRuleRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    environmentId: row.environment_id,
    name: row.name,
    metric: row.metric as AlertMetric,
    comparison: row.comparison as Comparison,
    threshold: Number(row.threshold),
    windowMinutes: row.window_minutes,
    minRequests: row.min_requests,
    channels: JSON.parse(row.channels) as MaskedChannel[],
    channelsSealed: row.channels_sealed,
    state: row.state as AlertState,
    stateSince: row.state_since,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function ruleRow(rule: AlertRuleRecord): AlertRuleTable {
  return {
    id: rule.id,
    workspace_id: rule.workspaceId,
    environment_id: rule.environmentId,
    name: rule.name,
    metric: rule.metric,
    comparison: rule.comparison,
    threshold: rule.threshold,
    window_minutes: rule.windowMinutes,
    min_requests: rule.minRequests,
    channels: JSON.stringify(rule.channels),
    channels_sealed: rule.channelsSealed,
    state: rule.state,
    state_since: rule.stateSince,
    created_by: rule.createdBy,
    created_at: rule.createdAt,
    updated_at: rule.updatedAt,
  };
}

export async function insertRule(db: Db, rule: AlertRuleRecord) {
  await db.insertInto('alert_rules').values(ruleRow(rule)).execute();
}

/** Writes a rule's definition; its state is the evaluator's and is left as it is. */
export async function updateRule(db: Db, rule: AlertRuleRecord) {
  const { state: _state, state_since: _since, id, workspace_id, environment_id, created_by: _by, created_at: _at, ...definition } = ruleRow(rule);
  await db.updateTable('alert_rules').set(definition).where('workspace_id', '=', workspace_id).where('environment_id', '=', environment_id).where('id', '=', id).execute();
}

export async function deleteRule(db: Db, scope: Scope, id: string) {
  await db.deleteFrom('alert_rules').where('workspace_id', '=', scope.workspaceId).where('environment_id', '=', scope.environmentId).where('id', '=', id).execute();
}

export async function findRule(db: Db, workspaceId: string, id: string): Promise<AlertRuleRecord | undefined> {
  const row = await db.selectFrom('alert_rules').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return row && toRule(row);
}

/** The workspace's rules, of one environment when given, by environment then name. */
export async function listRules(db: Db, workspaceId: string, environmentId?: string): Promise<AlertRuleRecord[]> {
  let query = db.selectFrom('alert_rules').selectAll().where('workspace_id', '=', workspaceId);
  if (environmentId) query = query.where('environment_id', '=', environmentId);
  return (await query.orderBy('environment_id').orderBy('name').execute()).map(toRule);
}

/** Every rule of every workspace, with the slugs the evaluator names them by. */
export async function listRulesToEvaluate(db: Db): Promise<EvaluatedRule[]> {
  const rows = await db
    .selectFrom('alert_rules')
    .innerJoin('environments', (join) => join.onRef('environments.id', '=', 'alert_rules.environment_id').onRef('environments.workspace_id', '=', 'alert_rules.workspace_id'))
    .innerJoin('workspaces', 'workspaces.id', 'alert_rules.workspace_id')
    .selectAll('alert_rules')
    .select(['environments.slug as environment', 'workspaces.slug as workspace_slug', 'workspaces.name as workspace_name'])
    .orderBy('alert_rules.id')
    .execute();
  return rows.map((row) => ({ ...toRule(row), environment: row.environment, workspaceSlug: row.workspace_slug, workspaceName: row.workspace_name }));
}

/** Moves a rule from `from` to `to`; false when another evaluator already did (or the rule is gone). */
export async function transitionRule(db: Db, scope: Scope, id: string, from: AlertState, to: AlertState, at: string): Promise<boolean> {
  const result = await db
    .updateTable('alert_rules')
    .set({ state: to, state_since: at })
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .where('state', '=', from)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Rules of the environment firing now. */
export async function firingRules(db: Db, scope: Scope): Promise<{ rule: string; since: string }[]> {
  const rows = await db
    .selectFrom('alert_rules')
    .select(['name', 'state_since'])
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('state', '=', 'firing')
    .orderBy('state_since')
    .execute();
  return rows.map((r) => ({ rule: r.name, since: r.state_since }));
}

// ---------------------------------------------------------------------------------------------
// Silences

function toSilence(row: Selectable<AlertSilenceTable>): SilenceRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    environmentId: row.environment_id,
    ruleId: row.rule_id,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

export async function insertSilence(db: Db, silence: SilenceRecord) {
  await db
    .insertInto('alert_silences')
    .values({
      id: silence.id,
      workspace_id: silence.workspaceId,
      environment_id: silence.environmentId,
      rule_id: silence.ruleId,
      starts_at: silence.startsAt,
      ends_at: silence.endsAt,
      reason: silence.reason,
      created_by: silence.createdBy,
      created_at: silence.createdAt,
    })
    .execute();
}

/** Silences not ended by `now`, of one environment when given. */
export async function listSilences(db: Db, workspaceId: string, now: string, environmentId?: string): Promise<SilenceRecord[]> {
  let query = db.selectFrom('alert_silences').selectAll().where('workspace_id', '=', workspaceId).where('ends_at', '>', now);
  if (environmentId) query = query.where('environment_id', '=', environmentId);
  return (await query.orderBy('starts_at').orderBy('id').execute()).map(toSilence);
}

export async function findSilence(db: Db, workspaceId: string, id: string): Promise<SilenceRecord | undefined> {
  const row = await db.selectFrom('alert_silences').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return row && toSilence(row);
}

export async function deleteSilence(db: Db, workspaceId: string, id: string) {
  await db.deleteFrom('alert_silences').where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}

/** Whether a silence covering the rule (or its whole environment) is in effect at `at`. */
export async function isSilenced(db: Db, scope: Scope, ruleId: string, at: string): Promise<boolean> {
  const row = await db
    .selectFrom('alert_silences')
    .select('id')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where((eb) => eb.or([eb('rule_id', 'is', null), eb('rule_id', '=', ruleId)]))
    .where('starts_at', '<=', at)
    .where('ends_at', '>', at)
    .executeTakeFirst();
  return row !== undefined;
}

// ---------------------------------------------------------------------------------------------
// History

function toEvent(row: Selectable<AlertEventTable>): AlertEventRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    environmentId: row.environment_id,
    environment: row.environment,
    ruleId: row.rule_id,
    rule: row.rule,
    state: row.state as 'firing' | 'resolved',
    value: row.value === null ? null : Number(row.value),
    silenced: row.silenced === 1,
    at: row.at,
  };
}

export async function insertAlertEvent(db: Db, event: AlertEventRecord) {
  await db
    .insertInto('alert_events')
    .values({
      id: event.id,
      workspace_id: event.workspaceId,
      environment_id: event.environmentId,
      environment: event.environment,
      rule_id: event.ruleId,
      rule: event.rule,
      state: event.state,
      value: event.value,
      silenced: event.silenced ? 1 : 0,
      at: event.at,
    })
    .execute();
}

export interface AlertEventFilter {
  environmentId?: string;
  /** A rule id or name. */
  rule?: string;
  state?: 'firing' | 'resolved';
}

/** Newest first, after the position `after` (the last entry of the previous page). */
export async function listAlertEvents(db: Db, workspaceId: string, filter: AlertEventFilter, after: { at: string; id: string } | null, limit: number): Promise<AlertEventRecord[]> {
  let query = db.selectFrom('alert_events').selectAll().where('workspace_id', '=', workspaceId);
  if (filter.environmentId) query = query.where('environment_id', '=', filter.environmentId);
  if (filter.rule) query = query.where((eb) => eb.or([eb('rule_id', '=', filter.rule!), eb('rule', '=', filter.rule!)]));
  if (filter.state) query = query.where('state', '=', filter.state);
  if (after) query = query.where((eb) => eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb('id', '<', after.id)])]));
  return (await query.orderBy('at', 'desc').orderBy('id', 'desc').limit(limit).execute()).map(toEvent);
}

/** Whether any rule of the environment started firing at or after `since`. */
export async function firedSince(db: Db, scope: Scope, since: string): Promise<boolean> {
  const row = await db
    .selectFrom('alert_events')
    .select('id')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('state', '=', 'firing')
    .where('at', '>=', since)
    .executeTakeFirst();
  return row !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Notification outbox

function toNotification(row: Selectable<AlertNotificationTable>): NotificationRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    environmentId: row.environment_id,
    eventId: row.event_id,
    ruleId: row.rule_id,
    channelIndex: row.channel_index,
    channelType: row.channel_type as ChannelType,
    channelsSealed: row.channels_sealed,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    status: row.status as NotificationStatus,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastStatus: row.last_status,
    lastError: row.last_error,
    deliveredAt: row.delivered_at,
    createdAt: row.created_at,
  };
}

export async function insertNotifications(db: Db, notifications: NotificationRecord[]) {
  if (notifications.length === 0) return;
  await db
    .insertInto('alert_notifications')
    .values(
      notifications.map((n) => ({
        id: n.id,
        workspace_id: n.workspaceId,
        environment_id: n.environmentId,
        event_id: n.eventId,
        rule_id: n.ruleId,
        channel_index: n.channelIndex,
        channel_type: n.channelType,
        channels_sealed: n.channelsSealed,
        payload: JSON.stringify(n.payload),
        status: n.status,
        attempts: n.attempts,
        next_attempt_at: n.nextAttemptAt,
        last_status: n.lastStatus,
        last_error: n.lastError,
        delivered_at: n.deliveredAt,
        created_at: n.createdAt,
      })),
    )
    .execute();
}

/** Pending notifications due at `now`, oldest first, across workspaces. */
export async function dueNotifications(db: Db, now: string, limit: number): Promise<NotificationRecord[]> {
  const rows = await db
    .selectFrom('alert_notifications')
    .selectAll()
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map(toNotification);
}

/**
 * Takes a due notification for one attempt by moving its next attempt to `until`; false when
 * another sender took it first (its `next_attempt_at` is no longer the one read).
 */
export async function claimNotification(db: Db, n: NotificationRecord, until: string): Promise<boolean> {
  const result = await db
    .updateTable('alert_notifications')
    .set({ next_attempt_at: until })
    .where('workspace_id', '=', n.workspaceId)
    .where('id', '=', n.id)
    .where('status', '=', 'pending')
    .where('next_attempt_at', '=', n.nextAttemptAt)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** The outcome of one attempt. */
export async function recordAttempt(
  db: Db,
  n: NotificationRecord,
  outcome: { status: NotificationStatus; attempts: number; nextAttemptAt: string; lastStatus: number | null; lastError: string | null; deliveredAt: string | null },
) {
  await db
    .updateTable('alert_notifications')
    .set({
      status: outcome.status,
      attempts: outcome.attempts,
      next_attempt_at: outcome.nextAttemptAt,
      last_status: outcome.lastStatus,
      last_error: outcome.lastError,
      delivered_at: outcome.deliveredAt,
    })
    .where('workspace_id', '=', n.workspaceId)
    .where('id', '=', n.id)
    .execute();
}

/** The notifications of some transitions (their delivery log). */
export async function notificationsOf(db: Db, workspaceId: string, eventIds: string[]): Promise<NotificationRecord[]> {
  if (eventIds.length === 0) return [];
  const rows = await db
    .selectFrom('alert_notifications')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('event_id', 'in', eventIds)
    .orderBy('created_at')
    .orderBy('channel_index')
    .execute();
  return rows.map(toNotification);
}
