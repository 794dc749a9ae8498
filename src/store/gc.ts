// What garbage collection reads and deletes: release ages and the releases something pins, the
// roots of a workspace's mark (drafts, releases, merge bases, runs, recently touched snapshots),
// and batched deletes of unmarked rows that were not touched since the cutoff.
import type { LeafNode } from '../domain/releases/tree.js';
import type { Db, Store } from './database.js';
import { nodeReader } from './trees.js';

export interface EnvironmentRef {
  workspaceId: string;
  id: string;
  slug: string;
}

/** Every environment of every workspace (or of one), in a stable order. */
export async function allEnvironments(db: Db, workspaceId?: string): Promise<EnvironmentRef[]> {
  let query = db.selectFrom('environments').select(['workspace_id', 'id', 'slug']);
  if (workspaceId !== undefined) query = query.where('workspace_id', '=', workspaceId);
  const rows = await query.orderBy('workspace_id').orderBy('id').execute();
  return rows.map((r) => ({ workspaceId: r.workspace_id, id: r.id, slug: r.slug }));
}

export async function releaseAges(db: Db, workspaceId: string, environmentId: string): Promise<{ number: number; createdAt: string }[]> {
  const rows = await db
    .selectFrom('releases')
    .select(['number', 'created_at'])
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .orderBy('number')
    .execute();
  return rows.map((r) => ({ number: r.number, createdAt: r.created_at }));
}

/**
 * The releases of `environmentId` something still needs besides its head: the source and target
 * of a pending promotion request, the release and baseline of a running watch, the release a
 * queued or running workflow run reads, and the parent's release a branch forked at.
 */
export async function pinnedReleases(db: Db, workspaceId: string, environmentId: string): Promise<Set<number>> {
  const pinned = new Set<number>();
  const requests = await db
    .selectFrom('promotion_requests')
    .select(['environment_id', 'source_environment_id', 'source_release', 'target_release'])
    .where('workspace_id', '=', workspaceId)
    .where('status', '=', 'pending')
    .where((eb) => eb.or([eb('environment_id', '=', environmentId), eb('source_environment_id', '=', environmentId)]))
    .execute();
  for (const r of requests) {
    if (r.source_environment_id === environmentId) pinned.add(r.source_release);
    if (r.environment_id === environmentId) pinned.add(r.target_release);
  }
  const watches = await db.selectFrom('watches').select(['release', 'previous_release']).where('workspace_id', '=', workspaceId).where('environment_id', '=', environmentId).where('status', '=', 'running').execute();
  for (const w of watches) pinned.add(w.release).add(w.previous_release);
  const runs = await db
    .selectFrom('workflow_runs')
    .select('release')
    .distinct()
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .where('status', 'in', ['queued', 'running'])
    .execute();
  for (const r of runs) pinned.add(r.release);
  const forks = await db.selectFrom('environments').select('fork_release').where('workspace_id', '=', workspaceId).where('parent_id', '=', environmentId).execute();
  for (const f of forks) if (f.fork_release !== null) pinned.add(f.fork_release);
  return pinned;
}

/**
 * Deletes the named releases and touches their snapshots: a writer that read one of them just
 * before (a promotion reads its source without locking it) may still reference its snapshot,
 * and a snapshot touched within the grace period is a root of the mark. Answers how many went.
 */
export async function deleteReleases(db: Db, workspaceId: string, environmentId: string, numbers: number[], at: string): Promise<number> {
  if (numbers.length === 0) return 0;
  const deleted = await db
    .deleteFrom('releases')
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .where('number', 'in', numbers)
    .returning('snapshot_id')
    .execute();
  const snapshots = [...new Set(deleted.map((r) => r.snapshot_id))].sort();
  if (snapshots.length > 0) await db.updateTable('snapshots').set({ touched_at: at }).where('workspace_id', '=', workspaceId).where('id', 'in', snapshots).execute();
  return deleted.length;
}

export async function workspaceIds(db: Db): Promise<string[]> {
  return (await db.selectFrom('workspaces').select('id').orderBy('id').execute()).map((r) => r.id);
}

/** Whether some snapshot still waits for its conversion to a tree (its nodes are not all there). */
export async function hasFlatSnapshots(db: Db, workspaceId: string): Promise<boolean> {
  return (await db.selectFrom('snapshots').select('id').where('workspace_id', '=', workspaceId).where('root', 'is', null).limit(1).executeTakeFirst()) !== undefined;
}

/** Content hashes drafts hold: the drafted content and the committed content it started from. */
export async function draftContentHashes(db: Db, workspaceId: string): Promise<string[]> {
  const rows = await db.selectFrom('drafts').select(['hash', 'base_hash']).where('workspace_id', '=', workspaceId).execute();
  return rows.flatMap((r) => [r.hash, r.base_hash].filter((h): h is string => h !== null));
}

/**
 * Snapshot ids something references: every release (one statement, so a commit or merge lands
 * wholly before or after it), branch merge bases, and queued or running workflow runs.
 */
export async function referencedSnapshots(db: Db, workspaceId: string): Promise<{ snapshots: string[]; contents: string[] }> {
  const releases = await db.selectFrom('releases').select('snapshot_id').distinct().where('workspace_id', '=', workspaceId).execute();
  const bases = await db.selectFrom('environments').select('merge_base').where('workspace_id', '=', workspaceId).where('merge_base', 'is not', null).execute();
  const runs = await db.selectFrom('workflow_runs').select(['snapshot_id', 'content_hash']).where('workspace_id', '=', workspaceId).where('status', 'in', ['queued', 'running']).execute();
  return {
    snapshots: [...releases.map((r) => r.snapshot_id), ...bases.map((b) => b.merge_base!), ...runs.flatMap((r) => (r.snapshot_id ? [r.snapshot_id] : []))],
    contents: runs.map((r) => r.content_hash),
  };
}

/** Snapshot ids written or re-used (touched) at or after `since`. */
export async function touchedSnapshots(db: Db, workspaceId: string, since: string): Promise<string[]> {
  return (await db.selectFrom('snapshots').select('id').where('workspace_id', '=', workspaceId).where('touched_at', '>=', since).execute()).map((r) => r.id);
}

/** The tree root of each snapshot id found (ids of snapshots not stored are left out). */
export async function rootsOf(db: Db, workspaceId: string, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const wanted = [...new Set(ids)];
  for (let i = 0; i < wanted.length; i += 500) {
    const rows = await db.selectFrom('snapshots').select(['id', 'root']).where('workspace_id', '=', workspaceId).where('id', 'in', wanted.slice(i, i + 500)).execute();
    for (const r of rows) if (r.root !== null) out.set(r.id, r.root);
  }
  return out;
}

/** The content hashes in the leaves among `hashes` (other levels are skipped). */
export async function leafContentHashes(db: Db, workspaceId: string, hashes: string[]): Promise<string[]> {
  const out: string[] = [];
  const reader = nodeReader(db, workspaceId);
  for (let i = 0; i < hashes.length; i += 500) {
    const leaves = await db.selectFrom('tree_nodes').select('hash').where('workspace_id', '=', workspaceId).where('level', '=', 0).where('hash', 'in', hashes.slice(i, i + 500)).execute();
    // Read through the reader: a leaf may be stored as a delta of its keyframe.
    for (const node of (await reader.get(leaves.map((r) => r.hash))).values()) for (const entry of (node as LeafNode).entries) out.push(entry.hash);
  }
  return out;
}

/** The keyframes that the nodes `hashes` stored as deltas are read from (tree-delta.ts). */
export async function deltaKeyframes(db: Db, workspaceId: string, hashes: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (let i = 0; i < hashes.length; i += 500) {
    const rows = await db.selectFrom('tree_nodes').select('base').where('workspace_id', '=', workspaceId).where('base', 'is not', null).where('hash', 'in', hashes.slice(i, i + 500)).execute();
    for (const row of rows) out.add(row.base!);
  }
  return [...out];
}

export type Collected = 'tree_nodes' | 'snapshots' | 'contents';

/** One page of keys in `table` not touched since `cutoff`, after `after`, in key order. */
export async function staleKeys(db: Db, table: Collected, workspaceId: string, cutoff: string, after: string | null, limit: number): Promise<string[]> {
  if (table === 'snapshots') {
    let query = db.selectFrom('snapshots').select('id').where('workspace_id', '=', workspaceId).where('touched_at', '<', cutoff);
    if (after !== null) query = query.where('id', '>', after);
    return (await query.orderBy('id').limit(limit).execute()).map((r) => r.id);
  }
  let query = db.selectFrom(table).select('hash').where('workspace_id', '=', workspaceId).where('touched_at', '<', cutoff);
  if (after !== null) query = query.where('hash', '>', after);
  return (await query.orderBy('hash').limit(limit).execute()).map((r) => r.hash);
}

/**
 * Deletes the named rows unless they were touched since `cutoff`: the condition is checked by the
 * DELETE itself, so a writer touching a row at the same moment either lands first (the row stays;
 * PostgreSQL re-checks a row it waited for) or finds it gone and inserts it again.
 */
export async function deleteStale(store: Store, table: Collected, workspaceId: string, cutoff: string, keys: string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const column = table === 'snapshots' ? 'id' : 'hash';
  let query = store.db
    .deleteFrom(table)
    .where('workspace_id', '=', workspaceId)
    .where(column as 'hash', 'in', [...keys].sort())
    .where('touched_at', '<', cutoff);
  if (table === 'tree_nodes') {
    // Never a keyframe that a stored delta names, whatever the mark saw: a writer may re-use
    // (touch) a delta row without touching its keyframe. A later collection takes it once no
    // delta names it (index tree_nodes_base).
    query = query.where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('tree_nodes as d').select('d.hash').where('d.workspace_id', '=', workspaceId).whereRef('d.base', '=', 'tree_nodes.hash'))),
    );
  }
  const deleted = await query.executeTakeFirst();
  return Number(deleted.numDeletedRows);
}

export async function countRows(db: Db, table: Collected, workspaceId: string): Promise<number> {
  return Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('workspace_id', '=', workspaceId).executeTakeFirstOrThrow()).n);
}
