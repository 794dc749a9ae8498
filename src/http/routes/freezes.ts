// Change freezes of an environment and the review items a break-glass change leaves behind.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { acknowledgeReview, createFreeze, deleteFreeze, listEnvironmentFreezes, listReviews } from '../../services/freezes.js';
import { contextOf } from '../auth.js';
import { envParams, errors, freezeCreate, freezeParams, noContent, page, reviewParams, reviewQuery, wsParams } from '../schemas.js';

const freeze = z
  .object({
    id: z.string(),
    startsAt: z.string(),
    endsAt: z.string(),
    reason: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    active: z.boolean().describe('in effect now'),
  })
  .meta({ id: 'Freeze' });

const reviewItem = z
  .object({
    id: z.string(),
    environment: z.string(),
    kind: z.string().describe('break_glass: a change made through a freeze'),
    summary: z.string(),
    reason: z.string(),
    openedBy: z.string(),
    openedAt: z.string(),
    acknowledgedBy: z.string().nullable(),
    acknowledgedAt: z.string().nullable(),
  })
  .meta({ id: 'ReviewItem' });

export function freezeRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['freezes'];
  const base = '/api/workspaces/:ws/environments/:env/freezes';
  const failures = errors(400, 401, 403, 404, 409);

  api.get(
    base,
    { schema: { tags, operationId: 'listFreezes', summary: "List the environment's freezes that have not ended", params: envParams, response: { 200: page(freeze), ...failures } } },
    async (request) => listEnvironmentFreezes(deps, await contextOf(deps, request), request.params.env),
  );

  api.post(
    base,
    {
      schema: {
        tags,
        operationId: 'createFreeze',
        summary: 'Freeze the environment between two times: promotions and rollbacks need break-glass',
        params: envParams,
        body: freezeCreate,
        response: { 201: freeze, ...failures },
      },
    },
    async (request, reply) => {
      const created = await createFreeze(deps, await contextOf(deps, request), request.params.env, request.body);
      return reply.status(201).send(created);
    },
  );

  api.delete(
    `${base}/:id`,
    { schema: { tags, operationId: 'deleteFreeze', summary: 'Delete a freeze', params: freezeParams, response: { 204: noContent, ...failures } } },
    async (request, reply) => {
      await deleteFreeze(deps, await contextOf(deps, request), request.params.env, request.params.id);
      return reply.status(204).send();
    },
  );

  api.get(
    '/api/workspaces/:ws/review-items',
    {
      schema: {
        tags,
        operationId: 'listReviewItems',
        summary: 'List the review items break-glass changes opened (open ones, or acknowledged ones)',
        params: wsParams,
        querystring: reviewQuery,
        response: { 200: page(reviewItem), ...failures },
      },
    },
    async (request) => listReviews(deps, await contextOf(deps, request), request.query.open === undefined ? undefined : request.query.open === 'true'),
  );

  api.post(
    '/api/workspaces/:ws/review-items/:id/acknowledge',
    { schema: { tags, operationId: 'acknowledgeReviewItem', summary: 'Acknowledge a review item', params: reviewParams, response: { 200: reviewItem, ...failures } } },
    async (request) => acknowledgeReview(deps, await contextOf(deps, request), request.params.id),
  );
}
