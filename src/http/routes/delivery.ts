// The delivery API: an environment API key reads its environment's resolved resources from the
// node's in-memory views and follows their changes as server-sent events.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { invalid, notFound, StagelineError } from '../../domain/errors.js';
import { resourceRef } from '../../domain/resources/kinds.js';
import type { Runtime } from '../../runtime/index.js';
import type { KeyPrincipal } from '../../services/api-keys.js';
import type { Served } from '../../runtime/delivery-cache.js';
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
  api.addHook('onRequest', async (request) => {
    request.apiKey = await runtime.keys.authenticate(BEARER.exec(request.headers.authorization ?? '')?.[1]);
  });

  async function viewFor(request: FastifyRequest) {
    const key = principalOf(request);
    const view = await runtime.delivery.view(key.workspaceId, key.environmentId, key.kind);
    if (!view) throw notFound('the environment of this API key');
    return view;
  }

  api.get('/v1/resources', { schema: { tags, security, response: { 401: errorResponse } } }, async (request, reply) => {
    return send(request, reply, (await viewFor(request)).list);
  });

  api.get(
    '/v1/resources/:kind/:key',
    { schema: { tags, security, params: z.strictObject({ kind: z.string().max(40), key: z.string().max(200) }), response: { 401: errorResponse, 404: errorResponse, 409: errorResponse } } },
    async (request, reply) => {
      const ref = resourceRef(request.params.kind, request.params.key);
      const entry = (await viewFor(request)).resources.get(`${ref.kind}/${ref.key}`);
      if (!entry) throw notFound(`${ref.kind}/${ref.key}`);
      if (entry instanceof StagelineError) throw entry;
      return send(request, reply, entry);
    },
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
