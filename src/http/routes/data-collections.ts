// The collections of an environment over HTTP: what the members' data browser lists before it
// opens one (names and record counts; the records themselves are read through routes/data.ts).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_PAGE_SIZE } from '../../domain/data/records.js';
import type { Deps } from '../../services/context.js';
import { listCollections } from '../../services/data.js';
import { contextOf } from '../auth.js';
import { envParams, errorResponse } from '../schemas.js';

const collectionQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional().describe(`page size, default 50, at most ${MAX_PAGE_SIZE}`),
  cursor: z.string().max(2000).optional().describe('`next` of the previous page'),
});

const collectionSummary = z
  .object({
    name: z.string(),
    records: z.number().describe('records in the collection in this environment'),
    updatedAt: z.string().describe('the latest write to any of its records'),
  })
  .meta({ id: 'DataCollection' });

export function dataCollectionRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/api/workspaces/:ws/environments/:env/data',
    {
      schema: {
        tags: ['data'],
        operationId: 'listDataCollections',
        summary: 'list the data collections of an environment with their record counts, in name order',
        params: envParams,
        querystring: collectionQuery,
        response: {
          200: z.object({ data: z.array(collectionSummary), next: z.string().nullable() }),
          400: errorResponse,
          401: errorResponse,
          403: errorResponse,
          404: errorResponse,
        },
      },
    },
    async (request) => listCollections(deps, await contextOf(deps, request), request.params.env, request.query),
  );
}
