// PROVISIONAL: a fixed-window memory limiter standing in for h/gw-policy's limits.ts until it lands.
import type { FastifyBaseLogger } from 'fastify';
import type { RouteContent } from '../domain/resources/kinds.js';
import type { Limits } from '../runtime/limits.js';
import type { LimitDecision, RouteLimiter } from './contract.js';

export function compileRouteLimiter(spec: NonNullable<RouteContent['rateLimit']>, _ctx: { limits: Limits; name: string; logger?: FastifyBaseLogger }): RouteLimiter {
  const counts = new Map<string, { n: number; reset: number }>();
  return {
    take(clientKey: string, address: string): LimitDecision {
      const per = spec.per ?? 'client';
      const key = per === 'route' ? '' : per === 'ip' ? address : clientKey;
      const now = Date.now();
      let entry = counts.get(key);
      if (!entry || entry.reset <= now) counts.set(key, (entry = { n: 0, reset: now + spec.windowSec * 1000 }));
      entry.n += 1;
      const remaining = Math.max(0, spec.requests - entry.n);
      const reset = Math.ceil((entry.reset - now) / 1000);
      const headers = ['ratelimit-policy', `${spec.requests};w=${spec.windowSec}`, 'ratelimit', `limit=${spec.requests}, remaining=${remaining}, reset=${reset}`, 'x-ratelimit-limit', String(spec.requests), 'x-ratelimit-remaining', String(remaining), 'x-ratelimit-reset', String(reset)];
      if (entry.n > spec.requests) return { allowed: false, headers, tripped: 'window', retryAfterSeconds: reset };
      return { allowed: true, headers };
    },
  };
}
