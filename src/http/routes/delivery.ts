// The delivery API: an environment API key reads its environment's resolved resources from the
// node's in-memory views and follows their changes as server-sent events.
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { invalid, notFound, StagelineError } from '../../domain/errors.js';
import { resourceRef } from '../../domain/resources/kinds.js';
import type { Runtime } from '../../runtime/index.js';
import type { KeyPrincipal } from '../../services/api-keys.js';
import type { EnvironmentView, Served } from '../../runtime/delivery-cache.js';
import { errorResponse } from '../schemas.js';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: KeyPrincipal | null;
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

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
  reply.header('etag', served.etag).header('cache-control', 'private, no-cache');
  if (matches(request.headers['if-none-match'], served.etag)) return reply.status(304).send();
  return reply.type('application/json; charset=utf-8').send(served.body);
}

function principalOf(request: FastifyRequest): KeyPrincipal {
  if (!request.apiKey) throw new Error('delivery route registered outside the key-authenticated scope');
  return request.apiKey;
}

export function deliveryRoutes(app: FastifyInstance, runtime: Runtime) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['delivery'];
  const security = [{ apiKey: [] }];
  api.decorateRequest('apiKey', null);
  // Reads are the hot path: not access-logged per request (warnings and errors still are),
  // and no child logger is made for each one.
  let quiet: FastifyBaseLogger | undefined;
  api.setChildLoggerFactory((logger) => (quiet ??= logger.child({ scope: 'delivery' }, { level: quieter(logger.level, 'warn') })));

  // Callback style, so a key found in the cache costs no promise.
  api.addHook('onRequest', (request, _reply, done) => {
    const key = BEARER.exec(request.headers.authorization ?? '')?.[1];
    const cached = key ? runtime.keys.cached(key) : undefined;
    if (cached) {
      request.apiKey = cached;
      return done();
    }
    runtime.keys.authenticate(key).then((principal) => {
      request.apiKey = principal;
      done();
    }, done);
  });

  /** The key's environment view: at once when built, else once built. */
  function withView(request: FastifyRequest, use: (view: EnvironmentView) => void): void | Promise<void> {
    const key = principalOf(request);
    const ready = runtime.delivery.viewNow(key.workspaceId, key.environmentId, key.kind);
    if (ready) return use(ready);
    return runtime.delivery.view(key.workspaceId, key.environmentId, key.kind).then((view) => {
      if (!view) throw notFound('the environment of this API key');
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
      const given = request.headers['last-event-id'] ?? request.query.lastEventId;
      let lastEventId: number | null = null;
      if (given !== undefined) {
        if (typeof given !== 'string' || !/^\d{1,10}$/.test(given.trim())) {
          throw invalid([{ field: 'Last-Event-ID', message: 'must be the id of an event this stream sent', in: 'header' }]);
        }
        lastEventId = Number(given.trim());
      }
      reply.hijack();
      await runtime.streams.open(principalOf(request), reply.raw, lastEventId, { 'x-request-id': request.id });
    },
  );
}

/** The less verbose of two pino levels. */
function quieter(level: string, floor: string): string {
  const order = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  return order.indexOf(level) > order.indexOf(floor) ? level : floor;
}
