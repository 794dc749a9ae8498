// The file format's pure rules: key ↔ file name, the server's hash, stable rendering, parsing.
import { describe, expect, it } from 'vitest';
import { contentHash as serverHash } from '../../../../src/domain/canonical.js';
import { RESOURCE_KEY_PATTERN as SERVER_KEY_PATTERN } from '../../../../src/domain/resources/kinds.js';
import { contentHash, fileNameOf, keyOfFileName, parseFile, renderFile, RESOURCE_KEY_PATTERN } from './format.js';

describe('file names', () => {
  it.each([
    ['payments', 'payments.yaml'],
    ['Payments.v2', 'Payments.v2.yaml'],
    ['con', '%63on.yaml'],
    ['AUX.json', '%41UX.json.yaml'],
    ['lpt9', '%6Cpt9.yaml'],
    ['console', 'console.yaml'],
    ['v1.', 'v1%2E.yaml'],
    ['a..', 'a.%2E.yaml'],
  ])('key %s is written as %s and read back', (key, name) => {
    expect(fileNameOf(key)).toBe(name);
    expect(keyOfFileName(name)).toBe(key);
  });

  it.each(['..yaml', '.hidden.yaml', '../x.yaml', 'con.yaml', 'v1..yaml', 'a%2Fb.yaml', '%2E%2E.yaml', 'a b.yaml', 'payments.yml', `${'a'.repeat(129)}.yaml`])(
    '%s is no key',
    (name) => expect(keyOfFileName(name)).toBeNull(),
  );

  it('the key rule is the server’s', () => expect(RESOURCE_KEY_PATTERN.source).toBe(SERVER_KEY_PATTERN.source));
});

describe('content', () => {
  const content = { value: { b: [1, { d: 'x', c: null }], a: 'multi\nline\n' }, public: true };

  it('hashes as the server does', () => expect(contentHash(content)).toBe(serverHash(content)));

  it('renders $app first and every map sorted, whatever the input order', () => {
    const text = renderFile('config', 'flags', content, 'billing');
    expect(text).toBe(renderFile('config', 'flags', { public: true, value: { a: 'multi\nline\n', b: [1, { c: null, d: 'x' }] } }, 'billing'));
    expect(text.split('\n').slice(0, 3)).toEqual(['# config/flags (stageline: edit, then stageline push)', '$app: billing', 'public: true']);
    const parsed = parseFile(text);
    expect(parsed.file).toMatchObject({ app: 'billing', hash: contentHash(content) });
  });

  it('keeps strings that look like other YAML types as strings', () => {
    const tricky = { value: { yes: 'yes', zero: '012', date: '2024-01-01', empty: '', tilde: '~', num: '1e3' } };
    expect(parseFile(renderFile('config', 'x', tricky, null)).file?.hash).toBe(contentHash(tricky));
  });

  it.each([
    ['value: [1, 2\n', /^line 2:1 Flow sequence/],
    ['value: 1\nvalue: 2\n', /unique/],
    ['value: .inf\n', /finite/],
    ['- 1\n- 2\n', /map/],
    ['value:\n  __proto__: {}\n', /__proto__/],
    ['$app: Billing\nvalue: 1\n', /lowercase/],
  ])('refuses %j', (text, message) => {
    const parsed = parseFile(text);
    expect(parsed.file).toBeNull();
    expect(parsed.issues.map((i) => `${i.field} ${i.message}`).join(' ')).toMatch(message);
  });
});
