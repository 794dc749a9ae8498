// Validation of resources without writing them: what `stageline validate` asks for a pull request.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { validateResources } from '../../services/validation.js';
import { contextOf } from '../auth.js';
import { anyJson, envParams, errors } from '../schemas.js';

const validationCreate = z.strictObject({
  resources: z
    .array(
      z.strictObject({
        kind: z.string().max(40),
        key: z.string().max(200),
        content: anyJson('the document to check, as a draft write would carry it'),
        app: z.string().max(41).nullable().optional(),
      }),
    )
    .max(2000),
  present: z
    .array(z.string().max(300))
    .max(20_000)
    .optional()
    .describe('kind/key of other resources that will exist alongside these (the rest of a tree checked in several requests)'),
});

const validationResult = z
  .object({
    environment: z.string(),
    release: z.number().describe('the release the references were resolved against (with the drafts of an editable environment)'),
    valid: z.boolean(),
    checked: z.number(),
    issues: z.array(
      z.object({
        kind: z.string(),
        key: z.string(),
        field: z.string().describe('dotted path, content.… for the document'),
        message: z.string(),
        code: z.enum(['invalid_resource', 'invalid_content', 'missing_resource', 'missing_reference']),
      }),
    ),
  })
  .meta({ id: 'Validation' });

export function validationRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.post(
    '/api/workspaces/:ws/environments/:env/validations',
    {
      schema: {
        tags: ['resources'],
        operationId: 'validateResources',
        summary: 'Check resources against the kind schemas and the references the environment resolves, writing nothing',
        params: envParams,
        body: validationCreate,
        response: { 200: validationResult, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => validateResources(deps, await contextOf(deps, request), request.params.env, request.body.resources, request.body.present ?? []),
  );
}
