// The keys behind the audit log: each workspace's audit key (derived once from the primary master
// key, then kept wrapped so master-key rotation never changes it), the HMAC key that seals its
// chain, and the Ed25519 key pair that signs its checkpoints. Pure node:crypto; keys are passed in.
import { createHash, createPrivateKey, createPublicKey, hkdfSync, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../canonical.js';

const AUDIT_KEY_INFO = 'stageline audit key v1';
const CHAIN_KEY_INFO = 'stageline audit chain v1';
const CHECKPOINT_KEY_INFO = 'stageline audit checkpoint v1';
const KEY_BYTES = 32;
/** PKCS#8 DER of an Ed25519 private key is this fixed prefix followed by the 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function hkdf(key: Buffer, salt: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.from(salt, 'utf8'), Buffer.from(info, 'utf8'), KEY_BYTES));
}

function fingerprint(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** A workspace's audit key, derived from the master key that is primary when the workspace first needs one. */
export function deriveAuditKey(masterKey: Buffer, workspaceId: string): Buffer {
  return hkdf(masterKey, workspaceId, AUDIT_KEY_INFO);
}

export interface ChainKey {
  /** Stored in every entry it sealed: a fingerprint, safe to show. */
  id: string;
  key: Buffer;
}

export function chainKey(auditKey: Buffer): ChainKey {
  const key = hkdf(auditKey, '', CHAIN_KEY_INFO);
  return { id: fingerprint(key), key };
}

export interface CheckpointKeys {
  /** Fingerprint of the raw public key. */
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM, what `openssl pkeyutl -verify` and node:crypto read. */
  publicKeyPem: string;
}

export function checkpointKeys(auditKey: Buffer): CheckpointKeys {
  const seed = hkdf(auditKey, '', CHECKPOINT_KEY_INFO);
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { keyId: fingerprint(spki.subarray(spki.length - 32)), privateKey, publicKey, publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

/** The point in a chain that a checkpoint vouches for. */
export interface CheckpointPoint {
  seq: number;
  hash: string;
  at: string;
}

/** The signed bytes: bound to the workspace, so a checkpoint of one workspace says nothing about another. */
export function checkpointMessage(workspaceId: string, point: CheckpointPoint): Buffer {
  return Buffer.from(canonicalJson({ purpose: CHECKPOINT_KEY_INFO, workspace: workspaceId, seq: point.seq, hash: point.hash, at: point.at }), 'utf8');
}

/** Base64 of the Ed25519 signature of the checkpoint message. */
export function signCheckpoint(keys: CheckpointKeys, workspaceId: string, point: CheckpointPoint): string {
  return sign(null, checkpointMessage(workspaceId, point), keys.privateKey).toString('base64');
}

export function checkpointSignatureValid(publicKey: KeyObject, workspaceId: string, point: CheckpointPoint, signature: string): boolean {
  const bytes = Buffer.from(signature, 'base64');
  if (bytes.length !== 64) return false;
  return verify(null, checkpointMessage(workspaceId, point), publicKey, bytes);
}
