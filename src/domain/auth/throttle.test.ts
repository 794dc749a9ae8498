import { describe, expect, it } from 'vitest';
import { blockSeconds, LOGIN_RULES, throttleKey } from './throttle.js';

describe('login throttle arithmetic', () => {
  it.each([
    [0, 0],
    [4, 0],
    [5, 1],
    [6, 1],
    [7, 2],
    [8, 3],
    [9, 5],
    [10, 8],
    [15, 89],
  ])('%i consecutive failures with 5 free block for %i s', (failures, seconds) => {
    expect(blockSeconds(failures, 5)).toBe(seconds);
  });

  it('the block never exceeds its ceiling', () => {
    expect(blockSeconds(200, 5, 3600)).toBe(3600);
    expect(blockSeconds(10_000, 5)).toBe(24 * 3600);
  });

  it('the block grows with every failure until the ceiling', () => {
    const blocks = Array.from({ length: 40 }, (_, i) => blockSeconds(i + 5, 5, 10_000));
    for (let i = 1; i < blocks.length; i++) expect(blocks[i]).toBeGreaterThanOrEqual(blocks[i - 1]!);
    expect(blocks.at(-1)).toBe(10_000);
  });

  it('accounts compare without case; each scope keys by its own parts', () => {
    expect(throttleKey('account_client', ' Dev@Example.com ', '203.0.113.9')).toBe('dev@example.com|203.0.113.9');
    expect(throttleKey('account', 'DEV@example.com', '203.0.113.9')).toBe('dev@example.com');
    expect(throttleKey('client', 'dev@example.com', '203.0.113.9')).toBe('203.0.113.9');
  });

  it('an account on one address is blocked first, after 5 failures', () => {
    const first = [...LOGIN_RULES].sort((a, b) => a.freeFailures - b.freeFailures)[0]!;
    expect(first).toMatchObject({ scope: 'account_client', freeFailures: 5 });
  });
});
