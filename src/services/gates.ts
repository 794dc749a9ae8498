// Promotion gates of an environment: required CI checks of the source release, a manual
// checklist, a minimum soak time in the source, and whether a request applies by itself once
// every gate has passed. Until gates land, no environment has any.
import type { Environment } from '../domain/environments/chain.js';
import type { Db } from '../store/database.js';
import type { WatchInput } from './watches.js';

export interface GateConfig {
  checks: string[];
  checklist: string[];
  soakMinutes: number;
  autoApply: boolean;
  /** The watch a promotion into this environment gets when it names none. */
  watch: WatchInput | null;
}

/** The environment's gates, or null when it has none. */
export async function gatesOf(_db: Db, _target: Environment): Promise<GateConfig | null> {
  return null;
}
