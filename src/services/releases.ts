// Moving releases: commit drafts, promote along the chain, roll back to an earlier release.
// Each runs in one transaction under the target environment's lock, with its audit entry.
import { authorize } from '../domain/auth/permissions.js';
import { decodeCursor, encodeCursor, SEQ_POSITION } from '../domain/cursor.js';
import { approvalsNeeded, assertEditable, resolvePromotionSource, rollbackNeedsApproval } from '../domain/environments/chain.js';
import { conflict, invalid } from '../domain/errors.js';
import { isGated } from '../domain/releases/gates.js';
import { assertExpectedRelease, assertRollbackTarget } from '../domain/releases/head.js';
import { parseResourceId, resourceId } from '../domain/releases/snapshot.js';
import { listEnvironments } from '../store/environments.js';
import { listReleases as listReleaseRows } from '../store/releases.js';
import { deleteDrafts, listDrafts } from '../store/resources.js';
import { faultPoint } from '../faults.js';
import { record } from './audit.js';
import type { CallContext, Deps } from './context.js';
import { gateStatus, gatesOf } from './gates.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';
import { appendRelease, applyPlan, applyRollback, assertResolvable, planPromotion, planRollback, planView, releaseChange, summary, type PlanInput } from './promotion-plan.js';
import { openPromotionRequest } from './promotion-requests.js';
import { draftsApplied, releaseName, releaseOf, releaseView, snapshotOf } from './snapshots.js';
import { holdOf, startWatch, type WatchInput } from './watches.js';

/** A commit of this many drafts or more leaves enough dead rows to reclaim at once. */
const RECLAIM_AFTER = 5_000;

export async function commit(deps: Deps, ctx: CallContext, slug: string, input: { message: string; resources?: string[] }) {
  authorize(ctx.actor, 'release.commit', slug);
  const named = input.resources?.map((id, i) => parseResourceId(id, `resources.${i}`));
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    assertEditable(env, await listEnvironments(tx, ctx.workspace.id));
    const scope = { workspaceId: env.workspaceId, environmentId: env.id };
    const drafts = await listDrafts(tx, scope, named);
    if (named) {
      const found = new Set(drafts.map((d) => resourceId(d.kind, d.key)));
      const missing = input.resources!.map((id, i) => ({ id, i })).filter(({ id }) => !found.has(id));
      if (missing.length > 0) throw invalid(missing.map(({ id, i }) => ({ field: `resources.${i}`, message: `${id} has no draft in ${slug}`, in: 'body' })));
    }
    if (drafts.length === 0) throw conflict('nothing_to_commit', `${slug} has no drafts to commit`);
    faultPoint('commit.before-write');
    const { root, nodes, replaced, count, changes } = await draftsApplied(tx, env, drafts);
    const release = await appendRelease(deps, tx, ctx, env, { id: root, store: { nodes, replaced }, count }, {
      cause: 'commit',
      sourceEnvironment: null,
      sourceRelease: null,
      message: input.message,
    });
    await deleteDrafts(tx, scope, named ? drafts : 'all');
    if (drafts.length >= RECLAIM_AFTER) deps.store.onCommit(tx, () => deps.store.reclaim('drafts'));
    await record(deps, tx, ctx, {
      action: 'release.commit',
      environment: slug,
      target: `release/${releaseName(env, release.number)}`,
      before: { release: env.headRelease },
      after: { snapshot: release.snapshotId },
      details: { release: release.number, message: input.message, resources: drafts.map((d) => resourceId(d.kind, d.key)).slice(0, 100), ...summary(changes) },
      change: releaseChange(env, release, changes),
    });
    deps.store.onCommit(tx, () => faultPoint('commit.after-commit'));
    return { ...releaseView({ ...env, headRelease: release.number }, release), changes: summary(changes) };
  });
}

export interface PromotionInput extends PlanInput {
  from?: string;
  expectedRelease?: number;
  dryRun?: boolean;
  /** Promote into a frozen environment (owners and admins; opens a review item). */
  breakGlass?: { reason: string };
  /** Watch the target after the promotion applies; null: none, even the target's default. */
  watch?: WatchInput | null;
}

/**
 * Promotes the source's release (or merges a branch) into the target. A protected or gated
 * target gets a promotion request holding the plan instead, applied once its gates pass; a
 * target on hold takes no direct promotion. One that applies starts its watch.
 */
export async function promote(deps: Deps, ctx: CallContext, targetSlug: string, input: PromotionInput) {
  authorize(ctx.actor, 'release.promote', targetSlug);

  if (input.dryRun) {
    const db = deps.store.db;
    const target = await environmentOf(db, ctx, targetSlug);
    const source = resolvePromotionSource(target, await listEnvironments(db, ctx.workspace.id), input.from);
    assertExpectedRelease(target, input.expectedRelease);
    const plan = await planPromotion(db, target, source, input);
    const gates = await gatesOf(db, target);
    const request = target.protected || isGated(gates);
    const approvalsRequired = target.protected ? approvalsNeeded(target) : request && !gates?.autoApply ? 1 : 0;
    // The gates as a request opened now would show them (a plain plan where there would be none).
    const status = await gateStatus(deps, db, target, { kind: 'promotion', source, release: plan.sourceRelease, approvalsRequired, approvals: 0, ticks: new Map() });
    return {
      dryRun: true as const,
      ...(target.protected ? { approvalsRequired } : {}),
      ...(request || status.hold ? { request, gates: status.gates, hold: status.hold } : {}),
      ...(await planView(db, plan)),
    };
  }

  return deps.store.transaction(async (tx) => {
    // The chain is read under the target's lock, so an environment inserted concurrently
    // (which locks every environment row) is either fully before this promotion or after it.
    const target = await lockedEnvironmentOf(deps, tx, ctx, targetSlug);
    const source = resolvePromotionSource(target, await listEnvironments(tx, ctx.workspace.id), input.from);
    // A merge also writes the branch (its settled release and merge base): lock it too.
    const lockedSource = source.kind === 'branch' ? await lockedEnvironmentOf(deps, tx, ctx, source.slug) : source;
    assertExpectedRelease(target, input.expectedRelease);
    const plan = await planPromotion(tx, target, lockedSource, input);
    assertResolvable(target, plan.missing, input.force);
    const gates = await gatesOf(tx, target);
    if (target.protected || isGated(gates)) return openPromotionRequest(deps, tx, ctx, plan, input);
    const hold = await holdOf(tx, target);
    if (hold) throw conflict('environment_on_hold', `${target.slug} is on hold since ${hold.since} (${hold.reason}): a member clears the hold before anything is promoted into it`, [hold]);
    const release = await applyPlan(deps, tx, ctx, plan, input);
    const watch = input.watch !== undefined ? input.watch : (gates?.watch ?? null);
    if (watch) await startWatch(deps, tx, ctx, target, release.number, target.headRelease, watch);
    return release;
  });
}

export interface RollbackInput {
  release: number;
  message?: string;
  expectedRelease?: number;
  dryRun?: boolean;
  /** Roll back a frozen environment (owners and admins; opens a review item). */
  breakGlass?: { reason: string };
}

/**
 * Rolls an environment back to an earlier release: instant, unless the environment is protected
 * and asks for approvals of rollbacks, when it becomes a promotion request holding the plan.
 */
export async function rollback(deps: Deps, ctx: CallContext, slug: string, input: RollbackInput) {
  authorize(ctx.actor, 'release.rollback', slug);

  if (input.dryRun) {
    const db = deps.store.db;
    const env = await environmentOf(db, ctx, slug);
    assertExpectedRelease(env, input.expectedRelease);
    assertRollbackTarget(env, input.release);
    const plan = await planRollback(db, env, input.release);
    return { dryRun: true as const, ...(rollbackNeedsApproval(env) ? { approvalsRequired: approvalsNeeded(env) } : {}), ...(await planView(db, plan)) };
  }

  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    assertExpectedRelease(env, input.expectedRelease);
    assertRollbackTarget(env, input.release);
    if (rollbackNeedsApproval(env)) {
      const plan = await planRollback(tx, env, input.release);
      return openPromotionRequest(deps, tx, ctx, plan, input.message !== undefined ? { message: input.message } : {});
    }
    const earlier = await releaseOf(tx, env, input.release);
    return applyRollback(deps, tx, ctx, env, earlier, input);
  });
}

export async function listReleases(deps: Deps, ctx: CallContext, slug: string, cursor: string | undefined, limit: number) {
  authorize(ctx.actor, 'resource.read', slug);
  const before = decodeCursor(cursor, SEQ_POSITION)?.seq ?? null;
  const env = await environmentOf(deps.store.db, ctx, slug);
  const rows = await listReleaseRows(deps.store.db, ctx.workspace.id, env.id, before, limit + 1);
  const page = rows.slice(0, limit);
  return { data: page.map((r) => releaseView(env, r)), next: rows.length > limit ? encodeCursor({ seq: page[page.length - 1]!.number }) : null };
}

export async function getRelease(deps: Deps, ctx: CallContext, slug: string, number: number) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const release = await releaseOf(deps.store.db, env, number);
  const snapshot = await snapshotOf(deps.store.db, env, release.snapshotId);
  const resources = [...snapshot.keys()].sort().map((id) => snapshot.get(id)!);
  return { ...releaseView(env, release), resources };
}
