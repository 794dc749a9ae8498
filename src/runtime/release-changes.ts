// What a `release` change event tells a runtime cache, and how a cache holding the release the
// change follows moves to the new one by the changed resources only (the rest is kept as it is).
import type { Environment } from '../domain/environments/chain.js';
import { splitResourceId, type Snapshot, type SnapshotEntry } from '../domain/releases/snapshot.js';
import type { ResourceKind } from '../domain/resources/kinds.js';
import { getEntries } from '../domain/releases/tree.js';
import { rootOf } from '../services/snapshots.js';
import type { ChangeEvent } from '../store/changes.js';
import type { Db } from '../store/database.js';
import { findRelease } from '../store/releases.js';
import { nodeReader } from '../store/trees.js';

/** A new release that names the resources it changed (src/services/promotion-plan.ts `releaseChange`). */
export interface ReleaseStep {
  release: number;
  /** The release it follows: only a cache holding exactly this one may apply the step. */
  from: number;
  /** `kind/key` ids whose entries differ between `from` and `release`. */
  resources: string[];
}

/**
 * The step a change event describes, or null when a cache must rebuild: not a release, or one
 * without the changed resources (too many changed, or a cause that does not say).
 */
export function releaseStep(event: ChangeEvent): ReleaseStep | null {
  if (event.type !== 'release' || event.environmentId === null) return null;
  const { release, from, resources } = event.payload;
  if (typeof release !== 'number' || typeof from !== 'number' || release <= from) return null;
  if (!Array.isArray(resources) || !resources.every((id) => typeof id === 'string' && id.includes('/'))) return null;
  return { release, from, resources: [...new Set(resources as string[])] };
}

/** How many times each cache rebuilt an environment whole, and how many times it applied a step. */
export interface RebuildCounts {
  full: number;
  incremental: number;
}

/**
 * `previous` advanced by `step` when it holds the release the step follows; `rebuild()`
 * otherwise, and whenever the step cannot be applied (nothing held, a failed read, a release
 * that is not there): a step is an optimisation, never a second source of truth.
 */
export function advanceOrRebuild<T>(
  previous: Promise<T | null>,
  heldRelease: (held: T) => number,
  step: ReleaseStep,
  apply: (held: T) => Promise<T | null>,
  rebuild: () => Promise<T | null>,
): Promise<T | null> {
  return previous.then(
    async (held) => {
      if (held === null || heldRelease(held) !== step.from) return rebuild();
      let advanced: T | null;
      try {
        advanced = await apply(held);
      } catch {
        advanced = null;
      }
      return advanced ?? rebuild();
    },
    () => rebuild(),
  );
}

/**
 * The entries the changed resources have at `step.release` (absent: removed) and that release's
 * snapshot id and time, read at their paths in its tree: O(k · log n) for k changed of n resources.
 * Null when the release is not (or no longer) stored.
 */
export async function stepEntries(db: Db, env: Environment, step: ReleaseStep): Promise<{ snapshotId: string; createdAt: string; entries: Map<string, SnapshotEntry> } | null> {
  const release = await findRelease(db, env.workspaceId, env.id, step.release);
  if (!release) return null;
  const found = await getEntries(nodeReader(db, env.workspaceId), await rootOf(db, env, release.snapshotId), step.resources);
  const entries = new Map<string, SnapshotEntry>();
  for (const [id, entry] of found) {
    const { kind, key } = splitResourceId(id);
    entries.set(id, { kind: kind as ResourceKind, key, hash: entry.hash, app: entry.app });
  }
  return { snapshotId: release.snapshotId, createdAt: release.createdAt, entries };
}

/** `snapshot` with the step's entries applied, as a new map: views holding the old one keep it unchanged. */
export function steppedSnapshot(snapshot: Snapshot, step: ReleaseStep, entries: Map<string, SnapshotEntry>): Snapshot {
  const next = new Map(snapshot);
  for (const id of step.resources) {
    const entry = entries.get(id);
    if (entry) next.set(id, entry);
    else next.delete(id);
  }
  return next;
}
