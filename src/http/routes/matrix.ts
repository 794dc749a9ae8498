// GET /api/workspaces/:ws/matrix: every resource of several environments side by side (the
// dashboard's "what runs where") in one request instead of a paged list per environment.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { resourceMatrix } from '../../services/matrix.js';
import { contextOf } from '../auth.js';
import { errorResponse, wsParams } from '../schemas.js';

const matrixQuery = z.strictObject({
  environments: z
    .string()
    .max(2000)
    .optional()
    .describe('comma-separated environment slugs, in the order wanted; default: the chain'),
});

const matrixCell = z.object({
  kind: z.string(),
  key: z.string(),
  app: z.string().nullable(),
  committedHash: z.string().nullable().describe('content hash of the committed resource; null when only a draft creates it'),
  draft: z.enum(['created', 'modified', 'deleted']).nullable(),
  active: z.boolean().describe('the kill switch'),
  override: z.boolean().describe('the environment patches the committed content'),
});

const matrixResponse = z
  .object({
    data: z.array(z.object({ environment: z.string(), release: z.number(), resources: z.array(matrixCell) })),
  })
  .meta({ id: 'ResourceMatrix' });

export function matrixRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/api/workspaces/:ws/matrix',
    {
      schema: {
        tags: ['resources'],
        operationId: 'readResourceMatrix',
        summary: 'every resource of several environments side by side: committed hash, draft, kill switch, override',
        params: wsParams,
        querystring: matrixQuery,
        response: { 200: matrixResponse, 400: errorResponse, 403: errorResponse, 404: errorResponse },
      },
    },
    async (request) => {
      const slugs = request.query.environments?.split(',').map((s) => s.trim()).filter(Boolean);
      return resourceMatrix(deps, await contextOf(deps, request), slugs && slugs.length > 0 ? [...new Set(slugs)] : undefined);
    },
  );
}
