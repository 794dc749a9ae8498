import { describe, expect, it } from 'vitest';
import { MASKED_NUMBER, maskString, maskValue } from './mask.js';

describe('maskString', () => {
  it.each([
    ['an email keeps first letters and the top-level domain', 'jane.doe@example.com', 'j***@e***.com'],
    ['a multi-label domain keeps its last label', 'ops@mail.example.co.uk', 'o***@m***.uk'],
    ['a dotless domain shows no suffix', 'root@localhost', 'r***@l***'],
    ['an international phone keeps its last 2 digits', '+1 (555) 010-4412', '+*********12'],
    ['a compact phone keeps its last 2 digits', '+447700900112', '+**********12'],
    ['a national phone keeps its last 2 digits', '020 7946 0958', '*********58'],
    ['a short digit string is not a phone', '12345', '1***'],
    ['a 16-digit number is not a phone', '4111111111111111', '4***'],
    ['an ISO date is not a phone', '2024-01-15', '2***'],
    ['any other string keeps its first character', 'Jane Doe', 'J***'],
    ['the first character is a whole code point', '😀 smile', '😀***'],
    ['a one-character string is not shown whole', 'Y', '***'],
    ['an empty string stays empty', '', ''],
  ])('%s', (_name, input, masked) => {
    expect(maskString(input)).toBe(masked);
  });
});

describe('maskValue', () => {
  it('keeps keys, array lengths, booleans and null; masks strings and numbers', () => {
    const record = {
      email: 'jane.doe@example.com',
      phone: '+1 (555) 010-4412',
      name: 'Jane',
      age: 42,
      score: -0.5,
      verified: true,
      deletedAt: null,
      tags: ['vip', 'beta', ''],
      address: { city: 'Lisbon', lines: ['Rua A 1', 'Apt 2'] },
      history: [{ at: 1, ok: false }],
    };
    expect(maskValue(record)).toEqual({
      email: 'j***@e***.com',
      phone: '+*********12',
      name: 'J***',
      age: MASKED_NUMBER,
      score: MASKED_NUMBER,
      verified: true,
      deletedAt: null,
      tags: ['v***', 'b***', ''],
      address: { city: 'L***', lines: ['R***', 'A***'] },
      history: [{ at: MASKED_NUMBER, ok: false }],
    });
  });

  it('does not change the value it is given', () => {
    const record = { name: 'Jane', nested: { n: 1 } };
    maskValue(record);
    expect(record).toEqual({ name: 'Jane', nested: { n: 1 } });
  });

  it('keeps a key named __proto__ as a plain key', () => {
    const record = JSON.parse('{"__proto__": {"secret": "value"}}');
    const masked = maskValue(record) as Record<string, unknown>;
    expect(Object.keys(masked)).toEqual(['__proto__']);
    expect(JSON.stringify(masked)).toBe('{"__proto__":{"secret":"v***"}}');
    expect(Object.getPrototypeOf(masked)).toBe(Object.prototype);
  });

  it('leaves no original string or number in a masked record', () => {
    const record = { a: 'sensitive-value', b: [123456, 'another-one'], c: { d: 'deep-secret' } };
    const text = JSON.stringify(maskValue(record));
    for (const original of ['sensitive-value', '123456', 'another-one', 'deep-secret']) expect(text).not.toContain(original);
  });
});
