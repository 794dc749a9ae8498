// Analytics (side-by-side figures, series and markers per environment) and /metrics, the
// Prometheus scrape of this node's counters.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Runtime } from '../../runtime/index.js';
import { PROMETHEUS_CONTENT_TYPE, scrape } from '../../metrics/prometheus.js';
import { mergeTotals, totalsOf } from '../../metrics/recorder.js';
import { readAnalytics, scrapeScope } from '../../services/analytics.js';
import type { Deps } from '../../services/context.js';
import { contextOf } from '../auth.js';
import { errors, mediaResponse, wsParams } from '../schemas.js';

const isoTime = z.iso.datetime({ offset: true });

const analyticsQuery = z.strictObject({
  envs: z.string().max(500).optional().describe('comma-separated environment slugs (default: the chain)'),
  from: isoTime.optional().describe('start of the range, inclusive (default: an hour before `to`)'),
  to: isoTime.optional().describe('end of the range, exclusive (default: now)'),
  route: z.string().min(1).max(200).optional().describe("a gateway route's key; absent: every request of the environment"),
  step: z.coerce.number().int().min(1).max(1440).optional().describe('minutes per point (default chosen from the range)'),
});

const figures = {
  requests: z.number(),
  requestsPerMinute: z.number(),
  errorRate: z.number(),
  successRate: z.number(),
  p50Ms: z.number().nullable(),
  p95Ms: z.number().nullable(),
  p99Ms: z.number().nullable(),
  upstreamErrorRate: z.number(),
};

const analyticsResponse = z
  .object({
    from: z.string(),
    to: z.string(),
    step: z.number().describe('minutes per point'),
    route: z.string().nullable(),
    data: z.array(z.object({ environment: z.string(), ...figures })),
    series: z.array(z.object({ environment: z.string(), points: z.array(z.object({ at: z.string(), ...figures })) })),
    markers: z.array(z.object({ environment: z.string(), at: z.string(), kind: z.enum(['promotion', 'rollback', 'commit', 'override']), release: z.number().nullable() })),
  })
  .meta({ id: 'Analytics' });

export function analyticsRoutes(app: FastifyInstance, deps: Deps, runtime: Runtime) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/api/workspaces/:ws/analytics',
    {
      schema: {
        tags: ['metrics'],
        operationId: 'readAnalytics',
        summary: 'Read gateway figures per environment side by side, time series for charts, and release and override markers',
        params: wsParams,
        querystring: analyticsQuery,
        response: { 200: analyticsResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => readAnalytics(deps, await contextOf(deps, request), request.query),
  );

  api.get(
    '/metrics',
    {
      schema: {
        tags: ['metrics'],
        operationId: 'scrapeMetrics',
        summary: "Prometheus text of this node's counters, labelled by workspace, environment and route",
        security: [{ bearer: [] }],
        response: { 200: mediaResponse('text/plain', 'Prometheus text exposition format 0.0.4'), ...errors(401) },
      },
    },
    async (request, reply) => {
      const { recorder, peers } = runtime.metrics;
      // This process's series and its gateway workers' (each recorded where the traffic was served).
      const parts = [recorder ? totalsOf(recorder.series()) : [], ...(peers ? await peers() : [])];
      const series = recorder || peers ? mergeTotals(parts) : null;
      const workspaceIds = [...new Set((series ?? []).map((s) => s.workspaceId))];
      const scope = await scrapeScope(deps, request.headers.authorization, runtime.metrics.access, workspaceIds);
      return reply.type(PROMETHEUS_CONTENT_TYPE).send(await scrape(series, scope));
    },
  );
}
