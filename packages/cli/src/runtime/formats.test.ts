import { parseEnv } from 'node:util';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { dotenvValue, formatVariables } from './formats.js';

describe('dotenv values', () => {
  it.each([
    ['8080', '8080'],
    ['https://x.example/a?b', "'https://x.example/a?b'"],
    ['', ''],
    ['a b', "'a b'"],
    ['$HOME #x "q" \\', `'$HOME #x "q" \\'`],
    ["it's", `"it's"`],
    ['line1\nline2', '"line1\\nline2"'],
    ['a\'"$`\\\r\n', '"a\'\\"\\$\\`\\\\\\r\\n"'],
  ])('%j → %s', (value, written) => {
    expect(dotenvValue(value)).toBe(written);
  });

  it("Node's dotenv reader reads back plain, single-quoted and simple multi-line values", () => {
    const values = { PLAIN: 'abc', DOLLAR: '$HOME #not a comment', JSON: '{"a":[1,2]}', PEM: '-----BEGIN KEY-----\nabc\n-----END KEY-----' };
    expect(parseEnv(formatVariables(values, 'dotenv'))).toEqual(values);
  });

  it('every entry stays on one line', () => {
    expect(formatVariables({ A: 'x\ny', B: 'z' }, 'dotenv').split('\n')).toEqual(['A="x\\ny"', 'B=z', '']);
  });
});

describe('json and yaml', () => {
  it('keep every value a string', () => {
    const values = { N: '8080', B: 'true', NULLISH: 'null', M: 'a\nb: c' };
    expect(JSON.parse(formatVariables(values, 'json'))).toEqual(values);
    expect(parse(formatVariables(values, 'yaml'))).toEqual(values);
    expect(parse(formatVariables({}, 'yaml'))).toEqual({});
  });
});
