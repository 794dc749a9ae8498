// Recipient preferences: read and written with an environment API key (a publishable key only
// with the recipient's token), by members (data.read to read, preferences.write to edit), and
// by the recipient's one-click unsubscribe link; consulted by every channel step at delivery.
// Runtime writes record an activity entry, member writes an audit entry, in their transaction.
import { authorize } from '../domain/auth/permissions.js';
import type { Environment } from '../domain/environments/chain.js';
import { conflict, StagelineError } from '../domain/errors.js';
import { decide, optOutOfEmail, type PreferenceChannel, type PreferenceDecision, type PreferenceSet } from '../domain/preferences/preferences.js';
import { readUnsubscribeToken, signUnsubscribeToken, unsubscribeSecret, unsubscribeSignatureValid } from '../domain/preferences/unsubscribe-token.js';
import { insertActivity } from '../store/activity.js';
import type { Db } from '../store/database.js';
import { findEnvironmentById } from '../store/environments.js';
import { findPreferences, putPreferences, type StoredPreferences } from '../store/preferences.js';
import { recordActivity } from './activity.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps } from './context.js';
import { keyCallContext, type KeyCall } from './key-context.js';
import { environmentOf } from './scope.js';
import { knownSetting, type KnownSetting } from './settings.js';

type Scope = { workspaceId: string; environmentId: string };
export type PreferencesSetting = KnownSetting<'preferences'>;

/** Where the one-click unsubscribe route lives, below the node's public URL (outside /v1: it takes no API key). */
export const UNSUBSCRIBE_PATH = '/unsubscribe';

/** The environment's `preferences` setting, or undefined (none, or a value stored before its schema). */
export function preferencesSetting(db: Db, scope: Scope): Promise<PreferencesSetting | undefined> {
  return knownSetting(db, scope, 'preferences');
}

/** What a reader sees: the recipient's own set (empty when never written) and when it changed. */
function view(recipient: string, stored: StoredPreferences | null) {
  return { recipient, preferences: stored?.preferences ?? {}, version: stored?.version ?? 0, updatedAt: stored?.updatedAt ?? null };
}

/** Whether a channel step of `workflow` reaches `recipient` in `env`, read now (at delivery time). */
export async function preferenceDecision(
  deps: Deps,
  env: Environment,
  recipient: string,
  workflow: string,
  channel: PreferenceChannel,
  /** The environment's setting when the caller read it already (null: it has none). */
  setting?: PreferencesSetting | null,
): Promise<PreferenceDecision> {
  const scope = { workspaceId: env.workspaceId, environmentId: env.id };
  const [stored, defaults] = await Promise.all([findPreferences(deps.store.db, scope, recipient), setting !== undefined ? setting : preferencesSetting(deps.store.db, scope)]);
  return decide(stored?.preferences, defaults?.defaults, workflow, channel);
}

// ---------------------------------------------------------------------------------------------
// The runtime API (an environment's key)

export async function readPreferencesByKey(deps: Deps, call: KeyCall, recipient: string) {
  return view(recipient, await findPreferences(deps.store.db, call.key, recipient));
}

/** The stored set, or 409 when `expectedVersion` (If-Match) no longer holds. */
async function put(tx: Db, scope: Scope, recipient: string, preferences: PreferenceSet, at: string, expectedVersion: number | undefined): Promise<StoredPreferences> {
  const stored = await putPreferences(tx, scope, recipient, preferences, at, expectedVersion);
  if (stored) return stored;
  const now = await findPreferences(tx, scope, recipient);
  throw conflict('preferences_changed', `the preferences of ${recipient} changed since version ${expectedVersion} was read (now version ${now?.version ?? 0}); read them again`, [
    { field: 'If-Match', in: 'header', message: `expected version ${now?.version ?? 0}` },
  ]);
}

export async function writePreferencesByKey(deps: Deps, call: KeyCall, recipient: string, preferences: PreferenceSet, expectedVersion?: number) {
  return deps.store.transaction(async (tx) => {
    const { ctx, env } = await keyCallContext(deps, tx, call);
    const stored = await put(tx, call.key, recipient, preferences, deps.now().toISOString(), expectedVersion);
    await recordActivity(deps, tx, ctx, env, { action: 'preferences.put', target: `recipient/${recipient}`, details: { recipient, version: stored.version, key: call.key.kind } });
    return view(recipient, stored);
  });
}

// ---------------------------------------------------------------------------------------------
// Members (dashboard, CLI)

export async function readPreferencesAsMember(deps: Deps, ctx: CallContext, slug: string, recipient: string) {
  authorize(ctx.actor, 'data.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const scope = { workspaceId: env.workspaceId, environmentId: env.id };
  const [stored, setting] = await Promise.all([findPreferences(deps.store.db, scope, recipient), preferencesSetting(deps.store.db, scope)]);
  // A preference set is booleans keyed by workflow and channel: obfuscation masks strings and
  // numbers and keeps keys and booleans, so masked and plain read the same (docs/preferences.md).
  return { ...view(recipient, stored), defaults: setting?.defaults ?? {}, environment: slug };
}

export async function writePreferencesAsMember(deps: Deps, ctx: CallContext, slug: string, recipient: string, preferences: PreferenceSet, expectedVersion?: number) {
  authorize(ctx.actor, 'preferences.write', slug);
  return deps.store.transaction(async (tx) => {
    const env = await environmentOf(tx, ctx, slug);
    const stored = await put(tx, { workspaceId: env.workspaceId, environmentId: env.id }, recipient, preferences, deps.now().toISOString(), expectedVersion);
    // The recipient id names whom it concerns; the set itself is not copied into the audit log.
    await record(deps, tx, ctx, { action: 'preferences.put', environment: slug, target: `recipient/${recipient}`, details: { recipient, version: stored.version } });
    return { ...view(recipient, stored), environment: slug };
  });
}

// ---------------------------------------------------------------------------------------------
// One-click unsubscribe (RFC 8058)

function secretsOf(deps: Deps, scope: Scope, setting: PreferencesSetting | null | undefined): Buffer[] {
  return deps.keyring.derive((master) => unsubscribeSecret(master, scope.workspaceId, scope.environmentId, setting?.signingKeyVersion ?? 1));
}

/** The List-Unsubscribe link of `workflow`'s email to `recipient` in `env`. */
export function unsubscribeUrl(deps: Deps, publicUrl: string, env: Environment, recipient: string, workflow: string, setting: PreferencesSetting | null | undefined): string {
  const scope = { workspaceId: env.workspaceId, environmentId: env.id };
  const token = signUnsubscribeToken(secretsOf(deps, scope, setting)[0]!, { ws: env.workspaceId, env: env.id, sub: recipient, wf: workflow });
  return `${publicUrl.replace(/\/+$/, '')}${UNSUBSCRIBE_PATH}?token=${token}`;
}

const invalidLink = () =>
  new StagelineError(400, 'invalid_unsubscribe_link', 'token: this unsubscribe link is not valid (altered, of another installation, or its signing key was rotated)', [
    { field: 'token', in: 'query', message: 'not a valid unsubscribe link' },
  ]);

/** The environment and claims of a valid link, or a 400 (a forged, altered or rotated link). */
async function verifiedLink(deps: Deps, db: Db, token: string) {
  const read = readUnsubscribeToken(token);
  if (!read) throw invalidLink();
  const env = await findEnvironmentById(db, read.claims.ws, read.claims.env);
  if (!env) throw invalidLink();
  const setting = await preferencesSetting(db, { workspaceId: env.workspaceId, environmentId: env.id });
  if (!unsubscribeSignatureValid(read, secretsOf(deps, { workspaceId: env.workspaceId, environmentId: env.id }, setting))) throw invalidLink();
  return { env, claims: read.claims, scope: setting?.unsubscribe ?? 'workflow' };
}

/** What the link's page says before the recipient confirms (a GET changes nothing: mail scanners follow links). */
export async function describeUnsubscribe(deps: Deps, token: string) {
  const { claims, scope } = await verifiedLink(deps, deps.store.db, token);
  return { workflow: claims.wf, scope };
}

/**
 * Opts the link's recipient out of the link's workflow's email (or of every email, by the
 * setting) in the link's environment, and records it in the activity log as the recipient.
 * Repeating it changes nothing further.
 */
export async function unsubscribe(deps: Deps, token: string, requestId: string | null) {
  return deps.store.transaction(async (tx) => {
    const { env, claims, scope } = await verifiedLink(deps, tx, token);
    const target = { workspaceId: env.workspaceId, environmentId: env.id };
    // Read, change, write if nobody wrote in between (another link, a PUT): no opt-out is lost.
    let stored: StoredPreferences | null = null;
    let applied: 'workflow' | 'email' = scope;
    for (let attempt = 0; stored === null; attempt++) {
      if (attempt === 10) throw conflict('preferences_changed', `the preferences of ${claims.sub} kept changing; try again`);
      const current = await findPreferences(tx, target, claims.sub);
      const next = optOutOfEmail(current?.preferences ?? {}, claims.wf, scope);
      applied = next.scope;
      stored = await putPreferences(tx, target, claims.sub, next.set, deps.now().toISOString(), current?.version ?? 0);
    }
    await insertActivity(tx, env.workspaceId, {
      id: newId('act'),
      at: deps.now().toISOString(),
      environmentId: env.id,
      environment: env.slug,
      actor: { kind: 'recipient', id: claims.sub, name: null },
      action: 'preferences.unsubscribe',
      target: `recipient/${claims.sub}`,
      requestId,
      details: { recipient: claims.sub, workflow: claims.wf, scope: applied, version: stored.version },
    });
    return { workflow: claims.wf, scope: applied };
  });
}
