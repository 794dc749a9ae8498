// Alert rules, silences and the firing history over HTTP.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ALERT_METRICS } from '../../metrics/alerts.js';
import {
  createAlertRule,
  createAlertSilence,
  deleteAlertRule,
  deleteAlertSilence,
  getAlertRule,
  listAlertRules,
  listAlerts,
  listAlertSilences,
  updateAlertRule,
} from '../../services/alerts.js';
import type { Deps } from '../../services/context.js';
import { contextOf } from '../auth.js';
import { errors, noContent, page, pageQuery, wsParams } from '../schemas.js';

const receiverUrl = z
  .string()
  .max(2000)
  .refine((value) => {
    try {
      return ['http:', 'https:'].includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, 'must be an http or https URL');

const channel = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('slack'), url: receiverUrl.describe('the incoming webhook URL (a secret)') }),
  z.strictObject({
    type: z.literal('pagerduty'),
    routingKey: z.string().min(1).max(200).describe('the Events API v2 integration key (a secret)'),
    url: receiverUrl.optional().describe('default https://events.pagerduty.com/v2/enqueue'),
  }),
  z.strictObject({ type: z.literal('email'), to: z.string().min(3).max(320).regex(/^[^\s@<>]+@[^\s@<>]+$/, 'must be an email address').describe('sent through the environment’s channel.email setting') }),
  z.strictObject({
    type: z.literal('webhook'),
    url: receiverUrl,
    secret: z.string().min(16).max(200).describe('signs each delivery: x-stageline-signature v1=HMAC-SHA256(secret, "<timestamp>.<body>")'),
  }),
]);

const definition = {
  name: z.string().min(1).max(100),
  metric: z.enum(ALERT_METRICS),
  comparison: z.enum(['>', '>=', '<', '<=']),
  threshold: z.number().finite().describe('rates are fractions 0–1; latencies in ms; request_rate per minute'),
  windowMinutes: z.number().int().min(1).max(1440),
  minRequests: z.number().int().min(0).max(1e9).describe('fewer events in the window keep the rule ok'),
  channels: z.array(channel).max(10),
};
const ruleCreate = z.strictObject({ environment: z.string().min(1).max(100), ...definition });
const rulePatch = z.strictObject(definition).partial();

const maskedChannel = z.object({ type: z.string(), url: z.string().optional(), routingKey: z.string().optional(), to: z.string().optional(), secret: z.string().optional() });
const ruleView = z
  .object({
    id: z.string(),
    environment: z.string(),
    name: z.string(),
    metric: z.string(),
    comparison: z.string(),
    threshold: z.number(),
    windowMinutes: z.number(),
    minRequests: z.number(),
    channels: z.array(maskedChannel).describe('secrets shown as hints'),
    state: z.enum(['ok', 'firing']),
    stateSince: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'AlertRule' });

const silenceCreate = z.strictObject({
  environment: z.string().min(1).max(100),
  rule: z.string().min(1).max(100).optional().describe('a rule id or name; absent silences every rule of the environment'),
  startsAt: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()).optional(),
  endsAt: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()),
  reason: z.string().min(1).max(1000),
});
const silenceView = z
  .object({
    id: z.string(),
    environment: z.string(),
    ruleId: z.string().nullable(),
    rule: z.string().nullable(),
    startsAt: z.string(),
    endsAt: z.string(),
    reason: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    active: z.boolean(),
  })
  .meta({ id: 'AlertSilence' });

const alertView = z
  .object({
    id: z.string(),
    ruleId: z.string(),
    rule: z.string(),
    environment: z.string(),
    state: z.enum(['firing', 'resolved']),
    value: z.number().nullable(),
    at: z.string(),
    silenced: z.boolean().describe('a silence was in effect: nothing was sent'),
    notifications: z.array(
      z.object({
        type: z.string(),
        status: z.enum(['pending', 'delivered', 'failed', 'suppressed']),
        attempts: z.number(),
        lastStatus: z.number().nullable(),
        error: z.string().nullable(),
        deliveredAt: z.string().nullable(),
        nextAttemptAt: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'Alert' });

const envQuery = z.strictObject({ environment: z.string().min(1).max(100).optional() });
const alertQuery = pageQuery.extend({
  environment: z.string().min(1).max(100).optional(),
  rule: z.string().min(1).max(100).optional().describe('a rule id or name'),
  state: z.enum(['firing', 'resolved']).optional(),
});
const idParams = wsParams.extend({ id: z.string().min(1).max(100) });

export function alertRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['alerts'];
  const failures = errors(400, 401, 403, 404, 409);
  const rules = '/api/workspaces/:ws/alert-rules';
  const silences = '/api/workspaces/:ws/alert-silences';

  api.get(rules, { schema: { tags, operationId: 'listAlertRules', summary: 'List alert rules, of one environment when given', params: wsParams, querystring: envQuery, response: { 200: page(ruleView), ...failures } } }, async (request) =>
    listAlertRules(deps, await contextOf(deps, request), request.query.environment),
  );

  api.post(rules, { schema: { tags, operationId: 'createAlertRule', summary: 'Create an alert rule in an environment', params: wsParams, body: ruleCreate, response: { 201: ruleView, ...failures } } }, async (request, reply) =>
    reply.status(201).send(await createAlertRule(deps, await contextOf(deps, request), request.body)),
  );

  api.get(`${rules}/:id`, { schema: { tags, operationId: 'getAlertRule', summary: 'Read an alert rule and its state', params: idParams, response: { 200: ruleView, ...failures } } }, async (request) =>
    getAlertRule(deps, await contextOf(deps, request), request.params.id),
  );

  api.patch(`${rules}/:id`, { schema: { tags, operationId: 'updateAlertRule', summary: 'Change an alert rule (channels are replaced as a whole)', params: idParams, body: rulePatch, response: { 200: ruleView, ...failures } } }, async (request) =>
    updateAlertRule(deps, await contextOf(deps, request), request.params.id, request.body),
  );

  api.delete(`${rules}/:id`, { schema: { tags, operationId: 'deleteAlertRule', summary: 'Delete an alert rule', params: idParams, response: { 204: noContent, ...failures } } }, async (request, reply) => {
    await deleteAlertRule(deps, await contextOf(deps, request), request.params.id);
    return reply.status(204).send();
  });

  api.get(silences, { schema: { tags, operationId: 'listAlertSilences', summary: 'List silences that have not ended', params: wsParams, querystring: envQuery, response: { 200: page(silenceView), ...failures } } }, async (request) =>
    listAlertSilences(deps, await contextOf(deps, request), request.query.environment),
  );

  api.post(silences, { schema: { tags, operationId: 'createAlertSilence', summary: 'Silence one rule or a whole environment until endsAt', params: wsParams, body: silenceCreate, response: { 201: silenceView, ...failures } } }, async (request, reply) =>
    reply.status(201).send(await createAlertSilence(deps, await contextOf(deps, request), request.body)),
  );

  api.delete(`${silences}/:id`, { schema: { tags, operationId: 'deleteAlertSilence', summary: 'End a silence now', params: idParams, response: { 204: noContent, ...failures } } }, async (request, reply) => {
    await deleteAlertSilence(deps, await contextOf(deps, request), request.params.id);
    return reply.status(204).send();
  });

  api.get('/api/workspaces/:ws/alerts', { schema: { tags, operationId: 'listAlerts', summary: 'Alert transitions (firing, resolved) newest first, with their deliveries', params: wsParams, querystring: alertQuery, response: { 200: page(alertView), ...failures } } }, async (request) => {
    const { limit, cursor, ...filter } = request.query;
    return listAlerts(deps, await contextOf(deps, request), filter, cursor, limit);
  });
}
