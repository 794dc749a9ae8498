import { describe, expect, it } from 'vitest';
import { Limits } from '../runtime/limits.js';
import type { LimitDecision } from './contract.js';
import { compileRouteLimiter, countedClients, type RateLimitSpec } from './limits.js';

const DAY = 86_400_000;
/** 2026-03-02T00:00:00Z: a UTC midnight. */
const MIDNIGHT = Date.UTC(2026, 2, 2);

function clock(start: number) {
  let now = start;
  return {
    now: () => now,
    set: (ms: number) => (now = ms),
    advance: (ms: number) => (now += ms),
  };
}

function logger() {
  const lines: { level: string; message: string }[] = [];
  return {
    lines,
    warn: (_object: object, message: string) => lines.push({ level: 'warn', message }),
    info: (_object: object, message: string) => lines.push({ level: 'info', message }),
  };
}

function limiter(spec: RateLimitSpec, at = MIDNIGHT + 3_600_000, extra: { maxClients?: number } = {}) {
  const time = clock(at);
  const log = logger();
  const route = compileRouteLimiter(spec, { limits: Limits.memory(), scopeKey: 'ws:env:payments', now: time.now, logger: log, ...extra });
  const take = (clientKey = 'key_1', address = '203.0.113.1'): LimitDecision => {
    const decision = route.take(clientKey, address);
    if (decision instanceof Promise) throw new Error('an in-memory limit answered a promise');
    return decision;
  };
  return { route, take, time, log };
}

function header(decision: LimitDecision, name: string): string | undefined {
  const at = decision.headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === name.toLowerCase());
  return at < 0 ? undefined : decision.headers[at + 1];
}

/** Takes until the first refusal; answers how many were admitted and the refusal. */
function drain(take: () => LimitDecision, max = 10_000): { admitted: number; refused: LimitDecision } {
  for (let admitted = 0; admitted < max; admitted++) {
    const decision = take();
    if (!decision.allowed) return { admitted, refused: decision };
  }
  throw new Error(`still admitting after ${max}`);
}

describe('the window tier', () => {
  it('admits exactly `requests` per window, then refuses with Retry-After until the window ends', () => {
    const { take, time } = limiter({ requests: 5, windowSec: 60 });
    const first = take();
    expect(first.headers).toEqual([
      'RateLimit-Policy', '"window";q=5;w=60',
      'RateLimit', '"window";r=4;t=60',
      'X-RateLimit-Limit', '5',
      'X-RateLimit-Remaining', '4',
      'X-RateLimit-Reset', '60',
    ]);
    time.advance(20_500);
    for (const left of [3, 2, 1, 0]) {
      const decision = take();
      expect(decision.allowed).toBe(true);
      expect(header(decision, 'RateLimit')).toBe(`"window";r=${left};t=40`);
    }
    const refused = take();
    expect(refused).toMatchObject({ allowed: false, tripped: 'window', retryAfterSeconds: 40 });
    expect(header(refused, 'Retry-After')).toBe('40');
    expect(header(refused, 'X-RateLimit-Remaining')).toBe('0');
    expect(header(refused, 'RateLimit')).toBe('"window";r=0;t=40');
  });

  it('a new window opens once the last one has ended', () => {
    const { take, time } = limiter({ requests: 3, windowSec: 10 });
    expect(drain(take).admitted).toBe(3);
    time.advance(9_999);
    expect(take().allowed).toBe(false);
    time.advance(1);
    expect(drain(take).admitted).toBe(3);
  });

  it('Retry-After is at least 1 second, even with a few ms left', () => {
    const { take, time } = limiter({ requests: 1, windowSec: 1 });
    take();
    time.advance(999);
    expect(take()).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
  });

  it('answers synchronously, never a promise', () => {
    const { route } = limiter({ requests: 1, windowSec: 1, burst: 2, dailyQuota: 5 });
    const decision = route.take('k', '203.0.113.1');
    expect(decision instanceof Promise || typeof (decision as { then?: unknown }).then === 'function').toBe(false);
  });
});

describe('the burst tier', () => {
  it('admits at most `burst` back to back across a window edge, where the window alone admits more', () => {
    const spec = { requests: 10, windowSec: 10 };
    const edge = (burst?: number) => {
      const { take, time } = limiter(burst === undefined ? spec : { ...spec, burst });
      const start = time.now();
      take();
      time.set(start + 9_999);
      const before = drain(take).admitted;
      time.set(start + 10_000);
      const after = drain(take);
      return { admitted: before + after.admitted, refused: after.refused };
    };
    // The window alone: 9 at the end of one window and 10 at the start of the next.
    expect(edge().admitted).toBe(19);
    const bounded = edge(15);
    expect(bounded.admitted).toBe(15);
    expect(bounded.refused).toMatchObject({ allowed: false, tripped: 'burst', retryAfterSeconds: 1 });
    expect(header(bounded.refused, 'RateLimit')).toMatch(/^"burst";r=0;t=\d+$/);
    expect(header(bounded.refused, 'X-RateLimit-Limit')).toBe('15');
    expect(header(bounded.refused, 'Retry-After')).toBe('1');
  });

  it('refills at requests per window: one token per second for 10 per 10 s', () => {
    const { take, time } = limiter({ requests: 10, windowSec: 10, burst: 10 });
    expect(drain(take).admitted).toBe(10);
    time.advance(10_000);
    // A new window, and a full bucket again.
    expect(drain(take).admitted).toBe(10);
    time.advance(10_000 + 3_000);
    expect(drain(take).admitted).toBe(10);
  });

  it('lists its policy with the time the bucket takes to fill', () => {
    const { take } = limiter({ requests: 100, windowSec: 60, burst: 120, dailyQuota: 10_000 });
    expect(header(take(), 'RateLimit-Policy')).toBe('"window";q=100;w=60, "burst";q=120;w=72, "daily";q=10000;w=86400');
  });
});

describe('the daily tier', () => {
  it('admits exactly dailyQuota per UTC day and names the wait until midnight', () => {
    const { take, time } = limiter({ requests: 100, windowSec: 60, dailyQuota: 5 }, MIDNIGHT + DAY - 3_600_000);
    for (let i = 0; i < 5; i++) {
      expect(take().allowed).toBe(true);
      time.advance(61_000);
    }
    const refused = take();
    const untilMidnight = Math.ceil((MIDNIGHT + DAY - time.now()) / 1000);
    expect(refused).toMatchObject({ allowed: false, tripped: 'daily', retryAfterSeconds: untilMidnight });
    expect(header(refused, 'RateLimit')).toBe(`"daily";r=0;t=${untilMidnight}`);
    expect(header(refused, 'X-RateLimit-Limit')).toBe('5');
    time.set(MIDNIGHT + DAY);
    expect(take().allowed).toBe(true);
  });

  it('the tier with fewest requests left is the one RateLimit describes', () => {
    const { take } = limiter({ requests: 100, windowSec: 60, dailyQuota: 3 });
    const decision = take();
    expect(header(decision, 'RateLimit')).toMatch(/^"daily";r=2;t=\d+$/);
    expect(header(decision, 'X-RateLimit-Remaining')).toBe('2');
  });
});

describe('a refused request counts in no tier', () => {
  it('a refusal by the window does not use the daily quota', () => {
    const { take, time } = limiter({ requests: 2, windowSec: 10, dailyQuota: 3 });
    expect(drain(take).admitted).toBe(2);
    for (let i = 0; i < 20; i++) expect(take().tripped).toBe('window');
    time.advance(10_000);
    expect(take().allowed).toBe(true);
    expect(take().tripped).toBe('daily');
  });

  it('a refusal by the daily quota does not use the window', () => {
    const { take, time } = limiter({ requests: 5, windowSec: 60, dailyQuota: 2 }, MIDNIGHT + DAY - 30_000);
    expect(drain(take).admitted).toBe(2);
    for (let i = 0; i < 3; i++) expect(take().tripped).toBe('daily');
    // Past midnight, the window that opened before it is still open: 2 of its 5 used.
    time.set(MIDNIGHT + DAY + 1_000);
    const decision = take();
    expect(decision.allowed).toBe(true);
    expect(header(decision, 'RateLimit')).toMatch(/^"daily";r=1;/);
    expect(drain(take).admitted).toBe(1);
  });

  it('several exhausted tiers: the one that lasts longest is named', () => {
    const { take } = limiter({ requests: 2, windowSec: 10, burst: 2, dailyQuota: 2 });
    expect(drain(take).refused).toMatchObject({ tripped: 'daily' });
  });
});

describe('per', () => {
  it('client (the default): each API key, and each address for requests without a key', () => {
    const { take } = limiter({ requests: 2, windowSec: 60 });
    expect(drain(() => take('key_a', '203.0.113.1')).admitted).toBe(2);
    expect(take('key_b', '203.0.113.1').allowed).toBe(true);
    expect(drain(() => take('', '203.0.113.1')).admitted).toBe(2);
    expect(take('', '203.0.113.2').allowed).toBe(true);
    // A key id that reads like an address is still a key.
    expect(take('203.0.113.1', '198.51.100.1').allowed).toBe(true);
  });

  it('key: the same as client', () => {
    const { take } = limiter({ requests: 1, windowSec: 60, per: 'key' });
    expect(take('key_a', '203.0.113.1').allowed).toBe(true);
    expect(take('key_a', '198.51.100.9').allowed).toBe(false);
    expect(take('key_b', '203.0.113.1').allowed).toBe(true);
    expect(take('', '203.0.113.1').allowed).toBe(true);
    expect(take('', '203.0.113.1').allowed).toBe(false);
  });

  it('ip: the address, whatever the key', () => {
    const { take } = limiter({ requests: 1, windowSec: 60, per: 'ip' });
    expect(take('key_a', '203.0.113.1').allowed).toBe(true);
    expect(take('key_b', '203.0.113.1').allowed).toBe(false);
    expect(take('key_a', '203.0.113.2').allowed).toBe(true);
  });

  it('route: one counter for every client', () => {
    const { take } = limiter({ requests: 2, windowSec: 60, per: 'route' });
    expect(take('key_a', '203.0.113.1').allowed).toBe(true);
    expect(take('', '198.51.100.7').allowed).toBe(true);
    expect(take('key_b', '192.0.2.1').allowed).toBe(false);
  });

  it('prototype names as key ids and addresses are clients like any other', () => {
    const { take } = limiter({ requests: 1, windowSec: 60 });
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(take(name, '203.0.113.1').allowed).toBe(true);
      expect(take(name, '203.0.113.1').allowed).toBe(false);
      expect(take('', name).allowed).toBe(true);
      expect(take('', name).allowed).toBe(false);
    }
    expect(take('other', '203.0.113.1').allowed).toBe(true);
    expect(Object.prototype).not.toHaveProperty('used');
    expect(({} as Record<string, unknown>).windowEnd).toBeUndefined();
  });
});

describe('memory', () => {
  it('expired counters are dropped', () => {
    const { route, take, time } = limiter({ requests: 5, windowSec: 10, burst: 5 });
    for (let i = 0; i < 1000; i++) take('', `10.0.${i >> 8}.${i & 255}`);
    expect(countedClients(route)).toBe(1000);
    time.advance(11_000);
    take('', '198.51.100.1');
    expect(countedClients(route)).toBe(1);
  });

  it('a daily counter is kept until its day ends', () => {
    const { route, take, time } = limiter({ requests: 5, windowSec: 10, dailyQuota: 5 }, MIDNIGHT + 3_600_000);
    take('', '203.0.113.1');
    time.advance(600_000);
    take('', '203.0.113.2');
    expect(countedClients(route)).toBe(2);
    time.set(MIDNIGHT + DAY + 1);
    take('', '203.0.113.2');
    expect(countedClients(route)).toBe(1);
  });

  it('past maxClients, new clients share one counter; known clients keep theirs; logged once each way', () => {
    const { route, take, time, log } = limiter({ requests: 3, windowSec: 10 }, MIDNIGHT, { maxClients: 100 });
    take('key_known');
    take('key_known');
    for (let i = 0; i < 99; i++) take('', `10.0.0.${i}`);
    expect(countedClients(route)).toBe(100);
    // New clients past the cap: three requests between all of them.
    const flood = Array.from({ length: 500 }, (_, i) => take('', `10.1.${i >> 8}.${i & 255}`));
    expect(flood.filter((d) => d.allowed)).toHaveLength(3);
    expect(countedClients(route)).toBe(100);
    // The known client was neither dropped nor reset.
    expect(take('key_known').allowed).toBe(true);
    expect(take('key_known').allowed).toBe(false);
    expect(log.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    time.advance(10_000);
    expect(take('', '10.2.0.1').allowed).toBe(true);
    expect(countedClients(route)).toBe(1);
    expect(log.lines.map((l) => l.level)).toEqual(['warn', 'info']);
  });
});

describe('a table rebuilt on the same node', () => {
  it('goes on counting on the counters of an unchanged limit; a changed limit or another route starts afresh', () => {
    const limits = Limits.memory();
    const time = clock(MIDNIGHT);
    const compile = (spec: RateLimitSpec, scopeKey = 'ws:env:payments') => compileRouteLimiter(spec, { limits, scopeKey, now: time.now });
    const take = (route: ReturnType<typeof compile>) => route.take('key_1', '203.0.113.1') as LimitDecision;
    const before = compile({ requests: 3, windowSec: 60 });
    take(before);
    take(before);
    const rebuilt = compile({ requests: 3, windowSec: 60 });
    expect(take(rebuilt).allowed).toBe(true);
    expect(take(rebuilt).allowed).toBe(false);
    expect(take(before).allowed).toBe(false);
    expect(take(compile({ requests: 3, windowSec: 60 }, 'ws:env:other')).allowed).toBe(true);
    expect(take(compile({ requests: 4, windowSec: 60 })).allowed).toBe(true);
    expect(take(compile({ requests: 3, windowSec: 60, per: 'ip' })).allowed).toBe(true);
    // Another node (another Limits) has counters of its own.
    expect(take(compileRouteLimiter({ requests: 3, windowSec: 60 }, { limits: Limits.memory(), scopeKey: 'ws:env:payments', now: time.now })).allowed).toBe(true);
  });
});
