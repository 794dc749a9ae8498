// Event subscriptions over HTTP: outbound signed webhooks (Standard Webhooks) of the workspace's
// events, and each subscription's delivery log.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import {
  createEventSubscription,
  deleteEventSubscription,
  getEventSubscription,
  listEventDeliveries,
  listEventSubscriptions,
} from '../../services/event-subscriptions.js';
import { contextOf } from '../auth.js';
import { errors, noContent, page, pageQuery, wsParams } from '../schemas.js';

const subscriptionParams = wsParams.extend({ id: z.string().min(1).max(100) });

const subscriptionCreate = z.strictObject({
  url: z.string().min(1).max(2000).describe('http or https receiver; kept sealed, answered as its origin only'),
  types: z.array(z.string().max(100)).min(1).max(50).describe('event types (`release.promoted`, …), or `*` for all'),
  environments: z.array(z.string().max(100)).min(1).max(100).optional().describe('environment slugs; absent: every environment and workspace events'),
  description: z.string().trim().max(500).nullable().optional(),
});

const subscription = z
  .object({
    id: z.string(),
    url: z.string().describe('the receiver URL\'s origin, with `/…` when a path or query is hidden'),
    types: z.array(z.string()),
    environments: z.array(z.string()).nullable(),
    description: z.string().nullable(),
    createdBy: z.string(),
    createdAt: z.string(),
  })
  .meta({ id: 'EventSubscription' });

const createdSubscription = subscription
  .extend({
    secret: z.string().describe('the signing secret (`whsec_…`), shown only in this answer'),
  })
  .meta({ id: 'CreatedEventSubscription' });

const delivery = z
  .object({
    id: z.string(),
    eventId: z.string().describe('the `webhook-id` header of every attempt'),
    type: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number(),
    lastStatus: z.number().nullable().describe('HTTP status of the last attempt; null when the receiver gave none'),
    lastError: z.string().nullable(),
    lastResponse: z.string().nullable().describe('the start of the receiver\'s last answer (up to 512 bytes)'),
    lastAttemptAt: z.string().nullable(),
    nextAttemptAt: z.string().nullable(),
    deliveredAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'EventDelivery' });

export function eventRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['events'];
  const base = '/api/workspaces/:ws/event-subscriptions';
  const failures = errors(400, 401, 403, 404);

  api.get(
    base,
    { schema: { tags, operationId: 'listEventSubscriptions', summary: 'List the workspace\'s event subscriptions', params: wsParams, response: { 200: page(subscription), ...failures } } },
    async (request) => listEventSubscriptions(deps, await contextOf(deps, request)),
  );

  api.post(
    base,
    {
      schema: {
        tags,
        operationId: 'createEventSubscription',
        summary: 'Subscribe a URL to events; the answer carries the signing secret once',
        params: wsParams,
        body: subscriptionCreate,
        response: { 201: createdSubscription, ...failures },
      },
    },
    async (request, reply) => reply.status(201).send(await createEventSubscription(deps, await contextOf(deps, request), request.body)),
  );

  api.get(
    `${base}/:id`,
    { schema: { tags, operationId: 'getEventSubscription', summary: 'Read an event subscription (never its secret)', params: subscriptionParams, response: { 200: subscription, ...failures } } },
    async (request) => getEventSubscription(deps, await contextOf(deps, request), request.params.id),
  );

  api.delete(
    `${base}/:id`,
    { schema: { tags, operationId: 'deleteEventSubscription', summary: 'Delete an event subscription and its pending deliveries', params: subscriptionParams, response: { 204: noContent, ...failures } } },
    async (request, reply) => {
      await deleteEventSubscription(deps, await contextOf(deps, request), request.params.id);
      return reply.status(204).send();
    },
  );

  api.get(
    `${base}/:id/deliveries`,
    {
      schema: {
        tags,
        operationId: 'listEventDeliveries',
        summary: 'The delivery log of an event subscription, newest first',
        params: subscriptionParams,
        querystring: pageQuery,
        response: { 200: page(delivery), ...failures },
      },
    },
    async (request) => listEventDeliveries(deps, await contextOf(deps, request), request.params.id, request.query.cursor, request.query.limit),
  );
}
