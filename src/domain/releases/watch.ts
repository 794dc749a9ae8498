// The rules of a watch after a promotion: which thresholds apply, when the target's figures
// breach them (against absolute ceilings and the previous release's baseline), and when a watch ends.

/** Thresholds as a watch stores them; null where not set. */
export interface WatchThresholds {
  /** Absolute ceiling of the error rate (a fraction 0–1). */
  maxErrorRate: number | null;
  maxP95Ms: number | null;
  /** How many times the baseline's error rate (or p95) counts as a breach. */
  maxRegression: number | null;
}

/** The figures a watch compares: one window of the target (or of the baseline). */
export interface WatchFigures {
  requests: number;
  errorRate: number;
  p95Ms: number | null;
}

export type BreachRule = 'max_error_rate' | 'max_p95_ms' | 'error_rate_regression' | 'p95_regression';

export interface Breach {
  rule: BreachRule;
  value: number;
  limit: number;
  message: string;
}

/**
 * Fewer requests than this in a window say nothing: a quiet target never breaches, and a quiet
 * baseline is no baseline (only the absolute ceilings apply then).
 */
export const MIN_REQUESTS = 20;
/** A regression of the error rate counts only above this absolute rate (1 %). */
export const ERROR_RATE_FLOOR = 0.01;
/** A regression of p95 counts only above this latency. */
export const P95_FLOOR_MS = 100;
/** A watch that names no threshold breaches at twice the baseline. */
export const DEFAULT_REGRESSION = 2;
export const MAX_WATCH_MINUTES = 24 * 60;

export interface WatchRequest {
  minutes: number;
  maxErrorRate?: number | undefined;
  maxP95Ms?: number | undefined;
  maxRegression?: number | undefined;
}

type Issue = { field: string; message: string; in: 'body' };

/** What is wrong with a promotion's `watch` (fields under `field`, e.g. `watch`). */
export function watchIssues(watch: WatchRequest, field = 'watch'): Issue[] {
  const issues: Issue[] = [];
  const check = (name: keyof WatchRequest, ok: (v: number) => boolean, message: string) => {
    const value = watch[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || !ok(value))) issues.push({ field: `${field}.${name}`, message, in: 'body' });
  };
  if (typeof watch.minutes !== 'number') issues.push({ field: `${field}.minutes`, message: 'is required', in: 'body' });
  check('minutes', (v) => Number.isInteger(v) && v >= 1 && v <= MAX_WATCH_MINUTES, `must be a whole number of minutes from 1 to ${MAX_WATCH_MINUTES}`);
  check('maxErrorRate', (v) => v > 0 && v <= 1, 'must be a fraction above 0 and at most 1');
  check('maxP95Ms', (v) => v > 0, 'must be above 0');
  check('maxRegression', (v) => v >= 1, 'must be at least 1 (times the baseline)');
  return issues;
}

/** The thresholds a watch keeps: those it names, or twice the baseline when it names none. */
export function watchThresholds(watch: WatchRequest): WatchThresholds {
  const thresholds = { maxErrorRate: watch.maxErrorRate ?? null, maxP95Ms: watch.maxP95Ms ?? null, maxRegression: watch.maxRegression ?? null };
  if (thresholds.maxErrorRate === null && thresholds.maxP95Ms === null && thresholds.maxRegression === null) thresholds.maxRegression = DEFAULT_REGRESSION;
  return thresholds;
}

const percent = (rate: number) => `${(rate * 100).toFixed(2)} %`;

/**
 * The first threshold the target's figures breach, or null. Nothing breaches below
 * MIN_REQUESTS; the regression rules need a baseline of MIN_REQUESTS too, and an absolute floor.
 */
export function findBreach(thresholds: WatchThresholds, current: WatchFigures, baseline: WatchFigures | null): Breach | null {
  if (current.requests < MIN_REQUESTS) return null;
  if (thresholds.maxErrorRate !== null && current.errorRate > thresholds.maxErrorRate) {
    return { rule: 'max_error_rate', value: current.errorRate, limit: thresholds.maxErrorRate, message: `error rate ${percent(current.errorRate)} is above ${percent(thresholds.maxErrorRate)}` };
  }
  if (thresholds.maxP95Ms !== null && current.p95Ms !== null && current.p95Ms > thresholds.maxP95Ms) {
    return { rule: 'max_p95_ms', value: current.p95Ms, limit: thresholds.maxP95Ms, message: `p95 ${current.p95Ms} ms is above ${thresholds.maxP95Ms} ms` };
  }
  const factor = thresholds.maxRegression;
  if (factor === null || !baseline || baseline.requests < MIN_REQUESTS) return null;
  return (
    regression('error_rate_regression', factor, current.errorRate, baseline.errorRate, ERROR_RATE_FLOOR, percent, 'error rate') ??
    regression('p95_regression', factor, current.p95Ms, baseline.p95Ms, P95_FLOOR_MS, (ms) => `${ms} ms`, 'p95')
  );
}

/** `value` above `factor` × `base` and above the absolute `floor`. */
function regression(rule: BreachRule, factor: number, value: number | null, base: number | null, floor: number, show: (v: number) => string, name: string): Breach | null {
  if (value === null || base === null) return null;
  const limit = Math.max(factor * base, floor);
  if (value <= limit) return null;
  return { rule, value, limit, message: `${name} ${show(value)} is above ${factor}× the previous release's ${show(base)} (and above ${show(floor)})` };
}

/**
 * What a running watch does on a check: ends superseded once its release is no longer the
 * environment's head (a newer promotion, a rollback), else is evaluated; `due` once its time is up.
 */
export function watchStep(watch: { release: number; endsAt: string }, headRelease: number, now: Date): 'superseded' | 'evaluate' | 'evaluate_and_end' {
  if (headRelease !== watch.release) return 'superseded';
  return now.toISOString() >= watch.endsAt ? 'evaluate_and_end' : 'evaluate';
}

/** The baseline window: the previous release's last hour before the promotion (shorter if it ran less). */
export function baselineStart(previousSince: string, promotedAt: Date): Date {
  return new Date(Math.max(Date.parse(previousSince), promotedAt.getTime() - 60 * 60 * 1000));
}
