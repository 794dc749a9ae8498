import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { acknowledgeReview, createFreeze, deleteFreeze, listEnvironmentFreezes, listReviews } from '../../services/freezes.js';
import { contextOf } from '../auth.js';
import { envParams, errorResponse, freezeCreate, freezeParams, reviewParams, reviewQuery, wsParams } from '../schemas.js';

export function freezeRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['freezes'];
  const base = '/api/workspaces/:ws/environments/:env/freezes';
  const errors = { 400: errorResponse, 403: errorResponse, 404: errorResponse, 409: errorResponse };

  api.get(base, { schema: { tags, params: envParams } }, async (request) => listEnvironmentFreezes(deps, await contextOf(deps, request), request.params.env));

  api.post(base, { schema: { tags, params: envParams, body: freezeCreate, response: { 201: z.unknown(), ...errors } } }, async (request, reply) => {
    const created = await createFreeze(deps, await contextOf(deps, request), request.params.env, request.body);
    return reply.status(201).send(created);
  });

  api.delete(`${base}/:id`, { schema: { tags, params: freezeParams, response: { 204: z.undefined(), ...errors } } }, async (request, reply) => {
    await deleteFreeze(deps, await contextOf(deps, request), request.params.env, request.params.id);
    return reply.status(204).send();
  });

  api.get('/api/workspaces/:ws/review-items', { schema: { tags, params: wsParams, querystring: reviewQuery } }, async (request) =>
    listReviews(deps, await contextOf(deps, request), request.query.open === undefined ? undefined : request.query.open === 'true'),
  );

  api.post('/api/workspaces/:ws/review-items/:id/acknowledge', { schema: { tags, params: reviewParams, response: { 200: z.unknown(), ...errors } } }, async (request) =>
    acknowledgeReview(deps, await contextOf(deps, request), request.params.id),
  );
}
