// Environment use cases: list the chain, add an environment before production, change flags,
// delete an empty middle environment.
import {
  assertSlug,
  compactPositions,
  deletionBlocker,
  FIRST_ENVIRONMENT,
  insertionBeforeLast,
  orderEnvironments,
  type Environment,
} from '../domain/environments/chain.js';
import { conflict, invalid, notFound, StagelineError } from '../domain/errors.js';
import { authorize, SYSTEM_ACTOR } from '../domain/auth/permissions.js';
import {
  countEnvironmentContents,
  deleteEnvironment as deleteEnvironmentRows,
  environmentContents,
  expiredBranches,
  insertEnvironment,
  lockEnvironments,
  listEnvironments as listEnvironmentRows,
  setPositions,
  updateEnvironmentFlags,
} from '../store/environments.js';
import type { Db } from '../store/database.js';
import { pendingRequestsFrom, settlePromotionRequest } from '../store/promotion-requests.js';
import { findWorkspaceById } from '../store/workspaces.js';
import { record } from './audit.js';
import { appendRelease } from './promotion-plan.js';
import { headSnapshotId, releaseName, releaseOf } from './snapshots.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';
import { chainEnvironment } from './workspaces.js';

export async function listEnvironments(deps: Deps, ctx: CallContext): Promise<Environment[]> {
  authorize(ctx.actor, 'workspace.read');
  return orderEnvironments(await listEnvironmentRows(deps.store.db, ctx.workspace.id));
}

export async function getEnvironment(deps: Deps, ctx: CallContext, slug: string) {
  const env = await environmentOf(deps.store.db, ctx, slug);
  authorize(ctx.actor, 'resource.read', env.slug);
  return env;
}

export interface EnvironmentFlags {
  name?: string;
  protected?: boolean;
  approvalsRequired?: number;
  approvalsForRollback?: boolean;
  obfuscateData?: boolean;
  region?: string | null;
  color?: string | null;
}

export async function createEnvironment(
  deps: Deps,
  ctx: CallContext,
  input: { slug: string; name?: string; kind?: 'chain' | 'branch'; from?: string; ttlHours?: number } & EnvironmentFlags,
): Promise<Environment> {
  if (input.kind === 'branch') return createBranch(deps, ctx, input);
  authorize(ctx.actor, 'environment.manage');
  assertSlug(input.slug);
  const forkOnly = (['from', 'ttlHours'] as const).filter((field) => input[field] !== undefined);
  if (forkOnly.length > 0) throw invalid(forkOnly.map((field) => ({ field, message: 'applies only to branch environments', in: 'body' as const })));
  return deps.store.transaction(async (tx) => {
    const all = await lockEnvironments(deps.store, tx, ctx.workspace.id);
    assertNewSlug(all, input.slug);
    const at = deps.now().toISOString();
    const { position, shift } = insertionBeforeLast(all);
    await setPositions(tx, ctx.workspace.id, shift);
    const env: Environment = {
      ...chainEnvironment(ctx.workspace.id, input.slug, input.name ?? input.slug, position, at),
      ...pickFlags(input),
    };
    await insertEnvironment(tx, env);
    await record(deps, tx, ctx, { action: 'environment.create', environment: env.slug, target: `environment/${env.slug}`, after: env, details: { position } });
    return env;
  });
}

function assertNewSlug(all: Environment[], slug: string) {
  if (all.some((e) => e.slug === slug)) {
    throw conflict('environment_exists', `environment ${slug} already exists`, [{ field: 'slug' }]);
  }
}

/**
 * Forks a branch from a chain environment at its current release: the branch's first release
 * points at the same snapshot (nothing is copied), and that snapshot is its merge base.
 */
async function createBranch(deps: Deps, ctx: CallContext, input: { slug: string; name?: string; from?: string; ttlHours?: number } & EnvironmentFlags) {
  const from = input.from ?? FIRST_ENVIRONMENT;
  authorize(ctx.actor, 'branch.manage', from);
  assertSlug(input.slug);
  return deps.store.transaction(async (tx) => {
    const all = await lockEnvironments(deps.store, tx, ctx.workspace.id);
    assertNewSlug(all, input.slug);
    const parent = all.find((e) => e.slug === from);
    if (!parent) throw invalid([{ field: 'from', message: `no environment ${from}`, in: 'body' }]);
    if (parent.kind !== 'chain') throw invalid([{ field: 'from', message: `${from} is a branch: branches fork from chain environments`, in: 'body' }]);
    const now = deps.now();
    const at = now.toISOString();
    const forkSnapshot = await headSnapshotId(tx, parent);
    const branch: Environment = {
      ...chainEnvironment(ctx.workspace.id, input.slug, input.name ?? input.slug, 0, at),
      ...pickFlags(input),
      kind: 'branch',
      parentId: parent.id,
      forkRelease: parent.headRelease,
      mergeBase: forkSnapshot,
      expiresAt: input.ttlHours !== undefined ? new Date(now.getTime() + input.ttlHours * 3_600_000).toISOString() : null,
    };
    await insertEnvironment(tx, branch);
    if (forkSnapshot) {
      const fork = await releaseOf(tx, parent, parent.headRelease);
      await appendRelease(
        deps,
        tx,
        ctx,
        branch,
        { id: fork.snapshotId, store: null, count: fork.resourceCount },
        { cause: 'fork', sourceEnvironment: parent.slug, sourceRelease: parent.headRelease, message: `fork of ${releaseName(parent, parent.headRelease)}` },
      );
      branch.headRelease = 1;
    }
    await record(deps, tx, ctx, {
      action: 'environment.create',
      environment: branch.slug,
      target: `environment/${branch.slug}`,
      after: branch,
      details: { kind: 'branch', from: parent.slug, forkRelease: parent.headRelease, expiresAt: branch.expiresAt },
    });
    return branch;
  });
}

function pickFlags(input: EnvironmentFlags): Partial<Environment> {
  const out: Partial<Environment> = {};
  if (input.protected !== undefined) out.protected = input.protected;
  if (input.approvalsRequired !== undefined) out.approvalsRequired = input.approvalsRequired;
  if (input.approvalsForRollback !== undefined) out.approvalsForRollback = input.approvalsForRollback;
  if (input.obfuscateData !== undefined) out.obfuscateData = input.obfuscateData;
  if (input.region !== undefined) out.region = input.region;
  if (input.color !== undefined) out.color = input.color;
  if (input.name !== undefined) out.name = input.name;
  return out;
}

export async function updateEnvironment(deps: Deps, ctx: CallContext, slug: string, input: EnvironmentFlags): Promise<Environment> {
  authorize(ctx.actor, 'environment.manage', slug);
  return deps.store.transaction(async (tx) => {
    const before = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const after: Environment = { ...before, ...pickFlags(input), updatedAt: deps.now().toISOString() };
    await updateEnvironmentFlags(tx, after);
    const changed = Object.keys(pickFlags(input)).filter((k) => before[k as keyof Environment] !== after[k as keyof Environment]);
    await record(deps, tx, ctx, {
      action: 'environment.update',
      environment: slug,
      target: `environment/${slug}`,
      before,
      after,
      details: { changed },
      // Templates read `env.name`: delivered content may change with the environment.
      change: { environmentId: before.id, type: 'environment', payload: { changed } },
    });
    return after;
  });
}

export async function deleteEnvironment(deps: Deps, ctx: CallContext, slug: string, reason: 'request' | 'ttl' = 'request'): Promise<void> {
  const env = await environmentOf(deps.store.db, ctx, slug);
  authorize(ctx.actor, env.kind === 'branch' ? 'branch.manage' : 'environment.manage', slug);
  await deps.store.transaction(async (tx) => {
    const all = await lockEnvironments(deps.store, tx, ctx.workspace.id);
    const env = all.find((e) => e.slug === slug);
    if (!env) throw notFound(`environment ${slug}`);
    if (env.kind === 'branch') return deleteBranch(deps, tx, ctx, env, reason);
    const contents = await countEnvironmentContents(tx, ctx.workspace.id, env.id);
    const blocker = deletionBlocker(env, all, contents);
    if (blocker) throw conflict(blocker.code, blocker.message);
    await deleteEnvironmentRows(tx, ctx.workspace.id, env.id);
    await setPositions(tx, ctx.workspace.id, compactPositions(all, env.id));
    await record(deps, tx, ctx, {
      action: 'environment.delete',
      environment: slug,
      target: `environment/${slug}`,
      before: env,
      change: { environmentId: env.id, type: 'environment', payload: { deleted: true } },
    });
  });
}

/**
 * Removes a branch with everything it holds (drafts, releases, keys, overrides, secrets,
 * variable values, settings, data) in one transaction, and one audit entry saying what went.
 * Pending promotion requests of its merges become stale.
 */
async function deleteBranch(deps: Deps, tx: Db, ctx: CallContext, branch: Environment, reason: 'request' | 'ttl') {
  const removed = await environmentContents(tx, branch.workspaceId, branch.id);
  const at = deps.now().toISOString();
  const merges = await pendingRequestsFrom(tx, branch.workspaceId, branch.id);
  for (const request of merges) {
    await settlePromotionRequest(tx, branch.workspaceId, request.id, { status: 'stale', decidedAt: at, reason: `the branch ${branch.slug} was deleted` });
  }
  await deleteEnvironmentRows(tx, branch.workspaceId, branch.id);
  await record(deps, tx, ctx, {
    action: 'environment.delete',
    environment: branch.slug,
    target: `environment/${branch.slug}`,
    before: branch,
    details: {
      kind: 'branch',
      reason,
      ...(reason === 'ttl' ? { expiredAt: branch.expiresAt } : {}),
      removed,
      ...(merges.length > 0 ? { staleRequests: merges.map((r) => r.id) } : {}),
    },
    change: { environmentId: branch.id, type: 'environment', payload: { deleted: true } },
  });
}

/**
 * Deletes the branches whose TTL has run out, each in its own transaction as the system.
 * Safe on many nodes at once: a branch another node removed first is skipped.
 */
export async function sweepExpiredBranches(deps: Deps, limit = 100): Promise<string[]> {
  const swept: string[] = [];
  for (const due of await expiredBranches(deps.store.db, deps.now().toISOString(), limit)) {
    const workspace = await findWorkspaceById(deps.store.db, due.workspaceId);
    if (!workspace) continue;
    const ctx: CallContext = { workspace: { id: workspace.id, slug: workspace.slug, name: workspace.name }, actor: SYSTEM_ACTOR, requestId: null };
    try {
      await deleteEnvironment(deps, ctx, due.slug, 'ttl');
      swept.push(`${workspace.slug}/${due.slug}`);
    } catch (error) {
      if (error instanceof StagelineError && error.status === 404) continue;
      throw error;
    }
  }
  return swept;
}
