// Runtime credentials: API keys resolved to their environment without a database read per
// request. Entries are refreshed after a short time, dropped at once when a key is revoked or
// rotated (change events), and expiry is checked on every use.
import { StagelineError } from '../domain/errors.js';
import { findKeyPrincipal, touchApiKey, type KeyPrincipal } from '../services/api-keys.js';
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
  expiresAtMs: number | null;
}

function unauthenticated(message: string) {
  return new StagelineError(401, 'unauthenticated', message);
}

export class KeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly touched = new Map<string, number>();
  /** Counts key changes seen, so a lookup can tell that one happened while it ran. */
  private generation = 0;

  constructor(
    private readonly deps: Deps,
    feed: ChangeFeed,
  ) {
    feed.subscribe((event) => {
      if (event.type !== 'api_key' && event.type !== 'reset') return;
      this.generation += 1;
      // After a `reset` (missed, pruned events) any key of the workspace may have been revoked.
      const stale = (principal: KeyPrincipal | null) =>
        event.type === 'reset' ? principal?.workspaceId === event.workspaceId : principal?.id === event.payload.id;
      for (const [key, entry] of this.entries) if (stale(entry.principal)) this.entries.delete(key);
    });
  }

  /**
   * The principal of a key whose cache entry is fresh and valid, without waiting (the hot
   * path of every runtime read); undefined when `authenticate` must decide.
   */
  cached(key: string): KeyPrincipal | undefined {
    const entry = this.entries.get(key);
    const principal = entry?.principal;
    if (!entry || !principal || principal.revoked) return undefined;
    const now = Date.now();
    if (now - entry.fetchedAt > FRESH_MS || (entry.expiresAtMs !== null && entry.expiresAtMs <= this.deps.now().getTime())) return undefined;
    this.touch(principal.id, now);
    return principal;
  }

  /** The environment a runtime credential belongs to; 401 for anything else. */
  async authenticate(key: string | undefined): Promise<KeyPrincipal> {
    if (!key || !KEY_SHAPE.test(key)) throw unauthenticated('send an environment API key as "Authorization: Bearer sk_…" or "pk_…"');
    const now = Date.now();
    // Entries are keyed by the key itself: a hit needs no hashing.
    let entry = this.entries.get(key);
    if (!entry || now - entry.fetchedAt > (entry.principal ? FRESH_MS : UNKNOWN_MS)) {
      // A key revoked while this lookup runs must not be cached as it was before.
      let principal: KeyPrincipal | null;
      let generation: number;
      do {
        generation = this.generation;
        principal = await findKeyPrincipal(this.deps, key);
      } while (generation !== this.generation);
      entry = { principal, fetchedAt: now, expiresAtMs: principal?.expiresAt ? Date.parse(principal.expiresAt) : null };
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(key, entry);
    }
    const principal = entry.principal;
    if (!principal || principal.revoked) throw unauthenticated('the API key is not valid');
    if (entry.expiresAtMs !== null && entry.expiresAtMs <= this.deps.now().getTime()) throw unauthenticated('the API key has expired');
    this.touch(principal.id, now);
    return principal;
  }

  private touch(id: string, now: number) {
    if (now - (this.touched.get(id) ?? 0) < TOUCH_INTERVAL_MS) return;
    this.touched.set(id, now);
    touchApiKey(this.deps, id, new Date(now).toISOString()).catch(() => this.touched.delete(id));
  }
}
