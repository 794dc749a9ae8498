// Envelope encryption of secret values: master keys wrap one data key per workspace, and data
// keys encrypt each secret version bound to its row. Pure node:crypto; keys are passed in.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const CIPHER = 'aes-256-gcm';
const SECRET_PREFIX = 'v1.';
const MASTER_KEY_VARIABLE = 'STAGELINE_MASTER_KEY';

export interface MasterKey {
  /** First 16 hex chars of sha256(key): a fingerprint that is safe to store and log. */
  id: string;
  key: Buffer;
}

/** Any key or decryption problem. Messages never contain key material or plaintext. */
export class KeyError extends Error {
  override name = 'KeyError';
}

export function masterKeyFromBytes(key: Buffer): MasterKey {
  if (key.length !== KEY_BYTES) throw new KeyError(`a master key is ${KEY_BYTES} bytes, not ${key.length}`);
  // A copy, so a caller that later zeroes or reuses its buffer cannot change the key.
  const copy = Buffer.from(key);
  return { id: createHash('sha256').update(copy).digest('hex').slice(0, 16), key: copy };
}

/**
 * Reads `STAGELINE_MASTER_KEY`: comma-separated base64 (standard or url-safe) keys, whitespace
 * ignored. The first wraps new data keys; the rest still unwrap old ones during a rotation.
 */
export function parseMasterKeys(value: string): MasterKey[] {
  const compact = value.replace(/\s+/g, '');
  if (compact === '') throw new KeyError(`${MASTER_KEY_VARIABLE} holds no key`);
  const keys: MasterKey[] = [];
  compact.split(',').forEach((entry, index) => {
    const where = `the ${ordinal(index + 1)} key in ${MASTER_KEY_VARIABLE}`;
    if (entry === '') throw new KeyError(`${where} is empty`);
    const bytes = decodeBase64(entry);
    if (bytes === null) throw new KeyError(`${where} is not base64`);
    if (bytes.length !== KEY_BYTES) {
      throw new KeyError(`${where} decodes to ${bytes.length} bytes; a master key is ${KEY_BYTES} bytes`);
    }
    const key = masterKeyFromBytes(bytes);
    const earlier = keys.findIndex((other) => other.id === key.id);
    if (earlier >= 0) throw new KeyError(`${where} repeats the ${ordinal(earlier + 1)} key`);
    keys.push(key);
  });
  return keys;
}

export function generateKeyBytes(): Buffer {
  return randomBytes(KEY_BYTES);
}

export interface WrappedKey {
  masterKeyId: string;
  /** base64 of nonce(12) | tag(16) | ciphertext. */
  blob: string;
}

/** What a wrapped workspace key is for; bound into the wrapping, so one cannot stand in for the other. */
export type WrappedKeyPurpose = 'data-key' | 'audit-key';

export function wrapDataKey(master: MasterKey, dataKey: Buffer, workspaceId: string, purpose: WrappedKeyPurpose = 'data-key'): WrappedKey {
  if (dataKey.length !== KEY_BYTES) throw new KeyError(`a data key is ${KEY_BYTES} bytes, not ${dataKey.length}`);
  const sealed = seal(master.key, dataKey, dataKeyAad(workspaceId, purpose));
  return { masterKeyId: master.id, blob: sealed.toString('base64') };
}

export function unwrapDataKey(masters: MasterKey[], wrapped: WrappedKey, workspaceId: string, purpose: WrappedKeyPurpose = 'data-key'): Buffer {
  const master = masters.find((candidate) => candidate.id === wrapped.masterKeyId);
  if (!master) throw new KeyError(`no configured master key has id ${wrapped.masterKeyId}`);
  const dataKey = open(master.key, wrapped.blob, dataKeyAad(workspaceId, purpose));
  if (dataKey === null || dataKey.length !== KEY_BYTES) {
    throw new KeyError(
      `the ${purpose === 'data-key' ? 'data' : 'audit'} key of workspace ${workspaceId} cannot be decrypted with master key ${wrapped.masterKeyId}`,
    );
  }
  return dataKey;
}

/** The row a secret version belongs to; a ciphertext only decrypts for the row it was written for. */
export interface SecretAad {
  workspaceId: string;
  environmentId: string;
  name: string;
  version: number;
}

export function encryptSecret(dataKey: Buffer, plaintext: string, aad: SecretAad): string {
  if (dataKey.length !== KEY_BYTES) throw new KeyError(`a data key is ${KEY_BYTES} bytes, not ${dataKey.length}`);
  return SECRET_PREFIX + seal(dataKey, Buffer.from(plaintext, 'utf8'), secretAad(aad)).toString('base64');
}

export function decryptSecret(dataKey: Buffer, ciphertext: string, aad: SecretAad): string {
  const plaintext = ciphertext.startsWith(SECRET_PREFIX)
    ? open(dataKey, ciphertext.slice(SECRET_PREFIX.length), secretAad(aad))
    : null;
  if (plaintext === null) throw new KeyError(`secret ${aad.name} cannot be decrypted`);
  // Sealed from a JS string, so the bytes are valid UTF-8 whenever the tag verified.
  return plaintext.toString('utf8');
}

/** A masked hint for metadata. Short values show nothing, since four characters of them is too much. */
export function secretHint(value: string): string {
  // Code points, not UTF-16 units, so the hint never ends in half a surrogate pair.
  const chars = Array.from(value);
  return chars.length >= 16 ? `••••${chars.slice(-4).join('')}` : '••••';
}

function dataKeyAad(workspaceId: string, purpose: WrappedKeyPurpose): Buffer {
  return Buffer.from(`stageline:${purpose}:v1\n${workspaceId}`, 'utf8');
}

function secretAad({ workspaceId, environmentId, name, version }: SecretAad): Buffer {
  // A JSON array of quoted strings cannot be split two ways; a safe integer has one JSON form
  // (NaN and Infinity would both be `null`).
  if (!Number.isSafeInteger(version)) throw new KeyError(`secret ${name} has a version that is not an integer`);
  return Buffer.from(`stageline:secret:v1\n${JSON.stringify([workspaceId, environmentId, name, version])}`, 'utf8');
}

function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new KeyError(`an encryption key is ${KEY_BYTES} bytes, not ${key.length}`);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv(CIPHER, key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, cipher.getAuthTag(), body]);
}

/** The plaintext, or null for any failure: callers turn it into a KeyError naming what failed. */
function open(key: Buffer, encoded: string, aad: Buffer): Buffer | null {
  const sealed = decodeBase64(encoded);
  if (key.length !== KEY_BYTES || sealed === null || sealed.length < NONCE_BYTES + TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv(CIPHER, key, sealed.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    return null;
  }
}

/**
 * Strict base64 (standard or url-safe, padding optional). Buffer.from alone skips characters it
 * does not know, so a key with a stray character would silently decode to 32 other bytes.
 */
function decodeBase64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) return null;
  if (text.includes('=') && text.length % 4 !== 0) return null;
  // Node's base64url decoder reads both alphabets.
  return Buffer.from(text, 'base64url');
}

function ordinal(position: number): string {
  const teen = position % 100 >= 11 && position % 100 <= 13;
  const suffix = teen ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[position % 10] ?? 'th';
  return `${position}${suffix}`;
}
