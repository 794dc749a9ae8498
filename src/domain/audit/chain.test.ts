import { describe, expect, it } from 'vitest';
import { sha256, canonicalJson } from '../canonical.js';
import {
  CHAIN_KEYED_ACTION,
  CHAIN_START,
  endBreak,
  entryHash,
  firstBreak,
  GENESIS_HASH,
  keyingMarker,
  sealEntry,
  type AuditEntry,
  type AuditFields,
  type ChainPosition,
} from './chain.js';
import { chainKey, deriveAuditKey } from './keys.js';

type Fields = Omit<AuditFields, 'keyId'>;

function fields(seq: number, extra: Partial<Fields> = {}): Fields {
  return {
    seq,
    id: `aud_${seq}`,
    at: `2024-01-01T00:00:0${seq}.000Z`,
    actorId: 'usr_1',
    actorKind: 'user',
    actorName: 'Ada',
    action: 'release.commit',
    environment: 'development',
    target: 'workflow/welcome',
    beforeDigest: null,
    afterDigest: 'abcdef0123456789',
    requestId: `req_${seq}`,
    details: { release: seq },
    ...extra,
  };
}

const KEY = chainKey(deriveAuditKey(Buffer.alloc(32, 1), 'ws_1'));
const OTHER_KEY = chainKey(deriveAuditKey(Buffer.alloc(32, 2), 'ws_1'));

/** A correctly sealed chain: `unkeyed` entries with the old formula, the marker, then keyed ones up to `count`. */
function chain(count: number, unkeyed = 0): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= count; seq += 1) {
    const marker = seq === unkeyed + 1 && unkeyed > 0 ? { action: CHAIN_KEYED_ACTION, details: { keyId: KEY.id, unkeyedEntries: unkeyed } } : {};
    const entry = sealEntry(prevHash, fields(seq, marker), seq <= unkeyed ? null : KEY);
    entries.push(entry);
    prevHash = entry.hash;
  }
  return entries;
}

function position(entry: AuditEntry): ChainPosition {
  return { seq: entry.seq, hash: entry.hash, keyId: entry.keyId };
}

/** Replaces entry `index` of a copy of `entries`. */
function withEntry(entries: AuditEntry[], index: number, replacement: AuditEntry): AuditEntry[] {
  return entries.map((entry, i) => (i === index ? replacement : entry));
}

/** What an attacker with the database but not the key does: edit entry `index`, re-seal it and everything after. */
function resealFrom(entries: AuditEntry[], index: number, edit: Partial<Fields>, key: typeof KEY | null): AuditEntry[] {
  const out = entries.slice(0, index);
  let prevHash = index === 0 ? GENESIS_HASH : entries[index - 1]!.hash;
  for (const original of entries.slice(index)) {
    const { prevHash: _p, hash: _h, keyId: _k, ...rest } = original;
    const entry = sealEntry(prevHash, { ...rest, ...(original === entries[index] ? edit : {}) }, key);
    out.push(entry);
    prevHash = entry.hash;
  }
  return out;
}

describe('sealEntry', () => {
  it('links the entry to the previous hash and hashes its fields under the key', () => {
    const entry = sealEntry(GENESIS_HASH, fields(1), KEY);
    expect(entry.prevHash).toBe(GENESIS_HASH);
    expect(entry.keyId).toBe(KEY.id);
    expect(entry.hash).toBe(entryHash(GENESIS_HASH, { ...fields(1), keyId: KEY.id }, KEY));
    expect(entry.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps the original unkeyed formula for entries without a key', () => {
    const entry = sealEntry(GENESIS_HASH, fields(1), null);
    expect(entry.keyId).toBeNull();
    expect(entry.hash).toBe(sha256(`${GENESIS_HASH}\n${canonicalJson(fields(1))}`));
  });

  it('gives a keyed entry a hash that the unkeyed formula and another key do not reproduce', () => {
    const keyed = sealEntry(GENESIS_HASH, fields(1), KEY).hash;
    expect(keyed).not.toBe(sealEntry(GENESIS_HASH, fields(1), null).hash);
    expect(keyed).not.toBe(sealEntry(GENESIS_HASH, fields(1), OTHER_KEY).hash);
  });

  it('gives different hashes to equal fields after different previous hashes', () => {
    expect(sealEntry(GENESIS_HASH, fields(1), KEY).hash).not.toBe(sealEntry('1'.repeat(64), fields(1), KEY).hash);
  });

  it('hashes the same regardless of the key order of details', () => {
    const a = { ...fields(1, { details: { a: 1, b: 2 } }), keyId: KEY.id };
    const b = { ...fields(1, { details: { b: 2, a: 1 } }), keyId: KEY.id };
    expect(entryHash(GENESIS_HASH, a, KEY)).toBe(entryHash(GENESIS_HASH, b, KEY));
  });
});

describe('keyingMarker', () => {
  it.each([
    ['an empty chain', CHAIN_START, null],
    ['a keyed chain', { seq: 4, hash: 'a'.repeat(64), keyId: KEY.id }, null],
    ['an unkeyed chain', { seq: 4, hash: 'a'.repeat(64), keyId: null }, { action: CHAIN_KEYED_ACTION, details: { keyId: KEY.id, unkeyedEntries: 4 } }],
  ] as const)('for %s is %j', (_name, head, expected) => {
    expect(keyingMarker(head, KEY.id)).toEqual(expected);
  });
});

describe('firstBreak', () => {
  it('finds no break in a keyed chain', () => {
    expect(firstBreak(chain(5), CHAIN_START, KEY)).toBeNull();
  });

  it('finds no break in an unkeyed beginning followed by the marker and keyed entries', () => {
    expect(firstBreak(chain(8, 3), CHAIN_START, KEY)).toBeNull();
  });

  it('finds no break in an empty run', () => {
    expect(firstBreak([], CHAIN_START, KEY)).toBeNull();
  });

  it.each([
    ['action', { action: 'release.rollback' }],
    ['actorName', { actorName: 'Mallory' }],
    ['environment', { environment: 'production' }],
    ['afterDigest', { afterDigest: null }],
    ['details', { details: { release: 99 } }],
  ] as const)('detects an edited %s as hash_mismatch at that entry', (_field, edit) => {
    const entries = chain(4);
    const tampered = withEntry(entries, 2, { ...entries[2]!, ...edit });
    expect(firstBreak(tampered, CHAIN_START, KEY)).toEqual({ seq: 3, reason: 'hash_mismatch' });
  });

  it('detects an edited unkeyed entry as hash_mismatch at that entry', () => {
    const entries = chain(6, 3);
    expect(firstBreak(withEntry(entries, 1, { ...entries[1]!, actorName: 'Mallory' }), CHAIN_START, KEY)).toEqual({ seq: 2, reason: 'hash_mismatch' });
  });

  it('detects a keyed entry edited and re-sealed forward with the unkeyed formula at that entry', () => {
    const entries = chain(10);
    const tampered = resealFrom(entries, 5, { action: 'secret.read' }, null);
    expect(firstBreak(tampered, CHAIN_START, KEY)).toEqual({ seq: 6, reason: 'unkeyed_entry' });
  });

  it('detects the unkeyed formula under a kept key id as hash_mismatch', () => {
    const entries = chain(10);
    const tampered = resealFrom(entries, 5, { action: 'secret.read' }, null).map((entry, i) => (i >= 5 ? { ...entry, keyId: KEY.id } : entry));
    expect(firstBreak(tampered, CHAIN_START, KEY)).toEqual({ seq: 6, reason: 'hash_mismatch' });
  });

  it('detects an entry re-sealed under another key that claims the chain key id as hash_mismatch', () => {
    const entries = chain(10);
    const forger = { id: KEY.id, key: OTHER_KEY.key };
    expect(firstBreak(resealFrom(entries, 5, { action: 'secret.read' }, forger), CHAIN_START, KEY)).toEqual({ seq: 6, reason: 'hash_mismatch' });
  });

  it('detects an entry re-sealed under another key with its own id as unknown_key', () => {
    const entries = chain(10);
    expect(firstBreak(resealFrom(entries, 5, { action: 'secret.read' }, OTHER_KEY), CHAIN_START, KEY)).toEqual({ seq: 6, reason: 'unknown_key' });
  });

  it('refuses keyed entries when the verifier has no key', () => {
    expect(firstBreak(chain(2), CHAIN_START, null)).toEqual({ seq: 1, reason: 'unknown_key' });
  });

  it('detects an unkeyed entry edited and re-sealed forward up to the marker as a broken link at the marker', () => {
    const entries = chain(8, 4);
    const resealed = resealFrom(entries.slice(0, 4), 1, { actorName: 'Mallory' }, null);
    expect(firstBreak([...resealed, ...entries.slice(4)], CHAIN_START, KEY)).toEqual({ seq: 5, reason: 'broken_link' });
  });

  it('detects a first keyed entry after unkeyed ones that is not the marker', () => {
    const entries = chain(3, 2);
    const { prevHash: _p, hash: _h, keyId: _k, ...rest } = entries[2]!;
    const notMarker = sealEntry(entries[1]!.hash, { ...rest, action: 'release.commit' }, KEY);
    expect(firstBreak(withEntry(entries, 2, notMarker), CHAIN_START, KEY)).toEqual({ seq: 3, reason: 'unmarked_key_change' });
  });

  it('detects a removed entry as missing_entry at its seq', () => {
    const entries = chain(4);
    expect(firstBreak([entries[0]!, entries[2]!, entries[3]!], CHAIN_START, KEY)).toEqual({ seq: 2, reason: 'missing_entry' });
  });

  it('detects a removed first entry as missing_entry at seq 1', () => {
    expect(firstBreak(chain(3).slice(1), CHAIN_START, KEY)).toEqual({ seq: 1, reason: 'missing_entry' });
  });

  it('detects reordered entries as missing_entry', () => {
    const [one, two, three] = chain(3);
    expect(firstBreak([one!, three!, two!], CHAIN_START, KEY)).toEqual({ seq: 2, reason: 'missing_entry' });
  });

  it('detects an edited entry that was re-sealed with the key as a broken link at the next entry', () => {
    const entries = chain(4);
    const resealed = sealEntry(entries[1]!.prevHash, { ...fields(2), action: 'secret.read' }, KEY);
    expect(firstBreak(withEntry(entries, 1, resealed), CHAIN_START, KEY)).toEqual({ seq: 3, reason: 'broken_link' });
  });

  it('detects an entry sealed over the wrong previous hash as broken_link', () => {
    const entries = chain(3);
    const forged = sealEntry('f'.repeat(64), fields(2), KEY);
    expect(firstBreak(withEntry(entries, 1, forged), CHAIN_START, KEY)).toEqual({ seq: 2, reason: 'broken_link' });
  });

  it('detects a first entry not linked to the genesis hash as broken_link', () => {
    const entries = chain(2);
    const forged = sealEntry('a'.repeat(64), fields(1), KEY);
    expect(firstBreak(withEntry(entries, 0, forged), CHAIN_START, KEY)).toEqual({ seq: 1, reason: 'broken_link' });
  });

  it('reports only the first break when there are several', () => {
    const entries = chain(5);
    const tampered = withEntry(withEntry(entries, 1, { ...entries[1]!, actorId: 'x' }), 3, { ...entries[3]!, actorId: 'y' });
    expect(firstBreak(tampered, CHAIN_START, KEY)).toEqual({ seq: 2, reason: 'hash_mismatch' });
  });

  describe('from a verified position', () => {
    const entries = chain(6);
    const checkpoint = position(entries[2]!);
    const rest = entries.slice(3);

    it('verifies the run that follows the position', () => {
      expect(firstBreak(rest, checkpoint, KEY)).toBeNull();
    });

    it('detects a run that does not link to the position hash', () => {
      expect(firstBreak(rest, { ...checkpoint, hash: entries[1]!.hash }, KEY)).toEqual({ seq: 4, reason: 'broken_link' });
    });

    it('detects a run that does not start right after the position', () => {
      expect(firstBreak(entries.slice(4), checkpoint, KEY)).toEqual({ seq: 4, reason: 'missing_entry' });
    });

    it('detects an edit inside the run', () => {
      const tampered = withEntry(rest, 1, { ...rest[1]!, target: 'route/payments' });
      expect(firstBreak(tampered, checkpoint, KEY)).toEqual({ seq: 5, reason: 'hash_mismatch' });
    });
  });
});

describe('endBreak', () => {
  it('accepts a chain that ends keyed, and an empty one', () => {
    expect(endBreak(position(chain(5, 2)[4]!))).toBeNull();
    expect(endBreak(CHAIN_START)).toBeNull();
  });

  it('reports a chain that ends unkeyed as not keyed from its first entry', () => {
    const entries = chain(8, 4);
    // Everything re-sealed with the old formula, marker included: each entry verifies alone.
    const resealed = resealFrom(entries, 0, {}, null);
    expect(firstBreak(resealed, CHAIN_START, KEY)).toBeNull();
    expect(endBreak(position(resealed[7]!))).toEqual({ seq: 1, reason: 'not_keyed' });
  });
});
