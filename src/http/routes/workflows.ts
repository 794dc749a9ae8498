// Workflow runs over HTTP: triggering and reading runs with an environment's secret API key
// (runtime API), and the members' test runner (management API).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { invalid } from '../../domain/errors.js';
import { RESOURCE_KEY_PATTERN } from '../../domain/resources/kinds.js';
import { MAX_RECIPIENTS } from '../../domain/workflows/runs.js';
import type { Runtime } from '../../runtime/index.js';
import type { Deps } from '../../services/context.js';
import { getWorkflowRun, testWorkflow, triggerWorkflow } from '../../services/workflows.js';
import { contextOf } from '../auth.js';
import { anyJson, envParams, errors } from '../schemas.js';
import { apiKeyOf } from '../key-auth.js';


const workflowKey = z.string().regex(RESOURCE_KEY_PATTERN, 'must be 1-128 letters, digits, dots, underscores or hyphens, starting with a letter or digit');
const recipient = z.union([
  z.string().describe('the id of a record of the environment’s `users` collection'),
  z.looseObject({ id: z.string() }).describe('an inline recipient: its fields as templates see them (`email`, `name`, …)'),
]);
const recipients = z.array(recipient).max(MAX_RECIPIENTS);
const data = z.record(z.string(), z.unknown()).describe('what templates read as `data.*`');

const triggerBody = z.strictObject({
  recipients: recipients.min(1),
  data: data.optional(),
  idempotencyKey: z.string().optional().describe('a repeated trigger with the same key answers the same run (also as the Idempotency-Key header)'),
});
const triggerAnswer = z
  .object({ runId: z.string(), status: z.enum(['queued', 'running', 'completed', 'failed']) })
  .meta({ id: 'WorkflowTrigger' });

const stepView = z.object({
  step: z.number().describe('index in the workflow’s steps'),
  name: z.string().nullable(),
  type: z.string().describe('channel:email, channel:webhook, channel:in_app, tool or delay'),
  recipient: z.string(),
  status: z.enum(['pending', 'completed', 'failed', 'retrying', 'waiting', 'skipped']),
  attempts: z.number(),
  messageIds: z.array(z.string()),
  detail: z.string().nullable(),
  error: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
const runView = z
  .object({
    id: z.string(),
    workflow: z.string(),
    environment: z.string(),
    release: z.number(),
    source: z.enum(['api', 'test']),
    status: z.enum(['queued', 'running', 'completed', 'failed']),
    error: z.string().nullable(),
    recipients: z.array(z.string()),
    messageIds: z.array(z.string()),
    steps: z.array(stepView),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'WorkflowRun' });

const testRunBody = z.strictObject({
  workflow: workflowKey,
  recipients: recipients.min(1).optional().describe('default: the member running the test'),
  data: data.optional(),
  useCommitted: z.boolean().optional().describe('run the committed version instead of the draft (any environment)'),
  reveal: z.boolean().optional().describe("show recipients' real values in an environment that obfuscates data (needs data.reveal; audited)"),
});
const testRunAnswer = z
  .object({
    version: z.enum(['draft', 'committed']),
    hash: z.string(),
    masked: z.boolean().describe("whether recipients' values are masked in the messages (the environment obfuscates data and nothing was revealed)"),
    run: runView,
    messages: z.array(
      z.object({
        step: z.number(),
        recipient: z.string(),
        type: z.string(),
        status: z.string(),
        message: anyJson('what was rendered; secrets appear as [secret NAME]'),
        messageIds: z.array(z.string()),
        detail: z.string().nullable(),
        error: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'WorkflowTestRun' });

export function workflowRoutes(app: FastifyInstance, runtime: Runtime, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['workflows'];
  const security = [{ apiKey: [] }];

  api.post(
    '/v1/workflows/:key/trigger',
    {
      schema: {
        tags,
        security,
        operationId: 'triggerWorkflow',
        summary: "Run the key's environment's committed workflow",
        params: z.strictObject({ key: workflowKey }),
        body: triggerBody,
        response: {
          200: triggerAnswer.describe('a trigger with an idempotency key already used: the run it made'),
          202: triggerAnswer.describe('the run, queued'),
          ...errors(400, 401, 403, 404, 409, 413),
        },
      },
    },
    async (request, reply) => {
      const header = request.headers['idempotency-key'];
      const fromHeader = typeof header === 'string' ? header : undefined;
      const { idempotencyKey: fromBody, ...rest } = request.body;
      if (fromHeader !== undefined && fromBody !== undefined && fromHeader !== fromBody) {
        throw invalid([{ field: 'idempotencyKey', message: 'differs from the Idempotency-Key header', in: 'body' }]);
      }
      const idempotencyKey = fromBody ?? fromHeader;
      const call = { key: apiKeyOf(request), requestId: request.id };
      const result = await triggerWorkflow(deps, runtime.resolver, call, request.params.key, { ...rest, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) }, runtime.workflows);
      if (!result.created) reply.header('idempotent-replayed', 'true');
      return reply.status(result.created ? 202 : 200).send({ runId: result.runId, status: result.status });
    },
  );

  api.get(
    '/v1/workflow-runs/:id',
    {
      schema: {
        tags,
        security,
        operationId: 'getWorkflowRun',
        summary: 'A workflow run of the key’s environment: status, steps per recipient, message ids, errors',
        params: z.strictObject({ id: z.string().max(100) }),
        response: { 200: runView, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      return getWorkflowRun(deps, apiKeyOf(request), request.params.id);
    },
  );

}

/** The test runner, registered with the management API (member authentication). */
export function testRunRoutes(app: FastifyInstance, deps: Deps, runtime: Runtime) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['workflows'];
  api.post(
    '/api/workspaces/:ws/environments/:env/test-runs',
    {
      schema: {
        tags,
        operationId: 'runWorkflowTest',
        summary: "Run a workflow's draft (or committed version) now through the environment's channels",
        params: envParams,
        body: testRunBody,
        response: { 200: testRunAnswer, ...errors(400, 401, 403, 404, 409, 413) },
      },
    },
    async (request) => testWorkflow(deps, runtime.resolver, await contextOf(deps, request), request.params.env, request.body, runtime.workflows),
  );
}
