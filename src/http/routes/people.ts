import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import type { LoginThrottle } from '../../services/people.js';
import { addMember, createServiceToken, listMembers, listTokens, login, logout, removeMember, revokeServiceToken, updateMemberRole } from '../../services/people.js';
import { contextOf, principalOf } from '../auth.js';
import { errorResponse, loginBody, memberCreate, memberParams, memberPatch, tokenCreate, tokenParams, wsParams } from '../schemas.js';

export function peopleRoutes(app: FastifyInstance, deps: Deps, logins: LoginThrottle) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const errors = { 400: errorResponse, 401: errorResponse, 403: errorResponse, 404: errorResponse, 409: errorResponse };

  api.post('/api/auth/login', { schema: { tags: ['auth'], security: [], body: loginBody, response: { 200: z.object({ token: z.string(), expiresAt: z.string() }), ...errors, 429: errorResponse } } }, async (request) =>
    // request.ip believes x-forwarded-for only from STAGELINE_TRUSTED_PROXIES (the app's trustProxy).
    login(deps, request.body, { client: request.ip, throttle: logins }, request.id),
  );

  api.post('/api/auth/logout', { schema: { tags: ['auth'], response: { 204: z.undefined(), ...errors } } }, async (request, reply) => {
    await logout(deps, principalOf(request), request.id);
    return reply.status(204).send();
  });

  api.get(
    '/api/auth/whoami',
    {
      schema: {
        tags: ['auth'],
        response: {
          200: z
            .object({
              kind: z.enum(['user', 'service']),
              name: z.string().describe("a member's email, or a service token's name"),
              userId: z.string().nullable(),
              workspaceId: z.string().nullable().describe('service tokens: the one workspace they belong to'),
            })
            .meta({ id: 'Whoami' }),
          ...errors,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return { kind: principal.kind, name: principal.name, userId: principal.userId, workspaceId: principal.workspaceId };
    },
  );

  const tags = ['members'];
  api.get('/api/workspaces/:ws/members', { schema: { tags, params: wsParams } }, async (request) => listMembers(deps, await contextOf(deps, request)));

  api.post('/api/workspaces/:ws/members', { schema: { tags, params: wsParams, body: memberCreate, response: { 201: z.unknown(), ...errors } } }, async (request, reply) => {
    const member = await addMember(deps, await contextOf(deps, request), request.body);
    return reply.status(201).send(member);
  });

  api.patch('/api/workspaces/:ws/members/:id', { schema: { tags, params: memberParams, body: memberPatch, response: { 200: z.unknown(), ...errors } } }, async (request) =>
    updateMemberRole(deps, await contextOf(deps, request), request.params.id, request.body),
  );

  api.delete('/api/workspaces/:ws/members/:id', { schema: { tags, params: memberParams, response: { 204: z.undefined(), ...errors } } }, async (request, reply) => {
    await removeMember(deps, await contextOf(deps, request), request.params.id);
    return reply.status(204).send();
  });

  api.get('/api/workspaces/:ws/tokens', { schema: { tags: ['tokens'], params: wsParams } }, async (request) => listTokens(deps, await contextOf(deps, request)));

  api.post('/api/workspaces/:ws/tokens', { schema: { tags: ['tokens'], params: wsParams, body: tokenCreate, response: { 201: z.unknown(), ...errors } } }, async (request, reply) => {
    const created = await createServiceToken(deps, await contextOf(deps, request), request.body);
    return reply.status(201).send(created);
  });

  api.delete('/api/workspaces/:ws/tokens/:id', { schema: { tags: ['tokens'], params: tokenParams, response: { 200: z.unknown(), ...errors } } }, async (request) =>
    revokeServiceToken(deps, await contextOf(deps, request), request.params.id),
  );
}
