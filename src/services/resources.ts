// Resource use cases in one environment: read the combined view, write and delete drafts,
// list uncommitted changes, and the two immediate controls outside commits — the kill switch
// and the override.
import { authorize } from '../domain/auth/permissions.js';
import { canonicalJson, sha256 } from '../domain/canonical.js';
import { decodeCursor, encodeCursor, RESOURCE_POSITION } from '../domain/cursor.js';
import { assertEditable, type Environment } from '../domain/environments/chain.js';
import { invalid, notFound } from '../domain/errors.js';
import { overrideShapeIssue } from '../domain/overrides/merge.js';
import { appLabelIssue, contentIssues, overriddenContentIssues, type ResourceRef } from '../domain/resources/kinds.js';
import { compareSnapshots, resourceId, toSnapshot } from '../domain/releases/snapshot.js';
import { draftState, isNoOpDraft, isStaleDraft } from '../domain/resources/drafts.js';
import { contentReferences } from '../domain/templates/template.js';
import type { Db } from '../store/database.js';
import { listEnvironments } from '../store/environments.js';
import { findSnapshotEntry, getContents, pageSnapshotEntries, putContents } from '../store/releases.js';
import {
  deleteDrafts,
  deleteOverride as deleteOverrideRow,
  findActive,
  findDraft,
  findOverride,
  listDrafts,
  listInactive,
  pageDrafts,
  putActive,
  putOverride as putOverrideRow,
  upsertDraft,
} from '../store/resources.js';
import { record } from './audit.js';
import type { CallContext, Deps } from './context.js';
import { emitEvent } from './events.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';
import { describeChanges } from './diff.js';
import { draftedEntries, headSnapshotId } from './snapshots.js';

const scopeOf = (env: Environment) => ({ workspaceId: env.workspaceId, environmentId: env.id });

async function committedEntry(db: Db, env: Environment, ref: ResourceRef) {
  const snapshot = await headSnapshotId(db, env);
  return snapshot ? findSnapshotEntry(db, env.workspaceId, snapshot, ref.kind, ref.key) : undefined;
}

async function readResource(db: Db, env: Environment, ref: ResourceRef) {
  const scope = scopeOf(env);
  const [entry, draft, override, active] = await Promise.all([
    committedEntry(db, env, ref),
    findDraft(db, scope, ref.kind, ref.key),
    findOverride(db, scope, ref.kind, ref.key),
    findActive(db, scope, ref.kind, ref.key),
  ]);
  if (!entry && !draft) return null;
  const contents = await getContents(db, env.workspaceId, [entry?.hash, draft?.hash].filter((h): h is string => !!h));
  return {
    kind: ref.kind,
    key: ref.key,
    app: draft ? draft.app : (entry?.app ?? null),
    committed: entry ? { content: contents.get(entry.hash), hash: entry.hash, release: env.headRelease } : null,
    draft: draft
      ? { content: draft.hash ? contents.get(draft.hash) : null, deleted: draft.hash === null, hash: draft.hash, updatedAt: draft.updatedAt, updatedBy: draft.updatedBy }
      : null,
    override,
    active,
  };
}

export async function getResource(deps: Deps, ctx: CallContext, slug: string, ref: ResourceRef) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const view = await readResource(deps.store.db, env, ref);
  if (!view) throw notFound(`${resourceId(ref.kind, ref.key)} in ${slug}`);
  return view;
}

export interface ListFilter {
  kind?: string;
  app?: string;
}

const LIST_BATCH = 200;

/**
 * Committed resources and drafts merged in (kind, key) order, one page at a time. Both sources
 * are read in batches after the cursor; merged rows are final only up to the smaller of the
 * two batches' last ids, so reading continues until the page is full (the app filter applies
 * to the draft's app when there is one, which SQL on one source alone cannot know).
 */
export async function listResources(deps: Deps, ctx: CallContext, slug: string, filter: ListFilter, cursor: string | null, limit: number) {
  authorize(ctx.actor, 'resource.read', slug);
  const db = deps.store.db;
  const env = await environmentOf(db, ctx, slug);
  const snapshot = await headSnapshotId(db, env);
  const inactive = await listInactive(db, scopeOf(env));
  const rows = [];
  let after = decodeCursor(cursor, RESOURCE_POSITION);
  let exhausted = false;
  while (rows.length <= limit && !exhausted) {
    const [committed, drafts] = await Promise.all([
      snapshot ? pageSnapshotEntries(db, env.workspaceId, snapshot, after, LIST_BATCH, filter) : Promise.resolve([]),
      pageDrafts(db, scopeOf(env), after, LIST_BATCH, filter),
    ]);
    const bounds = [committed, drafts].filter((batch) => batch.length === LIST_BATCH).map((batch) => batch[batch.length - 1]!);
    const bound = bounds.sort(compareRefs)[0] ?? null;
    exhausted = bound === null;
    const committedById = new Map(committed.map((e) => [resourceId(e.kind, e.key), e]));
    const draftsById = new Map(drafts.map((d) => [resourceId(d.kind, d.key), d]));
    const refs = [...committed, ...drafts].filter((r) => !bound || compareRefs(r, bound) <= 0).sort(compareRefs);
    for (const ref of refs) {
      const id = resourceId(ref.kind, ref.key);
      if (committedById.get(id) === undefined && draftsById.get(id) === undefined) continue;
      const entry = committedById.get(id);
      const draft = draftsById.get(id);
      committedById.delete(id);
      draftsById.delete(id);
      const app = draft ? draft.app : (entry?.app ?? null);
      if (filter.app && app !== filter.app) continue;
      rows.push({
        kind: ref.kind,
        key: ref.key,
        app,
        committedHash: entry?.hash ?? null,
        draft: draft ? draftState(entry?.hash ?? null, draft.hash) : null,
        active: !inactive.has(id),
      });
    }
    after = bound;
  }
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { data: page, next: rows.length > limit && last ? encodeCursor({ kind: last.kind, key: last.key }) : null };
}

function compareRefs(a: { kind: string; key: string }, b: { kind: string; key: string }): number {
  if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}


export async function writeDraft(deps: Deps, ctx: CallContext, slug: string, ref: ResourceRef, input: { content: unknown; app?: string | null }) {
  authorize(ctx.actor, 'draft.write', slug);
  const appIssue = appLabelIssue(input.app);
  const issues = [...contentIssues(ref.kind, input.content), ...(appIssue ? [appIssue] : [])];
  if (issues.length > 0) throw invalid(issues);
  const body = canonicalJson(input.content);
  const hash = sha256(body);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    assertEditable(env, await listEnvironments(tx, ctx.workspace.id));
    const scope = scopeOf(env);
    const [entry, previous] = await Promise.all([committedEntry(tx, env, ref), findDraft(tx, scope, ref.kind, ref.key)]);
    const app = input.app !== undefined ? input.app : (previous?.app ?? entry?.app ?? null);
    await putContents(deps.store, tx, env.workspaceId, [{ hash, body, refs: contentReferences(input.content) }], deps.now().toISOString());
    if (isNoOpDraft(entry ?? null, { hash, app })) {
      await deleteDrafts(tx, scope, [ref]);
    } else {
      await upsertDraft(tx, scope, { ...ref, hash, app, baseHash: entry?.hash ?? null, updatedBy: ctx.actor.id, updatedAt: deps.now().toISOString() });
    }
    await record(deps, tx, ctx, {
      action: 'resource.draft',
      environment: slug,
      target: resourceId(ref.kind, ref.key),
      before: previous?.hash ?? entry?.hash ?? null,
      after: hash,
      details: { hash, app },
    });
    return (await readResource(tx, env, ref))!;
  });
}

/** Drafts a deletion of a committed resource, or discards a draft of one never committed. */
export async function deleteResource(deps: Deps, ctx: CallContext, slug: string, ref: ResourceRef) {
  authorize(ctx.actor, 'draft.write', slug);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    assertEditable(env, await listEnvironments(tx, ctx.workspace.id));
    const scope = scopeOf(env);
    const [entry, draft] = await Promise.all([committedEntry(tx, env, ref), findDraft(tx, scope, ref.kind, ref.key)]);
    if (!entry && !draft) throw notFound(`${resourceId(ref.kind, ref.key)} in ${slug}`);
    if (entry) {
      await upsertDraft(tx, scope, { ...ref, hash: null, app: entry.app, baseHash: entry.hash, updatedBy: ctx.actor.id, updatedAt: deps.now().toISOString() });
    } else {
      await deleteDrafts(tx, scope, [ref]);
    }
    await record(deps, tx, ctx, {
      action: entry ? 'resource.draft_delete' : 'resource.draft_discard',
      environment: slug,
      target: resourceId(ref.kind, ref.key),
      before: draft?.hash ?? entry?.hash ?? null,
      after: null,
    });
    return { kind: ref.kind, key: ref.key, draft: entry ? { deleted: true } : null };
  });
}

export async function listChanges(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const db = deps.store.db;
  const env = await environmentOf(db, ctx, slug);
  const drafts = await listDrafts(db, scopeOf(env));
  // Only the drafted resources' committed entries: the tree is read at their paths alone.
  const head = await draftedEntries(db, env, drafts);
  const touched = toSnapshot(drafts.flatMap((d) => (head.get(resourceId(d.kind, d.key)) ? [head.get(resourceId(d.kind, d.key))!] : [])));
  const drafted = toSnapshot(drafts.filter((d) => d.hash !== null).map((d) => ({ kind: d.kind, key: d.key, hash: d.hash!, app: d.app })));
  const changes = await describeChanges(db, env.workspaceId, compareSnapshots(touched, drafted));
  const byId = new Map(drafts.map((d) => [resourceId(d.kind, d.key), d]));
  return {
    environment: slug,
    release: env.headRelease,
    next: null,
    data: changes.map((c) => {
      const draft = byId.get(resourceId(c.kind, c.key))!;
      return { ...c, updatedAt: draft.updatedAt, updatedBy: draft.updatedBy, stale: isStaleDraft(draft.baseHash, head.get(resourceId(c.kind, c.key))?.hash ?? null) };
    }),
  };
}

async function requireKnown(db: Db, env: Environment, ref: ResourceRef) {
  const [entry, draft] = await Promise.all([committedEntry(db, env, ref), findDraft(db, scopeOf(env), ref.kind, ref.key)]);
  if (!entry && !draft) throw notFound(`${resourceId(ref.kind, ref.key)} in ${env.slug}`);
  return entry;
}

export async function setActive(deps: Deps, ctx: CallContext, slug: string, ref: ResourceRef, active: boolean) {
  authorize(ctx.actor, 'killswitch.write', slug);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    await requireKnown(tx, env, ref);
    const before = await findActive(tx, scopeOf(env), ref.kind, ref.key);
    await putActive(tx, scopeOf(env), ref.kind, ref.key, active, ctx.actor.id, deps.now().toISOString());
    await record(deps, tx, ctx, {
      action: active ? 'resource.activate' : 'resource.deactivate',
      environment: slug,
      target: resourceId(ref.kind, ref.key),
      before: { active: before },
      after: { active },
      change: { environmentId: env.id, type: 'active', payload: { resource: resourceId(ref.kind, ref.key), active } },
    });
    await emitEvent(deps, tx, ctx, { type: 'resource.killswitch', environment: slug, data: { resource: resourceId(ref.kind, ref.key), active, before } });
    return { kind: ref.kind, key: ref.key, environment: slug, active };
  });
}

export async function putOverride(deps: Deps, ctx: CallContext, slug: string, ref: ResourceRef, override: unknown) {
  authorize(ctx.actor, 'override.write', slug);
  const shapeIssue = overrideShapeIssue(override);
  if (shapeIssue) throw invalid([shapeIssue]);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const entry = await requireKnown(tx, env, ref);
    if (entry) {
      // The merged document is what runtimes will read: it must still be a valid resource.
      const base = (await getContents(tx, env.workspaceId, [entry.hash])).get(entry.hash);
      const issues = overriddenContentIssues(ref.kind, base, override);
      if (issues.length > 0) throw invalid(issues);
    }
    const before = await findOverride(tx, scopeOf(env), ref.kind, ref.key);
    await putOverrideRow(tx, scopeOf(env), ref.kind, ref.key, override, ctx.actor.id, deps.now().toISOString());
    await record(deps, tx, ctx, {
      action: 'resource.override',
      environment: slug,
      target: resourceId(ref.kind, ref.key),
      before,
      after: override,
      change: { environmentId: env.id, type: 'override', payload: { resource: resourceId(ref.kind, ref.key) } },
    });
    return { kind: ref.kind, key: ref.key, environment: slug, override };
  });
}

export async function deleteOverride(deps: Deps, ctx: CallContext, slug: string, ref: ResourceRef) {
  authorize(ctx.actor, 'override.write', slug);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const before = await findOverride(tx, scopeOf(env), ref.kind, ref.key);
    if (before === null) throw notFound(`an override of ${resourceId(ref.kind, ref.key)} in ${slug}`);
    await deleteOverrideRow(tx, scopeOf(env), ref.kind, ref.key);
    await record(deps, tx, ctx, {
      action: 'resource.override_delete',
      environment: slug,
      target: resourceId(ref.kind, ref.key),
      before,
      after: null,
      change: { environmentId: env.id, type: 'override', payload: { resource: resourceId(ref.kind, ref.key) } },
    });
  });
}

