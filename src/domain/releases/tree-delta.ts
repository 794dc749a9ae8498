// Tree nodes stored as deltas. A commit of one change rewrites one node per level, each differing
// from the node it replaces in an item or two; storing every version whole would cost a full node
// per level per release. A node is stored instead as its difference from a whole node (its
// keyframe): the items of a slice of the keyframe that it drops, and those it adds or replaces.
// Every delta names a keyframe directly, never another delta, so a read costs at most one more
// node; a delta that grows past a fraction of its node's size is stored whole and becomes the
// keyframe of the next versions (as video codecs and git's packs bound their chains).
import { compareIds, encodeNode, type ChildRef, type Entry, type TreeNode } from './tree.js';

/**
 * Items are written compactly: hashes (SHA-256 hex) as base64url, an item whose key the
 * keyframe holds by its index there, with only its hash and app (or count).
 */
export interface NodeDelta {
  level: number;
  /** The keyframe's items [from, to) are the ones this node may keep. */
  from: number;
  to: number;
  /** Indexes (in the keyframe) of items of that slice this node lacks. */
  drop: number[];
  /** Items of that slice this node holds differently: [index, hash, app or count]. */
  set: [number, string, string | number | null][];
  /** Items the keyframe lacks, in key order: [key, hash, app or count]. */
  add: [string, string, string | number | null][];
}

/** A delta larger than this share of the whole node's encoding is not worth keeping. */
export const DELTA_MAX_SHARE = 0.2;

const HEX_HASH = /^[0-9a-f]{64}$/;

/** SHA-256 hex as base64url (43 characters); anything else kept, marked by a leading `=`. */
function packHash(hash: string): string {
  return HEX_HASH.test(hash) ? Buffer.from(hash, 'hex').toString('base64url') : `=${hash}`;
}

function unpackHash(packed: string): string {
  return packed.startsWith('=') ? packed.slice(1) : Buffer.from(packed, 'base64url').toString('hex');
}

type Item = Entry | ChildRef;

function keyOf(level: number, item: Item): string {
  return level === 0 ? (item as Entry).id : (item as ChildRef).first;
}

function itemsOf(node: TreeNode): Item[] {
  return node.level === 0 ? (node as { entries: Entry[] }).entries : (node as { children: ChildRef[] }).children;
}

function sameItem(a: Item, b: Item): boolean {
  if ('id' in a) return a.id === (b as Entry).id && a.hash === (b as Entry).hash && a.app === (b as Entry).app;
  return a.first === (b as ChildRef).first && a.hash === (b as ChildRef).hash && a.count === (b as ChildRef).count;
}

/** Index of the first item whose key is not below `key`. */
function lowerBound(items: Item[], level: number, key: string): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareIds(keyOf(level, items[mid]!), key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `node` as a delta from `keyframe`, or null when they are not of one level or nothing is shared. */
export function nodeDelta(keyframe: TreeNode, node: TreeNode): NodeDelta | null {
  if (keyframe.level !== node.level) return null;
  const level = node.level;
  const base = itemsOf(keyframe);
  const items = itemsOf(node);
  if (base.length === 0 || items.length === 0) return null;
  const from = lowerBound(base, level, keyOf(level, items[0]!));
  const last = keyOf(level, items[items.length - 1]!);
  let to = lowerBound(base, level, last);
  if (to < base.length && keyOf(level, base[to]!) === last) to++;
  const drop: number[] = [];
  const set: NodeDelta['set'] = [];
  const add: NodeDelta['add'] = [];
  let i = from;
  let j = 0;
  while (i < to || j < items.length) {
    const a = i < to ? base[i]! : undefined;
    const b = items[j];
    const order = !a ? 1 : !b ? -1 : compareIds(keyOf(level, a), keyOf(level, b));
    if (order < 0) drop.push(i);
    else if (order > 0) add.push([keyOf(level, b!), packHash(b!.hash), extraOf(b!)]);
    else if (!sameItem(a!, b!)) set.push([i, packHash(b!.hash), extraOf(b!)]);
    if (order <= 0) i++;
    if (order >= 0) j++;
  }
  if (add.length + set.length === items.length) return null;
  return { level, from, to, drop, set, add };
}

function extraOf(item: Item): string | number | null {
  return 'id' in item ? item.app : item.count;
}

function itemOf(level: number, key: string, hash: string, extra: string | number | null): Item {
  return level === 0 ? { id: key, hash, app: extra as string | null } : { first: key, hash, count: extra as number };
}

/** The node a delta describes, from its keyframe. */
export function applyDelta(keyframe: TreeNode, delta: NodeDelta): TreeNode {
  if (keyframe.level !== delta.level) throw new Error(`a level-${delta.level} delta cannot apply to a level-${keyframe.level} node`);
  const level = delta.level;
  const base = itemsOf(keyframe);
  const dropped = new Set(delta.drop);
  const changed = new Map(delta.set.map(([index, hash, extra]) => [index, { hash, extra }]));
  const kept: Item[] = [];
  for (let i = delta.from; i < delta.to; i++) {
    if (dropped.has(i)) continue;
    const item = base[i]!;
    const change = changed.get(i);
    kept.push(change ? itemOf(level, keyOf(level, item), unpackHash(change.hash), change.extra) : item);
  }
  const added = delta.add.map(([key, hash, extra]) => itemOf(level, key, unpackHash(hash), extra));
  const items: Item[] = [];
  let i = 0;
  let j = 0;
  while (i < kept.length || j < added.length) {
    const a = kept[i];
    const b = added[j];
    if (b === undefined || (a !== undefined && compareIds(keyOf(level, a), keyOf(level, b)) < 0)) {
      items.push(a!);
      i++;
    } else {
      items.push(b);
      j++;
    }
  }
  return level === 0 ? { level: 0, entries: items as Entry[] } : { level, children: items as ChildRef[] };
}

/** Whether storing `delta` instead of the whole `node` is worth it. */
export function deltaWorthIt(node: TreeNode, delta: NodeDelta): boolean {
  return JSON.stringify(delta).length <= DELTA_MAX_SHARE * encodeNode(node).length;
}
