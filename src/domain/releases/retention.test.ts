import { describe, expect, it } from 'vitest';
import { releasesPastRetention } from './retention.js';

const now = new Date('2026-03-01T00:00:00.000Z');
const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000).toISOString();
// Releases 1..10, release n created (10 - n) * 10 days ago: #10 today, #1 90 days ago.
const releases = Array.from({ length: 10 }, (_, i) => ({ number: i + 1, createdAt: daysAgo((9 - i) * 10) }));

describe('releasesPastRetention', () => {
  it.each([
    { name: 'the last M releases are kept', policy: { days: 0, releases: 3 }, head: 10, pinned: [], past: [1, 2, 3, 4, 5, 6, 7] },
    { name: 'the last N days are kept', policy: { days: 25, releases: 0 }, head: 10, pinned: [], past: [1, 2, 3, 4, 5, 6, 7] },
    { name: 'whichever rule keeps more wins', policy: { days: 45, releases: 2 }, head: 10, pinned: [], past: [1, 2, 3, 4, 5] },
    { name: 'the head is kept under a policy of 0 and 0', policy: { days: 0, releases: 0 }, head: 10, pinned: [], past: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
    { name: 'a rolled-back head far in the past is kept', policy: { days: 0, releases: 1 }, head: 4, pinned: [], past: [1, 2, 3, 5, 6, 7, 8, 9] },
    { name: 'pinned releases are kept', policy: { days: 0, releases: 1 }, head: 10, pinned: [2, 7], past: [1, 3, 4, 5, 6, 8, 9] },
  ])('$name', ({ policy, head, pinned, past }) => {
    expect(releasesPastRetention(releases, head, new Set(pinned), policy, now)).toEqual(past);
  });

  it('0 days keeps none by age, even a release made this instant', () => {
    expect(releasesPastRetention([{ number: 1, createdAt: now.toISOString() }, { number: 2, createdAt: now.toISOString() }], 2, new Set(), { days: 0, releases: 0 }, now)).toEqual([1]);
  });

  it('an environment without releases has none past retention', () => {
    expect(releasesPastRetention([], 0, new Set(), { days: 0, releases: 0 }, now)).toEqual([]);
  });
});
