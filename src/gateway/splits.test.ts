import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bucketOf, compileSplit } from './splits.js';

const PRIMARY = 'https://primary.internal';
const CANARY = 'https://canary.internal';

const canary = (weight: number) => compileSplit({ canary: { url: CANARY, weight } }, PRIMARY);

/** Client ids of the shapes the gateway uses: client addresses (IPv4 and IPv6) and API key ids. */
const idSets: Record<string, string[]> = {
  'sequential IPv4 addresses': Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`),
  'sequential IPv6 addresses': Array.from({ length: 10_000 }, (_, i) => `2001:db8::${i.toString(16)}`),
  'random key ids': Array.from({ length: 10_000 }, () => randomUUID()),
  'numbered key ids': Array.from({ length: 10_000 }, (_, i) => `key_${i}`),
};

describe('canary split', () => {
  const cases = Object.keys(idSets).flatMap((set) => [5, 20, 50].map((weight) => [set, weight] as const));
  it.each(cases)('%s at weight %i: the canary share is within 2 points of the weight', (set, weight) => {
    const split = canary(weight);
    const ids = idSets[set]!;
    const toCanary = ids.filter((id) => split.choose(id).name === 'canary').length;
    expect(Math.abs((toCanary / ids.length) * 100 - weight)).toBeLessThanOrEqual(2);
  });

  it('lays out the targets as primary then canary, and the choice indexes them', () => {
    const split = canary(50);
    expect(split.targets).toEqual([PRIMARY, CANARY]);
    const seen = new Map<string, number>();
    for (const id of idSets['numbered key ids']!.slice(0, 200)) {
      const chosen = split.choose(id);
      seen.set(chosen.name, chosen.target);
    }
    expect(Object.fromEntries(seen)).toEqual({ primary: 0, canary: 1 });
  });

  it('the same client id always gets the same answer', () => {
    const split = canary(20);
    const again = canary(20);
    for (const id of idSets['random key ids']!.slice(0, 2000)) {
      const first = split.choose(id);
      expect(split.choose(id)).toBe(first);
      expect(again.choose(id).name).toBe(first.name);
    }
  });

  it('raising the weight only moves clients from the primary to the canary', () => {
    const ids = idSets['sequential IPv4 addresses']!;
    const weights = [0, 0.5, 1, 5, 12.25, 20, 33.3, 50, 75, 99.99, 100];
    let previous = new Set<string>();
    for (const weight of weights) {
      const split = canary(weight);
      const current = new Set(ids.filter((id) => split.choose(id).name === 'canary'));
      for (const id of previous) expect(current.has(id), `${id} left the canary at weight ${weight}`).toBe(true);
      expect(current.size).toBeGreaterThanOrEqual(previous.size);
      previous = current;
    }
    expect(previous.size).toBe(ids.length);
  });

  it('weight 0 sends nobody to the canary, 100 everybody', () => {
    const none = canary(0);
    const all = canary(100);
    for (const id of [...idSets['random key ids']!.slice(0, 1000), '', '__proto__', 'constructor']) {
      expect(none.choose(id).name).toBe('primary');
      expect(all.choose(id).name).toBe('canary');
    }
  });

  it('requests without a client id are split at random, near the weight', () => {
    const split = canary(30);
    let toCanary = 0;
    for (let i = 0; i < 10_000; i++) if (split.choose('').name === 'canary') toCanary++;
    expect(Math.abs(toCanary / 100 - 30)).toBeLessThanOrEqual(3);
  });

  it('a fractional weight is resolved to 0.01 %: weight 12.34 takes buckets 0 to 1233', () => {
    const split = canary(12.34);
    const byBucket = new Map<number, string>();
    for (let i = 0; byBucket.size < 10_000 && i < 1_000_000; i++) {
      const id = `client-${i}`;
      if (!byBucket.has(bucketOf(id))) byBucket.set(bucketOf(id), id);
    }
    for (const [bucket, id] of byBucket) expect(split.choose(id).name, `bucket ${bucket}`).toBe(bucket < 1234 ? 'canary' : 'primary');
    expect(byBucket.has(1233) && byBucket.has(1234)).toBe(true);
  });

  it('buckets spread over [0, 10000) for prototype names and long ids too', () => {
    for (const id of ['__proto__', 'constructor', 'toString', 'x'.repeat(100_000), '\u{1F600}']) {
      const bucket = bucketOf(id);
      expect(Number.isInteger(bucket) && bucket >= 0 && bucket < 10_000).toBe(true);
    }
  });
});

describe('blue-green split', () => {
  it.each([
    ['blue', 0],
    ['green', 1],
  ] as const)('every request goes to %s (target %i)', (active, target) => {
    const split = compileSplit({ blueGreen: { blue: 'https://blue.internal', green: 'https://green.internal', active } }, PRIMARY);
    expect(split.targets).toEqual(['https://blue.internal', 'https://green.internal']);
    for (const id of ['', '10.0.0.1', 'key_1', '__proto__']) expect(split.choose(id)).toEqual({ name: active, target });
  });
});

describe('no split', () => {
  it('the route upstream is the only target', () => {
    const split = compileSplit(undefined, PRIMARY);
    expect(split.targets).toEqual([PRIMARY]);
    expect(split.choose('10.0.0.1')).toEqual({ name: 'primary', target: 0 });
  });
});
