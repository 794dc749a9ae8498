// First start on an empty database: workspace `default` with development and production, an
// owner user `admin`, and the owner's token.
import { SYSTEM_ACTOR } from '../domain/auth/permissions.js';
import { countWorkspaces, insertToken, insertUser } from '../store/workspaces.js';
import { generateToken, hashToken } from './auth.js';
import { newId, type Deps } from './context.js';
import { createWorkspaceIn } from './workspaces.js';
import { record } from './audit.js';

export const BOOTSTRAP_EMAIL = 'admin';

export interface BootstrapResult {
  token: string;
  generated: boolean;
}

/** Returns the owner token when this call initialised the database, or null when it was not empty. */
export async function bootstrap(deps: Deps, options: { token?: string | undefined }): Promise<BootstrapResult | null> {
  if ((await countWorkspaces(deps.store.db)) > 0) return null;
  const token = options.token ?? generateToken();
  const at = deps.now().toISOString();
  try {
    await deps.store.transaction(async (tx) => {
      const userId = newId('usr');
      await insertUser(tx, { id: userId, email: BOOTSTRAP_EMAIL, name: 'admin', createdAt: at });
      const tokenId = newId('tok');
      await insertToken(tx, {
        id: tokenId,
        userId,
        workspaceId: null,
        name: 'bootstrap owner token',
        kind: 'personal',
        role: null,
        environmentRoles: {},
        tokenHash: hashToken(token),
        // Only a generated token's prefix is shown; a chosen one could be mostly prefix.
        prefix: options.token === undefined ? token.slice(0, 8) : '',
        createdAt: at,
        lastUsedAt: null,
        expiresAt: null,
        revokedAt: null,
      });
      const workspace = await createWorkspaceIn(deps, tx, { userId, actor: { ...SYSTEM_ACTOR } }, { slug: 'default', name: 'Default' }, null);
      await record(deps, tx, { workspace, actor: SYSTEM_ACTOR, requestId: null }, {
        action: 'token.create',
        target: `token/${tokenId}`,
        details: { name: 'bootstrap owner token', user: BOOTSTRAP_EMAIL, role: 'owner', fromEnvironment: options.token !== undefined },
      });
    });
  } catch (error) {
    // Another node initialised the same database at the same moment.
    if ((await countWorkspaces(deps.store.db)) > 0) return null;
    throw error;
  }
  return { token, generated: options.token === undefined };
}
