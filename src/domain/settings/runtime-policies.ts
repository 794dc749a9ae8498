// What an environment's settings decide for runtime calls: which browser origins may read the
// answers of its keys (`cors`), and whether publishable-key feed calls need a recipient token
// (`feeds`). Defaults apply where the environment has no such setting.
import type { CredentialKind } from '../resources/visibility.js';

export interface CorsSetting {
  origins: string[];
}

export interface FeedsSetting {
  requireRecipientToken?: boolean;
  signingKeyVersion?: number;
}

/**
 * The Access-Control-Allow-Origin value for an actual response to `origin`, or null for none.
 * Without a setting, publishable keys (made for browsers; no cookies are involved) may be used
 * from any origin, and secret keys from none.
 */
export function corsAllowOrigin(setting: CorsSetting | undefined, keyKind: CredentialKind, origin: string): string | null {
  if (setting === undefined) return keyKind === 'publishable' ? '*' : null;
  if (setting.origins.includes('*')) return '*';
  return setting.origins.includes(origin) ? origin : null;
}

/**
 * Whether a publishable key's feed call must carry a recipient token: on by default everywhere
 * but editable environments (development and branches), where test data lives.
 */
export function recipientTokenRequired(setting: FeedsSetting | undefined, editable: boolean): boolean {
  return setting?.requireRecipientToken ?? !editable;
}
