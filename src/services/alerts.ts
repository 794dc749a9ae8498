// Alert rules, silences and the firing history as members manage and read them. Receiver urls,
// routing keys and webhook secrets are sealed with the workspace data key and shown as hints.
import { authorize, can } from '../domain/auth/permissions.js';
import { decodeCursor, encodeCursor, TIME_POSITION } from '../domain/cursor.js';
import type { Environment } from '../domain/environments/chain.js';
import { conflict, invalid, notFound, type FieldIssue } from '../domain/errors.js';
import { RATE_METRICS } from '../metrics/alerts.js';
import type { AlertMetric } from '../metrics/contract.js';
import { maskChannel, sealChannels, type AlertChannel } from '../metrics/notify.js';
import {
  deleteRule,
  deleteSilence,
  findRule,
  findSilence,
  insertRule,
  insertSilence,
  listAlertEvents,
  listRules,
  listSilences,
  notificationsOf,
  updateRule,
  type AlertCondition,
  type AlertEventRecord,
  type AlertRuleRecord,
  type NotificationRecord,
  type SilenceRecord,
} from '../store/alerts.js';
import type { Db } from '../store/database.js';
import { findEnvironmentById, listEnvironments } from '../store/environments.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps } from './context.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';

export interface AlertRuleDefinition extends AlertCondition {
  channels: AlertChannel[];
}

export interface AlertRuleInput extends AlertRuleDefinition {
  environment: string;
}

/** Longest silence: a forgotten one must end by itself. */
const MAX_SILENCE_MS = 90 * 24 * 3600_000;

function ruleView(rule: AlertRuleRecord, environment: string) {
  const { id, name, metric, comparison, threshold, windowMinutes, minRequests, channels, state, stateSince, createdBy, createdAt, updatedAt } = rule;
  return { id, environment, name, metric, comparison, threshold, windowMinutes, minRequests, channels, state, stateSince, createdBy, createdAt, updatedAt };
}

/** What the audit log keeps of a rule: its definition with receivers as types only. */
function auditedDefinition(rule: AlertRuleRecord) {
  const { name, metric, comparison, threshold, windowMinutes, minRequests } = rule;
  return { name, metric, comparison, threshold, windowMinutes, minRequests, channels: rule.channels.map((c) => c.type) };
}

function thresholdIssues(metric: AlertMetric, threshold: number): FieldIssue[] {
  if (RATE_METRICS.has(metric) && (threshold < 0 || threshold > 1)) {
    return [{ field: 'threshold', message: `${metric} is a fraction from 0 to 1 (0.05 is 5%)`, in: 'body' }];
  }
  if (threshold < 0) return [{ field: 'threshold', message: 'must not be negative', in: 'body' }];
  return [];
}

/** Environment slugs by id, for views of rules and silences listed across a workspace. */
async function slugsOf(db: Db, workspaceId: string): Promise<Map<string, string>> {
  return new Map((await listEnvironments(db, workspaceId)).map((env) => [env.id, env.slug]));
}

/** The rule `id` of the workspace with its environment; 404 when either is gone. */
async function ruleOf(db: Db, ctx: CallContext, id: string): Promise<{ rule: AlertRuleRecord; env: Environment }> {
  const rule = await findRule(db, ctx.workspace.id, id);
  const env = rule && (await findEnvironmentById(db, ctx.workspace.id, rule.environmentId));
  if (!rule || !env) throw notFound(`alert rule ${id}`);
  return { rule, env };
}

async function assertNameFree(db: Db, env: Environment, name: string, except?: string) {
  const taken = (await listRules(db, env.workspaceId, env.id)).some((r) => r.name === name && r.id !== except);
  if (taken) throw conflict('alert_rule_exists', `${env.slug} already has an alert rule named ${JSON.stringify(name)}`);
}

async function sealed(deps: Deps, tx: Db, env: Environment, ruleId: string, channels: AlertChannel[], at: string) {
  const dataKey = await deps.keyring.dataKey(tx, env.workspaceId, at);
  return { channels: channels.map(maskChannel), channelsSealed: sealChannels(dataKey, { workspaceId: env.workspaceId, environmentId: env.id }, ruleId, channels) };
}

export async function listAlertRules(deps: Deps, ctx: CallContext, environment: string | undefined) {
  authorize(ctx.actor, environment === undefined ? 'workspace.read' : 'resource.read', environment);
  const env = environment === undefined ? undefined : await environmentOf(deps.store.db, ctx, environment);
  const slugs = await slugsOf(deps.store.db, ctx.workspace.id);
  const rules = await listRules(deps.store.db, ctx.workspace.id, env?.id);
  const views = [];
  for (const rule of rules) {
    const slug = slugs.get(rule.environmentId);
    if (slug !== undefined && can(ctx.actor, 'resource.read', slug)) views.push(ruleView(rule, slug));
  }
  return { data: views, next: null };
}

export async function getAlertRule(deps: Deps, ctx: CallContext, id: string) {
  const { rule, env } = await ruleOf(deps.store.db, ctx, id);
  authorize(ctx.actor, 'resource.read', env.slug);
  return ruleView(rule, env.slug);
}

export async function createAlertRule(deps: Deps, ctx: CallContext, input: AlertRuleInput) {
  authorize(ctx.actor, 'alert.manage', input.environment);
  const issues = thresholdIssues(input.metric, input.threshold);
  if (issues.length > 0) throw invalid(issues);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, input.environment);
    await assertNameFree(tx, env, input.name);
    const at = deps.now().toISOString();
    const id = newId('arl');
    const rule: AlertRuleRecord = {
      id,
      workspaceId: env.workspaceId,
      environmentId: env.id,
      name: input.name,
      metric: input.metric,
      comparison: input.comparison,
      threshold: input.threshold,
      windowMinutes: input.windowMinutes,
      minRequests: input.minRequests,
      ...(await sealed(deps, tx, env, id, input.channels, at)),
      state: 'ok',
      stateSince: at,
      createdBy: ctx.actor.id,
      createdAt: at,
      updatedAt: at,
    };
    await insertRule(tx, rule);
    // Receivers are named by type only: their urls, keys and secrets never reach the log.
    await record(deps, tx, ctx, { action: 'alert_rule.create', environment: env.slug, target: `alert-rule/${id}`, after: auditedDefinition(rule), details: auditedDefinition(rule) });
    return ruleView(rule, env.slug);
  });
}

export async function updateAlertRule(deps: Deps, ctx: CallContext, id: string, patch: Partial<AlertRuleDefinition>) {
  return deps.store.transaction(async (tx) => {
    const found = await ruleOf(tx, ctx, id);
    authorize(ctx.actor, 'alert.manage', found.env.slug);
    const env = await lockedEnvironmentOf(deps, tx, ctx, found.env.slug);
    const { rule: before } = await ruleOf(tx, ctx, id);
    const metric = patch.metric ?? before.metric;
    const threshold = patch.threshold ?? before.threshold;
    const issues = thresholdIssues(metric, threshold);
    if (issues.length > 0) throw invalid(issues);
    if (patch.name !== undefined) await assertNameFree(tx, env, patch.name, id);
    const at = deps.now().toISOString();
    const after: AlertRuleRecord = {
      ...before,
      name: patch.name ?? before.name,
      metric,
      comparison: patch.comparison ?? before.comparison,
      threshold,
      windowMinutes: patch.windowMinutes ?? before.windowMinutes,
      minRequests: patch.minRequests ?? before.minRequests,
      // Channels are replaced as a whole: reads show hints only, so a kept receiver is sent again.
      ...(patch.channels ? await sealed(deps, tx, env, id, patch.channels, at) : {}),
      updatedAt: at,
    };
    await updateRule(tx, after);
    await record(deps, tx, ctx, {
      action: 'alert_rule.update',
      environment: env.slug,
      target: `alert-rule/${id}`,
      before: auditedDefinition(before),
      after: auditedDefinition(after),
      details: { ...auditedDefinition(after), changed: Object.keys(patch).sort() },
    });
    return ruleView(after, env.slug);
  });
}

export async function deleteAlertRule(deps: Deps, ctx: CallContext, id: string) {
  await deps.store.transaction(async (tx) => {
    const found = await ruleOf(tx, ctx, id);
    authorize(ctx.actor, 'alert.manage', found.env.slug);
    const env = await lockedEnvironmentOf(deps, tx, ctx, found.env.slug);
    const { rule } = await ruleOf(tx, ctx, id);
    await deleteRule(tx, { workspaceId: env.workspaceId, environmentId: env.id }, id);
    await record(deps, tx, ctx, { action: 'alert_rule.delete', environment: env.slug, target: `alert-rule/${id}`, before: auditedDefinition(rule), details: { name: rule.name } });
  });
}

// ---------------------------------------------------------------------------------------------
// Silences

function silenceView(silence: SilenceRecord, environment: string, rule: string | null, now: Date) {
  const { id, ruleId, startsAt, endsAt, reason, createdBy, createdAt } = silence;
  const at = now.toISOString();
  return { id, environment, ruleId, rule, startsAt, endsAt, reason, createdBy, createdAt, active: startsAt <= at && at < endsAt };
}

export async function listAlertSilences(deps: Deps, ctx: CallContext, environment: string | undefined) {
  authorize(ctx.actor, environment === undefined ? 'workspace.read' : 'resource.read', environment);
  const db = deps.store.db;
  const env = environment === undefined ? undefined : await environmentOf(db, ctx, environment);
  const now = deps.now();
  const slugs = await slugsOf(db, ctx.workspace.id);
  const names = new Map((await listRules(db, ctx.workspace.id, env?.id)).map((r) => [r.id, r.name]));
  const views = [];
  for (const silence of await listSilences(db, ctx.workspace.id, now.toISOString(), env?.id)) {
    const slug = slugs.get(silence.environmentId);
    if (slug === undefined || !can(ctx.actor, 'resource.read', slug)) continue;
    views.push(silenceView(silence, slug, silence.ruleId === null ? null : (names.get(silence.ruleId) ?? null), now));
  }
  return { data: views, next: null };
}

export async function createAlertSilence(deps: Deps, ctx: CallContext, input: { environment: string; rule?: string; startsAt?: string; endsAt: string; reason: string }) {
  authorize(ctx.actor, 'alert.manage', input.environment);
  const now = deps.now();
  const startsAt = input.startsAt ?? now.toISOString();
  if (input.endsAt <= startsAt) throw invalid([{ field: 'endsAt', message: 'must be after startsAt (or now)', in: 'body' }]);
  if (input.endsAt <= now.toISOString()) throw invalid([{ field: 'endsAt', message: 'must be in the future', in: 'body' }]);
  if (Date.parse(input.endsAt) - Date.parse(startsAt) > MAX_SILENCE_MS) throw invalid([{ field: 'endsAt', message: 'a silence lasts at most 90 days', in: 'body' }]);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, input.environment);
    let rule: AlertRuleRecord | undefined;
    if (input.rule !== undefined) {
      // By id or by name, within the silence's environment.
      rule = (await listRules(tx, env.workspaceId, env.id)).find((r) => r.id === input.rule || r.name === input.rule);
      if (!rule) throw invalid([{ field: 'rule', message: `${env.slug} has no alert rule ${JSON.stringify(input.rule)}`, in: 'body' }]);
    }
    const silence: SilenceRecord = {
      id: newId('sil'),
      workspaceId: env.workspaceId,
      environmentId: env.id,
      ruleId: rule?.id ?? null,
      startsAt,
      endsAt: input.endsAt,
      reason: input.reason,
      createdBy: ctx.actor.id,
      createdAt: now.toISOString(),
    };
    await insertSilence(tx, silence);
    const details = { rule: rule?.name ?? null, startsAt, endsAt: input.endsAt, reason: input.reason };
    await record(deps, tx, ctx, { action: 'alert_silence.create', environment: env.slug, target: `alert-silence/${silence.id}`, after: details, details });
    return silenceView(silence, env.slug, rule?.name ?? null, now);
  });
}

export async function deleteAlertSilence(deps: Deps, ctx: CallContext, id: string) {
  await deps.store.transaction(async (tx) => {
    const silence = await findSilence(tx, ctx.workspace.id, id);
    const env = silence && (await findEnvironmentById(tx, ctx.workspace.id, silence.environmentId));
    if (!silence || !env) throw notFound(`alert silence ${id}`);
    authorize(ctx.actor, 'alert.manage', env.slug);
    await lockedEnvironmentOf(deps, tx, ctx, env.slug);
    await deleteSilence(tx, ctx.workspace.id, id);
    await record(deps, tx, ctx, { action: 'alert_silence.delete', environment: env.slug, target: `alert-silence/${id}`, before: { startsAt: silence.startsAt, endsAt: silence.endsAt } });
  });
}

// ---------------------------------------------------------------------------------------------
// History

function notificationView(n: NotificationRecord) {
  return { type: n.channelType, status: n.status, attempts: n.attempts, lastStatus: n.lastStatus, error: n.lastError, deliveredAt: n.deliveredAt, nextAttemptAt: n.status === 'pending' ? n.nextAttemptAt : null };
}

function alertView(event: AlertEventRecord, notifications: NotificationRecord[]) {
  const { id, ruleId, rule, environment, state, value, silenced, at } = event;
  return { id, ruleId, rule, environment, state, value, at, silenced, notifications: notifications.map(notificationView) };
}

/** Transitions newest first, with the delivery log of each; `rule` is an id or a name. */
export async function listAlerts(deps: Deps, ctx: CallContext, filter: { environment?: string; rule?: string; state?: 'firing' | 'resolved' }, cursor: string | undefined, limit: number) {
  authorize(ctx.actor, filter.environment === undefined ? 'workspace.read' : 'resource.read', filter.environment);
  const db = deps.store.db;
  const env = filter.environment === undefined ? undefined : await environmentOf(db, ctx, filter.environment);
  const position = decodeCursor(cursor, TIME_POSITION);
  const rows = await listAlertEvents(db, ctx.workspace.id, { ...(env ? { environmentId: env.id } : {}), ...(filter.rule ? { rule: filter.rule } : {}), ...(filter.state ? { state: filter.state } : {}) }, position, limit + 1);
  const page = rows.slice(0, limit).filter((e) => can(ctx.actor, 'resource.read', e.environment));
  const byEvent = new Map<string, NotificationRecord[]>();
  for (const n of await notificationsOf(db, ctx.workspace.id, page.map((e) => e.id))) byEvent.set(n.eventId, [...(byEvent.get(n.eventId) ?? []), n]);
  const last = rows.slice(0, limit).at(-1);
  return { data: page.map((e) => alertView(e, byEvent.get(e.id) ?? [])), next: rows.length > limit && last ? encodeCursor({ at: last.at, id: last.id }) : null };
}
