// Freeze windows per environment, and the review items that break-glass changes open until
// someone other than the person who broke glass acknowledges them.
import { authorize } from '../domain/auth/permissions.js';
import { activeFreeze, checkFreeze, freezeIssues } from '../domain/environments/freeze.js';
import type { Environment } from '../domain/environments/chain.js';
import { conflict, invalid, notFound, refused } from '../domain/errors.js';
import type { Db } from '../store/database.js';
import {
  acknowledgeReviewItem,
  deleteFreeze as deleteFreezeRow,
  findFreeze,
  findReviewItem,
  insertFreeze,
  insertReviewItem,
  listFreezes,
  listReviewItems,
  type FreezeRecord,
  type ReviewItemRecord,
} from '../store/freezes.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps } from './context.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';

function freezeView(freeze: FreezeRecord, now: Date) {
  const at = now.toISOString();
  const { id, startsAt, endsAt, reason, createdBy, createdAt } = freeze;
  return { id, startsAt, endsAt, reason, createdBy, createdAt, active: startsAt <= at && at < endsAt };
}

function reviewView(item: ReviewItemRecord) {
  const { id, environment, kind, summary, reason, openedBy, openedAt, acknowledgedBy, acknowledgedAt } = item;
  return { id, environment, kind, summary, reason, openedBy, openedAt, acknowledgedBy, acknowledgedAt };
}

const scopeOf = (env: Environment) => ({ workspaceId: env.workspaceId, environmentId: env.id });

export async function listEnvironmentFreezes(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const now = deps.now();
  return { data: (await listFreezes(deps.store.db, scopeOf(env), now.toISOString())).map((r) => freezeView(r, now)), next: null };
}

export async function createFreeze(deps: Deps, ctx: CallContext, slug: string, input: { startsAt: string; endsAt: string; reason: string }) {
  authorize(ctx.actor, 'environment.manage', slug);
  const now = deps.now();
  const issues = freezeIssues(input, now);
  if (issues.length > 0) throw invalid(issues);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const row: FreezeRecord = {
      id: newId('frz'),
      workspaceId: env.workspaceId,
      environmentId: env.id,
      startsAt: input.startsAt,
      endsAt: input.endsAt,
      reason: input.reason,
      createdBy: ctx.actor.id,
      createdAt: now.toISOString(),
    };
    await insertFreeze(tx, row);
    await record(deps, tx, ctx, { action: 'freeze.create', environment: slug, target: `freeze/${row.id}`, after: input, details: input });
    return freezeView(row, now);
  });
}

export async function deleteFreeze(deps: Deps, ctx: CallContext, slug: string, id: string) {
  authorize(ctx.actor, 'environment.manage', slug);
  await deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const row = await findFreeze(tx, scopeOf(env), id);
    if (!row) throw notFound(`freeze ${id} of ${slug}`);
    await deleteFreezeRow(tx, scopeOf(env), id);
    await record(deps, tx, ctx, { action: 'freeze.delete', environment: slug, target: `freeze/${id}`, before: { startsAt: row.startsAt, endsAt: row.endsAt } });
  });
}

/**
 * Checks the target of a promotion or rollback against its freeze windows, inside the
 * operation's transaction. A break-glass change opens a review item; returns whether it did.
 */
export async function passFreeze(deps: Deps, tx: Db, ctx: CallContext, env: Environment, change: { summary: string; breakGlassReason: string | undefined }) {
  const now = deps.now();
  const freeze = activeFreeze(await listFreezes(tx, scopeOf(env), now.toISOString()), now);
  if (!checkFreeze(env.slug, freeze, ctx.actor, change.breakGlassReason)) return false;
  const row: ReviewItemRecord = {
    id: newId('rev'),
    workspaceId: env.workspaceId,
    environment: env.slug,
    kind: 'break_glass',
    summary: change.summary,
    reason: change.breakGlassReason!,
    openedBy: ctx.actor.id,
    openedAt: now.toISOString(),
    acknowledgedBy: null,
    acknowledgedAt: null,
  };
  await insertReviewItem(tx, row);
  await record(deps, tx, ctx, { action: 'review.open', environment: env.slug, target: `review/${row.id}`, details: { summary: row.summary, reason: row.reason, freeze: freeze!.id } });
  return true;
}

export async function listReviews(deps: Deps, ctx: CallContext, open: boolean | undefined) {
  authorize(ctx.actor, 'workspace.read');
  return { data: (await listReviewItems(deps.store.db, ctx.workspace.id, open)).map(reviewView), next: null };
}

export async function acknowledgeReview(deps: Deps, ctx: CallContext, id: string) {
  return deps.store.transaction(async (tx) => {
    const row = await findReviewItem(tx, ctx.workspace.id, id);
    if (!row) throw notFound(`review item ${id}`);
    authorize(ctx.actor, 'environment.manage', row.environment);
    if (row.openedBy === ctx.actor.id) throw refused('acknowledge_own_break_glass', 'the person who broke glass cannot acknowledge it: someone else must', row.environment);
    if (row.acknowledgedAt) throw conflict('already_acknowledged', `review item ${id} was acknowledged at ${row.acknowledgedAt}`);
    const at = deps.now().toISOString();
    await acknowledgeReviewItem(tx, ctx.workspace.id, id, ctx.actor.id, at);
    await record(deps, tx, ctx, { action: 'review.acknowledge', environment: row.environment, target: `review/${id}`, details: { summary: row.summary } });
    return reviewView({ ...row, acknowledgedBy: ctx.actor.id, acknowledgedAt: at });
  });
}
