// The signed-in session: the bearer token and when it expires, kept in localStorage so a new tab
// stays signed in. `expire()` (any 401) and `logout()` end it; React reads it with useSession().
import { useSyncExternalStore } from 'react';

const KEY = 'stageline.session';

export interface Session {
  token: string;
  /** ISO time; null for an access token pasted at login (its expiry is the server's business). */
  expiresAt: string | null;
  /**
   * 'login': a session token from email and password, revoked on the server at logout.
   * 'token': a pasted access token (the owner token, a service token): logout only forgets it
   * here, since others may use the same credential.
   */
  kind: 'login' | 'token';
}

export type SessionEnd = 'expired' | 'logged_out' | null;

const ENDED_KEY = 'stageline.session-ended';

let current: Session | null = read();
// Why the last session ended survives a reload of this tab (sessionStorage), so the login page
// can still say so after the browser reloads into it.
let ended: SessionEnd = readEnded();

function readEnded(): SessionEnd {
  const value = sessionStorage.getItem(ENDED_KEY);
  return value === 'expired' || value === 'logged_out' ? value : null;
}
const listeners = new Set<() => void>();

function read(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Session;
    if (typeof parsed.token !== 'string' || (parsed.kind !== 'login' && parsed.kind !== 'token')) return null;
    if (parsed.expiresAt && Date.parse(parsed.expiresAt) <= Date.now()) return null;
    return parsed;
  } catch {
    return null;
  }
}

function set(next: Session | null, why: SessionEnd) {
  current = next;
  ended = why;
  if (next) localStorage.setItem(KEY, JSON.stringify(next));
  else localStorage.removeItem(KEY);
  if (why) sessionStorage.setItem(ENDED_KEY, why);
  else sessionStorage.removeItem(ENDED_KEY);
  for (const listener of listeners) listener();
}

// Another tab signing in or out applies here too.
window.addEventListener('storage', (event) => {
  if (event.key !== KEY) return;
  current = read();
  for (const listener of listeners) listener();
});

let expiryTimer: ReturnType<typeof setTimeout> | undefined;
function scheduleExpiry() {
  clearTimeout(expiryTimer);
  if (!current?.expiresAt) return;
  const ms = Date.parse(current.expiresAt) - Date.now();
  // setTimeout holds at most ~24.8 days.
  if (ms < 2 ** 31 - 1) expiryTimer = setTimeout(() => session.expire(), Math.max(0, ms));
}
scheduleExpiry();

export const session = {
  token: () => current?.token ?? null,
  current: () => current,
  /** Why the last session ended, for the login page to say so. */
  ended: () => ended,
  start(next: Session) {
    set(next, null);
    scheduleExpiry();
  },
  expire() {
    if (current) set(null, 'expired');
  },
  clear() {
    set(null, 'logged_out');
  },
  subscribe(listener: () => void) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

export function useSession(): Session | null {
  return useSyncExternalStore(session.subscribe, session.current);
}
