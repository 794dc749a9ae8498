import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../services/context.js';
import { createWorkspace, listWorkspaces } from '../../services/workspaces.js';
import { principalActor } from '../../services/auth.js';
import { contextOf, principalOf } from '../auth.js';
import { errors, page, workspace, workspaceCreate, wsParams } from '../schemas.js';

export function workspaceRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['workspaces'];

  api.get(
    '/api/workspaces',
    { schema: { tags, operationId: 'listWorkspaces', summary: 'List the workspaces the caller is a member of, with its role', response: { 200: page(workspace), ...errors(401) } } },
    async (request) => {
      return { data: await listWorkspaces(deps, principalOf(request).userId), next: null };
    },
  );

  api.post(
    '/api/workspaces',
    {
      schema: {
        tags,
        operationId: 'createWorkspace',
        summary: 'Create a workspace with development and production; the caller becomes its owner',
        body: workspaceCreate,
        response: { 201: workspace, ...errors(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const created = await createWorkspace(deps, { userId: principal.userId, actor: principalActor(principal) }, request.body, request.id);
      return reply.status(201).send({ ...created, role: 'owner' });
    },
  );

  api.get(
    '/api/workspaces/:ws',
    { schema: { tags, operationId: 'getWorkspace', summary: "Read a workspace and the caller's role in it", params: wsParams, response: { 200: workspace, ...errors(400, 401, 403, 404) } } },
    async (request) => {
      const ctx = await contextOf(deps, request);
      return { ...ctx.workspace, role: ctx.actor.role };
    },
  );
}
