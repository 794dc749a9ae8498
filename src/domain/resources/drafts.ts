// Rules about drafts relative to the committed content of their environment.

export type DraftState = 'created' | 'modified' | 'deleted';

/** How a draft changes its resource: a new one, a new version, or a deletion. */
export function draftState(committedHash: string | null, draftHash: string | null): DraftState {
  if (draftHash === null) return 'deleted';
  return committedHash === null ? 'created' : 'modified';
}

/** A draft identical to what is committed is no change at all, and is not kept. */
export function isNoOpDraft(committed: { hash: string; app: string | null } | null, draft: { hash: string; app: string | null }): boolean {
  return committed !== null && committed.hash === draft.hash && committed.app === draft.app;
}

/** A draft is stale when the committed content moved after the draft was based on it. */
export function isStaleDraft(baseHash: string | null, committedHash: string | null): boolean {
  return baseHash !== committedHash;
}
