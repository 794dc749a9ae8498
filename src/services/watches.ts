// Health-gated promotion: the watch that follows a promotion, and the hold a breach sets. The
// watcher (src/metrics/watches.ts) compares the target's figures with the watch's thresholds
// and the previous release's baseline, rolls back on a breach and holds the environment.
// Until watches land, a promotion starts none and no environment is held.
import type { Environment } from '../domain/environments/chain.js';
import type { Db } from '../store/database.js';
import type { CallContext, Deps } from './context.js';

/** A promotion's `watch` (or the environment's default one, from its gates). */
export interface WatchInput {
  minutes: number;
  /** Absolute ceiling of the error rate (a fraction 0–1). */
  maxErrorRate?: number;
  maxP95Ms?: number;
  /** How many times the previous release's baseline error rate (or p95) counts as a breach. */
  maxRegression?: number;
}

export interface Hold {
  since: string;
  reason: string;
  /** The release the breach rolled back from. */
  release: number | null;
}

/**
 * Starts watching `release` of `target`, just applied by a promotion in transaction `tx`;
 * `previousRelease` is the release it replaced (the baseline, and where a breach rolls back to).
 */
export async function startWatch(
  _deps: Deps,
  _tx: Db,
  _ctx: CallContext,
  _target: Environment,
  _release: number,
  _previousRelease: number,
  _watch: WatchInput,
): Promise<void> {}

/** The environment's hold, or null: while held, nothing is promoted into it. */
export async function holdOf(_db: Db, _target: Environment): Promise<Hold | null> {
  return null;
}
