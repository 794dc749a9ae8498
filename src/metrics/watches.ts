// The watcher: on the one node holding the 'watches' lease, checks every running watch on a
// timer (src/services/watches.ts checkWatch) and tells the alert channels of each breach.
// Its state is the watches table, so a restarted or newly elected node resumes where it was.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { Sweeper } from '../runtime/sweeper.js';
import type { Deps } from '../services/context.js';
import { checkWatch, type BreachNotice } from '../services/watches.js';
import { acquireLease, releaseLease } from '../store/leases.js';
import { notifyEnvironment } from './alerts.js';
import { runningWatches } from '../store/watches.js';

export const WATCH_LEASE = 'watches';
/** Running watches checked per round, soonest ending first. */
const BATCH = 200;

/**
 * Fires the environment's alert channels for a breach (rolled back, held). Called once per
 * breach, after its transaction committed: every distinct receiver of the environment's alert
 * rules gets it through the alert outbox (src/metrics/alerts.ts notifyEnvironment), sent with
 * retries by the node evaluating alerts.
 */
export async function notifyBreach(deps: Deps, notice: BreachNotice): Promise<void> {
  const { breach } = notice;
  const latency = breach.rule === 'max_p95_ms' || breach.rule === 'p95_regression';
  const shown = (v: number) => (latency ? `${Math.round(v)} ms` : `${(v * 100).toFixed(2)}%`);
  const outcome =
    notice.rollbackRelease !== null
      ? `rolled back to #${notice.rolledBackTo} (new release #${notice.rollbackRelease})`
      : 'nothing to roll back to';
  await notifyEnvironment(deps, {
    workspace: notice.workspace,
    environment: notice.environment,
    id: notice.watch,
    name: 'watch breach',
    metric: latency ? 'p95_latency_ms' : 'error_rate',
    threshold: breach.limit,
    value: breach.value,
    windowMinutes: 0,
    summary:
      `[ROLLED BACK] ${notice.workspace.slug}/${notice.environment.slug}: the watch of release #${notice.release} breached ` +
      `(${latency ? 'p95' : 'error rate'} ${shown(breach.value)} over ${shown(breach.limit)}); ${outcome}; ` +
      `promotions into it are held until a member clears the hold`,
    at: notice.at,
  });
}

export interface WatcherOptions {
  /** How often running watches are checked (STAGELINE_WATCH_INTERVAL_MS); 0 or less never starts. */
  intervalMs: number;
  /** This node's name on the lease (a random one by default). */
  holder?: string;
  /** How long the lease lasts unless renewed: a node that died is replaced after this. */
  leaseMs?: number;
  logger?: FastifyBaseLogger;
  /** What a breach notifies (notifyBreach by default). */
  notify?: (deps: Deps, notice: BreachNotice) => Promise<void>;
}

export class Watcher {
  private readonly sweeper: Sweeper;
  private readonly holder: string;
  private readonly leaseMs: number;
  private readonly notify: (deps: Deps, notice: BreachNotice) => Promise<void>;

  constructor(
    private readonly deps: Deps,
    private readonly options: WatcherOptions,
  ) {
    this.holder = options.holder ?? `node-${randomUUID()}`;
    // Outlives a few rounds, so a slow round does not hand the lease to another node.
    this.leaseMs = options.leaseMs ?? Math.max(5 * options.intervalMs, 10_000);
    this.notify = options.notify ?? notifyBreach;
    this.sweeper = new Sweeper(() => this.round(), options.intervalMs, 'watch check', options.logger);
  }

  start() {
    this.sweeper.start();
  }

  /** One round now (joined if one is running); answers once it is done. */
  check(): Promise<void> {
    return this.sweeper.sweep();
  }

  private async round() {
    // Without figures there is nothing to judge: watches wait, their windows still running.
    const metrics = this.deps.metrics;
    if (!metrics) return;
    const db = this.deps.store.db;
    if (!(await acquireLease(db, WATCH_LEASE, this.holder, this.deps.now(), this.leaseMs))) return;
    for (const watch of await runningWatches(db, BATCH)) {
      try {
        const notice = await checkWatch(this.deps, metrics, watch);
        if (notice) {
          this.options.logger?.warn({ environment: notice.environment.slug, watch: notice.watch, breach: notice.breach.rule, rollback: notice.rollbackRelease }, 'watch breached: rolled back and held');
          await this.notify(this.deps, notice).catch((error: unknown) => this.options.logger?.error({ err: error, watch: notice.watch }, 'breach notification failed'));
        }
      } catch (error) {
        // One watch failing (a lost connection, a release gone) does not stop the others.
        this.options.logger?.error({ err: error, watch: watch.id }, 'watch check failed');
      }
    }
  }

  /** Stops the timer, waits for a running round and gives the lease up for the next node. */
  async close() {
    await this.sweeper.close();
    await releaseLease(this.deps.store.db, WATCH_LEASE, this.holder).catch(() => undefined);
  }
}
