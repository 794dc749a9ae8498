// Deletes what is past retention, on a timer: activity log entries older than the configured
// days and change events beyond the configured count per workspace. Every node may run it:
// each batch is one DELETE of rows nobody else writes, and rows already gone are skipped.
import type { FastifyBaseLogger } from 'fastify';
import { pruneActivityLog } from '../services/activity.js';
import { pruneChangeEvents } from '../services/changes.js';
import type { Deps } from '../services/context.js';

export interface RetentionOptions {
  activityRetentionDays: number;
  changeRetentionEvents: number;
  /** Rows per DELETE, so a large backlog never holds one long statement. */
  batch?: number;
}

export class RetentionSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly deps: Deps,
    private readonly options: RetentionOptions,
    private readonly intervalMs: number,
    private readonly logger?: FastifyBaseLogger,
  ) {}

  start() {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.sweep(), this.intervalMs);
    this.timer.unref();
    void this.sweep();
  }

  /** One sweep; a sweep still running is joined, not doubled. */
  sweep(): Promise<void> {
    this.running ??= this.prune()
      .catch((error: unknown) => this.logger?.error({ err: error }, 'retention sweep failed'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async prune() {
    const { activityRetentionDays, changeRetentionEvents, batch } = this.options;
    const activity = await pruneActivityLog(this.deps, activityRetentionDays, batch);
    const changes = await pruneChangeEvents(this.deps, changeRetentionEvents, batch);
    if (activity > 0 || changes > 0) this.logger?.info({ activity, changes }, 'deleted entries past retention');
  }

  async close() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
