import { describe, expect, it } from 'vitest';
import { forwardedPath, parseRequestTarget, PrefixIndex, routePrefix } from './paths.js';

describe('parseRequestTarget', () => {
  it.each([
    ['/payments/charges?limit=3', '/payments/charges', '?limit=3'],
    ['/', '/', ''],
    ['/a?', '/a', '?'],
    ['/%61dmin', '/admin', ''],
    ['/caf%c3%a9', '/caf%C3%A9', ''],
    ['/public/../admin', '/admin', ''],
    ['/public/%2e%2e/admin', '/admin', ''],
    ['/a/./b/.', '/a/b/', ''],
    ['/a/b/..', '/a/', ''],
    ['/../../etc', '/etc', ''],
    ['/a/.hidden/..x', '/a/.hidden/..x', ''],
    ['/__proto__/constructor/toString', '/__proto__/constructor/toString', ''],
    ['/q?x=/../y', '/q', '?x=/../y'],
    ['//admin', '/admin', ''],
    ['/public//..//admin', '/admin', ''],
    ['/a///b?c=//d', '/a/b', '?c=//d'],
    ['/a;v=1/b', '/a;v=1/b', ''],
  ])('%s is path %s and query %s', (target, path, query) => {
    expect(parseRequestTarget(target)).toEqual({ path, query });
  });

  it.each(['*', 'http://example.com/a', '', 'a/b', '/a%2Fb', '/a%2fb', '/a%5Cb', '/a\\b', '/a%00', '/a%zz', '/a%4', '/a#frag', '/public/..;/admin', '/..;x/admin', '/a/.;/b', '/a/%2e%2e;/b'])('refuses %j', (target) => {
    expect(parseRequestTarget(target)).toBeNull();
  });

  it('returns a path that needs no normalisation as the same string', () => {
    const target = '/a/b/c';
    expect(parseRequestTarget(target)!.path).toBe(target);
  });
});

describe('routePrefix', () => {
  it.each([
    ['/api', '/api'],
    ['/api/', '/api'],
    ['/api//', '/api'],
    ['/', '/'],
    ['/%7Euser', '/~user'],
  ])('%s is kept as %s', (prefix, kept) => {
    expect(routePrefix(prefix)).toBe(kept);
  });

  it.each(['/a?b', '/a%2F', 'api'])('%s matches nothing', (prefix) => {
    expect(routePrefix(prefix)).toBeNull();
  });
});

describe('PrefixIndex', () => {
  const index = new PrefixIndex<string>();
  for (const prefix of ['/', '/api', '/api/v2', '/api/v2/users', '/__proto__', '/constructor']) index.set(prefix, prefix);

  it.each([
    ['/api', '/api'],
    ['/api/', '/api'],
    ['/api/x', '/api'],
    ['/apix', '/'],
    ['/api/v2', '/api/v2'],
    ['/api/v2/', '/api/v2'],
    ['/api/v2/users/7', '/api/v2/users'],
    ['/api/v2/usersx', '/api/v2'],
    ['/api/v3/users', '/api'],
    ['/__proto__/x', '/__proto__'],
    ['/constructor', '/constructor'],
    ['/toString', '/'],
    ['/', '/'],
  ])('%s finds %s', (path, found) => {
    expect(index.lookup(path)).toBe(found);
  });

  it('finds nothing without a root', () => {
    const noRoot = new PrefixIndex<string>();
    noRoot.set('/a', 'a');
    expect(noRoot.lookup('/b')).toBeUndefined();
    expect(noRoot.lookup('/toString')).toBeUndefined();
    expect(noRoot.lookup('/a/b')).toBe('a');
  });
});

describe('forwardedPath', () => {
  it.each([
    ['/v1', '/payments', '/payments/charges', false, '/v1/payments/charges'],
    ['/v1', '/payments', '/payments/charges', true, '/v1/charges'],
    ['/v1', '/payments', '/payments', true, '/v1'],
    ['', '/payments', '/payments', true, '/'],
    ['', '/payments', '/payments/', true, '/'],
    ['', '/', '/x', true, '/x'],
    ['', '/', '/x', false, '/x'],
  ])('base %s, prefix %s, path %s, strip %s: %s', (base, prefix, path, strip, out) => {
    expect(forwardedPath(base, prefix, path, strip)).toBe(out);
  });
});
