// People: password login and sessions, workspace members with their roles, and service tokens
// that carry a role of their own (for CI and the CLI). Every change is audited.
import { asRole, assertCanAssign, authorize, type Actor, type Role } from '../domain/auth/permissions.js';
import { hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from '../domain/auth/passwords.js';
import { credentialStatus } from '../domain/auth/credentials.js';
import { conflict, invalid, notFound, refused, StagelineError } from '../domain/errors.js';
import { listEnvironments } from '../store/environments.js';
import {
  countOwners,
  deleteMember,
  findMember,
  findMemberById,
  findServiceToken,
  findUserByEmail,
  insertMember,
  insertToken,
  insertUser,
  listMembers as listMemberRows,
  listServiceTokens,
  listWorkspacesOfUser,
  revokeServiceToken as revokeServiceTokenRow,
  revokeToken,
  setUserPassword,
  updateMember,
  type MemberWithUser,
  type TokenRecord,
} from '../store/workspaces.js';
import type { Db } from '../store/database.js';
import { record } from './audit.js';
import { generateToken, hashToken, type Principal } from './auth.js';
import { newId, type CallContext, type Deps } from './context.js';

export const SESSION_HOURS = 12;

function passwordIssue(password: string | undefined) {
  if (password !== undefined && password.length < MIN_PASSWORD_LENGTH) {
    throw invalid([{ field: 'password', message: `must be at least ${MIN_PASSWORD_LENGTH} characters`, in: 'body' }]);
  }
}

async function assertEnvironmentRoles(db: Db, ctx: CallContext, environmentRoles: Record<string, string> | undefined) {
  if (!environmentRoles) return;
  const slugs = new Set((await listEnvironments(db, ctx.workspace.id)).map((e) => e.slug));
  const unknown = Object.keys(environmentRoles).filter((slug) => !slugs.has(slug));
  if (unknown.length > 0) throw invalid(unknown.map((slug) => ({ field: `environmentRoles.${slug}`, message: 'is not an environment of this workspace', in: 'body' as const })));
}

/** Records an event in every workspace the user belongs to (logins are not scoped to one). */
async function recordForUser(deps: Deps, tx: Db, userId: string, actor: Actor, action: string, details: Record<string, unknown>, requestId: string | null) {
  for (const workspace of await listWorkspacesOfUser(tx, userId)) {
    await record(deps, tx, { workspace: { id: workspace.id, slug: workspace.slug, name: workspace.name }, actor, requestId }, { action, target: `user/${userId}`, details });
  }
}

/** What a login asks of the node's throttle (src/runtime/login-throttle.ts implements it). */
export interface LoginThrottle {
  /** Counts the attempt, or refuses it with a RateLimitedError while its counters are blocked. */
  admit(email: string, client: string): Promise<LoginAttempt>;
}

export interface LoginAttempt {
  failed(): Promise<void>;
  succeeded(): Promise<void>;
}

/** One answer for an unknown email and a wrong password, so the answer tells neither apart. */
const LOGIN_FAILED = 'the email or the password is not right';

export async function login(deps: Deps, input: { email: string; password: string }, from: { client: string; throttle: LoginThrottle }, requestId: string | null) {
  const attempt = await from.throttle.admit(input.email, from.client);
  const user = await findUserByEmail(deps.store.db, input.email);
  // An unknown email still costs a full scrypt (verifyPassword hashes a dummy), so timing matches.
  const ok = await verifyPassword(input.password, user?.passwordHash ?? null);
  const actor: Actor = { kind: 'user', id: user?.id ?? 'unknown', name: input.email, tokenId: null, role: 'viewer', environmentRoles: {} };
  if (!user || !ok) {
    await attempt.failed();
    if (user) await deps.store.transaction((tx) => recordForUser(deps, tx, user.id, actor, 'auth.login_failed', {}, requestId));
    throw new StagelineError(401, 'unauthenticated', LOGIN_FAILED);
  }
  await attempt.succeeded();
  const token = generateToken();
  const now = deps.now();
  const expiresAt = new Date(now.getTime() + SESSION_HOURS * 3600_000).toISOString();
  const tokenId = newId('tok');
  await deps.store.transaction(async (tx) => {
    await insertToken(tx, {
      id: tokenId,
      userId: user.id,
      workspaceId: null,
      name: 'session',
      kind: 'session',
      role: null,
      environmentRoles: {},
      tokenHash: hashToken(token),
      prefix: token.slice(0, 8),
      createdAt: now.toISOString(),
      lastUsedAt: null,
      expiresAt,
      revokedAt: null,
    });
    await recordForUser(deps, tx, user.id, { ...actor, tokenId }, 'auth.login', { session: tokenId, expiresAt }, requestId);
  });
  return { token, expiresAt };
}

/** Ends the session (or revokes the personal token) the call was made with. */
export async function logout(deps: Deps, principal: Principal, requestId: string | null) {
  await deps.store.transaction(async (tx) => {
    await revokeToken(tx, principal.tokenId, deps.now().toISOString());
    if (principal.userId) {
      const actor: Actor = { kind: 'user', id: principal.userId, name: principal.name, tokenId: principal.tokenId, role: 'viewer', environmentRoles: {} };
      await recordForUser(deps, tx, principal.userId, actor, 'auth.logout', { token: principal.tokenId }, requestId);
    }
  });
}

function memberView(member: MemberWithUser) {
  return {
    id: member.id,
    userId: member.userId,
    email: member.email,
    name: member.name,
    role: member.role,
    environmentRoles: member.environmentRoles,
    createdAt: member.createdAt,
  };
}

export async function listMembers(deps: Deps, ctx: CallContext) {
  authorize(ctx.actor, 'workspace.read');
  return { data: (await listMemberRows(deps.store.db, ctx.workspace.id)).map(memberView), next: null };
}

export async function addMember(deps: Deps, ctx: CallContext, input: { email: string; password?: string; role: Role; environmentRoles?: Record<string, Role> }) {
  authorize(ctx.actor, 'member.manage');
  assertCanAssign(ctx.actor, [input.role, ...Object.values(input.environmentRoles ?? {})]);
  passwordIssue(input.password);
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  return deps.store.transaction(async (tx) => {
    await assertEnvironmentRoles(tx, ctx, input.environmentRoles);
    const at = deps.now().toISOString();
    let user = await findUserByEmail(tx, input.email);
    if (!user) {
      const id = newId('usr');
      await insertUser(tx, { id, email: input.email, name: input.email, createdAt: at });
      if (passwordHash) await setUserPassword(tx, id, passwordHash);
      user = (await findUserByEmail(tx, input.email))!;
    } else if (passwordHash) {
      // Someone else's existing account keeps its own password.
      throw invalid([{ field: 'password', message: 'this user already has an account; they keep their password', in: 'body' }]);
    }
    if (await findMember(tx, ctx.workspace.id, user.id)) throw conflict('member_exists', `${input.email} is already a member of ${ctx.workspace.slug}`);
    const id = newId('mem');
    await insertMember(tx, { id, workspaceId: ctx.workspace.id, userId: user.id, role: input.role, environmentRoles: input.environmentRoles ?? {}, createdAt: at });
    await record(deps, tx, ctx, { action: 'member.add', target: `member/${id}`, after: { email: input.email, role: input.role }, details: { email: input.email, role: input.role, environmentRoles: input.environmentRoles ?? {} } });
    return memberView((await findMemberById(tx, ctx.workspace.id, id))!);
  });
}

export async function updateMemberRole(
  deps: Deps,
  ctx: CallContext,
  id: string,
  input: { role?: Role; environmentRoles?: Record<string, Role>; password?: string },
) {
  passwordIssue(input.password);
  const passwordHash = input.password === undefined ? undefined : await hashPassword(input.password);
  return deps.store.transaction(async (tx) => {
    const member = await findMemberById(tx, ctx.workspace.id, id);
    if (!member) throw notFound(`member ${id}`);
    const self = member.userId === ctx.actor.id;
    if (input.role !== undefined || input.environmentRoles !== undefined) {
      authorize(ctx.actor, 'member.manage');
      assertCanAssign(ctx.actor, [member.role as Role, input.role, ...Object.values(input.environmentRoles ?? {})]);
      await assertEnvironmentRoles(tx, ctx, input.environmentRoles);
      if (member.role === 'owner' && input.role !== undefined && input.role !== 'owner' && (await countOwners(tx, ctx.workspace.id)) <= 1) {
        throw conflict('last_owner', `${member.email} is the last owner of ${ctx.workspace.slug}`);
      }
    }
    if (passwordHash !== undefined && !self) throw refused('own_password', 'only the member themself can set their password');
    const next = { role: input.role ?? member.role, environmentRoles: input.environmentRoles ?? member.environmentRoles };
    await updateMember(tx, ctx.workspace.id, id, next);
    if (passwordHash) await setUserPassword(tx, member.userId, passwordHash);
    await record(deps, tx, ctx, {
      action: 'member.update',
      target: `member/${id}`,
      before: { role: member.role, environmentRoles: member.environmentRoles },
      after: next,
      details: { email: member.email, ...next, passwordChanged: passwordHash !== undefined },
    });
    return memberView((await findMemberById(tx, ctx.workspace.id, id))!);
  });
}

export async function removeMember(deps: Deps, ctx: CallContext, id: string) {
  authorize(ctx.actor, 'member.manage');
  await deps.store.transaction(async (tx) => {
    const member = await findMemberById(tx, ctx.workspace.id, id);
    if (!member) throw notFound(`member ${id}`);
    assertCanAssign(ctx.actor, [member.role as Role]);
    if (member.role === 'owner' && (await countOwners(tx, ctx.workspace.id)) <= 1) throw conflict('last_owner', `${member.email} is the last owner of ${ctx.workspace.slug}`);
    await deleteMember(tx, ctx.workspace.id, id);
    await record(deps, tx, ctx, { action: 'member.remove', target: `member/${id}`, before: { email: member.email, role: member.role }, details: { email: member.email } });
  });
}

function tokenView(token: TokenRecord, now: Date) {
  return {
    id: token.id,
    name: token.name,
    role: token.role,
    environmentRoles: token.environmentRoles,
    prefix: token.prefix,
    createdAt: token.createdAt,
    lastUsedAt: token.lastUsedAt,
    expiresAt: token.expiresAt,
    revokedAt: token.revokedAt,
    status: credentialStatus(token.revokedAt, token.expiresAt, now),
  };
}

export async function listTokens(deps: Deps, ctx: CallContext) {
  authorize(ctx.actor, 'member.manage');
  const now = deps.now();
  return { data: (await listServiceTokens(deps.store.db, ctx.workspace.id)).map((row) => tokenView(row, now)), next: null };
}

export async function createServiceToken(deps: Deps, ctx: CallContext, input: { name: string; role: Role; environmentRoles?: Record<string, Role>; expiresAt?: string }) {
  authorize(ctx.actor, 'member.manage');
  assertCanAssign(ctx.actor, [input.role, ...Object.values(input.environmentRoles ?? {})]);
  const now = deps.now();
  if (input.expiresAt !== undefined && input.expiresAt <= now.toISOString()) throw invalid([{ field: 'expiresAt', message: 'must be in the future', in: 'body' }]);
  return deps.store.transaction(async (tx) => {
    await assertEnvironmentRoles(tx, ctx, input.environmentRoles);
    const token = generateToken();
    const row: TokenRecord = {
      id: newId('tok'),
      userId: null,
      workspaceId: ctx.workspace.id,
      name: input.name,
      kind: 'service',
      role: input.role,
      environmentRoles: input.environmentRoles ?? {},
      tokenHash: hashToken(token),
      prefix: token.slice(0, 8),
      createdAt: now.toISOString(),
      lastUsedAt: null,
      expiresAt: input.expiresAt ?? null,
      revokedAt: null,
    };
    await insertToken(tx, row);
    await record(deps, tx, ctx, { action: 'token.create', target: `token/${row.id}`, after: { id: row.id, role: row.role }, details: { name: row.name, role: row.role, environmentRoles: input.environmentRoles ?? {} } });
    return { ...tokenView(row, now), token };
  });
}

export async function revokeServiceToken(deps: Deps, ctx: CallContext, id: string) {
  authorize(ctx.actor, 'member.manage');
  return deps.store.transaction(async (tx) => {
    const row = await findServiceToken(tx, ctx.workspace.id, id);
    if (!row) throw notFound(`token ${id}`);
    assertCanAssign(ctx.actor, [asRole(row.role) ?? undefined]);
    const at = deps.now().toISOString();
    if (!row.revokedAt) {
      await revokeServiceTokenRow(tx, ctx.workspace.id, id, at);
      await record(deps, tx, ctx, { action: 'token.revoke', target: `token/${id}`, details: { name: row.name } });
    }
    return tokenView({ ...row, revokedAt: row.revokedAt ?? at }, deps.now());
  });
}
