// Who may do what. Roles are sets of permissions; a member's role can be narrowed (or widened)
// per environment. This table is the single source of truth for every authorisation check.
import { forbidden, refused } from '../errors.js';

export const ROLES = ['owner', 'admin', 'developer', 'deployer', 'support', 'viewer', 'reporter'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'workspace.read',
  'workspace.manage',
  'environment.manage',
  'resource.read',
  'draft.write',
  'release.commit',
  'release.promote',
  'release.rollback',
  'override.write',
  'killswitch.write',
  'audit.read',
  'variable.write',
  'secret.write',
  'setting.write',
  'apikey.manage',
  'member.manage',
  'data.read',
  'data.reveal',
  'preferences.write',
  'branch.manage',
  'alert.manage',
  'checks.report',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const READ: Permission[] = ['workspace.read', 'resource.read'];

export const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  owner: new Set(PERMISSIONS),
  admin: new Set(PERMISSIONS),
  developer: new Set([
    ...READ,
    'draft.write',
    'release.commit',
    'release.promote',
    'override.write',
    'killswitch.write',
    'audit.read',
    'variable.write',
    'secret.write',
    'setting.write',
    'apikey.manage',
    'data.read',
    'preferences.write',
    'branch.manage',
    'alert.manage',
  ]),
  deployer: new Set([...READ, 'release.promote', 'release.rollback', 'killswitch.write', 'audit.read', 'data.read', 'alert.manage']),
  support: new Set([...READ, 'audit.read', 'data.read', 'preferences.write']),
  viewer: new Set(READ),
  /** CI's service token: reports checks on releases, reads, nothing else. */
  reporter: new Set([...READ, 'checks.report']),
};

/**
 * Who is acting: a member through a user token or session, a service token, an environment
 * API key (runtime writes such as data records), or the system.
 */
export interface Actor {
  kind: 'user' | 'service' | 'apikey' | 'system';
  /** The user id, the token id for service tokens, the key id for API keys. */
  id: string;
  name: string;
  tokenId: string | null;
  /** Role in the workspace being acted on. */
  role: Role;
  /** Per-environment role by environment slug, replacing `role` there. */
  environmentRoles: Record<string, Role>;
}

export function roleIn(actor: Actor, environment?: string): Role {
  // Own entries only: a slug such as `constructor` must not find Object.prototype's member.
  if (environment !== undefined && Object.hasOwn(actor.environmentRoles, environment)) {
    const role = actor.environmentRoles[environment];
    if (role !== undefined && isRole(role)) return role;
  }
  return actor.role;
}

export function can(actor: Actor, permission: Permission, environment?: string): boolean {
  return ROLE_PERMISSIONS[roleIn(actor, environment)].has(permission);
}

export function authorize(actor: Actor, permission: Permission, environment?: string): void {
  if (!can(actor, permission, environment)) throw forbidden(permission, environment);
}

export const SYSTEM_ACTOR: Actor = {
  kind: 'system',
  id: 'system',
  name: 'stageline',
  tokenId: null,
  role: 'owner',
  environmentRoles: {},
};

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** The role a stored value names, or null for a value that is no role (removed, misspelt, absent). */
export function asRole(value: unknown): Role | null {
  return isRole(value) ? value : null;
}

/**
 * A stored per-environment role map as the Actor carries it: only entries naming a known role,
 * in an object without a prototype, so that no slug finds an inherited member.
 */
export function environmentRolesOf(stored: Readonly<Record<string, unknown>>): Record<string, Role> {
  const roles: Record<string, Role> = Object.create(null);
  for (const [environment, role] of Object.entries(stored)) if (isRole(role)) roles[environment] = role;
  return roles;
}

/** Only owners grant, change or take away the owner role. */
export function assertCanAssign(actor: Actor, roles: (Role | undefined)[]): void {
  if (roles.includes('owner') && actor.role !== 'owner') throw refused('owner_role', 'only an owner can grant or remove the owner role');
}
