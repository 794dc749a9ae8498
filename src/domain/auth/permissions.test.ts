import { describe, expect, it } from 'vitest';
import { caught } from '../errors.test-support.js';
import {
  asRole,
  authorize,
  can,
  environmentRolesOf,
  PERMISSIONS,
  ROLE_PERMISSIONS,
  ROLES,
  roleIn,
  SYSTEM_ACTOR,
  type Actor,
  type Permission,
  type Role,
} from './permissions.js';

function actor(role: Role, environmentRoles: Record<string, Role> = {}): Actor {
  return { kind: 'user', id: 'usr_1', name: 'Ada', tokenId: null, role, environmentRoles };
}


/**
 * The expected grants, written out independently of ROLE_PERMISSIONS so that a change to the
 * table shows up here. Columns follow PERMISSIONS order.
 */
const GRANTS: Record<Role, Record<Permission, boolean>> = {
  //          ws.read ws.manage env.manage res.read draft  commit promote rollback override kill  audit  var secret setting apikey member data.read data.reveal prefs branch alert checks
  owner: row([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
  admin: row([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
  developer: row([1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 0]),
  deployer: row([1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0]),
  support: row([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0]),
  viewer: row([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  reporter: row([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
};

function row(flags: (0 | 1)[]): Record<Permission, boolean> {
  if (flags.length !== PERMISSIONS.length) throw new Error('one flag per permission');
  return Object.fromEntries(PERMISSIONS.map((p, i) => [p, flags[i] === 1])) as Record<Permission, boolean>;
}

const matrix = ROLES.flatMap((role) => PERMISSIONS.map((permission) => ({ role, permission, allowed: GRANTS[role][permission] })));

describe('role permissions', () => {
  it.each(matrix)('$role has $permission: $allowed', ({ role, permission, allowed }) => {
    expect(ROLE_PERMISSIONS[role].has(permission)).toBe(allowed);
    expect(can(actor(role), permission)).toBe(allowed);
  });
});

describe('environmentRoles', () => {
  const developerViewerInProduction = actor('developer', { production: 'viewer' });

  it('narrows a role in the named environment only', () => {
    expect(can(developerViewerInProduction, 'draft.write', 'production')).toBe(false);
    expect(can(developerViewerInProduction, 'draft.write', 'development')).toBe(true);
  });

  it('keeps the narrowed role’s own permissions in that environment', () => {
    expect(can(developerViewerInProduction, 'resource.read', 'production')).toBe(true);
  });

  it('widens a role in the named environment only', () => {
    const viewerDeployerInStaging = actor('viewer', { staging: 'deployer' });
    expect(can(viewerDeployerInStaging, 'release.rollback', 'staging')).toBe(true);
    expect(can(viewerDeployerInStaging, 'release.rollback', 'production')).toBe(false);
  });

  it('uses the workspace role when no environment is named', () => {
    expect(can(developerViewerInProduction, 'draft.write')).toBe(true);
  });

  it.each([
    ['the environment has a role', 'production', 'viewer'],
    ['the environment has no role', 'staging', 'developer'],
    ['no environment is named', undefined, 'developer'],
  ])('roleIn when %s', (_name, environment, expected) => {
    expect(roleIn(developerViewerInProduction, environment)).toBe(expected);
  });
});

describe('environment slugs that are Object.prototype members', () => {
  const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

  it.each(PROTOTYPE_NAMES)('roleIn(%s) is the workspace role when the slug has no role of its own', (slug) => {
    expect(roleIn(actor('developer'), slug)).toBe('developer');
    expect(can(actor('viewer'), 'draft.write', slug)).toBe(false);
  });

  it.each(PROTOTYPE_NAMES.filter((n) => n !== '__proto__'))('roleIn(%s) is the role given there', (slug) => {
    expect(roleIn(actor('developer', environmentRolesOf({ [slug]: 'viewer' })), slug)).toBe('viewer');
  });

  it('environmentRolesOf keeps known roles only, in an object with no prototype', () => {
    const roles = environmentRolesOf(JSON.parse('{"__proto__":"owner","constructor":"viewer","staging":"wizard"}'));
    expect(Object.getPrototypeOf(roles)).toBeNull();
    expect(Object.entries(roles)).toEqual([['__proto__', 'owner'], ['constructor', 'viewer']]);
    expect(roleIn(actor('viewer', roles), '__proto__')).toBe('owner');
    expect(roleIn(actor('viewer', roles), 'staging')).toBe('viewer');
  });
});

describe('asRole', () => {
  it.each([
    ['developer', 'developer'],
    ['wizard', null],
    ['toString', null],
    [null, null],
    [undefined, null],
  ])('asRole(%s) is %s', (value, expected) => {
    expect(asRole(value)).toBe(expected);
  });
});

describe('authorize', () => {
  it('passes when the role has the permission', () => {
    expect(() => authorize(actor('deployer'), 'release.rollback', 'production')).not.toThrow();
  });

  it('throws forbidden naming the permission and the environment', () => {
    const error = caught(() => authorize(actor('developer', { production: 'viewer' }), 'release.promote', 'production'));
    expect(error.status).toBe(403);
    expect(error.code).toBe('forbidden');
    expect(error.message).toBe('this action needs the release.promote permission in production');
    expect(error.details).toEqual([{ permission: 'release.promote', environment: 'production' }]);
  });

  it('throws forbidden naming the permission when no environment is named', () => {
    const error = caught(() => authorize(actor('viewer'), 'workspace.manage'));
    expect(error.code).toBe('forbidden');
    expect(error.message).toBe('this action needs the workspace.manage permission');
    expect(error.details).toEqual([{ permission: 'workspace.manage', environment: null }]);
  });

  it.each(PERMISSIONS)('lets the system actor do %s anywhere', (permission) => {
    expect(() => authorize(SYSTEM_ACTOR, permission, 'production')).not.toThrow();
  });
});
