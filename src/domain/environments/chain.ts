// The environment chain: which environments exist, in what order, which are editable, and
// which environment a promotion into a target must come from. Pure rules, no storage.
import { conflict, invalid } from '../errors.js';

export type EnvironmentKind = 'chain' | 'branch';

export interface Environment {
  id: string;
  workspaceId: string;
  slug: string;
  name: string;
  kind: EnvironmentKind;
  position: number;
  protected: boolean;
  approvalsRequired: number;
  /** Protected environments: a rollback waits for approvals too (off: rollback stays instant). */
  approvalsForRollback: boolean;
  obfuscateData: boolean;
  region: string | null;
  color: string | null;
  parentId: string | null;
  /** Number of the current release; 0 while the environment has none. */
  headRelease: number;
  /** Branches: the parent's release the branch forked at, moved forward by each merge. */
  forkRelease: number | null;
  /** Branches: the snapshot id the next merge into the parent is three-way against. */
  mergeBase: string | null;
  /** Branches: when the TTL sweep deletes the branch; null without a TTL. */
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export const FIRST_ENVIRONMENT = 'development';
export const LAST_ENVIRONMENT = 'production';
export const SLUG_PATTERN = /^[a-z][a-z0-9-]{1,40}$/;

export function slugIssue(slug: string): string | null {
  return SLUG_PATTERN.test(slug)
    ? null
    : 'must start with a lowercase letter and contain 2 to 41 lowercase letters, digits or hyphens';
}

/** Chain environments in promotion order, then branches by slug. */
export function orderEnvironments<E extends Pick<Environment, 'kind' | 'position' | 'slug'>>(envs: E[]): E[] {
  return [...envs].sort((a, b) => {
    if (a.kind !== b.kind) return a.kind === 'chain' ? -1 : 1;
    return a.kind === 'chain' ? a.position - b.position : a.slug.localeCompare(b.slug);
  });
}

/** The default environment of runtime calls that name none: the last of the chain. */
export function defaultEnvironment<E extends Environment>(envs: E[]): E | undefined {
  const chain = orderEnvironments(envs).filter((e) => e.kind === 'chain');
  return chain[chain.length - 1];
}

/**
 * Where a new chain environment goes: immediately before production, which moves one place
 * down. Returns the position of the new environment and the positions to shift.
 */
export function insertionBeforeLast(chain: Pick<Environment, 'id' | 'position' | 'kind'>[]): {
  position: number;
  shift: { id: string; position: number }[];
} {
  const ordered = [...chain].filter((e) => e.kind === 'chain').sort((a, b) => a.position - b.position);
  const last = ordered[ordered.length - 1];
  if (!last) return { position: 0, shift: [] };
  return { position: last.position, shift: [{ id: last.id, position: last.position + 1 }] };
}

export function isEditable(env: Pick<Environment, 'kind' | 'position'>, chain: Pick<Environment, 'kind' | 'position'>[]): boolean {
  if (env.kind === 'branch') return true;
  const first = Math.min(...chain.filter((e) => e.kind === 'chain').map((e) => e.position));
  return env.position === first;
}

/** Refuses a write of resource content into an environment that only changes by promotion. */
export function assertEditable(env: Environment, all: Environment[]): void {
  if (isEditable(env, all)) return;
  const source = promotionSource(env, all);
  const hint = source ? `promote from ${source.slug}` : 'it changes only by promotion or rollback';
  throw conflict(
    'environment_not_editable',
    `${env.slug} is not editable: ${hint}`,
    [{ environment: env.slug, promoteFrom: source?.slug ?? null }],
  );
}

/** The one environment a promotion into `target` may come from, if any. */
export function promotionSource<E extends Environment>(target: E, all: E[]): E | undefined {
  if (target.kind === 'branch') return undefined;
  const chain = orderEnvironments(all).filter((e) => e.kind === 'chain');
  const index = chain.findIndex((e) => e.id === target.id);
  return index > 0 ? chain[index - 1] : undefined;
}

/**
 * Checks the requested source of a promotion against the chain and returns the source: the
 * previous chain environment, or a branch of the target (a merge), named by `from`.
 */
export function resolvePromotionSource<E extends Environment>(target: E, all: E[], requested?: string): E {
  const branch = requested !== undefined ? all.find((e) => e.slug === requested && e.kind === 'branch') : undefined;
  if (branch) {
    if (branch.parentId === target.id) return branch;
    const parent = all.find((e) => e.id === branch.parentId);
    throw conflict(
      'promotion_out_of_order',
      `${branch.slug} is a branch of ${parent?.slug ?? 'another environment'}: it merges only into its parent`,
      [{ field: 'from', expected: parent?.slug ?? null, received: target.slug }],
    );
  }
  const source = promotionSource(target, all);
  if (!source) {
    throw conflict(
      'promotion_out_of_order',
      target.kind === 'branch'
        ? `${target.slug} is a branch: edit and commit there, then merge it into its parent`
        : `${target.slug} is the start of the chain: nothing is promoted into it, edit and commit there`,
    );
  }
  if (requested !== undefined && requested !== source.slug) {
    throw conflict(
      'promotion_out_of_order',
      `${target.slug} is promoted from ${source.slug}, not from ${requested}`,
      [{ field: 'from', expected: source.slug, received: requested }],
    );
  }
  return source;
}

/** How many approvals a promotion into a protected environment needs (at least one). */
export function approvalsNeeded(target: Pick<Environment, 'approvalsRequired'>): number {
  return Math.max(1, target.approvalsRequired);
}

/** A rollback stays the instant incident tool unless a protected environment asks for approvals. */
export function rollbackNeedsApproval(env: Pick<Environment, 'protected' | 'approvalsForRollback'>): boolean {
  return env.protected && env.approvalsForRollback;
}

/** Why an environment cannot be deleted, or null when it can. */
export function deletionBlocker(
  env: Environment,
  all: Environment[],
  contents: { releases: number; drafts: number },
): { code: string; message: string } | null {
  if (env.kind === 'chain') {
    const chain = orderEnvironments(all).filter((e) => e.kind === 'chain');
    if (chain[0]?.id === env.id || chain[chain.length - 1]?.id === env.id) {
      return {
        code: 'environment_required',
        message: `${env.slug} is the ${chain[0]?.id === env.id ? 'start' : 'end'} of the chain and cannot be deleted`,
      };
    }
    if (contents.releases > 0 || contents.drafts > 0) {
      return {
        code: 'environment_not_empty',
        message: `${env.slug} has ${contents.releases} release(s) and ${contents.drafts} draft(s); only an empty middle environment can be deleted`,
      };
    }
  }
  return null;
}

/** Positions after removing one chain environment, closing the gap. */
export function compactPositions(chain: Pick<Environment, 'id' | 'position' | 'kind'>[], removedId: string) {
  return chain
    .filter((e) => e.kind === 'chain' && e.id !== removedId)
    .sort((a, b) => a.position - b.position)
    .map((e, index) => ({ id: e.id, position: index }))
    .filter((e, index) => chain.find((c) => c.id === e.id)?.position !== index);
}

export function assertSlug(slug: string, field = 'slug'): void {
  const issue = slugIssue(slug);
  if (issue) throw invalid([{ field, message: issue, in: 'body' }]);
}
