// Recipient preferences: the runtime API (an environment key; a publishable key always with the
// recipient's token), the members' API (dashboard, CLI), and the one-click unsubscribe link
// that emails carry (RFC 8058), which needs no credential but its own signed token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { StagelineError } from '../../domain/errors.js';
import { preferenceSetSchema } from '../../domain/preferences/preferences.js';
import type { Runtime } from '../../runtime/index.js';
import type { Deps } from '../../services/context.js';
import {
  describeUnsubscribe,
  readPreferencesAsMember,
  readPreferencesByKey,
  unsubscribe,
  UNSUBSCRIBE_PATH,
  writePreferencesAsMember,
  writePreferencesByKey,
} from '../../services/preferences.js';
import { assertRecipientAccess } from '../../services/recipient-tokens.js';
import { contextOf } from '../auth.js';
import { apiKeyOf } from '../key-auth.js';
import { envParams, errors } from '../schemas.js';
import { recipientParams, recipientTokenOf, tokenQuery } from './feeds.js';

const preferencesView = z
  .object({
    recipient: z.string(),
    preferences: preferenceSetSchema,
    version: z.number().describe('writes so far; 0: never written (every channel opted in unless a default says otherwise)'),
    updatedAt: z.string().nullable(),
  })
  .meta({ id: 'RecipientPreferences' });
const memberView = preferencesView
  .extend({ environment: z.string(), defaults: preferenceSetSchema.optional().describe("the environment's defaults (setting preferences.defaults)") })
  .meta({ id: 'MemberRecipientPreferences' });
const unsubscribed = z.object({ unsubscribed: z.literal(true), workflow: z.string(), scope: z.enum(['workflow', 'email']) }).meta({ id: 'Unsubscribed' });

/** The runtime API: GET and PUT /v1/recipients/:recipient/preferences. */
export function preferenceRoutes(app: FastifyInstance, runtime: Runtime, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['preferences'];
  const security = [{ apiKey: [] }];

  /** A publishable key reaches preferences only with the recipient's token, in every environment. */
  async function callOf(request: FastifyRequest & { params: { recipient: string }; query: { token?: string | undefined } }) {
    const key = apiKeyOf(request);
    if (key.kind === 'publishable') {
      const feeds = await runtime.settings.get(key, 'feeds');
      await assertRecipientAccess(deps, key, { ...feeds, requireRecipientToken: true }, request.params.recipient, recipientTokenOf(request, request.query));
    }
    return { key, requestId: request.id };
  }

  api.get(
    '/v1/recipients/:recipient/preferences',
    {
      schema: {
        tags,
        security,
        operationId: 'getRecipientPreferences',
        summary: "A recipient's preference set in the key's environment (a publishable key needs the recipient's token)",
        params: recipientParams,
        querystring: tokenQuery,
        response: { 200: preferencesView, ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const found = await readPreferencesByKey(deps, await callOf(request), request.params.recipient);
      reply.header('etag', etag(found.version));
      return found;
    },
  );

  api.put(
    '/v1/recipients/:recipient/preferences',
    {
      schema: {
        tags,
        security,
        operationId: 'putRecipientPreferences',
        summary: "Replace a recipient's preference set in the key's environment (recorded in the activity log); If-Match: the version read, else 409 preferences_changed",
        params: recipientParams,
        querystring: tokenQuery,
        body: preferenceSetSchema,
        response: { 200: preferencesView, ...errors(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const written = await writePreferencesByKey(deps, await callOf(request), request.params.recipient, request.body, expectedVersion(request));
      reply.header('etag', etag(written.version));
      return written;
    },
  );
}

/** Members: read with data.read, replace with preferences.write (audited). */
export function memberPreferenceRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const params = envParams.extend(recipientParams.shape);
  const path = '/api/workspaces/:ws/environments/:env/recipients/:recipient/preferences';
  api.get(
    path,
    {
      schema: {
        tags: ['preferences'],
        operationId: 'readRecipientPreferences',
        summary: "A recipient's preference set and the environment's defaults (data.read)",
        params,
        response: { 200: memberView, ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const found = await readPreferencesAsMember(deps, await contextOf(deps, request), request.params.env, request.params.recipient);
      reply.header('etag', etag(found.version));
      return found;
    },
  );
  api.put(
    path,
    {
      schema: {
        tags: ['preferences'],
        operationId: 'writeRecipientPreferences',
        summary: "Replace a recipient's preference set (preferences.write; audited); If-Match: the version read, else 409 preferences_changed",
        params,
        body: preferenceSetSchema,
        response: { 200: memberView.omit({ defaults: true }), ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const written = await writePreferencesAsMember(deps, await contextOf(deps, request), request.params.env, request.params.recipient, request.body, expectedVersion(request));
      reply.header('etag', etag(written.version));
      return written;
    },
  );
}

/** The version an If-Match header names (`"3"`, `3` or `W/"3"`), undefined without one; 400 when it names none. */
export function expectedVersion(request: FastifyRequest): number | undefined {
  const header = request.headers['if-match'];
  if (header === undefined) return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(String(header));
  if (!match) throw new StagelineError(400, 'invalid_request', 'If-Match: must be the version read, as the ETag of the GET answered it ("3")', [{ field: 'If-Match', in: 'header', message: 'must be a version such as "3"' }]);
  return Number(match[1]);
}

const etag = (version: number) => `"${version}"`;

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2328}button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #1f2328;background:#1f2328;color:#fff;cursor:pointer}</style></head><body>${body}</body></html>`;
}

const what = (scope: 'workflow' | 'email', workflow: string) => (scope === 'email' ? 'all email from this sender' : `email from “${escapeHtml(workflow)}”`);

/**
 * The link in every email's List-Unsubscribe header: GET shows a page with one button (and
 * changes nothing: mail scanners follow links); POST with `List-Unsubscribe=One-Click` (what
 * mailbox providers send, and what the button sends) opts the recipient out.
 */
export function unsubscribeRoutes(app: FastifyInstance, deps: Deps) {
  // Mailbox providers post a form; the body is read as text and only checked for the one field.
  for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => done(null, body));
  }
  const api = app.withTypeProvider<ZodTypeProvider>();
  // The token rides in the query (RFC 8058's own example does): it names a recipient of up to
  // 256 characters, longer than a path parameter may be.
  const querystring = z.strictObject({ token: z.string().min(1).max(2048).describe('the signed token of the link') });
  const wantsHtml = (request: FastifyRequest) => (request.headers.accept ?? '').includes('text/html');

  api.get(
    UNSUBSCRIBE_PATH,
    {
      schema: {
        tags: ['preferences'],
        operationId: 'showUnsubscribe',
        summary: 'The page behind an email’s unsubscribe link: one button that posts the one-click form (a GET changes nothing)',
        querystring,
        response: { 200: z.string().describe('an HTML page (text/html)'), ...errors(400) },
      },
    },
    async (request, reply) => {
      const { workflow, scope } = await describeUnsubscribe(deps, request.query.token);
      const form = `<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`;
      return (reply as FastifyReply)
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
        .send(page('Unsubscribe', `<h1>Unsubscribe</h1><p>Stop receiving ${what(scope, workflow)}?</p>${form}`));
    },
  );

  api.post(
    UNSUBSCRIBE_PATH,
    {
      schema: {
        tags: ['preferences'],
        operationId: 'unsubscribe',
        summary: 'One-click unsubscribe (RFC 8058): the body is List-Unsubscribe=One-Click; no credential but the link',
        querystring,
        response: { 200: unsubscribed, ...errors(400) },
      },
    },
    async (request, reply) => {
      const body = typeof request.body === 'string' ? request.body : '';
      if (!/List-Unsubscribe[\s\S]*One-Click/.test(body)) {
        throw new StagelineError(400, 'validation_failed', 'List-Unsubscribe: the body must be List-Unsubscribe=One-Click (RFC 8058)', [
          { field: 'List-Unsubscribe', in: 'body', message: 'must be One-Click' },
        ]);
      }
      const result = await unsubscribe(deps, request.query.token, request.id);
      reply.header('cache-control', 'no-store');
      if (wantsHtml(request)) {
        return (reply as FastifyReply)
          .type('text/html; charset=utf-8')
          .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
          .send(page('Unsubscribed', `<h1>Unsubscribed</h1><p>You will no longer receive ${what(result.scope, result.workflow)}.</p>`));
      }
      return { unsubscribed: true as const, ...result };
    },
  );
}
