// Every override of one environment in one list (the single resource's override lives with the
// resource routes; this is the read a many-resource view needs).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { listEnvironmentOverrides } from '../../services/overrides.js';
import { contextOf } from '../auth.js';
import { envParams, errorResponse } from '../schemas.js';

const overrideEntry = z
  .object({
    kind: z.string(),
    key: z.string(),
    override: z.unknown().describe('the partial JSON merged over the committed content'),
  })
  .meta({ id: 'OverrideEntry' });

export function overrideListRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/api/workspaces/:ws/environments/:env/overrides',
    {
      schema: {
        tags: ['resources'],
        operationId: 'listOverrides',
        summary: 'every override of an environment, by resource',
        params: envParams,
        response: { 200: z.object({ data: z.array(overrideEntry), next: z.null() }), 403: errorResponse, 404: errorResponse },
      },
    },
    async (request) => listEnvironmentOverrides(deps, await contextOf(deps, request), request.params.env),
  );
}
