import { createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chainKey, checkpointKeys, checkpointMessage, checkpointSignatureValid, deriveAuditKey, signCheckpoint } from './keys.js';

const master = Buffer.alloc(32, 9);
const point = { seq: 286, hash: 'ab'.repeat(32), at: '2026-12-01T20:00:00.000Z' };

describe('audit keys', () => {
  it('derive the same keys from the same master key and workspace, and other keys otherwise', () => {
    const a = deriveAuditKey(master, 'ws_1');
    expect(a).toHaveLength(32);
    expect(deriveAuditKey(master, 'ws_1').equals(a)).toBe(true);
    expect(deriveAuditKey(master, 'ws_2').equals(a)).toBe(false);
    expect(deriveAuditKey(Buffer.alloc(32, 8), 'ws_1').equals(a)).toBe(false);
    expect(chainKey(a)).toEqual(chainKey(deriveAuditKey(master, 'ws_1')));
    expect(chainKey(a).id).toMatch(/^[0-9a-f]{16}$/);
    expect(checkpointKeys(a).keyId).toBe(checkpointKeys(deriveAuditKey(master, 'ws_1')).keyId);
  });

  it('keep the chain key and the signing seed apart from the audit key itself', () => {
    const auditKey = deriveAuditKey(master, 'ws_1');
    expect(chainKey(auditKey).key.equals(auditKey)).toBe(false);
    const raw = checkpointKeys(auditKey).privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
    expect(raw.equals(auditKey)).toBe(false);
    expect(raw.equals(chainKey(auditKey).key)).toBe(false);
  });
});

describe('checkpoint signatures', () => {
  const keys = checkpointKeys(deriveAuditKey(master, 'ws_1'));
  const signature = signCheckpoint(keys, 'ws_1', point);

  it('verify with the published PEM public key and plain node:crypto', () => {
    const published = createPublicKey(keys.publicKeyPem);
    expect(published.asymmetricKeyType).toBe('ed25519');
    expect(verify(null, checkpointMessage('ws_1', point), published, Buffer.from(signature, 'base64'))).toBe(true);
    expect(checkpointSignatureValid(published, 'ws_1', point, signature)).toBe(true);
  });

  it.each([
    ['another seq', { ...point, seq: 285 }, 'ws_1'],
    ['another hash', { ...point, hash: 'cd'.repeat(32) }, 'ws_1'],
    ['another time', { ...point, at: '2026-12-01T20:00:01.000Z' }, 'ws_1'],
    ['another workspace', point, 'ws_2'],
  ])('fail for %s', (_what, changed, workspace) => {
    expect(checkpointSignatureValid(keys.publicKey, workspace, changed, signature)).toBe(false);
  });

  it('fail for another key and for a signature that is not one', () => {
    const other = checkpointKeys(deriveAuditKey(master, 'ws_2'));
    expect(checkpointSignatureValid(other.publicKey, 'ws_1', point, signature)).toBe(false);
    expect(checkpointSignatureValid(keys.publicKey, 'ws_1', point, 'not a signature')).toBe(false);
    expect(checkpointSignatureValid(keys.publicKey, 'ws_1', point, '')).toBe(false);
  });
});
