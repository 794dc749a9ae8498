// Latency histograms with fixed log buckets: 8 sub-buckets per power of two from 0.01 ms to
// about 168 s, so a bucket spans 9 % of its value and every node's histograms merge by addition.

/** The lower bound of bucket 0, in ms; anything below is counted in bucket 0. */
export const HISTOGRAM_MIN_MS = 0.01;
/** Sub-buckets per power of two. */
export const SUB_BUCKETS = 8;
/** 24 powers of two: 0.01 ms · 2^24 ≈ 168 s; anything above is counted in the last bucket. */
export const BUCKET_COUNT = 24 * SUB_BUCKETS;

const SCALE = SUB_BUCKETS / Math.LN2;
const LOG_MIN = Math.log(HISTOGRAM_MIN_MS);

/** The bucket a duration falls in (values outside the range clamp to the end buckets). */
export function bucketOf(ms: number): number {
  if (!(ms > HISTOGRAM_MIN_MS)) return 0;
  const index = Math.floor((Math.log(ms) - LOG_MIN) * SCALE);
  return index >= BUCKET_COUNT ? BUCKET_COUNT - 1 : index;
}

/** The lower bound of a bucket in ms (bucket `BUCKET_COUNT` is the upper bound of the last). */
export function bucketLowerMs(index: number): number {
  return HISTOGRAM_MIN_MS * 2 ** (index / SUB_BUCKETS);
}

/** The value a quantile in a bucket answers: the bucket's geometric middle. */
export function bucketValueMs(index: number): number {
  return HISTOGRAM_MIN_MS * 2 ** ((index + 0.5) / SUB_BUCKETS);
}

/** Adds `from` into `into` (dense arrays of BUCKET_COUNT counts). */
export function mergeInto(into: Float64Array, from: ArrayLike<number>): void {
  for (let i = 0; i < BUCKET_COUNT; i++) into[i]! += from[i] ?? 0;
}

/** Adds a sparse `{index: count}` map (as rollup rows store it) into a dense histogram. */
export function mergeSparse(into: Float64Array, sparse: Record<string, number>): void {
  for (const key of Object.keys(sparse)) {
    const index = Number(key);
    const count = sparse[key];
    if (Number.isInteger(index) && index >= 0 && index < BUCKET_COUNT && typeof count === 'number') into[index]! += count;
  }
}

/** The non-empty buckets as `{index: count}`. */
export function toSparse(dense: ArrayLike<number>): Record<string, number> {
  const sparse: Record<string, number> = {};
  for (let i = 0; i < BUCKET_COUNT; i++) if (dense[i]) sparse[String(i)] = dense[i]!;
  return sparse;
}

/**
 * The q-quantile (0 < q ≤ 1) by nearest rank: the middle of the bucket holding the
 * ⌈q·n⌉-th smallest value, so it lies in the same bucket as the exact percentile. Null when empty.
 */
export function quantile(dense: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < BUCKET_COUNT; i++) total += dense[i] ?? 0;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < BUCKET_COUNT; i++) {
    seen += dense[i] ?? 0;
    if (seen >= rank) return round(bucketValueMs(i));
  }
  return round(bucketValueMs(BUCKET_COUNT - 1));
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
