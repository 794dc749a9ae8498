// Workspace variables over HTTP: a default value and per-environment overrides, immediate.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { deleteVariable, getVariable, listAllVariables, putVariable } from '../../services/variables.js';
import { contextOf } from '../auth.js';
import { anyJson, errors, noContent, page, variableParams, variableWrite, wsParams } from '../schemas.js';

const variable = z
  .object({
    name: z.string(),
    value: anyJson('the default value (any JSON); absent when there is none').optional(),
    description: z.string().nullable(),
    overrides: z.record(z.string(), z.unknown()).describe('value per environment slug'),
    updatedBy: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Variable' });

export function variableRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['variables'];
  const base = '/api/workspaces/:ws/variables';
  const failures = errors(400, 401, 403, 404);

  api.get(
    base,
    { schema: { tags, operationId: 'listVariables', summary: "List the workspace's variables with their overrides", params: wsParams, response: { 200: page(variable), ...failures } } },
    async (request) => listAllVariables(deps, await contextOf(deps, request)),
  );

  api.get(
    `${base}/:name`,
    { schema: { tags, operationId: 'getVariable', summary: 'Read a variable', params: variableParams, response: { 200: variable, ...failures } } },
    async (request) => getVariable(deps, await contextOf(deps, request), request.params.name),
  );

  api.put(
    `${base}/:name`,
    {
      schema: {
        tags,
        operationId: 'setVariable',
        summary: 'Create or replace a variable: default value, description and overrides',
        params: variableParams,
        body: variableWrite,
        response: { 200: variable, ...failures },
      },
    },
    async (request) => putVariable(deps, await contextOf(deps, request), request.params.name, request.body),
  );

  api.delete(
    `${base}/:name`,
    { schema: { tags, operationId: 'deleteVariable', summary: 'Delete a variable', params: variableParams, response: { 204: noContent, ...failures } } },
    async (request, reply) => {
      await deleteVariable(deps, await contextOf(deps, request), request.params.name);
      return reply.status(204).send();
    },
  );
}
