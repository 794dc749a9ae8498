import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, sha256 } from '../canonical.js';
import {
  buildTree,
  compareIds,
  countEntries,
  diffTrees,
  EMPTY_ROOT,
  encodeNode,
  getEntries,
  getEntry,
  iterateEntries,
  loadAll,
  nodeHash,
  reachableNodes,
  updateTree,
  type Entry,
  type EntryChange,
  type NodeReader,
  type NodeWriter,
  type TreeNode,
} from './tree.js';

// The chunking rule written again from its definition, so the tests do not trust the module's copy.
const MAX = 128;
function boundary(level: number, key: string): boolean {
  return createHash('sha256').update(`${level}:${key}`).digest().readUInt32BE(0) % 32 === 0;
}

/** (kind, key) order, as the store pages. */
function byId(a: string, b: string): number {
  const i = a.indexOf('/');
  const j = b.indexOf('/');
  const [ka, kb] = [a.slice(0, i), b.slice(0, j)];
  if (ka !== kb) return ka < kb ? -1 : 1;
  const [x, y] = [a.slice(i + 1), b.slice(j + 1)];
  return x === y ? 0 : x < y ? -1 : 1;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') for (const inner of Object.values(value)) deepFreeze(inner);
  return Object.freeze(value);
}

/**
 * Nodes as a store returns them: parsed from their encoding (so they survive JSON) and frozen
 * (so the tree code cannot edit what it read).
 */
class MemoryStore implements NodeReader, NodeWriter {
  private readonly nodes = new Map<string, TreeNode>();
  reads = 0;

  async get(hashes: string[]): Promise<Map<string, TreeNode>> {
    this.reads += hashes.length;
    const found = new Map<string, TreeNode>();
    for (const hash of hashes) {
      const node = this.nodes.get(hash);
      if (!node) throw new Error(`no node ${hash}`);
      found.set(hash, node);
    }
    return found;
  }

  async put(nodes: Map<string, TreeNode>): Promise<void> {
    for (const [hash, node] of nodes) {
      const text = encodeNode(node);
      if (sha256(text) !== hash) throw new Error(`node ${hash} is not addressed by its content`);
      if (!this.nodes.has(hash)) this.nodes.set(hash, deepFreeze(JSON.parse(text) as TreeNode));
    }
  }

  /** Reads made by `run`. */
  async counting<T>(run: () => Promise<T>): Promise<{ value: T; reads: number }> {
    const start = this.reads;
    const value = await run();
    return { value, reads: this.reads - start };
  }
}

type Model = Map<string, Entry>;

function sorted(model: Model): Entry[] {
  return [...model.values()].sort((a, b) => byId(a.id, b.id));
}

function applyChanges(model: Model, changes: Map<string, Entry | null>): Model {
  const next = new Map(model);
  for (const [id, entry] of changes) {
    if (entry) next.set(id, entry);
    else next.delete(id);
  }
  return next;
}

function naiveDiff(a: Model, b: Model): EntryChange[] {
  const ids = [...new Set([...a.keys(), ...b.keys()])].sort(byId);
  return ids.flatMap((id) => {
    const before = a.get(id) ?? null;
    const after = b.get(id) ?? null;
    if (before && after && before.hash === after.hash && before.app === after.app) return [];
    return [{ id, before, after }];
  });
}

/** Entries as text, for comparisons: deep equality over hundreds of entries a batch is slow. */
function lines(entries: Entry[]): string {
  return entries.map((e) => `${e.id} ${e.hash} ${e.app} ${Object.keys(e).length}`).join('\n');
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function stored(entries: Iterable<Entry>): Promise<{ store: MemoryStore; root: string }> {
  const store = new MemoryStore();
  const { root, nodes } = buildTree(entries);
  await store.put(nodes);
  return { store, root };
}

async function update(store: MemoryStore, root: string, changes: Map<string, Entry | null>) {
  const { value, reads } = await store.counting(() => updateTree(store, root, changes));
  await store.put(value.nodes);
  return { root: value.root, written: value.nodes.size, reads, nodes: value.nodes };
}

/**
 * Checks every node against the chunking rule directly: within a level only a node's last item
 * may be a boundary, a node that is not its level's last ends at a boundary or at MAX items,
 * references carry the child's first id and count, and the root has more than one child.
 */
async function checkShape(store: MemoryStore, root: string, entries: Entry[]): Promise<{ depth: number; leaves: number[] }> {
  if (root === EMPTY_ROOT) {
    expect(entries).toEqual([]);
    return { depth: 0, leaves: [] };
  }
  const problems: string[] = [];
  const top = (await store.get([root])).get(root)!;
  if ('children' in top && top.children.length < 2) problems.push('the root has one child');
  let list = [top];
  for (let at = top.level; ; at--) {
    list.forEach((node, n) => {
      const keys = 'entries' in node ? node.entries.map((e) => e.id) : node.children.map((c) => c.first);
      const cut = keys.map((key) => boundary(at, key));
      if (node.level !== at) problems.push(`a node of level ${node.level} at level ${at}`);
      if (keys.length === 0 || keys.length > MAX) problems.push(`a node of ${keys.length} items at level ${at}`);
      if (cut.slice(0, -1).includes(true)) problems.push(`a boundary inside node ${n} of level ${at}`);
      if (n < list.length - 1 && !cut[cut.length - 1] && keys.length !== MAX) problems.push(`node ${n} of level ${at} ends early`);
    });
    if (at === 0) {
      expect(problems).toEqual([]);
      expect(lines(list.flatMap((node) => ('entries' in node ? node.entries : [])))).toBe(lines(entries));
      return { depth: top.level, leaves: list.map((node) => ('entries' in node ? node.entries.length : 0)) };
    }
    const refs = list.flatMap((node) => ('children' in node ? node.children : []));
    const children = await store.get(refs.map((ref) => ref.hash));
    // Counts by induction: the child's own references are checked on the next level down.
    for (const ref of refs) {
      const child = children.get(ref.hash)!;
      const count = 'entries' in child ? child.entries.length : child.children.reduce((sum, c) => sum + c.count, 0);
      const first = 'entries' in child ? child.entries[0]?.id : child.children[0]?.first;
      if (ref.count !== count || ref.first !== first) problems.push(`the reference to ${ref.hash} says ${ref.first}/${ref.count}`);
    }
    list = refs.map((ref) => children.get(ref.hash)!);
  }
}

/** Ids whose chunking is chosen, found by search: they make small maps deep and nodes uneven. */
function findIds(prefix: string, count: number, wanted: (id: string) => boolean): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) if (wanted(`${prefix}${i}`)) ids.push(`${prefix}${i}`);
  return ids;
}

const POOL = [
  ...findIds('tool/e', 150, (id) => boundary(0, id)),
  ...findIds('route/f', 40, (id) => boundary(0, id) && boundary(1, id)),
  ...findIds('config/g', 40, (id) => boundary(1, id)),
  ...findIds('layout/h', 20, (id) => boundary(1, id) && boundary(2, id)),
  ...findIds('a/i', 20, (id) => boundary(2, id)),
];
// Contiguous ids (one kind of their own) that never end a leaf: large maps get leaves cut at MAX.
const UNCUT = findIds('workflow/n', 160, (id) => !boundary(0, id));

const KINDS = ['config', 'route', 'tool', 'a', 'a-x', 'a.b'];
const idArb = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...KINDS), fc.string({ unit: fc.constantFrom('a', 'b', '-', '.', '0', 'Z', '_'), minLength: 1, maxLength: 3 })).map(([kind, key]) => `${kind}/${key}`) },
  { weight: 2, arbitrary: fc.constantFrom(...POOL) },
  { weight: 3, arbitrary: fc.constantFrom(...UNCUT) },
);
const valueArb = fc.record({ hash: fc.constantFrom('h1', 'h2', 'h3'), app: fc.constantFrom(null, 'web', 'api') });
const modelArb = (maxLength: number): fc.Arbitrary<Model> =>
  fc.array(fc.tuple(idArb, valueArb), { maxLength, size: 'max' }).map((pairs) => new Map(pairs.map(([id, v]) => [id, { id, ...v }])));

/** A batch of changes, naming new ids or present ones (by index) so that both kinds happen. */
type BatchSpec =
  | { kind: 'random'; items: [{ id: string } | { existing: number }, { hash: string; app: string | null } | null][] }
  | { kind: 'range'; start: number; length: number };
const batchArb: fc.Arbitrary<BatchSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('random' as const),
      items: fc.array(
        fc.tuple(fc.oneof(idArb.map((id) => ({ id })), fc.nat().map((existing) => ({ existing }))), fc.option(valueArb, { freq: 3 })),
        { minLength: 1, maxLength: 40, size: 'max' },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('range' as const), start: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }) },
);

function resolve(model: Model, spec: BatchSpec): Map<string, Entry | null> {
  const present = sorted(model).map((e) => e.id);
  const changes = new Map<string, Entry | null>();
  if (spec.kind === 'range') {
    const start = present.length === 0 ? 0 : spec.start % present.length;
    for (const id of present.slice(start, start + spec.length)) changes.set(id, null);
    if (changes.size === 0) changes.set('config/absent', null);
    return changes;
  }
  for (const [target, value] of spec.items) {
    const id = 'id' in target ? target.id : (present[target.existing % Math.max(1, present.length)] ?? 'config/absent');
    changes.set(id, value && { id, ...value });
  }
  return changes;
}

async function expectAgrees(store: MemoryStore, root: string, model: Model, probe: string[], limit: number, after: string) {
  const entries = sorted(model);
  const expected = lines(entries);
  expect(lines(await loadAll(store, root))).toBe(expected);
  expect(root).toBe(buildTree(model.values()).root);
  expect(await countEntries(store, root)).toBe(model.size);
  for (const id of probe.slice(-12)) expect(await getEntry(store, root, id)).toEqual(model.get(id) ?? null);
  const found = await getEntries(store, root, probe);
  expect([...found.keys()].sort(byId)).toEqual([...new Set(probe)].filter((id) => model.has(id)).sort(byId));
  for (const [id, entry] of found) expect(entry).toEqual(model.get(id));

  // Up to eight pages from a random id, each starting after the last one's end; then the rest at once.
  const tail = entries.filter((e) => byId(e.id, after) > 0);
  const pages: Entry[] = [];
  let cursor: string | null = after;
  for (let n = 0; n < 8 && cursor !== null; n++) {
    const page: Entry[] = await collect(iterateEntries(store, root, cursor, limit));
    expect(page.length).toBe(Math.min(limit, tail.length - pages.length));
    pages.push(...page);
    cursor = page.length < limit ? null : page[page.length - 1]!.id;
  }
  if (cursor !== null) pages.push(...(await collect(iterateEntries(store, root, cursor))));
  expect(lines(pages)).toBe(lines(tail));
  expect(lines(await collect(iterateEntries(store, root)))).toBe(expected);
}

describe('ordering', () => {
  it('orders ids by (kind, key), which plain string order does not when a kind prefixes another', () => {
    expect('a-x/c' < 'a/b').toBe(true);
    expect(compareIds('a/b', 'a-x/c')).toBe(-1);
    expect(compareIds('a-x/c', 'a/b')).toBe(1);
    expect(compareIds('a.b/c', 'a/z')).toBe(1);
    expect(compareIds('config/a', 'config/a')).toBe(0);
  });

  it('agrees with (kind, key) order on any ids', () => {
    fc.assert(
      fc.property(idArb, idArb, (a, b) => Math.sign(compareIds(a, b)) === Math.sign(byId(a, b))),
      { numRuns: 2000 },
    );
  });

  it('equals plain string order for the resource kinds, whose names prefix no other', () => {
    // RESOURCE_KINDS, written out: kinds.ts needs the built client package to import.
    const RESOURCE_KINDS = ['workflow', 'layout', 'route', 'tool', 'config'];
    const keyArb = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-', '.', '_'), minLength: 1, maxLength: 4 });
    const realId = fc.tuple(fc.constantFrom(...RESOURCE_KINDS), keyArb).map(([kind, key]) => `${kind}/${key}`);
    fc.assert(
      fc.property(realId, realId, (a, b) => Math.sign(compareIds(a, b)) === Math.sign(a < b ? -1 : a > b ? 1 : 0)),
      { numRuns: 2000 },
    );
  });
});

describe('updateTree', () => {
  it('agrees with the flat map and with buildTree after every batch (500 random histories)', async () => {
    await fc.assert(
      fc.asyncProperty(
        modelArb(600),
        fc.array(batchArb, { minLength: 1, maxLength: 5, size: 'max' }),
        fc.integer({ min: 1, max: 60 }),
        idArb,
        async (initial, batches, limit, after) => {
          let model = initial;
          let { store, root } = await stored(model.values());
          let before = new Set(await collect(reachableNodes(store, root)));
          for (const spec of batches) {
            const changes = resolve(model, spec);
            const next = await update(store, root, changes);
            model = applyChanges(model, changes);
            // The nodes to write are exactly the new tree's nodes that the old one lacks.
            const reachable = new Set(await collect(reachableNodes(store, next.root)));
            expect(new Set(next.nodes.keys())).toEqual(new Set([...reachable].filter((hash) => !before.has(hash))));
            before = reachable;
            root = next.root;
            await expectAgrees(store, root, model, [...changes.keys(), after], limit, after);
          }
          await checkShape(store, root, sorted(model));
        },
      ),
      { numRuns: 500 },
    );
  }, 60_000);

  it('gives equal roots to equal maps whatever order or batches built them, and EMPTY_ROOT when emptied', async () => {
    await fc.assert(
      fc.asyncProperty(modelArb(300), fc.array(fc.nat(), { minLength: 300, maxLength: 300 }), fc.integer({ min: 1, max: 50 }), async (model, order, size) => {
        const entries = [...model.values()];
        const shuffled = entries.map((e, i) => [order[i]!, e] as const).sort((a, b) => a[0] - b[0]).map(([, e]) => e);
        const direct = buildTree(entries).root;
        expect(buildTree(shuffled).root).toBe(direct);
        expect(buildTree([...shuffled].reverse()).root).toBe(direct);

        // Insert in shuffled batches, with detours (a wrong value later corrected), then delete everything.
        const store = new MemoryStore();
        let root = EMPTY_ROOT;
        for (let i = 0; i < shuffled.length; i += size) {
          const batch = shuffled.slice(i, i + size);
          root = (await update(store, root, new Map(batch.map((e) => [e.id, { ...e, hash: 'detour' }])))).root;
          root = (await update(store, root, new Map(batch.map((e) => [e.id, e])))).root;
        }
        expect(root).toBe(direct);
        for (let i = 0; i < shuffled.length; i += size) {
          root = (await update(store, root, new Map(shuffled.slice(i, i + size).map((e) => [e.id, null])))).root;
        }
        expect(root).toBe(EMPTY_ROOT);
        expect(await loadAll(store, root)).toEqual([]);
        expect(await countEntries(store, root)).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it('writes nothing when a batch changes nothing', async () => {
    const model = new Map(POOL.slice(0, 200).map((id) => [id, { id, hash: 'h', app: null }]));
    const { store, root } = await stored(model.values());
    const same = await updateTree(store, root, new Map([...model].slice(0, 30).map(([id, e]) => [id, { ...e }])));
    expect(same).toEqual({ root, nodes: new Map(), replaced: new Map() });
    expect(await updateTree(store, root, new Map([['config/absent', null]]))).toEqual({ root, nodes: new Map(), replaced: new Map() });
    expect(await updateTree(store, EMPTY_ROOT, new Map([['config/absent', null]]))).toEqual({ root: EMPTY_ROOT, nodes: new Map(), replaced: new Map() });
  });

  it('refuses a change whose entry names another id', async () => {
    const { store, root } = await stored([{ id: 'config/a', hash: 'h', app: null }]);
    await expect(updateTree(store, root, new Map([['config/a', { id: 'config/b', hash: 'h', app: null }]]))).rejects.toThrow(
      'the change for config/a carries the entry of config/b',
    );
  });
});

describe('diffTrees', () => {
  it('equals the naive diff of the two maps, both ways', async () => {
    await fc.assert(
      fc.asyncProperty(modelArb(400), batchArb, batchArb, async (base, specA, specB) => {
        const a = applyChanges(base, resolve(base, specA));
        const b = applyChanges(base, resolve(base, specB));
        const store = new MemoryStore();
        const trees = [buildTree(a.values()), buildTree(b.values())];
        for (const tree of trees) await store.put(tree.nodes);
        const [ra, rb] = trees.map((tree) => tree.root) as [string, string];
        expect(await diffTrees(store, ra, rb)).toEqual(naiveDiff(a, b));
        expect(await diffTrees(store, rb, ra)).toEqual(naiveDiff(b, a));
        expect(await diffTrees(store, ra, ra)).toEqual([]);
        expect(await diffTrees(store, EMPTY_ROOT, ra)).toEqual(naiveDiff(new Map(), a));
        expect(await diffTrees(store, ra, EMPTY_ROOT)).toEqual(naiveDiff(a, new Map()));
      }),
      { numRuns: 200 },
    );
  });
});

describe('costs at 100,000 entries', () => {
  const kinds = ['config', 'layout', 'route', 'tool', 'workflow'];
  const big = new Map<string, Entry>();
  for (let i = 0; i < 100_000; i++) {
    const id = `${kinds[i % 5]}/key-${(i * 7919) % 100_003}`;
    big.set(id, { id, hash: `h${i}`, app: i % 3 === 0 ? 'web' : null });
  }
  const entries = sorted(big);
  const ids = entries.map((e) => e.id);
  // Deterministic picks spread over the map.
  const pick = (n: number) => ids[(n * 48_271) % ids.length]!;
  const set = (id: string, hash = 'h'): [string, Entry] => [id, { id, hash, app: null }];

  // One store for every test: nodes are immutable, so a tree stays readable whatever is added.
  let store: MemoryStore;
  let root: string;
  let depth: number;
  beforeAll(async () => {
    ({ store, root } = await stored(big.values()));
    depth = (await store.get([root])).get(root)!.level;
  });

  it('is chunked by the rule, 2 to 5 levels deep', async () => {
    const { leaves } = await checkShape(store, root, entries);
    expect(depth).toBeGreaterThanOrEqual(2);
    expect(depth).toBeLessThanOrEqual(5);
    expect(Math.max(...leaves)).toBeLessThanOrEqual(MAX);
    expect((await store.counting(() => countEntries(store, root))).reads).toBe(1);
    expect(await countEntries(store, root)).toBe(100_000);
  });

  it('reads depth+1 nodes for one entry, and writes and reads depth+1 for a changed value', async () => {
    for (let n = 0; n < 20; n++) {
      const id = pick(n);
      const { value, reads } = await store.counting(() => getEntry(store, root, id));
      expect(value).toEqual(big.get(id));
      expect(reads).toBe(depth + 1);
      // The key keeps its boundaries, so only its path changes.
      const changed = await update(store, root, new Map([set(id, 'changed')]));
      expect([changed.written, changed.reads]).toEqual([depth + 1, depth + 1]);
    }
  });

  it('writes at most 2·(depth+1) nodes, depth+2 on average, and reads at most 3·depth+6 for one inserted or deleted id', async () => {
    // A leaf cut at MAX moves its cut when it loses or gains an entry, so the next leaf (and, under
    // another parent, the next parent) changes too: two nodes a level at worst, one usually.
    const splits = findIds('route/split-', 10, (id) => boundary(0, id));
    const boundaryIds: string[] = [];
    for (let n = 0; boundaryIds.length < 10; n++) if (boundary(0, pick(n))) boundaryIds.push(pick(n));
    const cases: Map<string, Entry | null>[] = [
      ...Array.from({ length: 20 }, (_, n) => new Map([[pick(n + 100), null]])),
      ...Array.from({ length: 20 }, (_, n) => new Map([set(`tool/new-${n}`)])),
      // Boundary ids split a leaf when inserted and merge two when deleted.
      ...splits.map((id) => new Map([set(id)])),
      ...splits.map((id) => new Map([[id, null]])),
      ...boundaryIds.map((id) => new Map([[id, null]])),
    ];
    const model = new Map(big);
    let current = root;
    const written: number[] = [];
    const reads: number[] = [];
    for (const changes of cases) {
      const next = await update(store, current, changes);
      written.push(next.written);
      reads.push(next.reads);
      current = next.root;
      for (const [id, entry] of changes) {
        if (entry) model.set(id, entry);
        else model.delete(id);
      }
    }
    expect(Math.max(...written)).toBeLessThanOrEqual(2 * (depth + 1));
    expect(written.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(cases.length * (depth + 2));
    expect(Math.max(...reads)).toBeLessThanOrEqual(3 * depth + 6);

    const ten = new Map<string, Entry | null>(Array.from({ length: 10 }, (_, n) => set(pick(n + 500), 'ten')));
    const batch = await update(store, current, ten);
    expect(batch.written).toBeLessThanOrEqual(10 * (depth + 2));
    expect(batch.root).toBe(buildTree(applyChanges(model, ten).values()).root);
    console.info(
      `100k entries, depth ${depth}: one insert or delete wrote ${Math.min(...written)}–${Math.max(...written)} nodes ` +
        `(mean ${(written.reduce((a, b) => a + b, 0) / written.length).toFixed(2)}) and read ${Math.min(...reads)}–${Math.max(...reads)}; ` +
        `10 changed ids wrote ${batch.written} and read ${batch.reads}`,
    );
  });

  it('reads at most 2·(depth+2) nodes to diff trees differing in one entry', async () => {
    const id = pick(7);
    const split = findIds('route/diff-', 1, (key) => boundary(0, key))[0]!;
    const cases: [Map<string, Entry | null>, EntryChange][] = [
      [new Map([set(id, 'other')]), { id, before: big.get(id)!, after: { id, hash: 'other', app: null } }],
      [new Map([[id, null]]), { id, before: big.get(id)!, after: null }],
      [new Map([set(split)]), { id: split, before: null, after: { id: split, hash: 'h', app: null } }],
    ];
    for (const [changes, change] of cases) {
      const other = await update(store, root, changes);
      const { value, reads } = await store.counting(() => diffTrees(store, root, other.root));
      expect(value).toEqual([change]);
      expect(reads).toBeLessThanOrEqual(2 * (depth + 2));
      expect(await diffTrees(store, other.root, root)).toEqual([{ id: change.id, before: change.after, after: change.before }]);
    }
  });

  it('pages from any id reading the path and then only the leaves of the page', async () => {
    for (let n = 0; n < 10; n++) {
      const after = pick(n + 300);
      const { value, reads } = await store.counting(() => collect(iterateEntries(store, root, after, 100)));
      const start = ids.indexOf(after) + 1;
      expect(value).toEqual(entries.slice(start, start + 100));
      // 100 entries lie in a few leaves (7 at most here), plus the internal nodes right of the path.
      expect(reads).toBeLessThanOrEqual(2 * (depth + 1) + 7);
    }
  });
});

describe('chunks capped at MAX', () => {
  const ids = findIds('config/adv-', 5000, (id) => !boundary(0, id));
  const model = new Map(ids.map((id) => [id, { id, hash: 'h', app: null }]));

  it('agrees with buildTree when leaves cut at MAX lie between rare boundaries (random histories)', async () => {
    // Four boundaries among 600 ids: most leaves are cut at MAX, and edits move those cuts.
    const sparse = [...ids.slice(0, 600), ...findIds('config/adv-', 4, (id) => boundary(0, id))];
    const sparseId = fc.constantFrom(...sparse);
    const change = fc.tuple(sparseId, fc.option(fc.constantFrom('h', 'x'), { freq: 2 }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(sparseId, { maxLength: 600, size: 'max' }),
        fc.array(fc.array(change, { minLength: 1, maxLength: 40, size: 'max' }), { minLength: 1, maxLength: 4, size: 'max' }),
        async (initial, batches) => {
          let current: Model = new Map(initial.map((id) => [id, { id, hash: 'h', app: null }]));
          let { store, root } = await stored(current.values());
          for (const batch of batches) {
            const changes = new Map(batch.map(([id, hash]) => [id, hash && { id, hash, app: null }]));
            root = (await update(store, root, changes)).root;
            current = applyChanges(current, changes);
            expect(root).toBe(buildTree(current.values()).root);
          }
          expect(await loadAll(store, root)).toEqual(sorted(current));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('cuts leaves at MAX entries when no id is a boundary, and updates still agree with buildTree', async () => {
    let { store, root } = await stored(model.values());
    const { leaves } = await checkShape(store, root, sorted(model));
    expect(leaves.slice(0, -1).every((count) => count === MAX)).toBe(true);
    expect(leaves.length).toBe(Math.ceil(5000 / MAX));

    let current: Model = model;
    const first = sorted(model)[0]!.id;
    const boundaryId = findIds('config/adv-b', 1, (id) => boundary(0, id))[0]!;
    const front = findIds('a/', 1, (id) => !boundary(0, id))[0]!;
    for (const changes of [
      new Map([[front, { id: front, hash: 'h', app: null }]]), // shifts every forced cut
      new Map([[first, null]]),
      new Map([[boundaryId, { id: boundaryId, hash: 'h', app: null }]]),
      new Map(ids.slice(1000, 1300).map((id) => [id, null])),
      new Map([[boundaryId, null], [ids[4000]!, { id: ids[4000]!, hash: 'x', app: 'web' }]]),
      new Map(ids.slice(0, 4990).map((id) => [id, null])),
    ]) {
      const next = await update(store, root, changes);
      current = applyChanges(current, changes);
      root = next.root;
      expect(root).toBe(buildTree(current.values()).root);
      await checkShape(store, root, sorted(current));
    }
  });
});

describe('node encoding', () => {
  const leaf: TreeNode = { level: 0, entries: [{ id: 'config/a', hash: 'h', app: null }] };
  const internal: TreeNode = { level: 1, children: [{ first: 'config/a', hash: 'x', count: 3 }] };

  it('is the canonical JSON of the node, whatever order its fields were written in', () => {
    expect(encodeNode(leaf)).toBe(canonicalJson(leaf));
    expect(encodeNode(internal)).toBe(canonicalJson(internal));
    const reordered = JSON.parse('{"entries":[{"hash":"h","app":null,"id":"config/a"}],"level":0}') as TreeNode;
    expect(encodeNode(reordered)).toBe(encodeNode(leaf));
    expect(nodeHash(reordered)).toBe(nodeHash(leaf));
    expect(EMPTY_ROOT).toBe(sha256('{"entries":[],"level":0}'));
  });

  it('handles ids that are names of object properties', async () => {
    const special = ['config/__proto__', 'config/constructor', 'config/toString', 'config/hasOwnProperty'];
    const model = new Map(special.map((id) => [id, { id, hash: 'h', app: null }]));
    const { store, root } = await stored(model.values());
    expect(await loadAll(store, root)).toEqual(sorted(model));
    expect(await getEntry(store, root, 'config/__proto__')).toEqual(model.get('config/__proto__'));
    expect(await getEntry(store, root, 'config/prototype')).toBeNull();
    const changes = new Map<string, Entry | null>([['config/__proto__', null], ['config/constructor', { id: 'config/constructor', hash: 'x', app: null }]]);
    const next = await update(store, root, changes);
    const after = applyChanges(model, changes);
    expect(next.root).toBe(buildTree(after.values()).root);
    expect([...(await getEntries(store, next.root, special)).keys()].sort()).toEqual([...after.keys()].sort());
    expect(await diffTrees(store, root, next.root)).toEqual(naiveDiff(model, after));
  });
});

describe('reachableNodes', () => {
  it('yields every node once, without reading leaves or subtrees already seen', async () => {
    const model = new Map(POOL.map((id) => [id, { id, hash: 'h', app: null }]));
    const { store, root } = await stored(model.values());
    const { nodes } = buildTree(model.values());
    const { value, reads } = await store.counting(() => collect(reachableNodes(store, root)));
    expect(new Set(value)).toEqual(new Set(nodes.keys()));
    expect(value.length).toBe(nodes.size);
    const leaves = [...nodes.values()].filter((node) => node.level === 0).length;
    expect(reads).toBe(nodes.size - leaves);

    const other = await update(store, root, new Map([[POOL[0]!, null]]));
    const seen = new Set(value);
    const more = await collect(reachableNodes(store, other.root, seen));
    expect(new Set(more)).toEqual(new Set(other.nodes.keys()));
  });
});
