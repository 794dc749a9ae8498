// Garbage collection of snapshots: releases past retention are deleted, then the tree nodes,
// snapshot rows and contents that nothing live reaches are marked and swept, in small batches.
//
// Why the sweep never deletes what a writer references (writers run while the GC does):
// the mark starts at T0 and deletes only rows that are unmarked AND have touched_at < C, where
// C = T0 - grace. Every writer that stores a node, snapshot row or content touches it (sets
// touched_at to its transaction's time), also when the row existed already (insertOrTouch), and
// re-checks nothing: the DELETE itself carries `touched_at < C`, so a touch and a delete of one
// row are ordered by the database (PostgreSQL re-evaluates a row it waited for; SQLite runs one
// writer at a time) and a touched row survives or is inserted again. A writer references:
//   1. rows it wrote or touched itself: touched at its time ≥ C, as long as a transaction lasts
//      less than the grace period (and node clocks differ by less), so never swept;
//   2. nodes and contents of a tree it read: the head or a release it read under the
//      environment's lock (commit, rollback, merge), or a source release it read without one
//      (promotion), or a branch's merge base (under the branch's lock), or a draft's content
//      (under the environment's lock). Trees are immutable, so the mark keeps every node under a
//      root it sees. It reads its roots in the order data moves between them: drafts, then every
//      release in one statement (with merge bases and queued/running workflow runs), then the
//      snapshots touched since C. A commit that turns drafts into a release lands before the
//      drafts are read (its release is seen), between (both are seen) or after (its drafts are
//      seen). A release can only disappear by pruning, which touches its snapshot in the same
//      transaction: a promotion that read it just before still finds it kept, as a snapshot
//      touched since C. A branch's releases disappear with the branch, which waits for the lock
//      of any merge reading them. What the mark sees is, by induction over writers, closed: a
//      new tree references only its own new nodes (case 1) and subtrees of trees of case 2.
// A node stored as a delta (src/domain/releases/tree-delta.ts) also references its keyframe:
// the mark keeps the keyframe of every node it keeps, a writer storing a delta touches its
// keyframe (case 1), which it took from a node of a tree of case 2, and the DELETE itself never
// removes a node that any stored delta names as its base (a writer re-using an existing delta
// touches the delta only).
// Hence any node a writer references is reachable from a root live at the mark, or was written
// or touched by that writer after C. Deletes run in batches of single statements, each outside
// any long transaction, and no writer ever waits on more than one batch.
import { reachableNodes } from '../domain/releases/tree.js';
import { releasesPastRetention, type RetentionPolicy } from '../domain/releases/retention.js';
import { lockEnvironment } from '../store/environments.js';
import {
  allEnvironments,
  deleteReleases,
  deleteStale,
  draftContentHashes,
  hasFlatSnapshots,
  deltaKeyframes,
  leafContentHashes,
  pinnedReleases,
  referencedSnapshots,
  releaseAges,
  rootsOf,
  staleKeys,
  touchedSnapshots,
  workspaceIds,
  type Collected,
} from '../store/gc.js';
import { nodeReader } from '../store/trees.js';
import { faultPoint } from '../faults.js';
import type { Deps } from './context.js';

export interface GcOptions {
  retention: RetentionPolicy;
  /** How long a row stays after its last write or re-use, whatever the mark says. */
  graceMs: number;
  /** Rows per delete (releases per transaction). */
  batch?: number;
}

export interface GcCounts {
  releases: number;
  nodes: number;
  snapshots: number;
  contents: number;
}

/** What a mark found reachable in one workspace, and the cutoff its sweep deletes below. */
export interface Mark {
  workspaceId: string;
  cutoff: string;
  nodes: Set<string>;
  snapshots: Set<string>;
  contents: Set<string>;
}

const BATCH = 500;

/**
 * Deletes the releases past retention of every environment, a batch per transaction that holds
 * the environment's row lock (as commits, promotions and rollbacks do), so the head and the pins
 * read in it cannot move under it. Answers how many releases went.
 */
export async function pruneReleases(deps: Deps, policy: RetentionPolicy, options: { batch?: number; workspaceId?: string } = {}): Promise<number> {
  const batch = options.batch ?? BATCH;
  let total = 0;
  for (const ref of await allEnvironments(deps.store.db, options.workspaceId)) {
    for (;;) {
      const deleted = await deps.store.transaction(async (tx) => {
        const env = await lockEnvironment(deps.store, tx, ref.workspaceId, ref.slug);
        if (!env || env.id !== ref.id) return 0;
        const now = deps.now();
        const [ages, pinned] = await Promise.all([releaseAges(tx, env.workspaceId, env.id), pinnedReleases(tx, env.workspaceId, env.id)]);
        const past = releasesPastRetention(ages, env.headRelease, pinned, policy, now).slice(0, batch);
        return deleteReleases(tx, env.workspaceId, env.id, past, now.toISOString());
      });
      total += deleted;
      faultPoint('gc.prune-batch');
      if (deleted < batch) break;
    }
  }
  return total;
}

/**
 * Marks what the live roots of a workspace reach (see the argument at the top of this file);
 * null while some snapshot waits for its conversion to a tree (its nodes are not all stored).
 * `startedAt` must be taken before the mark reads anything.
 */
export async function markWorkspace(deps: Deps, workspaceId: string, startedAt: Date, graceMs: number): Promise<Mark | null> {
  const db = deps.store.db;
  if (await hasFlatSnapshots(db, workspaceId)) return null;
  const cutoff = new Date(startedAt.getTime() - graceMs).toISOString();
  const mark: Mark = { workspaceId, cutoff, nodes: new Set(), snapshots: new Set(), contents: new Set() };
  for (const hash of await draftContentHashes(db, workspaceId)) mark.contents.add(hash);
  const referenced = await referencedSnapshots(db, workspaceId);
  for (const hash of referenced.contents) mark.contents.add(hash);
  const touched = await touchedSnapshots(db, workspaceId, cutoff);
  const ids = [...new Set([...referenced.snapshots, ...touched])];
  for (const id of ids) mark.snapshots.add(id);
  const reader = nodeReader(db, workspaceId);
  const keyframes = new Set<string>();
  for (const root of new Set((await rootsOf(db, workspaceId, ids)).values())) {
    // A node missing here throws: the mark fails and nothing is swept.
    const found: string[] = [];
    for await (const hash of reachableNodes(reader, root, mark.nodes)) found.push(hash);
    for (const hash of await leafContentHashes(db, workspaceId, found)) mark.contents.add(hash);
    // A kept delta keeps its keyframe, which need not be in any live tree itself. Added after
    // the walks: a node in the walks' seen set has its subtree skipped, which a keyframe's is not.
    for (const hash of await deltaKeyframes(db, workspaceId, found)) keyframes.add(hash);
  }
  for (const hash of keyframes) mark.nodes.add(hash);
  return mark;
}

/**
 * Deletes the rows of the mark's workspace that it did not mark and that nobody touched since its
 * cutoff: snapshot rows first, then nodes, then contents (an interrupted sweep leaves no snapshot
 * row without its nodes), a batch per statement.
 */
export async function sweepWorkspace(deps: Deps, mark: Mark, batch = BATCH): Promise<Omit<GcCounts, 'releases'>> {
  const sweep = async (table: Collected, marked: Set<string>) => {
    let deleted = 0;
    let after: string | null = null;
    for (;;) {
      const keys = await staleKeys(deps.store.db, table, mark.workspaceId, mark.cutoff, after, batch);
      if (keys.length === 0) return deleted;
      after = keys[keys.length - 1]!;
      deleted += await deleteStale(deps.store, table, mark.workspaceId, mark.cutoff, keys.filter((key) => !marked.has(key)));
      faultPoint('gc.sweep-batch');
      if (keys.length < batch) return deleted;
    }
  };
  const snapshots = await sweep('snapshots', mark.snapshots);
  const nodes = await sweep('tree_nodes', mark.nodes);
  const contents = await sweep('contents', mark.contents);
  return { nodes, snapshots, contents };
}

/** One whole collection: retention, then a mark and a sweep of each workspace. */
export async function collectGarbage(deps: Deps, options: GcOptions): Promise<GcCounts> {
  const counts: GcCounts = { releases: await pruneReleases(deps, options.retention, options.batch !== undefined ? { batch: options.batch } : {}), nodes: 0, snapshots: 0, contents: 0 };
  faultPoint('gc.after-prune');
  for (const workspaceId of await workspaceIds(deps.store.db)) {
    const mark = await markWorkspace(deps, workspaceId, deps.now(), options.graceMs);
    if (!mark) continue;
    faultPoint('gc.after-mark');
    const swept = await sweepWorkspace(deps, mark, options.batch);
    counts.nodes += swept.nodes;
    counts.snapshots += swept.snapshots;
    counts.contents += swept.contents;
  }
  return counts;
}
