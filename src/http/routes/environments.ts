import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { defaultEnvironment, isEditable, type Environment } from '../../domain/environments/chain.js';
import type { Deps } from '../../services/context.js';
import { createEnvironment, deleteEnvironment, getEnvironment, listEnvironments, updateEnvironment } from '../../services/environments.js';
import { contextOf } from '../auth.js';
import { envParams, environment, environmentCreate, environmentPatch, errors, noContent, page, wsParams } from '../schemas.js';

export function environmentView(env: Environment, all: Environment[]) {
  return {
    id: env.id,
    slug: env.slug,
    name: env.name,
    kind: env.kind,
    position: env.position,
    protected: env.protected,
    approvalsRequired: env.approvalsRequired,
    approvalsForRollback: env.approvalsForRollback,
    obfuscateData: env.obfuscateData,
    region: env.region,
    color: env.color,
    release: env.headRelease,
    parent: env.parentId ? (all.find((e) => e.id === env.parentId)?.slug ?? null) : null,
    forkRelease: env.forkRelease,
    expiresAt: env.expiresAt,
    editable: isEditable(env, all),
    default: defaultEnvironment(all)?.id === env.id,
    createdAt: env.createdAt,
    updatedAt: env.updatedAt,
  };
}

export function environmentRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['environments'];
  const base = '/api/workspaces/:ws/environments';

  api.get(
    base,
    {
      schema: {
        tags,
        operationId: 'listEnvironments',
        summary: 'List environments: the chain in promotion order, then branches',
        params: wsParams,
        response: { 200: page(environment), ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const all = await listEnvironments(deps, await contextOf(deps, request));
      return { data: all.map((e) => environmentView(e, all)), next: null };
    },
  );

  api.post(
    base,
    {
      schema: {
        tags,
        operationId: 'createEnvironment',
        summary: 'Create a chain environment (inserted before production) or a branch',
        params: wsParams,
        body: environmentCreate,
        response: { 201: environment, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const ctx = await contextOf(deps, request);
      const env = await createEnvironment(deps, ctx, request.body);
      return reply.status(201).send(environmentView(env, await listEnvironments(deps, ctx)));
    },
  );

  api.get(
    `${base}/:env`,
    { schema: { tags, operationId: 'getEnvironment', summary: 'Read an environment', params: envParams, response: { 200: environment, ...errors(400, 401, 403, 404) } } },
    async (request) => {
      const ctx = await contextOf(deps, request);
      const env = await getEnvironment(deps, ctx, request.params.env);
      return environmentView(env, await listEnvironments(deps, ctx));
    },
  );

  api.patch(
    `${base}/:env`,
    {
      schema: {
        tags,
        operationId: 'updateEnvironment',
        summary: "Change an environment's name or flags",
        params: envParams,
        body: environmentPatch,
        response: { 200: environment, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const ctx = await contextOf(deps, request);
      const env = await updateEnvironment(deps, ctx, request.params.env, request.body);
      return environmentView(env, await listEnvironments(deps, ctx));
    },
  );

  api.delete(
    `${base}/:env`,
    {
      schema: {
        tags,
        operationId: 'deleteEnvironment',
        summary: 'Delete a branch (with everything it holds) or an empty middle environment',
        params: envParams,
        response: { 204: noContent, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await deleteEnvironment(deps, await contextOf(deps, request), request.params.env);
      return reply.status(204).send();
    },
  );
}
