// The dashboard: the built single-page app (dist/web, `npm run build:web`) served from the
// API's own origin. Hashed assets are cached for a year; the page itself is never cached and
// carries a strict Content-Security-Policy (no inline script or style, no other origin).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import staticFiles from '@fastify/static';

/** dist/web from both src/http (tsx) and dist/http (built): two levels under the package root. */
export const WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-cache',
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  'cross-origin-opener-policy': 'same-origin',
};

/** Paths that belong to the APIs: an unknown one there stays a JSON 404, never the page. */
const API_PREFIXES = ['/api/', '/v1/', '/ofrep/', '/metrics', '/healthz', '/assets/'];

export interface Dashboard {
  /** Whether a request the router did not match should get the page (client-side routes). */
  wants(request: FastifyRequest): boolean;
  send(reply: FastifyReply): FastifyReply;
}

/** Registers the dashboard's files; null when the dashboard is not built (the API still runs). */
export async function registerDashboard(app: FastifyInstance, root = WEB_ROOT): Promise<Dashboard | null> {
  const indexFile = `${root}index.html`;
  if (!existsSync(indexFile)) return null;
  const page = readFileSync(indexFile);
  await app.register(staticFiles, {
    root,
    prefix: '/',
    // Routes for the files present at start only (no wildcard that would shadow the APIs).
    wildcard: false,
    index: false,
    preCompressed: true,
    serveDotFiles: false,
    cacheControl: false,
    setHeaders(response, path) {
      response.setHeader('x-content-type-options', 'nosniff');
      response.setHeader('vary', 'accept-encoding');
      response.setHeader('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
    allowedPath: (path) => !path.endsWith('.html'),
  });
  const send = (reply: FastifyReply) => reply.status(200).headers(PAGE_HEADERS).send(page);
  app.get('/', { schema: { hide: true } }, (_request, reply) => send(reply));
  return {
    wants(request) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return false;
      const path = request.url.split('?')[0] ?? '/';
      if (API_PREFIXES.some((prefix) => path.startsWith(prefix))) return false;
      return (request.headers.accept ?? '').includes('text/html');
    },
    send,
  };
}
