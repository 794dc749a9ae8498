// Runtime credentials: API keys resolved to their environment without a database read per
// request. Entries are refreshed after a short time, dropped at once when a key is revoked or
// rotated (change events), and expiry is checked on every use.
import { StagelineError } from '../domain/errors.js';
import { findKeyPrincipal, hashApiKey, touchApiKey, type KeyPrincipal } from '../services/api-keys.js';
import type { Deps } from '../services/context.js';
import type { ChangeFeed } from './change-feed.js';

const FRESH_MS = 30_000;
const UNKNOWN_MS = 5_000;
const TOUCH_INTERVAL_MS = 60_000;
const MAX_ENTRIES = 50_000;
const KEY_SHAPE = /^(sk|pk)_[A-Za-z0-9_-]{16,128}$/;

interface Entry {
  principal: KeyPrincipal | null;
  fetchedAt: number;
}

function unauthenticated(message: string) {
  return new StagelineError(401, 'unauthenticated', message);
}

export class KeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly deps: Deps,
    feed: ChangeFeed,
  ) {
    feed.subscribe((event) => {
      if (event.type !== 'api_key') return;
      for (const [hash, entry] of this.entries) if (entry.principal?.id === event.payload.id) this.entries.delete(hash);
    });
  }

  /** The environment a runtime credential belongs to; 401 for anything else. */
  async authenticate(key: string | undefined): Promise<KeyPrincipal> {
    if (!key || !KEY_SHAPE.test(key)) throw unauthenticated('send an environment API key as "Authorization: Bearer sk_…" or "pk_…"');
    const hash = hashApiKey(key);
    const now = Date.now();
    let entry = this.entries.get(hash);
    if (!entry || now - entry.fetchedAt > (entry.principal ? FRESH_MS : UNKNOWN_MS)) {
      entry = { principal: await findKeyPrincipal(this.deps, key), fetchedAt: now };
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(hash, entry);
    }
    const principal = entry.principal;
    if (!principal || principal.revoked) throw unauthenticated('the API key is not valid');
    if (principal.expiresAt !== null && principal.expiresAt <= this.deps.now().toISOString()) throw unauthenticated('the API key has expired');
    this.touch(principal.id, now);
    return principal;
  }

  private touch(id: string, now: number) {
    if (now - (this.touched.get(id) ?? 0) < TOUCH_INTERVAL_MS) return;
    this.touched.set(id, now);
    touchApiKey(this.deps, id, new Date(now).toISOString()).catch(() => this.touched.delete(id));
  }
}
