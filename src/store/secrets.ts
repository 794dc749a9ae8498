// Encrypted secrets and the wrapped data key of each workspace. Only ciphertext is stored.
import type { Db } from './database.js';

type Scope = { workspaceId: string; environmentId: string };

export interface SecretRow {
  name: string;
  version: number;
  ciphertext: string;
  hint: string;
  updatedBy: string;
  updatedAt: string;
}

function toSecret(r: { name: string; version: number; ciphertext: string; hint: string; updated_by: string; updated_at: string }): SecretRow {
  return { name: r.name, version: r.version, ciphertext: r.ciphertext, hint: r.hint, updatedBy: r.updated_by, updatedAt: r.updated_at };
}

export async function listSecrets(db: Db, scope: Scope): Promise<SecretRow[]> {
  const rows = await db
    .selectFrom('secrets')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .orderBy('name')
    .execute();
  return rows.map(toSecret);
}

export async function findSecret(db: Db, scope: Scope, name: string): Promise<SecretRow | undefined> {
  const row = await db
    .selectFrom('secrets')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('name', '=', name)
    .executeTakeFirst();
  return row && toSecret(row);
}

export async function putSecret(db: Db, scope: Scope, secret: SecretRow) {
  const row = {
    workspace_id: scope.workspaceId,
    environment_id: scope.environmentId,
    name: secret.name,
    version: secret.version,
    ciphertext: secret.ciphertext,
    hint: secret.hint,
    updated_by: secret.updatedBy,
    updated_at: secret.updatedAt,
  };
  await db
    .insertInto('secrets')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['environment_id', 'name']).doUpdateSet({ version: row.version, ciphertext: row.ciphertext, hint: row.hint, updated_by: row.updated_by, updated_at: row.updated_at }),
    )
    .execute();
}

export async function deleteSecret(db: Db, scope: Scope, name: string) {
  await db
    .deleteFrom('secrets')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('name', '=', name)
    .execute();
}

/** A secret as one environment resolves it: its own value, or (for a branch) its parent's. */
export interface ResolvedSecretRow extends SecretRow {
  /** The environment whose value this is (part of the ciphertext's associated data). */
  environmentId: string;
  /** The parent's slug when a branch inherits the value; null for the environment's own. */
  inheritedFrom: string | null;
}

/** Every secret with a value in an environment, a branch inheriting its parent's where it has none. */
export async function secretsForEnvironment(db: Db, env: { workspaceId: string; id: string; parentId: string | null }): Promise<Map<string, ResolvedSecretRow>> {
  const lineage = env.parentId ? [env.parentId, env.id] : [env.id];
  const rows = await db
    .selectFrom('secrets')
    .innerJoin('environments', 'environments.id', 'secrets.environment_id')
    .select(['secrets.name', 'secrets.version', 'secrets.ciphertext', 'secrets.hint', 'secrets.updated_by', 'secrets.updated_at', 'secrets.environment_id', 'environments.slug'])
    .where('secrets.workspace_id', '=', env.workspaceId)
    .where('secrets.environment_id', 'in', lineage)
    .execute();
  const out = new Map<string, ResolvedSecretRow>();
  for (const id of lineage) {
    for (const row of rows) {
      if (row.environment_id !== id) continue;
      out.set(row.name, { ...toSecret(row), environmentId: id, inheritedFrom: id === env.id ? null : row.slug });
    }
  }
  return out;
}

/** A workspace's data key (or audit key) as stored: wrapped by one of the master keys. */
export interface WorkspaceKeyRecord {
  workspaceId: string;
  masterKeyId: string;
  wrappedKey: string;
  createdAt: string;
  rotatedAt: string | null;
}

export function toWorkspaceKey(row: { workspace_id: string; master_key_id: string; wrapped_key: string; created_at: string; rotated_at: string | null }): WorkspaceKeyRecord {
  return { workspaceId: row.workspace_id, masterKeyId: row.master_key_id, wrappedKey: row.wrapped_key, createdAt: row.created_at, rotatedAt: row.rotated_at };
}

export async function findWorkspaceKey(db: Db, workspaceId: string): Promise<WorkspaceKeyRecord | undefined> {
  const row = await db.selectFrom('workspace_keys').selectAll().where('workspace_id', '=', workspaceId).executeTakeFirst();
  return row && toWorkspaceKey(row);
}

/** Every workspace's key: verifying and rotating the master keys spans all workspaces by design. */
export async function listWorkspaceKeys(db: Db): Promise<WorkspaceKeyRecord[]> {
  return (await db.selectFrom('workspace_keys').selectAll().orderBy('workspace_id').execute()).map(toWorkspaceKey);
}

/** Stores a workspace's first data key; a concurrent first write keeps the key stored first. */
export async function insertWorkspaceKey(db: Db, row: { workspaceId: string; masterKeyId: string; wrappedKey: string; at: string }) {
  await db
    .insertInto('workspace_keys')
    .values({ workspace_id: row.workspaceId, master_key_id: row.masterKeyId, wrapped_key: row.wrappedKey, created_at: row.at, rotated_at: null })
    .onConflict((oc) => oc.column('workspace_id').doNothing())
    .execute();
}

export async function rewrapWorkspaceKey(db: Db, row: { workspaceId: string; masterKeyId: string; wrappedKey: string; at: string }) {
  await db
    .updateTable('workspace_keys')
    .set({ master_key_id: row.masterKeyId, wrapped_key: row.wrappedKey, rotated_at: row.at })
    .where('workspace_id', '=', row.workspaceId)
    .execute();
}
