// Secrets over HTTP: write-only values per environment; reads give metadata and a masked hint.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../services/context.js';
import { deleteSecret, getSecret, listSecrets, putSecret } from '../../services/secrets.js';
import { contextOf } from '../auth.js';
import { envParams, errors, noContent, page, secretMetadata, secretParams, secretWrite } from '../schemas.js';

export function secretRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['secrets'];
  const base = '/api/workspaces/:ws/environments/:env/secrets';
  const failures = errors(400, 401, 403, 404);

  api.get(
    base,
    { schema: { tags, operationId: 'listSecrets', summary: "List the environment's secrets (metadata only)", params: envParams, response: { 200: page(secretMetadata), ...failures } } },
    async (request) => listSecrets(deps, await contextOf(deps, request), request.params.env),
  );

  api.get(
    `${base}/:name`,
    { schema: { tags, operationId: 'getSecret', summary: "Read a secret's metadata and masked hint", params: secretParams, response: { 200: secretMetadata, ...failures } } },
    async (request) => getSecret(deps, await contextOf(deps, request), request.params.env, request.params.name),
  );

  api.put(
    `${base}/:name`,
    {
      schema: {
        tags,
        operationId: 'setSecret',
        summary: "Set a secret's value in the environment (never returned)",
        params: secretParams,
        body: secretWrite,
        response: { 200: secretMetadata, ...failures },
      },
    },
    async (request) => putSecret(deps, await contextOf(deps, request), request.params.env, request.params.name, request.body.value),
  );

  api.delete(
    `${base}/:name`,
    { schema: { tags, operationId: 'deleteSecret', summary: "Delete a secret's value in the environment", params: secretParams, response: { 204: noContent, ...failures } } },
    async (request, reply) => {
      await deleteSecret(deps, await contextOf(deps, request), request.params.env, request.params.name);
      return reply.status(204).send();
    },
  );
}
