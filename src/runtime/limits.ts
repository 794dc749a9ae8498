// Counters behind every limit of a node (login throttling, and the gateway's route limits):
// in process memory by default, in Redis when STAGELINE_REDIS_URL is set so nodes share them.
import { createHash, randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';

export interface LimitsOptions {
  /** `redis://…`; null or absent keeps counters in this process. */
  redisUrl?: string | null;
  /** Prefix of every Redis key (tests use a random one). */
  keyPrefix?: string;
  logger?: FastifyBaseLogger;
  /** A Redis command unanswered after this many ms fails, and its caller falls back (1000 by default). */
  commandTimeoutMs?: number;
  /** How often this node heartbeats the node registry (`nodes`); 5000 ms by default, tests shorten it. */
  heartbeatMs?: number;
}

/** A Lua script on the shared store: `keys` first, then `args`, as the script declares. */
export type SharedScript = (keysAndArgs: (string | number)[]) => Promise<unknown>;

/** After a failed command, callers fall back without asking Redis for this long. */
const SUSPEND_AFTER_FAILURE_MS = 1000;
/** Nodes heartbeat their group this often; one silent for three beats no longer counts. */
const NODE_HEARTBEAT_MS = 5000;

// The node registry: one sorted set per group, member = node id, score = last heartbeat (the
// server's clock). One call adds this node, drops the silent ones and answers the count.
const HEARTBEAT_LUA = `
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZCARD', KEYS[1])
`;

interface NodeGroup {
  key: string;
  /** Live nodes of the group as last seen; 1 until Redis has answered once. */
  count: number;
  timer: NodeJS.Timeout;
}

export interface CounterOptions {
  /** Names the counter family, unique per node (`login:account_client`). */
  name: string;
  points: number;
  durationSeconds: number;
  /**
   * On Redis, what a counter does while Redis is unreachable: `local` counts in this process
   * (default), `error` rejects with the store's error so the caller decides.
   */
  onStoreDown?: 'local' | 'error';
}

export class Limits {
  /** Whether Redis was reported unreachable (logged once per outage, and once when it answers again). */
  private down = false;
  private closing = false;
  private suspendedUntil = 0;
  private readonly scripts = new Map<string, SharedScript>();
  private readonly groups = new Map<string, NodeGroup>();
  private readonly nodeId = randomUUID();
  private readonly heartbeat: SharedScript | null;

  private constructor(
    private readonly redis: Redis | null,
    private readonly keyPrefix: string,
    private readonly logger?: FastifyBaseLogger,
    private readonly heartbeatMs = NODE_HEARTBEAT_MS,
  ) {
    this.heartbeat = this.script(HEARTBEAT_LUA, 1);
  }

  /** Counters in this process only. */
  static memory(): Limits {
    return new Limits(null, 'stageline');
  }

  static create(options: LimitsOptions = {}): Limits {
    if (!options.redisUrl) return Limits.memory();
    // No offline queue: while Redis is unreachable a call fails at once (and falls back), instead of waiting.
    const redis = new Redis(options.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: options.commandTimeoutMs ?? 1000,
    });
    const limits = new Limits(redis, options.keyPrefix ?? 'stageline', options.logger, options.heartbeatMs);
    redis.on('error', (error: Error) => limits.storeFailed(error));
    redis.on('close', () => limits.storeFailed(null));
    redis.on('ready', () => limits.storeAnswered());
    return limits;
  }

  private storeFailed(error: Error | null): void {
    if (this.closing) return;
    if (error) this.suspendedUntil = Date.now() + SUSPEND_AFTER_FAILURE_MS;
    if (this.down) return;
    this.down = true;
    this.logger?.warn(error ? { err: error } : {}, 'redis for limits is unreachable; limits fall back (counted on this node, or as each route says)');
  }

  private storeAnswered(): void {
    if (!this.down || this.closing) return;
    this.down = false;
    this.suspendedUntil = 0;
    this.logger?.info('redis for limits answers again; limits are shared');
  }

  /**
   * Whether the shared store answers now: connected, and no command failed in the last second
   * (so a hung Redis costs one timeout, not one per request). Always false in memory.
   */
  get available(): boolean {
    return this.redis !== null && this.redis.status === 'ready' && (this.suspendedUntil === 0 || Date.now() >= this.suspendedUntil);
  }

  /** A name under this node's key prefix (`stageline:name`), for keys of shared scripts. */
  key(name: string): string {
    return `${this.keyPrefix}:${name}`;
  }

  /**
   * A Lua script on the shared store, sent by EVALSHA (and loaded again after Redis restarts);
   * null when counters are in memory. A failure marks the store unreachable for a second and is
   * logged once per outage; the next answer ends the outage.
   */
  script(lua: string, numberOfKeys: number): SharedScript | null {
    const redis = this.redis;
    if (!redis) return null;
    const name = `stageline_${createHash('sha1').update(lua).digest('hex').slice(0, 16)}`;
    const known = this.scripts.get(name);
    if (known) return known;
    redis.defineCommand(name, { numberOfKeys, lua });
    const command = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[name]!.bind(redis);
    const answered = (reply: unknown) => {
      if (this.down) this.storeAnswered();
      return reply;
    };
    const failed = (error: Error) => {
      this.storeFailed(error);
      throw error;
    };
    const run: SharedScript = (keysAndArgs) => command(...keysAndArgs).then(answered, failed);
    this.scripts.set(name, run);
    return run;
  }

  /**
   * How many nodes share these counters in `group` (e.g. the gateway nodes). The first call
   * joins the group: this node heartbeats it every few seconds until `close`. Answers the count
   * last seen, which is what a node still knows while Redis is unreachable; 1 until Redis has
   * answered once, and always 1 in memory.
   */
  nodes(group: string): number {
    if (!this.heartbeat) return 1;
    let known = this.groups.get(group);
    if (!known) {
      const beat = () => {
        if (!this.available) return;
        this.heartbeat!([entry.key, this.nodeId, this.heartbeatMs * 3]).then(
          (count) => (entry.count = Math.max(1, Number(count))),
          () => undefined,
        );
      };
      const entry: NodeGroup = { key: this.key(`nodes:${group}`), count: 1, timer: setInterval(beat, this.heartbeatMs) };
      entry.timer.unref();
      this.groups.set(group, entry);
      known = entry;
      if (this.redis?.status === 'ready') beat();
      else this.redis?.once('ready', beat);
    }
    return known.count;
  }

  /** Whether counters are shared with other nodes. */
  get shared(): boolean {
    return this.redis !== null;
  }

  counter(options: CounterOptions): RateLimiterAbstract {
    const keyPrefix = `${this.keyPrefix}:${options.name}`;
    const shape = { keyPrefix, points: options.points, duration: options.durationSeconds };
    if (!this.redis) return new RateLimiterMemory(shape);
    return new RateLimiterRedis({
      ...shape,
      storeClient: this.redis,
      ...(options.onStoreDown === 'error' ? {} : { insuranceLimiter: new RateLimiterMemory(shape) }),
    });
  }

  async close(): Promise<void> {
    for (const group of this.groups.values()) clearInterval(group.timer);
    if (!this.redis) return;
    if (this.groups.size > 0 && this.available) {
      // Leave the groups at once, so the others count one node fewer before the TTL would tell them.
      await Promise.all([...this.groups.values()].map((group) => this.redis!.zrem(group.key, this.nodeId))).catch(() => undefined);
    }
    this.closing = true;
    this.redis.disconnect();
  }

  /** Waits until Redis answers (tests, and nodes that want shared counters from the first request). */
  async ready(timeoutMs = 5000): Promise<void> {
    if (!this.redis || this.redis.status === 'ready') return;
    const redis = this.redis;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis did not become ready in ${timeoutMs} ms`)), timeoutMs);
      redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

