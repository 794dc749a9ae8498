// Deletes branches whose TTL has run out, on a timer. Every node may run it: deleting a branch
// locks the workspace's environment rows, and a branch already gone is skipped.
import type { FastifyBaseLogger } from 'fastify';
import type { Deps } from '../services/context.js';
import { sweepExpiredBranches } from '../services/environments.js';

export class BranchSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly deps: Deps,
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
    this.running ??= sweepExpiredBranches(this.deps)
      .then((swept) => {
        if (swept.length > 0) this.logger?.info({ branches: swept }, 'deleted expired branches');
      })
      .catch((error: unknown) => this.logger?.error({ err: error }, 'branch sweep failed'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  async close() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
