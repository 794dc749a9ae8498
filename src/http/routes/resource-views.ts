// Read-only views the dashboard's resource pages need: the kind schemas as JSON Schema (for
// completion and validation as one types), a resource as an environment resolves it, and the
// overrides an environment holds.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { KIND_SCHEMAS, RESOURCE_KINDS, resourceRef } from '../../domain/resources/kinds.js';
import type { Runtime } from '../../runtime/index.js';
import type { Deps } from '../../services/context.js';
import { overridesOf, resolvedView } from '../../services/resource-views.js';
import { contextOf, principalOf } from '../auth.js';
import { envParams, errorResponse, resourceParams } from '../schemas.js';

/**
 * The kinds' zod schemas as draft-07 JSON Schema, made once. Refinements that JSON Schema cannot
 * say (URL shapes, "needs html or text") are checked by the server when a draft is saved.
 */
const KIND_JSON_SCHEMAS = RESOURCE_KINDS.map((kind) => ({
  kind,
  schema: z.toJSONSchema(KIND_SCHEMAS[kind], { target: 'draft-7', unrepresentable: 'any', io: 'input' }) as Record<string, unknown>,
}));

const kindList = z
  .object({ data: z.array(z.object({ kind: z.enum(RESOURCE_KINDS), schema: z.record(z.string(), z.unknown()).describe('JSON Schema (draft-07) of the content') })) })
  .meta({ id: 'KindSchemas' });

const resolvedAnswer = z
  .object({
    kind: z.string(),
    key: z.string(),
    environment: z.string(),
    release: z.number().describe('the release resolved (the current one)'),
    status: z.enum(['resolved', 'missing', 'inactive', 'invalid', 'unresolved']).describe('missing: not in the release; inactive: switched off; invalid: the override makes it invalid; unresolved: a variable or secret it references has no value'),
    content: z.unknown().describe('the content as a secret key receives it, every secret shown as [secret NAME]; null unless resolved'),
    hash: z.string().nullable().describe('hash of that content: equal in two environments when they deliver the same'),
    message: z.string().nullable(),
    issues: z.array(z.object({ field: z.string(), message: z.string() })),
  })
  .meta({ id: 'ResolvedResource' });

const overrideList = z
  .object({ environment: z.string(), data: z.array(z.object({ kind: z.string(), key: z.string(), override: z.unknown() })) })
  .meta({ id: 'OverrideList' });

export function resourceViewRoutes(app: FastifyInstance, deps: Deps, runtime: Runtime) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['resources'];

  api.get(
    '/api/kinds',
    { schema: { tags, operationId: 'listKindSchemas', summary: 'The JSON Schema of every resource kind', response: { 200: kindList, 401: errorResponse } } },
    async (request) => {
      principalOf(request);
      return { data: KIND_JSON_SCHEMAS };
    },
  );

  api.get(
    '/api/workspaces/:ws/environments/:env/resources/:kind/:key/resolved',
    {
      schema: {
        tags,
        operationId: 'previewResolvedResource',
        summary: 'A resource as the environment delivers it now (override merged, templates rendered, secrets masked)',
        params: resourceParams,
        response: { 200: resolvedAnswer, 400: errorResponse, 401: errorResponse, 403: errorResponse, 404: errorResponse },
      },
    },
    async (request) => {
      const { env, kind, key } = request.params;
      return resolvedView(deps, runtime.resolver, await contextOf(deps, request), env, resourceRef(kind, key));
    },
  );

  api.get(
    '/api/workspaces/:ws/environments/:env/overrides',
    {
      schema: {
        tags,
        operationId: 'listOverrides',
        summary: "The environment's overrides, by resource",
        params: envParams,
        response: { 200: overrideList, 401: errorResponse, 403: errorResponse, 404: errorResponse },
      },
    },
    async (request) => overridesOf(deps, await contextOf(deps, request), request.params.env),
  );
}
