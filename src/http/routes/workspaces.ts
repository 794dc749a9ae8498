import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { createWorkspace, listWorkspaces } from '../../services/workspaces.js';
import { principalActor } from '../../services/auth.js';
import { contextOf, principalOf } from '../auth.js';
import { errorResponse, workspace, workspaceCreate, wsParams } from '../schemas.js';

export function workspaceRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['workspaces'];

  api.get('/api/workspaces', { schema: { tags, response: { 200: z.object({ data: z.array(workspace), next: z.null() }) } } }, async (request) => {
    return { data: await listWorkspaces(deps, principalOf(request).userId), next: null };
  });

  api.post(
    '/api/workspaces',
    { schema: { tags, body: workspaceCreate, response: { 201: workspace, 400: errorResponse, 409: errorResponse } } },
    async (request, reply) => {
      const principal = principalOf(request);
      const created = await createWorkspace(deps, { userId: principal.userId, actor: principalActor(principal) }, request.body, request.id);
      return reply.status(201).send({ ...created, role: 'owner' });
    },
  );

  api.get('/api/workspaces/:ws', { schema: { tags, params: wsParams, response: { 200: workspace, 404: errorResponse } } }, async (request) => {
    const ctx = await contextOf(deps, request);
    return { ...ctx.workspace, role: ctx.actor.role };
  });
}
