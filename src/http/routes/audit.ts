import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../services/context.js';
import { Readable } from 'node:stream';
import { auditCheckpoint as checkpointOf, auditPublicKey as publicKeyOf, exportAuditLog, listAuditLog, verifyAuditLog } from '../../services/audit.js';
import { contextOf } from '../auth.js';
import { auditCheckpoint, auditPublicKey, auditQuery, auditVerifyQuery, auditVerifyResult, errorResponse, wsParams } from '../schemas.js';

export function auditRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['audit'];

  api.get('/api/workspaces/:ws/audit-log', { schema: { tags, params: wsParams, querystring: auditQuery } }, async (request) => {
    const { limit, cursor, ...filter } = request.query;
    return listAuditLog(deps, await contextOf(deps, request), filter, cursor, limit);
  });

  api.get('/api/workspaces/:ws/audit-log/export', { schema: { tags, params: wsParams, querystring: auditQuery.omit({ limit: true, cursor: true }) } }, async (request, reply) => {
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
  });

  const errors = { 400: errorResponse, 401: errorResponse, 403: errorResponse, 404: errorResponse, 409: errorResponse };
  api.get(
    '/api/workspaces/:ws/audit-log/verify',
    { schema: { tags, summary: 'Verify the audit chain, and optionally that it still extends a signed checkpoint', params: wsParams, querystring: auditVerifyQuery, response: { 200: auditVerifyResult, ...errors } } },
    async (request) => verifyAuditLog(deps, await contextOf(deps, request), request.query.checkpoint),
  );

  api.get(
    '/api/workspaces/:ws/audit-log/checkpoint',
    { schema: { tags, summary: "The chain's head, signed with the workspace's Ed25519 checkpoint key", params: wsParams, response: { 200: auditCheckpoint, ...errors } } },
    async (request) => checkpointOf(deps, await contextOf(deps, request)),
  );

  api.get(
    '/api/workspaces/:ws/audit-log/public-key',
    { schema: { tags, summary: 'The public key that checkpoints are signed with', params: wsParams, response: { 200: auditPublicKey, ...errors } } },
    async (request) => publicKeyOf(deps, await contextOf(deps, request)),
  );
}
