import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyDelta, deltaWorthIt, nodeDelta } from './tree-delta.js';
import { buildTree, compareIds, encodeNode, nodeHash, updateTree, type Entry, type NodeReader, type TreeNode } from './tree.js';

const hash = (n: number) => n.toString(16).padStart(64, '0');
// Hashes are SHA-256 hex (packed as base64url), except a few that are not (kept as they are).
const entry = (i: number, version = 0): Entry => ({ id: `config/k-${String(i).padStart(5, '0')}`, hash: i % 7 === 6 ? `h${i}.${version}` : hash(i * 1000 + version), app: i % 3 === 0 ? 'web' : null });

function leaf(entries: Entry[]): TreeNode {
  return { level: 0, entries: [...entries].sort((a, b) => compareIds(a.id, b.id)) };
}

function readerOf(nodes: Map<string, TreeNode>): NodeReader {
  return {
    async get(hashes) {
      return new Map(hashes.map((h) => [h, nodes.get(h)!]));
    },
  };
}

describe('node deltas', () => {
  it('rebuild the node exactly, whatever items were kept, dropped, changed or added, and over any slice', () => {
    const ids = fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 60 });
    fc.assert(
      fc.property(ids, ids, fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 10 }), (a, b, changed) => {
        const keyframe = leaf(a.map((i) => entry(i)));
        const node = leaf(b.map((i) => entry(i, changed.includes(i) ? 1 : 0)));
        const delta = nodeDelta(keyframe, node);
        if (delta === null) return;
        const rebuilt = applyDelta(keyframe, delta);
        expect(encodeNode(rebuilt)).toBe(encodeNode(node));
        expect(nodeHash(rebuilt)).toBe(nodeHash(node));
      }),
      { numRuns: 500 },
    );
  });

  it('stay small for the nodes a one-change update writes, at every level', async () => {
    const base = buildTree(Array.from({ length: 10_000 }, (_, i) => entry(i)));
    const all = new Map(base.nodes);
    const update = await updateTree(readerOf(all), base.root, new Map([[entry(4321).id, entry(4321, 1)]]));
    expect(update.nodes.size).toBeGreaterThanOrEqual(2);
    expect(update.replaced.size).toBe(update.nodes.size);
    for (const [h, node] of update.nodes) {
      const old = all.get(update.replaced.get(h)!)!;
      const delta = nodeDelta(old, node)!;
      expect(delta).not.toBeNull();
      expect(deltaWorthIt(node, delta)).toBe(true);
      expect(delta.set.length + delta.add.length).toBe(1);
      expect(encodeNode(applyDelta(old, delta))).toBe(encodeNode(node));
    }
  });

  it('refuse nodes of another level and nodes sharing nothing', () => {
    const node = leaf([entry(1), entry(2)]);
    expect(nodeDelta({ level: 1, children: [{ first: '', hash: hash(1), count: 2 }] }, node)).toBeNull();
    expect(nodeDelta(leaf([entry(1, 5), entry(2, 5)]), node)).toBeNull();
    expect(() => applyDelta({ level: 1, children: [] }, { level: 0, from: 0, to: 0, drop: [], set: [], add: [] })).toThrow(/level-0 delta/);
  });
});
