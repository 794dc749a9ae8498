// Canary and blue-green splits of a route: the upstream targets a route table builds pools for,
// in a fixed order, and the choice of one of them per request (sticky per client for a canary).
import type { RouteContent } from '../domain/resources/kinds.js';
import type { SplitChoice, Splitter } from './contract.js';

export interface CompiledSplit {
  /**
   * The route's upstream URLs, in a fixed order: `[upstream]` without a split,
   * `[upstream, canary]` for a canary, `[blue, green]` for blue-green (the route's own
   * `upstream.url` is then not a target).
   */
  targets: string[];
  choose: Splitter;
}

/** A canary's weight is resolved to 0.01 %: a client goes to the canary when its bucket is below weight × 100. */
export const BUCKETS = 10_000;

/**
 * The client's bucket in [0, 10000): FNV-1a over the UTF-16 code units, then murmur3's
 * finaliser so that ids that differ in their last characters (addresses, sequential ids)
 * spread over every bucket. No allocation.
 */
export function bucketOf(clientId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < clientId.length; i++) {
    h ^= clientId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % BUCKETS;
}

function choice(name: string, target: number): SplitChoice {
  return Object.freeze({ name, target });
}

/**
 * Compiles a route's split once per table build. Canary: a client goes to the canary when
 * `bucketOf(clientId) < round(weight × 100)`, so a client keeps its side while the weight
 * stays, and raising the weight only moves clients from the primary to the canary. A request
 * without a client id is split at random, each on its own (as Envoy's weighted clusters without
 * a hash policy). Blue-green: every request goes to `active`. The choices returned are shared,
 * frozen objects: choosing allocates nothing.
 */
export function compileSplit(split: RouteContent['split'] | undefined, upstreamUrl: string): CompiledSplit {
  if (split === undefined) {
    const primary = choice('primary', 0);
    return { targets: [upstreamUrl], choose: () => primary };
  }
  if ('blueGreen' in split) {
    const { blue, green, active } = split.blueGreen;
    const chosen = active === 'blue' ? choice('blue', 0) : choice('green', 1);
    return { targets: [blue, green], choose: () => chosen };
  }
  const { url, weight } = split.canary;
  const primary = choice('primary', 0);
  const canary = choice('canary', 1);
  const threshold = Math.round(weight * 100);
  const targets = [upstreamUrl, url];
  if (threshold <= 0) return { targets, choose: () => primary };
  if (threshold >= BUCKETS) return { targets, choose: () => canary };
  return {
    targets,
    choose: (clientId) => {
      const bucket = clientId === '' ? Math.floor(Math.random() * BUCKETS) : bucketOf(clientId);
      return bucket < threshold ? canary : primary;
    },
  };
}
