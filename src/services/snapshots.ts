// Reading environment states as snapshots: the committed head, a numbered release, or the
// head with the drafts applied. Shared by commit, promotion, diff and the resource views.
import type { Environment } from '../domain/environments/chain.js';
import { notFound } from '../domain/errors.js';
import { applyDrafts, resourceId, splitResourceId, toSnapshot, treeChanges, type DraftChange, type ResourceChange, type Snapshot, type SnapshotEntry } from '../domain/releases/snapshot.js';
import { compareIds, diffTrees, EMPTY_ROOT, getEntries, updateTree, type Entry, type EntryChange, type NodeReader, type TreeNode } from '../domain/releases/tree.js';
import type { Db } from '../store/database.js';
import { findRelease, loadSnapshot, snapshotRoot, type Release } from '../store/releases.js';
import { nodeReader } from '../store/trees.js';
import { listDrafts } from '../store/resources.js';

export async function releaseOf(db: Db, env: Environment, number: number): Promise<Release> {
  const release = await findRelease(db, env.workspaceId, env.id, number);
  if (!release) throw notFound(`release ${env.slug}#${number}`);
  return release;
}

export async function headSnapshotId(db: Db, env: Environment): Promise<string | null> {
  if (env.headRelease === 0) return null;
  return (await releaseOf(db, env, env.headRelease)).snapshotId;
}

export async function snapshotOf(db: Db, env: Environment, snapshotId: string | null): Promise<Snapshot> {
  return snapshotId ? loadSnapshot(db, env.workspaceId, snapshotId) : new Map();
}

export async function headSnapshot(db: Db, env: Environment): Promise<Snapshot> {
  return snapshotOf(db, env, await headSnapshotId(db, env));
}

/** The tree root of a stored snapshot id; the empty tree for none (an environment with no release). */
export async function rootOf(db: Db, env: Environment, snapshotId: string | null): Promise<string> {
  return snapshotId ? snapshotRoot(db, env.workspaceId, snapshotId) : EMPTY_ROOT;
}

export async function headRoot(db: Db, env: Environment): Promise<string> {
  return rootOf(db, env, await headSnapshotId(db, env));
}

/** A tree with nodes not stored yet: a reader that finds them before the store's. */
export interface PendingTree {
  root: string;
  /** Nodes the tree has and the store may lack. */
  nodes: Map<string, TreeNode>;
  /** The stored node each new one took the place of (see updateTree). */
  replaced: Map<string, string>;
  count: number;
  changes: ResourceChange[];
}

export function readerWith(db: Db, workspaceId: string, nodes: Map<string, TreeNode>): NodeReader {
  const stored = nodeReader(db, workspaceId);
  if (nodes.size === 0) return stored;
  return {
    async get(hashes) {
      const out = new Map<string, TreeNode>();
      const rest = hashes.filter((hash) => {
        const node = nodes.get(hash);
        if (node) out.set(hash, node);
        return !node;
      });
      if (rest.length > 0) for (const [hash, node] of await stored.get(rest)) out.set(hash, node);
      return out;
    },
  };
}

/**
 * `root` with `edits` applied (an entry to set, or null to remove), as a tree update: it reads
 * the edited ids' paths and builds the nodes that change, O(k · log n) for k edits in n
 * resources, instead of loading and storing the whole map. Edits that change nothing are dropped.
 */
export async function editTree(db: Db, workspaceId: string, root: string, count: number, edits: Map<string, Entry | null>): Promise<PendingTree> {
  const reader = nodeReader(db, workspaceId);
  const before = await getEntries(reader, root, [...edits.keys()]);
  const effective = new Map<string, Entry | null>();
  const diff: EntryChange[] = [];
  for (const id of [...edits.keys()].sort(compareIds)) {
    const a = before.get(id) ?? null;
    const b = edits.get(id)!;
    if (b === null ? !a : a && a.hash === b.hash && a.app === b.app) continue;
    effective.set(id, b);
    diff.push({ id, before: a, after: b });
    count += !a ? 1 : b === null ? -1 : 0;
  }
  const updated = await updateTree(reader, root, effective);
  return { root: updated.root, nodes: updated.nodes, replaced: updated.replaced, count, changes: treeChanges(diff) };
}

/** The committed entries of the resources `drafts` touch, read at their paths in the head's tree. */
export async function draftedEntries(db: Db, env: Environment, drafts: DraftChange[]): Promise<Snapshot> {
  const entries = await getEntries(nodeReader(db, env.workspaceId), await headRoot(db, env), drafts.map((d) => resourceId(d.kind, d.key)));
  return toSnapshot([...entries.values()].map((entry) => ({ ...splitResourceId(entry.id), hash: entry.hash, app: entry.app }) as SnapshotEntry));
}

/** The head of `env` with `drafts` applied (see editTree). */
export async function draftsApplied(db: Db, env: Environment, drafts: DraftChange[]): Promise<PendingTree> {
  const head = env.headRelease === 0 ? null : await releaseOf(db, env, env.headRelease);
  const root = await rootOf(db, env, head?.snapshotId ?? null);
  const edits = new Map(drafts.map((d) => [resourceId(d.kind, d.key), d.hash === null ? null : { id: resourceId(d.kind, d.key), hash: d.hash, app: d.app }]));
  return editTree(db, env.workspaceId, root, head?.resourceCount ?? 0, edits);
}

/** The head of `env` with its drafts applied, as a tree (nothing is stored). */
export async function draftTree(db: Db, env: Environment): Promise<PendingTree> {
  return draftsApplied(db, env, await listDrafts(db, { workspaceId: env.workspaceId, environmentId: env.id }));
}

/** Per-resource differences between two trees, walking only the subtrees whose hashes differ. */
export async function compareRoots(reader: NodeReader, a: string, b: string): Promise<ResourceChange[]> {
  return treeChanges(await diffTrees(reader, a, b));
}

export async function draftSnapshot(db: Db, env: Environment): Promise<Snapshot> {
  const [head, drafts] = await Promise.all([headSnapshot(db, env), listDrafts(db, { workspaceId: env.workspaceId, environmentId: env.id })]);
  return applyDrafts(head, drafts);
}

export function releaseName(env: { slug: string }, number: number): string {
  return `${env.slug}#${number}`;
}

export function releaseView(env: Environment, release: Release) {
  return {
    environment: env.slug,
    number: release.number,
    name: releaseName(env, release.number),
    cause: release.cause,
    source:
      release.cause !== 'commit' && release.cause !== 'rollback' && release.sourceEnvironment
        ? releaseName({ slug: release.sourceEnvironment }, release.sourceRelease ?? 0)
        : null,
    rolledBackTo: release.cause === 'rollback' ? release.sourceRelease : null,
    message: release.message,
    author: { id: release.authorId, name: release.authorName },
    createdAt: release.createdAt,
    resourceCount: release.resourceCount,
    snapshot: release.snapshotId,
    current: release.number === env.headRelease,
  };
}
