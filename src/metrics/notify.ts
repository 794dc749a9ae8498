// Alert receivers: a Slack-compatible incoming webhook, PagerDuty Events API v2, email through the
// environment's SMTP channel, and a signed webhook. Every call leaves through the environment's
// egress policy; failures are ChannelErrors that say whether a retry may succeed.
import type { Environment } from '../domain/environments/chain.js';
import { decryptSecret, encryptSecret, secretHint } from '../domain/secrets/envelope.js';
import type { MaskedChannel } from '../store/alerts.js';
import type { Deps } from '../services/context.js';
import type { Channels, DeliveryResult } from '../runtime/channels/index.js';
import { DELIVERY_HEADER, postJson, SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from '../runtime/channels/webhook.js';
import type { AlertMetric } from './contract.js';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

/** A receiver in full, as sealed in the rule: urls, routing keys and webhook secrets are secrets. */
export type AlertChannel =
  | { type: 'slack'; url: string }
  | { type: 'pagerduty'; routingKey: string; url?: string }
  | { type: 'email'; to: string }
  | { type: 'webhook'; url: string; secret: string };

/** What a notification says: names and numbers only (it is stored in the outbox in clear). */
export interface AlertMessage {
  eventId: string;
  state: 'firing' | 'resolved';
  ruleId: string;
  rule: string;
  workspace: string;
  environment: string;
  metric: AlertMetric;
  comparison: string;
  threshold: number;
  value: number | null;
  windowMinutes: number;
  at: string;
  /** Said as it is instead of the rule's condition (notices that are not a rule's transition). */
  summary?: string;
}

function formatted(metric: AlertMetric, value: number | null): string {
  if (value === null) return 'no data';
  if (metric.endsWith('_rate') && metric !== 'request_rate') return `${(value * 100).toFixed(2)}%`;
  if (metric === 'request_rate') return `${value.toFixed(1)}/min`;
  return `${Math.round(value)} ms`;
}

export function summaryOf(m: AlertMessage): string {
  if (m.summary !== undefined) return m.summary;
  const condition = `${m.metric} ${m.comparison} ${formatted(m.metric, m.threshold)}`;
  const where = `${m.workspace}/${m.environment}`;
  return m.state === 'firing'
    ? `[FIRING] ${m.rule} in ${where}: ${m.metric} is ${formatted(m.metric, m.value)} (${condition} over ${m.windowMinutes} min)`
    : `[RESOLVED] ${m.rule} in ${where}: ${m.metric} is ${formatted(m.metric, m.value)} (${condition} no longer holds)`;
}

/** PagerDuty deduplicates on this: the trigger and the resolve of one rule share it. */
export function pagerDutyDedupKey(m: Pick<AlertMessage, 'ruleId'>): string {
  return `stageline-${m.ruleId}`;
}

function pagerDutyBody(channel: Extract<AlertChannel, { type: 'pagerduty' }>, m: AlertMessage) {
  const common = { routing_key: channel.routingKey, dedup_key: pagerDutyDedupKey(m) };
  if (m.state === 'resolved') return { ...common, event_action: 'resolve' };
  return {
    ...common,
    event_action: 'trigger',
    payload: {
      summary: summaryOf(m),
      severity: 'critical',
      source: `stageline/${m.workspace}/${m.environment}`,
      timestamp: m.at,
      custom_details: { rule: m.rule, metric: m.metric, comparison: m.comparison, threshold: m.threshold, value: m.value, windowMinutes: m.windowMinutes },
    },
  };
}

/** Sends one notification to one receiver of `env`; `deliveryId` is the same on every retry. */
export async function notify(deps: Deps, channels: Channels, env: Environment, channel: AlertChannel, m: AlertMessage, deliveryId: string): Promise<DeliveryResult> {
  const json = { 'content-type': 'application/json', 'user-agent': 'Stageline-Alerts/1' };
  switch (channel.type) {
    case 'slack': {
      const text = summaryOf(m);
      const body = JSON.stringify({ text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] });
      return postJson(deps, env, channel.url, json, body, deliveryId);
    }
    case 'pagerduty':
      return postJson(deps, env, channel.url ?? PAGERDUTY_EVENTS_URL, json, JSON.stringify(pagerDutyBody(channel, m)), deliveryId);
    case 'email': {
      const text = `${summaryOf(m)}\n\nRule: ${m.rule}\nEnvironment: ${m.environment}\nValue: ${formatted(m.metric, m.value)}\nAt: ${m.at}\n`;
      return channels.send(deps, env, 'email', { to: channel.to, subject: summaryOf(m), text }, { deliveryId });
    }
    case 'webhook': {
      const body = JSON.stringify({ type: m.state === 'firing' ? 'alert.firing' : 'alert.resolved', data: m });
      const timestamp = Math.floor(deps.now().getTime() / 1000);
      const headers = { ...json, [DELIVERY_HEADER]: deliveryId, [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: signWebhook(channel.secret, timestamp, body) };
      return postJson(deps, env, channel.url, headers, body, deliveryId);
    }
  }
}

/** The row a rule's sealed channels belong to: they decrypt only for that rule. */
function channelsAad(workspaceId: string, environmentId: string, ruleId: string) {
  return { workspaceId, environmentId, name: `alert-rule/${ruleId}`, version: 1 };
}

export function sealChannels(dataKey: Buffer, scope: { workspaceId: string; environmentId: string }, ruleId: string, channels: AlertChannel[]): string {
  return encryptSecret(dataKey, JSON.stringify(channels), channelsAad(scope.workspaceId, scope.environmentId, ruleId));
}

export function openChannels(dataKey: Buffer, scope: { workspaceId: string; environmentId: string }, ruleId: string, sealed: string): AlertChannel[] {
  return JSON.parse(decryptSecret(dataKey, sealed, channelsAad(scope.workspaceId, scope.environmentId, ruleId))) as AlertChannel[];
}

/** A channel as reads show it: the email address in clear, every secret as a hint. */
export function maskChannel(channel: AlertChannel): MaskedChannel {
  switch (channel.type) {
    case 'slack':
      return { type: 'slack', url: secretHint(channel.url) };
    case 'pagerduty':
      return { type: 'pagerduty', routingKey: secretHint(channel.routingKey), ...(channel.url ? { url: secretHint(channel.url) } : {}) };
    case 'email':
      return { type: 'email', to: channel.to };
    case 'webhook':
      return { type: 'webhook', url: secretHint(channel.url), secret: secretHint(channel.secret) };
  }
}
