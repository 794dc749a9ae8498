import { describe, expect, it } from 'vitest';
import { caught } from '../errors.test-support.js';
import { assertExpectedRelease, assertRollbackTarget } from './head.js';

const staging = { slug: 'staging', headRelease: 4 };

describe('assertExpectedRelease', () => {
  it('accepts no expectation or the current release', () => {
    expect(() => assertExpectedRelease(staging, undefined)).not.toThrow();
    expect(() => assertExpectedRelease(staging, 4)).not.toThrow();
  });

  it.each([0, 3, 5])('refuses expectedRelease %i with release_conflict naming both numbers', (expected) => {
    const error = caught(() => assertExpectedRelease(staging, expected));
    expect(error.code).toBe('release_conflict');
    expect(error.status).toBe(409);
    expect(error.message).toBe(`staging is at release #4, not #${expected}: it changed since you looked`);
  });
});

describe('assertRollbackTarget', () => {
  it.each([1, 3])('accepts the earlier release %i', (release) => {
    expect(() => assertRollbackTarget(staging, release)).not.toThrow();
  });

  it.each([4, 5])('refuses release %i, the current one or later, naming the field', (release) => {
    const error = caught(() => assertRollbackTarget(staging, release));
    expect(error.status).toBe(400);
    expect(error.details).toEqual([expect.objectContaining({ field: 'release' })]);
  });
});
