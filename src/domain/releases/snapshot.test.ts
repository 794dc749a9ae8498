import { describe, expect, it } from 'vitest';
import { caught } from '../errors.test-support.js';
import {
  applyDrafts,
  compareSnapshots,
  fieldChanges,
  parseResourceId,
  resourceId,
  snapshotId,
  takeResources,
  toSnapshot,
  type Snapshot,
  type SnapshotEntry,
} from './snapshot.js';

const hash = (label: string) => label.padEnd(64, '0');

const welcome: SnapshotEntry = { kind: 'workflow', key: 'welcome', hash: hash('a1'), app: null };
const payments: SnapshotEntry = { kind: 'route', key: 'payments', hash: hash('b1'), app: 'billing' };
const flags: SnapshotEntry = { kind: 'config', key: 'flags', hash: hash('c1'), app: null };

/** The snapshot as a plain object, for readable equality checks. */
function entries(snapshot: Snapshot): Record<string, SnapshotEntry> {
  return Object.fromEntries(snapshot);
}


describe('resourceId', () => {
  it('joins kind and key with a slash', () => {
    expect(resourceId('route', 'payments')).toBe('route/payments');
  });
});

describe('parseResourceId', () => {
  it.each([
    ['route/payments', { kind: 'route', key: 'payments' }],
    ['workflow/welcome.v2_final-1', { kind: 'workflow', key: 'welcome.v2_final-1' }],
    ['config/Flags', { kind: 'config', key: 'Flags' }],
  ])('parses %s', (id, expected) => {
    expect(parseResourceId(id, 'resources.0')).toEqual(expected);
  });

  it.each([
    ['no slash', 'payments'],
    ['no kind', '/payments'],
    ['no key', 'route/'],
    ['an unknown kind', 'widget/payments'],
    ['a slash inside the key', 'route/pay/ments'],
    ['a key starting with a dot', 'route/.hidden'],
    ['the empty string', ''],
  ])('refuses an id with %s as invalid_request naming the field', (_name, id) => {
    const error = caught(() => parseResourceId(id, 'resources.2'));
    expect(error.code).toBe('invalid_request');
    expect(error.details).toEqual([
      { field: 'resources.2', message: `"${id}" is not a resource id of the form kind/key`, in: 'body' },
    ]);
  });
});

describe('toSnapshot', () => {
  it('keys entries by resource id', () => {
    expect([...toSnapshot([welcome, payments]).keys()]).toEqual(['workflow/welcome', 'route/payments']);
  });
});

describe('snapshotId', () => {
  it('is the same regardless of insertion order', () => {
    expect(snapshotId(toSnapshot([welcome, payments, flags]))).toBe(snapshotId(toSnapshot([flags, welcome, payments])));
  });

  it('changes when a content hash changes', () => {
    const edited = { ...welcome, hash: hash('a2') };
    expect(snapshotId(toSnapshot([edited, payments]))).not.toBe(snapshotId(toSnapshot([welcome, payments])));
  });

  it('changes when an app label changes', () => {
    const relabelled = { ...payments, app: 'checkout' };
    expect(snapshotId(toSnapshot([welcome, relabelled]))).not.toBe(snapshotId(toSnapshot([welcome, payments])));
  });

  it('changes when an app label is removed', () => {
    const unlabelled = { ...payments, app: null };
    expect(snapshotId(toSnapshot([unlabelled]))).not.toBe(snapshotId(toSnapshot([payments])));
  });

  it('changes when a resource is added', () => {
    expect(snapshotId(toSnapshot([welcome, payments]))).not.toBe(snapshotId(toSnapshot([welcome])));
  });

  it('is a hex sha256 even for the empty snapshot', () => {
    expect(snapshotId(new Map())).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('applyDrafts', () => {
  const head = toSnapshot([welcome, payments]);

  it('adds a resource drafted for the first time', () => {
    const next = applyDrafts(head, [{ kind: 'config', key: 'flags', hash: flags.hash, app: null }]);
    expect(entries(next)).toEqual({ 'workflow/welcome': welcome, 'route/payments': payments, 'config/flags': flags });
  });

  it('replaces the hash and app of an edited resource', () => {
    const next = applyDrafts(head, [{ kind: 'route', key: 'payments', hash: hash('b2'), app: 'checkout' }]);
    expect(next.get('route/payments')).toEqual({ kind: 'route', key: 'payments', hash: hash('b2'), app: 'checkout' });
    expect(next.get('workflow/welcome')).toEqual(welcome);
  });

  it('removes a resource whose draft is a deletion', () => {
    const next = applyDrafts(head, [{ kind: 'workflow', key: 'welcome', hash: null, app: null }]);
    expect(entries(next)).toEqual({ 'route/payments': payments });
  });

  it('ignores a deletion draft of a resource the head does not have', () => {
    const next = applyDrafts(head, [{ kind: 'tool', key: 'crm-sync', hash: null, app: null }]);
    expect(entries(next)).toEqual(entries(head));
  });

  it('does not change the head snapshot', () => {
    applyDrafts(head, [
      { kind: 'workflow', key: 'welcome', hash: null, app: null },
      { kind: 'config', key: 'flags', hash: flags.hash, app: null },
    ]);
    expect(entries(head)).toEqual({ 'workflow/welcome': welcome, 'route/payments': payments });
  });
});

describe('takeResources', () => {
  const stagingWelcome = { ...welcome, hash: hash('a2') };
  const stagingPayments = { ...payments, hash: hash('b2') };
  const target = toSnapshot([welcome, payments, flags]);
  const source = toSnapshot([stagingWelcome, stagingPayments]);

  it('takes only the named resources from the source and leaves the others untouched', () => {
    const next = takeResources(target, source, ['workflow/welcome']);
    expect(entries(next)).toEqual({
      'workflow/welcome': stagingWelcome,
      'route/payments': payments,
      'config/flags': flags,
    });
  });

  it('adds a named resource that only the source has', () => {
    const tool: SnapshotEntry = { kind: 'tool', key: 'crm-sync', hash: hash('d1'), app: null };
    const next = takeResources(toSnapshot([welcome]), toSnapshot([welcome, tool]), ['tool/crm-sync']);
    expect(entries(next)).toEqual({ 'workflow/welcome': welcome, 'tool/crm-sync': tool });
  });

  it('removes a named resource that the source no longer has', () => {
    const next = takeResources(target, source, ['config/flags']);
    expect(entries(next)).toEqual({ 'workflow/welcome': welcome, 'route/payments': payments });
  });

  it('refuses ids in neither snapshot with unknown_resources listing each', () => {
    const error = caught(() => takeResources(target, source, ['workflow/welcome', 'tool/nope', 'layout/gone']));
    expect(error.status).toBe(409);
    expect(error.code).toBe('unknown_resources');
    expect(error.message).toBe('not in the source or the target: tool/nope, layout/gone');
    expect(error.details).toEqual([{ resource: 'tool/nope' }, { resource: 'layout/gone' }]);
  });

  it('does not change the target snapshot', () => {
    takeResources(target, source, ['workflow/welcome', 'config/flags']);
    expect(entries(target)).toEqual({ 'workflow/welcome': welcome, 'route/payments': payments, 'config/flags': flags });
  });
});

describe('compareSnapshots', () => {
  it('reports added, removed and changed resources ordered by id, and omits unchanged ones', () => {
    const tool: SnapshotEntry = { kind: 'tool', key: 'crm-sync', hash: hash('d1'), app: null };
    const from = toSnapshot([welcome, payments, flags]);
    const to = toSnapshot([tool, { ...welcome, hash: hash('a2') }, payments]);
    expect(compareSnapshots(from, to)).toEqual([
      { kind: 'config', key: 'flags', status: 'removed', fromHash: flags.hash, toHash: null, fromApp: null, toApp: null },
      { kind: 'tool', key: 'crm-sync', status: 'added', fromHash: null, toHash: tool.hash, fromApp: null, toApp: null },
      {
        kind: 'workflow',
        key: 'welcome',
        status: 'changed',
        fromHash: welcome.hash,
        toHash: hash('a2'),
        fromApp: null,
        toApp: null,
      },
    ]);
  });

  it('reports a resource whose only change is its app label as changed', () => {
    const changes = compareSnapshots(toSnapshot([payments]), toSnapshot([{ ...payments, app: 'checkout' }]));
    expect(changes).toEqual([
      {
        kind: 'route',
        key: 'payments',
        status: 'changed',
        fromHash: payments.hash,
        toHash: payments.hash,
        fromApp: 'billing',
        toApp: 'checkout',
      },
    ]);
  });

  it('is empty for equal snapshots', () => {
    expect(compareSnapshots(toSnapshot([welcome, payments]), toSnapshot([payments, welcome]))).toEqual([]);
  });
});

describe('fieldChanges', () => {
  it('reports a changed nested field by its JSON pointer', () => {
    expect(fieldChanges({ upstream: { url: 'http://a', timeoutMs: 5 } }, { upstream: { url: 'http://b', timeoutMs: 5 } })).toEqual([
      { path: '/upstream/url', before: 'http://a', after: 'http://b' },
    ]);
  });

  it('reports an added field with only an after value', () => {
    expect(fieldChanges({ a: 1 }, { a: 1, b: { c: 2 } })).toEqual([{ path: '/b', after: { c: 2 } }]);
  });

  it('reports a removed field with only a before value', () => {
    expect(fieldChanges({ a: 1, b: true }, { a: 1 })).toEqual([{ path: '/b', before: true }]);
  });

  it('escapes "/" as ~1 and "~" as ~0 in pointer segments', () => {
    expect(fieldChanges({ 'a/b': 1, 'm~n': 1, '~1': 1 }, { 'a/b': 2, 'm~n': 2, '~1': 2 })).toEqual([
      { path: '/a~1b', before: 1, after: 2 },
      { path: '/m~0n', before: 1, after: 2 },
      { path: '/~01', before: 1, after: 2 },
    ]);
  });

  it('addresses array items by index', () => {
    expect(fieldChanges({ steps: [{ seconds: 1 }, 'x', 'y'] }, { steps: [{ seconds: 2 }, 'x'] })).toEqual([
      { path: '/steps/0/seconds', before: 1, after: 2 },
      { path: '/steps/2', before: 'y' },
    ]);
  });

  it('reports an item appended to an array at its index', () => {
    expect(fieldChanges({ methods: ['GET'] }, { methods: ['GET', 'POST'] })).toEqual([{ path: '/methods/1', after: 'POST' }]);
  });

  it('compares top-level arrays item by item', () => {
    expect(fieldChanges([1, 2], [1, 3])).toEqual([{ path: '/1', before: 2, after: 3 }]);
  });

  it('reports a field whose object value became a scalar as one change', () => {
    expect(fieldChanges({ split: { canary: { weight: 5 } } }, { split: 'off' })).toEqual([
      { path: '/split', before: { canary: { weight: 5 } }, after: 'off' },
    ]);
  });

  it.each([
    ['two scalars', 1, 2],
    ['a scalar and an object', 'x', { a: 1 }],
    ['null and an object', null, { a: 1 }],
    ['an object and an array', { a: 1 }, [1]],
  ])('replaces the whole document at path "" between %s', (_name, before, after) => {
    expect(fieldChanges(before, after)).toEqual([{ path: '', before, after }]);
  });

  it.each([
    ['equal scalars', 'same', 'same'],
    ['equal objects', { a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }],
    ['nulls', null, null],
  ])('is empty for %s', (_name, before, after) => {
    expect(fieldChanges(before, after)).toEqual([]);
  });
});
