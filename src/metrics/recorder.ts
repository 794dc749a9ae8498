// The hot path of metrics: counts and latency histograms per series, kept in typed arrays found
// through nested Maps (environment → family → subject), so recording allocates nothing once a
// series exists. Counts accumulate per minute; drain() hands them to the flusher (rollups.ts).
import type { GatewayObserver } from '../gateway/contract.js';
import type { MetricFamily } from './contract.js';
import { BUCKET_COUNT, bucketOf } from './histogram.js';

/** Offsets of the counters in a series' arrays. */
export const REQUESTS = 0;
export const S2XX = 1;
export const S3XX = 2;
export const S4XX = 3;
export const S5XX = 4;
export const ERRORS = 5;
export const UPSTREAM_ERRORS = 6;
export const DURATION_COUNT = 7;
export const DURATION_SUM = 8;
export const COUNTER_COUNT = 9;

/** Subjects per family and environment beyond which only the environment's total counts (no unbounded label sets). */
export const MAX_SUBJECTS = 2000;

const MINUTE_MS = 60_000;

/** One series of one node: the current minute's counts and everything since the process started. */
export class Series {
  readonly minute = new Float64Array(COUNTER_COUNT);
  readonly minuteBuckets = new Float64Array(BUCKET_COUNT);
  /** Cumulative since this process started (Prometheus counters). */
  readonly total = new Float64Array(COUNTER_COUNT);
  readonly totalBuckets = new Float64Array(BUCKET_COUNT);
  dirty = false;
  /** An environment's total of a family: its subjects' series. */
  readonly subjects: Map<string, Series> | null;

  constructor(
    readonly workspaceId: string,
    readonly environmentId: string,
    readonly family: MetricFamily,
    readonly subject: string,
  ) {
    this.subjects = subject === '' ? new Map() : null;
  }
}

/**
 * A series' cumulative counts as plain data: what a gateway worker process sends the primary,
 * which serves /metrics for every process of the node.
 */
export interface SeriesTotals {
  workspaceId: string;
  environmentId: string;
  family: MetricFamily;
  subject: string;
  total: number[];
  totalBuckets: number[];
}

export function totalsOf(series: readonly Series[]): SeriesTotals[] {
  return series.map((s) => ({ workspaceId: s.workspaceId, environmentId: s.environmentId, family: s.family, subject: s.subject, total: Array.from(s.total), totalBuckets: Array.from(s.totalBuckets) }));
}

/** The totals of several processes summed per series (same workspace, environment, family and subject). */
export function mergeTotals(parts: readonly (readonly SeriesTotals[])[]): SeriesTotals[] {
  const merged = new Map<string, SeriesTotals>();
  for (const part of parts) {
    for (const series of part) {
      const key = `${series.workspaceId}\u0000${series.environmentId}\u0000${series.family}\u0000${series.subject}`;
      const into = merged.get(key);
      if (!into) {
        merged.set(key, { ...series, total: series.total.slice(), totalBuckets: series.totalBuckets.slice() });
        continue;
      }
      for (let i = 0; i < into.total.length; i++) into.total[i]! += series.total[i] ?? 0;
      for (let i = 0; i < into.totalBuckets.length; i++) into.totalBuckets[i]! += series.totalBuckets[i] ?? 0;
    }
  }
  return [...merged.values()];
}

/** A finished (or drained) minute of one series, as the flusher writes it. */
export interface MinuteRow {
  workspaceId: string;
  environmentId: string;
  family: MetricFamily;
  subject: string;
  /** Start of the minute, ms since the epoch. */
  minute: number;
  counters: Float64Array;
  buckets: Float64Array;
}

export class Recorder {
  /** Environment → family → the environment's total, which holds its subjects. */
  private readonly environments = new Map<string, Map<MetricFamily, Series>>();
  private readonly all: Series[] = [];
  private current: number;
  private finished: MinuteRow[] = [];

  constructor(private readonly clock: () => number = Date.now) {
    this.current = Math.floor(clock() / MINUTE_MS);
  }

  /** One event: counted in its series and in the environment's total of the family. */
  record(workspaceId: string, environmentId: string, family: MetricFamily, subject: string, status: number, failed: boolean, upstreamFailed: boolean, durationMs: number): void {
    this.tick();
    const total = this.totalOf(workspaceId, environmentId, family);
    count(total, true, status, failed, upstreamFailed, durationMs);
    if (subject === '') return;
    const series = this.seriesOf(total, subject);
    if (series !== null) count(series, true, status, failed, upstreamFailed, durationMs);
  }

  /**
   * The end of an event already counted when it started (a workflow run): its failure and
   * duration, without counting it again.
   */
  recordEnd(workspaceId: string, environmentId: string, family: MetricFamily, subject: string, failed: boolean, durationMs: number): void {
    this.tick();
    const total = this.totalOf(workspaceId, environmentId, family);
    count(total, false, 0, failed, false, durationMs);
    if (subject === '') return;
    const series = this.seriesOf(total, subject);
    if (series !== null) count(series, false, 0, failed, false, durationMs);
  }

  /** The gateway's per-request hook: 5xx answers are errors, 502/504 the gateway made itself upstream errors. */
  readonly gatewayObserver: GatewayObserver = (event) =>
    this.record(
      event.workspaceId,
      event.environmentId,
      'gateway',
      event.route ?? '',
      event.status,
      event.status >= 500,
      event.upstreamFailure !== null && event.upstreamFailure !== 'invalid_request',
      event.durationMs,
    );

  /** Every count not yet handed over: finished minutes and the current one (which goes on from zero). */
  drain(): MinuteRow[] {
    this.tick();
    const rows = this.finished;
    this.finished = [];
    this.close(rows, this.current);
    return rows;
  }

  /** Rows a failed flush could not write, counted again in the next one. */
  restore(rows: MinuteRow[]): void {
    this.finished = rows.concat(this.finished);
  }

  /** The counts not yet drained (for reads of this node's current minute). */
  pending(): MinuteRow[] {
    this.tick();
    const rows = this.finished.slice();
    for (const series of this.all) if (series.dirty) rows.push(rowOf(series, this.current, series.minute.slice(), series.minuteBuckets.slice()));
    return rows;
  }

  /** Every series of this process (Prometheus reads their cumulative counters). */
  series(): readonly Series[] {
    return this.all;
  }

  private tick(): void {
    const minute = Math.floor(this.clock() / MINUTE_MS);
    if (minute === this.current) return;
    this.close(this.finished, this.current);
    this.current = minute;
  }

  /** Moves the counts of every series into rows of `minute` and zeroes them. */
  private close(into: MinuteRow[], minute: number): void {
    for (const series of this.all) {
      if (!series.dirty) continue;
      into.push(rowOf(series, minute, series.minute.slice(), series.minuteBuckets.slice()));
      series.minute.fill(0);
      series.minuteBuckets.fill(0);
      series.dirty = false;
    }
  }

  private totalOf(workspaceId: string, environmentId: string, family: MetricFamily): Series {
    let env = this.environments.get(environmentId);
    if (env === undefined) {
      env = new Map();
      this.environments.set(environmentId, env);
    }
    let total = env.get(family);
    if (total === undefined) {
      total = new Series(workspaceId, environmentId, family, '');
      env.set(family, total);
      this.all.push(total);
    }
    return total;
  }

  private seriesOf(total: Series, subject: string): Series | null {
    const subjects = total.subjects!;
    let series = subjects.get(subject);
    if (series === undefined) {
      if (subjects.size >= MAX_SUBJECTS) return null;
      series = new Series(total.workspaceId, total.environmentId, total.family, subject);
      subjects.set(subject, series);
      this.all.push(series);
    }
    return series;
  }
}

function rowOf(series: Series, minute: number, counters: Float64Array, buckets: Float64Array): MinuteRow {
  return { workspaceId: series.workspaceId, environmentId: series.environmentId, family: series.family, subject: series.subject, minute: minute * MINUTE_MS, counters, buckets };
}

function count(series: Series, counted: boolean, status: number, failed: boolean, upstreamFailed: boolean, durationMs: number): void {
  series.dirty = true;
  add(series.minute, series.minuteBuckets, counted, status, failed, upstreamFailed, durationMs);
  add(series.total, series.totalBuckets, counted, status, failed, upstreamFailed, durationMs);
}

function add(counters: Float64Array, buckets: Float64Array, counted: boolean, status: number, failed: boolean, upstreamFailed: boolean, durationMs: number): void {
  if (counted) {
    counters[REQUESTS]! += 1;
    if (status >= 200 && status < 600) counters[S2XX + Math.floor(status / 100) - 2]! += 1;
  }
  if (failed) counters[ERRORS]! += 1;
  if (upstreamFailed) counters[UPSTREAM_ERRORS]! += 1;
  if (durationMs >= 0) {
    counters[DURATION_COUNT]! += 1;
    counters[DURATION_SUM]! += durationMs;
    buckets[bucketOf(durationMs)]! += 1;
  }
}
