import { describe, expect, it } from 'vitest';
import { caught } from '../errors.test-support.js';
import { settle, threeWayMerge } from './merge.js';
import type { Snapshot, SnapshotEntry } from './snapshot.js';

function snap(entries: Record<string, string>): Snapshot {
  return new Map(
    Object.entries(entries).map(([id, hash]): [string, SnapshotEntry] => {
      const [kind, key] = id.split('/') as [SnapshotEntry['kind'], string];
      return [id, { kind, key, hash, app: null }];
    }),
  );
}

const hashes = (s: Snapshot) => Object.fromEntries([...s].map(([id, e]) => [id, e.hash]));

describe('threeWayMerge', () => {
  const base = snap({ 'config/a': 'a0', 'config/b': 'b0', 'config/c': 'c0' });

  it.each([
    ['branch changed only', { 'config/a': 'a1', 'config/b': 'b0', 'config/c': 'c0' }, base, { 'config/a': 'a1', 'config/b': 'b0', 'config/c': 'c0' }],
    ['parent changed only', base, { 'config/a': 'a0', 'config/b': 'b2', 'config/c': 'c0' }, { 'config/a': 'a0', 'config/b': 'b2', 'config/c': 'c0' }],
    ['both changed different resources', { 'config/a': 'a1', 'config/b': 'b0', 'config/c': 'c0' }, { 'config/a': 'a0', 'config/b': 'b2', 'config/c': 'c0' }, { 'config/a': 'a1', 'config/b': 'b2', 'config/c': 'c0' }],
    ['both made the same change', { 'config/a': 'a1', 'config/b': 'b0', 'config/c': 'c0' }, { 'config/a': 'a1', 'config/b': 'b0', 'config/c': 'c0' }, { 'config/a': 'a1', 'config/b': 'b0', 'config/c': 'c0' }],
    ['branch added, parent removed another', { 'config/a': 'a0', 'config/b': 'b0', 'config/c': 'c0', 'config/d': 'd1' }, { 'config/a': 'a0', 'config/b': 'b0' }, { 'config/a': 'a0', 'config/b': 'b0', 'config/d': 'd1' }],
    ['branch removed one', { 'config/a': 'a0', 'config/b': 'b0' }, base, { 'config/a': 'a0', 'config/b': 'b0' }],
  ])('%s', (_name, branch, parent, expected) => {
    const result = threeWayMerge(base, branch instanceof Map ? branch : snap(branch), parent instanceof Map ? parent : snap(parent));
    expect(hashes(result.merged)).toEqual(expected);
  });

  it('reports every resource changed differently on both sides as a merge conflict', () => {
    const branch = snap({ 'config/a': 'a1', 'config/b': 'b1', 'config/c': 'c0' });
    const parent = snap({ 'config/a': 'a2', 'config/c': 'c0' });
    const error = caught(() => threeWayMerge(base, branch, parent));
    expect(error.code).toBe('merge_conflict');
    expect(error.status).toBe(409);
    expect(error.details).toEqual([
      { resource: 'config/a', branch: 'changed', parent: 'changed', baseHash: 'a0', branchHash: 'a1', parentHash: 'a2' },
      { resource: 'config/b', branch: 'changed', parent: 'removed', baseHash: 'b0', branchHash: 'b1', parentHash: null },
    ]);
  });

  it('resolves conflicts per resource with the side to take', () => {
    const branch = snap({ 'config/a': 'a1', 'config/b': 'b1', 'config/c': 'c0' });
    const parent = snap({ 'config/a': 'a2', 'config/c': 'c0' });
    const take = new Map([['config/a', 'branch' as const], ['config/b', 'parent' as const]]);
    const result = threeWayMerge(base, branch, parent, { take });
    expect(hashes(result.merged)).toEqual({ 'config/a': 'a1', 'config/c': 'c0' });
    expect(result.resolved).toEqual([{ resource: 'config/a', take: 'branch' }, { resource: 'config/b', take: 'parent' }]);
  });

  it('refuses a resolution for a resource that is not in conflict', () => {
    const take = new Map([['config/c', 'branch' as const]]);
    expect(caught(() => threeWayMerge(base, base, base, { take })).code).toBe('merge_resolution_unused');
  });

  it('merges only the named resources', () => {
    const branch = snap({ 'config/a': 'a1', 'config/b': 'b1', 'config/c': 'c0' });
    const result = threeWayMerge(base, branch, base, { only: ['config/b'] });
    expect(hashes(result.merged)).toEqual({ 'config/a': 'a0', 'config/b': 'b1', 'config/c': 'c0' });
    expect(caught(() => threeWayMerge(base, branch, base, { only: ['config/zz'] })).code).toBe('unknown_resources');
  });

  it('settles the branch and the base so a second merge sees only later changes', () => {
    const branch = snap({ 'config/a': 'a1', 'config/b': 'b0', 'config/c': 'c0' });
    const parent = snap({ 'config/a': 'a2', 'config/b': 'b2', 'config/c': 'c0' });
    const first = threeWayMerge(base, branch, parent, { take: new Map([['config/a', 'parent' as const]]) });
    const nextBranch = settle(branch, first.merged, first.settled);
    const nextBase = settle(base, first.merged, first.settled);
    expect(hashes(nextBranch)).toEqual(hashes(first.merged));
    // The parent's choice is not re-applied from the branch by the next merge.
    const again = threeWayMerge(nextBase, nextBranch, first.merged);
    expect(hashes(again.merged)).toEqual(hashes(first.merged));
  });
});
