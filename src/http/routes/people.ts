// Sign-in, members and service tokens over HTTP.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import type { LoginThrottle } from '../../services/people.js';
import { addMember, createServiceToken, listMembers, listTokens, login, logout, removeMember, revokeServiceToken, updateMemberRole } from '../../services/people.js';
import { contextOf, principalOf } from '../auth.js';
import { errors, loginBody, memberCreate, memberParams, memberPatch, noContent, page, roleName, tokenCreate, tokenParams, wsParams } from '../schemas.js';

/** Roles are stored as text: the answer is checked against the role names all the same. */
const role = z.string().pipe(roleName);
const environmentRoles = z.record(z.string(), role).describe('role per environment slug, replacing `role` there');

const session = z.object({ token: z.string(), expiresAt: z.string() }).meta({ id: 'Session' });

const whoami = z
  .object({
    kind: z.enum(['user', 'service']),
    name: z.string().describe("a member's email, or a service token's name"),
    userId: z.string().nullable(),
    workspaceId: z.string().nullable().describe('service tokens: the one workspace they belong to'),
  })
  .meta({ id: 'Whoami' });

const member = z
  .object({
    id: z.string(),
    userId: z.string(),
    email: z.string(),
    name: z.string(),
    role,
    environmentRoles,
    createdAt: z.string(),
  })
  .meta({ id: 'Member' });

const serviceToken = z
  .object({
    id: z.string(),
    name: z.string(),
    role: role.nullable(),
    environmentRoles,
    prefix: z.string(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    status: z.enum(['active', 'expired', 'revoked']),
  })
  .meta({ id: 'ServiceToken' });

const createdServiceToken = serviceToken.extend({ token: z.string().describe('the token itself, shown only in this answer') }).meta({ id: 'CreatedServiceToken' });

export function peopleRoutes(app: FastifyInstance, deps: Deps, logins: LoginThrottle) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const failures = errors(400, 401, 403, 404);
  const conflicts = errors(400, 401, 403, 404, 409);

  api.post(
    '/api/auth/login',
    {
      schema: {
        tags: ['auth'],
        operationId: 'login',
        summary: 'Sign in with email and password: a session token and when it expires',
        security: [],
        body: loginBody,
        response: { 200: session, ...errors(400, 401, 429) },
      },
    },
    async (request) =>
      // request.ip believes x-forwarded-for only from STAGELINE_TRUSTED_PROXIES (the app's trustProxy).
      login(deps, request.body, { client: request.ip, throttle: logins }, request.id),
  );

  api.post(
    '/api/auth/logout',
    { schema: { tags: ['auth'], operationId: 'logout', summary: "End the caller's session", response: { 204: noContent, ...errors(401) } } },
    async (request, reply) => {
      await logout(deps, principalOf(request), request.id);
      return reply.status(204).send();
    },
  );

  api.get(
    '/api/auth/whoami',
    { schema: { tags: ['auth'], operationId: 'getWhoami', summary: 'Name the caller: a member or a service token', response: { 200: whoami, ...errors(401) } } },
    async (request) => {
      const principal = principalOf(request);
      return { kind: principal.kind, name: principal.name, userId: principal.userId, workspaceId: principal.workspaceId };
    },
  );

  const tags = ['members'];
  api.get(
    '/api/workspaces/:ws/members',
    { schema: { tags, operationId: 'listMembers', summary: "List the workspace's members and their roles", params: wsParams, response: { 200: page(member), ...failures } } },
    async (request) => listMembers(deps, await contextOf(deps, request)),
  );

  api.post(
    '/api/workspaces/:ws/members',
    {
      schema: {
        tags,
        operationId: 'addMember',
        summary: 'Add a member with a role (and roles per environment), creating the user if needed',
        params: wsParams,
        body: memberCreate,
        response: { 201: member, ...conflicts },
      },
    },
    async (request, reply) => {
      const created = await addMember(deps, await contextOf(deps, request), request.body);
      return reply.status(201).send(created);
    },
  );

  api.patch(
    '/api/workspaces/:ws/members/:id',
    {
      schema: {
        tags,
        operationId: 'updateMember',
        summary: "Change a member's role, roles per environment or password",
        params: memberParams,
        body: memberPatch,
        response: { 200: member, ...conflicts },
      },
    },
    async (request) => updateMemberRole(deps, await contextOf(deps, request), request.params.id, request.body),
  );

  api.delete(
    '/api/workspaces/:ws/members/:id',
    { schema: { tags, operationId: 'removeMember', summary: 'Remove a member from the workspace', params: memberParams, response: { 204: noContent, ...conflicts } } },
    async (request, reply) => {
      await removeMember(deps, await contextOf(deps, request), request.params.id);
      return reply.status(204).send();
    },
  );

  api.get(
    '/api/workspaces/:ws/tokens',
    { schema: { tags: ['tokens'], operationId: 'listServiceTokens', summary: "List the workspace's service tokens (never the tokens themselves)", params: wsParams, response: { 200: page(serviceToken), ...failures } } },
    async (request) => listTokens(deps, await contextOf(deps, request)),
  );

  api.post(
    '/api/workspaces/:ws/tokens',
    {
      schema: {
        tags: ['tokens'],
        operationId: 'createServiceToken',
        summary: 'Create a service token with a role; the answer shows it once',
        params: wsParams,
        body: tokenCreate,
        response: { 201: createdServiceToken, ...conflicts },
      },
    },
    async (request, reply) => {
      const created = await createServiceToken(deps, await contextOf(deps, request), request.body);
      return reply.status(201).send(created);
    },
  );

  api.delete(
    '/api/workspaces/:ws/tokens/:id',
    { schema: { tags: ['tokens'], operationId: 'revokeServiceToken', summary: 'Revoke a service token at once', params: tokenParams, response: { 200: serviceToken.describe('the revoked token'), ...conflicts } } },
    async (request) => revokeServiceToken(deps, await contextOf(deps, request), request.params.id),
  );
}
