// Per-environment state of resources outside releases: drafts (uncommitted edits), overrides
// (partial documents merged over committed content) and kill switches.
import type { Db } from './database.js';
import { afterResource } from './rows.js';
import type { ResourceKind } from '../domain/resources/kinds.js';

export interface DraftRow {
  kind: ResourceKind;
  key: string;
  hash: string | null;
  app: string | null;
  baseHash: string | null;
  updatedBy: string;
  updatedAt: string;
}

type Scope = { workspaceId: string; environmentId: string };

/**
 * Resource ids grouped by kind: `kind = ? AND key IN (…)` lets both databases look each key up
 * in the primary key, where a long OR of (kind, key) pairs makes them scan.
 */
function keysByKind(ids: { kind: string; key: string }[]): Map<string, string[]> {
  const byKind = new Map<string, string[]>();
  for (const { kind, key } of ids) {
    const keys = byKind.get(kind);
    if (keys) keys.push(key);
    else byKind.set(kind, [key]);
  }
  return byKind;
}

function mapDraft(r: { kind: string; key: string; hash: string | null; app: string | null; base_hash: string | null; updated_by: string; updated_at: string }): DraftRow {
  return { kind: r.kind as ResourceKind, key: r.key, hash: r.hash, app: r.app, baseHash: r.base_hash, updatedBy: r.updated_by, updatedAt: r.updated_at };
}

export async function listDrafts(db: Db, scope: Scope, only?: { kind: string; key: string }[]): Promise<DraftRow[]> {
  let query = db
    .selectFrom('drafts')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId);
  if (!only) return (await query.orderBy('kind').orderBy('key').execute()).map(mapDraft);
  const rows = [];
  for (const [kind, keys] of keysByKind(only)) {
    for (let i = 0; i < keys.length; i += 500) {
      rows.push(...(await query.where('kind', '=', kind).where('key', 'in', keys.slice(i, i + 500)).execute()));
    }
  }
  return rows.map(mapDraft).sort((a, b) => (a.kind === b.kind ? (a.key < b.key ? -1 : 1) : a.kind < b.kind ? -1 : 1));
}

export async function pageDrafts(
  db: Db,
  scope: Scope,
  after: { kind: string; key: string } | null,
  limit: number,
  filter: { kind?: string },
): Promise<DraftRow[]> {
  let query = db
    .selectFrom('drafts')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId);
  if (after) query = query.where((eb) => afterResource(eb, after));
  if (filter.kind) query = query.where('kind', '=', filter.kind);
  const rows = await query.orderBy('kind').orderBy('key').limit(limit).execute();
  return rows.map(mapDraft);
}

export async function findDraft(db: Db, scope: Scope, kind: string, key: string): Promise<DraftRow | undefined> {
  const row = await db
    .selectFrom('drafts')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('kind', '=', kind)
    .where('key', '=', key)
    .executeTakeFirst();
  return row && mapDraft(row);
}

export async function upsertDraft(db: Db, scope: Scope, draft: DraftRow) {
  const values = {
    workspace_id: scope.workspaceId,
    environment_id: scope.environmentId,
    kind: draft.kind,
    key: draft.key,
    hash: draft.hash,
    app: draft.app,
    base_hash: draft.baseHash,
    updated_by: draft.updatedBy,
    updated_at: draft.updatedAt,
  };
  await db
    .insertInto('drafts')
    .values(values)
    .onConflict((oc) =>
      oc.columns(['environment_id', 'kind', 'key']).doUpdateSet({
        hash: values.hash,
        app: values.app,
        base_hash: values.base_hash,
        updated_by: values.updated_by,
        updated_at: values.updated_at,
      }),
    )
    .execute();
}

export async function deleteDrafts(db: Db, scope: Scope, ids: { kind: string; key: string }[] | 'all') {
  const query = db.deleteFrom('drafts').where('workspace_id', '=', scope.workspaceId).where('environment_id', '=', scope.environmentId);
  if (ids === 'all') {
    await query.execute();
    return;
  }
  for (const [kind, keys] of keysByKind(ids)) {
    for (let i = 0; i < keys.length; i += 500) {
      await query.where('kind', '=', kind).where('key', 'in', keys.slice(i, i + 500)).execute();
    }
  }
}

export async function findOverride(db: Db, scope: Scope, kind: string, key: string): Promise<unknown | null> {
  const row = await db
    .selectFrom('overrides')
    .select('patch')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('kind', '=', kind)
    .where('key', '=', key)
    .executeTakeFirst();
  return row ? JSON.parse(row.patch) : null;
}

export async function putOverride(db: Db, scope: Scope, kind: string, key: string, patch: unknown, by: string, at: string) {
  const values = {
    workspace_id: scope.workspaceId,
    environment_id: scope.environmentId,
    kind,
    key,
    patch: JSON.stringify(patch),
    updated_by: by,
    updated_at: at,
  };
  await db
    .insertInto('overrides')
    .values(values)
    .onConflict((oc) => oc.columns(['environment_id', 'kind', 'key']).doUpdateSet({ patch: values.patch, updated_by: by, updated_at: at }))
    .execute();
}

export async function deleteOverride(db: Db, scope: Scope, kind: string, key: string) {
  await db
    .deleteFrom('overrides')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('kind', '=', kind)
    .where('key', '=', key)
    .execute();
}

/** Kill-switch state; a resource with no row is active. */
export async function findActive(db: Db, scope: Scope, kind: string, key: string): Promise<boolean> {
  const row = await db
    .selectFrom('resource_states')
    .select('active')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('kind', '=', kind)
    .where('key', '=', key)
    .executeTakeFirst();
  return row ? row.active === 1 : true;
}

export async function listInactive(db: Db, scope: Scope): Promise<Set<string>> {
  const rows = await db
    .selectFrom('resource_states')
    .select(['kind', 'key'])
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('active', '=', 0)
    .execute();
  return new Set(rows.map((r) => `${r.kind}/${r.key}`));
}

export async function putActive(db: Db, scope: Scope, kind: string, key: string, active: boolean, by: string, at: string) {
  const values = {
    workspace_id: scope.workspaceId,
    environment_id: scope.environmentId,
    kind,
    key,
    active: active ? 1 : 0,
    updated_by: by,
    updated_at: at,
  };
  await db
    .insertInto('resource_states')
    .values(values)
    .onConflict((oc) => oc.columns(['environment_id', 'kind', 'key']).doUpdateSet({ active: values.active, updated_by: by, updated_at: at }))
    .execute();
}

/** Every override of one environment, by resource id. */
export async function listOverrides(db: Db, scope: Scope): Promise<Map<string, unknown>> {
  const rows = await db
    .selectFrom('overrides')
    .select(['kind', 'key', 'patch'])
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .execute();
  return new Map(rows.map((r) => [`${r.kind}/${r.key}`, JSON.parse(r.patch) as unknown]));
}
