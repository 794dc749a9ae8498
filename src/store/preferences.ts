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

/** Writes the set (version + 1, or 1 for a first write) and answers what was stored. */
export async function putPreferences(db: Db, scope: Scope, recipient: string, preferences: PreferenceSet, at: string): Promise<StoredPreferences> {
  const json = JSON.stringify(preferences);
  const row = await db
    .insertInto('recipient_preferences')
    .values({ workspace_id: scope.workspaceId, environment_id: scope.environmentId, recipient, preferences: json, version: 1, updated_at: at })
    .onConflict((oc) =>
      oc.columns(['environment_id', 'recipient']).doUpdateSet((eb) => ({ preferences: json, version: eb('recipient_preferences.version', '+', 1), updated_at: at })),
    )
    .returning(['version'])
    .executeTakeFirstOrThrow();
  return { recipient, preferences, version: Number(row.version), updatedAt: at };
}
