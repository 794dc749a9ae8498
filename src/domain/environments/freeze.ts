// Freeze windows: during one, an environment takes no promotion or rollback, unless an owner
// or admin breaks glass with a reason — which opens a review item for someone else to look at.
import type { Actor } from '../auth/permissions.js';
import { roleIn } from '../auth/permissions.js';
import { conflict, invalid, refused } from '../errors.js';

export interface FreezeWindow {
  id: string;
  startsAt: string;
  endsAt: string;
  reason: string;
}

export function activeFreeze<F extends FreezeWindow>(windows: F[], now: Date): F | undefined {
  const at = now.toISOString();
  return windows.find((w) => w.startsAt <= at && at < w.endsAt);
}

export function freezeIssues(input: { startsAt: string; endsAt: string }, now: Date) {
  const issues = [];
  if (input.endsAt <= input.startsAt) issues.push({ field: 'endsAt', message: 'must be after startsAt', in: 'body' as const });
  if (input.endsAt <= now.toISOString()) issues.push({ field: 'endsAt', message: 'must be in the future', in: 'body' as const });
  return issues;
}

/**
 * Whether a change may go into `environment` now. Returns true when it goes through by
 * breaking glass (the caller records it and opens a review item), false when no freeze applies.
 */
export function checkFreeze(environment: string, freeze: FreezeWindow | undefined, actor: Actor, breakGlassReason: string | undefined): boolean {
  if (!freeze) return false;
  if (breakGlassReason === undefined) {
    throw conflict(
      'environment_frozen',
      `${environment} is frozen until ${freeze.endsAt} (${freeze.reason}); an owner or admin can break glass with a reason`,
      [{ freeze: freeze.id, startsAt: freeze.startsAt, endsAt: freeze.endsAt, reason: freeze.reason }],
    );
  }
  if (breakGlassReason.trim().length === 0) throw invalid([{ field: 'breakGlass.reason', message: 'must say why', in: 'body' }]);
  const role = roleIn(actor, environment);
  if (role !== 'owner' && role !== 'admin') throw refused('break_glass', `only an owner or admin can break glass: ${environment} is frozen`, environment);
  return true;
}
