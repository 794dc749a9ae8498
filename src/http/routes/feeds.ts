// The feed API: a recipient's in-app messages in the environment of the API key, newest first,
// and marking them read. Publishable keys may use it too — it is what a client-side inbox calls —
// with a recipient token where the environment requires one (POST /v1/recipient-tokens).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_TOKEN_TTL_SECONDS } from '../../domain/feeds/recipient-token.js';
import type { Deps } from '../../services/context.js';
import type { Runtime } from '../../runtime/index.js';
import { readFeed } from '../../runtime/channels/in-app.js';
import { markAllRead, markMessageRead } from '../../services/feeds.js';
import { RECIPIENT_ID_PATTERN, RECIPIENT_ID_RULE } from '../../domain/workflows/runs.js';
import { assertRecipientAccess, issueRecipientToken, readRecipientTokenSecret } from '../../services/recipient-tokens.js';
import { contextOf } from '../auth.js';
import { envParams, errors } from '../schemas.js';
import { apiKeyOf } from '../key-auth.js';

const recipient = z.string().regex(RECIPIENT_ID_PATTERN, `must be ${RECIPIENT_ID_RULE}`);
export const recipientParams = z.strictObject({ recipient });
const messageParams = recipientParams.extend({ id: z.string().max(100) });
const token = z.string().max(4096).optional().describe('a recipient token (or the x-stageline-recipient-token header)');
export const tokenQuery = z.strictObject({ token });
const feedQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(500).optional().describe('the `next` of the previous page'),
  unread: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe('true: only unread messages; false: only read ones'),
  token,
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
const feedPage = z
  .object({
    data: z.array(feedMessage),
    next: z.string().nullable(),
    unread: z.number().describe("unread messages in the recipient's whole feed"),
  })
  .meta({ id: 'FeedPage' });
const readAll = z.object({ updated: z.number().describe('messages marked read by this call'), unread: z.number() }).meta({ id: 'FeedReadAll' });
const recipientTokenSecret = z
  .object({ environment: z.string(), environmentId: z.string(), algorithm: z.literal('HS256'), version: z.number(), secret: z.string() })
  .meta({ id: 'RecipientTokenSecret' });
const recipientToken = z.object({ token: z.string(), expiresAt: z.string() }).meta({ id: 'RecipientToken' });

/** The recipient token of a publishable-key call: the x-stageline-recipient-token header, or ?token=. */
export function recipientTokenOf(request: FastifyRequest, query: { token?: string | undefined }): string | undefined {
  const header = request.headers['x-stageline-recipient-token'];
  return typeof header === 'string' ? header : query.token;
}

export function feedRoutes(app: FastifyInstance, runtime: Runtime, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['feeds'];
  const security = [{ apiKey: [] }];
  const failures = errors(400, 401, 403);

  /** The environment comes from the key, secret or publishable, never from the request. */
  async function scopeOf(request: FastifyRequest, recipientId: string, query: { token?: string | undefined }) {
    const key = apiKeyOf(request);
    if (key.kind === 'publishable') await assertRecipientAccess(deps, key, await runtime.settings.get(key, 'feeds'), recipientId, recipientTokenOf(request, query));
    return { workspaceId: key.workspaceId, environmentId: key.environmentId };
  }

  /** A read mark is a runtime write: it names its key and request in the activity log. */
  async function callOf(request: FastifyRequest, recipientId: string, query: { token?: string | undefined }) {
    await scopeOf(request, recipientId, query);
    return { key: apiKeyOf(request), requestId: request.id };
  }

  api.get(
    '/v1/feeds/:recipient',
    {
      schema: {
        tags,
        security,
        operationId: 'listFeedMessages',
        summary: "A recipient's in-app messages in the key's environment, newest first",
        params: recipientParams,
        querystring: feedQuery,
        response: { 200: feedPage, ...failures },
      },
    },
    async (request) => {
      const { token: _token, ...query } = request.query;
      return readFeed(deps, await scopeOf(request, request.params.recipient, request.query), request.params.recipient, query);
    },
  );

  api.post(
    '/v1/feeds/:recipient/messages/:id/read',
    {
      schema: {
        tags,
        security,
        operationId: 'markFeedMessageRead',
        summary: "Mark one of a recipient's messages read",
        params: messageParams,
        querystring: tokenQuery,
        response: { 200: feedMessage, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => markMessageRead(deps, await callOf(request, request.params.recipient, request.query), request.params.recipient, request.params.id),
  );

  api.post(
    '/v1/feeds/:recipient/read-all',
    {
      schema: {
        tags,
        security,
        operationId: 'markFeedRead',
        summary: "Mark every message of a recipient's feed read",
        params: recipientParams,
        querystring: tokenQuery,
        response: { 200: readAll, ...failures },
      },
    },
    async (request) => markAllRead(deps, await callOf(request, request.params.recipient, request.query), request.params.recipient),
  );

  api.post(
    '/v1/recipient-tokens',
    {
      schema: {
        tags,
        security,
        operationId: 'createRecipientToken',
        summary: 'A token a browser sends with its publishable key to read one recipient’s feed (secret keys only)',
        body: z.strictObject({
          recipient,
          ttlSeconds: z.number().int().min(1).max(MAX_TOKEN_TTL_SECONDS).optional().describe('default 3600'),
        }),
        response: { 201: recipientToken, ...failures },
      },
    },
    async (request, reply) => {
      const key = apiKeyOf(request);
      const issued = issueRecipientToken(deps, key, await runtime.settings.get(key, 'feeds'), request.body);
      return reply.status(201).send(issued);
    },
  );
}

/** The environment's recipient-token signing secret, for backends that sign tokens themselves. */
export function recipientTokenSecretRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.post(
    '/api/workspaces/:ws/environments/:env/recipient-token-secret',
    {
      schema: {
        tags: ['feeds'],
        operationId: 'revealRecipientTokenSecret',
        summary: "Read the environment's recipient-token signing secret (HS256; audited; rotate by bumping feeds.signingKeyVersion)",
        params: envParams,
        response: {
          200: recipientTokenSecret,
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (request) => readRecipientTokenSecret(deps, await contextOf(deps, request), request.params.env),
  );
}
