// The audit chain: each entry's hash covers its own fields and the previous entry's hash, so
// editing, removing or reordering any stored entry breaks verification from that point on.
// Entries are sealed with HMAC-SHA256 under the workspace's chain key, so recomputing hashes
// needs that key; entries written before keying keep their plain SHA-256 and are vouched for
// by the one marker entry that keyed the chain.
import { createHmac } from 'node:crypto';
import { canonicalJson, sha256 } from '../canonical.js';
import type { ChainKey } from './keys.js';

export interface AuditFields {
  seq: number;
  id: string;
  at: string;
  actorId: string;
  actorKind: string;
  actorName: string;
  action: string;
  environment: string | null;
  target: string | null;
  beforeDigest: string | null;
  afterDigest: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
  /** The chain key that sealed the entry; null for entries sealed before the chain was keyed. */
  keyId: string | null;
}

export interface AuditEntry extends AuditFields {
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** The action of the marker entry that keys a chain whose earlier entries are unkeyed. */
export const CHAIN_KEYED_ACTION = 'audit.chain_keyed';

/**
 * Unkeyed entries (keyId null) keep the original formula, sha256(prev + "\n" + fields); keyed
 * ones are HMAC-SHA256 under the chain key over the same text, the key id among the fields.
 */
export function entryHash(prevHash: string, fields: AuditFields, key: ChainKey | null): string {
  if (fields.keyId === null) {
    const { keyId: _none, ...unkeyed } = fields;
    return sha256(`${prevHash}\n${canonicalJson(unkeyed)}`);
  }
  if (!key || key.id !== fields.keyId) throw new Error(`entry ${fields.seq} is sealed under key ${fields.keyId}, which is not the key given`);
  return createHmac('sha256', key.key).update(`${prevHash}\n${canonicalJson(fields)}`).digest('hex');
}

/** Seals under `key`, or with the unkeyed formula when it is null (entries from before keying). */
export function sealEntry(prevHash: string, fields: Omit<AuditFields, 'keyId'>, key: ChainKey | null): AuditEntry {
  const withKey: AuditFields = { ...fields, keyId: key ? key.id : null };
  return { ...withKey, prevHash, hash: entryHash(prevHash, withKey, key) };
}

/** The last entry of a chain (or of its verified part): `{seq: 0, hash: GENESIS_HASH, keyId: null}` before the first. */
export interface ChainPosition {
  seq: number;
  hash: string;
  keyId: string | null;
}

export const CHAIN_START: ChainPosition = { seq: 0, hash: GENESIS_HASH, keyId: null };

/**
 * The marker to append before the next entry sealed under `keyId`: one, when a chain that
 * already has unkeyed entries gets its first keyed one. A new chain is keyed from its first entry.
 */
export function keyingMarker(head: ChainPosition, keyId: string): { action: string; details: Record<string, unknown> } | null {
  if (head.seq === 0 || head.keyId !== null) return null;
  return { action: CHAIN_KEYED_ACTION, details: { keyId, unkeyedEntries: head.seq } };
}

export type ChainBreakReason =
  | 'hash_mismatch'
  | 'broken_link'
  | 'missing_entry'
  /** Sealed under a key id that is not the workspace's chain key. */
  | 'unknown_key'
  /** An unkeyed entry after a keyed one: only a chain's beginning may be unkeyed. */
  | 'unkeyed_entry'
  /** The first keyed entry after unkeyed ones is not the keying marker. */
  | 'unmarked_key_change'
  /** The chain ends unkeyed: nothing vouches for its unkeyed entries. */
  | 'not_keyed';

export type ChainBreak = { seq: number; reason: ChainBreakReason };

/**
 * Checks a run of entries in sequence order. `previous` is the last verified entry before the
 * run (`CHAIN_START` at the start of the chain); `key` is the workspace's chain key (null if it
 * has none). Returns the first break, or null.
 */
export function firstBreak(entries: AuditEntry[], previous: ChainPosition, key: ChainKey | null): ChainBreak | null {
  let last = previous;
  for (const entry of entries) {
    if (entry.seq !== last.seq + 1) return { seq: last.seq + 1, reason: 'missing_entry' };
    if (entry.prevHash !== last.hash) return { seq: entry.seq, reason: 'broken_link' };
    const { prevHash: _p, hash, ...fields } = entry;
    if (entry.keyId === null && last.keyId !== null) return { seq: entry.seq, reason: 'unkeyed_entry' };
    if (entry.keyId !== null && (!key || entry.keyId !== key.id)) return { seq: entry.seq, reason: 'unknown_key' };
    if (entryHash(last.hash, fields, key) !== hash) return { seq: entry.seq, reason: 'hash_mismatch' };
    if (entry.keyId !== null && last.keyId === null && last.seq > 0 && entry.action !== CHAIN_KEYED_ACTION) {
      return { seq: entry.seq, reason: 'unmarked_key_change' };
    }
    last = { seq: entry.seq, hash, keyId: entry.keyId };
  }
  return null;
}

/** Checked once the whole chain has been read: a chain that ends unkeyed is not vouched for from its first entry on. */
export function endBreak(last: ChainPosition): ChainBreak | null {
  return last.seq > 0 && last.keyId === null ? { seq: 1, reason: 'not_keyed' } : null;
}
