// The OpenFeature Remote Evaluation Protocol (OFREP) on the runtime API: an environment API key
// evaluates its environment's `config` resources as feature flags, one or all at once.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { contextIssue } from '@stageline/client';
import { z } from 'zod';
import { StaleKeyError } from '../../domain/errors.js';
import type { EnvironmentView } from '../../runtime/delivery-cache.js';
import type { Runtime } from '../../runtime/index.js';
import type { Deps } from '../../services/context.js';
import { evaluate, FlagSets, type Flag } from '../../services/ofrep.js';
import { apiKeyOf } from '../key-auth.js';
import { anyJson, errorResponse, errors, noContent } from '../schemas.js';

const evaluationRequest = z
  .looseObject({ context: anyJson('the evaluation context: `targetingKey` and any attributes the flag rules read').optional() })
  .describe('`{"context": {...}}`; an absent context is an empty one');

const success = z
  .object({
    key: z.string(),
    value: anyJson('the flag value'),
    reason: z.enum(['STATIC', 'DEFAULT', 'TARGETING_MATCH', 'SPLIT', 'DISABLED']),
    variant: z.string(),
    metadata: z.object({ hash: z.string().describe('hash of the resolved config') }),
  })
  .meta({ id: 'OfrepEvaluationSuccess' });

const failure = z
  .object({
    key: z.string(),
    errorCode: z.enum(['FLAG_NOT_FOUND', 'INVALID_CONTEXT', 'PARSE_ERROR', 'GENERAL']),
    errorDetails: z.string(),
  })
  .meta({ id: 'OfrepEvaluationFailure' });

const bulkFailure = z
  .object({ errorCode: z.enum(['INVALID_CONTEXT']), errorDetails: z.string() })
  .meta({ id: 'OfrepBulkEvaluationFailure' });

const bulk = z.object({ flags: z.array(z.union([success, failure])) }).meta({ id: 'OfrepBulkEvaluation' });

const BAD_REQUEST =
  'INVALID_CONTEXT (PARSE_ERROR or GENERAL for one flag) in the OFREP shape; a body that is not a JSON object is refused before evaluation in the runtime API error shape (invalid_request, invalid_json)';

/** RFC 9110 If-None-Match, weak comparison. */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || (trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed) === etag;
  });
}

export function ofrepRoutes(app: FastifyInstance, runtime: Runtime, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['openfeature'];
  const security = [{ apiKey: [] }];
  const sets = new FlagSets(deps, runtime.resolver);

  async function flagsOf(request: FastifyRequest): Promise<Map<string, Flag>> {
    const key = apiKeyOf(request);
    const view: EnvironmentView | null = runtime.delivery.viewNow(key) ?? (await runtime.delivery.view(key.workspaceId, key.environmentId, key.kind));
    if (!view) throw new StaleKeyError('environment');
    return sets.of(view, key);
  }

  api.post(
    '/ofrep/v1/evaluate/flags/:key',
    {
      schema: {
        tags,
        security,
        operationId: 'ofrepEvaluateFlag',
        summary: 'Evaluates one flag (a config resource of the key’s environment) for a context (OFREP)',
        description: 'Publishable keys see public configs only; any other key is FLAG_NOT_FOUND.',
        params: z.object({ key: z.string() }),
        body: evaluationRequest,
        response: { 200: success, 400: z.union([failure, errorResponse]).describe(BAD_REQUEST), 404: failure.describe('FLAG_NOT_FOUND'), ...errors(401, 403) },
      },
    },
    async (request, reply) => {
      const { key } = request.params;
      const answer = evaluate(key, (await flagsOf(request)).get(key), request.body.context ?? {});
      return reply.status(answer.status).header('cache-control', 'private, no-cache').send(answer.body);
    },
  );

  api.post(
    '/ofrep/v1/evaluate/flags',
    {
      schema: {
        tags,
        security,
        operationId: 'ofrepEvaluateFlags',
        summary: 'Evaluates every flag of the key’s environment for a context (OFREP bulk; ETag / If-None-Match)',
        description: 'The ETag is a hash of the answer (values, variants, reasons and each config’s resolved hash for this context): If-None-Match answers 304 exactly when the answer would be the same.',
        body: evaluationRequest,
        response: { 200: bulk, 304: noContent.describe('not modified: the If-None-Match tag is current'), 400: z.union([bulkFailure, errorResponse]).describe(BAD_REQUEST), ...errors(401, 403) },
      },
    },
    async (request, reply) => {
      const context = request.body.context ?? {};
      // A bad context is bad for every flag: the whole request fails, as OFREP expects.
      const problem = contextIssue(context);
      if (problem !== null) return reply.status(400).send({ errorCode: 'INVALID_CONTEXT' as const, errorDetails: problem });
      const flags = await flagsOf(request);
      const answer = { flags: [...flags].map(([key, flag]) => evaluate(key, flag, context).body) };
      const etag = `"${createHash('sha256').update(JSON.stringify(answer)).digest('base64url').slice(0, 27)}"`;
      reply.header('etag', etag).header('cache-control', 'private, no-cache');
      if (matches(request.headers['if-none-match'], etag)) return reply.status(304).send();
      return answer;
    },
  );
}
