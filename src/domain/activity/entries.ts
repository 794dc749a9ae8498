// The activity log's rules: which runtime writes it records, how long entries are kept, and
// which environments' entries a member may read. Pure: no database, HTTP or clock.
import { can, type Actor } from '../auth/permissions.js';
import { forbidden } from '../errors.js';

export const ACTIVITY_ACTIONS = ['data.put', 'data.delete', 'feed.read', 'feed.read_all', 'workflow.trigger', 'preferences.put', 'preferences.unsubscribe'] as const;
export type ActivityAction = (typeof ACTIVITY_ACTIONS)[number];

export const DEFAULT_ACTIVITY_RETENTION_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Entries written before this instant are past retention. */
export function activityCutoff(now: Date, retentionDays: number): string {
  return new Date(now.getTime() - retentionDays * DAY_MS).toISOString();
}

/**
 * Which environments' entries `actor` reads: whoever may read the audit log, per environment.
 * `hidden` lists environments where a narrowed role may not; with no workspace-wide right,
 * `only` lists the environments where a widened role may. Neither: 403.
 */
export type ActivityVisibility = { hidden: string[] } | { only: string[] };

export function activityVisibility(actor: Actor): ActivityVisibility {
  const narrowed = Object.keys(actor.environmentRoles);
  if (can(actor, 'audit.read')) return { hidden: narrowed.filter((env) => !can(actor, 'audit.read', env)) };
  const only = narrowed.filter((env) => can(actor, 'audit.read', env));
  if (only.length === 0) throw forbidden('audit.read');
  return { only };
}

/** Whether entries of `environment` are visible under `visibility`. */
export function seesEnvironment(visibility: ActivityVisibility, environment: string): boolean {
  return 'hidden' in visibility ? !visibility.hidden.includes(environment) : visibility.only.includes(environment);
}
