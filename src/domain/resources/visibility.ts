// What a runtime credential may reach: secret keys (servers) see every active resource and
// may run server-side operations; publishable keys (browsers) see only configs marked public.
import { StagelineError } from '../errors.js';

export type CredentialKind = 'secret' | 'publishable';

export function visibleTo(kind: CredentialKind, resource: { kind: string; content: unknown }): boolean {
  if (kind === 'secret') return true;
  return resource.kind === 'config' && (resource.content as { public?: unknown } | null)?.public === true;
}

/**
 * Refuses a publishable key for an operation only servers may run: a pk_ key is embedded in
 * client code, where anyone can read it. `operation` names what was asked, `why` the reason.
 */
export function assertSecretKey(kind: CredentialKind, operation: string, why: string): void {
  if (kind === 'secret') return;
  throw new StagelineError(403, 'forbidden', `${operation} need a secret key (sk_…), not a publishable one: ${why}`, [{ keyKind: kind, required: 'secret' }]);
}
