import { describe, expect, it } from 'vitest';
import { entryHash, firstBreak, GENESIS_HASH, sealEntry, type AuditEntry, type AuditFields } from './chain.js';

function fields(seq: number, extra: Partial<AuditFields> = {}): AuditFields {
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

/** A correctly sealed chain of `count` entries starting at seq 1. */
function chain(count: number): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= count; seq += 1) {
    const entry = sealEntry(prevHash, fields(seq));
    entries.push(entry);
    prevHash = entry.hash;
  }
  return entries;
}

/** Replaces entry `index` of a copy of `entries`. */
function withEntry(entries: AuditEntry[], index: number, replacement: AuditEntry): AuditEntry[] {
  return entries.map((entry, i) => (i === index ? replacement : entry));
}

describe('sealEntry', () => {
  it('links the entry to the previous hash and hashes its fields', () => {
    const entry = sealEntry(GENESIS_HASH, fields(1));
    expect(entry.prevHash).toBe(GENESIS_HASH);
    expect(entry.hash).toBe(entryHash(GENESIS_HASH, fields(1)));
    expect(entry.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives different hashes to equal fields after different previous hashes', () => {
    expect(sealEntry(GENESIS_HASH, fields(1)).hash).not.toBe(sealEntry('1'.repeat(64), fields(1)).hash);
  });

  it('hashes the same regardless of the key order of details', () => {
    const a = fields(1, { details: { a: 1, b: 2 } });
    const b = fields(1, { details: { b: 2, a: 1 } });
    expect(entryHash(GENESIS_HASH, a)).toBe(entryHash(GENESIS_HASH, b));
  });
});

describe('firstBreak', () => {
  it('finds no break in a chain of sealed entries', () => {
    expect(firstBreak(chain(5), null)).toBeNull();
  });

  it('finds no break in an empty run', () => {
    expect(firstBreak([], null)).toBeNull();
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
    expect(firstBreak(tampered, null)).toEqual({ seq: 3, reason: 'hash_mismatch' });
  });

  it('detects a removed entry as missing_entry at its seq', () => {
    const entries = chain(4);
    expect(firstBreak([entries[0]!, entries[2]!, entries[3]!], null)).toEqual({ seq: 2, reason: 'missing_entry' });
  });

  it('detects a removed first entry as missing_entry at seq 1', () => {
    expect(firstBreak(chain(3).slice(1), null)).toEqual({ seq: 1, reason: 'missing_entry' });
  });

  it('detects reordered entries as missing_entry', () => {
    const [one, two, three] = chain(3);
    expect(firstBreak([one!, three!, two!], null)).toEqual({ seq: 2, reason: 'missing_entry' });
  });

  it('detects an edited entry that was re-sealed as a broken link at the next entry', () => {
    const entries = chain(4);
    const resealed = sealEntry(entries[1]!.prevHash, { ...fields(2), action: 'secret.read' });
    expect(firstBreak(withEntry(entries, 1, resealed), null)).toEqual({ seq: 3, reason: 'broken_link' });
  });

  it('detects an entry sealed over the wrong previous hash as broken_link', () => {
    const entries = chain(3);
    const forged = sealEntry('f'.repeat(64), fields(2));
    expect(firstBreak(withEntry(entries, 1, forged), null)).toEqual({ seq: 2, reason: 'broken_link' });
  });

  it('detects a first entry not linked to the genesis hash as broken_link', () => {
    const entries = chain(2);
    const forged = sealEntry('a'.repeat(64), fields(1));
    expect(firstBreak(withEntry(entries, 0, forged), null)).toEqual({ seq: 1, reason: 'broken_link' });
  });

  it('reports only the first break when there are several', () => {
    const entries = chain(5);
    const tampered = withEntry(withEntry(entries, 1, { ...entries[1]!, actorId: 'x' }), 3, { ...entries[3]!, actorId: 'y' });
    expect(firstBreak(tampered, null)).toEqual({ seq: 2, reason: 'hash_mismatch' });
  });

  describe('from a checkpoint', () => {
    const entries = chain(6);
    const checkpoint = { seq: entries[2]!.seq, hash: entries[2]!.hash };
    const rest = entries.slice(3);

    it('verifies the run that follows the checkpoint', () => {
      expect(firstBreak(rest, checkpoint)).toBeNull();
    });

    it('detects a run that does not link to the checkpoint hash', () => {
      expect(firstBreak(rest, { seq: 3, hash: entries[1]!.hash })).toEqual({ seq: 4, reason: 'broken_link' });
    });

    it('detects a run that does not start right after the checkpoint', () => {
      expect(firstBreak(entries.slice(4), checkpoint)).toEqual({ seq: 4, reason: 'missing_entry' });
    });

    it('detects an edit inside the run', () => {
      const tampered = withEntry(rest, 1, { ...rest[1]!, target: 'route/payments' });
      expect(firstBreak(tampered, checkpoint)).toEqual({ seq: 5, reason: 'hash_mismatch' });
    });
  });
});
