// The activity log over HTTP: runtime writes by API keys, newest first, filtered and paged.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../services/context.js';
import { listActivityLog } from '../../services/activity.js';
import { contextOf } from '../auth.js';
import { activityPage, activityQuery, errors, wsParams } from '../schemas.js';

export function activityRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/api/workspaces/:ws/activity',
    {
      schema: {
        tags: ['audit'],
        operationId: 'listActivity',
        summary: 'List runtime writes by API keys (data records, feed read marks, workflow triggers), newest first',
        params: wsParams,
        querystring: activityQuery,
        response: { 200: activityPage, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return listActivityLog(deps, await contextOf(deps, request), filter, cursor, limit);
    },
  );
}
