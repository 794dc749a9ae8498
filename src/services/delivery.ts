// What the delivery API's streams read: the change events of one environment. The resources it
// serves are resolved by the runtime's resolver (src/runtime/resolver.ts) and kept in memory by
// src/runtime/delivery-cache.ts.
import { changesAfter, type ChangeEvent } from '../store/changes.js';
import type { Deps } from './context.js';

/** Change events of one environment (and the workspace-wide ones) after a sequence number. */
export async function environmentChangesAfter(deps: Deps, workspaceId: string, environmentId: string, afterSeq: number, limit: number): Promise<ChangeEvent[]> {
  return changesAfter(deps.store.db, workspaceId, afterSeq, { environmentId, limit });
}
