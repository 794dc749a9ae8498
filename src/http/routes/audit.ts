// The audit log over HTTP: filtered pages, an NDJSON export, chain verification, and the signed
// checkpoints (with their public key) that let an outside copy prove nothing was rewritten.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../services/context.js';
import { Readable } from 'node:stream';
import { auditCheckpoint as checkpointOf, auditPublicKey as publicKeyOf, exportAuditLog, listAuditLog, verifyAuditLog } from '../../services/audit.js';
import { contextOf } from '../auth.js';
import { auditCheckpoint, auditEntry, auditPublicKey, auditQuery, auditVerifyQuery, auditVerifyResult, errors, mediaResponse, page, wsParams } from '../schemas.js';

export function auditRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['audit'];
  const failures = errors(400, 401, 403, 404);

  api.get(
    '/api/workspaces/:ws/audit-log',
    {
      schema: {
        tags,
        operationId: 'listAuditLog',
        summary: 'List audit entries, newest first, filtered by environment, actor, action and time',
        params: wsParams,
        querystring: auditQuery,
        response: { 200: page(auditEntry), ...failures },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return listAuditLog(deps, await contextOf(deps, request), filter, cursor, limit);
    },
  );

  api.get(
    '/api/workspaces/:ws/audit-log/export',
    {
      schema: {
        tags,
        operationId: 'exportAuditLog',
        summary: 'Export the filtered audit log as NDJSON, oldest first',
        params: wsParams,
        querystring: auditQuery.omit({ limit: true, cursor: true }),
        response: { 200: mediaResponse('application/x-ndjson', 'one AuditEntry JSON object per line, oldest first'), ...failures },
      },
    },
    async (request, reply) => {
      const ctx = await contextOf(deps, request);
      const lines = exportAuditLog(deps, ctx, request.query);
      // The first page is read before answering, so a refusal is still a proper error.
      const first = await lines.next();
      async function* rest() {
        if (!first.done) yield first.value;
        yield* lines;
      }
      return reply
        .type('application/x-ndjson; charset=utf-8')
        .header('content-disposition', `attachment; filename="${ctx.workspace.slug}-audit.ndjson"`)
        .send(Readable.from(rest()));
    },
  );

  api.get(
    '/api/workspaces/:ws/audit-log/verify',
    {
      schema: {
        tags,
        operationId: 'verifyAuditLog',
        summary: 'Verify the audit chain, and optionally that it still extends a signed checkpoint',
        params: wsParams,
        querystring: auditVerifyQuery,
        response: { 200: auditVerifyResult, ...failures },
      },
    },
    async (request) => verifyAuditLog(deps, await contextOf(deps, request), request.query.checkpoint),
  );

  api.get(
    '/api/workspaces/:ws/audit-log/checkpoint',
    {
      schema: {
        tags,
        operationId: 'getAuditCheckpoint',
        summary: "Sign the chain's head with the workspace's Ed25519 checkpoint key",
        params: wsParams,
        response: { 200: auditCheckpoint, ...failures },
      },
    },
    async (request) => checkpointOf(deps, await contextOf(deps, request)),
  );

  api.get(
    '/api/workspaces/:ws/audit-log/public-key',
    {
      schema: {
        tags,
        operationId: 'getAuditPublicKey',
        summary: 'Read the public key that checkpoints are signed with',
        params: wsParams,
        response: { 200: auditPublicKey, ...failures },
      },
    },
    async (request) => publicKeyOf(deps, await contextOf(deps, request)),
  );
}
