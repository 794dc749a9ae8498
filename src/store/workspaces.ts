// Workspaces, users, memberships and access tokens.
import type { Db } from './database.js';
import type { Selectable } from 'kysely';
import type { MemberTable, TokenTable, WorkspaceTable } from './schema.js';

export type WorkspaceRow = Selectable<WorkspaceTable>;
export type TokenRow = Selectable<TokenTable>;
export type MemberRow = Selectable<MemberTable>;

export async function insertWorkspace(db: Db, row: { id: string; slug: string; name: string; createdAt: string }) {
  await db
    .insertInto('workspaces')
    .values({ id: row.id, slug: row.slug, name: row.name, created_at: row.createdAt, audit_seq: 0, audit_head: '' })
    .execute();
}

export async function findWorkspace(db: Db, slug: string): Promise<WorkspaceRow | undefined> {
  return db.selectFrom('workspaces').selectAll().where('slug', '=', slug).executeTakeFirst();
}

export async function findWorkspaceById(db: Db, id: string): Promise<WorkspaceRow | undefined> {
  return db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function countWorkspaces(db: Db): Promise<number> {
  const row = await db.selectFrom('workspaces').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function listWorkspacesOfUser(db: Db, userId: string): Promise<(WorkspaceRow & { role: string })[]> {
  return db
    .selectFrom('workspaces')
    .innerJoin('members', 'members.workspace_id', 'workspaces.id')
    .selectAll('workspaces')
    .select('members.role')
    .where('members.user_id', '=', userId)
    .orderBy('workspaces.slug')
    .execute();
}

export async function insertUser(db: Db, row: { id: string; email: string; name: string; createdAt: string }) {
  await db.insertInto('users').values({ id: row.id, email: row.email, name: row.name, created_at: row.createdAt }).execute();
}

export async function findUser(db: Db, id: string) {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertMember(
  db: Db,
  row: { id: string; workspaceId: string; userId: string; role: string; environmentRoles: Record<string, string>; createdAt: string },
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

export async function findMember(db: Db, workspaceId: string, userId: string): Promise<MemberRow | undefined> {
  return db
    .selectFrom('members')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
}

export async function insertToken(db: Db, row: TokenRow) {
  await db.insertInto('tokens').values(row).execute();
}

export async function findTokenByHash(db: Db, tokenHash: string): Promise<TokenRow | undefined> {
  return db.selectFrom('tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

export async function touchToken(db: Db, id: string, at: string) {
  await db.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute();
}

export async function findUserByEmail(db: Db, email: string) {
  return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
}

export async function setUserPassword(db: Db, userId: string, passwordHash: string) {
  await db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
}

export async function listMembers(db: Db, workspaceId: string) {
  return db
    .selectFrom('members')
    .innerJoin('users', 'users.id', 'members.user_id')
    .select(['members.id', 'members.user_id', 'members.role', 'members.environment_roles', 'members.created_at', 'users.email', 'users.name'])
    .where('members.workspace_id', '=', workspaceId)
    .orderBy('users.email')
    .execute();
}

export async function findMemberById(db: Db, workspaceId: string, id: string) {
  return db
    .selectFrom('members')
    .innerJoin('users', 'users.id', 'members.user_id')
    .select(['members.id', 'members.user_id', 'members.role', 'members.environment_roles', 'members.created_at', 'users.email', 'users.name'])
    .where('members.workspace_id', '=', workspaceId)
    .where('members.id', '=', id)
    .executeTakeFirst();
}

export async function updateMember(db: Db, workspaceId: string, id: string, set: { role: string; environmentRoles: Record<string, string> }) {
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

export async function listServiceTokens(db: Db, workspaceId: string): Promise<TokenRow[]> {
  return db.selectFrom('tokens').selectAll().where('workspace_id', '=', workspaceId).where('kind', '=', 'service').orderBy('created_at', 'desc').execute();
}

export async function findToken(db: Db, id: string): Promise<TokenRow | undefined> {
  return db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function revokeToken(db: Db, id: string, at: string) {
  await db.updateTable('tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
}
