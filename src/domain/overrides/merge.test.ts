import { describe, expect, it } from 'vitest';
import { mergeOverride, overrideShapeIssue } from './merge.js';

const route = {
  match: { pathPrefix: '/payments', methods: ['GET', 'POST'] },
  upstream: { url: 'https://api.stripe.com/v1', timeoutMs: 30000 },
  rateLimit: { requests: 100, windowSec: 60 },
  clients: ['203.0.113.0/24', '2001:db8::/32'],
  stripPrefix: false,
};

describe('mergeOverride', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
  ])('returns the base unchanged when the override is %s', (_name, override) => {
    expect(mergeOverride(route, override)).toBe(route);
  });

  it('returns the base content when the override is an empty object', () => {
    expect(mergeOverride(route, {})).toEqual(route);
  });

  it('replaces only the overridden field of a nested object and keeps its siblings', () => {
    expect(mergeOverride(route, { upstream: { url: 'http://localhost:3000' } })).toEqual({
      ...route,
      upstream: { url: 'http://localhost:3000', timeoutMs: 30000 },
    });
  });

  it('merges objects at every depth', () => {
    const base = { a: { b: { c: 1, d: 2 }, e: 3 } };
    expect(mergeOverride(base, { a: { b: { d: 20 } } })).toEqual({ a: { b: { c: 1, d: 20 }, e: 3 } });
  });

  it.each([
    ['a top-level field', { rateLimit: null }],
    ['a nested field', { rateLimit: { requests: null } }],
    ['an absent nested field', { rateLimit: { windowSec: undefined } }],
  ])('inherits the base where the override has null for %s', (_name, override) => {
    expect(mergeOverride(route, override)).toEqual(route);
  });

  it('leaves out the nulls of an object that replaces a non-object, as there is nothing to inherit', () => {
    // Found by the model-based test (reliability/parts/model.ts): `{a: null}` over 3 was served as `{a: null}`.
    expect(mergeOverride({ value: 3 }, { value: { a: null, c: [1] } })).toEqual({ value: { c: [1] } });
    expect(mergeOverride({ value: [1] }, { value: { a: { b: null } } })).toEqual({ value: { a: {} } });
  });

  it('replaces an array as a whole instead of merging items', () => {
    expect(mergeOverride(route, { clients: ['198.51.100.7'] }).clients).toEqual(['198.51.100.7']);
    expect(mergeOverride(route, { match: { methods: ['GET'] } }).match).toEqual({ pathPrefix: '/payments', methods: ['GET'] });
  });

  it('replaces an array with an empty array', () => {
    expect(mergeOverride(route, { clients: [] }).clients).toEqual([]);
  });

  it('replaces a nested scalar, as production lowers a rate limit', () => {
    expect(mergeOverride(route, { rateLimit: { requests: 5 } }).rateLimit).toEqual({ requests: 5, windowSec: 60 });
  });

  it('replaces a boolean with false rather than inheriting', () => {
    expect(mergeOverride({ ...route, stripPrefix: true }, { stripPrefix: false }).stripPrefix).toBe(false);
  });

  it('replaces a scalar with 0 and the empty string rather than inheriting', () => {
    expect(mergeOverride({ n: 7, s: 'x' }, { n: 0, s: '' })).toEqual({ n: 0, s: '' });
  });

  it('adds a field the base does not have', () => {
    expect(mergeOverride(route, { retries: 2 })).toEqual({ ...route, retries: 2 });
  });

  it('replaces an object with a scalar and a scalar with an object', () => {
    expect(mergeOverride({ a: { b: 1 }, c: 1 }, { a: 'off', c: { d: 2 } })).toEqual({ a: 'off', c: { d: 2 } });
  });

  it('replaces an object with an array', () => {
    expect(mergeOverride({ a: { b: 1 } }, { a: [1] })).toEqual({ a: [1] });
  });

  it('replaces the whole content when base or override is not an object', () => {
    expect(mergeOverride(5, 6)).toBe(6);
    expect(mergeOverride([1, 2], [3])).toEqual([3]);
    expect(mergeOverride({ a: 1 }, 'text')).toBe('text');
  });

  it('does not mutate the base', () => {
    const base = structuredClone(route);
    mergeOverride(base, { upstream: { url: 'http://localhost:3000' }, match: { methods: ['GET'] }, retries: 1 });
    expect(base).toEqual(route);
  });

  it('does not mutate the override', () => {
    const override = { upstream: { url: 'http://localhost:3000' }, rateLimit: null };
    mergeOverride(route, override);
    expect(override).toEqual({ upstream: { url: 'http://localhost:3000' }, rateLimit: null });
  });
});

describe('keys that are special to JavaScript', () => {
  it('keeps a __proto__ key as an ordinary field and changes no prototype', () => {
    const merged = mergeOverride({ value: { a: 1 } }, JSON.parse('{"value":{"__proto__":{"polluted":true}}}')) as any;
    expect(Object.keys(merged.value)).toEqual(['a', '__proto__']);
    expect(merged.value.polluted).toBeUndefined();
    expect(({} as any).polluted).toBeUndefined();
  });
});

describe('override shape', () => {
  it.each([{}, { a: 1 }, JSON.parse('{"__proto__":{"x":1}}')])('%j is an override', (override) => {
    expect(overrideShapeIssue(override)).toBeNull();
  });

  it.each([null, 1, 'text', [], [{ a: 1 }], true])('%j is refused naming override', (override) => {
    expect(overrideShapeIssue(override)).toEqual({ field: 'override', message: 'must be an object of the fields to replace', in: 'body' });
  });
});
