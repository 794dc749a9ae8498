import { describe, expect, it } from 'vitest';
import { caught } from '../errors.test-support.js';
import { assertSecretKey, visibleTo } from './visibility.js';

describe('visibleTo', () => {
  it.each([
    ['secret', 'route', {}, true],
    ['secret', 'config', { value: 1 }, true],
    ['publishable', 'config', { value: 1, public: true }, true],
    ['publishable', 'config', { value: 1 }, false],
    ['publishable', 'route', { public: true }, false],
  ] as const)('%s key, %s %j → %s', (kind, resourceKind, content, expected) => {
    expect(visibleTo(kind, { kind: resourceKind, content })).toBe(expected);
  });
});

describe('assertSecretKey', () => {
  it('lets secret keys through and refuses publishable keys with 403 naming the operation', () => {
    expect(() => assertSecretKey('secret', 'data records', 'why')).not.toThrow();
    const error = caught(() => assertSecretKey('publishable', 'data records', 'they hold user data'));
    expect(error.status).toBe(403);
    expect(error.code).toBe('forbidden');
    expect(error.message).toBe('data records need a secret key (sk_…), not a publishable one: they hold user data');
    expect(error.details).toEqual([{ keyKind: 'publishable', required: 'secret' }]);
  });
});
