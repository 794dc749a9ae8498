// Figures over a window, merged over every node's rollups and this node's counts not yet
// written; percentiles come from the merged histogram, never from averaged percentiles.
import type { Store } from '../store/database.js';
import { listRollups, type Resolution } from '../store/metrics.js';
import type { Figures, FiguresQuery, MetricFamily, MetricsReader } from './contract.js';
import { BUCKET_COUNT, mergeInto, mergeSparse, quantile } from './histogram.js';
import { COUNTER_COUNT, DURATION_COUNT, ERRORS, REQUESTS, S2XX, S3XX, S4XX, S5XX, UPSTREAM_ERRORS, type MinuteRow } from './recorder.js';
import type { RollupFlusher } from './rollups.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
/** Windows at least this long read hour rows for their whole hours. */
const HOUR_ROWS_FROM_MS = 3 * HOUR_MS;

/** Counts and a histogram being summed. */
export class Totals {
  readonly counters = new Float64Array(COUNTER_COUNT);
  readonly buckets = new Float64Array(BUCKET_COUNT);

  add(counters: ArrayLike<number>, buckets: Record<string, number> | Float64Array): void {
    for (let i = 0; i < COUNTER_COUNT; i++) this.counters[i]! += counters[i]!;
    if (buckets instanceof Float64Array) mergeInto(this.buckets, buckets);
    else mergeSparse(this.buckets, buckets);
  }

  figures(): Figures {
    const c = this.counters;
    const requests = c[REQUESTS]!;
    const rate = (n: number) => (requests > 0 ? n / requests : 0);
    const measured = c[DURATION_COUNT]! > 0;
    return {
      requests,
      status2xx: c[S2XX]!,
      status3xx: c[S3XX]!,
      status4xx: c[S4XX]!,
      status5xx: c[S5XX]!,
      errors: c[ERRORS]!,
      upstreamErrors: c[UPSTREAM_ERRORS]!,
      errorRate: rate(c[ERRORS]!),
      successRate: rate(c[S2XX]! + c[S3XX]!),
      upstreamErrorRate: rate(c[UPSTREAM_ERRORS]!),
      p50Ms: measured ? quantile(this.buckets, 0.5) : null,
      p95Ms: measured ? quantile(this.buckets, 0.95) : null,
      p99Ms: measured ? quantile(this.buckets, 0.99) : null,
    };
  }
}

export interface CollectQuery {
  workspaceId: string;
  environmentIds: string[];
  family: MetricFamily;
  /** '' the environments' totals. */
  subject: string;
  resolution: Resolution;
  from: Date;
  to: Date;
}

/** Called once per stored row or pending minute: `at` is the start of its minute or hour. */
export type Collector = (environmentId: string, at: number, counters: ArrayLike<number>, buckets: Record<string, number> | Float64Array) => void;

export class RollupReader implements MetricsReader {
  constructor(
    private readonly store: Store,
    /** This node's flusher; null when this node records nothing (STAGELINE_METRICS=off). */
    private readonly flusher: RollupFlusher | null,
  ) {}

  async figures(query: FiguresQuery): Promise<Figures> {
    const totals = new Totals();
    const base = { workspaceId: query.workspaceId, environmentIds: [query.environmentId], family: query.family, subject: query.subject ?? '' };
    const add: Collector = (_env, _at, counters, buckets) => totals.add(counters, buckets);
    // The minute a window starts in counts whole (rows are minutes): a watch or an alert that
    // starts mid-minute sees that minute's requests at once, not only from the next minute on.
    const from = Math.floor(query.from.getTime() / MINUTE_MS) * MINUTE_MS;
    const start = new Date(from);
    const to = query.to.getTime();
    const firstHour = Math.ceil(from / HOUR_MS) * HOUR_MS;
    const lastHour = Math.floor(to / HOUR_MS) * HOUR_MS;
    if (to - from >= HOUR_ROWS_FROM_MS && firstHour < lastHour) {
      // Whole hours from hour rows, the edges from minute rows: disjoint ranges, each pending minute counted once.
      await this.collect({ ...base, resolution: 'minute', from: start, to: new Date(firstHour) }, add);
      await this.collect({ ...base, resolution: 'hour', from: new Date(firstHour), to: new Date(lastHour) }, add);
      await this.collect({ ...base, resolution: 'minute', from: new Date(lastHour), to: query.to }, add);
    } else {
      await this.collect({ ...base, resolution: 'minute', from: start, to: query.to }, add);
    }
    return totals.figures();
  }

  async flush(): Promise<void> {
    await this.flusher?.flush();
  }

  /**
   * Every node's rows in [from, to), then this node's counts not yet written (read after the
   * rows, so a flush committing in between is not counted twice).
   */
  async collect(query: CollectQuery, into: Collector): Promise<void> {
    if (query.from.getTime() >= query.to.getTime()) return;
    const rows = await listRollups(this.store.db, { ...query, from: query.from.toISOString(), to: query.to.toISOString() });
    for (const row of rows) into(row.environmentId, Date.parse(row.bucketStart), row.counters, row.buckets);
    const from = query.from.getTime();
    const to = query.to.getTime();
    const environments = new Set(query.environmentIds);
    for (const row of this.pendingRows()) {
      if (row.minute < from || row.minute >= to || row.workspaceId !== query.workspaceId || row.family !== query.family || row.subject !== query.subject) continue;
      if (!environments.has(row.environmentId)) continue;
      into(row.environmentId, query.resolution === 'hour' ? Math.floor(row.minute / HOUR_MS) * HOUR_MS : row.minute, row.counters, row.buckets);
    }
  }

  private pendingRows(): MinuteRow[] {
    return this.flusher?.pending() ?? [];
  }
}
