import { describe, expect, it } from 'vitest';
import { baselineStart, findBreach, watchIssues, watchStep, watchThresholds, type WatchFigures, type WatchThresholds } from './watch.js';

const figures = (requests: number, errorRate: number, p95Ms: number | null = 50): WatchFigures => ({ requests, errorRate, p95Ms });
const none: WatchThresholds = { maxErrorRate: null, maxP95Ms: null, maxRegression: null };

describe('findBreach', () => {
  it.each([
    // [name, thresholds, current, baseline, rule or null]
    ['error rate above its ceiling', { ...none, maxErrorRate: 0.05 }, figures(100, 0.06), null, 'max_error_rate'],
    ['error rate at its ceiling', { ...none, maxErrorRate: 0.05 }, figures(100, 0.05), null, null],
    ['p95 above its ceiling', { ...none, maxP95Ms: 300 }, figures(100, 0, 301), null, 'max_p95_ms'],
    ['p95 not measured', { ...none, maxP95Ms: 300 }, figures(100, 0, null), null, null],
    ['a quiet target (19 requests) at 100 % errors', { ...none, maxErrorRate: 0.05 }, figures(19, 1), null, null],
    ['20 requests at 100 % errors', { ...none, maxErrorRate: 0.05 }, figures(20, 1), null, 'max_error_rate'],
    ['error rate above 2× the baseline and the floor', { ...none, maxRegression: 2 }, figures(100, 0.05), figures(100, 0.02), 'error_rate_regression'],
    ['error rate at 2× the baseline', { ...none, maxRegression: 2 }, figures(100, 0.04), figures(100, 0.02), null],
    ['error rate above 2× a clean baseline but under the 1 % floor', { ...none, maxRegression: 2 }, figures(100, 0.009), figures(100, 0), null],
    ['error rate above the floor over a clean baseline', { ...none, maxRegression: 2 }, figures(100, 0.011), figures(100, 0), 'error_rate_regression'],
    ['a quiet baseline (19 requests) is no baseline', { ...none, maxRegression: 2 }, figures(100, 0.5), figures(19, 0), null],
    ['no baseline at all', { ...none, maxRegression: 2 }, figures(100, 0.5), null, null],
    ['p95 above 2× the baseline and the 100 ms floor', { ...none, maxRegression: 2 }, figures(100, 0, 250), figures(100, 0, 120), 'p95_regression'],
    ['p95 above 2× the baseline but under the floor', { ...none, maxRegression: 2 }, figures(100, 0, 90), figures(100, 0, 40), null],
    ['the absolute ceiling comes first', { maxErrorRate: 0.1, maxP95Ms: null, maxRegression: 2 }, figures(100, 0.2), figures(100, 0.01), 'max_error_rate'],
  ] as const)('%s', (_name, thresholds, current, baseline, rule) => {
    expect(findBreach(thresholds, current, baseline)?.rule ?? null).toBe(rule);
  });

  it('names the figure, the limit and the rule in its message', () => {
    expect(findBreach({ ...none, maxRegression: 3 }, figures(50, 0.3), figures(50, 0.05))).toEqual({
      rule: 'error_rate_regression',
      value: 0.3,
      limit: 0.15000000000000002,
      message: "error rate 30.00 % is above 3× the previous release's 5.00 % (and above 1.00 %)",
    });
  });
});

describe('watchThresholds', () => {
  it('takes twice the baseline when the watch names no threshold', () => {
    expect(watchThresholds({ minutes: 10 })).toEqual({ maxErrorRate: null, maxP95Ms: null, maxRegression: 2 });
  });

  it('keeps only what the watch names otherwise', () => {
    expect(watchThresholds({ minutes: 10, maxErrorRate: 0.05 })).toEqual({ maxErrorRate: 0.05, maxP95Ms: null, maxRegression: null });
  });
});

describe('watchIssues', () => {
  it('accepts a full watch', () => {
    expect(watchIssues({ minutes: 30, maxErrorRate: 0.05, maxP95Ms: 400, maxRegression: 2 })).toEqual([]);
  });

  it.each([
    [{ minutes: 0 }, 'watch.minutes'],
    [{ minutes: 1.5 }, 'watch.minutes'],
    [{ minutes: 1441 }, 'watch.minutes'],
    [{ minutes: 5, maxErrorRate: 0 }, 'watch.maxErrorRate'],
    [{ minutes: 5, maxErrorRate: 1.5 }, 'watch.maxErrorRate'],
    [{ minutes: 5, maxP95Ms: -1 }, 'watch.maxP95Ms'],
    [{ minutes: 5, maxRegression: 0.5 }, 'watch.maxRegression'],
    [{ minutes: 5, maxRegression: Number.NaN }, 'watch.maxRegression'],
  ])('refuses %j naming %s', (watch, field) => {
    expect(watchIssues(watch).map((i) => i.field)).toEqual([field]);
  });
});

describe('watchStep', () => {
  const watch = { release: 7, endsAt: '2026-01-01T00:10:00.000Z' };
  it.each([
    [7, '2026-01-01T00:05:00.000Z', 'evaluate'],
    [7, '2026-01-01T00:10:00.000Z', 'evaluate_and_end'],
    [8, '2026-01-01T00:05:00.000Z', 'superseded'],
    [8, '2026-01-01T00:20:00.000Z', 'superseded'],
  ] as const)('head #%i at %s: %s', (head, now, step) => {
    expect(watchStep(watch, head, new Date(now))).toBe(step);
  });
});

describe('baselineStart', () => {
  it('is one hour before the promotion for a release that ran longer', () => {
    expect(baselineStart('2026-01-01T00:00:00.000Z', new Date('2026-01-01T05:00:00.000Z')).toISOString()).toBe('2026-01-01T04:00:00.000Z');
  });

  it('is the release itself for one that ran less', () => {
    expect(baselineStart('2026-01-01T04:30:00.000Z', new Date('2026-01-01T05:00:00.000Z')).toISOString()).toBe('2026-01-01T04:30:00.000Z');
  });
});
