import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { commit, getRelease, listReleases, promote, rollback } from '../../services/releases.js';
import { diff } from '../../services/diff.js';
import { contextOf } from '../auth.js';
import {
  commitCreate,
  diffQuery,
  envParams,
  errorResponse,
  pageQuery,
  promotionApproval,
  promotionCreate,
  promotionRejection,
  promotionRequestParams,
  promotionRequestQuery,
  release,
  releaseParams,
  rollbackCreate,
  wsParams,
} from '../schemas.js';
import { approvePromotionRequest, getPromotionRequest, listPromotionRequests, rejectPromotionRequest } from '../../services/promotion-requests.js';


export function releaseRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['releases'];
  const base = '/api/workspaces/:ws/environments/:env';
  const errors = { 200: z.unknown(), 201: z.unknown(), 400: errorResponse, 404: errorResponse, 409: errorResponse };

  api.post(`${base}/commits`, { schema: { tags, params: envParams, body: commitCreate, response: { ...errors, 201: release } } }, async (request, reply) => {
    const created = await commit(deps, await contextOf(deps, request), request.params.env, request.body);
    return reply.status(201).send(created);
  });

  api.post(`${base}/promotions`, { schema: { tags, params: envParams, body: promotionCreate, response: { ...errors, 202: z.unknown() } } }, async (request, reply) => {
    const result = await promote(deps, await contextOf(deps, request), request.params.env, request.body);
    // 200 a plan (dry run), 202 a promotion request (protected or gated target) still waiting,
    // 201 a release (a request whose gates had all passed already applies at once).
    return reply.status('dryRun' in result ? 200 : 'request' in result && !('release' in result) ? 202 : 201).send(result);
  });

  const requests = '/api/workspaces/:ws/promotion-requests';
  const decided = { ...errors, 403: errorResponse };
  api.get(requests, { schema: { tags, params: wsParams, querystring: promotionRequestQuery } }, async (request) => {
    const { limit, cursor, status, environment } = request.query;
    return listPromotionRequests(deps, await contextOf(deps, request), { ...(status ? { status } : {}), ...(environment ? { environment } : {}) }, cursor, limit);
  });
  api.get(`${requests}/:id`, { schema: { tags, params: promotionRequestParams, response: errors } }, async (request) =>
    getPromotionRequest(deps, await contextOf(deps, request), request.params.id),
  );
  api.post(`${requests}/:id/approve`, { schema: { tags, params: promotionRequestParams, body: promotionApproval, response: decided } }, async (request) =>
    approvePromotionRequest(deps, await contextOf(deps, request), request.params.id, request.body ?? {}),
  );
  api.post(`${requests}/:id/reject`, { schema: { tags, params: promotionRequestParams, body: promotionRejection, response: decided } }, async (request) =>
    rejectPromotionRequest(deps, await contextOf(deps, request), request.params.id, request.body),
  );

  api.post(`${base}/rollbacks`, { schema: { tags, params: envParams, body: rollbackCreate, response: { ...errors, 201: release, 202: z.unknown() } } }, async (request, reply) => {
    const result = await rollback(deps, await contextOf(deps, request), request.params.env, request.body);
    // 200 the plan (dry run), 202 a promotion request (approvals for rollbacks), 201 a release.
    return reply.status('dryRun' in result ? 200 : 'request' in result ? 202 : 201).send(result);
  });

  api.get(`${base}/releases`, { schema: { tags, params: envParams, querystring: pageQuery } }, async (request) => {
    const { limit, cursor } = request.query;
    return listReleases(deps, await contextOf(deps, request), request.params.env, cursor, limit);
  });

  api.get(`${base}/releases/:number`, { schema: { tags, params: releaseParams, response: errors } }, async (request) => {
    return getRelease(deps, await contextOf(deps, request), request.params.env, request.params.number);
  });

  api.get('/api/workspaces/:ws/diff', { schema: { tags, params: wsParams, querystring: diffQuery, response: errors } }, async (request) => {
    return diff(deps, await contextOf(deps, request), request.query.from, request.query.to);
  });
}
