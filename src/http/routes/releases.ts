// Commits, promotions, promotion requests, rollbacks, release history and diffs over HTTP.
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
  errors,
  page,
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
import { diffView, dryRunPlan, promotionRequest, promotionRequestResult, releaseDetail } from '../schemas/promotions.js';
import { approvePromotionRequest, getPromotionRequest, listPromotionRequests, rejectPromotionRequest } from '../../services/promotion-requests.js';

export function releaseRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['releases'];
  const base = '/api/workspaces/:ws/environments/:env';
  const failures = errors(400, 401, 403, 404, 409);

  api.post(
    `${base}/commits`,
    {
      schema: {
        tags,
        operationId: 'commit',
        summary: "Commit the environment's drafts (all, or the ones named) into a new release",
        params: envParams,
        body: commitCreate,
        response: { 201: release.describe('the new release, with its `changes` counts'), ...failures },
      },
    },
    async (request, reply) => {
      const created = await commit(deps, await contextOf(deps, request), request.params.env, request.body);
      return reply.status(201).send(created);
    },
  );

  api.post(
    `${base}/promotions`,
    {
      schema: {
        tags,
        operationId: 'promote',
        summary: "Promote the previous environment's release (or merge a branch) into this one",
        description:
          'Answers 201 with the new release; 202 with a promotion request when the target is protected or gated (201 with the request and its release when its gates had all passed already and it applied at once); 200 with the plan and nothing written when `dryRun` is set.',
        params: envParams,
        body: promotionCreate,
        response: {
          200: dryRunPlan.describe('dryRun: the plan, nothing written'),
          201: z.union([release, promotionRequestResult]).describe('the new release; or, for a request that applied at once, the request and its release'),
          202: promotionRequestResult.describe('a promotion request waiting for its gates'),
          ...failures,
        },
      },
    },
    async (request, reply) => {
      const result = await promote(deps, await contextOf(deps, request), request.params.env, request.body);
      // 200 a plan (dry run), 202 a promotion request (protected or gated target) still waiting,
      // 201 a release (a request whose gates had all passed already applies at once).
      return reply.status('dryRun' in result ? 200 : 'request' in result && !('release' in result) ? 202 : 201).send(result);
    },
  );

  const requests = '/api/workspaces/:ws/promotion-requests';
  api.get(
    requests,
    {
      schema: {
        tags,
        operationId: 'listPromotionRequests',
        summary: 'List promotion requests, newest first',
        params: wsParams,
        querystring: promotionRequestQuery,
        response: { 200: page(promotionRequest), ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { limit, cursor, status, environment } = request.query;
      return listPromotionRequests(deps, await contextOf(deps, request), { ...(status ? { status } : {}), ...(environment ? { environment } : {}) }, cursor, limit);
    },
  );
  api.get(
    `${requests}/:id`,
    {
      schema: {
        tags,
        operationId: 'getPromotionRequest',
        summary: 'Read a promotion request with its plan, approvals, gates and status',
        params: promotionRequestParams,
        response: { 200: promotionRequest, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => getPromotionRequest(deps, await contextOf(deps, request), request.params.id),
  );
  api.post(
    `${requests}/:id/approve`,
    {
      schema: {
        tags,
        operationId: 'approvePromotionRequest',
        summary: 'Approve a pending promotion request; the approval that passes its last gate applies it',
        params: promotionRequestParams,
        body: promotionApproval,
        response: { 200: promotionRequestResult, ...failures },
      },
    },
    async (request) => approvePromotionRequest(deps, await contextOf(deps, request), request.params.id, request.body ?? {}),
  );
  api.post(
    `${requests}/:id/reject`,
    {
      schema: {
        tags,
        operationId: 'rejectPromotionRequest',
        summary: 'Reject a pending promotion request, with a reason',
        params: promotionRequestParams,
        body: promotionRejection,
        response: { 200: promotionRequest.describe('the rejected request'), ...failures },
      },
    },
    async (request) => rejectPromotionRequest(deps, await contextOf(deps, request), request.params.id, request.body),
  );

  api.post(
    `${base}/rollbacks`,
    {
      schema: {
        tags,
        operationId: 'rollback',
        summary: "Roll the environment back: a new release pointing at an earlier release's snapshot",
        description:
          'Answers 201 with the new release; 202 with a promotion request when the environment is protected with `approvalsForRollback`; 200 with the plan (the per-resource diff it would apply) and nothing written when `dryRun` is set.',
        params: envParams,
        body: rollbackCreate,
        response: {
          200: dryRunPlan.describe('dryRun: the plan, nothing written'),
          201: release.describe('the new release'),
          202: promotionRequestResult.describe('a rollback request waiting for approvals'),
          ...failures,
        },
      },
    },
    async (request, reply) => {
      const result = await rollback(deps, await contextOf(deps, request), request.params.env, request.body);
      // 200 the plan (dry run), 202 a promotion request (approvals for rollbacks), 201 a release.
      return reply.status('dryRun' in result ? 200 : 'request' in result ? 202 : 201).send(result);
    },
  );

  api.get(
    `${base}/releases`,
    {
      schema: {
        tags,
        operationId: 'listReleases',
        summary: "List the environment's releases, newest first",
        params: envParams,
        querystring: pageQuery,
        response: { 200: page(release), ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      return listReleases(deps, await contextOf(deps, request), request.params.env, cursor, limit);
    },
  );

  api.get(
    `${base}/releases/:number`,
    {
      schema: {
        tags,
        operationId: 'getRelease',
        summary: 'Read one release with its snapshot',
        params: releaseParams,
        response: { 200: releaseDetail, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => getRelease(deps, await contextOf(deps, request), request.params.env, request.params.number),
  );

  api.get(
    '/api/workspaces/:ws/diff',
    {
      schema: {
        tags,
        operationId: 'getDiff',
        summary: 'Diff two states per resource and per field: env (current release), env#N or env~draft',
        params: wsParams,
        querystring: diffQuery,
        response: { 200: diffView, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => diff(deps, await contextOf(deps, request), request.query.from, request.query.to),
  );
}
