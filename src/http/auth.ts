// Resolves the caller of every management route: the bearer token's principal, and for
// routes under a workspace, the Actor that principal is in that workspace.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CallContext, Deps } from '../services/context.js';
import { authenticate, enterWorkspace, type Principal } from '../services/auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function registerAuth(api: FastifyInstance, deps: Deps) {
  api.decorateRequest('principal', null);
  api.addHook('onRequest', async (request) => {
    const path = pathOf(request.url);
    if (!path.startsWith('/api/') || path.startsWith('/api/openapi.json') || path.startsWith('/api/auth/login')) return;
    request.principal = await authenticate(deps, request.headers.authorization);
  });
}

/**
 * The path of a request target: an absolute-form target (`GET http://host/api/… HTTP/1.1`, as
 * proxies may send) is routed like its path, so it must be authenticated like it too.
 */
function pathOf(url: string): string {
  return url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
}

export function principalOf(request: Pick<FastifyRequest, 'principal'>): Principal {
  if (!request.principal) throw new Error('route registered outside the authenticated scope');
  return request.principal;
}

/** The call context of a route under /api/workspaces/:ws. */
export function contextOf(deps: Deps, request: { params: { ws: string }; id: string; principal: Principal | null }): Promise<CallContext> {
  return enterWorkspace(deps, principalOf(request), request.params.ws, request.id);
}
