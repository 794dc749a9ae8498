import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../services/context.js';
import { createApiKey, listApiKeys, revokeApiKey, rotateApiKey } from '../../services/api-keys.js';
import { contextOf } from '../auth.js';
import { apiKey, apiKeyCreate, apiKeyParams, apiKeyRotate, envParams, errorResponse } from '../schemas.js';

export function apiKeyRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['api-keys'];
  const base = '/api/workspaces/:ws/environments/:env/api-keys';
  const errors = { 400: errorResponse, 404: errorResponse };

  api.get(base, { schema: { tags, params: envParams } }, async (request) => listApiKeys(deps, await contextOf(deps, request), request.params.env));

  api.post(base, { schema: { tags, params: envParams, body: apiKeyCreate, response: { 201: apiKey, ...errors } } }, async (request, reply) => {
    const created = await createApiKey(deps, await contextOf(deps, request), request.params.env, request.body);
    return reply.status(201).send(created);
  });

  api.post(`${base}/:id/rotate`, { schema: { tags, params: apiKeyParams, body: apiKeyRotate, response: { 201: apiKey.extend({ previous: apiKey }), ...errors } } }, async (request, reply) => {
    const rotated = await rotateApiKey(deps, await contextOf(deps, request), request.params.env, request.params.id, request.body);
    return reply.status(201).send(rotated);
  });

  api.delete(`${base}/:id`, { schema: { tags, params: apiKeyParams, response: { 200: apiKey, ...errors } } }, async (request) =>
    revokeApiKey(deps, await contextOf(deps, request), request.params.env, request.params.id),
  );
}
