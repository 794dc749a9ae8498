// Per-environment settings: unversioned JSON documents such as channel configurations.
import type { Db } from './database.js';

type Scope = { workspaceId: string; environmentId: string };

export async function listSettings(db: Db, scope: Scope) {
  const rows = await db
    .selectFrom('settings')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .orderBy('name')
    .execute();
  return rows.map((r) => ({ name: r.name, value: JSON.parse(r.value) as unknown, updatedBy: r.updated_by, updatedAt: r.updated_at }));
}

export async function findSetting(db: Db, scope: Scope, name: string) {
  const row = await db
    .selectFrom('settings')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('name', '=', name)
    .executeTakeFirst();
  return row && { name: row.name, value: JSON.parse(row.value) as unknown, updatedBy: row.updated_by, updatedAt: row.updated_at };
}

export async function putSetting(db: Db, scope: Scope, name: string, value: unknown, by: string, at: string) {
  const row = { workspace_id: scope.workspaceId, environment_id: scope.environmentId, name, value: JSON.stringify(value), updated_by: by, updated_at: at };
  await db
    .insertInto('settings')
    .values(row)
    .onConflict((oc) => oc.columns(['environment_id', 'name']).doUpdateSet({ value: row.value, updated_by: by, updated_at: at }))
    .execute();
}

export async function deleteSetting(db: Db, scope: Scope, name: string) {
  await db
    .deleteFrom('settings')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('name', '=', name)
    .execute();
}
