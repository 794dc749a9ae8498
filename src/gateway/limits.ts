// A route's rate limits: the window, burst and daily tiers counted per client, in this process
// (synchronous, bounded) or in Redis shared by every node (one atomic script), with its fallback.
import type { RouteContent } from '../domain/resources/kinds.js';
import type { Limits, SharedScript } from '../runtime/limits.js';
import type { LimitDecision, LimitTier, RouteLimiter } from './contract.js';

export type RateLimitSpec = NonNullable<RouteContent['rateLimit']>;

interface Logger {
  warn(object: object, message: string): void;
  info(object: object, message: string): void;
}

export interface RouteLimiterContext {
  /** The node's counters: in memory, or Redis when `limits.shared`. */
  limits: Limits;
  /** Names the route's counters, the same on every node: `${workspaceId}:${environmentId}:${routeKey}`. */
  scopeKey: string;
  logger?: Logger;
  /** Milliseconds since the epoch, for in-memory counters (tests move it); Date.now by default. */
  now?: () => number;
  /**
   * How many gateway nodes share the limit while Redis is unreachable (`onStoreDown: local`);
   * by default the node registry's last count (`limits.nodes('gateway')`), 1 if never known.
   */
  nodeShare?: () => number;
  /** Distinct clients counted in memory per route; past it new clients share one counter. 100,000 by default. */
  maxClients?: number;
}

const DAY_MS = 86_400_000;
export const DEFAULT_MAX_CLIENTS = 100_000;
/** The registry group of gateway nodes (the nodes that count route limits). */
export const GATEWAY_NODES = 'gateway';

// ---------------------------------------------------------------------------------------------
// Tiers and decision headers

/** A route's limits as numbers; burst and daily are 0 when not configured. */
interface Tiers {
  requests: number;
  windowMs: number;
  burst: number;
  /** Tokens of the burst bucket gained per ms: requests / window. */
  refillPerMs: number;
  daily: number;
}

function tiersOf(spec: RateLimitSpec, share = 1): Tiers {
  const part = (n: number) => Math.max(1, Math.floor(n / share));
  const requests = part(spec.requests);
  const windowMs = spec.windowSec * 1000;
  return {
    requests,
    windowMs,
    burst: spec.burst === undefined ? 0 : part(spec.burst),
    refillPerMs: requests / windowMs,
    daily: spec.dailyQuota === undefined ? 0 : part(spec.dailyQuota),
  };
}

/**
 * What counting one request found, in numbers (one scratch object: filled, then read into a
 * decision before anything else runs).
 */
interface Outcome {
  allowed: boolean;
  /** Window tier: requests left in the current window, and ms until it ends (a full window when none is open). */
  windowLeft: number;
  windowResetMs: number;
  /** Burst tier: tokens in the bucket now (fractional). */
  tokens: number;
  /** Daily tier: requests left today (UTC) and ms until UTC midnight. */
  dailyLeft: number;
  dailyResetMs: number;
}

const outcome: Outcome = { allowed: false, windowLeft: 0, windowResetMs: 0, tokens: 0, dailyLeft: 0, dailyResetMs: 0 };

const SMALL_NUMBERS = Array.from({ length: 1024 }, (_, i) => String(i));
function text(n: number): string {
  return n < 1024 ? SMALL_NUMBERS[n]! : String(n);
}

/** ms → whole seconds, rounded up (a client that waits this long finds the quota back). */
function seconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

const TIER_WINDOW = 0;
const TIER_BURST = 1;
const TIER_DAILY = 2;
const TIER_NAMES: readonly LimitTier[] = ['window', 'burst', 'daily'];

/**
 * The decision headers of one set of tiers: the constant parts built once. `RateLimit-Policy`
 * lists every configured tier; `RateLimit` and `X-RateLimit-*` describe one of them, the most
 * restrictive (the tripped one when refused, else the one with the fewest requests left).
 */
class Policy {
  readonly field: string;
  private readonly quota: string[];
  private readonly itemPrefix: string[];
  private readonly storeDownHeaders: string[];

  constructor(private readonly tiers: Tiers) {
    const items: string[] = [`"window";q=${tiers.requests};w=${tiers.windowMs / 1000}`];
    // The bucket's window: the time it takes to fill from empty.
    if (tiers.burst > 0) items.push(`"burst";q=${tiers.burst};w=${Math.ceil(tiers.burst / tiers.refillPerMs / 1000)}`);
    if (tiers.daily > 0) items.push(`"daily";q=${tiers.daily};w=86400`);
    this.field = items.join(', ');
    this.quota = [String(tiers.requests), String(tiers.burst), String(tiers.daily)];
    this.itemPrefix = TIER_NAMES.map((name) => `"${name}";r=`);
    this.storeDownHeaders = ['RateLimit-Policy', this.field, 'Retry-After', '1'];
  }

  /** Only the policy: what an `open` route sends while nothing is counted. */
  get uncounted(): LimitDecision {
    return { allowed: true, headers: ['RateLimit-Policy', this.field] };
  }

  /** Refused because Redis is unreachable and the route is `closed`: the caller answers 503 limit_store_unavailable. */
  get storeDown(): LimitDecision {
    return { allowed: false, headers: this.storeDownHeaders.slice(), storeUnavailable: true, retryAfterSeconds: 1 };
  }

  decide(o: Outcome): LimitDecision {
    const tiers = this.tiers;
    const burstLeft = tiers.burst > 0 ? Math.floor(o.tokens) : Infinity;
    const burstFullMs = tiers.burst > 0 ? (tiers.burst - o.tokens) / tiers.refillPerMs : 0;
    const dailyLeft = tiers.daily > 0 ? o.dailyLeft : Infinity;
    let chosen = TIER_WINDOW;
    let left = o.windowLeft;
    let resetMs = o.windowResetMs;
    let retryMs = 0;
    if (!o.allowed) {
      // Name the exhausted tier the client must wait longest for: waiting that long clears them all.
      chosen = -1;
      if (o.windowLeft <= 0) {
        chosen = TIER_WINDOW;
        retryMs = o.windowResetMs;
      }
      if (burstLeft <= 0) {
        const wait = (1 - o.tokens) / tiers.refillPerMs;
        if (wait > retryMs) {
          chosen = TIER_BURST;
          retryMs = wait;
        }
      }
      if (dailyLeft <= 0 && o.dailyResetMs > retryMs) {
        chosen = TIER_DAILY;
        retryMs = o.dailyResetMs;
      }
      if (chosen === TIER_BURST) {
        left = burstLeft;
        resetMs = burstFullMs;
      } else if (chosen === TIER_DAILY) {
        left = dailyLeft;
        resetMs = o.dailyResetMs;
      } else {
        chosen = TIER_WINDOW;
      }
    } else {
      if (burstLeft < left || (burstLeft === left && burstFullMs > resetMs)) {
        chosen = TIER_BURST;
        left = burstLeft;
        resetMs = burstFullMs;
      }
      if (dailyLeft < left || (dailyLeft === left && o.dailyResetMs > resetMs)) {
        chosen = TIER_DAILY;
        left = dailyLeft;
        resetMs = o.dailyResetMs;
      }
    }
    const r = text(Math.max(0, left));
    const t = text(seconds(resetMs));
    const headers = [
      'RateLimit-Policy',
      this.field,
      'RateLimit',
      `${this.itemPrefix[chosen]}${r};t=${t}`,
      'X-RateLimit-Limit',
      this.quota[chosen]!,
      'X-RateLimit-Remaining',
      r,
      'X-RateLimit-Reset',
      t,
    ];
    if (o.allowed) return { allowed: true, headers };
    const retryAfterSeconds = Math.max(1, seconds(retryMs));
    headers.push('Retry-After', text(retryAfterSeconds));
    return { allowed: false, headers, tripped: TIER_NAMES[chosen]!, retryAfterSeconds };
  }
}

// ---------------------------------------------------------------------------------------------
// In memory

/** One client's counters. The bucket starts full; a window opens with the first request admitted. */
class ClientCounts {
  windowEnd = 0;
  used = 0;
  tokens: number;
  tokensAt = 0;
  day = -1;
  dayUsed = 0;
  /** When every tier is back to full: past it, the counters are dropped. */
  expires = 0;

  constructor(burst: number) {
    this.tokens = burst;
  }
}

/**
 * Counts in this process, synchronously. Keyed by client in Maps (any string is a safe key);
 * expired counters are swept at most once per sweep interval, and past `maxClients` the new
 * clients share one overflow counter, so a flood of addresses neither grows memory without bound
 * nor resets the counters of clients already known.
 */
class MemoryCounters {
  private readonly byKey = new Map<string, ClientCounts>();
  private readonly byAddress = new Map<string, ClientCounts>();
  private readonly whole: ClientCounts;
  private readonly overflow: ClientCounts;
  private readonly sweepEveryMs: number;
  private nextSweep = 0;
  private full = false;
  readonly policy: Policy;

  constructor(
    private readonly tiers: Tiers,
    private readonly per: NonNullable<RateLimitSpec['per']>,
    private readonly maxClients: number,
    private readonly now: () => number,
    private readonly onFull: (full: boolean) => void,
  ) {
    this.policy = new Policy(tiers);
    this.whole = new ClientCounts(tiers.burst);
    this.overflow = new ClientCounts(tiers.burst);
    this.sweepEveryMs = Math.min(60_000, Math.max(10_000, tiers.windowMs));
  }

  take(clientKey: string, address: string): LimitDecision {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    let counts: ClientCounts;
    if (this.per === 'route') counts = this.whole;
    else if (this.per === 'ip' || clientKey === '') counts = this.counts(this.byAddress, address);
    else counts = this.counts(this.byKey, clientKey);
    count(this.tiers, counts, now);
    return this.policy.decide(outcome);
  }

  private counts(map: Map<string, ClientCounts>, id: string): ClientCounts {
    const known = map.get(id);
    if (known !== undefined) return known;
    if (this.byKey.size + this.byAddress.size >= this.maxClients) {
      if (!this.full) {
        this.full = true;
        this.onFull(true);
      }
      return this.overflow;
    }
    const counts = new ClientCounts(this.tiers.burst);
    map.set(id, counts);
    return counts;
  }

  private sweep(now: number): void {
    this.nextSweep = now + this.sweepEveryMs;
    for (const map of [this.byKey, this.byAddress]) {
      for (const [id, counts] of map) if (counts.expires <= now) map.delete(id);
    }
    if (this.full && this.byKey.size + this.byAddress.size < this.maxClients) {
      this.full = false;
      this.onFull(false);
    }
  }

  /** Counters held (tests). */
  get size(): number {
    return this.byKey.size + this.byAddress.size;
  }
}

/** Counts one request on `c` at `now` into `outcome`: every tier is checked before any is counted. */
function count(tiers: Tiers, c: ClientCounts, now: number): void {
  const open = now < c.windowEnd;
  const used = open ? c.used : 0;
  let allowed = used < tiers.requests;
  let tokens = 0;
  if (tiers.burst > 0) {
    tokens = Math.min(tiers.burst, c.tokens + (now - c.tokensAt) * tiers.refillPerMs);
    if (tokens < 1) allowed = false;
  }
  const day = Math.floor(now / DAY_MS);
  const dayUsed = c.day === day ? c.dayUsed : 0;
  if (tiers.daily > 0 && dayUsed >= tiers.daily) allowed = false;
  outcome.allowed = allowed;
  outcome.dailyResetMs = (day + 1) * DAY_MS - now;
  if (!allowed) {
    outcome.windowLeft = tiers.requests - used;
    outcome.windowResetMs = open ? c.windowEnd - now : tiers.windowMs;
    outcome.tokens = tokens;
    outcome.dailyLeft = tiers.daily - dayUsed;
    return;
  }
  if (!open) c.windowEnd = now + tiers.windowMs;
  c.used = used + 1;
  let expires = c.windowEnd;
  if (tiers.burst > 0) {
    c.tokens = tokens - 1;
    c.tokensAt = now;
    const full = now + (tiers.burst - c.tokens) / tiers.refillPerMs;
    if (full > expires) expires = full;
  }
  if (tiers.daily > 0) {
    c.day = day;
    c.dayUsed = dayUsed + 1;
    if (now + outcome.dailyResetMs > expires) expires = now + outcome.dailyResetMs;
  }
  c.expires = expires;
  outcome.windowLeft = tiers.requests - c.used;
  outcome.windowResetMs = c.windowEnd - now;
  outcome.tokens = c.tokens;
  outcome.dailyLeft = tiers.daily - c.dayUsed;
}

class MemoryLimiter implements RouteLimiter {
  constructor(readonly counters: MemoryCounters) {}

  take(clientKey: string, address: string): LimitDecision {
    return this.counters.take(clientKey, address);
  }
}

// ---------------------------------------------------------------------------------------------
// In Redis

// Every tier of one client in one atomic call, on the server's clock, so nodes whose clocks
// differ still share windows. Checks every tier before counting any: a refused request counts
// nowhere. KEYS: window counter, burst bucket, daily counter.
// ARGV: requests, window ms, burst (0: none), daily (0: none).
// Answers: allowed, window used, window ms left, bucket tokens × 1000, used today, ms to UTC midnight.
const TAKE_LUA = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local requests = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local daily = tonumber(ARGV[4])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local windowLeft = redis.call('PTTL', KEYS[1])
if windowLeft < 0 then
  used = 0
  windowLeft = windowMs
end
local allowed = used < requests
local tokens = burst
if burst > 0 then
  local bucket = redis.call('HMGET', KEYS[2], 'tokens', 'at')
  if bucket[1] then
    tokens = math.min(burst, tonumber(bucket[1]) + (now - tonumber(bucket[2])) * requests / windowMs)
  end
  allowed = allowed and tokens >= 1
end
local day = math.floor(now / 86400000)
local dayUsed = 0
if daily > 0 then
  local counted = redis.call('HMGET', KEYS[3], 'day', 'used')
  if counted[1] and tonumber(counted[1]) == day then dayUsed = tonumber(counted[2]) end
  allowed = allowed and dayUsed < daily
end
if allowed then
  if used == 0 then
    redis.call('SET', KEYS[1], 1, 'PX', windowMs)
    windowLeft = windowMs
  else
    redis.call('INCR', KEYS[1])
  end
  used = used + 1
  if burst > 0 then
    tokens = tokens - 1
    redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'at', now)
    redis.call('PEXPIRE', KEYS[2], math.ceil((burst - tokens) * windowMs / requests) + 1000)
  end
  if daily > 0 then
    dayUsed = dayUsed + 1
    redis.call('HSET', KEYS[3], 'day', day, 'used', dayUsed)
    redis.call('PEXPIREAT', KEYS[3], (day + 1) * 86400000 + 60000)
  end
end
return { allowed and 1 or 0, used, windowLeft, math.floor(tokens * 1000), dayUsed, (day + 1) * 86400000 - now }
`;

class SharedLimiter implements RouteLimiter {
  private readonly args: (string | number)[];
  private readonly prefix: string;
  private readonly policy: Policy;
  /** Counters of this node while Redis is unreachable (`local`), with its share of the limits. */
  private local: MemoryCounters | null = null;

  constructor(
    private readonly spec: RateLimitSpec,
    private readonly ctx: RouteLimiterContext,
    private readonly script: SharedScript,
    private readonly tiers: Tiers,
  ) {
    this.policy = new Policy(tiers);
    this.args = [tiers.requests, tiers.windowMs, tiers.burst, tiers.daily];
    // The hash tag keeps a client's three keys in one slot of a Redis cluster.
    this.prefix = ctx.limits.key(`route:{${ctx.scopeKey}`);
  }

  take(clientKey: string, address: string): LimitDecision | Promise<LimitDecision> {
    if (!this.ctx.limits.available) return this.storeDown(clientKey, address);
    const per = this.spec.per ?? 'client';
    const id = per === 'route' ? ':r' : per === 'ip' || clientKey === '' ? `:a:${address}` : `:k:${clientKey}`;
    const base = `${this.prefix}${id}}`;
    return this.script([`${base}:w`, `${base}:b`, `${base}:d`, ...this.args]).then(
      (reply) => this.fromReply(reply as number[]),
      () => this.storeDown(clientKey, address),
    );
  }

  private fromReply(reply: number[]): LimitDecision {
    // Redis answers again: counting is shared, and what this node counted alone is dropped.
    this.local = null;
    const tiers = this.tiers;
    outcome.allowed = reply[0] === 1;
    outcome.windowLeft = tiers.requests - reply[1]!;
    outcome.windowResetMs = reply[2]!;
    outcome.tokens = reply[3]! / 1000;
    outcome.dailyLeft = tiers.daily - reply[4]!;
    outcome.dailyResetMs = reply[5]!;
    return this.policy.decide(outcome);
  }

  private storeDown(clientKey: string, address: string): LimitDecision {
    const mode = this.spec.onStoreDown ?? 'local';
    if (mode === 'open') return this.policy.uncounted;
    if (mode === 'closed') return this.policy.storeDown;
    if (this.local === null) {
      const nodes = this.ctx.nodeShare?.() ?? this.ctx.limits.nodes(GATEWAY_NODES);
      const share = Number.isFinite(nodes) && nodes >= 1 ? Math.floor(nodes) : 1;
      this.local = memoryCounters(this.spec, this.ctx, share);
    }
    return this.local.take(clientKey, address);
  }
}

// ---------------------------------------------------------------------------------------------

function memoryCounters(spec: RateLimitSpec, ctx: RouteLimiterContext, share: number): MemoryCounters {
  const maxClients = ctx.maxClients ?? DEFAULT_MAX_CLIENTS;
  const onFull = (full: boolean) => {
    if (full) ctx.logger?.warn({ scope: ctx.scopeKey, maxClients }, 'route limit counts its most clients; new clients share one counter until old ones expire');
    else ctx.logger?.info({ scope: ctx.scopeKey }, 'route limit counts each client again');
  };
  return new MemoryCounters(tiersOf(spec, share), spec.per ?? 'client', maxClients, ctx.now ?? Date.now, onFull);
}

// Counters outlive the table that compiled them: a table rebuilt for an unrelated change finds the
// counters of a route whose limit is unchanged and keeps counting on them. Held weakly, so the
// counters of a route that no table uses any more go with it.
const kept = new WeakMap<Limits, Map<string, WeakRef<MemoryCounters>>>();
const forgotten = new FinalizationRegistry<{ byScope: Map<string, WeakRef<MemoryCounters>>; key: string }>(({ byScope, key }) => {
  if (byScope.get(key)?.deref() === undefined) byScope.delete(key);
});

function keptCounters(spec: RateLimitSpec, ctx: RouteLimiterContext): MemoryCounters {
  let byScope = kept.get(ctx.limits);
  if (!byScope) kept.set(ctx.limits, (byScope = new Map()));
  const key = JSON.stringify([ctx.scopeKey, spec.per ?? 'client', spec.requests, spec.windowSec, spec.burst ?? 0, spec.dailyQuota ?? 0, ctx.maxClients ?? 0]);
  const known = byScope.get(key)?.deref();
  if (known) return known;
  const counters = memoryCounters(spec, ctx, 1);
  byScope.set(key, new WeakRef(counters));
  forgotten.register(counters, { byScope, key });
  return counters;
}

/**
 * Compiles a route's `rateLimit` once per table build. Tiers, each counted only if configured:
 * - `window`: `requests` per `windowSec`, a fixed window that opens with the client's first
 *   admitted request;
 * - `burst`: a token bucket of `burst` tokens refilled at requests/windowSec: the most requests
 *   admitted back to back, whether inside one window or across the edge of two (where the window
 *   alone would admit 2 × requests);
 * - `daily`: `dailyQuota` per UTC day.
 * A request is refused when any tier is exhausted, and a refused request counts in none.
 * `per`: `route` counts the whole route; `ip` the client address; `key` and `client` the API key
 * id, or the address for requests without a key. In memory `take` answers synchronously; with
 * Redis (`limits.shared`) it answers a promise, and `onStoreDown` says what happens while Redis
 * is unreachable: `open` admits without counting, `closed` refuses (`storeUnavailable`), `local`
 * (default) counts on this node with its share of each limit, floor(limit / gateway nodes).
 * In memory, compiling the same limit for the same `scopeKey` again (a table rebuilt on the same
 * node) goes on counting where the last one was; a changed limit starts afresh.
 */
export function compileRouteLimiter(spec: RateLimitSpec, ctx: RouteLimiterContext): RouteLimiter {
  const script = ctx.limits.shared ? ctx.limits.script(TAKE_LUA, 3) : null;
  if (!script) return new MemoryLimiter(keptCounters(spec, ctx));
  // Join the node registry now, so the count is known before Redis is ever unreachable.
  if ((spec.onStoreDown ?? 'local') === 'local' && !ctx.nodeShare) ctx.limits.nodes(GATEWAY_NODES);
  return new SharedLimiter(spec, ctx, script, tiersOf(spec));
}

/** The in-memory counters behind a limiter, for tests: how many clients it holds. */
export function countedClients(limiter: RouteLimiter): number {
  return limiter instanceof MemoryLimiter ? limiter.counters.size : 0;
}
