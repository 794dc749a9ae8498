// The delivery API: an environment API key reads its environment's resolved resources from the
// node's in-memory views and follows their changes as server-sent events.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { invalid, notFound, StaleKeyError, StagelineError } from '../../domain/errors.js';
import { resourceRef } from '../../domain/resources/kinds.js';
import type { Runtime } from '../../runtime/index.js';
import type { EnvironmentView, Served } from '../../runtime/delivery-cache.js';
import { errorResponse } from '../schemas.js';
import { apiKeyOf } from '../key-auth.js';

/** RFC 9110 If-None-Match: a list of tags compared weakly, or `*`. */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header === etag) return true;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || (trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed) === etag;
  });
}

function send(request: FastifyRequest, reply: FastifyReply, served: Served) {
  // x-request-id was set by the key hook.
  reply.header('etag', served.etag).header('cache-control', 'private, no-cache');
  if (matches(request.headers['if-none-match'], served.etag)) return reply.status(304).send();
  return reply.type('application/json; charset=utf-8').send(served.body);
}

export function deliveryRoutes(app: FastifyInstance, runtime: Runtime) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['delivery'];
  const security = [{ apiKey: [] }];
  /**
   * Finds the view of the key's environment, then calls `use` — synchronously when it is in
   * memory (no promise: this is the hot path; the key hook has already run).
   */
  function withView(request: FastifyRequest, use: (view: EnvironmentView) => void): void | Promise<void> {
    const key = apiKeyOf(request);
    const ready = runtime.delivery.viewNow(key);
    if (ready) {
      use(ready);
      return;
    }
    return runtime.delivery.view(key.workspaceId, key.environmentId, key.kind).then((view) => {
      // The key's environment is gone (deleted since the key was cached): the key with it.
      if (!view) throw new StaleKeyError('environment');
      use(view);
    });
  }

  api.get('/v1/resources', { schema: { tags, security, response: { 401: errorResponse } } }, (request, reply) =>
    withView(request, (view) => {
      send(request, reply, view.list);
    }),
  );

  // The path is checked by resourceRef rather than a schema: this is the hottest route.
  api.get(
    '/v1/resources/:kind/:key',
    { schema: { tags, security, response: { 401: errorResponse, 404: errorResponse, 409: errorResponse } } },
    (request, reply) =>
      withView(request, (view) => {
        const { kind, key } = request.params as { kind: string; key: string };
        const entry = view.resources.get(`${kind}/${key}`);
        if (entry instanceof StagelineError) throw entry;
        if (!entry) {
          const ref = resourceRef(kind, key);
          throw notFound(`${ref.kind}/${ref.key}`);
        }
        send(request, reply, entry);
      }),
  );

  api.get(
    '/v1/stream',
    { schema: { tags, security, querystring: z.strictObject({ lastEventId: z.string().max(20).optional() }), response: { 401: errorResponse } } },
    async (request, reply) => {
      const principal = apiKeyOf(request);
      const given = request.headers['last-event-id'] ?? request.query.lastEventId;
      let lastEventId: number | null = null;
      if (given !== undefined) {
        if (typeof given !== 'string' || !/^\d{1,10}$/.test(given.trim())) {
          throw invalid([{ field: 'Last-Event-ID', message: 'must be the id of an event this stream sent', in: 'header' }]);
        }
        lastEventId = Number(given.trim());
      }
      // The stream writes its own head: it takes the headers set so far (request id, CORS).
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(reply.getHeaders())) if (typeof value === 'string') headers[name] = value;
      reply.hijack();
      await runtime.streams.open(principal, reply.raw, lastEventId, headers);
    },
  );
}
