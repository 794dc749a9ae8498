import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../services/context.js';
import { Readable } from 'node:stream';
import { exportAuditLog, listAuditLog, verifyAuditLog } from '../../services/audit.js';
import { contextOf } from '../auth.js';
import { auditQuery, wsParams } from '../schemas.js';

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

  api.get('/api/workspaces/:ws/audit-log/verify', { schema: { tags, params: wsParams } }, async (request) => {
    return verifyAuditLog(deps, await contextOf(deps, request));
  });
}
