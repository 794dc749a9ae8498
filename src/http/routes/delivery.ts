// The delivery API: an environment API key reads its environment's resolved resources from the
// node's in-memory views and follows their changes as server-sent events.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound, StaleKeyError, StagelineError } from '../../domain/errors.js';
import { resourceRef } from '../../domain/resources/kinds.js';
import type { Runtime } from '../../runtime/index.js';
import type { EnvironmentView, Served } from '../../runtime/delivery-cache.js';
import { anyJson, errors, mediaResponse, noContent, resourceKind } from '../schemas.js';
import { apiKeyOf } from '../key-auth.js';
import { lastEventIdOf, serveStream, streamQuery } from '../event-stream.js';
import type { Recorder } from '../../metrics/recorder.js';

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

/**
 * Counts a delivery read (family delivery) in its environment, per resource when the resource
 * exists (a missing one is counted in the total only, so made-up names add no series).
 */
function countRead(recorder: Recorder, request: FastifyRequest, reply: FastifyReply, done: () => void) {
  const key = request.apiKey;
  const route = request.routeOptions.url;
  if (key && (route === '/v1/resources' || route === '/v1/resources/:kind/:key')) {
    const status = reply.statusCode;
    const params = request.params as { kind?: string; key?: string };
    const subject = route === '/v1/resources' || status >= 400 ? '' : `${params.kind}/${params.key}`;
    recorder.record(key.workspaceId, key.environmentId, 'delivery', subject, status, status >= 500, false, reply.elapsedTime);
  }
  done();
}

export const deliveredResource = z
  .object({
    kind: resourceKind,
    key: z.string(),
    content: anyJson('the committed content with its override merged and its templates rendered'),
    hash: z.string().describe('hash of the resolved content'),
  })
  .meta({ id: 'DeliveredResource' });

export const deliveredResources = z
  .object({
    data: z.array(deliveredResource),
    next: z.string().nullable().describe('always null: every resource is in one answer'),
    release: z.number().describe("the environment's current release"),
    errors: z
      .array(z.object({ kind: z.string(), key: z.string(), code: z.string(), message: z.string() }))
      .optional()
      .describe('secret keys: resources that cannot be resolved now (left out of data)'),
  })
  .meta({ id: 'DeliveredResources' });

const notModified = noContent.describe('not modified: the If-None-Match tag is current');

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

  const recorder = runtime.metrics.recorder;
  if (recorder) api.addHook('onResponse', (request, reply, done) => countRead(recorder, request, reply, done));

  // Bodies are built when the view is and sent as text: these schemas describe them (a test
  // checks them), the serializer never sees them.
  api.get(
    '/v1/resources',
    {
      schema: {
        tags,
        security,
        operationId: 'listResolvedResources',
        summary: "The key's environment's active resources, resolved (ETag / If-None-Match)",
        description: 'Publishable keys receive public configs only, rendered without secrets.',
        response: { 200: deliveredResources, 304: notModified, ...errors(401, 403) },
      },
    },
    (request, reply) =>
      withView(request, (view) => {
        send(request, reply, view.list);
      }),
  );

  // The path is checked by resourceRef rather than a schema: this is the hottest route.
  api.get(
    '/v1/resources/:kind/:key',
    {
      schema: {
        tags,
        security,
        operationId: 'getResolvedResource',
        summary: 'One resolved resource of the key’s environment (ETag / If-None-Match)',
        response: { 200: deliveredResource, 304: notModified, ...errors(401, 403, 404, 409) },
      },
    },
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
    {
      schema: {
        tags,
        security,
        operationId: 'streamChanges',
        summary: "Server-sent events on every release, override, kill switch or variable change of the key's environment",
        description: 'Resumable: send the id of the last event received as `Last-Event-ID` (or `?lastEventId=`).',
        querystring: streamQuery,
        response: { 200: mediaResponse('text/event-stream', 'server-sent events'), ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const lastEventId = lastEventIdOf(request);
      await serveStream(runtime, reply, apiKeyOf(request), lastEventId);
    },
  );
}
