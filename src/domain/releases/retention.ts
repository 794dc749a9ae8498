// Which releases of one environment retention keeps: the last N days, the last M releases, the
// head, and every release something still needs (pinned). Pure: the GC passes the rows and the clock.

export interface RetentionPolicy {
  /** Every release created within this many days is kept (0: none by age). */
  days: number;
  /** The newest this many releases are kept (0: none by count). */
  releases: number;
}

export interface ReleaseAge {
  number: number;
  createdAt: string;
}

/**
 * The release numbers past retention, oldest first. The head and `pinned` (the releases a
 * pending request, a running watch or run, or a branch's fork needs) are kept whatever the
 * policy says, so a policy of 0 and 0 still leaves every environment its current state.
 */
export function releasesPastRetention(releases: ReleaseAge[], head: number, pinned: ReadonlySet<number>, policy: RetentionPolicy, now: Date): number[] {
  const cutoff = new Date(now.getTime() - policy.days * 86_400_000).toISOString();
  const newestFirst = [...releases].sort((a, b) => b.number - a.number);
  const past: number[] = [];
  newestFirst.forEach((release, index) => {
    if (index < policy.releases || (policy.days > 0 && release.createdAt >= cutoff)) return;
    if (release.number === head || pinned.has(release.number)) return;
    past.push(release.number);
  });
  return past.reverse();
}
