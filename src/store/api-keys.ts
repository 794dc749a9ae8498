// Environment API keys, stored as SHA-256 hashes of the key. Every lookup but the one by hash
// names the key's workspace and environment; records leave this module in camelCase.
import type { Selectable } from 'kysely';
import type { CredentialKind } from '../domain/resources/visibility.js';
import type { Db } from './database.js';
import type { ApiKeyTable } from './schema.js';

export interface ApiKeyRecord {
  id: string;
  workspaceId: string;
  environmentId: string;
  name: string;
  kind: CredentialKind;
  /** The key's first characters, shown to tell keys apart. */
  prefix: string;
  keyHash: string;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

/** The workspace and environment a key belongs to. */
export interface ApiKeyScope {
  workspaceId: string;
  environmentId: string;
}

function toApiKey(row: Selectable<ApiKeyTable>): ApiKeyRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    environmentId: row.environment_id,
    name: row.name,
    kind: row.kind as CredentialKind,
    prefix: row.prefix,
    keyHash: row.key_hash,
    createdBy: row.created_by,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

export async function insertApiKey(db: Db, key: ApiKeyRecord) {
  await db
    .insertInto('api_keys')
    .values({
      id: key.id,
      workspace_id: key.workspaceId,
      environment_id: key.environmentId,
      name: key.name,
      kind: key.kind,
      prefix: key.prefix,
      key_hash: key.keyHash,
      created_by: key.createdBy,
      created_at: key.createdAt,
      last_used_at: key.lastUsedAt,
      expires_at: key.expiresAt,
      revoked_at: key.revokedAt,
    })
    .execute();
}

/** A runtime credential names its own scope: the hash is the lookup, before any workspace is known. */
export async function findApiKeyByHash(db: Db, keyHash: string): Promise<ApiKeyRecord | undefined> {
  const row = await db.selectFrom('api_keys').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
  return row && toApiKey(row);
}

export async function findApiKey(db: Db, scope: ApiKeyScope, id: string): Promise<ApiKeyRecord | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row && toApiKey(row);
}

export async function listApiKeys(db: Db, scope: ApiKeyScope): Promise<ApiKeyRecord[]> {
  const rows = await db
    .selectFrom('api_keys')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map(toApiKey);
}

export async function updateApiKey(db: Db, scope: ApiKeyScope, id: string, set: Partial<Pick<ApiKeyRecord, 'expiresAt' | 'revokedAt' | 'lastUsedAt'>>) {
  const columns: { expires_at?: string | null; revoked_at?: string | null; last_used_at?: string | null } = {};
  if (set.expiresAt !== undefined) columns.expires_at = set.expiresAt;
  if (set.revokedAt !== undefined) columns.revoked_at = set.revokedAt;
  if (set.lastUsedAt !== undefined) columns.last_used_at = set.lastUsedAt;
  await db
    .updateTable('api_keys')
    .set(columns)
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .execute();
}
