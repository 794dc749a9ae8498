// Environment API keys, stored as SHA-256 hashes of the key.
import type { Selectable } from 'kysely';
import type { Db } from './database.js';
import type { ApiKeyTable } from './schema.js';

export type ApiKeyRow = Selectable<ApiKeyTable>;

export async function insertApiKey(db: Db, row: ApiKeyRow) {
  await db.insertInto('api_keys').values(row).execute();
}

export async function findApiKeyByHash(db: Db, keyHash: string): Promise<ApiKeyRow | undefined> {
  return db.selectFrom('api_keys').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
}

export async function findApiKey(db: Db, workspaceId: string, environmentId: string, id: string): Promise<ApiKeyRow | undefined> {
  return db
    .selectFrom('api_keys')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function listApiKeys(db: Db, workspaceId: string, environmentId: string): Promise<ApiKeyRow[]> {
  return db
    .selectFrom('api_keys')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .orderBy('created_at', 'desc')
    .execute();
}

export async function updateApiKey(db: Db, id: string, set: Partial<Pick<ApiKeyRow, 'expires_at' | 'revoked_at' | 'last_used_at'>>) {
  await db.updateTable('api_keys').set(set).where('id', '=', id).execute();
}
