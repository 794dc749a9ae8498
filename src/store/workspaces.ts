// Workspaces, users, memberships and access tokens. Rows leave this module as the camelCase
// records below, with a member's or token's per-environment roles parsed once, here.
import type { Db } from './database.js';
import type { Selectable } from 'kysely';
import type { MemberTable, TokenTable, UserTable, WorkspaceTable } from './schema.js';
import { jsonRecord } from './rows.js';

export interface WorkspaceRecord {
  id: string;
  slug: string;
  name: string;
  createdAt: string;
}

export interface UserRecord {
  id: string;
  email: string;
  name: string;
  createdAt: string;
  passwordHash: string | null;
}

/** Per-environment roles by slug, as stored: an object without a prototype. */
export type StoredEnvironmentRoles = Record<string, string>;

export interface MemberRecord {
  id: string;
  workspaceId: string;
  userId: string;
  role: string;
  environmentRoles: StoredEnvironmentRoles;
  createdAt: string;
}

/** A member with the user's email and name, as lists show them. */
export interface MemberWithUser extends Omit<MemberRecord, 'workspaceId'> {
  email: string;
  name: string;
}

export type TokenKind = 'personal' | 'session' | 'service';

export interface TokenRecord {
  id: string;
  /** The user a personal token or session acts as; null for service tokens. */
  userId: string | null;
  /** The workspace a service token belongs to; null for user tokens. */
  workspaceId: string | null;
  name: string;
  kind: TokenKind;
  role: string | null;
  environmentRoles: StoredEnvironmentRoles;
  tokenHash: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

function toWorkspace(row: Pick<Selectable<WorkspaceTable>, 'id' | 'slug' | 'name' | 'created_at'>): WorkspaceRecord {
  return { id: row.id, slug: row.slug, name: row.name, createdAt: row.created_at };
}

function toUser(row: Selectable<UserTable>): UserRecord {
  return { id: row.id, email: row.email, name: row.name, createdAt: row.created_at, passwordHash: row.password_hash };
}

function toMember(row: Selectable<MemberTable>): MemberRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    userId: row.user_id,
    role: row.role,
    environmentRoles: jsonRecord(row.environment_roles) as StoredEnvironmentRoles,
    createdAt: row.created_at,
  };
}

function toToken(row: Selectable<TokenTable>): TokenRecord {
  return {
    id: row.id,
    userId: row.user_id,
    workspaceId: row.workspace_id,
    name: row.name,
    kind: row.kind as TokenKind,
    role: row.role,
    environmentRoles: jsonRecord(row.environment_roles) as StoredEnvironmentRoles,
    tokenHash: row.token_hash,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

export async function insertWorkspace(db: Db, row: { id: string; slug: string; name: string; createdAt: string }) {
  await db
    .insertInto('workspaces')
    .values({ id: row.id, slug: row.slug, name: row.name, created_at: row.createdAt, audit_seq: 0, audit_head: '' })
    .execute();
}

export async function findWorkspace(db: Db, slug: string): Promise<WorkspaceRecord | undefined> {
  const row = await db.selectFrom('workspaces').selectAll().where('slug', '=', slug).executeTakeFirst();
  return row && toWorkspace(row);
}

export async function findWorkspaceById(db: Db, id: string): Promise<WorkspaceRecord | undefined> {
  const row = await db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toWorkspace(row);
}

export async function countWorkspaces(db: Db): Promise<number> {
  const row = await db.selectFrom('workspaces').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function listWorkspacesOfUser(db: Db, userId: string): Promise<(WorkspaceRecord & { role: string })[]> {
  const rows = await db
    .selectFrom('workspaces')
    .innerJoin('members', 'members.workspace_id', 'workspaces.id')
    .select(['workspaces.id', 'workspaces.slug', 'workspaces.name', 'workspaces.created_at', 'members.role'])
    .where('members.user_id', '=', userId)
    .orderBy('workspaces.slug')
    .execute();
  return rows.map((row) => ({ ...toWorkspace(row), role: row.role }));
}

export async function insertUser(db: Db, row: { id: string; email: string; name: string; createdAt: string }) {
  await db.insertInto('users').values({ id: row.id, email: row.email, name: row.name, created_at: row.createdAt }).execute();
}

export async function findUser(db: Db, id: string): Promise<UserRecord | undefined> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toUser(row);
}

export async function insertMember(
  db: Db,
  row: MemberRecord,
) {
  await db
    .insertInto('members')
    .values({
      id: row.id,
      workspace_id: row.workspaceId,
      user_id: row.userId,
      role: row.role,
      environment_roles: JSON.stringify(row.environmentRoles),
      created_at: row.createdAt,
    })
    .execute();
}

export async function findMember(db: Db, workspaceId: string, userId: string): Promise<MemberRecord | undefined> {
  const row = await db
    .selectFrom('members')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row && toMember(row);
}

export async function insertToken(db: Db, token: TokenRecord) {
  await db
    .insertInto('tokens')
    .values({
      id: token.id,
      user_id: token.userId,
      workspace_id: token.workspaceId,
      name: token.name,
      kind: token.kind,
      role: token.role,
      environment_roles: JSON.stringify(token.environmentRoles),
      token_hash: token.tokenHash,
      prefix: token.prefix,
      created_at: token.createdAt,
      last_used_at: token.lastUsedAt,
      expires_at: token.expiresAt,
      revoked_at: token.revokedAt,
    })
    .execute();
}

/** Tokens are looked up by hash before any workspace is known: the hash is the scope. */
export async function findTokenByHash(db: Db, tokenHash: string): Promise<TokenRecord | undefined> {
  const row = await db.selectFrom('tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  return row && toToken(row);
}

export async function touchToken(db: Db, id: string, at: string) {
  await db.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute();
}

export async function findUserByEmail(db: Db, email: string): Promise<UserRecord | undefined> {
  const row = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  return row && toUser(row);
}

export async function setUserPassword(db: Db, userId: string, passwordHash: string) {
  await db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
}

function membersWithUsers(db: Db, workspaceId: string) {
  return db
    .selectFrom('members')
    .innerJoin('users', 'users.id', 'members.user_id')
    .select(['members.id', 'members.user_id', 'members.role', 'members.environment_roles', 'members.created_at', 'users.email', 'users.name'])
    .where('members.workspace_id', '=', workspaceId);
}

function toMemberWithUser(row: { id: string; user_id: string; role: string; environment_roles: string; created_at: string; email: string; name: string }): MemberWithUser {
  return {
    id: row.id,
    userId: row.user_id,
    role: row.role,
    environmentRoles: jsonRecord(row.environment_roles) as StoredEnvironmentRoles,
    createdAt: row.created_at,
    email: row.email,
    name: row.name,
  };
}

export async function listMembers(db: Db, workspaceId: string): Promise<MemberWithUser[]> {
  return (await membersWithUsers(db, workspaceId).orderBy('users.email').execute()).map(toMemberWithUser);
}

export async function findMemberById(db: Db, workspaceId: string, id: string): Promise<MemberWithUser | undefined> {
  const row = await membersWithUsers(db, workspaceId).where('members.id', '=', id).executeTakeFirst();
  return row && toMemberWithUser(row);
}

export async function updateMember(db: Db, workspaceId: string, id: string, set: { role: string; environmentRoles: StoredEnvironmentRoles }) {
  await db
    .updateTable('members')
    .set({ role: set.role, environment_roles: JSON.stringify(set.environmentRoles) })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .execute();
}

export async function deleteMember(db: Db, workspaceId: string, id: string) {
  await db.deleteFrom('members').where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}

export async function countOwners(db: Db, workspaceId: string): Promise<number> {
  const row = await db
    .selectFrom('members')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('workspace_id', '=', workspaceId)
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function listServiceTokens(db: Db, workspaceId: string): Promise<TokenRecord[]> {
  const rows = await db.selectFrom('tokens').selectAll().where('workspace_id', '=', workspaceId).where('kind', '=', 'service').orderBy('created_at', 'desc').execute();
  return rows.map(toToken);
}

/** A service token of the workspace. */
export async function findServiceToken(db: Db, workspaceId: string, id: string): Promise<TokenRecord | undefined> {
  const row = await db.selectFrom('tokens').selectAll().where('workspace_id', '=', workspaceId).where('kind', '=', 'service').where('id', '=', id).executeTakeFirst();
  return row && toToken(row);
}

/** Revokes the token a principal authenticated with (logout): the token is its own scope. */
export async function revokeToken(db: Db, id: string, at: string) {
  await db.updateTable('tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
}

export async function revokeServiceToken(db: Db, workspaceId: string, id: string, at: string) {
  await db
    .updateTable('tokens')
    .set({ revoked_at: at })
    .where('workspace_id', '=', workspaceId)
    .where('kind', '=', 'service')
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
}
