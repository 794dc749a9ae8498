import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import {
  deleteOverride,
  deleteResource,
  getResource,
  listChanges,
  listResources,
  putOverride,
  setActive,
  writeDraft,
} from '../../services/resources.js';
import { resourceRef } from '../../domain/resources/kinds.js';
import { contextOf } from '../auth.js';
import { activeWrite, draftWrite, envParams, errorResponse, overrideWrite, resourceListQuery, resourceParams } from '../schemas.js';

export function resourceRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['resources'];
  const base = '/api/workspaces/:ws/environments/:env';
  const errors = { 200: z.unknown(), 201: z.unknown(), 400: errorResponse, 404: errorResponse, 409: errorResponse };

  api.get(`${base}/resources`, { schema: { tags, params: envParams, querystring: resourceListQuery } }, async (request) => {
    const { limit, cursor, ...filter } = request.query;
    return listResources(deps, await contextOf(deps, request), request.params.env, filter, cursor ?? null, limit);
  });

  api.get(`${base}/resources/:kind/:key`, { schema: { tags, params: resourceParams, response: errors } }, async (request) => {
    const { env, kind, key } = request.params;
    return getResource(deps, await contextOf(deps, request), env, resourceRef(kind, key));
  });

  api.put(`${base}/resources/:kind/:key`, { schema: { tags, params: resourceParams, body: draftWrite, response: errors } }, async (request) => {
    const { env, kind, key } = request.params;
    return writeDraft(deps, await contextOf(deps, request), env, resourceRef(kind, key), request.body);
  });

  api.delete(`${base}/resources/:kind/:key`, { schema: { tags, params: resourceParams, response: errors } }, async (request) => {
    const { env, kind, key } = request.params;
    return deleteResource(deps, await contextOf(deps, request), env, resourceRef(kind, key));
  });

  api.put(`${base}/resources/:kind/:key/active`, { schema: { tags, params: resourceParams, body: activeWrite, response: errors } }, async (request) => {
    const { env, kind, key } = request.params;
    return setActive(deps, await contextOf(deps, request), env, resourceRef(kind, key), request.body.active);
  });

  api.put(`${base}/resources/:kind/:key/override`, { schema: { tags, params: resourceParams, body: overrideWrite, response: errors } }, async (request) => {
    const { env, kind, key } = request.params;
    return putOverride(deps, await contextOf(deps, request), env, resourceRef(kind, key), request.body.override);
  });

  api.delete(`${base}/resources/:kind/:key/override`, { schema: { tags, params: resourceParams, response: { ...errors, 204: z.undefined() } } }, async (request, reply) => {
    const { env, kind, key } = request.params;
    await deleteOverride(deps, await contextOf(deps, request), env, resourceRef(kind, key));
    return reply.status(204).send();
  });

  api.get(`${base}/changes`, { schema: { tags, params: envParams, response: errors } }, async (request) => {
    return listChanges(deps, await contextOf(deps, request), request.params.env);
  });
}
