// The snapshot as a content-addressed prolly tree: chunk boundaries depend only on the keys, so
// equal maps have equal roots whatever their history, and commits and diffs touch O(k · log n) nodes.
import { sha256 } from '../canonical.js';

export interface Entry {
  /** `kind/key` */
  id: string;
  /** Content hash of the resource. */
  hash: string;
  app: string | null;
}

export interface ChildRef {
  /** The smallest id under the child. */
  first: string;
  hash: string;
  /** How many entries the child holds. */
  count: number;
}

export interface LeafNode {
  level: 0;
  entries: Entry[];
}

export interface InternalNode {
  level: number;
  children: ChildRef[];
}

export type TreeNode = LeafNode | InternalNode;

/** A missing hash is an error of the reader: a tree never references a node it did not write. */
export interface NodeReader {
  get(hashes: string[]): Promise<Map<string, TreeNode>>;
}

/** Nodes are immutable and content-addressed, so a store keeps the first copy of a hash. */
export interface NodeWriter {
  put(nodes: Map<string, TreeNode>): Promise<void>;
}

export interface EntryChange {
  id: string;
  before: Entry | null;
  after: Entry | null;
}

/** Boundaries are 1 in Q items on average; MAX caps a chunk when keys are chosen to avoid them. */
const Q = 32;
const MAX = 4 * Q;
/** Entries read per batch when iterating without a limit. */
const PAGE = 4096;
const SLASH = 0x2f;

/**
 * The store's order, (kind, key). Plain string order differs when one kind is a prefix of another
 * followed by `-` or `.` (`a-x/c` < `a/b`), since both sort below `/`; so a `/` still inside the
 * kind sorts below every character.
 */
export function compareIds(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let inKind = true;
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) {
      if (inKind && (ca === SLASH || cb === SLASH)) return ca === SLASH ? -1 : 1;
      return ca < cb ? -1 : 1;
    }
    if (ca === SLASH) inKind = false;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function isLeaf(node: TreeNode): node is LeafNode {
  return node.level === 0;
}

/** Canonical JSON (keys sorted, as `canonicalJson`) of exactly the node's fields. */
export function encodeNode(node: TreeNode): string {
  if (isLeaf(node)) {
    const entries = node.entries.map(
      (e) => `{"app":${JSON.stringify(e.app ?? null)},"hash":${JSON.stringify(e.hash)},"id":${JSON.stringify(e.id)}}`,
    );
    return `{"entries":[${entries.join(',')}],"level":0}`;
  }
  const children = node.children.map(
    (c) => `{"count":${c.count},"first":${JSON.stringify(c.first)},"hash":${JSON.stringify(c.hash)}}`,
  );
  return `{"children":[${children.join(',')}],"level":${node.level}}`;
}

export function nodeHash(node: TreeNode): string {
  return sha256(encodeNode(node));
}

const EMPTY_LEAF: LeafNode = { level: 0, entries: [] };
export const EMPTY_ROOT = nodeHash(EMPTY_LEAF);

// A level's items: entries at level 0, child references above. Keyed by id or by `first`.
type Item = Entry | ChildRef;

function keyOf(level: number, item: Item): string {
  return level === 0 ? (item as Entry).id : (item as ChildRef).first;
}

function itemsOf(node: TreeNode): Item[] {
  return isLeaf(node) ? node.entries : node.children;
}

function countOf(node: TreeNode): number {
  return isLeaf(node) ? node.entries.length : node.children.reduce((sum, child) => sum + child.count, 0);
}

function isBoundary(level: number, key: string): boolean {
  return Number.parseInt(sha256(`${level}:${key}`).slice(0, 8), 16) % Q === 0;
}

/** Index of the child whose range holds `key`: the last one starting at or before it. */
function childIndex(children: ChildRef[], key: string): number {
  let low = 1;
  let high = children.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareIds(children[mid]!.first, key) <= 0) low = mid + 1;
    else high = mid;
  }
  return low - 1;
}

/** Index of the first entry with id ≥ `id` (or > `id` when `strict`). */
function entryIndex(entries: Entry[], id: string, strict = false): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const order = compareIds(entries[mid]!.id, id);
    if (order < 0 || (strict && order === 0)) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Cuts one level's items into nodes as they arrive; every boundary rule lives here. */
class Chunker {
  private items: Item[] = [];

  constructor(
    private readonly level: number,
    private readonly nodes: Map<string, TreeNode>,
    readonly refs: ChildRef[] = [],
  ) {}

  get empty(): boolean {
    return this.items.length === 0;
  }

  push(item: Item): void {
    this.items.push(item);
    if (this.items.length >= MAX || isBoundary(this.level, keyOf(this.level, item))) this.cut();
  }

  /** The last item of a level ends a chunk. */
  finish(): ChildRef[] {
    if (this.items.length > 0) this.cut();
    return this.refs;
  }

  private cut(): void {
    const node: TreeNode =
      this.level === 0
        ? { level: 0, entries: this.items as Entry[] }
        : { level: this.level, children: this.items as ChildRef[] };
    const hash = nodeHash(node);
    this.nodes.set(hash, node);
    this.refs.push({ first: keyOf(this.level, this.items[0]!), hash, count: countOf(node) });
    this.items = [];
  }
}

function chunkLevel(level: number, items: Item[], nodes: Map<string, TreeNode>): ChildRef[] {
  const chunker = new Chunker(level, nodes);
  for (const item of items) chunker.push(item);
  return chunker.finish();
}

/** Stacks levels on `refs` (nodes of level - 1) until a level has one node, and returns it. */
function stackLevels(refs: ChildRef[], level: number, nodes: Map<string, TreeNode>): string {
  while (refs.length > 1) refs = chunkLevel(level++, refs, nodes);
  return refs[0]!.hash;
}

function toEntry(entry: Entry): Entry {
  return { id: entry.id, hash: entry.hash, app: entry.app ?? null };
}

/** The tree of a whole map, for a first commit or a check. A later entry for an id wins. */
export function buildTree(entries: Iterable<Entry>): { root: string; nodes: Map<string, TreeNode> } {
  const sorted = [...entries].map(toEntry).sort((a, b) => compareIds(a.id, b.id));
  const unique: Entry[] = [];
  for (const entry of sorted) {
    if (unique.length > 0 && unique[unique.length - 1]!.id === entry.id) unique[unique.length - 1] = entry;
    else unique.push(entry);
  }
  const nodes = new Map<string, TreeNode>();
  if (unique.length === 0) return { root: EMPTY_ROOT, nodes: new Map([[EMPTY_ROOT, EMPTY_LEAF]]) };
  return { root: stackLevels(chunkLevel(0, unique, nodes), 1, nodes), nodes };
}

/** Reads each node once per operation, in batches. */
class NodeCache {
  readonly nodes = new Map<string, TreeNode>();

  constructor(private readonly reader: NodeReader) {}

  async load(hashes: Iterable<string>): Promise<TreeNode[]> {
    const wanted = [...hashes];
    const missing = [...new Set(wanted.filter((hash) => !this.nodes.has(hash)))];
    if (missing.length > 0) {
      const found = await this.reader.get(missing);
      for (const hash of missing) {
        const node = found.get(hash);
        if (!node) throw new Error(`tree node ${hash} is missing`);
        this.nodes.set(hash, node);
      }
    }
    return wanted.map((hash) => this.nodes.get(hash)!);
  }

  async one(hash: string): Promise<TreeNode> {
    return this.nodes.get(hash) ?? (await this.load([hash]))[0]!;
  }
}

/** A node of the old tree at some level, with the path of internal nodes above it. */
interface Cursor {
  ref: ChildRef;
  path: { node: InternalNode; index: number }[];
}

/** The old tree an update re-chunks: finds the node holding a key at a level, and its neighbours. */
class OldTree {
  constructor(
    readonly cache: NodeCache,
    readonly rootRef: ChildRef,
    readonly height: number,
  ) {}

  async seek(level: number, key: string): Promise<Cursor> {
    const path: Cursor['path'] = [];
    let ref = this.rootRef;
    for (let at = this.height; at > level; at--) {
      const node = (await this.cache.one(ref.hash)) as InternalNode;
      const index = childIndex(node.children, key);
      path.push({ node, index });
      ref = node.children[index]!;
    }
    return { ref, path };
  }

  /** The key where the next node at the cursor's level starts, or null for the level's last node. */
  rangeEnd(cursor: Cursor): string | null {
    for (let d = cursor.path.length - 1; d >= 0; d--) {
      const { node, index } = cursor.path[d]!;
      if (index + 1 < node.children.length) return node.children[index + 1]!.first;
    }
    return null;
  }

  async next(cursor: Cursor): Promise<Cursor | null> {
    let d = cursor.path.length - 1;
    while (d >= 0 && cursor.path[d]!.index + 1 >= cursor.path[d]!.node.children.length) d--;
    if (d < 0) return null;
    const { node, index } = cursor.path[d]!;
    const path = [...cursor.path.slice(0, d), { node, index: index + 1 }];
    let ref = node.children[index + 1]!;
    while (path.length < cursor.path.length) {
      const below = (await this.cache.one(ref.hash)) as InternalNode;
      path.push({ node: below, index: 0 });
      ref = below.children[0]!;
    }
    return { ref, path };
  }
}

/** Set the item at `key`, or remove it (null). */
interface Edit {
  key: string;
  item: Item | null;
}

/**
 * Applies sorted edits to one level of the old tree. A run starts at the node holding its first
 * edit (a chunk start that edits to its right cannot move) and consumes old nodes until a new
 * chunk ends where an old node ended: from there both chunkings coincide up to the next edit,
 * where the next run starts. Returns the old nodes replaced and the new ones, in order.
 */
async function rechunkLevel(
  tree: OldTree,
  level: number,
  edits: Edit[],
  created: Map<string, TreeNode>,
): Promise<{ removed: ChildRef[]; added: ChildRef[] }> {
  const removed: ChildRef[] = [];
  const chunker = new Chunker(level, created);
  let e = 0;
  while (e < edits.length) {
    let cursor: Cursor | null = await tree.seek(level, edits[e]!.key);
    while (cursor) {
      const items = itemsOf(await tree.cache.one(cursor.ref.hash));
      const end = tree.rangeEnd(cursor);
      let i = 0;
      for (;;) {
        const edit = e < edits.length && (end === null || compareIds(edits[e]!.key, end) < 0) ? edits[e]! : null;
        const item = items[i];
        if (!edit && !item) break;
        const order = !edit ? 1 : !item ? -1 : compareIds(edit.key, keyOf(level, item));
        if (order <= 0) {
          if (order === 0) i++;
          if (edit!.item) chunker.push(edit!.item);
          e++;
        } else {
          chunker.push(item!);
          i++;
        }
      }
      removed.push(cursor.ref);
      if (end === null) chunker.finish();
      cursor = end === null || chunker.empty ? null : await tree.next(cursor);
    }
  }
  return { removed, added: chunker.refs };
}

/** One level's replaced nodes as edits of the level above; a node rebuilt unchanged is no edit. */
function parentEdits(removed: ChildRef[], added: ChildRef[]): Edit[] {
  const edits = new Map<string, Edit>();
  const before = new Map<string, string>();
  for (const ref of removed) {
    edits.set(ref.first, { key: ref.first, item: null });
    before.set(ref.first, ref.hash);
  }
  for (const ref of added) {
    if (before.get(ref.first) === ref.hash) edits.delete(ref.first);
    else edits.set(ref.first, { key: ref.first, item: ref });
  }
  return [...edits.values()].sort((a, b) => compareIds(a.key, b.key));
}

/** Loads the root-to-leaf path of every key, one batch per level. */
async function loadPaths(cache: NodeCache, root: string, keys: string[]): Promise<void> {
  let frontier = new Map<string, string[]>([[root, keys]]);
  for (;;) {
    const nodes = await cache.load(frontier.keys());
    if (isLeaf(nodes[0]!)) return;
    const next = new Map<string, string[]>();
    for (const [hash, under] of frontier) {
      const { children } = cache.nodes.get(hash) as InternalNode;
      for (const key of under) {
        const child = children[childIndex(children, key)]!.hash;
        const list = next.get(child);
        if (list) list.push(key);
        else next.set(child, [key]);
      }
    }
    frontier = next;
  }
}

/**
 * The tree with `changes` applied (id → entry, or null to delete), and the nodes it adds. Gives
 * the root `buildTree` gives for the same map.
 */
export async function updateTree(
  reader: NodeReader,
  root: string,
  changes: Map<string, Entry | null>,
): Promise<TreeUpdate> {
  const edits: Edit[] = [];
  for (const [id, entry] of changes) {
    if (entry && entry.id !== id) throw new TypeError(`the change for ${id} carries the entry of ${entry.id}`);
    edits.push({ key: id, item: entry && toEntry(entry) });
  }
  edits.sort((a, b) => compareIds(a.key, b.key));
  if (root === EMPTY_ROOT) {
    const added = edits.flatMap((edit) => (edit.item ? [edit.item as Entry] : []));
    return added.length > 0 ? { ...buildTree(added), replaced: new Map() } : { root, nodes: new Map(), replaced: new Map() };
  }
  if (edits.length === 0) return { root, nodes: new Map(), replaced: new Map() };

  const cache = new NodeCache(reader);
  const top = await cache.one(root);
  await loadPaths(cache, root, edits.map((edit) => edit.key));
  const tree = new OldTree(cache, { first: '', hash: root, count: countOf(top) }, top.level);
  const created = new Map<string, TreeNode>();
  const replaced = new Map<string, string>();
  let levelEdits = edits;
  for (let level = 0; level < top.level; level++) {
    const { removed, added } = await rechunkLevel(tree, level, levelEdits, created);
    pairReplaced(removed, added, replaced);
    levelEdits = parentEdits(removed, added);
    if (levelEdits.length === 0) return { root, nodes: new Map(), replaced: new Map() };
  }
  const { removed, added } = await rechunkLevel(tree, top.level, levelEdits, created);
  pairReplaced(removed, added, replaced);

  let next: string;
  if (added.length === 0) {
    next = EMPTY_ROOT;
    created.set(EMPTY_ROOT, EMPTY_LEAF);
  } else if (added.length > 1) {
    next = stackLevels(added, top.level + 1, created);
  } else {
    // A root with one child is not a root: the top is the lowest level with one node.
    next = added[0]!.hash;
    for (;;) {
      const node = created.get(next) ?? (await cache.one(next));
      if (isLeaf(node) || node.children.length > 1) break;
      next = node.children[0]!.hash;
    }
  }
  const nodes = newNodes(next, created, cache);
  for (const hash of replaced.keys()) if (!nodes.has(hash)) replaced.delete(hash);
  return { root: next, nodes, replaced };
}

export interface TreeUpdate {
  root: string;
  /** The nodes the new tree has and the old one lacks. */
  nodes: Map<string, TreeNode>;
  /** For new nodes that took an old node's place: that node (a storage may keep the new one as a delta of it). */
  replaced: Map<string, string>;
}

/** Each new node of a level replaces the old node whose range it starts in (or the first one). */
function pairReplaced(removed: ChildRef[], added: ChildRef[], replaced: Map<string, string>) {
  if (removed.length === 0) return;
  const old = [...removed].sort((a, b) => compareIds(a.first, b.first));
  let k = 0;
  for (const ref of [...added].sort((a, b) => compareIds(a.first, b.first))) {
    while (k + 1 < old.length && compareIds(old[k + 1]!.first, ref.first) <= 0) k++;
    if (old[k]!.hash !== ref.hash) replaced.set(ref.hash, old[k]!.hash);
  }
}

/** The created nodes the new root reaches that the old tree did not have. */
function newNodes(root: string, created: Map<string, TreeNode>, old: NodeCache): Map<string, TreeNode> {
  const nodes = new Map<string, TreeNode>();
  const stack = [root];
  while (stack.length > 0) {
    const hash = stack.pop()!;
    const node = created.get(hash);
    if (!node || old.nodes.has(hash) || nodes.has(hash)) continue;
    nodes.set(hash, node);
    if (!isLeaf(node)) for (const child of node.children) stack.push(child.hash);
  }
  return nodes;
}

export async function getEntry(reader: NodeReader, root: string, id: string): Promise<Entry | null> {
  if (root === EMPTY_ROOT) return null;
  const cache = new NodeCache(reader);
  let node = await cache.one(root);
  while (!isLeaf(node)) node = await cache.one(node.children[childIndex(node.children, id)]!.hash);
  const entry = node.entries[entryIndex(node.entries, id)];
  return entry && entry.id === id ? entry : null;
}

/** The entries of those ids that are present, reading the paths they share once, a level at a time. */
export async function getEntries(reader: NodeReader, root: string, ids: string[]): Promise<Map<string, Entry>> {
  const found = new Map<string, Entry>();
  if (root === EMPTY_ROOT || ids.length === 0) return found;
  const cache = new NodeCache(reader);
  let frontier = new Map<string, string[]>([[root, [...new Set(ids)]]]);
  while (frontier.size > 0) {
    await cache.load(frontier.keys());
    const next = new Map<string, string[]>();
    for (const [hash, under] of frontier) {
      const node = cache.nodes.get(hash)!;
      for (const id of under) {
        if (isLeaf(node)) {
          const entry = node.entries[entryIndex(node.entries, id)];
          if (entry && entry.id === id) found.set(id, entry);
          continue;
        }
        const child = node.children[childIndex(node.children, id)]!.hash;
        const list = next.get(child);
        if (list) list.push(id);
        else next.set(child, [id]);
      }
    }
    frontier = next;
  }
  return found;
}

/** The leading refs whose entries cover `wanted` entries. */
function covering(refs: ChildRef[], wanted: number): ChildRef[] {
  let taken = 0;
  let total = 0;
  while (taken < refs.length && total < wanted) total += refs[taken++]!.count;
  return refs.slice(0, taken);
}

/** The entries of the leaves under `refs` (nodes of one level) that hold the first `wanted`, read a level at a time. */
async function leadingEntries(reader: NodeReader, refs: ChildRef[], wanted: number): Promise<Entry[]> {
  const cache = new NodeCache(reader);
  for (;;) {
    const nodes = await cache.load(covering(refs, wanted).map((ref) => ref.hash));
    if (nodes.length === 0 || isLeaf(nodes[0]!)) return nodes.flatMap((node) => (node as LeafNode).entries);
    refs = nodes.flatMap((node) => (node as InternalNode).children);
  }
}

/** Entries in id order after `after`, reading the path to it and then only the nodes the page needs. */
export async function* iterateEntries(
  reader: NodeReader,
  root: string,
  after: string | null = null,
  limit = Infinity,
): AsyncGenerator<Entry> {
  if (root === EMPTY_ROOT || limit <= 0) return;
  let remaining = limit;
  const cache = new NodeCache(reader);
  // The nodes right of the path, per level, lowest last: they follow the path's leaf in order.
  const right: ChildRef[][] = [];
  let node = await cache.one(root);
  while (!isLeaf(node)) {
    const index = after === null ? 0 : childIndex(node.children, after);
    right.push(node.children.slice(index + 1));
    node = await cache.one(node.children[index]!.hash);
  }
  for (let i = after === null ? 0 : entryIndex(node.entries, after, true); i < node.entries.length; i++) {
    yield node.entries[i]!;
    if (--remaining === 0) return;
  }
  for (let d = right.length - 1; d >= 0; d--) {
    let refs = right[d]!;
    while (refs.length > 0) {
      const wanted = Math.min(remaining, PAGE);
      const page = covering(refs, wanted);
      refs = refs.slice(page.length);
      for (const entry of await leadingEntries(reader, page, wanted)) {
        yield entry;
        if (--remaining === 0) return;
      }
    }
  }
}

export async function countEntries(reader: NodeReader, root: string): Promise<number> {
  if (root === EMPTY_ROOT) return 0;
  return countOf(await new NodeCache(reader).one(root));
}

/** Every entry in id order, one read per level. */
export async function loadAll(reader: NodeReader, root: string): Promise<Entry[]> {
  if (root === EMPTY_ROOT) return [];
  const cache = new NodeCache(reader);
  let nodes = await cache.load([root]);
  while (!isLeaf(nodes[0]!)) {
    nodes = await cache.load(nodes.flatMap((node) => (node as InternalNode).children.map((child) => child.hash)));
  }
  return nodes.flatMap((node) => (node as LeafNode).entries);
}

/** A stretch of one side of a diff: a subtree not yet read, or an entry. */
type Part = { ref: ChildRef; level: number } | { entry: Entry };

function partKey(part: Part): string {
  return 'entry' in part ? part.entry.id : part.ref.first;
}

/** Both sides without the subtrees they share (same first key and hash). */
function dropShared(left: Part[], right: Part[]): [Part[], Part[]] {
  const l: Part[] = [];
  const r: Part[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    const a = left[i]!;
    const b = right[j]!;
    const order = compareIds(partKey(a), partKey(b));
    if (order === 0 && 'ref' in a && 'ref' in b && a.ref.hash === b.ref.hash) {
      i++;
      j++;
      continue;
    }
    if (order <= 0) l.push(left[i++]!);
    if (order >= 0) r.push(right[j++]!);
  }
  return [l.concat(left.slice(i)), r.concat(right.slice(j))];
}

function partsOf(node: TreeNode): Part[] {
  return isLeaf(node)
    ? node.entries.map((entry) => ({ entry }))
    : node.children.map((ref) => ({ ref, level: node.level - 1 }));
}

/**
 * The entries that differ from `a` to `b`, in id order. Both sides are opened a level at a time,
 * highest first, and subtrees present on both sides are dropped unread.
 */
export async function diffTrees(reader: NodeReader, a: string, b: string): Promise<EntryChange[]> {
  if (a === b) return [];
  const cache = new NodeCache(reader);
  const roots = await cache.load([a, b].filter((root) => root !== EMPTY_ROOT));
  let left = a === EMPTY_ROOT ? [] : partsOf(roots[0]!);
  let right = b === EMPTY_ROOT ? [] : partsOf(roots[roots.length - 1]!);
  for (;;) {
    [left, right] = dropShared(left, right);
    let level = -1;
    for (const part of [...left, ...right]) if ('level' in part && part.level > level) level = part.level;
    if (level < 0) break;
    const open = (parts: Part[]) => parts.filter((part) => 'level' in part && part.level === level);
    await cache.load([...open(left), ...open(right)].map((part) => (part as { ref: ChildRef }).ref.hash));
    const expand = (parts: Part[]) =>
      parts.flatMap((part) => ('level' in part && part.level === level ? partsOf(cache.nodes.get(part.ref.hash)!) : [part]));
    left = expand(left);
    right = expand(right);
  }

  const changes: EntryChange[] = [];
  const before = left.map((part) => (part as { entry: Entry }).entry);
  const after = right.map((part) => (part as { entry: Entry }).entry);
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const x = before[i];
    const y = after[j];
    const order = !x ? 1 : !y ? -1 : compareIds(x.id, y.id);
    if (order < 0) changes.push({ id: x!.id, before: x!, after: null });
    else if (order > 0) changes.push({ id: y!.id, before: null, after: y! });
    else if (x!.hash !== y!.hash || x!.app !== y!.app) changes.push({ id: x!.id, before: x!, after: y! });
    if (order <= 0) i++;
    if (order >= 0) j++;
  }
  return changes;
}

/**
 * Every node hash under `root`, a level at a time (leaves are named by their parents, not read).
 * Hashes in `seen` are skipped with their subtrees, and yielded ones are added, so a walk over
 * many roots reads each shared subtree once.
 */
export async function* reachableNodes(
  reader: NodeReader,
  root: string,
  seen: Set<string> = new Set(),
): AsyncGenerator<string> {
  if (seen.has(root)) return;
  seen.add(root);
  yield root;
  if (root === EMPTY_ROOT) return;
  const cache = new NodeCache(reader);
  let frontier = [root];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const node of await cache.load(frontier)) {
      if (isLeaf(node)) continue;
      for (const { hash } of node.children) {
        if (seen.has(hash)) continue;
        seen.add(hash);
        yield hash;
        if (node.level > 1) next.push(hash);
      }
    }
    frontier = next;
  }
}
