// The feed API: a recipient's in-app messages in the environment of the API key, newest first,
// and marking them read. Publishable keys may use it too: it is what a client-side inbox calls.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import type { Runtime } from '../../runtime/index.js';
import { readFeed, RECIPIENT } from '../../runtime/channels/in-app.js';
import { markAllRead, markMessageRead } from '../../services/feeds.js';
import { errorResponse } from '../schemas.js';
import { authenticateKey } from '../key-auth.js';


const recipientParams = z.strictObject({ recipient: z.string().regex(RECIPIENT, 'must be 1-256 characters without control characters') });
const messageParams = recipientParams.extend({ id: z.string().max(100) });
const feedQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(500).optional().describe('the `next` of the previous page'),
  unread: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe('true: only unread messages; false: only read ones'),
});
const feedMessage = z
  .object({
    id: z.string(),
    recipient: z.string(),
    content: z.record(z.string(), z.unknown()).describe('{title?, body, actionUrl?, data?} as rendered by the workflow step'),
    createdAt: z.string(),
    readAt: z.string().nullable(),
  })
  .meta({ id: 'FeedMessage' });
const feedPage = z.object({
  data: z.array(feedMessage),
  next: z.string().nullable(),
  unread: z.number().describe("unread messages in the recipient's whole feed"),
});

export function feedRoutes(app: FastifyInstance, runtime: Runtime, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['feeds'];
  const security = [{ apiKey: [] }];
  const errors = { 400: errorResponse, 401: errorResponse };

  api.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  /** The environment comes from the key, secret or publishable, never from the request. */
  async function scopeOf(request: FastifyRequest) {
    const principal = await authenticateKey(runtime, request);
    return { workspaceId: principal.workspaceId, environmentId: principal.environmentId };
  }

  /** A read mark is a runtime write: it names its key and request in the activity log. */
  async function callOf(request: FastifyRequest) {
    return { key: await authenticateKey(runtime, request), requestId: request.id };
  }

  api.get(
    '/v1/feeds/:recipient',
    { schema: { tags, security, params: recipientParams, querystring: feedQuery, response: { 200: feedPage, ...errors } } },
    async (request) => readFeed(deps, await scopeOf(request), request.params.recipient, request.query),
  );

  api.post(
    '/v1/feeds/:recipient/messages/:id/read',
    { schema: { tags, security, params: messageParams, response: { 200: feedMessage, ...errors, 404: errorResponse } } },
    async (request) => markMessageRead(deps, await callOf(request), request.params.recipient, request.params.id),
  );

  api.post(
    '/v1/feeds/:recipient/read-all',
    { schema: { tags, security, params: recipientParams, response: { 200: z.object({ updated: z.number(), unread: z.number() }), ...errors } } },
    async (request) => markAllRead(deps, await callOf(request), request.params.recipient),
  );
}
