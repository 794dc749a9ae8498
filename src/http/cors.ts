// CORS for the runtime API. A preflight carries no credential, so it is answered for any origin
// (allowing the Authorization header); the environment's decision is made on the actual
// response, which names the origin only when the key's environment allows it. The management
// API sends no CORS headers unless STAGELINE_CORS_ORIGINS lists origins.
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { corsAllowOrigin } from '../domain/settings/runtime-policies.js';
import type { KeyPrincipal } from '../services/api-keys.js';
import type { Runtime } from '../runtime/index.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'];
const REQUEST_HEADERS = ['Authorization', 'Content-Type', 'If-None-Match', 'Idempotency-Key', 'Last-Event-ID', 'X-Request-Id', 'X-Stageline-Recipient-Token'];
const EXPOSED = 'ETag, X-Request-Id, Idempotent-Replayed, Retry-After';
const MAX_AGE_SECONDS = 600;

/**
 * Answers `OPTIONS /v1/*` preflights. Registered in a scope of its own (prefix /v1), so its
 * hook runs for preflights only and adds nothing to other requests.
 */
export async function runtimePreflight(app: FastifyInstance): Promise<void> {
  await app.register(cors, {
    origin: '*',
    methods: METHODS,
    allowedHeaders: REQUEST_HEADERS,
    maxAge: MAX_AGE_SECONDS,
    // A preflight without an Origin is still answered (204), never with a non-JSON 400.
    strictPreflight: false,
  });
}

/** The CORS headers of an actual runtime response to a request that carried an Origin. */
export async function applyCors(runtime: Runtime, key: KeyPrincipal, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const setting = await runtime.settings.get(key, 'cors');
  const allowed = corsAllowOrigin(setting, key.kind, origin);
  // The answer depends on the Origin whenever a setting lists origins.
  if (setting !== undefined) reply.header('vary', 'Origin');
  if (allowed === null) return;
  reply.header('access-control-allow-origin', allowed).header('access-control-expose-headers', EXPOSED);
}

/** CORS for the management API, only for origins the node is configured with. */
export async function managementCors(app: FastifyInstance, origins: string[]): Promise<void> {
  if (origins.length === 0) return;
  await app.register(cors, {
    origin: origins.includes('*') ? '*' : origins,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'If-None-Match', 'Idempotency-Key', 'X-Request-Id'],
    exposedHeaders: EXPOSED,
    maxAge: MAX_AGE_SECONDS,
    strictPreflight: false,
  });
}
