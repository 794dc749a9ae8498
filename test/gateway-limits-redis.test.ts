// Route limits on Redis: shared by several nodes (each with its own connection), and what each
// `onStoreDown` does while a private Redis is killed, and after it comes back on the same port.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LimitDecision, RouteLimiter } from '../src/gateway/contract.js';
import { compileRouteLimiter, type RateLimitSpec } from '../src/gateway/limits.js';
import { Limits } from '../src/runtime/limits.js';

const SHARED_REDIS = 'redis://127.0.0.1:6379';

const prefix = () => `test-gw-${randomBytes(6).toString('hex')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

interface LogLine {
  level: 'warn' | 'info';
  message: string;
}

function captureLogger(lines: LogLine[]) {
  const logger = {
    warn: (_object: unknown, message?: string) => void lines.push({ level: 'warn', message: message ?? String(_object) }),
    info: (_object: unknown, message?: string) => void lines.push({ level: 'info', message: message ?? String(_object) }),
    error: () => undefined,
    debug: () => undefined,
    trace: () => undefined,
    fatal: () => undefined,
    child: () => logger,
    level: 'info',
    silent: () => undefined,
  };
  return logger as unknown as NonNullable<Parameters<typeof Limits.create>[0]>['logger'];
}

/** `nodes` nodes of one cluster: each its own Limits (its own Redis connection) and its own compiled limiter. */
async function cluster(count: number, url: string, keyPrefix: string, extra: { heartbeatMs?: number; commandTimeoutMs?: number; logs?: LogLine[][] } = {}) {
  const nodes = Array.from({ length: count }, (_, i) =>
    Limits.create({
      redisUrl: url,
      keyPrefix,
      ...(extra.heartbeatMs ? { heartbeatMs: extra.heartbeatMs } : {}),
      ...(extra.commandTimeoutMs ? { commandTimeoutMs: extra.commandTimeoutMs } : {}),
      ...(extra.logs ? { logger: captureLogger(extra.logs[i]!) } : {}),
    }),
  );
  await Promise.all(nodes.map((limits) => limits.ready()));
  return nodes;
}

async function takeAll(limiter: RouteLimiter, times: number, clientKey = 'key_1', address = '203.0.113.1'): Promise<LimitDecision[]> {
  return Promise.all(Array.from({ length: times }, () => limiter.take(clientKey, address)));
}

const admitted = (decisions: LimitDecision[]) => decisions.filter((d) => d.allowed).length;

function header(decision: LimitDecision, name: string): string | undefined {
  const at = decision.headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === name.toLowerCase());
  return at < 0 ? undefined : decision.headers[at + 1];
}

let cleanup: Redis;
const prefixes: string[] = [];
beforeAll(() => {
  cleanup = new Redis(SHARED_REDIS);
});
afterAll(async () => {
  for (const p of prefixes) {
    const keys = await cleanup.keys(`${p}:*`);
    if (keys.length > 0) await cleanup.del(...keys);
  }
  cleanup.disconnect();
});

describe('route limits shared through one Redis', () => {
  it.each([2, 3])('%i nodes hammering one route concurrently admit within [L, 1.05 L]', async (count) => {
    const keyPrefix = prefix();
    prefixes.push(keyPrefix);
    const nodes = await cluster(count, SHARED_REDIS, keyPrefix);
    const L = 300;
    const spec: RateLimitSpec = { requests: L, windowSec: 60 };
    const limiters = nodes.map((limits) => compileRouteLimiter(spec, { limits, scopeKey: 'ws:env:payments' }));
    // Every node sends twice the limit at once, for the same client and for a second one.
    const rounds = await Promise.all(limiters.flatMap((limiter) => [takeAll(limiter, 2 * L, 'key_a'), takeAll(limiter, 2 * L, 'key_b')]));
    const a = rounds.filter((_, i) => i % 2 === 0).flat();
    const b = rounds.filter((_, i) => i % 2 === 1).flat();
    for (const decisions of [a, b]) {
      expect(decisions).toHaveLength(2 * L * count);
      expect(admitted(decisions)).toBeGreaterThanOrEqual(L);
      expect(admitted(decisions)).toBeLessThanOrEqual(1.05 * L);
      expect(decisions.filter((d) => !d.allowed).every((d) => d.tripped === 'window' && d.retryAfterSeconds! >= 1)).toBe(true);
    }
    await Promise.all(nodes.map((limits) => limits.close()));
  });

  it('answers promises whose headers count across nodes', async () => {
    const keyPrefix = prefix();
    prefixes.push(keyPrefix);
    const [one, two] = await cluster(2, SHARED_REDIS, keyPrefix);
    const spec: RateLimitSpec = { requests: 4, windowSec: 60, dailyQuota: 100 };
    const a = compileRouteLimiter(spec, { limits: one!, scopeKey: 'ws:env:r' });
    const b = compileRouteLimiter(spec, { limits: two!, scopeKey: 'ws:env:r' });
    const pending = a.take('k', '203.0.113.1');
    expect(pending).toBeInstanceOf(Promise);
    const first = await pending;
    expect(header(first, 'RateLimit-Policy')).toBe('"window";q=4;w=60, "daily";q=100;w=86400');
    expect(header(first, 'RateLimit')).toBe('"window";r=3;t=60');
    expect(header((await b.take('k', '203.0.113.9'))!, 'X-RateLimit-Remaining')).toBe('2');
    await a.take('k', '203.0.113.1');
    expect(header(await b.take('k', '203.0.113.1'), 'X-RateLimit-Remaining')).toBe('0');
    const refused = await a.take('k', '203.0.113.1');
    expect(refused).toMatchObject({ allowed: false, tripped: 'window' });
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(59);
    expect(header(refused, 'Retry-After')).toBe(String(refused.retryAfterSeconds));
    await Promise.all([one!.close(), two!.close()]);
  });

  it('the daily tier counts across windows and a refused request counts in no tier', async () => {
    const keyPrefix = prefix();
    prefixes.push(keyPrefix);
    const [limits] = await cluster(1, SHARED_REDIS, keyPrefix);
    const limiter = compileRouteLimiter({ requests: 2, windowSec: 1, dailyQuota: 3 }, { limits: limits!, scopeKey: 'ws:env:d' });
    expect(admitted(await takeAll(limiter, 2))).toBe(2);
    const refused = await takeAll(limiter, 10);
    expect(refused.every((d) => d.tripped === 'window')).toBe(true);
    await sleep(1100);
    // The ten refusals used none of the daily quota: one request of it is left.
    expect((await limiter.take('key_1', '203.0.113.1')).allowed).toBe(true);
    const daily = await limiter.take('key_1', '203.0.113.1');
    expect(daily).toMatchObject({ allowed: false, tripped: 'daily' });
    const untilMidnight = (Math.floor(Date.now() / 86_400_000) + 1) * 86_400 - Date.now() / 1000;
    expect(Math.abs(daily.retryAfterSeconds! - untilMidnight)).toBeLessThan(5);
    await limits!.close();
  });

  it('the burst tier bounds requests back to back across a window edge', async () => {
    const keyPrefix = prefix();
    prefixes.push(keyPrefix);
    const [limits] = await cluster(1, SHARED_REDIS, keyPrefix);
    // 20 per 2 s: a token every 100 ms; the window alone would admit 19 + 20 around its edge.
    const limiter = compileRouteLimiter({ requests: 20, windowSec: 2, burst: 20 }, { limits: limits!, scopeKey: 'ws:env:b' });
    expect((await limiter.take('k', '203.0.113.1')).allowed).toBe(true);
    await sleep(1700);
    expect(admitted(await takeAll(limiter, 19, 'k'))).toBe(19);
    await sleep(500);
    const after: LimitDecision[] = [];
    for (;;) {
      const decision = await limiter.take('k', '203.0.113.1');
      after.push(decision);
      if (!decision.allowed) break;
    }
    expect(after.at(-1)).toMatchObject({ allowed: false, tripped: 'burst', retryAfterSeconds: 1 });
    expect(after.length - 1).toBeGreaterThan(0);
    expect(after.length - 1).toBeLessThan(19);
    await limits!.close();
  });
});

// ---------------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return child;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await sleep(50);
  }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('when Redis is unreachable, and when it is back', () => {
  let port: number;
  let redis: ChildProcess;
  const logs: LogLine[][] = [[], [], []];
  let nodes: Limits[];
  const L = 30;
  const specs = {
    open: { requests: L, windowSec: 60, onStoreDown: 'open' },
    closed: { requests: L, windowSec: 60, onStoreDown: 'closed' },
    local: { requests: L, windowSec: 60, burst: L, dailyQuota: 10 * L },
  } satisfies Record<string, RateLimitSpec>;
  let limiters: Record<keyof typeof specs, RouteLimiter>[];

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    nodes = await cluster(3, `redis://127.0.0.1:${port}`, prefix(), { heartbeatMs: 200, commandTimeoutMs: 500, logs });
    limiters = nodes.map((limits) => ({
      open: compileRouteLimiter(specs.open, { limits, scopeKey: 'ws:env:open' }),
      closed: compileRouteLimiter(specs.closed, { limits, scopeKey: 'ws:env:closed' }),
      local: compileRouteLimiter(specs.local, { limits, scopeKey: 'ws:env:local' }),
    }));
    // Every node has heard of the other two through the registry.
    await until('every node counts three gateway nodes', () => nodes.every((limits) => limits.nodes('gateway') === 3));
  });
  afterAll(async () => {
    await Promise.all((nodes ?? []).map((limits) => limits.close()));
    if (redis) await kill(redis);
  });

  it('before: counted in Redis', async () => {
    for (const name of ['open', 'closed', 'local'] as const) {
      const decisions = await Promise.all(limiters.flatMap((l) => Array.from({ length: L }, () => l[name].take('k', '203.0.113.1'))));
      expect(admitted(decisions), name).toBe(L);
    }
    expect(logs.flat()).toEqual([]);
  });

  it('killed: open admits everything uncounted, closed refuses, local admits its share; logged once per node', async () => {
    await kill(redis);
    await until('every node sees Redis gone', () => nodes.every((limits) => !limits.available));

    const open = limiters.flatMap((l) => Array.from({ length: 3 * L }, () => l.open.take('k', '203.0.113.1')));
    expect(open.every((d) => !(d instanceof Promise))).toBe(true);
    const openDecisions = open as LimitDecision[];
    expect(admitted(openDecisions)).toBe(9 * L);
    expect(openDecisions[0]!.headers).toEqual(['RateLimit-Policy', '"window";q=30;w=60']);

    const closed = (await Promise.all(limiters.map((l) => l.closed.take('k', '203.0.113.1')))) as LimitDecision[];
    for (const decision of closed) {
      expect(decision).toMatchObject({ allowed: false, storeUnavailable: true, retryAfterSeconds: 1 });
      expect(decision.tripped).toBeUndefined();
      expect(header(decision, 'Retry-After')).toBe('1');
    }

    // Each of the three nodes counts alone with a third of each limit: 10 of the window, burst and 30 a day.
    for (const l of limiters) {
      let count = 0;
      for (let i = 0; i < 2 * L; i++) {
        const decision = l.local.take('k', '203.0.113.1');
        expect(decision).not.toBeInstanceOf(Promise);
        if ((decision as LimitDecision).allowed) count++;
      }
      expect(count).toBe(L / 3);
      expect(header(l.local.take('k', '203.0.113.1') as LimitDecision, 'RateLimit-Policy')).toBe('"window";q=10;w=60, "burst";q=10;w=60, "daily";q=100;w=86400');
    }

    for (const lines of logs) {
      expect(lines.filter((l) => l.level === 'warn' && /unreachable/.test(l.message))).toHaveLength(1);
      expect(lines.filter((l) => l.level === 'info')).toHaveLength(0);
    }
  });

  it('restarted on the same port: counting returns to Redis without recreating anything; logged once per node', async () => {
    redis = await startRedis(port);
    await until('every node reconnects', () => nodes.every((limits) => limits.available), 15_000);
    // The restarted Redis is empty: the shared window starts again, for all three nodes together.
    const decisions = await Promise.all(limiters.flatMap((l) => Array.from({ length: L }, () => l.local.take('k', '203.0.113.1'))));
    expect(decisions.every((d) => !d.allowed || header(d, 'RateLimit-Policy')!.startsWith('"window";q=30;'))).toBe(true);
    expect(admitted(decisions)).toBe(L);
    const closed = await limiters[0]!.closed.take('k', '203.0.113.1');
    expect(closed.allowed).toBe(true);
    for (const lines of logs) {
      expect(lines.map((l) => l.level)).toEqual(['warn', 'info']);
    }
  });

  it('a Redis that stops answering costs one command timeout, then the fallback answers at once', async () => {
    redis.kill('SIGSTOP');
    try {
      const started = Date.now();
      const first = await limiters[0]!.local.take('k2', '203.0.113.2');
      expect(first.allowed).toBe(true);
      expect(Date.now() - started).toBeLessThan(2_000);
      const next = limiters[0]!.local.take('k2', '203.0.113.2');
      expect(next).not.toBeInstanceOf(Promise);
    } finally {
      redis.kill('SIGCONT');
    }
    await until('node 0 answers again', () => nodes[0]!.available, 15_000);
  });
});
