import { describe, expect, it } from 'vitest';
import { BUCKET_COUNT, bucketLowerMs, bucketOf, mergeInto, mergeSparse, quantile, toSparse } from './histogram.js';

/** Nearest-rank percentile of raw values. */
function exact(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

function histogramOf(values: number[]): Float64Array {
  const dense = new Float64Array(BUCKET_COUNT);
  for (const v of values) dense[bucketOf(v)]! += 1;
  return dense;
}

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('latency histogram', () => {
  it('puts a value in the bucket whose bounds hold it, clamping outside the range', () => {
    for (const ms of [0.023, 0.5, 1.1, 3.7, 99, 1234, 60_000]) {
      const b = bucketOf(ms);
      expect(bucketLowerMs(b)).toBeLessThanOrEqual(ms * (1 + 1e-12));
      expect(bucketLowerMs(b + 1)).toBeGreaterThan(ms);
    }
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(10_000_000)).toBe(BUCKET_COUNT - 1);
    expect(bucketLowerMs(BUCKET_COUNT)).toBeGreaterThan(120_000);
  });

  it('answers p50/p95/p99 within one bucket of the exact percentiles of random latencies', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const next = random(seed);
      // Log-normal-ish: most requests fast, a long tail.
      const values = Array.from({ length: 2000 + seed * 333 }, () => Math.exp(next() * 6 + (next() < 0.05 ? 3 : 0)) * 0.5);
      const dense = histogramOf(values);
      for (const q of [0.5, 0.95, 0.99]) {
        const answer = quantile(dense, q)!;
        expect(Math.abs(bucketOf(answer) - bucketOf(exact(values, q)))).toBeLessThanOrEqual(1);
      }
    }
  });

  it('merges by addition: two halves answer what the whole does', () => {
    const next = random(9);
    const values = Array.from({ length: 1000 }, () => next() * 500);
    const merged = new Float64Array(BUCKET_COUNT);
    mergeInto(merged, histogramOf(values.slice(0, 400)));
    mergeSparse(merged, toSparse(histogramOf(values.slice(400))));
    expect(Array.from(merged)).toEqual(Array.from(histogramOf(values)));
    expect(quantile(merged, 0.95)).toBe(quantile(histogramOf(values), 0.95));
  });

  it('answers null for an empty histogram and ignores foreign keys in a stored one', () => {
    const dense = new Float64Array(BUCKET_COUNT);
    expect(quantile(dense, 0.5)).toBeNull();
    mergeSparse(dense, JSON.parse('{"__proto__": 5, "-1": 2, "999": 1, "3": 4}'));
    expect(dense.reduce((a, b) => a + b, 0)).toBe(4);
  });
});
