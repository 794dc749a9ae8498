// Resources of one environment over HTTP: the combined view, drafts, uncommitted changes, and
// the two immediate controls outside commits (kill switch, override).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import {
  deleteOverride,
  deleteResource,
  getResource,
  listChanges,
  listResources,
  putOverride,
  setActive,
  writeDraft,
} from '../../services/resources.js';
import { resourceRef } from '../../domain/resources/kinds.js';
import { contextOf } from '../auth.js';
import { activeWrite, anyJson, draftWrite, envParams, errors, noContent, storedJson, overrideWrite, page, resourceKind, resourceListQuery, resourceParams } from '../schemas.js';
import { changesView } from '../schemas/promotions.js';

const override = z.record(z.string(), z.unknown()).describe('partial document merged over the committed content; null fields inherit');

const resource = z
  .object({
    kind: resourceKind,
    key: z.string(),
    app: z.string().nullable(),
    committed: z
      .object({ content: anyJson('the committed document'), hash: z.string(), release: z.number() })
      .nullable()
      .describe("the content of the environment's current release; null while only drafted"),
    draft: z
      .object({
        content: anyJson('the drafted document; null for a drafted deletion'),
        deleted: z.boolean(),
        hash: z.string().nullable(),
        updatedAt: z.string(),
        updatedBy: z.string(),
      })
      .nullable(),
    override: storedJson(override.nullable()),
    active: z.boolean().describe('the kill switch: inactive resources are not served or run'),
  })
  .meta({ id: 'Resource' });

const resourceSummary = z
  .object({
    kind: resourceKind,
    key: z.string(),
    app: z.string().nullable(),
    committedHash: z.string().nullable(),
    draft: z.enum(['created', 'modified', 'deleted']).nullable(),
    active: z.boolean(),
  })
  .meta({ id: 'ResourceSummary' });

const draftDeletion = z
  .object({
    kind: resourceKind,
    key: z.string(),
    draft: z.object({ deleted: z.boolean().describe('true') }).nullable().describe('null: an uncommitted draft was discarded'),
  })
  .meta({ id: 'DraftDeletion' });

const activeState = z.object({ kind: resourceKind, key: z.string(), environment: z.string(), active: z.boolean() }).meta({ id: 'ResourceActive' });
const overrideState = z.object({ kind: resourceKind, key: z.string(), environment: z.string(), override: storedJson(override) }).meta({ id: 'ResourceOverride' });

export function resourceRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['resources'];
  const base = '/api/workspaces/:ws/environments/:env';
  const reads = errors(400, 401, 403, 404);
  const writes = errors(400, 401, 403, 404, 409);

  api.get(
    `${base}/resources`,
    {
      schema: {
        tags,
        operationId: 'listResources',
        summary: 'List resources with committed hash, draft state, active flag and app',
        params: envParams,
        querystring: resourceListQuery,
        response: { 200: page(resourceSummary), ...reads },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return listResources(deps, await contextOf(deps, request), request.params.env, filter, cursor ?? null, limit);
    },
  );

  api.get(
    `${base}/resources/:kind/:key`,
    {
      schema: { tags, operationId: 'getResource', summary: 'Read a resource: committed, draft, override and active', params: resourceParams, response: { 200: resource, ...reads } },
    },
    async (request) => {
      const { env, kind, key } = request.params;
      return getResource(deps, await contextOf(deps, request), env, resourceRef(kind, key));
    },
  );

  api.put(
    `${base}/resources/:kind/:key`,
    {
      schema: {
        tags,
        operationId: 'writeDraft',
        summary: 'Write a draft of a resource (editable environments only)',
        params: resourceParams,
        body: draftWrite,
        response: { 200: resource, ...writes },
      },
    },
    async (request) => {
      const { env, kind, key } = request.params;
      return writeDraft(deps, await contextOf(deps, request), env, resourceRef(kind, key), request.body);
    },
  );

  api.delete(
    `${base}/resources/:kind/:key`,
    {
      schema: {
        tags,
        operationId: 'deleteDraft',
        summary: 'Draft the deletion of a committed resource, or discard the draft of an uncommitted one',
        params: resourceParams,
        response: { 200: draftDeletion, ...writes },
      },
    },
    async (request) => {
      const { env, kind, key } = request.params;
      return deleteResource(deps, await contextOf(deps, request), env, resourceRef(kind, key));
    },
  );

  api.put(
    `${base}/resources/:kind/:key/active`,
    {
      schema: {
        tags,
        operationId: 'setResourceActive',
        summary: "Turn a resource's kill switch on or off in the environment, at once",
        params: resourceParams,
        body: activeWrite,
        response: { 200: activeState, ...writes },
      },
    },
    async (request) => {
      const { env, kind, key } = request.params;
      return setActive(deps, await contextOf(deps, request), env, resourceRef(kind, key), request.body.active);
    },
  );

  api.put(
    `${base}/resources/:kind/:key/override`,
    {
      schema: {
        tags,
        operationId: 'setOverride',
        summary: "Set the environment's override of a resource, at once",
        params: resourceParams,
        body: overrideWrite,
        response: { 200: overrideState, ...writes },
      },
    },
    async (request) => {
      const { env, kind, key } = request.params;
      return putOverride(deps, await contextOf(deps, request), env, resourceRef(kind, key), request.body.override);
    },
  );

  api.delete(
    `${base}/resources/:kind/:key/override`,
    {
      schema: {
        tags,
        operationId: 'deleteOverride',
        summary: "Remove the environment's override of a resource",
        params: resourceParams,
        response: { 204: noContent, ...writes },
      },
    },
    async (request, reply) => {
      const { env, kind, key } = request.params;
      await deleteOverride(deps, await contextOf(deps, request), env, resourceRef(kind, key));
      return reply.status(204).send();
    },
  );

  api.get(
    `${base}/changes`,
    {
      schema: { tags, operationId: 'listChanges', summary: 'List the uncommitted drafts with their per-field diff', params: envParams, response: { 200: changesView, ...reads } },
    },
    async (request) => listChanges(deps, await contextOf(deps, request), request.params.env),
  );
}
