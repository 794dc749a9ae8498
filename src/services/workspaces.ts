// Workspaces: creating one gives it the two ends of the chain and makes its creator the owner.
import { FIRST_ENVIRONMENT, LAST_ENVIRONMENT, assertSlug, type Environment } from '../domain/environments/chain.js';
import { conflict, refused } from '../domain/errors.js';
import type { Actor } from '../domain/auth/permissions.js';
import type { Db } from '../store/database.js';
import { insertEnvironment } from '../store/environments.js';
import { findWorkspace, insertMember, insertWorkspace, listWorkspacesOfUser } from '../store/workspaces.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps, type WorkspaceRef } from './context.js';

export function chainEnvironment(workspaceId: string, slug: string, name: string, position: number, at: string): Environment {
  return {
    id: newId('env'),
    workspaceId,
    slug,
    name,
    kind: 'chain',
    position,
    protected: false,
    approvalsRequired: 0,
    approvalsForRollback: false,
    obfuscateData: false,
    region: null,
    color: null,
    parentId: null,
    forkRelease: null,
    mergeBase: null,
    expiresAt: null,
    headRelease: 0,
    createdAt: at,
    updatedAt: at,
  };
}

/** Creates a workspace with development and production inside an open transaction. */
export async function createWorkspaceIn(
  deps: Deps,
  tx: Db,
  creator: { userId: string; actor: Actor },
  input: { slug: string; name: string },
  requestId: string | null,
): Promise<WorkspaceRef> {
  assertSlug(input.slug);
  if (await findWorkspace(tx, input.slug)) {
    throw conflict('workspace_exists', `a workspace with slug ${input.slug} already exists`, [{ field: 'slug' }]);
  }
  const at = deps.now().toISOString();
  const workspace = { id: newId('ws'), slug: input.slug, name: input.name };
  await insertWorkspace(tx, { ...workspace, createdAt: at });
  await insertEnvironment(tx, chainEnvironment(workspace.id, FIRST_ENVIRONMENT, 'Development', 0, at));
  await insertEnvironment(tx, chainEnvironment(workspace.id, LAST_ENVIRONMENT, 'Production', 1, at));
  await insertMember(tx, { id: newId('mem'), workspaceId: workspace.id, userId: creator.userId, role: 'owner', environmentRoles: {}, createdAt: at });
  const ctx: CallContext = { workspace, actor: { ...creator.actor, role: 'owner' }, requestId };
  await record(deps, tx, ctx, {
    action: 'workspace.create',
    target: `workspace/${workspace.slug}`,
    after: workspace,
    details: { environments: [FIRST_ENVIRONMENT, LAST_ENVIRONMENT] },
  });
  return workspace;
}

export async function createWorkspace(deps: Deps, creator: { userId: string | null; actor: Actor }, input: { slug: string; name?: string }, requestId: string | null) {
  if (!creator.userId) {
    throw refused('user_creates_workspace', 'only a user, not a service token, can create a workspace');
  }
  const userId = creator.userId;
  return deps.store.transaction((tx) =>
    createWorkspaceIn(deps, tx, { userId, actor: creator.actor }, { slug: input.slug, name: input.name ?? input.slug }, requestId),
  );
}

export async function listWorkspaces(deps: Deps, userId: string | null) {
  if (!userId) return [];
  const rows = await listWorkspacesOfUser(deps.store.db, userId);
  return rows.map((r) => ({ id: r.id, slug: r.slug, name: r.name, role: r.role, createdAt: r.createdAt }));
}
