// Retention of the change feed: each workspace keeps its latest change events; older ones are
// deleted in batches, and a stream resuming from before what is kept is told to start over.
import { changesToPrune, changeWindow, pruneChanges } from '../store/changes.js';
import type { Deps } from './context.js';

/**
 * Whether a reader that has every event up to `after` can resume from the table: no event
 * after it has been pruned, and it is not ahead of the latest change (an id from elsewhere).
 * Checked after reading the events it resumes with, so a prune in between is noticed.
 */
export async function canResumeAfter(deps: Deps, workspaceId: string, after: number): Promise<{ resumable: boolean; latest: number }> {
  const window = await changeWindow(deps.store.db, workspaceId);
  return { resumable: after >= window.from && after <= window.latest, latest: window.latest };
}

/** Keeps the latest `keep` change events of every workspace; answers how many were deleted. */
export async function pruneChangeEvents(deps: Deps, keep: number, batch = 1000): Promise<number> {
  let total = 0;
  for (const { workspaceId, upTo } of await changesToPrune(deps.store.db, keep)) {
    for (;;) {
      const deleted = await pruneChanges(deps.store.db, workspaceId, upTo, batch);
      total += deleted;
      if (deleted < batch) break;
    }
  }
  return total;
}
