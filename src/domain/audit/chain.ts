// The audit chain: each entry's hash covers its own fields and the previous entry's hash, so
// editing, removing or reordering any stored entry breaks verification from that point on.
import { canonicalJson, sha256 } from '../canonical.js';

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
}

export interface AuditEntry extends AuditFields {
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

export function entryHash(prevHash: string, fields: AuditFields): string {
  return sha256(`${prevHash}\n${canonicalJson(fields)}`);
}

export function sealEntry(prevHash: string, fields: AuditFields): AuditEntry {
  return { ...fields, prevHash, hash: entryHash(prevHash, fields) };
}

export type ChainBreak = { seq: number; reason: 'hash_mismatch' | 'broken_link' | 'missing_entry' };

/**
 * Checks a run of entries in sequence order. `previous` is the last verified entry before the
 * run (null at the start of the chain). Returns the first break, or null.
 */
export function firstBreak(entries: AuditEntry[], previous: { seq: number; hash: string } | null): ChainBreak | null {
  let expectedSeq = previous ? previous.seq + 1 : 1;
  let prevHash = previous ? previous.hash : GENESIS_HASH;
  for (const entry of entries) {
    if (entry.seq !== expectedSeq) return { seq: expectedSeq, reason: 'missing_entry' };
    if (entry.prevHash !== prevHash) return { seq: entry.seq, reason: 'broken_link' };
    const { prevHash: _p, hash, ...fields } = entry;
    if (entryHash(prevHash, fields) !== hash) return { seq: entry.seq, reason: 'hash_mismatch' };
    prevHash = hash;
    expectedSeq += 1;
  }
  return null;
}
