import { describe, expect, it } from 'vitest';
import { evaluateFlag, flagIssues, rolloutBucket, stableHash } from './flags.js';

// The example of docs/openfeature.md.
const beta = {
  value: false,
  flag: {
    variants: { on: true, off: false },
    defaultVariant: 'off',
    rules: [{ if: { attribute: 'email', endsWith: '@example.com' }, variant: 'on' }],
    rollout: { variants: { on: 10, off: 90 }, by: 'targetingKey' },
  },
};

function ok(result: ReturnType<typeof evaluateFlag>) {
  if (!result.ok) throw new Error(`expected a resolution, got ${result.errorCode}: ${result.message}`);
  return { value: result.value, variant: result.variant, reason: result.reason };
}

describe('evaluateFlag', () => {
  it('a config without a flag field is its value, variant default, reason STATIC', () => {
    expect(ok(evaluateFlag('checkout', { value: { url: 'https://pay' } }))).toEqual({ value: { url: 'https://pay' }, variant: 'default', reason: 'STATIC' });
  });

  it('a flag with variants and a default only is STATIC on its default variant', () => {
    const content = { value: 'x', flag: { variants: { blue: '#00f', red: '#f00' }, defaultVariant: 'red' } };
    expect(ok(evaluateFlag('color', content, { targetingKey: 'u1' }))).toEqual({ value: '#f00', variant: 'red', reason: 'STATIC' });
  });

  it('the first rule that matches gives its variant with TARGETING_MATCH', () => {
    expect(ok(evaluateFlag('beta', beta, { targetingKey: 'u1', email: 'ana@example.com' }))).toEqual({ value: true, variant: 'on', reason: 'TARGETING_MATCH' });
  });

  it('rules are tried in order', () => {
    const content = {
      value: 0,
      flag: {
        variants: { a: 1, b: 2 },
        rules: [
          { if: { attribute: 'plan', equals: 'pro' }, variant: 'a' },
          { if: { attribute: 'plan', in: ['pro', 'team'] }, variant: 'b' },
        ],
      },
    };
    expect(ok(evaluateFlag('n', content, { plan: 'pro' })).variant).toBe('a');
    expect(ok(evaluateFlag('n', content, { plan: 'team' })).variant).toBe('b');
    expect(ok(evaluateFlag('n', content, { plan: 'free' }))).toEqual({ value: 0, variant: 'default', reason: 'DEFAULT' });
  });

  it('a rule with a list of conditions needs all of them', () => {
    const content = { value: false, flag: { variants: { on: true }, rules: [{ if: [{ attribute: 'country', equals: 'DE' }, { attribute: 'age', gte: 18 }], variant: 'on' }] } };
    expect(ok(evaluateFlag('f', content, { country: 'DE', age: 18 })).reason).toBe('TARGETING_MATCH');
    expect(ok(evaluateFlag('f', content, { country: 'DE', age: 17 })).reason).toBe('DEFAULT');
    expect(ok(evaluateFlag('f', content, { age: 30 })).reason).toBe('DEFAULT');
  });

  it.each([
    ['equals', 'x', 'x', true],
    ['equals', 1, '1', false],
    ['notEquals', 'x', 'y', true],
    ['notEquals', 'x', undefined, false],
    ['in', ['a', 'b'], 'b', true],
    ['in', ['a', 'b'], 'c', false],
    ['notIn', ['a'], 'c', true],
    ['notIn', ['a'], undefined, false],
    ['startsWith', 'ab', 'abc', true],
    ['startsWith', 'ab', 'cab', false],
    ['endsWith', '@example.com', 'a@example.com', true],
    ['endsWith', '@example.com', 'a@example.org', false],
    ['contains', 'mid', 'amidst', true],
    ['contains', '1', 1, false],
    ['gt', 5, 6, true],
    ['gt', 5, 5, false],
    ['gte', 5, 5, true],
    ['lt', 5, 4, true],
    ['lte', 5, 6, false],
    ['lt', 5, '4', false],
    ['semverGte', '1.4.0', '1.10.0', true],
    ['semverGte', '1.4.0', '1.3.9', false],
    ['semverGt', '1.4.0', '1.4.0', false],
    ['semverLt', '1.4.0', '1.4.0-beta.2', true],
    ['semverLte', '1.4.0-beta.2', '1.4.0-beta.10', false],
    ['semverLt', '2.0.0', 'not a version', false],
    ['exists', true, 'anything', true],
    ['exists', true, undefined, false],
    ['exists', false, undefined, true],
  ])('%s %j against %j is %s', (operator, operand, attribute, expected) => {
    const content = { value: false, flag: { variants: { on: true }, rules: [{ if: { attribute: 'a', [operator]: operand }, variant: 'on' }] } };
    const context = attribute === undefined ? {} : { a: attribute };
    expect(ok(evaluateFlag('f', content, context)).reason).toBe(expected ? 'TARGETING_MATCH' : 'DEFAULT');
  });

  it('the rollout is sticky on the targeting key and splits close to its percentages', () => {
    const counts = { on: 0, off: 0 };
    for (let i = 0; i < 10_000; i++) {
      const first = ok(evaluateFlag('beta', beta, { targetingKey: `user-${i}` }));
      expect(first.reason).toBe('SPLIT');
      expect(ok(evaluateFlag('beta', beta, { targetingKey: `user-${i}` })).variant).toBe(first.variant);
      counts[first.variant as 'on' | 'off']++;
    }
    expect(counts.on).toBeGreaterThan(800);
    expect(counts.on).toBeLessThan(1200);
  });

  it('the rollout buckets each flag independently', () => {
    const differs = Array.from({ length: 200 }, (_, i) => rolloutBucket('a', `u${i}`) !== rolloutBucket('b', `u${i}`));
    expect(differs.filter(Boolean).length).toBeGreaterThan(190);
  });

  it('the bucket is fixed by the documented hash (FNV-1a 32 of key/value, modulo 10000)', () => {
    expect(stableHash('')).toBe(0x811c9dc5);
    expect(stableHash('a')).toBe(0xe40c292c);
    expect(rolloutBucket('beta', 'user-1')).toBe(stableHash('beta/user-1') % 10_000);
  });

  it('a rollout whose attribute the context lacks gives the default', () => {
    expect(ok(evaluateFlag('beta', beta, {}))).toEqual({ value: false, variant: 'off', reason: 'DEFAULT' });
  });

  it('a rollout of 100% on one variant always gives it', () => {
    const content = { value: 1, flag: { variants: { a: 1, b: 2 }, rollout: { variants: { a: 0, b: 100 }, by: 'org' } } };
    for (const org of ['x', 'y', 'z', '42']) expect(ok(evaluateFlag('f', content, { org }))).toEqual({ value: 2, variant: 'b', reason: 'SPLIT' });
  });

  it('a disabled flag answers its default with DISABLED, whatever the context', () => {
    expect(ok(evaluateFlag('beta', beta, { email: 'a@example.com' }, { disabled: true }))).toEqual({ value: false, variant: 'off', reason: 'DISABLED' });
    expect(ok(evaluateFlag('plain', { value: 3 }, {}, { disabled: true }))).toEqual({ value: 3, variant: 'default', reason: 'DISABLED' });
  });

  it.each([
    ['a list', []],
    ['a string', 'u1'],
    ['null', null],
  ])('a context that is %s is INVALID_CONTEXT', (_name, context) => {
    expect(evaluateFlag('beta', beta, context)).toMatchObject({ ok: false, errorCode: 'INVALID_CONTEXT' });
  });

  it('a targeting key that is not a string is INVALID_CONTEXT', () => {
    expect(evaluateFlag('beta', beta, { targetingKey: 7 })).toMatchObject({ ok: false, errorCode: 'INVALID_CONTEXT', message: expect.stringContaining('targetingKey') });
  });

  it('content that is not a config, or a broken flag field, is PARSE_ERROR naming the field', () => {
    expect(evaluateFlag('x', { match: {} })).toMatchObject({ ok: false, errorCode: 'PARSE_ERROR' });
    expect(evaluateFlag('x', { value: 1, flag: { defaultVariant: 'on' } })).toMatchObject({ ok: false, errorCode: 'PARSE_ERROR', message: expect.stringContaining('flag.defaultVariant') });
  });

  it('attributes are own properties of the context only', () => {
    const content = { value: false, flag: { variants: { on: true }, rules: [{ if: { attribute: 'constructor', exists: true }, variant: 'on' }] } };
    expect(ok(evaluateFlag('f', content, {})).reason).toBe('DEFAULT');
  });
});

describe('flagIssues', () => {
  it('accepts the documented example', () => {
    expect(flagIssues(beta.flag)).toEqual([]);
  });

  it.each([
    ['not an object', 'on', ''],
    ['an unknown field', { variants: { on: true }, colour: 'red' }, 'colour'],
    ['a default that is no variant', { variants: { on: true }, defaultVariant: 'off' }, 'defaultVariant'],
    ['a default without variants', { defaultVariant: 'off' }, 'defaultVariant'],
    ['empty variants', { variants: {} }, 'variants'],
    ['rules that are no list', { variants: { on: true }, rules: {} }, 'rules'],
    ['a rule naming no variant', { variants: { on: true }, rules: [{ if: { attribute: 'a', equals: 1 }, variant: 'x' }] }, 'rules.0.variant'],
    ['a rule without if', { variants: { on: true }, rules: [{ variant: 'on' }] }, 'rules.0.if'],
    ['an unknown operator', { variants: { on: true }, rules: [{ if: { attribute: 'a', matches: '.*' }, variant: 'on' }] }, 'rules.0.if.matches'],
    ['two operators', { variants: { on: true }, rules: [{ if: { attribute: 'a', equals: 1, in: [1] }, variant: 'on' }] }, 'rules.0.if'],
    ['no attribute', { variants: { on: true }, rules: [{ if: [{ equals: 1 }], variant: 'on' }] }, 'rules.0.if.0.attribute'],
    ['a bad operand', { variants: { on: true }, rules: [{ if: { attribute: 'a', gt: '5' }, variant: 'on' }] }, 'rules.0.if.gt'],
    ['a bad version', { variants: { on: true }, rules: [{ if: { attribute: 'v', semverGte: '1.2' }, variant: 'on' }] }, 'rules.0.if.semverGte'],
    ['percentages that add up to 90', { variants: { on: true, off: false }, rollout: { variants: { on: 10, off: 80 } } }, 'rollout.variants'],
    ['a rollout variant that is no variant', { variants: { on: true }, rollout: { variants: { on: 50, maybe: 50 } } }, 'rollout.variants.maybe'],
    ['a negative percentage', { variants: { on: true, off: false }, rollout: { variants: { on: 110, off: -10 } } }, 'rollout.variants.on'],
    ['a rollout by nothing', { variants: { on: true }, rollout: { variants: { on: 100 }, by: '' } }, 'rollout.by'],
  ])('names the field of %s', (_name, flag, path) => {
    expect(flagIssues(flag).map((issue) => issue.path.join('.'))).toContain(path);
  });
});
