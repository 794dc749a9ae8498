// The call context of a runtime write made with an environment API key: the key, checked again
// inside the write's transaction, acts as an audit actor of kind `apikey`.
import type { Actor } from '../domain/auth/permissions.js';
import { credentialStatus } from '../domain/auth/credentials.js';
import type { Environment } from '../domain/environments/chain.js';
import { StaleKeyError } from '../domain/errors.js';
import { findApiKey } from '../store/api-keys.js';
import type { Db } from '../store/database.js';
import { findEnvironmentById } from '../store/environments.js';
import { findWorkspaceById } from '../store/workspaces.js';
import type { KeyPrincipal } from './api-keys.js';
import type { CallContext, Deps } from './context.js';

/** A runtime call: the API key that made it and the request that carried it. */
export interface KeyCall {
  key: KeyPrincipal;
  requestId: string | null;
}

/** The key's workspace, environment and actor; 401 if the key stopped being valid meanwhile. */
export async function keyCallContext(deps: Deps, tx: Db, call: KeyCall): Promise<{ ctx: CallContext; env: Environment }> {
  const { key } = call;
  const workspace = await findWorkspaceById(tx, key.workspaceId);
  const env = workspace && (await findEnvironmentById(tx, key.workspaceId, key.environmentId));
  if (!workspace || !env) throw new StaleKeyError('environment');
  const row = await findApiKey(tx, key, key.id);
  if (!row || credentialStatus(row.revokedAt, row.expiresAt, deps.now()) !== 'active') throw new StaleKeyError('key');
  // An API key holds no member role: what it may do is decided by its kind and environment.
  const actor: Actor = { kind: 'apikey', id: row.id, name: row.name, tokenId: row.id, role: 'viewer', environmentRoles: {} };
  return { ctx: { workspace: { id: workspace.id, slug: workspace.slug, name: workspace.name }, actor, requestId: call.requestId }, env };
}
