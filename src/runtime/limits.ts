// Counters behind every limit of a node (login throttling, and the gateway's route limits):
// in process memory by default, in Redis when STAGELINE_REDIS_URL is set so nodes share them.
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';

export interface LimitsOptions {
  /** `redis://…`; null or absent keeps counters in this process. */
  redisUrl?: string | null;
  /** Prefix of every Redis key (tests use a random one). */
  keyPrefix?: string;
  logger?: FastifyBaseLogger;
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
  private constructor(
    private readonly redis: Redis | null,
    private readonly keyPrefix: string,
  ) {}

  /** Counters in this process only. */
  static memory(): Limits {
    return new Limits(null, 'stageline');
  }

  static create(options: LimitsOptions = {}): Limits {
    if (!options.redisUrl) return Limits.memory();
    // No offline queue: while Redis is unreachable a call fails at once (and falls back), instead of waiting.
    const redis = new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 });
    let reported = false;
    redis.on('error', (error: Error) => {
      if (!reported) options.logger?.warn({ err: error }, 'redis for limits is unreachable; counting locally');
      reported = true;
    });
    redis.on('ready', () => (reported = false));
    return new Limits(redis, options.keyPrefix ?? 'stageline');
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
    if (this.redis) this.redis.disconnect();
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

