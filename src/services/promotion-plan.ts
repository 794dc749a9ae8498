// Planning and applying a promotion (or the merge of a branch into its parent): what the target
// will hold, what its references resolve to there, and the plan's hash, which changes whenever
// anything an approver saw would change. Applying writes the releases and the audit entry.
import { contentHash } from '../domain/canonical.js';
import type { Environment } from '../domain/environments/chain.js';
import { conflict, invalid } from '../domain/errors.js';
import { settle, threeWayMerge, type MergeSide } from '../domain/releases/merge.js';
import {
  compareSnapshots,
  parseResourceId,
  resourceId,
  snapshotId,
  type ResourceChange,
  type Snapshot,
} from '../domain/releases/snapshot.js';
import { contentReferences, isUncheckedReference, missingReferences, type MissingReference } from '../domain/templates/template.js';
import type { Db } from '../store/database.js';
import { setHeadRelease, setMergeBase } from '../store/environments.js';
import { pendingRequestsInto, settlePromotionRequest } from '../store/promotion-requests.js';
import { getContentRefs, getContents, insertRelease, saveSnapshot, saveTreeSnapshot, snapshotRoot, type Release } from '../store/releases.js';
import { getEntries, type TreeNode } from '../domain/releases/tree.js';
import { nodeReader } from '../store/trees.js';
import { secretsForEnvironment } from '../store/secrets.js';
import { variablesForEnvironment } from '../store/variables.js';
import { record } from './audit.js';
import type { CallContext, Deps } from './context.js';
import { emitEvent } from './events.js';
import { describeChanges } from './diff.js';
import { passFreeze } from './freezes.js';
import { compareRoots, editTree, headRoot, headSnapshot, releaseName, releaseOf, releaseView, rootOf, snapshotOf } from './snapshots.js';
import { faultPoint } from '../faults.js';

export interface PlanInput {
  release?: number;
  resources?: string[];
  message?: string;
  /** Promote even when the target cannot resolve some references (audited as forced). */
  force?: boolean;
  /** Merges: the side to take for each resource changed on both sides. */
  resolutions?: { resource: string; take: MergeSide }[];
}

/** A reference of the promoted resources as the target resolves it; secret values never appear. */
export type ResolvedReference =
  | { reference: string; resources: string[]; value: unknown }
  | { reference: string; resources: string[]; secret: { hint: string; version: number; inheritedFrom: string | null } }
  | { reference: string; resources: string[]; missing: true }
  /** A variable the template names only when it renders (`vars[vars.n]`): not checked by the plan. */
  | { reference: string; resources: string[]; unchecked: true };

export interface Plan {
  /** A rollback's source is its target, and its source release the one it returns to. */
  kind: 'promotion' | 'merge' | 'rollback';
  source: Environment;
  target: Environment;
  sourceRelease: Release;
  /** Snapshot id of what the target will hold. */
  id: string;
  /** How many resources it holds. */
  count: number;
  /**
   * What to store for it: a whole map (a merge), a tree update's new nodes (a promotion of some
   * resources), or nothing (the source release's own snapshot, stored already).
   */
  store: { entries: Snapshot } | { nodes: Map<string, TreeNode>; replaced: Map<string, string> } | null;
  changes: ResourceChange[];
  references: ResolvedReference[];
  missing: MissingReference[];
  merge: { base: string | null; settled: string[]; resolved: { resource: string; take: MergeSide }[]; branchNext: Snapshot; baseNext: Snapshot } | null;
  hash: string;
}

export function summary(changes: ResourceChange[]) {
  const count = (status: ResourceChange['status']) => changes.filter((c) => c.status === status).length;
  return { added: count('added'), changed: count('changed'), removed: count('removed') };
}

/** Resource ids a release's change names at most; readers rebuild an environment past it. */
export const CHANGE_RESOURCES_MAX = 1000;

/**
 * The change a new release writes to the change feed: its number, the release it follows
 * (`from`) and, unless there are more than CHANGE_RESOURCES_MAX, the ids of the resources it
 * changed, so a reader holding `from` updates those alone.
 */
export function releaseChange(env: Environment, release: Release, changes?: ResourceChange[]) {
  const resources = changes && changes.length <= CHANGE_RESOURCES_MAX ? { resources: changes.map((c) => resourceId(c.kind, c.key)) } : {};
  return { environmentId: env.id, type: 'release', payload: { release: release.number, from: env.headRelease, cause: release.cause, ...resources } };
}

/**
 * Marks the pending requests into an environment stale once it has moved past the release
 * their plans were made against. Called by every write of a release
 * (except for the request being applied by it).
 */
async function staleRequestsInto(deps: Deps, tx: Db, ctx: CallContext, env: Environment, newHead: number, except: string | null) {
  const pending = (await pendingRequestsInto(tx, env.workspaceId, env.id)).filter((r) => r.targetRelease !== newHead && r.id !== except);
  const at = deps.now().toISOString();
  for (const request of pending) {
    const reason = `${env.slug} moved from #${request.targetRelease} to #${newHead} since the plan: ${request.kind === 'rollback' ? 'roll back' : 'promote'} again to re-plan`;
    await settlePromotionRequest(tx, env.workspaceId, request.id, { status: 'stale', decidedAt: at, reason });
    await record(deps, tx, ctx, { action: 'promotion_request.stale', environment: env.slug, target: `promotion-request/${request.id}`, details: { request: request.id, reason } });
  }
}

/**
 * The fault points (src/faults.ts) of a release write, by its cause: where a crash leaves the new
 * snapshot's nodes stored but no release row or head pointing at them yet, and where the release
 * and the head are written but not the audit entry (the transaction is still open at both).
 */
const FAULTS: Record<Release['cause'], { snapshot: string; release: string }> = {
  commit: { snapshot: 'commit.after-snapshot', release: 'commit.after-release' },
  promotion: { snapshot: 'promote.after-snapshot', release: 'promote.after-release' },
  rollback: { snapshot: 'rollback.after-snapshot', release: 'rollback.after-release' },
  merge: { snapshot: 'merge.after-snapshot', release: 'merge.after-release' },
  fork: { snapshot: 'fork.after-snapshot', release: 'fork.after-release' },
};

/**
 * Appends the next release of `env` pointing at `snapshot`, stored if new, moves the head, and
 * marks the requests planned against the old head stale.
 */
export async function appendRelease(
  deps: Deps,
  tx: Db,
  ctx: CallContext,
  env: Environment,
  /** `store`: a new map, or a tree update's new nodes (its root is `id`); null: stored already. */
  snapshot: { id: string; store: Plan['store']; count: number },
  fields: Pick<Release, 'cause' | 'sourceEnvironment' | 'sourceRelease' | 'message'>,
  appliedRequest: string | null = null,
): Promise<Release> {
  const at = deps.now().toISOString();
  if (snapshot.store && 'entries' in snapshot.store) await saveSnapshot(deps.store, tx, env.workspaceId, snapshot.id, snapshot.store.entries, at);
  else if (snapshot.store) await saveTreeSnapshot(deps.store, tx, env.workspaceId, { root: snapshot.id, ...snapshot.store }, snapshot.count, at);
  const release: Release = {
    environmentId: env.id,
    number: env.headRelease + 1,
    snapshotId: snapshot.id,
    resourceCount: snapshot.count,
    authorId: ctx.actor.id,
    authorName: ctx.actor.name,
    createdAt: at,
    ...fields,
  };
  faultPoint(FAULTS[fields.cause].snapshot);
  await insertRelease(tx, env.workspaceId, release);
  await setHeadRelease(tx, env.workspaceId, env.id, release.number, at);
  await staleRequestsInto(deps, tx, ctx, env, release.number, appliedRequest);
  faultPoint(FAULTS[fields.cause].release);
  return release;
}

/** What the target will hold after promoting (or merging) `source` into it, and its hash. */
export async function planPromotion(db: Db, target: Environment, source: Environment, input: PlanInput): Promise<Plan> {
  if (source.kind === 'branch' && input.release !== undefined && input.release !== source.headRelease) {
    throw invalid([{ field: 'release', message: `a branch merges its current release (${source.slug}#${source.headRelease})`, in: 'body' }]);
  }
  const number = input.release ?? source.headRelease;
  if (number === 0) throw conflict('nothing_to_promote', `${source.slug} has no release yet: commit there first`);
  const sourceRelease = await releaseOf(db, source, number);
  const ids = input.resources?.map((id, i) => (parseResourceId(id, `resources.${i}`), id));
  const { id, count, store, changes, merge } = await plannedTarget(db, target, source, sourceRelease, ids, input);
  const references = await referencesIn(db, target, changes);
  const missing = missingIn(references);
  const hash = contentHash({
    kind: merge ? 'merge' : 'promotion',
    source: releaseName(source, sourceRelease.number),
    target: releaseName(target, target.headRelease),
    next: id,
    base: merge?.base ?? null,
    resolved: merge?.resolved ?? [],
    references,
  });
  return { kind: merge ? 'merge' : 'promotion', source, target, sourceRelease, id, count, store, changes, references, missing, merge, hash };
}

/**
 * What the target will hold. A promotion compares the two trees, walking only the subtrees
 * that differ, and a promotion of some resources updates the target's tree at their paths: both
 * cost what changed. A merge reads the three maps (base, branch, target) whole.
 */
async function plannedTarget(
  db: Db,
  target: Environment,
  source: Environment,
  sourceRelease: Release,
  ids: string[] | undefined,
  input: PlanInput,
): Promise<Pick<Plan, 'id' | 'count' | 'store' | 'changes' | 'merge'>> {
  if (source.kind === 'branch') {
    const [current, incoming, base] = await Promise.all([headSnapshot(db, target), snapshotOf(db, source, sourceRelease.snapshotId), snapshotOf(db, source, source.mergeBase)]);
    const take = new Map((input.resolutions ?? []).map((r) => [r.resource, r.take]));
    const result = threeWayMerge(base, incoming, current, { ...(ids ? { only: ids } : {}), take });
    const next = result.merged;
    return {
      id: snapshotId(next),
      count: next.size,
      store: { entries: next },
      changes: compareSnapshots(current, next),
      merge: {
        base: source.mergeBase,
        settled: result.settled,
        resolved: result.resolved,
        branchNext: settle(incoming, next, result.settled),
        baseNext: settle(base, next, result.settled),
      },
    };
  }
  const reader = nodeReader(db, target.workspaceId);
  const [current, incoming] = await Promise.all([headRoot(db, target), rootOf(db, source, sourceRelease.snapshotId)]);
  if (!ids) {
    return { id: sourceRelease.snapshotId, count: sourceRelease.resourceCount, store: null, changes: await compareRoots(reader, current, incoming), merge: null };
  }
  const [here, there] = await Promise.all([getEntries(reader, current, ids), getEntries(reader, incoming, ids)]);
  const unknown = ids.filter((id) => !here.has(id) && !there.has(id));
  if (unknown.length > 0) throw conflict('unknown_resources', `not in the source or the target: ${unknown.join(', ')}`, unknown.map((id) => ({ resource: id })));
  const head = target.headRelease === 0 ? null : await releaseOf(db, target, target.headRelease);
  const edited = await editTree(db, target.workspaceId, current, head?.resourceCount ?? 0, new Map(ids.map((id) => [id, there.get(id) ?? null])));
  return { id: edited.root, count: edited.count, store: { nodes: edited.nodes, replaced: edited.replaced }, changes: edited.changes, merge: null };
}

function missingIn(references: ResolvedReference[]): MissingReference[] {
  return references
    .filter((r): r is Extract<ResolvedReference, { missing: true }> => 'missing' in r)
    .map(({ reference, resources }) => ({ reference, resources }));
}

/**
 * What rolling `env` back to its release `number` would change, in the shape of a promotion
 * plan (the source is the environment's own earlier release). Only a dry run or a rollback that
 * waits for approvals reads it: the rollback itself copies and compares nothing.
 */
export async function planRollback(db: Db, env: Environment, number: number): Promise<Plan> {
  const earlier = await releaseOf(db, env, number);
  const changes = await rollbackChanges(db, env, earlier);
  const references = await referencesIn(db, env, changes);
  const hash = contentHash({
    kind: 'rollback',
    source: releaseName(env, earlier.number),
    target: releaseName(env, env.headRelease),
    next: earlier.snapshotId,
    references,
  });
  return { kind: 'rollback', source: env, target: env, sourceRelease: earlier, id: earlier.snapshotId, count: earlier.resourceCount, store: null, changes, references, missing: missingIn(references), merge: null, hash };
}

/** What rolling `env` back to `earlier` changes: the two trees compared, O(changed). */
async function rollbackChanges(db: Db, env: Environment, earlier: Release): Promise<ResourceChange[]> {
  const [current, next] = await Promise.all([headRoot(db, env), rootOf(db, env, earlier.snapshotId)]);
  return compareRoots(nodeReader(db, env.workspaceId), current, next);
}

/**
 * Writes a rollback of `env` to its `earlier` release, after the freeze check, with its audit
 * entry: the new release points at the earlier snapshot, so nothing is copied.
 */
export async function applyRollback(
  deps: Deps,
  tx: Db,
  ctx: CallContext,
  env: Environment,
  earlier: Release,
  options: { message?: string; breakGlass?: { reason: string }; request?: { id: string; approvers: string[] } },
) {
  faultPoint('rollback.before-write');
  const brokeGlass = await passFreeze(deps, tx, ctx, env, { summary: `rollback of ${env.slug} to #${earlier.number}`, breakGlassReason: options.breakGlass?.reason });
  const release = await appendRelease(
    deps,
    tx,
    ctx,
    env,
    { id: earlier.snapshotId, store: null, count: earlier.resourceCount },
    { cause: 'rollback', sourceEnvironment: env.slug, sourceRelease: earlier.number, message: options.message ?? `roll back to #${earlier.number}` },
    options.request?.id ?? null,
  );
  await record(deps, tx, ctx, {
    action: 'release.rollback',
    environment: env.slug,
    target: `release/${releaseName(env, release.number)}`,
    before: { release: env.headRelease },
    after: { snapshot: release.snapshotId },
    details: {
      release: release.number,
      rolledBackTo: earlier.number,
      from: env.headRelease,
      message: release.message,
      ...(options.request ? { request: options.request.id, approvers: options.request.approvers } : {}),
      ...(brokeGlass ? { breakGlass: options.breakGlass!.reason } : {}),
    },
    change: releaseChange(env, release, await rollbackChanges(tx, env, earlier)),
  });
  await emitEvent(deps, tx, ctx, { type: 'release.rolled_back', environment: env.slug, data: { release: release.number, rolledBackTo: earlier.number, from: env.headRelease, message: release.message } });
  deps.store.onCommit(tx, () => faultPoint('rollback.after-commit'));
  return releaseView({ ...env, headRelease: release.number }, release);
}

/** How the target resolves each reference of the added or changed resources. */
async function referencesIn(db: Db, target: Environment, changes: ResourceChange[]): Promise<ResolvedReference[]> {
  const incoming = changes.filter((c) => c.toHash !== null);
  if (incoming.length === 0) return [];
  const refs = await getContentRefs(db, target.workspaceId, incoming.map((c) => c.toHash!));
  const legacy = incoming.filter((c) => refs.get(c.toHash!) == null).map((c) => c.toHash!);
  const contents = legacy.length > 0 ? await getContents(db, target.workspaceId, legacy) : new Map();
  const byResource = new Map(incoming.map((c) => [resourceId(c.kind, c.key), refs.get(c.toHash!) ?? contentReferences(contents.get(c.toHash!))]));
  const [vars, secrets] = await Promise.all([variablesForEnvironment(db, target.workspaceId, target.id), secretsForEnvironment(db, target)]);
  const missing = new Set(
    missingReferences(byResource, { vars: new Set(Object.keys(vars)), secrets: new Set(secrets.keys()) }).map((m) => m.reference),
  );
  const users = new Map<string, string[]>();
  for (const [resource, references] of byResource) for (const ref of references) users.set(ref, [...(users.get(ref) ?? []), resource]);
  return [...users]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([reference, resources]): ResolvedReference => {
      resources.sort();
      if (isUncheckedReference(reference)) return { reference, resources, unchecked: true };
      if (missing.has(reference)) return { reference, resources, missing: true };
      const name = reference.slice(reference.indexOf('.') + 1);
      if (reference.startsWith('vars.')) return { reference, resources, value: vars[name] };
      const secret = secrets.get(name)!;
      return { reference, resources, secret: { hint: secret.hint, version: secret.version, inheritedFrom: secret.inheritedFrom } };
    });
}

export function assertResolvable(target: Environment, missing: MissingReference[], force: boolean | undefined) {
  if (missing.length === 0 || force) return;
  throw conflict(
    'missing_references',
    `${target.slug} has no value for ${missing.map((m) => m.reference).join(', ')}: set them there first, or promote with force`,
    missing,
  );
}

/** The plan as callers and approvers read it. */
export async function planView(db: Db, plan: Plan) {
  return {
    kind: plan.kind,
    source: { environment: plan.source.slug, release: plan.sourceRelease.number, name: releaseName(plan.source, plan.sourceRelease.number) },
    target: { environment: plan.target.slug, release: plan.target.headRelease, protected: plan.target.protected },
    summary: summary(plan.changes),
    changes: await describeChanges(db, plan.target.workspaceId, plan.changes),
    references: plan.references,
    missingReferences: plan.missing,
    ...(plan.merge ? { merge: { base: plan.merge.base, resolved: plan.merge.resolved } } : {}),
    planHash: plan.hash,
  };
}

/**
 * Writes a planned promotion or merge: the target's new release (and, for a merge, the branch's
 * settled release and its next merge base), after the freeze check, with its audit entry.
 */
export async function applyPlan(
  deps: Deps,
  tx: Db,
  ctx: CallContext,
  plan: Plan,
  options: { message?: string; force?: boolean; breakGlass?: { reason: string }; resources?: string[]; request?: { id: string; approvers: string[] } },
) {
  const { target, source, sourceRelease } = plan;
  const sourceName = releaseName(source, sourceRelease.number);
  const verb = plan.kind === 'merge' ? 'merge' : 'promotion';
  faultPoint(plan.kind === 'merge' ? 'merge.before-write' : 'promote.before-write');
  const brokeGlass = await passFreeze(deps, tx, ctx, target, { summary: `${verb} of ${sourceName} into ${target.slug}`, breakGlassReason: options.breakGlass?.reason });
  const message = options.message ?? `${plan.kind === 'merge' ? 'merge' : 'promote'} ${sourceName}`;
  const release = await appendRelease(
    deps,
    tx,
    ctx,
    target,
    { id: plan.id, store: plan.store, count: plan.count },
    { cause: plan.kind, sourceEnvironment: source.slug, sourceRelease: sourceRelease.number, message },
    options.request?.id ?? null,
  );
  let branchRelease: Release | null = null;
  if (plan.merge) {
    const at = deps.now().toISOString();
    const branchId = snapshotId(plan.merge.branchNext);
    // Compared by root: a release stored before the trees keeps its older id for the same map.
    if (branchId !== (await snapshotRoot(tx, source.workspaceId, sourceRelease.snapshotId)) || sourceRelease.number !== source.headRelease) {
      branchRelease = await appendRelease(
        deps,
        tx,
        ctx,
        source,
        { id: branchId, store: { entries: plan.merge.branchNext }, count: plan.merge.branchNext.size },
        { cause: 'merge', sourceEnvironment: target.slug, sourceRelease: release.number, message: `settle after merge into ${releaseName(target, release.number)}` },
      );
    }
    const baseId = snapshotId(plan.merge.baseNext);
    await saveSnapshot(deps.store, tx, source.workspaceId, baseId, plan.merge.baseNext, at);
    await setMergeBase(tx, source.workspaceId, source.id, baseId, at);
  }
  await record(deps, tx, ctx, {
    action: plan.kind === 'merge' ? 'release.merge' : 'release.promote',
    environment: target.slug,
    target: `release/${releaseName(target, release.number)}`,
    before: { release: target.headRelease },
    after: { snapshot: release.snapshotId },
    details: {
      release: release.number,
      source: sourceName,
      resources: options.resources ?? 'all',
      message,
      planHash: plan.hash,
      ...(plan.merge && plan.merge.resolved.length > 0 ? { resolved: plan.merge.resolved } : {}),
      ...(branchRelease ? { branchRelease: releaseName(source, branchRelease.number) } : {}),
      ...(options.request ? { request: options.request.id, approvers: options.request.approvers } : {}),
      ...(plan.missing.length > 0 ? { forced: true, missingReferences: plan.missing.map((m) => m.reference) } : {}),
      ...(brokeGlass ? { breakGlass: options.breakGlass!.reason } : {}),
      ...summary(plan.changes),
    },
    change: releaseChange(target, release, plan.changes),
  });
  await emitEvent(deps, tx, ctx, { type: 'release.promoted', environment: target.slug, data: { release: release.number, from: target.headRelease, source: sourceName, cause: plan.kind, message, ...summary(plan.changes) } });
  if (branchRelease) {
    await record(deps, tx, ctx, {
      action: 'release.settle',
      environment: source.slug,
      target: `release/${releaseName(source, branchRelease.number)}`,
      before: { release: source.headRelease },
      after: { snapshot: branchRelease.snapshotId },
      details: { release: branchRelease.number, mergedInto: releaseName(target, release.number), resources: plan.merge!.settled.length },
      change: releaseChange(source, branchRelease),
    });
  }
  deps.store.onCommit(tx, () => faultPoint(plan.kind === 'merge' ? 'merge.after-commit' : 'promote.after-commit'));
  return { ...releaseView({ ...target, headRelease: release.number }, release), changes: summary(plan.changes) };
}
