import { describe, expect, it } from 'vitest';
import { keysUsed, rulesOf, sameVariables, variableName, variablesOf, variableValue, type VariableRules } from './variables.js';

const rules = (over: Partial<VariableRules> = {}): VariableRules => ({ mapping: {}, mappedOnly: false, prefix: '', only: undefined, ...over });

describe('the naming rule', () => {
  it.each([
    ['payments', 'checkoutUrl', '', 'PAYMENTS_CHECKOUTURL'],
    ['feature-flags', 'new.checkout', '', 'FEATURE_FLAGS_NEW_CHECKOUT'],
    ['support.email', undefined, '', 'SUPPORT_EMAIL'],
    ['db', 'url', 'APP_', 'APP_DB_URL'],
    ['3ds', 'on', '', '_3DS_ON'],
    ['a--b', 'x  y', '', 'A_B_X_Y'],
  ])('%s %s (prefix %s) → %s', (key, field, prefix, name) => {
    expect(variableName(prefix, key, field)).toBe(name);
  });

  it('strings as they are, other values as JSON, null not set', () => {
    expect(variableValue('a "b"')).toBe('a "b"');
    expect(variableValue(3)).toBe('3');
    expect(variableValue(false)).toBe('false');
    expect(variableValue({ a: [1] })).toBe('{"a":[1]}');
    expect(variableValue(null)).toBeUndefined();
  });

  it('an object value gives one variable per top-level field, a scalar one variable', () => {
    const vars = variablesOf([{ key: 'payments', value: { url: 'https://x', retries: 2, nested: { a: 1 }, gone: null } }, { key: 'mode', value: 'fast' }], rules(), 'production');
    expect(vars.values).toEqual({ MODE: 'fast', PAYMENTS_NESTED: '{"a":1}', PAYMENTS_RETRIES: '2', PAYMENTS_URL: 'https://x' });
    expect(vars.sources.PAYMENTS_URL).toBe('config/payments.url');
    expect(Object.keys(vars.values)).toEqual([...Object.keys(vars.values)].sort());
  });

  it('two resources claiming one name are refused, naming both', () => {
    expect(() => variablesOf([{ key: 'db-url', value: 'a' }, { key: 'db_url', value: 'b' }], rules(), 'production')).toThrow('config/db-url and config/db_url both become DB_URL');
    expect(() => variablesOf([{ key: 'db', value: { url: 'a' } }, { key: 'db.url', value: 'b' }], rules(), 'production')).toThrow('both become DB_URL');
  });

  it('a mapped name wins over the rule, and resolves keys with dots by the longest key', () => {
    const configs = [{ key: 'db', value: { url: 'a' } }, { key: 'db.url', value: 'b' }, { key: 'list', value: { items: ['x', 'y'] } }];
    const vars = variablesOf(configs, rules({ mapping: { DB_URL: 'config/db.url', SECOND: 'config/list.items.1', FIRST_DB: 'config/db' } }), 'production');
    expect(vars.values).toEqual({ DB_URL: 'b', FIRST_DB: '{"url":"a"}', LIST_ITEMS: '["x","y"]', SECOND: 'y' });
    expect(vars.sources.DB_URL).toBe('config/db.url');
  });

  it('only: true exports the mapped names alone; --only narrows the rule', () => {
    const configs = [{ key: 'a', value: 1 }, { key: 'b', value: 2 }];
    expect(variablesOf(configs, rules({ mapping: { X: 'config/a' }, mappedOnly: true }), 'p').values).toEqual({ X: '1' });
    expect(variablesOf(configs, rules({ only: ['b'] }), 'p').values).toEqual({ B: '2' });
    expect(() => variablesOf(configs, rules({ only: ['c'] }), 'p')).toThrow('p has no config/c');
  });

  it('a mapping that leads nowhere is an error', () => {
    expect(() => variablesOf([{ key: 'a', value: { x: 1 } }], rules({ mapping: { Y: 'config/a.y' } }), 'p')).toThrow('config/a in p has no field y');
    expect(() => variablesOf([], rules({ mapping: { Y: 'config/zz' } }), 'p')).toThrow('p has no config/zz');
  });

  it('a NUL character cannot become a variable', () => {
    expect(() => variablesOf([{ key: 'a', value: 'x\u0000y' }], rules(), 'p')).toThrow('NUL');
  });
});

describe('stageline.json run settings', () => {
  it('reads env, only and prefix; flags win', () => {
    const raw = { run: { env: { CHECKOUT_URL: 'config/payments.checkoutUrl' }, only: true, prefix: 'APP_' } };
    expect(rulesOf(raw, 'stageline.json', {})).toEqual({ mapping: { CHECKOUT_URL: 'config/payments.checkoutUrl' }, mappedOnly: true, prefix: 'APP_', only: undefined });
    expect(rulesOf(raw, 'stageline.json', { prefix: 'SVC_', only: 'config/a, b' })).toMatchObject({ prefix: 'SVC_', only: ['a', 'b'] });
  });

  it.each([
    [{ run: [] }, '"run" must be an object'],
    [{ run: { env: { '1X': 'config/a' } } }, 'is not a variable name'],
    [{ run: { env: { X: 'route/a' } } }, 'must be "config/<key>"'],
    [{ run: { only: 'yes' } }, '"run.only" must be true or false'],
  ])('refuses %j', (raw, message) => {
    expect(() => rulesOf(raw as Record<string, unknown>, 'stageline.json', {})).toThrow(message);
  });

  it('refuses a prefix that cannot start a name and --only outside config', () => {
    expect(() => rulesOf({}, 'f', { prefix: '9X' })).toThrow('--prefix');
    expect(() => rulesOf({}, 'f', { only: 'route/a' })).toThrow('only config');
  });

  it('the keys a run depends on follow the rules', () => {
    expect(keysUsed(rules())('anything')).toBe(true);
    const mapped = keysUsed(rules({ mapping: { X: 'config/db.url' }, mappedOnly: true }));
    expect([mapped('db'), mapped('db.url'), mapped('other')]).toEqual([true, true, false]);
    const only = keysUsed(rules({ only: ['a'] }));
    expect([only('a'), only('b')]).toEqual([true, false]);
  });

  it('compares variable sets by names and values', () => {
    expect(sameVariables({ A: '1', B: '2' }, { B: '2', A: '1' })).toBe(true);
    expect(sameVariables({ A: '1' }, { A: '2' })).toBe(false);
    expect(sameVariables({ A: '1' }, { A: '1', B: '' })).toBe(false);
  });
});
