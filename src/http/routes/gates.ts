// Promotion gates over HTTP: an environment's gates, CI checks reported on releases, and the
// checklist items members tick on promotion requests.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { getGates, listReleaseChecks, reportCheck, setGates } from '../../services/gates.js';
import { tickChecklist } from '../../services/promotion-requests.js';
import { contextOf } from '../auth.js';
import { actorRef, envParams, errors, promotionRequestParams, releaseParams, watchInput } from '../schemas.js';
import { gateConfig, promotionRequestResult } from '../schemas/promotions.js';

/** Names are any text (`__proto__` included); each list names each entry once. */
const names = (max: number, what: string) =>
  z
    .array(z.string().trim().min(1, 'must not be empty').max(max))
    .max(50)
    .refine((list) => new Set(list).size === list.length, `must not name a ${what} twice`);

const gatesWrite = z.strictObject({
  checks: names(200, 'check').default([]).describe('names of the CI checks that must succeed on the source release'),
  checklist: names(500, 'checklist item').default([]).describe('items a member ticks on each promotion request'),
  soakMinutes: z.number().int().min(0).max(60 * 24 * 30).default(0).describe('minutes the source release must have run in the source environment with no alert'),
  autoApply: z.boolean().default(false).describe('a request applies by itself when its last gate passes (else on an approval once they have)'),
  watch: watchInput.nullable().default(null).describe('the watch a promotion into this environment gets when it names none'),
});

const gatesRead = gateConfig
  .extend({
    environment: z.string(),
    gated: z.boolean().describe('false: no checks, checklist or soak time; promotions apply as before'),
  })
  .meta({ id: 'Gates' });

const checkWrite = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(200),
  status: z.enum(['pending', 'success', 'failure']),
  url: z.url({ protocol: /^https?$/ }).max(2000).optional().describe("the CI run's page"),
  summary: z.string().trim().min(1).max(2000).optional(),
});

const check = z
  .object({
    id: z.string(),
    environment: z.string(),
    release: z.number(),
    name: z.string(),
    status: z.enum(['pending', 'success', 'failure']),
    url: z.string().nullable(),
    summary: z.string().nullable(),
    reportedBy: actorRef,
    at: z.string(),
  })
  .meta({ id: 'ReleaseCheck' });

const reportedCheck = check
  .extend({ applied: z.array(z.object({ request: z.string(), release: z.string() })).describe('promotion requests this report applied') })
  .meta({ id: 'ReportedCheck' });
const releaseChecks = z
  .object({ data: z.array(check).describe('the latest report of each name'), history: z.array(check).describe('every report, oldest first') })
  .meta({ id: 'ReleaseChecks' });

const tickWrite = z.strictObject({ item: z.string().min(1).max(500), done: z.boolean() });

export function gateRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['gates'];
  const base = '/api/workspaces/:ws/environments/:env';
  const failures = errors(400, 401, 403, 404, 409);

  api.get(
    `${base}/gates`,
    { schema: { tags, operationId: 'getGates', summary: "Read an environment's promotion gates", params: envParams, response: { 200: gatesRead, ...failures } } },
    async (request) => getGates(deps, await contextOf(deps, request), request.params.env),
  );

  api.put(
    `${base}/gates`,
    {
      schema: {
        tags,
        operationId: 'setGates',
        summary: "Replace an environment's promotion gates (checks, checklist, soak time, autoApply, default watch)",
        params: envParams,
        body: gatesWrite,
        response: { 200: gatesRead, ...failures },
      },
    },
    async (request) => setGates(deps, await contextOf(deps, request), request.params.env, request.body),
  );

  api.post(
    `${base}/releases/:number/checks`,
    {
      schema: {
        tags,
        operationId: 'reportCheck',
        summary: 'Report a CI check on a release (the latest report of a name is its state)',
        params: releaseParams,
        body: checkWrite,
        response: {
          201: reportedCheck,
          ...failures,
        },
      },
    },
    async (request, reply) => {
      const { name, status, url, summary } = request.body;
      const reported = await reportCheck(deps, await contextOf(deps, request), request.params.env, request.params.number, {
        name,
        status,
        ...(url !== undefined ? { url } : {}),
        ...(summary !== undefined ? { summary } : {}),
      });
      return reply.status(201).send(reported);
    },
  );

  api.get(
    `${base}/releases/:number/checks`,
    {
      schema: {
        tags,
        operationId: 'listReleaseChecks',
        summary: 'List the checks reported on a release: the latest per name, and every report',
        params: releaseParams,
        response: { 200: releaseChecks, ...failures },
      },
    },
    async (request) => listReleaseChecks(deps, await contextOf(deps, request), request.params.env, request.params.number),
  );

  api.post(
    '/api/workspaces/:ws/promotion-requests/:id/checklist',
    {
      schema: {
        tags,
        operationId: 'tickChecklistItem',
        summary: 'Tick (or untick) a checklist item on a pending promotion request',
        params: promotionRequestParams,
        body: tickWrite,
        response: { 200: promotionRequestResult, ...failures },
      },
    },
    async (request) => tickChecklist(deps, await contextOf(deps, request), request.params.id, request.body),
  );
}
