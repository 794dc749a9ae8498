// Merging a branch into its parent: three-way per resource against the merge base (the state
// both sides last agreed on). A resource changed on both sides, differently, is a conflict
// unless the caller says which side to take. Pure: snapshots in, snapshots out.
import { conflict } from '../errors.js';
import { type Snapshot, type SnapshotEntry } from './snapshot.js';

export type MergeSide = 'branch' | 'parent';

export interface MergeConflict {
  resource: string;
  /** What each side did since the base: added, changed or removed. */
  branch: 'added' | 'changed' | 'removed';
  parent: 'added' | 'changed' | 'removed';
  baseHash: string | null;
  branchHash: string | null;
  parentHash: string | null;
}

export interface MergeResult {
  /** The parent's next state. */
  merged: Snapshot;
  /** The resources whose merged state the branch takes too (so the next merge starts even). */
  settled: string[];
  /** Conflicts resolved by the caller, with the side taken. */
  resolved: { resource: string; take: MergeSide }[];
}

function same(a: SnapshotEntry | undefined, b: SnapshotEntry | undefined): boolean {
  return a?.hash === b?.hash && (a?.app ?? null) === (b?.app ?? null);
}

function change(base: SnapshotEntry | undefined, side: SnapshotEntry | undefined): MergeConflict['branch'] {
  if (!base) return 'added';
  return side ? 'changed' : 'removed';
}

/**
 * Three-way merge of `branch` into `parent` against `base`, over every resource of the three
 * states or only the named ones. Throws 409 `merge_conflict` listing every unresolved conflict.
 */
export function threeWayMerge(
  base: Snapshot,
  branch: Snapshot,
  parent: Snapshot,
  options: { only?: string[]; take?: ReadonlyMap<string, MergeSide> } = {},
): MergeResult {
  const ids = options.only ?? [...new Set([...base.keys(), ...branch.keys(), ...parent.keys()])].sort();
  const unknown = ids.filter((id) => !base.has(id) && !branch.has(id) && !parent.has(id));
  if (unknown.length > 0) {
    throw conflict('unknown_resources', `not in the branch or its parent: ${unknown.join(', ')}`, unknown.map((id) => ({ resource: id })));
  }
  const take = options.take ?? new Map<string, MergeSide>();
  const merged: Snapshot = new Map(parent);
  const conflicts: MergeConflict[] = [];
  const resolved: MergeResult['resolved'] = [];
  const put = (id: string, entry: SnapshotEntry | undefined) => (entry ? merged.set(id, entry) : merged.delete(id));

  for (const id of ids) {
    const [b, x, p] = [base.get(id), branch.get(id), parent.get(id)];
    if (same(x, b) || same(x, p)) continue; // the branch left it alone, or both made the same change
    if (same(p, b)) {
      put(id, x); // only the branch changed it
      continue;
    }
    const side = take.get(id);
    if (side) {
      resolved.push({ resource: id, take: side });
      put(id, side === 'branch' ? x : p);
      continue;
    }
    conflicts.push({ resource: id, branch: change(b, x), parent: change(b, p), baseHash: b?.hash ?? null, branchHash: x?.hash ?? null, parentHash: p?.hash ?? null });
  }
  if (conflicts.length > 0) {
    throw conflict(
      'merge_conflict',
      `changed on both the branch and its parent since they last agreed: ${conflicts.map((c) => c.resource).join(', ')}; resolve each with take "branch" or "parent"`,
      conflicts,
    );
  }
  const stray = [...take.keys()].filter((id) => !resolved.some((r) => r.resource === id));
  if (stray.length > 0) {
    throw conflict('merge_resolution_unused', `not in conflict, nothing to resolve: ${stray.join(', ')}`, stray.map((id) => ({ resource: id })));
  }
  return { merged, settled: ids, resolved };
}

/**
 * The branch, or the merge base, after a merge: every settled resource takes its merged state,
 * so the next merge sees only what changes after this one.
 */
export function settle(state: Snapshot, merged: Snapshot, settled: string[]): Snapshot {
  const next: Snapshot = new Map(state);
  for (const id of settled) {
    const entry = merged.get(id);
    if (entry) next.set(id, entry);
    else next.delete(id);
  }
  return next;
}
