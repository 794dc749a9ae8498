// Writes the recorder's counts to the database: every flush adds this node's minute rows and
// the hour rows they fall in (both at once, so a node that stops never leaves an hour unfolded),
// and a sweep deletes rows past each resolution's retention.
import type { FastifyBaseLogger } from 'fastify';
import { randomBytes } from 'node:crypto';
import { Sweeper } from '../runtime/sweeper.js';
import type { Store } from '../store/database.js';
import { addRollups, pruneRollups, type RollupWrite } from '../store/metrics.js';
import { COUNTER_COUNT, type MinuteRow, type Recorder } from './recorder.js';
import { BUCKET_COUNT, toSparse } from './histogram.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** A node's id in rollup rows: new at every process start, so a restarted node never adds to rows it wrote before. */
export function newNodeId(): string {
  return `node_${randomBytes(8).toString('hex')}`;
}

/** Minute rows as written, and the same counts folded per hour and series. */
export function rollupWrites(rows: MinuteRow[]): { minute: RollupWrite[]; hour: RollupWrite[] } {
  const minute = rows.map((r) => ({ ...seriesOf(r), bucketStart: new Date(r.minute).toISOString(), counters: r.counters, buckets: toSparse(r.buckets) }));
  const hours = new Map<string, { row: MinuteRow; counters: Float64Array; buckets: Float64Array; start: number }>();
  for (const r of rows) {
    const start = Math.floor(r.minute / HOUR_MS) * HOUR_MS;
    const id = `${start}\n${r.workspaceId}\n${r.environmentId}\n${r.family}\n${r.subject}`;
    let hour = hours.get(id);
    if (!hour) {
      hour = { row: r, counters: new Float64Array(COUNTER_COUNT), buckets: new Float64Array(BUCKET_COUNT), start };
      hours.set(id, hour);
    }
    for (let i = 0; i < COUNTER_COUNT; i++) hour.counters[i]! += r.counters[i]!;
    for (let i = 0; i < BUCKET_COUNT; i++) hour.buckets[i]! += r.buckets[i]!;
  }
  const hour = [...hours.values()].map((h) => ({ ...seriesOf(h.row), bucketStart: new Date(h.start).toISOString(), counters: h.counters, buckets: toSparse(h.buckets) }));
  return { minute, hour };
}

function seriesOf(r: MinuteRow) {
  return { workspaceId: r.workspaceId, environmentId: r.environmentId, family: r.family, subject: r.subject };
}

export interface FlusherOptions {
  /** STAGELINE_METRICS_FLUSH_MS (60000). */
  flushMs: number;
  logger?: FastifyBaseLogger | undefined;
}

/** Flushes one recorder every `flushMs`; flushes never overlap, and a failed one is counted again in the next. */
export class RollupFlusher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  /** Drained rows being written: still counted by reads of this node until they are committed. */
  private writing: MinuteRow[] = [];

  constructor(
    private readonly store: Store,
    private readonly recorder: Recorder,
    readonly nodeId: string,
    private readonly options: FlusherOptions,
  ) {}

  start(): void {
    if (this.timer || this.options.flushMs <= 0) return;
    this.timer = setInterval(() => void this.flush().catch(() => {}), this.options.flushMs);
    this.timer.unref();
  }

  /** This node's counts not yet in the database: the recorder's and those being written. */
  pending(): MinuteRow[] {
    return this.writing.length === 0 ? this.recorder.pending() : this.writing.concat(this.recorder.pending());
  }

  /** Writes everything counted so far; joins a flush already running, then runs its own. */
  flush(): Promise<void> {
    const next = this.running.then(() => this.write());
    this.running = next.catch(() => {});
    return next;
  }

  private async write(): Promise<void> {
    const rows = this.recorder.drain();
    if (rows.length === 0) return;
    this.writing = rows;
    try {
      const { minute, hour } = rollupWrites(rows);
      await this.store.transaction(async (tx) => {
        await addRollups(this.store, tx, this.nodeId, 'minute', minute);
        await addRollups(this.store, tx, this.nodeId, 'hour', hour);
      });
    } catch (error) {
      this.recorder.restore(rows);
      this.options.logger?.error({ err: error, rows: rows.length }, 'metrics flush failed; the counts are kept for the next one');
      throw error;
    } finally {
      this.writing = [];
    }
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush().catch(() => {});
  }
}

export interface RetentionDays {
  /** STAGELINE_METRICS_MINUTE_RETENTION_DAYS (7). */
  minuteDays: number;
  /** STAGELINE_METRICS_HOUR_RETENTION_DAYS (90). */
  hourDays: number;
}

/** Deletes rollups past retention on every node that runs it (deleting rows already gone is harmless). */
export async function pruneMetrics(store: Store, now: Date, days: RetentionDays): Promise<{ minute: number; hour: number }> {
  const minute = await pruneRollups(store.db, 'minute', new Date(now.getTime() - days.minuteDays * DAY_MS).toISOString());
  const hour = await pruneRollups(store.db, 'hour', new Date(now.getTime() - days.hourDays * DAY_MS).toISOString());
  return { minute, hour };
}

export class MetricsRetentionSweeper extends Sweeper {
  constructor(store: Store, now: () => Date, days: RetentionDays, intervalMs: number, logger?: FastifyBaseLogger) {
    super(
      async () => {
        const deleted = await pruneMetrics(store, now(), days);
        if (deleted.minute > 0 || deleted.hour > 0) logger?.info(deleted, 'deleted metric rollups past retention');
      },
      intervalMs,
      'metrics retention sweep',
      logger,
    );
  }
}
