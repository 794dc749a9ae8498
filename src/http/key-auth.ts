// The runtime API's credential: an environment API key sent as a bearer token, checked once for
// every /v1 route by one hook, before anything else of the request is looked at.
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { StaleKeyError } from '../domain/errors.js';
import { assertSecretKey } from '../domain/resources/visibility.js';
import type { KeyPrincipal } from '../services/api-keys.js';
import type { Runtime } from '../runtime/index.js';
import { applyCors } from './cors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key of a runtime call, set by the /v1 key hook before any handler runs. */
    apiKey: KeyPrincipal | null;
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function bearerToken(request: Pick<FastifyRequest, 'headers'>): string | undefined {
  return BEARER.exec(request.headers.authorization ?? '')?.[1];
}

/**
 * Every route registered in `app` (the /v1 scope) answers 401 `unauthenticated` for a missing,
 * malformed, unknown, revoked or expired key, or a key whose environment is gone — before
 * validation, so a caller without a key learns nothing about what a route accepts. A key whose
 * entry is in memory passes synchronously: no promise on the hot path of reads.
 */
export function requireApiKey(app: FastifyInstance, runtime: Runtime): void {
  app.decorateRequest('apiKey', null);
  app.addHook('onRequest', function apiKeyHook(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    reply.header('x-request-id', request.id);
    const cached = runtime.keys.cachedByHeader(request.headers.authorization);
    if (cached !== undefined && request.headers.origin === undefined) {
      request.apiKey = cached;
      done();
      return;
    }
    (cached ? Promise.resolve(cached) : runtime.keys.authenticate(bearerToken(request), request.headers.authorization))
      .then(async (principal) => {
        request.apiKey = principal;
        if (request.headers.origin !== undefined) await applyCors(runtime, principal, request, reply);
      })
      .then(() => done(), done);
  });
  // A route that found the key no longer valid (its environment deleted, the key revoked) before
  // this node's change feed said so: the cache forgets it now, for every route.
  app.addHook('onError', function staleKeyHook(request: FastifyRequest, _reply: FastifyReply, error: Error, done: HookHandlerDoneFunction) {
    if (error instanceof StaleKeyError && request.apiKey) runtime.keys.forget(request.apiKey, error.scope);
    done();
  });
}

/** The key of a request of the /v1 scope (the hook has refused every request without one). */
export function apiKeyOf(request: FastifyRequest): KeyPrincipal {
  return request.apiKey!;
}

/** A route hook refusing publishable keys, run after the key hook and before validation. */
export function secretKeyOnly(operation: string, why: string) {
  return (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    assertSecretKey(apiKeyOf(request).kind, operation, why);
    done();
  };
}
