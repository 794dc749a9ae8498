import { describe, expect, it } from 'vitest';
import { canonicalJson, contentHash, digest, sha256 } from './canonical.js';

describe('canonicalJson', () => {
  it('writes object keys in sorted order regardless of insertion order', () => {
    expect(canonicalJson({ b: 1, a: 2, c: 3 })).toBe('{"a":2,"b":1,"c":3}');
    expect(canonicalJson({ c: 3, a: 2, b: 1 })).toBe(canonicalJson({ a: 2, b: 1, c: 3 }));
  });

  it('sorts keys by UTF-16 code units, so upper case comes before lower case', () => {
    expect(canonicalJson({ b: 1, B: 2, a: 3, _: 4 })).toBe('{"B":2,"_":4,"a":3,"b":1}');
  });

  it('sorts keys inside nested objects, including objects inside arrays', () => {
    const value = { z: { y: 1, x: [{ q: 1, p: 2 }, [{ n: 1, m: 2 }]] }, a: null };
    expect(canonicalJson(value)).toBe('{"a":null,"z":{"x":[{"p":2,"q":1},[{"m":2,"n":1}]],"y":1}}');
  });

  it('keeps array order, since order in an array is meaningful', () => {
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]');
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
  });

  it('drops object keys whose value is undefined', () => {
    expect(canonicalJson({ a: 1, gone: undefined, b: { inner: undefined, kept: true } })).toBe(
      '{"a":1,"b":{"kept":true}}',
    );
  });

  it('writes undefined array items as null, as JSON.stringify does', () => {
    expect(canonicalJson([1, undefined, 3])).toBe('[1,null,3]');
  });

  it.each([
    ['null', null, 'null'],
    ['true', true, 'true'],
    ['a number', 1.5, '1.5'],
    ['a string with quotes', 'say "hi"', '"say \\"hi\\""'],
    ['an empty object', {}, '{}'],
    ['an empty array', [], '[]'],
  ])('writes %s as plain JSON', (_name, value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it('has no insignificant whitespace', () => {
    expect(canonicalJson({ a: [1, { b: 'x y' }] })).toBe('{"a":[1,{"b":"x y"}]}');
  });

  it('refuses a value that cannot be represented as JSON', () => {
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });
});

describe('contentHash', () => {
  it('is equal for documents that differ only in key order', () => {
    const a = { upstream: { url: 'https://a', timeoutMs: 5 }, match: { pathPrefix: '/p' } };
    const b = { match: { pathPrefix: '/p' }, upstream: { timeoutMs: 5, url: 'https://a' } };
    expect(contentHash(a)).toBe(contentHash(b));
  });

  it('is equal when the only difference is an undefined key', () => {
    expect(contentHash({ a: 1, b: undefined })).toBe(contentHash({ a: 1 }));
  });

  it('differs when a value differs', () => {
    expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: 2 }));
  });

  it('differs when array order differs', () => {
    expect(contentHash({ a: [1, 2] })).not.toBe(contentHash({ a: [2, 1] }));
  });

  it('is the hex sha256 of the canonical JSON', () => {
    const value = { b: [1, { d: 2, c: 3 }], a: 'x' };
    expect(contentHash(value)).toBe(sha256(canonicalJson(value)));
    expect(contentHash(value)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('sha256', () => {
  it('matches the known digest of the empty string', () => {
    expect(sha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('digest', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
  ])('is null for %s', (_name, value) => {
    expect(digest(value)).toBeNull();
  });

  it('is the first 16 characters of the content hash', () => {
    expect(digest({ a: 1 })).toBe(contentHash({ a: 1 }).slice(0, 16));
  });
});
