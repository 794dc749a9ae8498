// Watches, holds and environment health over HTTP: the running (or latest) watch with its live
// figures, clearing a hold, and the one-call health of an environment for status pages.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { environmentHealth } from '../../services/env-health.js';
import { clearHold, watchOf } from '../../services/watches.js';
import { contextOf } from '../auth.js';
import { actorRef, envParams, errors, noContent, resourceKind } from '../schemas.js';
import { gateConfig, hold } from '../schemas/promotions.js';

const watchFigures = z.object({ requests: z.number(), errorRate: z.number(), p95Ms: z.number().nullable() });
const breach = z.object({
  rule: z.enum(['max_error_rate', 'max_p95_ms', 'error_rate_regression', 'p95_regression']),
  value: z.number(),
  limit: z.number(),
  message: z.string(),
});

const watchView = z
  .object({
    id: z.string(),
    environment: z.string(),
    release: z.number(),
    previousRelease: z.number().describe('the baseline, and where a breach rolls back to (0: none)'),
    status: z.enum(['running', 'passed', 'breached', 'superseded']),
    startedAt: z.string(),
    endsAt: z.string(),
    endedAt: z.string().nullable(),
    secondsLeft: z.number(),
    thresholds: z.object({ maxErrorRate: z.number().nullable(), maxP95Ms: z.number().nullable(), maxRegression: z.number().nullable(), minRequests: z.number() }),
    figures: watchFigures.nullable().describe('the target since the watch started: live while running (null without metrics), final once ended'),
    baseline: watchFigures.nullable().describe("the previous release's last hour before the promotion"),
    breach: breach.nullable().describe('what the figures breach now (running) or breached (ended)'),
    rollbackRelease: z.number().nullable(),
    reason: z.string().nullable(),
  })
  .meta({ id: 'Watch' });

const windowFigures = z.object({
  release: z.number(),
  from: z.string(),
  to: z.string(),
  requests: z.number(),
  errorRate: z.number(),
  successRate: z.number(),
  p95Ms: z.number().nullable(),
});

const health = z
  .object({
    environment: z.string(),
    release: z.object({ number: z.number(), since: z.string() }).nullable(),
    figures: windowFigures.nullable().describe('gateway figures over the last hour of the current release (null without metrics)'),
    previous: windowFigures.nullable().describe("the same over the previous release's last hour"),
    alerts: z.array(z.object({ rule: z.string(), since: z.string() })),
    gates: z.object({
      config: gateConfig.nullable().describe('null: no gates set'),
      pending: z.array(
        z.object({
          id: z.string(),
          kind: z.enum(['promotion', 'rollback']),
          status: z.enum(['pending', 'applied', 'rejected', 'stale']),
          source: z.string(),
          targetRelease: z.number(),
          approvalsRequired: z.number(),
          approvals: z.number(),
          requestedBy: actorRef,
          createdAt: z.string(),
        }),
      ),
    }),
    drift: z
      .object({ from: z.string(), release: z.number(), resources: z.array(z.object({ kind: resourceKind, key: z.string(), status: z.enum(['added', 'changed', 'removed']) })) })
      .nullable()
      .describe('resources that differ from the environment before this one in the chain (null for the first)'),
    freeze: z.object({ id: z.string(), startsAt: z.string(), endsAt: z.string(), reason: z.string() }).nullable(),
    hold: hold.nullable(),
  })
  .meta({ id: 'EnvironmentHealth' });

export function watchRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['watches'];
  const base = '/api/workspaces/:ws/environments/:env';
  const failures = errors(400, 401, 403, 404);

  api.get(
    `${base}/watch`,
    { schema: { tags, operationId: 'getWatch', summary: "Read the environment's running watch (or its latest) with live figures vs thresholds and baseline", params: envParams, response: { 200: watchView, ...failures } } },
    async (request) => watchOf(deps, await contextOf(deps, request), request.params.env),
  );

  api.delete(
    `${base}/hold`,
    { schema: { tags, operationId: 'clearHold', summary: 'Clear the hold a watch breach set, so promotions go ahead again', params: envParams, response: { 204: noContent, ...failures } } },
    async (request, reply) => {
      await clearHold(deps, await contextOf(deps, request), request.params.env);
      return reply.status(204).send();
    },
  );

  api.get(
    `${base}/health`,
    {
      schema: {
        tags,
        operationId: 'getEnvironmentHealth',
        summary: 'Read the current release, figures vs the previous release, alerts, gates, drift, freeze and hold in one call',
        params: envParams,
        response: { 200: health, ...failures },
      },
    },
    async (request) => environmentHealth(deps, await contextOf(deps, request), request.params.env),
  );
}
