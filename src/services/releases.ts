// Moving releases: commit drafts, promote along the chain, roll back to an earlier release.
// Each runs in one transaction under the target environment's lock, with its audit entry.
import { authorize } from '../domain/auth/permissions.js';
import { assertDirectPromotion, assertEditable, resolvePromotionSource, type Environment } from '../domain/environments/chain.js';
import { conflict, invalid, notFound } from '../domain/errors.js';
import { assertExpectedRelease, assertRollbackTarget } from '../domain/releases/head.js';
import {
  applyDrafts,
  compareSnapshots,
  parseResourceId,
  resourceId,
  snapshotId,
  takeResources,
  type ResourceChange,
  type Snapshot,
} from '../domain/releases/snapshot.js';
import type { Db } from '../store/database.js';
import { listEnvironments, setHeadRelease } from '../store/environments.js';
import { getContentRefs, getContents, insertRelease, listReleases as listReleaseRows, saveSnapshot, type Release } from '../store/releases.js';
import { secretNames } from '../store/secrets.js';
import { variablesForEnvironment } from '../store/variables.js';
import { contentReferences, missingReferences, type MissingReference } from '../domain/templates/template.js';
import { deleteDrafts, listDrafts } from '../store/resources.js';
import { record } from './audit.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';
import { passFreeze } from './freezes.js';
import { describeChanges } from './diff.js';
import { headSnapshot, releaseName, releaseOf, releaseView, snapshotOf } from './snapshots.js';

function releaseChange(env: Environment, release: Release) {
  return { environmentId: env.id, type: 'release', payload: { release: release.number, cause: release.cause } };
}

function summary(changes: ResourceChange[]) {
  const count = (status: ResourceChange['status']) => changes.filter((c) => c.status === status).length;
  return { added: count('added'), changed: count('changed'), removed: count('removed') };
}


/** Appends the next release of `env` pointing at `snapshot`, stored if new, and moves the head. */
async function appendRelease(
  deps: Deps,
  tx: Db,
  ctx: CallContext,
  env: Environment,
  snapshot: { id: string; entries: Snapshot | null; count: number },
  fields: Pick<Release, 'cause' | 'sourceEnvironment' | 'sourceRelease' | 'message'>,
): Promise<Release> {
  const at = deps.now().toISOString();
  if (snapshot.entries) await saveSnapshot(deps.store, tx, env.workspaceId, snapshot.id, snapshot.entries, at);
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
  await insertRelease(tx, env.workspaceId, release);
  await setHeadRelease(tx, env.workspaceId, env.id, release.number, at);
  return release;
}

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
    const head = await headSnapshot(tx, env);
    const next = applyDrafts(head, drafts);
    const changes = compareSnapshots(head, next);
    const release = await appendRelease(deps, tx, ctx, env, { id: snapshotId(next), entries: next, count: next.size }, {
      cause: 'commit',
      sourceEnvironment: null,
      sourceRelease: null,
      message: input.message,
    });
    await deleteDrafts(tx, scope, named ? drafts : 'all');
    await record(deps, tx, ctx, {
      action: 'release.commit',
      environment: slug,
      target: `release/${releaseName(env, release.number)}`,
      before: { release: env.headRelease },
      after: { snapshot: release.snapshotId },
      details: { release: release.number, message: input.message, resources: drafts.map((d) => resourceId(d.kind, d.key)).slice(0, 100), ...summary(changes) },
      change: releaseChange(env, release),
    });
    return { ...releaseView({ ...env, headRelease: release.number }, release), changes: summary(changes) };
  });
}

export interface PromotionInput {
  from?: string;
  release?: number;
  resources?: string[];
  message?: string;
  expectedRelease?: number;
  dryRun?: boolean;
  /** Promote even when the target cannot resolve some references (audited as forced). */
  force?: boolean;
  /** Promote into a frozen environment (owners and admins; opens a review item). */
  breakGlass?: { reason: string };
}

/** Resolves what a promotion takes: the source release and the snapshot the target will get. */
async function planPromotion(db: Db, target: Environment, source: Environment, input: PromotionInput) {
  const number = input.release ?? source.headRelease;
  if (number === 0) throw conflict('nothing_to_promote', `${source.slug} has no release yet: commit there first`);
  const sourceRelease = await releaseOf(db, source, number);
  const ids = input.resources?.map((id, i) => (parseResourceId(id, `resources.${i}`), id));
  const [current, incoming] = await Promise.all([headSnapshot(db, target), snapshotOf(db, source, sourceRelease.snapshotId)]);
  const next = ids ? takeResources(current, incoming, ids) : incoming;
  const id = ids ? snapshotId(next) : sourceRelease.snapshotId;
  const changes = compareSnapshots(current, next);
  return { sourceRelease, current, next, id, changes, whole: !ids, missing: await unresolvedIn(db, target, changes) };
}

/** What the promoted (added or changed) resources reference that the target cannot resolve. */
async function unresolvedIn(db: Db, target: Environment, changes: ResourceChange[]): Promise<MissingReference[]> {
  const incoming = changes.filter((c) => c.toHash !== null);
  if (incoming.length === 0) return [];
  const refs = await getContentRefs(db, target.workspaceId, incoming.map((c) => c.toHash!));
  const legacy = incoming.filter((c) => refs.get(c.toHash!) == null).map((c) => c.toHash!);
  const contents = legacy.length > 0 ? await getContents(db, target.workspaceId, legacy) : new Map();
  const byResource = new Map(
    incoming.map((c) => [resourceId(c.kind, c.key), refs.get(c.toHash!) ?? contentReferences(contents.get(c.toHash!))]),
  );
  const scope = { workspaceId: target.workspaceId, environmentId: target.id };
  const [vars, secrets] = await Promise.all([variablesForEnvironment(db, target.workspaceId, target.id), secretNames(db, scope)]);
  return missingReferences(byResource, { vars: new Set(Object.keys(vars)), secrets });
}

function assertResolvable(target: Environment, missing: MissingReference[], force: boolean | undefined) {
  if (missing.length === 0 || force) return;
  throw conflict(
    'missing_references',
    `${target.slug} has no value for ${missing.map((m) => m.reference).join(', ')}: set them there first, or promote with force`,
    missing,
  );
}

export async function promote(deps: Deps, ctx: CallContext, targetSlug: string, input: PromotionInput) {
  authorize(ctx.actor, 'release.promote', targetSlug);

  if (input.dryRun) {
    const db = deps.store.db;
    const target = await environmentOf(db, ctx, targetSlug);
    const source = resolvePromotionSource(target, await listEnvironments(db, ctx.workspace.id), input.from);
    assertExpectedRelease(target, input.expectedRelease);
    const plan = await planPromotion(db, target, source, input);
    return {
      dryRun: true as const,
      source: { environment: source.slug, release: plan.sourceRelease.number, name: releaseName(source, plan.sourceRelease.number) },
      target: { environment: target.slug, release: target.headRelease, protected: target.protected },
      summary: summary(plan.changes),
      missingReferences: plan.missing,
      changes: await describeChanges(db, ctx.workspace.id, plan.changes),
    };
  }

  return deps.store.transaction(async (tx) => {
    // The chain is read under the target's lock, so an environment inserted concurrently
    // (which locks every environment row) is either fully before this promotion or after it.
    const target = await lockedEnvironmentOf(deps, tx, ctx, targetSlug);
    const source = resolvePromotionSource(target, await listEnvironments(tx, ctx.workspace.id), input.from);
    assertDirectPromotion(target);
    assertExpectedRelease(target, input.expectedRelease);
    const plan = await planPromotion(tx, target, source, input);
    assertResolvable(target, plan.missing, input.force);
    const brokeGlass = await passFreeze(deps, tx, ctx, target, {
      summary: `promotion of ${releaseName(source, plan.sourceRelease.number)} into ${target.slug}`,
      breakGlassReason: input.breakGlass?.reason,
    });
    const message = input.message ?? `promote ${releaseName(source, plan.sourceRelease.number)}`;
    const release = await appendRelease(
      deps,
      tx,
      ctx,
      target,
      { id: plan.id, entries: plan.whole ? null : plan.next, count: plan.next.size },
      { cause: 'promotion', sourceEnvironment: source.slug, sourceRelease: plan.sourceRelease.number, message },
    );
    await record(deps, tx, ctx, {
      action: 'release.promote',
      environment: targetSlug,
      target: `release/${releaseName(target, release.number)}`,
      before: { release: target.headRelease },
      after: { snapshot: release.snapshotId },
      details: {
        release: release.number,
        source: releaseName(source, plan.sourceRelease.number),
        resources: input.resources ?? 'all',
        message,
        ...(plan.missing.length > 0 ? { forced: true, missingReferences: plan.missing.map((m) => m.reference) } : {}),
        ...(brokeGlass ? { breakGlass: input.breakGlass!.reason } : {}),
        ...summary(plan.changes),
      },
      change: releaseChange(target, release),
    });
    return { ...releaseView({ ...target, headRelease: release.number }, release), changes: summary(plan.changes) };
  });
}

export async function rollback(
  deps: Deps,
  ctx: CallContext,
  slug: string,
  input: { release: number; message?: string; expectedRelease?: number; breakGlass?: { reason: string } },
) {
  authorize(ctx.actor, 'release.rollback', slug);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    assertExpectedRelease(env, input.expectedRelease);
    assertRollbackTarget(env, input.release);
    const earlier = await releaseOf(tx, env, input.release);
    const brokeGlass = await passFreeze(deps, tx, ctx, env, { summary: `rollback of ${slug} to #${earlier.number}`, breakGlassReason: input.breakGlass?.reason });
    // The new release points at the earlier release's snapshot: nothing is copied.
    const release = await appendRelease(
      deps,
      tx,
      ctx,
      env,
      { id: earlier.snapshotId, entries: null, count: earlier.resourceCount },
      { cause: 'rollback', sourceEnvironment: slug, sourceRelease: earlier.number, message: input.message ?? `roll back to #${earlier.number}` },
    );
    await record(deps, tx, ctx, {
      action: 'release.rollback',
      environment: slug,
      target: `release/${releaseName(env, release.number)}`,
      before: { release: env.headRelease },
      after: { snapshot: release.snapshotId },
      details: { release: release.number, rolledBackTo: earlier.number, from: env.headRelease, message: release.message, ...(brokeGlass ? { breakGlass: input.breakGlass!.reason } : {}) },
      change: releaseChange(env, release),
    });
    return releaseView({ ...env, headRelease: release.number }, release);
  });
}

export async function listReleases(deps: Deps, ctx: CallContext, slug: string, cursor: number | null, limit: number) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const rows = await listReleaseRows(deps.store.db, ctx.workspace.id, env.id, cursor, limit + 1);
  const page = rows.slice(0, limit);
  return { data: page.map((r) => releaseView(env, r)), next: rows.length > limit ? String(page[page.length - 1]!.number) : null };
}

export async function getRelease(deps: Deps, ctx: CallContext, slug: string, number: number) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const release = await releaseOf(deps.store.db, env, number);
  const snapshot = await snapshotOf(deps.store.db, env, release.snapshotId);
  const resources = [...snapshot.keys()].sort().map((id) => snapshot.get(id)!);
  return { ...releaseView(env, release), resources };
}
