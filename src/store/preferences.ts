// Recipient preference sets, one row per recipient per environment.
import type { PreferenceSet } from '../domain/preferences/preferences.js';
import type { Db } from './database.js';

type Scope = { workspaceId: string; environmentId: string };

export interface StoredPreferences {
  recipient: string;
  preferences: PreferenceSet;
  version: number;
  updatedAt: string;
}

export async function findPreferences(db: Db, scope: Scope, recipient: string): Promise<StoredPreferences | null> {
  const row = await db
    .selectFrom('recipient_preferences')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('recipient', '=', recipient)
    .executeTakeFirst();
  return row ? { recipient: row.recipient, preferences: JSON.parse(row.preferences) as PreferenceSet, version: row.version, updatedAt: row.updated_at } : null;
}

/**
 * Writes the set (version + 1, or 1 for a first write) and answers what was stored. With
 * `expectedVersion` the write happens only if the stored version is still that one (0: no row
 * yet), and answers null otherwise: the caller read a set someone has changed since.
 */
export async function putPreferences(db: Db, scope: Scope, recipient: string, preferences: PreferenceSet, at: string, expectedVersion?: number): Promise<StoredPreferences | null> {
  const json = JSON.stringify(preferences);
  const values = { workspace_id: scope.workspaceId, environment_id: scope.environmentId, recipient, preferences: json, version: 1, updated_at: at };
  let row: { version: number | string } | undefined;
  if (expectedVersion === undefined) {
    row = await db
      .insertInto('recipient_preferences')
      .values(values)
      .onConflict((oc) => oc.columns(['environment_id', 'recipient']).doUpdateSet((eb) => ({ preferences: json, version: eb('recipient_preferences.version', '+', 1), updated_at: at })))
      .returning(['version'])
      .executeTakeFirstOrThrow();
  } else if (expectedVersion === 0) {
    row = await db.insertInto('recipient_preferences').values(values).onConflict((oc) => oc.columns(['environment_id', 'recipient']).doNothing()).returning(['version']).executeTakeFirst();
  } else {
    row = await db
      .updateTable('recipient_preferences')
      .set({ preferences: json, version: expectedVersion + 1, updated_at: at })
      .where('workspace_id', '=', scope.workspaceId)
      .where('environment_id', '=', scope.environmentId)
      .where('recipient', '=', recipient)
      .where('version', '=', expectedVersion)
      .returning(['version'])
      .executeTakeFirst();
  }
  return row ? { recipient, preferences, version: Number(row.version), updatedAt: at } : null;
}
