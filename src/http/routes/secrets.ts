import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { deleteSecret, getSecret, listSecrets, putSecret } from '../../services/secrets.js';
import { contextOf } from '../auth.js';
import { envParams, errorResponse, secretMetadata, secretParams, secretWrite } from '../schemas.js';

export function secretRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['secrets'];
  const base = '/api/workspaces/:ws/environments/:env/secrets';
  const errors = { 400: errorResponse, 404: errorResponse };

  api.get(base, { schema: { tags, params: envParams } }, async (request) => listSecrets(deps, await contextOf(deps, request), request.params.env));

  api.get(`${base}/:name`, { schema: { tags, params: secretParams, response: { 200: secretMetadata, ...errors } } }, async (request) =>
    getSecret(deps, await contextOf(deps, request), request.params.env, request.params.name),
  );

  api.put(`${base}/:name`, { schema: { tags, params: secretParams, body: secretWrite, response: { 200: secretMetadata, ...errors } } }, async (request) =>
    putSecret(deps, await contextOf(deps, request), request.params.env, request.params.name, request.body.value),
  );

  api.delete(`${base}/:name`, { schema: { tags, params: secretParams, response: { 204: z.undefined(), ...errors } } }, async (request, reply) => {
    await deleteSecret(deps, await contextOf(deps, request), request.params.env, request.params.name);
    return reply.status(204).send();
  });
}
