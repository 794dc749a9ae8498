// An environment's change stream for members (`stageline tail`, dashboards): the runtime's stream
// hub, with its replay and resume by Last-Event-ID, authorised like every read of the environment.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Runtime } from '../../runtime/index.js';
import type { Deps } from '../../services/context.js';
import { memberStreamPrincipal } from '../../services/change-stream.js';
import { contextOf } from '../auth.js';
import { lastEventIdOf, serveStream, streamQuery } from '../event-stream.js';
import { envParams, errors, mediaResponse } from '../schemas.js';

export function changeStreamRoutes(app: FastifyInstance, deps: Deps, runtime: Runtime) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/api/workspaces/:ws/environments/:env/stream',
    {
      schema: {
        tags: ['environments'],
        operationId: 'streamEnvironmentChanges',
        summary: "Server-sent events on every release, override, kill switch, variable, secret, setting or environment change of the environment",
        description:
          'The stream `/v1/stream` gives API keys, for members: each event is `id: <change id>`, `event: <type>`, `data: {seq, type, at, environment, …}` naming what changed (never a value). Resumable: send the id of the last event received as `Last-Event-ID` (or `?lastEventId=`); a position older than the kept events gets one `reset` event. The server ends a stream after 10 minutes: reconnect with `Last-Event-ID`.',
        params: envParams,
        querystring: streamQuery,
        response: { 200: mediaResponse('text/event-stream', 'server-sent events'), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const lastEventId = lastEventIdOf(request);
      const principal = await memberStreamPrincipal(deps, await contextOf(deps, request), request.params.env);
      await serveStream(runtime, reply, principal, lastEventId);
    },
  );
}
