// Snapshots: the immutable map `kind/key → content hash` a release points at. Commit, promotion
// and rollback are all rules about which snapshot the next release points at.
import { buildTree, type EntryChange, type TreeNode } from './tree.js';
import { conflict, invalid } from '../errors.js';
import { isResourceKind, RESOURCE_KEY_PATTERN, type ResourceKind } from '../resources/kinds.js';

export interface SnapshotEntry {
  kind: ResourceKind;
  key: string;
  hash: string;
  app: string | null;
}

/** Entries keyed by resource id (`kind/key`). */
export type Snapshot = Map<string, SnapshotEntry>;

export interface DraftChange {
  kind: ResourceKind;
  key: string;
  /** Content hash of the draft, or null when the draft deletes the resource. */
  hash: string | null;
  app: string | null;
}

export function resourceId(kind: string, key: string): string {
  return `${kind}/${key}`;
}

/** `kind/key` as its parts, for ids this code wrote (parseResourceId checks ids from outside). */
export function splitResourceId(id: string): { kind: string; key: string } {
  const slash = id.indexOf('/');
  return { kind: id.slice(0, slash), key: id.slice(slash + 1) };
}

export function parseResourceId(id: string, field: string): { kind: ResourceKind; key: string } {
  const slash = id.indexOf('/');
  const kind = slash > 0 ? id.slice(0, slash) : '';
  const key = slash > 0 ? id.slice(slash + 1) : '';
  if (!isResourceKind(kind) || !RESOURCE_KEY_PATTERN.test(key)) {
    throw invalid([{ field, message: `"${id}" is not a resource id of the form kind/key`, in: 'body' }]);
  }
  return { kind, key };
}

export function toSnapshot(entries: Iterable<SnapshotEntry>): Snapshot {
  const snapshot: Snapshot = new Map();
  for (const entry of entries) snapshot.set(resourceId(entry.kind, entry.key), entry);
  return snapshot;
}

/** Trees already built, per snapshot object: its id and its storage come from one build. */
const trees = new WeakMap<Snapshot, { root: string; nodes: Map<string, TreeNode> }>();

/** The snapshot as a tree (src/domain/releases/tree.ts): its root and every node. */
export function treeOf(snapshot: Snapshot): { root: string; nodes: Map<string, TreeNode> } {
  let tree = trees.get(snapshot);
  if (tree === undefined) {
    tree = buildTree([...snapshot].map(([id, entry]) => ({ id, hash: entry.hash, app: entry.app })));
    trees.set(snapshot, tree);
  }
  return tree;
}

/**
 * The identity of a snapshot: the root of its tree, so equal maps get equal ids whatever their
 * history, and identical states share storage. Snapshots stored before the trees keep the id
 * they had (the hash of their sorted entry lines); their tree's root is `snapshots.root`.
 */
export function snapshotId(snapshot: Snapshot): string {
  return treeOf(snapshot).root;
}

/** The snapshot a commit produces: the current one with the drafts applied. */
export function applyDrafts(head: Snapshot, drafts: DraftChange[]): Snapshot {
  const next: Snapshot = new Map(head);
  for (const draft of drafts) {
    const id = resourceId(draft.kind, draft.key);
    if (draft.hash === null) next.delete(id);
    else next.set(id, { kind: draft.kind, key: draft.key, hash: draft.hash, app: draft.app });
  }
  return next;
}

/**
 * The snapshot a selective promotion produces: the target as it is, with only the named
 * resources taken from the source (a resource absent from the source is removed).
 */
export function takeResources(target: Snapshot, source: Snapshot, ids: string[]): Snapshot {
  const unknown = ids.filter((id) => !source.has(id) && !target.has(id));
  if (unknown.length > 0) {
    throw conflict(
      'unknown_resources',
      `not in the source or the target: ${unknown.join(', ')}`,
      unknown.map((id) => ({ resource: id })),
    );
  }
  const next: Snapshot = new Map(target);
  for (const id of ids) {
    const entry = source.get(id);
    if (entry) next.set(id, entry);
    else next.delete(id);
  }
  return next;
}

export type ChangeStatus = 'added' | 'removed' | 'changed';

export interface ResourceChange {
  kind: ResourceKind;
  key: string;
  status: ChangeStatus;
  fromHash: string | null;
  toHash: string | null;
  fromApp: string | null;
  toApp: string | null;
}

/** Per-resource differences from one snapshot to another, ordered by resource id. */
export function compareSnapshots(from: Snapshot, to: Snapshot): ResourceChange[] {
  const ids = new Set([...from.keys(), ...to.keys()]);
  const changes: ResourceChange[] = [];
  for (const id of [...ids].sort()) {
    const a = from.get(id);
    const b = to.get(id);
    if (a && b && a.hash === b.hash && a.app === b.app) continue;
    const entry = (a ?? b)!;
    changes.push({
      kind: entry.kind,
      key: entry.key,
      status: !a ? 'added' : !b ? 'removed' : 'changed',
      fromHash: a?.hash ?? null,
      toHash: b?.hash ?? null,
      fromApp: a?.app ?? null,
      toApp: b?.app ?? null,
    });
  }
  return changes;
}

/** A tree diff (src/domain/releases/tree.ts) as resource changes, in its (kind, key) order. */
export function treeChanges(changes: EntryChange[]): ResourceChange[] {
  return changes.map(({ id, before, after }) => {
    const { kind, key } = splitResourceId(id);
    return {
      kind: kind as ResourceKind,
      key,
      status: !before ? 'added' : !after ? 'removed' : 'changed',
      fromHash: before?.hash ?? null,
      toHash: after?.hash ?? null,
      fromApp: before?.app ?? null,
      toApp: after?.app ?? null,
    };
  });
}

export { fieldChanges, type FieldChange } from './field-changes.js';
