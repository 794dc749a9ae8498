// Login throttling on the node's limits: per account and address, per account, per address.
// An attempt is counted before the password is checked, so parallel guesses cannot slip past.
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { blockSeconds, FAILURE_MEMORY_SECONDS, LOGIN_RULES, throttleKey, type ThrottleRule } from '../domain/auth/throttle.js';
import { RateLimitedError } from '../domain/errors.js';
import type { LoginAttempt, LoginThrottle } from '../services/people.js';
import type { Limits } from './limits.js';

/** How long a blocked counter's one admitted attempt keeps the others out while it is checked. */
const ATTEMPT_HOLD_SECONDS = 30;

interface Counter {
  rule: ThrottleRule;
  /** Attempts since the last reset (a failure, or one being checked). */
  attempts: RateLimiterAbstract;
  /** Closed while blocked; past the free failures, admits one attempt at a time. */
  gate: RateLimiterAbstract;
}

export class LoginCounters implements LoginThrottle {
  private readonly counters: Counter[];

  constructor(limits: Limits, rules: readonly ThrottleRule[] = LOGIN_RULES) {
    this.counters = rules.map((rule) => ({
      rule,
      attempts: limits.counter({ name: `login:${rule.scope}:attempts`, points: Number.MAX_SAFE_INTEGER, durationSeconds: FAILURE_MEMORY_SECONDS }),
      gate: limits.counter({ name: `login:${rule.scope}:gate`, points: 1, durationSeconds: ATTEMPT_HOLD_SECONDS }),
    }));
  }

  async admit(email: string, client: string): Promise<LoginAttempt> {
    const entries = await Promise.all(
      this.counters.map(async (counter) => {
        const key = throttleKey(counter.rule.scope, email, client);
        return { ...counter, key, count: (await counter.attempts.consume(key)).consumedPoints };
      }),
    );
    const gated = entries.filter((e) => e.count > e.rule.freeFailures);
    const outcomes = await Promise.all(
      gated.map((e) =>
        e.gate.consume(e.key).then(
          () => 0,
          (rejection: unknown) => {
            if (rejection instanceof RateLimiterRes) return rejection.msBeforeNext;
            throw rejection;
          },
        ),
      ),
    );
    const waitMs = Math.max(0, ...outcomes);
    if (waitMs > 0) {
      // Whatever this attempt took hold of goes back: it is refused without being checked.
      await Promise.all(gated.filter((_, i) => outcomes[i] === 0).map((e) => e.gate.delete(e.key)));
      throw new RateLimitedError(Math.max(1, Math.ceil(waitMs / 1000)), 'too many failed logins; retry later');
    }
    return {
      failed: async () => {
        await Promise.all(
          entries.filter((e) => e.count >= e.rule.freeFailures).map((e) => e.gate.block(e.key, blockSeconds(e.count, e.rule.freeFailures))),
        );
      },
      succeeded: async () => {
        await Promise.all(
          entries.map(async (e) => {
            if (e.rule.resetOnSuccess) await e.attempts.delete(e.key);
            else await e.attempts.reward(e.key, 1);
            if (e.count > e.rule.freeFailures) await e.gate.delete(e.key);
          }),
        );
      },
    };
  }
}
