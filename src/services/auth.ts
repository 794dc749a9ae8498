// Authentication: bearer tokens are random, stored only as their SHA-256, and resolve to a
// principal; the principal's membership in a workspace makes the Actor of a call.
import { randomBytes } from 'node:crypto';
import { sha256 } from '../domain/canonical.js';
import { StagelineError, notFound } from '../domain/errors.js';
import { asRole, environmentRolesOf, type Actor, type Role } from '../domain/auth/permissions.js';
import { findMember, findTokenByHash, findUser, findWorkspace, touchToken } from '../store/workspaces.js';
import type { CallContext, Deps } from './context.js';

export interface Principal {
  tokenId: string;
  userId: string | null;
  /** Set for service tokens, which belong to one workspace. */
  workspaceId: string | null;
  name: string;
  kind: 'user' | 'service';
  role: Role | null;
  environmentRoles: Record<string, Role>;
}

export const TOKEN_PREFIX = 'stl_';
const TOUCH_INTERVAL_MS = 60_000;

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return sha256(token);
}

function unauthenticated(message: string): StagelineError {
  return new StagelineError(401, 'unauthenticated', message);
}

export async function authenticate(deps: Deps, authorization: string | undefined): Promise<Principal> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) throw unauthenticated('send a token as "Authorization: Bearer <token>"');
  const row = await findTokenByHash(deps.store.db, hashToken(match[1]!));
  const now = deps.now();
  if (!row || row.revokedAt) throw unauthenticated('the token is not valid');
  if (row.expiresAt && row.expiresAt <= now.toISOString()) throw unauthenticated('the token has expired');
  if (!row.lastUsedAt || now.getTime() - Date.parse(row.lastUsedAt) > TOUCH_INTERVAL_MS) {
    await touchToken(deps.store.db, row.id, now.toISOString());
  }
  let name = row.name;
  if (row.userId) {
    const user = await findUser(deps.store.db, row.userId);
    if (!user) throw unauthenticated('the token is not valid');
    name = user.email;
  }
  return {
    tokenId: row.id,
    userId: row.userId,
    workspaceId: row.workspaceId,
    name,
    kind: row.userId ? 'user' : 'service',
    role: asRole(row.role),
    environmentRoles: environmentRolesOf(row.environmentRoles),
  };
}

/** The principal's standing in one workspace; a workspace it cannot see is not found. */
export async function enterWorkspace(deps: Deps, principal: Principal, slug: string, requestId: string | null): Promise<CallContext> {
  const workspace = await findWorkspace(deps.store.db, slug);
  if (!workspace) throw notFound(`workspace ${slug}`);
  let actor: Actor | null = null;
  if (principal.userId) {
    const member = await findMember(deps.store.db, workspace.id, principal.userId);
    const role = asRole(member?.role ?? null);
    if (member && role) {
      actor = { kind: 'user', id: principal.userId, name: principal.name, tokenId: principal.tokenId, role, environmentRoles: environmentRolesOf(member.environmentRoles) };
    }
  } else if (principal.workspaceId === workspace.id && principal.role) {
    actor = { kind: 'service', id: principal.tokenId, name: principal.name, tokenId: principal.tokenId, role: principal.role, environmentRoles: principal.environmentRoles };
  }
  if (!actor) throw notFound(`workspace ${slug}`);
  return { workspace: { id: workspace.id, slug: workspace.slug, name: workspace.name }, actor, requestId };
}

/** The actor used when a principal acts outside any workspace (creating one). */
export function principalActor(principal: Principal): Actor {
  return {
    kind: principal.kind,
    id: principal.userId ?? principal.tokenId,
    name: principal.name,
    tokenId: principal.tokenId,
    role: principal.role ?? 'viewer',
    environmentRoles: {},
  };
}
