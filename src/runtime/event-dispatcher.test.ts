import { describe, expect, it } from 'vitest';
import { eventBody, retryDelayMs, standardSignature } from './event-dispatcher.js';

describe('standardSignature', () => {
  it('matches the Standard Webhooks test vector', () => {
    // The example of the Standard Webhooks specification (and Svix's documentation).
    expect(standardSignature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });
});

describe('retryDelayMs', () => {
  it('follows 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h with the default base', () => {
    const minutes = [1, 2, 3, 4, 5, 6, 7, 12].map((n) => retryDelayMs(n, 5000) / 60_000);
    expect(minutes).toEqual([5 / 60, 5, 30, 120, 300, 600, 600, 600]);
  });

  it('scales with the base and honours Retry-After up to an hour', () => {
    expect(retryDelayMs(2, 10)).toBe(600);
    expect(retryDelayMs(1, 5000, 120)).toBe(120_000);
    expect(retryDelayMs(1, 5000, 86_400)).toBe(3_600_000);
    expect(retryDelayMs(3, 5000, 1)).toBe(30 * 60_000);
  });
});

describe('eventBody', () => {
  it('is type, timestamp and the data with the environment', () => {
    expect(JSON.parse(eventBody({ type: 'release.promoted', at: '2026-01-01T00:00:00.000Z', environment: 'production', data: { release: 3 } }))).toEqual({
      type: 'release.promoted',
      timestamp: '2026-01-01T00:00:00.000Z',
      data: { release: 3, environment: 'production' },
    });
  });
});
