// Deletes branches whose TTL has run out, on a timer. Every node may run it: deleting a branch
// locks the workspace's environment rows, and a branch already gone is skipped.
import type { FastifyBaseLogger } from 'fastify';
import type { Deps } from '../services/context.js';
import { sweepExpiredBranches } from '../services/environments.js';
import { Sweeper } from './sweeper.js';

export class BranchSweeper extends Sweeper {
  constructor(deps: Deps, intervalMs: number, logger?: FastifyBaseLogger) {
    super(
      async () => {
        const swept = await sweepExpiredBranches(deps);
        if (swept.length > 0) logger?.info({ branches: swept }, 'deleted expired branches');
      },
      intervalMs,
      'branch sweep',
      logger,
    );
  }
}
