// Deletes what is past retention, on a timer: activity log entries older than the configured
// days and change events beyond the configured count per workspace. Every node may run it:
// each batch is one DELETE of rows nobody else writes, and rows already gone are skipped.
import type { FastifyBaseLogger } from 'fastify';
import { pruneActivityLog } from '../services/activity.js';
import { pruneChangeEvents } from '../services/changes.js';
import type { Deps } from '../services/context.js';
import { Sweeper } from './sweeper.js';

export interface RetentionOptions {
  activityRetentionDays: number;
  changeRetentionEvents: number;
  /** Rows per DELETE, so a large backlog never holds one long statement. */
  batch?: number;
}

export class RetentionSweeper extends Sweeper {
  constructor(deps: Deps, options: RetentionOptions, intervalMs: number, logger?: FastifyBaseLogger) {
    super(
      async () => {
        const { activityRetentionDays, changeRetentionEvents, batch } = options;
        const activity = await pruneActivityLog(deps, activityRetentionDays, batch);
        const changes = await pruneChangeEvents(deps, changeRetentionEvents, batch);
        if (activity > 0 || changes > 0) logger?.info({ activity, changes }, 'deleted entries past retention');
      },
      intervalMs,
      'retention sweep',
      logger,
    );
  }
}
