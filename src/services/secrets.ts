// Secrets: one value per name per environment, written through the API and never read back.
// Reads give metadata and a masked hint; values are decrypted only to resolve runtime content.
import { authorize } from '../domain/auth/permissions.js';
import { invalid, notFound } from '../domain/errors.js';
import { decryptSecret, encryptSecret, KeyError, secretHint } from '../domain/secrets/envelope.js';
import type { Environment } from '../domain/environments/chain.js';
import { scopeRecord } from '../domain/templates/scope.js';
import type { Db } from '../store/database.js';
import { deleteSecret as deleteSecretRow, findSecret, listSecrets as listSecretRows, putSecret as putSecretRow, secretsForEnvironment, type SecretRow } from '../store/secrets.js';
import { record } from './audit.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';

export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MAX_SECRET_BYTES = 64 * 1024;

function metadata(env: Environment, row: SecretRow) {
  return { name: row.name, environment: env.slug, version: row.version, hint: row.hint, updatedBy: row.updatedBy, updatedAt: row.updatedAt };
}

function assertName(name: string) {
  if (!SECRET_NAME.test(name)) {
    throw invalid([{ field: 'name', message: 'must be 1-64 letters, digits or underscores, not starting with a digit', in: 'path' }]);
  }
}

export async function putSecret(deps: Deps, ctx: CallContext, slug: string, name: string, value: string) {
  authorize(ctx.actor, 'secret.write', slug);
  assertName(name);
  if (value.length === 0 || Buffer.byteLength(value) > MAX_SECRET_BYTES) {
    throw invalid([{ field: 'value', message: `must be 1 to ${MAX_SECRET_BYTES} bytes`, in: 'body' }]);
  }
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const scope = { workspaceId: env.workspaceId, environmentId: env.id };
    const at = deps.now().toISOString();
    const dataKey = await deps.keyring.dataKey(tx, env.workspaceId, at);
    const previous = await findSecret(tx, scope, name);
    const version = (previous?.version ?? 0) + 1;
    const row: SecretRow = {
      name,
      version,
      ciphertext: encryptSecret(dataKey, value, { workspaceId: env.workspaceId, environmentId: env.id, name, version }),
      hint: secretHint(value),
      updatedBy: ctx.actor.id,
      updatedAt: at,
    };
    await putSecretRow(tx, scope, row);
    // The audit entry names the secret and its versions; the value never leaves this function.
    await record(deps, tx, ctx, {
      action: previous ? 'secret.update' : 'secret.create',
      environment: slug,
      target: `secret/${name}`,
      before: previous ? { name, version: previous.version } : null,
      after: { name, version },
      details: { version },
      change: { environmentId: env.id, type: 'secret', payload: { name } },
    });
    return metadata(env, row);
  });
}

export async function getSecret(deps: Deps, ctx: CallContext, slug: string, name: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const row = await findSecret(deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id }, name);
  if (!row) throw notFound(`secret ${name} in ${slug}`);
  return metadata(env, row);
}

export async function listSecrets(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const rows = await listSecretRows(deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id });
  return { data: rows.map((row) => metadata(env, row)), next: null };
}

export async function deleteSecret(deps: Deps, ctx: CallContext, slug: string, name: string) {
  authorize(ctx.actor, 'secret.write', slug);
  await deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const scope = { workspaceId: env.workspaceId, environmentId: env.id };
    const previous = await findSecret(tx, scope, name);
    if (!previous) throw notFound(`secret ${name} in ${slug}`);
    await deleteSecretRow(tx, scope, name);
    await record(deps, tx, ctx, {
      action: 'secret.delete',
      environment: slug,
      target: `secret/${name}`,
      before: { name, version: previous.version },
      after: null,
      change: { environmentId: env.id, type: 'secret', payload: { name } },
    });
  });
}

/**
 * Every secret of one environment in plaintext (a branch inheriting its parent's where it has
 * none), for resolving content server-side only.
 */
export async function secretValues(deps: Deps, db: Db, env: Environment): Promise<Record<string, string>> {
  const rows = await secretsForEnvironment(db, env);
  if (rows.size === 0) return scopeRecord<string>([]);
  const dataKey = await deps.keyring.existingDataKey(db, env.workspaceId);
  if (!dataKey) throw new KeyError(`workspace ${env.workspaceId} has secrets but no data key`);
  return scopeRecord(
    [...rows.values()].map((row) => [row.name, decryptSecret(dataKey, row.ciphertext, { workspaceId: env.workspaceId, environmentId: row.environmentId, name: row.name, version: row.version })] as const),
  );
}
