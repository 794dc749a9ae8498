import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decryptSecret,
  encryptSecret,
  generateKeyBytes,
  KEY_BYTES,
  KeyError,
  masterKeyFromBytes,
  parseMasterKeys,
  secretHint,
  unwrapDataKey,
  wrapDataKey,
  type SecretAad,
} from './envelope.js';

const row: SecretAad = { workspaceId: 'ws_1', environmentId: 'env_prod', name: 'stripe_key', version: 3 };
const plaintext = 'sk_live_51HxQ2eK9aZ7tLmN4pRsTuVw';

/** The error `run` throws; fails the test when it does not throw. */
function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

/** `ciphertext` with one byte of its sealed part XORed; a negative position counts from the end. */
function flipByte(ciphertext: string, position: number): string {
  const sealed = Buffer.from(ciphertext.slice('v1.'.length), 'base64');
  sealed[position < 0 ? sealed.length + position : position]! ^= 0x01;
  return `v1.${sealed.toString('base64')}`;
}

describe('masterKeyFromBytes', () => {
  it('identifies a key by the first 16 hex chars of its sha256', () => {
    const bytes = generateKeyBytes();
    expect(masterKeyFromBytes(bytes).id).toBe(createHash('sha256').update(bytes).digest('hex').slice(0, 16));
  });

  it.each([0, 16, 31, 33, 64])('refuses a %i-byte key', (length) => {
    expect(() => masterKeyFromBytes(Buffer.alloc(length, 7))).toThrow(KeyError);
  });
});

describe('generateKeyBytes', () => {
  it('gives a different 32-byte key each call', () => {
    const a = generateKeyBytes();
    expect(a).toHaveLength(KEY_BYTES);
    expect(a.equals(generateKeyBytes())).toBe(false);
  });
});

describe('encryptSecret and decryptSecret', () => {
  it.each([
    ['a typical token', plaintext],
    ['an empty value', ''],
    ['unicode and newlines', 'pässwörd 🔑\nline two'],
    ['a long value', 'x'.repeat(100_000)],
  ])('round-trips %s', (_, value) => {
    const dataKey = generateKeyBytes();
    expect(decryptSecret(dataKey, encryptSecret(dataKey, value, row), row)).toBe(value);
  });

  it('marks the ciphertext with its format version', () => {
    expect(encryptSecret(generateKeyBytes(), plaintext, row)).toMatch(/^v1\.[A-Za-z0-9+/]+=*$/);
  });

  it('gives two encryptions of the same plaintext different ciphertexts (fresh nonce)', () => {
    const dataKey = generateKeyBytes();
    const first = encryptSecret(dataKey, plaintext, row);
    const second = encryptSecret(dataKey, plaintext, row);
    expect(first).not.toBe(second);
    const nonce = (ciphertext: string) => Buffer.from(ciphertext.slice(3), 'base64').subarray(0, 12);
    expect(nonce(first).equals(nonce(second))).toBe(false);
  });

  it.each([
    ['the first nonce byte', 0],
    ['the last nonce byte', 11],
    ['the first tag byte', 12],
    ['the last tag byte', 27],
    ['the first body byte', 28],
    ['the last body byte', -1],
  ])('refuses a ciphertext with %s flipped', (_, position) => {
    const dataKey = generateKeyBytes();
    const tampered = flipByte(encryptSecret(dataKey, plaintext, row), position);
    expect(() => decryptSecret(dataKey, tampered, row)).toThrow(KeyError);
  });

  it.each<[string, Partial<SecretAad>]>([
    ['another workspace', { workspaceId: 'ws_2' }],
    ['another environment', { environmentId: 'env_staging' }],
    ['another name', { name: 'crm_token' }],
    ['another version', { version: 4 }],
  ])("refuses a ciphertext read with %s's AAD", (_, change) => {
    const dataKey = generateKeyBytes();
    const ciphertext = encryptSecret(dataKey, plaintext, row);
    expect(() => decryptSecret(dataKey, ciphertext, { ...row, ...change })).toThrow(KeyError);
  });

  it('does not let a newline shift one field into the next', () => {
    const dataKey = generateKeyBytes();
    const ciphertext = encryptSecret(dataKey, plaintext, { ...row, environmentId: 'a\nb', name: 'c' });
    expect(() => decryptSecret(dataKey, ciphertext, { ...row, environmentId: 'a', name: 'b\nc' })).toThrow(KeyError);
  });

  it('refuses a ciphertext read with another data key', () => {
    const ciphertext = encryptSecret(generateKeyBytes(), plaintext, row);
    expect(() => decryptSecret(generateKeyBytes(), ciphertext, row)).toThrow(KeyError);
  });

  it.each([
    ['an empty string', ''],
    ['no format prefix', 'AAAA'],
    ['an unknown format version', 'v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['characters outside base64', 'v1.not*base64!'],
    ['fewer bytes than a nonce and tag', `v1.${Buffer.alloc(27).toString('base64')}`],
  ])('refuses a malformed ciphertext: %s', (_, ciphertext) => {
    expect(() => decryptSecret(generateKeyBytes(), ciphertext, row)).toThrow(KeyError);
  });

  it('refuses a truncated ciphertext', () => {
    const dataKey = generateKeyBytes();
    const sealed = Buffer.from(encryptSecret(dataKey, plaintext, row).slice(3), 'base64');
    const truncated = `v1.${sealed.subarray(0, -1).toString('base64')}`;
    expect(() => decryptSecret(dataKey, truncated, row)).toThrow(KeyError);
  });

  it('names the secret, and nothing else, when it cannot decrypt', () => {
    const dataKey = generateKeyBytes();
    const error = thrown(() => decryptSecret(dataKey, flipByte(encryptSecret(dataKey, plaintext, row), 30), row));
    expect(error).toBeInstanceOf(KeyError);
    expect(error.message).toBe('secret stripe_key cannot be decrypted');
  });

  it('keeps plaintext and key material out of every decryption error', () => {
    const dataKey = generateKeyBytes();
    const ciphertext = encryptSecret(dataKey, plaintext, row);
    const failures = [
      () => decryptSecret(generateKeyBytes(), ciphertext, row),
      () => decryptSecret(dataKey, ciphertext, { ...row, version: 4 }),
      () => decryptSecret(dataKey, flipByte(ciphertext, -1), row),
      () => decryptSecret(Buffer.alloc(5), ciphertext, row),
    ];
    for (const fail of failures) {
      const error = thrown(fail);
      expect(error).toBeInstanceOf(KeyError);
      const text = `${error.message}\n${error.stack ?? ''}\n${String(error.cause ?? '')}`;
      expect(text).not.toContain(plaintext);
      expect(text).not.toContain(dataKey.toString('base64'));
      expect(text).not.toContain(dataKey.toString('hex'));
    }
  });

  it('refuses to encrypt with a data key that is not 32 bytes', () => {
    expect(() => encryptSecret(Buffer.alloc(16), plaintext, row)).toThrow(KeyError);
  });
});

describe('wrapDataKey and unwrapDataKey', () => {
  it('round-trips a data key', () => {
    const master = masterKeyFromBytes(generateKeyBytes());
    const dataKey = generateKeyBytes();
    const wrapped = wrapDataKey(master, dataKey, 'ws_1');
    expect(wrapped.masterKeyId).toBe(master.id);
    expect(unwrapDataKey([master], wrapped, 'ws_1').equals(dataKey)).toBe(true);
  });

  it('gives two wrappings of the same data key different blobs (fresh nonce)', () => {
    const master = masterKeyFromBytes(generateKeyBytes());
    const dataKey = generateKeyBytes();
    expect(wrapDataKey(master, dataKey, 'ws_1').blob).not.toBe(wrapDataKey(master, dataKey, 'ws_1').blob);
  });

  it('refuses to unwrap a data key for another workspace', () => {
    const master = masterKeyFromBytes(generateKeyBytes());
    const wrapped = wrapDataKey(master, generateKeyBytes(), 'ws_1');
    const error = thrown(() => unwrapDataKey([master], wrapped, 'ws_2'));
    expect(error).toBeInstanceOf(KeyError);
    expect(error.message).toBe(`the data key of workspace ws_2 cannot be decrypted with master key ${master.id}`);
  });

  it('keeps audit keys and data keys apart: neither unwraps as the other', () => {
    const master = masterKeyFromBytes(generateKeyBytes());
    const key = generateKeyBytes();
    const audit = wrapDataKey(master, key, 'ws_1', 'audit-key');
    expect(unwrapDataKey([master], audit, 'ws_1', 'audit-key').equals(key)).toBe(true);
    expect(thrown(() => unwrapDataKey([master], audit, 'ws_1')).message).toBe(`the data key of workspace ws_1 cannot be decrypted with master key ${master.id}`);
    expect(thrown(() => unwrapDataKey([master], wrapDataKey(master, key, 'ws_1'), 'ws_1', 'audit-key')).message).toBe(
      `the audit key of workspace ws_1 cannot be decrypted with master key ${master.id}`,
    );
  });

  it('refuses a blob with a flipped byte', () => {
    const master = masterKeyFromBytes(generateKeyBytes());
    const wrapped = wrapDataKey(master, generateKeyBytes(), 'ws_1');
    const blob = Buffer.from(wrapped.blob, 'base64');
    blob[20]! ^= 0x80;
    expect(() => unwrapDataKey([master], { ...wrapped, blob: blob.toString('base64') }, 'ws_1')).toThrow(KeyError);
  });

  it('unwraps with whichever configured master key has the wrapped id (rotation)', () => {
    const next = masterKeyFromBytes(generateKeyBytes());
    const previous = masterKeyFromBytes(generateKeyBytes());
    const older = masterKeyFromBytes(generateKeyBytes());
    const dataKey = generateKeyBytes();
    const wrapped = wrapDataKey(previous, dataKey, 'ws_1');
    expect(unwrapDataKey([next, previous, older], wrapped, 'ws_1').equals(dataKey)).toBe(true);
  });

  it('names the unknown master key id when none is configured for it', () => {
    const retired = masterKeyFromBytes(generateKeyBytes());
    const wrapped = wrapDataKey(retired, generateKeyBytes(), 'ws_1');
    const error = thrown(() => unwrapDataKey([masterKeyFromBytes(generateKeyBytes())], wrapped, 'ws_1'));
    expect(error).toBeInstanceOf(KeyError);
    expect(error.message).toBe(`no configured master key has id ${retired.id}`);
  });

  it('keeps the data key and master key out of unwrap errors', () => {
    const masterBytes = generateKeyBytes();
    const master = masterKeyFromBytes(masterBytes);
    const dataKey = generateKeyBytes();
    const error = thrown(() => unwrapDataKey([master], wrapDataKey(master, dataKey, 'ws_1'), 'ws_2'));
    for (const secret of [masterBytes, dataKey]) {
      expect(error.message).not.toContain(secret.toString('base64'));
      expect(error.message).not.toContain(secret.toString('hex'));
    }
  });

  it('refuses to wrap a data key that is not 32 bytes', () => {
    expect(() => wrapDataKey(masterKeyFromBytes(generateKeyBytes()), Buffer.alloc(31), 'ws_1')).toThrow(KeyError);
  });
});

describe('parseMasterKeys', () => {
  // 0xfb bytes encode as "+/v7…" in standard base64 and "-_v7…" url-safe, so both alphabets are used.
  const bytesA = Buffer.alloc(32, 0xfb);
  const bytesB = Buffer.alloc(32, 0x3e);

  it('reads one standard base64 key', () => {
    const [key, ...rest] = parseMasterKeys(bytesA.toString('base64'));
    expect(rest).toHaveLength(0);
    expect(key?.key.equals(bytesA)).toBe(true);
    expect(key?.id).toBe(masterKeyFromBytes(bytesA).id);
  });

  it('reads one url-safe base64 key without padding', () => {
    const encoded = bytesA.toString('base64url');
    expect(encoded).toMatch(/[-_]/);
    expect(parseMasterKeys(encoded)[0]?.key.equals(bytesA)).toBe(true);
  });

  it('reads two keys with spaces and newlines around them, the first as primary', () => {
    const value = `  ${bytesB.toString('base64')} ,\n ${bytesA.toString('base64url')}  `;
    expect(parseMasterKeys(value).map((key) => key.id)).toEqual([
      masterKeyFromBytes(bytesB).id,
      masterKeyFromBytes(bytesA).id,
    ]);
  });

  it.each([
    ['an empty value', '   ', 'STAGELINE_MASTER_KEY holds no key'],
    ['an empty entry', `${bytesA.toString('base64')},,${bytesB.toString('base64')}`, '2nd key'],
    ['a trailing comma', `${bytesA.toString('base64')},`, '2nd key'],
    ['a non-base64 first key', 'not*a*key!'.repeat(4), '1st key'],
    ['a stray character that Buffer.from would skip', bytesA.toString('base64url').replace(/^(.{20})/, '$1.'), '1st key'],
    ['a 16-byte key', `${bytesA.toString('base64')},${Buffer.alloc(16, 9).toString('base64')}`, '2nd key'],
    ['a 33-byte third key', `${bytesA.toString('base64')},${bytesB.toString('base64')},${Buffer.alloc(33, 1).toString('base64')}`, '3rd key'],
    ['a duplicate written in the other alphabet', `${bytesA.toString('base64')},${bytesA.toString('base64url')}`, '2nd key'],
  ])('refuses %s, naming the position', (_, value, position) => {
    const error = thrown(() => parseMasterKeys(value));
    expect(error).toBeInstanceOf(KeyError);
    expect(error.message).toContain('STAGELINE_MASTER_KEY');
    expect(error.message).toContain(position);
  });

  it.each([
    ['a short key', `  ${Buffer.alloc(16, 0x5a).toString('base64')}  `],
    ['a key that is not base64', 'correct*horse*battery*staple'],
    ['a duplicate key', `${bytesA.toString('base64')},${bytesA.toString('base64')}`],
  ])('keeps the value out of the error for %s', (_, value) => {
    const error = thrown(() => parseMasterKeys(value));
    for (const entry of value.split(',')) {
      const trimmed = entry.trim();
      expect(error.message).not.toContain(trimmed);
      expect(error.message).not.toContain(trimmed.slice(0, 8));
    }
  });
});

describe('secretHint', () => {
  it.each([
    ['an empty value', '', '••••'],
    ['a 4-char value', 'abcd', '••••'],
    ['a 15-char value', '123456789012345', '••••'],
    ['a 16-char value', '1234567890123456', '••••3456'],
    ['a long token', plaintext, '••••TuVw'],
    ['a value ending in an emoji, without splitting it', `${'a'.repeat(16)}xy🔑z`, '••••xy🔑z'],
  ])('hints %s', (_, value, hint) => {
    expect(secretHint(value)).toBe(hint);
  });
});
