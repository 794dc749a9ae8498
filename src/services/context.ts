// What every use case receives: the store, a clock, and who is acting in which workspace.
import { randomUUID } from 'node:crypto';
import type { Actor } from '../domain/auth/permissions.js';
import type { Store } from '../store/database.js';
import type { Keyring } from './keyring.js';

export interface Deps {
  store: Store;
  now: () => Date;
  /** Master keys and the unwrapped data keys of workspaces. */
  keyring: Keyring;
  /**
   * Told, after commit, that a workspace has new change events; the call that made them
   * returns once this node's runtime has applied them (read-your-writes on one node).
   */
  onChange: (workspaceId: string) => Promise<void> | void;
}

export interface WorkspaceRef {
  id: string;
  slug: string;
  name: string;
}

/** One call's scope: the workspace it touches, the actor, and the request that carried it. */
export interface CallContext {
  workspace: WorkspaceRef;
  actor: Actor;
  requestId: string | null;
}

export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}
