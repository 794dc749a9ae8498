// Environment API keys. A key names its workspace and environment by itself: `sk_…` secret keys
// for servers (may receive secrets), `pk_…` publishable keys for clients (never do). The key is
// shown once and stored as its SHA-256.
import { randomBytes } from 'node:crypto';
import { authorize } from '../domain/auth/permissions.js';
import { sha256 } from '../domain/canonical.js';
import { credentialStatus } from '../domain/auth/credentials.js';
import type { Environment } from '../domain/environments/chain.js';
import type { CredentialKind } from '../domain/resources/visibility.js';
import { invalid, notFound } from '../domain/errors.js';
import { findApiKey, findApiKeyByHash, insertApiKey, listApiKeys as listApiKeyRows, updateApiKey, type ApiKeyRecord } from '../store/api-keys.js';
import type { Db } from '../store/database.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps } from './context.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';

export type ApiKeyKind = CredentialKind;
const PREFIX: Record<ApiKeyKind, string> = { secret: 'sk_', publishable: 'pk_' };
export const DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600;

export function hashApiKey(key: string): string {
  return sha256(key);
}

function keyView(env: Environment, key: ApiKeyRecord, now: Date) {
  return {
    id: key.id,
    name: key.name,
    kind: key.kind,
    prefix: key.prefix,
    environment: env.slug,
    createdBy: key.createdBy,
    createdAt: key.createdAt,
    lastUsedAt: key.lastUsedAt,
    expiresAt: key.expiresAt,
    revokedAt: key.revokedAt,
    status: credentialStatus(key.revokedAt, key.expiresAt, now),
  };
}

const scopeOf = (env: Environment) => ({ workspaceId: env.workspaceId, environmentId: env.id });

async function issue(deps: Deps, tx: Db, ctx: CallContext, env: Environment, input: { name: string; kind: ApiKeyKind; expiresAt: string | null }) {
  const key = PREFIX[input.kind] + randomBytes(24).toString('base64url');
  const row: ApiKeyRecord = {
    id: newId('key'),
    workspaceId: env.workspaceId,
    environmentId: env.id,
    name: input.name,
    kind: input.kind,
    prefix: key.slice(0, 11),
    keyHash: hashApiKey(key),
    createdBy: ctx.actor.id,
    createdAt: deps.now().toISOString(),
    lastUsedAt: null,
    expiresAt: input.expiresAt,
    revokedAt: null,
  };
  await insertApiKey(tx, row);
  return { key, row };
}

export async function createApiKey(deps: Deps, ctx: CallContext, slug: string, input: { name: string; kind: ApiKeyKind; expiresAt?: string }) {
  authorize(ctx.actor, 'apikey.manage', slug);
  const now = deps.now();
  if (input.expiresAt !== undefined && input.expiresAt <= now.toISOString()) {
    throw invalid([{ field: 'expiresAt', message: 'must be in the future', in: 'body' }]);
  }
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const { key, row } = await issue(deps, tx, ctx, env, { name: input.name, kind: input.kind, expiresAt: input.expiresAt ?? null });
    await record(deps, tx, ctx, {
      action: 'api_key.create',
      environment: slug,
      target: `api_key/${row.id}`,
      after: { id: row.id, prefix: row.prefix },
      details: { name: row.name, kind: row.kind, prefix: row.prefix, expiresAt: row.expiresAt },
    });
    return { ...keyView(env, row, now), key };
  });
}

export async function listApiKeys(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const now = deps.now();
  return { data: (await listApiKeyRows(deps.store.db, scopeOf(env))).map((row) => keyView(env, row, now)), next: null };
}

export async function revokeApiKey(deps: Deps, ctx: CallContext, slug: string, id: string) {
  authorize(ctx.actor, 'apikey.manage', slug);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const row = await findApiKey(tx, scopeOf(env), id);
    if (!row) throw notFound(`API key ${id} in ${slug}`);
    const now = deps.now();
    if (!row.revokedAt) {
      await updateApiKey(tx, scopeOf(env), id, { revokedAt: now.toISOString() });
      await record(deps, tx, ctx, {
        action: 'api_key.revoke',
        environment: slug,
        target: `api_key/${id}`,
        details: { name: row.name, prefix: row.prefix },
        change: { environmentId: env.id, type: 'api_key', payload: { id, revoked: true } },
      });
    }
    return keyView(env, { ...row, revokedAt: row.revokedAt ?? now.toISOString() }, now);
  });
}

/** A new key like the old one; the old one keeps working until `graceSeconds` from now. */
export async function rotateApiKey(deps: Deps, ctx: CallContext, slug: string, id: string, input: { graceSeconds?: number }) {
  authorize(ctx.actor, 'apikey.manage', slug);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const old = await findApiKey(tx, scopeOf(env), id);
    if (!old) throw notFound(`API key ${id} in ${slug}`);
    const now = deps.now();
    if (credentialStatus(old.revokedAt, old.expiresAt, now) !== 'active') {
      throw invalid([{ field: 'id', message: 'a revoked or expired key cannot be rotated; create a new one', in: 'path' }]);
    }
    const graceEnd = new Date(now.getTime() + (input.graceSeconds ?? DEFAULT_ROTATION_GRACE_SECONDS) * 1000).toISOString();
    const oldExpiry = old.expiresAt && old.expiresAt < graceEnd ? old.expiresAt : graceEnd;
    await updateApiKey(tx, scopeOf(env), id, { expiresAt: oldExpiry });
    const { key, row } = await issue(deps, tx, ctx, env, { name: old.name, kind: old.kind, expiresAt: null });
    await record(deps, tx, ctx, {
      action: 'api_key.rotate',
      environment: slug,
      target: `api_key/${id}`,
      details: { name: old.name, replacedBy: row.id, prefix: row.prefix, oldExpiresAt: oldExpiry },
      change: { environmentId: env.id, type: 'api_key', payload: { id, expiresAt: oldExpiry } },
    });
    return { ...keyView(env, row, now), key, previous: keyView(env, { ...old, expiresAt: oldExpiry }, now) };
  });
}

export interface KeyPrincipal {
  id: string;
  kind: ApiKeyKind;
  workspaceId: string;
  environmentId: string;
  expiresAt: string | null;
  revoked: boolean;
}

/** The key a runtime credential names, if any (revocation and expiry are checked by the caller). */
export async function findKeyPrincipal(deps: Deps, key: string): Promise<KeyPrincipal | null> {
  const row = await findApiKeyByHash(deps.store.db, hashApiKey(key));
  if (!row) return null;
  return {
    id: row.id,
    kind: row.kind,
    workspaceId: row.workspaceId,
    environmentId: row.environmentId,
    expiresAt: row.expiresAt,
    revoked: row.revokedAt !== null,
  };
}

/** Records when a key was last used, in the key's own workspace and environment. */
export async function touchApiKey(deps: Deps, key: Pick<KeyPrincipal, 'id' | 'workspaceId' | 'environmentId'>, at: string) {
  await updateApiKey(deps.store.db, key, key.id, { lastUsedAt: at });
}
