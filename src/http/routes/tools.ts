// The tool invocation API: a secret API key calls one of its environment's committed tools with
// an input and receives the upstream's response as data.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RESOURCE_KEY_PATTERN } from '../../domain/resources/kinds.js';
import type { Runtime } from '../../runtime/index.js';
import type { Deps } from '../../services/context.js';
import { invokeTool, resolveTool } from '../../services/tools.js';
import { errors } from '../schemas.js';
import { apiKeyOf, secretKeyOnly } from '../key-auth.js';

const toolParams = z.strictObject({
  key: z.string().regex(RESOURCE_KEY_PATTERN, 'must be 1-128 letters, digits, dots, underscores or hyphens, starting with a letter or digit'),
});
const toolInvoke = z
  .strictObject({
    input: z.record(z.string(), z.unknown()).optional().describe('the values templates read as `input.*` (default {})'),
  })
  // A POST without a body reaches validation as null; it calls the tool with an empty input.
  .nullish();
const toolResponse = z
  .object({
    status: z.number().describe("the upstream's HTTP status; a 4xx or 5xx of the upstream is answered as data"),
    headers: z.record(z.string(), z.string()).describe('lower-cased, without hop-by-hop headers and set-cookie'),
    body: z.unknown().describe('parsed JSON for a JSON content type, else text; null when empty'),
    durationMs: z.number(),
  })
  .meta({ id: 'ToolResponse' });

export function toolRoutes(app: FastifyInstance, runtime: Runtime, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/v1/tools/:key/invoke',
    {
      schema: {
        tags: ['tools'],
        security: [{ apiKey: [] }],
        operationId: 'invokeTool',
        summary: "Call one of the key's environment's committed tools",
        params: toolParams,
        body: toolInvoke,
        response: { 200: toolResponse, ...errors(400, 401, 403, 404, 409, 413, 502, 504) },
      },
      // Checked before the request is validated: a caller without a secret key learns nothing
      // about what the route accepts.
      onRequest: secretKeyOnly('tool invocations', "they carry the environment's secrets to their upstream"),
    },
    async (request) => {
      const principal = apiKeyOf(request);
      const { view, tool } = await resolveTool(runtime.resolver, principal.workspaceId, principal.environmentId, request.params.key);
      return invokeTool(deps.egress, view, tool, request.body?.input ?? {}, runtime.metrics.recorder ? { recorder: runtime.metrics.recorder } : {});
    },
  );
}
