// Runtime credentials: API keys resolved to their environment without a database read per
// request. Entries are refreshed after a short time, dropped at once when a key is revoked or
// rotated or its environment is deleted (change events, on every node), and expiry is checked
// on every use.
import { StagelineError } from '../domain/errors.js';
import { findKeyPrincipal, touchApiKey, type KeyPrincipal } from '../services/api-keys.js';
import type { Deps } from '../services/context.js';
import type { ChangeEvent } from '../store/changes.js';
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

/** Whether a change event makes a cached key unusable. */
function dropsKey(event: ChangeEvent, principal: KeyPrincipal): boolean {
  if (event.type === 'api_key') return principal.id === event.payload.id;
  return event.type === 'environment' && event.payload.deleted === true && principal.environmentId === event.environmentId;
}

export class KeyCache {
  private readonly entries = new Map<string, Entry>();
  /**
   * The same entries keyed by the whole Authorization header as sent ("Bearer sk_…"): the hot
   * path looks a repeated header up as is, with no parsing.
   */
  private readonly byHeader = new Map<string, Entry>();
  private readonly touched = new Map<string, number>();
  /** Workspaces whose change events this node follows, so their key changes reach the cache. */
  private readonly followed = new Set<string>();
  /** Counts key changes seen, so a lookup can tell that one happened while it ran. */
  private generation = 0;

  constructor(
    private readonly deps: Deps,
    private readonly feed: ChangeFeed,
  ) {
    feed.subscribe((event) => {
      if (event.type !== 'api_key' && event.type !== 'environment' && event.type !== 'reset') return;
      this.generation += 1;
      // After a `reset` (missed, pruned events) any key of the workspace may have been revoked.
      const stale = (principal: KeyPrincipal | null) =>
        principal !== null && (event.type === 'reset' ? principal.workspaceId === event.workspaceId : dropsKey(event, principal));
      for (const map of [this.entries, this.byHeader]) {
        for (const [key, entry] of map) if (stale(entry.principal)) map.delete(key);
      }
    });
  }

  /**
   * The principal of an Authorization header whose key is in memory, fresh and valid, without
   * waiting (the hot path of every runtime call); undefined when `authenticate` must decide.
   */
  cachedByHeader(header: string | undefined): KeyPrincipal | undefined {
    if (header === undefined) return undefined;
    const entry = this.byHeader.get(header);
    if (entry === undefined) return undefined;
    const principal = entry.principal;
    if (!principal || principal.revoked) return undefined;
    const now = Date.now();
    if (now - entry.fetchedAt > FRESH_MS || (entry.expiresAtMs !== null && entry.expiresAtMs <= this.deps.now().getTime())) {
      this.byHeader.delete(header);
      return undefined;
    }
    this.touch(principal, now);
    return principal;
  }

  /**
   * The environment a runtime credential belongs to; 401 for anything else. `header`, the
   * Authorization header the key came in, is remembered for `cachedByHeader`.
   */
  async authenticate(key: string | undefined, header?: string): Promise<KeyPrincipal> {
    if (!key || !KEY_SHAPE.test(key)) throw unauthenticated('send an environment API key as "Authorization: Bearer sk_…" or "pk_…"');
    const now = Date.now();
    // Entries are keyed by the key itself: a hit needs no hashing.
    let entry = this.entries.get(key);
    if (!entry || now - entry.fetchedAt > (entry.principal ? FRESH_MS : UNKNOWN_MS)) {
      // A key revoked (or its environment deleted) while this lookup runs must not be cached
      // as it was before; and a workspace is followed before its key is trusted.
      let principal: KeyPrincipal | null;
      let generation: number;
      let again: boolean;
      do {
        generation = this.generation;
        principal = await findKeyPrincipal(this.deps, key);
        again = false;
        if (principal && !this.followed.has(principal.workspaceId)) {
          await this.feed.track(principal.workspaceId);
          this.followed.add(principal.workspaceId);
          again = true;
        }
      } while (again || generation !== this.generation);
      entry = { principal, fetchedAt: now, expiresAtMs: principal?.expiresAt ? Date.parse(principal.expiresAt) : null };
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(key, entry);
    }
    const principal = entry.principal;
    if (!principal || principal.revoked) throw unauthenticated('the API key is not valid');
    if (entry.expiresAtMs !== null && entry.expiresAtMs <= this.deps.now().getTime()) throw unauthenticated('the API key has expired');
    if (header !== undefined && this.byHeader.get(header) !== entry) {
      if (this.byHeader.size >= MAX_ENTRIES) this.byHeader.delete(this.byHeader.keys().next().value as string);
      this.byHeader.set(header, entry);
    }
    this.touch(principal, now);
    return principal;
  }

  /**
   * Drops a key found to be no longer valid (`scope: 'key'`), or every key of its environment
   * found to be gone (`scope: 'environment'`), ahead of the change event that will say so.
   */
  forget(principal: KeyPrincipal, scope: 'key' | 'environment'): void {
    const stale = scope === 'key' ? (p: KeyPrincipal) => p.id === principal.id : (p: KeyPrincipal) => p.environmentId === principal.environmentId;
    this.generation += 1;
    for (const map of [this.entries, this.byHeader]) {
      for (const [key, entry] of map) if (entry.principal && stale(entry.principal)) map.delete(key);
    }
  }

  private touch(key: KeyPrincipal, now: number) {
    const id = key.id;
    if (now - (this.touched.get(id) ?? 0) < TOUCH_INTERVAL_MS) return;
    this.touched.set(id, now);
    touchApiKey(this.deps, key, new Date(now).toISOString()).catch(() => this.touched.delete(id));
  }
}
