import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { deleteVariable, getVariable, listAllVariables, putVariable } from '../../services/variables.js';
import { contextOf } from '../auth.js';
import { errorResponse, variableParams, variableWrite, wsParams } from '../schemas.js';

export function variableRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['variables'];
  const errors = { 200: z.unknown(), 400: errorResponse, 404: errorResponse };

  api.get('/api/workspaces/:ws/variables', { schema: { tags, params: wsParams } }, async (request) => listAllVariables(deps, await contextOf(deps, request)));

  api.get('/api/workspaces/:ws/variables/:name', { schema: { tags, params: variableParams, response: errors } }, async (request) =>
    getVariable(deps, await contextOf(deps, request), request.params.name),
  );

  api.put('/api/workspaces/:ws/variables/:name', { schema: { tags, params: variableParams, body: variableWrite, response: errors } }, async (request) =>
    putVariable(deps, await contextOf(deps, request), request.params.name, request.body),
  );

  api.delete('/api/workspaces/:ws/variables/:name', { schema: { tags, params: variableParams, response: { ...errors, 204: z.undefined() } } }, async (request, reply) => {
    await deleteVariable(deps, await contextOf(deps, request), request.params.name);
    return reply.status(204).send();
  });
}
