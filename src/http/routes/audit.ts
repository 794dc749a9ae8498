import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../services/context.js';
import { listAuditLog, verifyAuditLog } from '../../services/audit.js';
import { contextOf } from '../auth.js';
import { auditQuery, wsParams } from '../schemas.js';
import { numericCursor } from '../pagination.js';

export function auditRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['audit'];

  api.get('/api/workspaces/:ws/audit-log', { schema: { tags, params: wsParams, querystring: auditQuery } }, async (request) => {
    const { limit, cursor, ...filter } = request.query;
    return listAuditLog(deps, await contextOf(deps, request), filter, numericCursor(cursor), limit);
  });

  api.get('/api/workspaces/:ws/audit-log/verify', { schema: { tags, params: wsParams } }, async (request) => {
    return verifyAuditLog(deps, await contextOf(deps, request));
  });
}
