// The runtime API's credential: an environment API key sent as a bearer token.
import type { FastifyRequest } from 'fastify';
import type { KeyPrincipal } from '../services/api-keys.js';
import type { Runtime } from '../runtime/index.js';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function bearerToken(request: Pick<FastifyRequest, 'headers'>): string | undefined {
  return BEARER.exec(request.headers.authorization ?? '')?.[1];
}

/** The key's principal (its workspace, environment and kind); 401 for anything else. */
export function authenticateKey(runtime: Runtime, request: Pick<FastifyRequest, 'headers'>): Promise<KeyPrincipal> {
  return runtime.keys.authenticate(bearerToken(request));
}
