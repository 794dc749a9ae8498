// Rules about an environment's current release: optimistic concurrency on it, and which
// releases a rollback may return to.
import type { Environment } from '../environments/chain.js';
import { conflict, invalid } from '../errors.js';

/** A caller that saw release N refuses to act once the environment has moved past it. */
export function assertExpectedRelease(env: Pick<Environment, 'slug' | 'headRelease'>, expected: number | undefined): void {
  if (expected !== undefined && env.headRelease !== expected) {
    throw conflict(
      'release_conflict',
      `${env.slug} is at release #${env.headRelease}, not #${expected}: it changed since you looked`,
      [{ field: 'expectedRelease', expected, actual: env.headRelease }],
    );
  }
}

/** A rollback returns to an earlier release; the current one or a later number is refused. */
export function assertRollbackTarget(env: Pick<Environment, 'slug' | 'headRelease'>, release: number): void {
  if (release >= env.headRelease) {
    throw invalid([{ field: 'release', message: `must be an earlier release of ${env.slug} than the current #${env.headRelease}`, in: 'body' }]);
  }
}
