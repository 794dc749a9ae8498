// Login throttling arithmetic: which counters a login attempt touches, and how long a counter
// blocks after its consecutive failures (free failures first, then Fibonacci-growing blocks).

export type ThrottleScope = 'account_client' | 'account' | 'client';

export interface ThrottleRule {
  scope: ThrottleScope;
  /** Failures allowed before the first block. */
  freeFailures: number;
  /** Whether a successful login clears the counter (a client's counter only ever forgets with time). */
  resetOnSuccess: boolean;
}

export const LOGIN_RULES: readonly ThrottleRule[] = [
  // One address guessing one account: the brute force the throttle exists for.
  { scope: 'account_client', freeFailures: 5, resetOnSuccess: true },
  // Many addresses guessing one account; higher, so a stranger cannot lock an owner out cheaply.
  { scope: 'account', freeFailures: 50, resetOnSuccess: true },
  // One address trying many accounts (credential stuffing).
  { scope: 'client', freeFailures: 100, resetOnSuccess: false },
];

/** Failures are remembered this long after the first of them. */
export const FAILURE_MEMORY_SECONDS = 24 * 3600;
export const MAX_BLOCK_SECONDS = 24 * 3600;

/**
 * Seconds a counter blocks after its `failures`-th consecutive failure: 0 while below
 * `freeFailures`, then 1, 1, 2, 3, 5, 8 … seconds, never more than `maxSeconds`.
 */
export function blockSeconds(failures: number, freeFailures: number, maxSeconds = MAX_BLOCK_SECONDS): number {
  if (failures < freeFailures) return 0;
  let [current, next] = [1, 1];
  for (let i = freeFailures; i < failures && current < maxSeconds; i++) [current, next] = [next, current + next];
  return Math.min(current, maxSeconds);
}

/** The account part of a counter key: emails compare without case or surrounding spaces. */
export function accountOf(email: string): string {
  return email.trim().toLowerCase();
}

/** The counter key of one rule for an attempt on `email` from `client`. */
export function throttleKey(scope: ThrottleScope, email: string, client: string): string {
  switch (scope) {
    case 'account_client':
      return `${accountOf(email)}|${client}`;
    case 'account':
      return accountOf(email);
    case 'client':
      return client;
  }
}
