import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { deleteSetting, getSetting, listSettings, putSetting } from '../../services/settings.js';
import { contextOf } from '../auth.js';
import { envParams, errorResponse, settingParams, settingWrite } from '../schemas.js';

export function settingRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['settings'];
  const base = '/api/workspaces/:ws/environments/:env/settings';
  const errors = { 200: z.unknown(), 400: errorResponse, 404: errorResponse };

  api.get(base, { schema: { tags, params: envParams } }, async (request) => listSettings(deps, await contextOf(deps, request), request.params.env));

  api.get(`${base}/:name`, { schema: { tags, params: settingParams, response: errors } }, async (request) =>
    getSetting(deps, await contextOf(deps, request), request.params.env, request.params.name),
  );

  api.put(`${base}/:name`, { schema: { tags, params: settingParams, body: settingWrite, response: errors } }, async (request) =>
    putSetting(deps, await contextOf(deps, request), request.params.env, request.params.name, request.body.value),
  );

  api.delete(`${base}/:name`, { schema: { tags, params: settingParams, response: { ...errors, 204: z.undefined() } } }, async (request, reply) => {
    await deleteSetting(deps, await contextOf(deps, request), request.params.env, request.params.name);
    return reply.status(204).send();
  });
}
