// An environment's API keys over HTTP: created and rotated keys are shown once.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../services/context.js';
import { createApiKey, listApiKeys, revokeApiKey, rotateApiKey } from '../../services/api-keys.js';
import { contextOf } from '../auth.js';
import { apiKey, apiKeyCreate, apiKeyParams, apiKeyRotate, envParams, errors, page } from '../schemas.js';

const rotatedApiKey = apiKey.extend({ previous: apiKey.describe('the old key with its new expiry') }).meta({ id: 'RotatedApiKey' });

export function apiKeyRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['api-keys'];
  const base = '/api/workspaces/:ws/environments/:env/api-keys';
  const failures = errors(400, 401, 403, 404);

  api.get(
    base,
    { schema: { tags, operationId: 'listApiKeys', summary: "List the environment's API keys (never the keys themselves)", params: envParams, response: { 200: page(apiKey), ...failures } } },
    async (request) => listApiKeys(deps, await contextOf(deps, request), request.params.env),
  );

  api.post(
    base,
    {
      schema: {
        tags,
        operationId: 'createApiKey',
        summary: 'Create a secret (sk_…) or publishable (pk_…) key; the answer shows it once',
        params: envParams,
        body: apiKeyCreate,
        response: { 201: apiKey.describe('the key, with `key` shown this once'), ...failures },
      },
    },
    async (request, reply) => {
      const created = await createApiKey(deps, await contextOf(deps, request), request.params.env, request.body);
      return reply.status(201).send(created);
    },
  );

  api.post(
    `${base}/:id/rotate`,
    {
      schema: {
        tags,
        operationId: 'rotateApiKey',
        summary: 'Replace a key with a new one; the old one keeps working for the grace period',
        params: apiKeyParams,
        body: apiKeyRotate,
        response: { 201: rotatedApiKey, ...failures },
      },
    },
    async (request, reply) => {
      const rotated = await rotateApiKey(deps, await contextOf(deps, request), request.params.env, request.params.id, request.body);
      return reply.status(201).send(rotated);
    },
  );

  api.delete(
    `${base}/:id`,
    { schema: { tags, operationId: 'revokeApiKey', summary: 'Revoke a key at once', params: apiKeyParams, response: { 200: apiKey.describe('the revoked key'), ...failures } } },
    async (request) => revokeApiKey(deps, await contextOf(deps, request), request.params.env, request.params.id),
  );
}
