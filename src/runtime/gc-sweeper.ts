// Garbage collection on a timer: releases past retention, then unreachable snapshot trees and
// contents (src/services/gc.ts). One node at a time runs it, the one holding the `gc` lease;
// two at once would still be safe (each deletes only what its own mark left and nobody touched
// within the grace period), only wasteful.
import type { FastifyBaseLogger } from 'fastify';
import type { Deps } from '../services/context.js';
import { collectGarbage, type GcOptions } from '../services/gc.js';
import { acquireLease, releaseLease } from '../store/leases.js';
import { Sweeper } from './sweeper.js';

export const GC_LEASE = 'gc';

export class GcSweeper extends Sweeper {
  constructor(
    private readonly deps: Deps,
    options: GcOptions,
    intervalMs: number,
    private readonly holder: string,
    logger?: FastifyBaseLogger,
  ) {
    // The lease outlives a sweep or two, so a slow collection does not hand it to another node.
    const leaseMs = Math.max(3 * intervalMs, 600_000);
    super(
      async () => {
        if (!(await acquireLease(deps.store.db, GC_LEASE, holder, deps.now(), leaseMs))) return;
        const started = Date.now();
        const counts = await collectGarbage(deps, options);
        if (counts.releases + counts.nodes + counts.snapshots + counts.contents > 0) {
          logger?.info({ ...counts, ms: Date.now() - started }, 'garbage collection deleted releases past retention and unreachable snapshot data');
        }
      },
      intervalMs,
      'garbage collection',
      logger,
    );
  }

  override async close() {
    await super.close();
    await releaseLease(this.deps.store.db, GC_LEASE, this.holder).catch(() => {});
  }
}
